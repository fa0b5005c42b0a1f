"""Importing a CSV or JSONL table of calls: convert, price and store in large batches."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenomy.capture.problems import Problem
from tokenomy.capture.run_import import cycle_collector_paused
from tokenomy.capture.table_read import read_rows
from tokenomy.capture.table_rows import (
    FIELDS,
    RowError,
    RowPricer,
    TableSpec,
    TableSpecError,
    make_plan,
    to_row,
)
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database
from tokenomy.store.writer import STARTED_AT, write_rows

BATCH_ROWS = 20_000


@dataclass(slots=True)
class TableSummary:
    rows: int = 0
    stored: int = 0
    problems: list[Problem] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    unpriced_models: set[str] = field(default_factory=set)

    @property
    def skipped(self) -> int:
        return len([p for p in self.problems if p.line is not None])

    @property
    def already_stored(self) -> int:
        """Good rows whose call was stored before (by an earlier import of the file)."""
        return max(self.rows - self.skipped - self.stored, 0)


def import_table(
    db: Database,
    catalog: PriceCatalog,
    path: Path,
    spec: TableSpec,
    progress: Callable[[int, int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> TableSummary:
    """Import every good row of ``path``; bad rows are listed in the summary with their line.

    Raises :class:`TableSpecError` when the file cannot be read as asked at all (no such
    column, no time column), before anything is written. Rows are keyed by file name and
    line unless a ``dedupe_key`` column says otherwise, so importing a file again (or after
    it grew) never counts a row twice. ``on_batch(earliest_ms)`` is called after each
    batch is committed, with the start of its earliest call (the rollups' background
    refresh follows the import by it: store/background_refresh.py)."""
    summary = TableSummary()
    where = str(path)
    try:
        size = path.stat().st_size
        table = read_rows(path, spec.format, FIELDS)
    except OSError as exc:
        raise TableSpecError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TableSpecError(f"{where}: the header is not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise TableSpecError(f"{where}: the header is not valid CSV ({exc})") from exc
    try:
        if not table.header:
            raise TableSpecError(f"{where}: empty file, or no header row")
        plan = make_plan(table.header, spec, where, int(time.time() * 1000))
    except TableSpecError:
        table.close()
        raise
    summary.unused_columns = [c for c in plan.unused if c not in table.added]
    pricer = RowPricer(catalog)
    file_key = path.name
    batch: list[list[Any]] = []
    # Rows make many small objects and no cycles (see run_import).
    with cycle_collector_paused(), db.bulk_load():
        for row in table.rows:
            summary.rows += 1
            if row.problem is not None:
                summary.problems.append(Problem(where, row.line, row.problem))
                continue
            try:
                stored = to_row(row.values, row.line, plan, file_key)
            except RowError as exc:
                summary.problems.append(Problem(where, row.line, str(exc)))
                continue
            pricer.price(stored)
            batch.append(stored)
            if len(batch) >= BATCH_ROWS:
                summary.stored += _flush(db, batch, on_batch)
                if progress:
                    progress(min(size, table.position()), size)
        summary.stored += _flush(db, batch, on_batch)
    summary.unpriced_models = pricer.unpriced
    summary.problems.sort(key=lambda p: p.line or 0)
    return summary


def _flush(db: Database, batch: list[list[Any]], on_batch: Callable[[int], None] | None) -> int:
    """Write the batch; how many of its calls were not stored already."""
    written = 0
    if batch:
        with db.transaction() as cur:
            written = write_rows(db, cur, batch, [])
        if on_batch is not None:
            on_batch(min(row[STARTED_AT] for row in batch))
        batch.clear()
    return written
