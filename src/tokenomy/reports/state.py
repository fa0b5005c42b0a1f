"""What scheduled reports have produced, kept in the data directory
(``$TOKENOMY_HOME/reports/state.json``), and the lock that keeps two runs (an overlapping
cron job, a second machine on a shared home) from sending the same report twice.

The state is small JSON written whole to a temporary file and renamed over the old one,
so a crash leaves either the old state or the new one, never half of each.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson


class ReportStateError(ValueError):
    """A state file that cannot be read, with what to do about it."""


@dataclass(frozen=True, slots=True)
class Produced:
    """The last period a report was produced for; ``done_until_ms`` is its end."""

    done_until_ms: int
    period: str
    at: str  # when, ISO 8601


class ReportState:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "state.json"
        self.outbox = folder / "outbox"

    def load(self) -> dict[str, Produced]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ReportStateError(
                f"{self.path}: cannot read the scheduled reports' state ({exc}); delete it "
                "to start over: the next run then produces only each report's last period"
            ) from exc
        try:
            return {
                str(name): Produced(int(v["done_until_ms"]), str(v["period"]), str(v["at"]))
                for name, v in raw["reports"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReportStateError(
                f"{self.path}: not a scheduled reports' state file; delete it to start over"
            ) from exc

    def save(self, entries: dict[str, Produced]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = {
            "reports": {
                name: {"done_until_ms": p.done_until_ms, "period": p.period, "at": p.at}
                for name, p in sorted(entries.items())
            }
        }
        write_atomic(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2))

    def locked(self) -> AbstractContextManager[None]:
        """Held for a whole run; a second run waits for the first, then finds its reports
        produced."""
        return folder_lock(self.folder)


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.lock`` (shared with alerts' state). (No lock on
    Windows, which has no flock.)"""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a+b") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
