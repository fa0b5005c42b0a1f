"""Reading a table of calls, CSV or JSON lines, as rows of text values with their line.

The CSV reader is the standard library's (C); a wrapper around the file notes the
physical line each record starts on, so a bad row is named by the line an editor shows even
after a quoted field that spans lines. JSON lines take their columns from the first
object's keys.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(slots=True)
class TableRow:
    line: int
    values: list[str]
    problem: str | None = None  # why this row cannot be read (it is skipped and listed)


@dataclass(slots=True)
class Table:
    """A file's header, its rows as text values, and how far reading has got (bytes; for
    progress)."""

    header: list[str]
    rows: Iterator[TableRow]
    position: Callable[[], int]
    close: Callable[[], None]
    added: frozenset[str] = frozenset()  # columns in the header the file does not show


def read_rows(path: Path, fmt: str, known: Iterable[str] = ()) -> Table:
    """The header and the rows of a CSV or JSONL file, as text values. JSON objects need
    not all have the same keys: the columns are the first object's keys plus ``known``
    (the names a mapping may ask for). Close the table if its rows are not read through."""
    if fmt == "auto":
        fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    if fmt == "jsonl":
        return _jsonl_rows(path, known)
    return _csv_rows(path)


# Bytes that are not UTF-8 are decoded as these lone surrogates (errors="surrogateescape"),
# so one bad byte costs its own row, not the rows decoded with it in the same block.
_UNDECODED = re.compile("[\udc80-\udcff]")
_NOT_UTF8 = "not UTF-8 text (save the file as UTF-8)"


def _csv_rows(path: Path) -> Table:
    f = path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    counter = _LineCounter(f)
    reader = csv.reader(counter)
    try:
        header = [h.strip() for h in next(reader)]
        if counter.undecoded:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "invalid byte in the header")
    except StopIteration:
        f.close()
        return Table([], iter(()), lambda: 0, lambda: None)
    except BaseException:
        f.close()
        raise

    def rows() -> Iterator[TableRow]:
        with f:
            for values in reader:
                if counter.undecoded:
                    counter.undecoded = False
                    yield TableRow(counter.first_line, [], _NOT_UTF8)
                elif values:
                    yield TableRow(counter.first_line, values)

    return Table(header, rows(), lambda: counter.chars, f.close)


class _LineCounter:
    """Feeds the csv reader and remembers on which physical line each record began."""

    def __init__(self, f: io.TextIOBase) -> None:
        self._f = f
        self.line = 0
        self.first_line = 1
        self.chars = 0
        self.undecoded = False  # the record being read holds bytes that are not UTF-8
        self._at_start = True

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        text = next(self._f)
        self.line += 1
        self.chars += len(text)
        if self._at_start:
            self.first_line = self.line
        if not text.isascii() and _UNDECODED.search(text):
            self.undecoded = True
        # A record ends at a newline outside quotes: an odd number of quotes on a line opens
        # a quoted field (or closes the one left open), "" inside a field counts twice.
        odd = text.count('"') % 2 == 1
        self._at_start = not odd if self._at_start else odd
        return text


def _jsonl_rows(path: Path, known: Iterable[str]) -> Table:
    with path.open("rb") as f:
        first = b""
        for raw in f:
            if raw.strip():
                first = raw
                break
    try:
        head = orjson.loads(first) if first else {}
    except orjson.JSONDecodeError:
        head = {}
    header = list(head) if isinstance(head, dict) else []
    added = frozenset(k for k in known if k not in header)
    header += sorted(added)

    done = [0]

    def rows() -> Iterator[TableRow]:
        index = {k: i for i, k in enumerate(header)}
        with path.open("rb") as f:
            for n, raw in enumerate(f, 1):
                done[0] += len(raw)
                if not raw.strip():
                    continue
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield TableRow(n, [], f"invalid JSON: {exc}")
                    continue
                if not isinstance(obj, dict):
                    yield TableRow(n, [], "expected a JSON object")
                    continue
                values = [""] * len(header)
                for k, v in obj.items():
                    i = index.get(k)
                    if i is not None:
                        values[i] = _as_text(v)
                yield TableRow(n, values)

    return Table(header, rows(), lambda: done[0], lambda: None, added)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()
