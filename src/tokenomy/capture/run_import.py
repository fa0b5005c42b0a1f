"""Running importers: find files, read only what is new, de-duplicate, price, store.

Parsing is spread over worker processes (logs are CPU-bound JSON, and a laptop has cores
to spare). Each worker parses, prices and writes its own share of the files, and sends
back only the files' new read positions and problems. Writes can land in any order because
the upsert keeps the best version of every call whatever arrives first (``dedupe_rank``,
then tokens, then ``dedupe_order``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenomy.capture.base import FileResult, Importer
from tokenomy.capture.filestate import FileState, ReadPlan, load_states, plan_read, save_states
from tokenomy.capture.problems import Problem, ProblemLog
from tokenomy.capture.registry import get_importer
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CostSource
from tokenomy.store.db import Database
from tokenomy.store.schema import CALL_COLUMNS
from tokenomy.store.writer import ToolRow, record_row, tool_rows, write_rows

# Below this many bytes to read, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

_I = {name: i for i, name in enumerate(CALL_COLUMNS)}
_RANK, _TOTAL, _ORDER = _I["dedupe_rank"], _I["total_tokens"], _I["dedupe_order"]


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


def import_batch(
    importer: Importer, plans: Sequence[ReadPlan], db: Database, catalog: PriceCatalog
) -> BatchOutcome:
    """Parse, de-duplicate, price and store a batch of files in one transaction."""
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
    sink.write(db)
    out.unpriced = sink.unpriced
    return out


@dataclass(slots=True)
class _Worker:
    """A worker process's own database connection and (inherited) price catalog."""

    db: Database
    catalog: PriceCatalog


# Set once per worker process by its initializer (a process has one job at a time).
_worker: _Worker | None = None


def _init_worker(url: str, catalog: PriceCatalog) -> None:
    global _worker
    _worker = _Worker(Database(url), catalog)


def _worker_batch(name: str, plans: Sequence[ReadPlan]) -> BatchOutcome:
    assert _worker is not None, "worker not initialised"
    outcome = import_batch(get_importer(name), plans, _worker.db, _worker.catalog)
    _worker.catalog.save()  # prices this worker had to resolve, for the next run
    return outcome


def _balanced(plans: list[ReadPlan], parts: int) -> list[list[ReadPlan]]:
    """Split plans into ``parts`` groups of similar byte counts (largest first, greedy)."""
    groups: list[list[ReadPlan]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for plan in sorted(plans, key=lambda p: p.size - p.start, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(plan)
        loads[i] += plan.size - plan.start
    return [g for g in groups if g]


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
        for batch in _balanced(plans, max(1, len(plans) // 200)):
            yield import_batch(importer, batch, db, catalog)
            done += sum(p.size - p.start for p in batch)
            if progress:
                progress(done, total)
        return
    # Many small batches keep every core busy to the end and let progress move.
    batches = _balanced(plans, workers * 12)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    done = 0
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(db.url, catalog)
    ) as pool:
        futures = {pool.submit(_worker_batch, importer.name, b): b for b in batches}
        for fut in as_completed(futures):
            yield fut.result()
            done += sum(p.size - p.start for p in futures[fut])
            if progress:
                progress(done, total)


class RowSink:
    """Keeps the best row per call of a batch, priced, then writes them in one go."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog
        self._best: dict[tuple[str, str], list[Any]] = {}
        self._tools: list[ToolRow] = []
        self.unpriced: set[str] = set()

    def add(self, result: FileResult) -> None:
        now = int(time.time() * 1000)
        best = self._best
        cost_of = self._catalog.cost_nanos
        for rec in result.records:
            key = (rec.source, rec.dedupe_key)
            kept = best.get(key)
            if kept is not None and (rec.dedupe_rank, rec.usage.total, -rec.dedupe_order) <= (
                kept[_RANK],
                kept[_TOTAL],
                -kept[_ORDER],
            ):
                continue
            if rec.cost_source == CostSource.UNKNOWN:
                model = rec.response_model or rec.request_model
                cost = cost_of(rec.provider, model, rec.usage, rec.started_at_ms)
                if cost is None:
                    self.unpriced.add(f"{rec.provider or '?'}/{model or '?'}")
                else:
                    rec.cost_nanos, rec.cost_source = cost, CostSource.COMPUTED
            best[key] = list(record_row(rec, now))
        self._tools.extend(tool_rows(result.records))

    def write(self, db: Database) -> None:
        if not self._best and not self._tools:
            return
        # Sorted by key, so two writers upserting overlapping calls (copies of a response
        # in two batches) lock rows in the same order and cannot deadlock on PostgreSQL.
        rows = [self._best[k] for k in sorted(self._best)]
        with db.transaction() as cur:
            write_rows(db, cur, rows, sorted(set(self._tools)))


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
    plans = [p for f in files if (p := plan_read(f, importer.source, states.get(str(f))))]
    stats = summary.sources.setdefault(importer.name, SourceSummary())
    stats.files_seen += len(files)
    if not plans:
        return
    before = _count_calls(db, importer.source)
    new_states: list[FileState] = []
    for outcome in run_batches(importer, plans, db, catalog, workers, progress):
        summary.problems.extend(outcome.problems)
        summary.unpriced_models |= outcome.unpriced
        new_states.extend(outcome.states)
        stats.files_read += outcome.files
        stats.bytes_read += outcome.bytes_read
    # Positions are saved only once every row is stored, so a crash re-reads, never skips.
    save_states(db, new_states)
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
    return summary
