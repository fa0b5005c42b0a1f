"""Refreshing the rollups of the days a long import has moved past, while it writes the
next ones.

An import of a large table used to write every call first and then refresh the rollups of
all its hours, one after the other, on one core: the refresh took as long as the import.
Calls in a table or log mostly come in time order, so once a batch starts on a later day,
the earlier days are (almost always) complete: a thread of its own refreshes them, on a
connection of its own, while the import parses and writes. On SQLite it groups the calls
outside the write lock (rollup_stage.py), which lets it run on the other core and take the
write lock only to copy the rows in; on PostgreSQL the server does the work in a backend of
its own anyway. The import's own refresh at the end then has only the last days left (and a
first build's per-key totals, which need every hour).

Correct whatever the order of the rows: every write marks its hours, and a refresh removes
only the marks it read (rollups.py), so an hour written again after its refresh is simply
refreshed again by the next one.
"""

from __future__ import annotations

import threading

from tokenomy.store.db import Database
from tokenomy.store.rollups import DAY_MS, refresh


class _ImportFinishedError(Exception):
    """Raised between two transactions of a refresh when the import has finished: the
    import's own refresh does the rest."""


class BackgroundRefresh:
    """Refresh, on a thread, the rollups of the whole days before the latest batch an
    import wrote (:meth:`advance`); :meth:`finish` stops it and raises what it raised."""

    def __init__(self, db: Database) -> None:
        self._url = db.url
        self._cache_mb = db.cache_mb
        self._wake = threading.Condition()
        self._before: int | None = None  # the latest batch's earliest call (ms)
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tokenomy-rollups", daemon=True)
        # An in-memory SQLite database is the connection's own: another would be empty.
        if db.dialect != "sqlite" or db.target.path is not None:
            self._thread.start()

    def advance(self, earliest_ms: int) -> None:
        """The import has just written a batch whose earliest call starts at ``earliest_ms``."""
        with self._wake:
            self._before = earliest_ms
            self._wake.notify()

    @property
    def running(self) -> bool:
        """Whether the thread is still there (it stops at :meth:`finish`, or at an error)."""
        return self._thread.is_alive()

    def finish(self) -> None:
        """Stop after the transaction under way and wait; raise the thread's error, if any."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread.ident is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error

    def _next_day(self, done: int | None) -> int | None:
        """Wait for a batch on a later day than ``done``; None once stopped."""
        with self._wake:
            while not self._stop:
                if self._before is not None:
                    day = self._before // DAY_MS * DAY_MS
                    if done is None or day > done:
                        return day
                self._wake.wait()
        return None

    def _check_stop(self, _done: int, _total: int) -> None:
        if self._stop:
            raise _ImportFinishedError

    def _run(self) -> None:
        db = Database(self._url, cache_mb=self._cache_mb)
        done: int | None = None
        try:
            while (day := self._next_day(done)) is not None:
                refresh(db, self._check_stop, before=day)
                done = day
        except _ImportFinishedError:
            pass
        except BaseException as exc:  # re-raised by finish(), in the import's thread
            self._error = exc
        finally:
            db.close()
