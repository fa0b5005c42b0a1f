"""Running importers: find files, read only what is new, de-duplicate, price, store.

Parsing is spread over worker processes (logs are CPU-bound JSON, and a laptop has cores
to spare); de-duplication, pricing and writing happen once, in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tokenomy.capture.base import FileResult, Importer
from tokenomy.capture.filestate import FileState, ReadPlan, load_states, plan_read, save_states
from tokenomy.capture.problems import ProblemLog
from tokenomy.capture.registry import get_importer
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource
from tokenomy.store.db import Database
from tokenomy.store.writer import write_records

# Below this many bytes to read, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


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


def _parse_one(name: str, plan: ReadPlan) -> FileResult:
    return get_importer(name).parse(plan)


def _parse_batch(name: str, plans: Sequence[ReadPlan]) -> list[FileResult]:
    return [_parse_one(name, p) for p in plans]


def _balanced(plans: list[ReadPlan], parts: int) -> list[list[ReadPlan]]:
    """Split plans into ``parts`` groups of similar byte counts (largest first, greedy)."""
    groups: list[list[ReadPlan]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for plan in sorted(plans, key=lambda p: p.size - p.start, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(plan)
        loads[i] += plan.size - plan.start
    return [g for g in groups if g]


def parse_plans(
    importer: Importer, plans: list[ReadPlan], workers: int, progress: Progress | None
) -> list[FileResult]:
    total = sum(p.size - p.start for p in plans)
    done = 0
    results: list[FileResult] = []
    if workers <= 1 or total < PARALLEL_MIN_BYTES or len(plans) < 2:
        for plan in plans:
            results.append(importer.parse(plan))
            done += plan.size - plan.start
            if progress:
                progress(done, total)
        return results
    # Many small batches keep both cores busy to the end and let progress move.
    batches = _balanced(plans, workers * 8)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_parse_batch, importer.name, b) for b in batches]
        for fut, batch in zip(futures, batches, strict=True):
            results.extend(fut.result())
            done += sum(p.size - p.start for p in batch)
            if progress:
                progress(done, total)
    return results


def _better(new: CallRecord, new_order: int, old: CallRecord, old_order: int) -> bool:
    if new.dedupe_rank != old.dedupe_rank:
        return new.dedupe_rank > old.dedupe_rank
    if new.usage.total != old.usage.total:
        return new.usage.total > old.usage.total
    return new_order < old_order


def merge_results(results: list[FileResult]) -> list[CallRecord]:
    """One record per dedupe key: the most complete version, from the original session."""
    best: dict[str, tuple[CallRecord, int]] = {}
    for result in results:
        for rec in result.records:
            current = best.get(rec.dedupe_key)
            if current is None:
                best[rec.dedupe_key] = (rec, result.order_key)
                continue
            old, old_order = current
            if _better(rec, result.order_key, old, old_order):
                # Tool uses may be spread over the lines of one response: keep them all.
                seen = {t.use_id for t in rec.tools}
                rec.tools.extend(t for t in old.tools if t.use_id not in seen)
                best[rec.dedupe_key] = (rec, result.order_key)
            else:
                seen = {t.use_id for t in old.tools}
                old.tools.extend(t for t in rec.tools if t.use_id not in seen)
    return [rec for rec, _ in best.values()]


def price_records(records: list[CallRecord], catalog: PriceCatalog) -> set[str]:
    """Set computed costs where the source reported none; return models with no price."""
    unpriced: set[str] = set()
    for rec in records:
        if rec.cost_source != CostSource.UNKNOWN:
            continue
        model = rec.response_model or rec.request_model
        cost = catalog.cost_nanos(rec.provider, model, rec.usage, rec.started_at_ms)
        if cost is None:
            unpriced.add(f"{rec.provider or '?'}/{model or '?'}")
        else:
            rec.cost_nanos = cost
            rec.cost_source = CostSource.COMPUTED
    return unpriced


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
    results = parse_plans(importer, plans, workers, progress)
    # Files whose order is known are processed in that order, so "first kept" is stable.
    results.sort(key=lambda r: (r.order_key == 0, r.order_key, r.path))
    records = merge_results(results)
    summary.unpriced_models |= price_records(records, catalog)
    for start in range(0, len(records), 20_000):
        write_records(db, records[start : start + 20_000])
    new_states: list[FileState] = [r.state for r in results if r.state is not None]
    save_states(db, new_states)
    for result in results:
        summary.problems.extend(result.problems)
    stats.files_read += len(results)
    stats.bytes_read += sum(r.bytes_read for r in results)
    stats.records += len(records)


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
