"""Running importers: find files, read only what is new, de-duplicate, price, store.

Parsing is spread over worker processes (logs are CPU-bound JSON, and a laptop has cores
to spare). Each worker parses, prices and writes its own share of the files, and sends
back only the files' new read positions and problems. Writes can land in any order because
the upsert keeps the best version of every call whatever arrives first (``dedupe_rank``,
then tokens, then ``dedupe_order``).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from tokenomy.capture.base import FileResult, Importer
from tokenomy.capture.filestate import (
    FileState,
    ReadPlan,
    load_states,
    plan_read,
    shared_listing,
    write_states,
)
from tokenomy.capture.problems import Problem, ProblemLog
from tokenomy.capture.registry import get_importer
from tokenomy.pricing import PriceCatalog
from tokenomy.record import PRICE_VARIANT, WEB_SEARCHES, CallRecord, CostSource
from tokenomy.store.db import Cursor, Database
from tokenomy.store.project_names import name_projects
from tokenomy.store.schema import CALL_COLUMNS
from tokenomy.store.writer import ToolRow, record_row, tool_rows, write_rows

# Below this many bytes to read, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
# A worker writes once it holds this many rows (calls + tool uses) and the database is
# free; at the larger bound it waits for the database rather than hold more in memory.
FLUSH_ROWS = 20_000
FLUSH_ROWS_MAX = 80_000
# Groups of files per worker that workers pull from (see _groups).
GROUPS_PER_WORKER = 24

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

_I = {name: i for i, name in enumerate(CALL_COLUMNS)}
_SOURCE, _KEY, _PROJECT = _I["source"], _I["dedupe_key"], _I["project"]


@dataclass(slots=True)
class SourceSummary:
    files_seen: int = 0
    files_read: int = 0
    bytes_read: int = 0
    records: int = 0


@dataclass(slots=True)
class ImportSummary:
    sources: dict[str, SourceSummary] = field(default_factory=dict)
    problems: ProblemLog = field(default_factory=ProblemLog)
    unpriced_models: set[str] = field(default_factory=set)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.sources.values())

    @property
    def files_read(self) -> int:
        return sum(s.files_read for s in self.sources.values())


@dataclass(slots=True)
class BatchOutcome:
    """What a batch of files gave: small, so it is cheap to send back from a worker."""

    states: list[FileState] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unpriced: set[str] = field(default_factory=set)
    files: int = 0
    bytes_read: int = 0


def import_share(
    importer: Importer,
    plans: Iterable[ReadPlan],
    db: Database,
    catalog: PriceCatalog,
    progress: Callable[[int], None] | None = None,
) -> BatchOutcome:
    """Parse, de-duplicate, price and store a share of the files.

    Rows are written in a few large transactions, not one per file: every commit rewrites
    the index pages it touched, so fewer commits is most of SQLite's cost. A worker writes
    when it has ``FLUSH_ROWS`` rows and the database is free, and otherwise goes on parsing
    (``progress`` gets the bytes of each file read). The files' read positions are saved
    in the transaction that stores their last rows: never before (a crash re-reads, never
    skips), and without a write of its own once every worker is done."""
    with cycle_collector_paused(), db.bulk_load():
        out = BatchOutcome()
        sink = RowSink(catalog)
        for plan in plans:
            result = importer.parse(plan)
            sink.add(result)
            out.problems.extend(result.problems)
            if result.state is not None:
                out.states.append(result.state)
            out.files += 1
            out.bytes_read += result.bytes_read
            if len(sink) >= FLUSH_ROWS:
                sink.write(db, wait=len(sink) >= FLUSH_ROWS_MAX)
            if progress:
                progress(plan.size - plan.start)
        sink.write(db, wait=True, states=out.states)
        out.unpriced = sink.unpriced
        return out


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """An import builds hundreds of thousands of small objects with no reference cycles;
    the cycle collector would walk them again and again for nothing (a third of the CPU
    time). Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class _Worker:
    """A worker process's own database connection, the (inherited) price catalog and
    groups of files, the counter of bytes parsed that the parent shows as progress, the
    index of the next group to take, and how many workers are still at work."""

    db: Database
    catalog: PriceCatalog
    groups: Sequence[Sequence[ReadPlan]]
    done: Any  # multiprocessing.Value("q")
    next_group: Any  # multiprocessing.Value("q")
    running: Any  # multiprocessing.Value("q"): workers not finished yet


# Set once per worker process by its initializer (a process has one job at a time).
_worker: _Worker | None = None


def _init_worker(
    url: str,
    catalog: PriceCatalog,
    groups: Sequence[Sequence[ReadPlan]],
    done: Any,
    next_group: Any,
    running: Any,
) -> None:
    # Forked workers inherit these as they are: the plans are never pickled (thousands of
    # them, with their stat results, took 60 ms to send).
    global _worker
    _worker = _Worker(Database(url), catalog, groups, done, next_group, running)


def _count_done(nbytes: int) -> None:
    assert _worker is not None
    with _worker.done.get_lock():
        _worker.done.value += nbytes


def _pulled() -> Iterator[ReadPlan]:
    """The plans of the groups this worker takes, one group at a time, until none is left."""
    assert _worker is not None
    counter, groups = _worker.next_group, _worker.groups
    while True:
        with counter.get_lock():
            i = counter.value
            counter.value = i + 1
        if i >= len(groups):
            return
        yield from groups[i]


def _worker_share(name: str) -> BatchOutcome:
    assert _worker is not None, "worker not initialised"
    outcome = import_share(get_importer(name), _pulled(), _worker.db, _worker.catalog, _count_done)
    _worker.catalog.save()  # prices this worker had to resolve, for the next run
    with _worker.running.get_lock():
        _worker.running.value -= 1
        last = _worker.running.value == 0
    if not last:
        # While a sibling still parses: less left for later. The last worker leaves it to
        # the parent, which overlaps it with what it does next (run_batches).
        _worker.db.checkpoint()
    return outcome


def _groups(plans: list[ReadPlan], parts: int) -> list[list[ReadPlan]]:
    """Plans in path order, cut into about ``GROUPS_PER_WORKER`` groups per worker of
    similar byte counts. Workers take the next group whenever they finish one, so they
    finish within a group of each other, however fast each file parses (equal shares of
    bytes handed out up front finished up to 0.2 s apart). In path order, a session's
    files and its resumed copies mostly meet in one worker's sink, before the database."""
    ordered = sorted(plans, key=lambda p: p.path)
    total = sum(p.size - p.start for p in ordered)
    target = max(1, total // (parts * GROUPS_PER_WORKER))
    groups: list[list[ReadPlan]] = [[]]
    size = 0
    for plan in ordered:
        if size >= target:
            groups.append([])
            size = 0
        groups[-1].append(plan)
        size += plan.size - plan.start
    return groups


def run_batches(
    importer: Importer,
    plans: list[ReadPlan],
    db: Database,
    catalog: PriceCatalog,
    workers: int,
    progress: Progress | None,
) -> Iterator[BatchOutcome]:
    """Outcomes of importing ``plans``, in this process or spread over worker processes."""
    total = sum(p.size - p.start for p in plans)
    if workers <= 1 or total < PARALLEL_MIN_BYTES or len(plans) < 2:
        done = 0

        def count(nbytes: int) -> None:
            nonlocal done
            done += nbytes
            if progress:
                progress(done, total)

        yield import_share(importer, plans, db, catalog, count)
        return
    # One task per worker, each pulling groups of files until none is left: each worker
    # writes its rows in a few transactions.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    done_bytes = ctx.Value("q", 0)
    next_group = ctx.Value("q", 0)
    running = ctx.Value("q", workers)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(db.url, catalog, _groups(plans, workers), done_bytes, next_group, running),
    )
    try:
        pending = {pool.submit(_worker_share, importer.name) for _ in range(workers)}
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            if progress:
                progress(min(done_bytes.value, total), total)
            for fut in finished:
                yield fut.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    # Every share is done: the workers exit on their own while the caller goes on (waiting
    # for them to free their memory and exit took 20 ms of a first report).
    pool.shutdown(wait=False)
    # The workers' last writes are still in the WAL: copied back while the caller goes on
    # (a report's query), not after it, when the database is closed.
    db.checkpoint_in_background()


class RowSink:
    """Keeps the best version of every call seen since the last write, and writes them,
    priced, in one transaction. A call is priced and made a row only when a write is
    tried (a fifth of the versions kept for a while lose to a later copy), and only once:
    a write the busy database turned away keeps the rows it made, and the next try makes
    rows only for the calls added or replaced since (a worker is turned away dozens of
    times per import: redoing the whole batch each time cost a tenth of its time)."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog
        self._best: dict[tuple[str, str], CallRecord] = {}
        self._made: dict[tuple[str, str], tuple[Any, ...]] = {}  # key -> row, in read order
        # Winners with no row made yet. A dict, for its order: a key new since the last
        # rows were made is added here when it is added to _best, so making them in this
        # order appends them to _made in read order (a replaced key keeps its place).
        self._changed: dict[tuple[str, str], None] = {}
        self._tools: dict[ToolRow, None] = {}  # de-duplicated as added, in read order
        self.unpriced: set[str] = set()

    def __len__(self) -> int:
        return len(self._best) + len(self._tools)

    def add(self, result: FileResult) -> None:
        best = self._best
        changed = self._changed
        for rec in result.records:
            key = (rec.source, rec.dedupe_key)
            kept = best.get(key)
            if kept is None or (rec.dedupe_rank, rec.usage.total, -rec.dedupe_order) > (
                kept.dedupe_rank,
                kept.usage.total,
                -kept.dedupe_order,
            ):
                best[key] = rec
                changed[key] = None
        self._tools.update(dict.fromkeys(tool_rows(result.records)))

    def _make_rows(self) -> None:
        """Price the winners added or replaced since the last try, and make their rows."""
        now = int(time.time() * 1000)
        cost_of = self._catalog.cost_nanos
        made, best = self._made, self._best
        for key in self._changed:
            rec = best[key]
            if rec.cost_source == CostSource.UNKNOWN:
                model = rec.response_model or rec.request_model
                variant = rec.attributes.get(PRICE_VARIANT)
                searches = rec.attributes.get(WEB_SEARCHES, 0)
                at = rec.started_at_ms
                cost = cost_of(rec.provider, model, rec.usage, at, variant, searches)
                if cost is None:
                    self.unpriced.add(f"{rec.provider or '?'}/{model or '?'}")
                else:
                    rec.cost_nanos, rec.cost_source = cost, CostSource.COMPUTED
            made[key] = record_row(rec, now)
        self._changed.clear()

    def write(self, db: Database, *, wait: bool = True, states: Sequence[FileState] = ()) -> bool:
        """Write and forget the rows kept so far, and ``states`` with them; with
        ``wait=False``, only if the database is free right now. True if written (or
        nothing to write)."""
        if not self._best and not self._tools and not states:
            return True
        self._make_rows()  # outside the lock, which is held for the write alone
        if wait:
            with db.transaction() as cur:
                self._write(db, cur, states)
        else:
            with db.try_transaction() as maybe:
                if maybe is None:
                    return False  # nothing else was done: trying again costs next to nothing
                self._write(db, maybe, states)
        self._best.clear()
        self._made.clear()
        self._tools.clear()
        return True

    def _write(self, db: Database, cur: Cursor, states: Sequence[FileState]) -> None:
        self._name_projects(db, cur)
        rows = list(self._made.values())
        if db.dialect == "sqlite":
            # One writer at a time: rows go in as read, which keeps each session's calls
            # together in the time-ordered indexes (in key order they land on random pages).
            tools = list(self._tools)
        else:
            # Sorted by key, so two writers upserting overlapping calls (copies of a response
            # in two batches) lock rows in the same order and cannot deadlock on PostgreSQL.
            rows.sort(key=itemgetter(_SOURCE, _KEY))
            tools = sorted(self._tools)
        write_rows(db, cur, rows, tools)
        write_states(db, cur, list(states))

    def _name_projects(self, db: Database, cur: Cursor) -> None:
        """Names unique per project directory (store/project_names.py), in the write's
        transaction; the few rows renamed are made again with the new name."""
        keys = list(self._best)
        recs = [self._best[k] for k in keys]
        for i in name_projects(db, cur, recs):
            row = self._made[keys[i]]
            self._made[keys[i]] = (*row[:_PROJECT], recs[i].project, *row[_PROJECT + 1 :])


def _count_calls(db: Database, source: str) -> int:
    return int(db.query("SELECT COUNT(*) FROM calls WHERE source = ?", (source,))[0][0])


def import_source(
    db: Database,
    importer: Importer,
    roots: list[Path],
    catalog: PriceCatalog,
    summary: ImportSummary,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> None:
    files = importer.discover(roots)
    states = load_states(db, importer.source)
    plans = [p for f in files if (p := plan_read(f, importer.source, states.get(os.fspath(f))))]
    stats = summary.sources.setdefault(importer.name, SourceSummary())
    stats.files_seen += len(files)
    if not plans:
        return
    before = _count_calls(db, importer.source)
    for outcome in run_batches(importer, plans, db, catalog, workers, progress):
        summary.problems.extend(outcome.problems)
        summary.unpriced_models |= outcome.unpriced
        stats.files_read += outcome.files
        stats.bytes_read += outcome.bytes_read
    summary.problems.items.sort(key=lambda p: (p.path, p.line or 0))
    stats.records += _count_calls(db, importer.source) - before


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def import_all(
    db: Database,
    importers: Sequence[Importer],
    catalog: PriceCatalog,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    roots: list[Path] | None = None,
    workers: int | None = None,
    progress: Callable[[str], Progress | None] | None = None,
) -> ImportSummary:
    """Import every given source from its default places (or ``roots``)."""
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    summary = ImportSummary()
    with shared_listing():
        _import_each(db, importers, catalog, summary, env, home, roots, workers, progress)
    return summary


def _import_each(
    db: Database,
    importers: Sequence[Importer],
    catalog: PriceCatalog,
    summary: ImportSummary,
    env: Mapping[str, str],
    home: Path,
    roots: list[Path] | None,
    workers: int | None,
    progress: Callable[[str], Progress | None] | None,
) -> None:
    for importer in importers:
        where = roots if roots is not None else importer.default_roots(env, home)
        import_source(
            db,
            importer,
            where,
            catalog,
            summary,
            workers=workers or default_workers(),
            progress=progress(importer.name) if progress else None,
        )
