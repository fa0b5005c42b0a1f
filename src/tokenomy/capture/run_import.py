"""Running importers: find files, read only what is new, de-duplicate, price, store.

Parsing is spread over worker processes (logs are CPU-bound JSON, and a laptop has cores
to spare). Workers send back compact rows, not objects, and this process merges, prices
and writes them while the workers go on parsing. Writes can land in any order because the
upsert keeps the best version of every call whatever arrives first (``dedupe_rank``, then
tokens, then ``dedupe_order``).
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
from tokenomy.record import CostSource, TokenUsage
from tokenomy.store.db import Database
from tokenomy.store.schema import CALL_COLUMNS
from tokenomy.store.writer import ToolRow, record_row, tool_rows, write_rows

# Below this many bytes to read, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
WRITE_BATCH = 20_000

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

_I = {name: i for i, name in enumerate(CALL_COLUMNS)}
_SOURCE, _KEY, _RANK, _ORDER = _I["source"], _I["dedupe_key"], _I["dedupe_rank"], _I["dedupe_order"]
_TOTAL, _COST, _COST_SOURCE = _I["total_tokens"], _I["cost_nanos"], _I["cost_source"]
_PROVIDER, _REQUEST_MODEL, _RESPONSE_MODEL = (
    _I["provider"],
    _I["request_model"],
    _I["response_model"],
)
_STARTED = _I["started_at"]
# In TokenUsage's field order.
_USAGE = tuple(
    _I[c]
    for c in (
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
    )
)


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
class Packed:
    """A file's result as plain rows, cheap to send between processes."""

    path: str
    rows: list[list[Any]]
    tools: list[ToolRow]
    problems: list[Problem]
    state: FileState | None
    bytes_read: int


def pack(result: FileResult) -> Packed:
    now = int(time.time() * 1000)
    rows = [list(record_row(r, now)) for r in result.records]
    return Packed(
        result.path,
        rows,
        tool_rows(result.records),
        result.problems,
        result.state,
        result.bytes_read,
    )


def _parse_batch(name: str, plans: Sequence[ReadPlan]) -> list[Packed]:
    importer = get_importer(name)
    return [pack(importer.parse(p)) for p in plans]


def _balanced(plans: list[ReadPlan], parts: int) -> list[list[ReadPlan]]:
    """Split plans into ``parts`` groups of similar byte counts (largest first, greedy)."""
    groups: list[list[ReadPlan]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for plan in sorted(plans, key=lambda p: p.size - p.start, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(plan)
        loads[i] += plan.size - plan.start
    return [g for g in groups if g]


def parse_stream(
    importer: Importer, plans: list[ReadPlan], workers: int, progress: Progress | None
) -> Iterator[Packed]:
    """Packed results, as soon as each is ready (in no particular order)."""
    total = sum(p.size - p.start for p in plans)
    done = 0
    if workers <= 1 or total < PARALLEL_MIN_BYTES or len(plans) < 2:
        for plan in plans:
            yield pack(importer.parse(plan))
            done += plan.size - plan.start
            if progress:
                progress(done, total)
        return
    # Many small batches keep every core busy to the end and let progress move.
    batches = _balanced(plans, workers * 12)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_parse_batch, importer.name, b): b for b in batches}
        for fut in as_completed(futures):
            yield from fut.result()
            done += sum(p.size - p.start for p in futures[fut])
            if progress:
                progress(done, total)


class RowSink:
    """Merges rows by dedupe key, prices them and writes them in batches."""

    def __init__(self, db: Database, catalog: PriceCatalog) -> None:
        self._db = db
        self._catalog = catalog
        self._seen: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._rows: list[list[Any]] = []
        self._tools: list[ToolRow] = []
        self.unpriced: set[str] = set()

    @property
    def calls(self) -> int:
        return len(self._seen)

    def add(self, packed: Packed) -> None:
        seen = self._seen
        for row in packed.rows:
            key = (row[_SOURCE], row[_KEY])
            rank = (row[_RANK], row[_TOTAL], -row[_ORDER])
            kept = seen.get(key)
            if kept is None or rank > kept:
                seen[key] = rank
                self._rows.append(row)
        self._tools.extend(packed.tools)
        if len(self._rows) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._rows and not self._tools:
            return
        self._price(self._rows)
        with self._db.transaction() as cur:
            write_rows(self._db, cur, self._rows, self._tools)
        self._rows, self._tools = [], []

    def _price(self, rows: list[list[Any]]) -> None:
        cost_of = self._catalog.cost_nanos
        for row in rows:
            if row[_COST_SOURCE] != CostSource.UNKNOWN:
                continue
            model = row[_RESPONSE_MODEL] or row[_REQUEST_MODEL]
            usage = TokenUsage(*(row[i] for i in _USAGE))
            cost = cost_of(row[_PROVIDER], model, usage, row[_STARTED])
            if cost is None:
                self.unpriced.add(f"{row[_PROVIDER] or '?'}/{model or '?'}")
            else:
                row[_COST] = cost
                row[_COST_SOURCE] = CostSource.COMPUTED.value


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
    sink = RowSink(db, catalog)
    new_states: list[FileState] = []
    for packed in parse_stream(importer, plans, workers, progress):
        sink.add(packed)
        summary.problems.extend(packed.problems)
        if packed.state is not None:
            new_states.append(packed.state)
        stats.files_read += 1
        stats.bytes_read += packed.bytes_read
    sink.flush()
    # Positions are saved only once every row is stored, so a crash re-reads, never skips.
    save_states(db, new_states)
    summary.problems.items.sort(key=lambda p: (p.path, p.line or 0))
    summary.unpriced_models |= sink.unpriced
    stats.records += sink.calls


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
