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
    not all have the same keys: the columns are the keys of the first objects plus ``known``
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
    # Strict: a quote out of place is an error for its row, not text silently taken in,
    # and a quote never closed is caught rather than swallowing every row after it.
    reader = csv.reader(counter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        if counter.undecoded:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "invalid byte in the header")
    except StopIteration:
        f.close()
        return Table([], iter(()), lambda: 0, lambda: None)
    except BaseException:  # csv.Error too: import_table names the file and what to do
        f.close()
        raise
    width = len(header)
    read = [counter]  # the counter of the file being read (a new one after a restart)

    def rows() -> Iterator[TableRow]:
        nonlocal reader
        handle = f
        try:
            while True:
                c = read[0]
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if not c.at_end:
                        yield TableRow(c.first_line, [], f"not valid CSV: {exc}")
                        continue
                    # A quote opened here was never closed: the reader took every line
                    # after it as one field. This row is bad; the lines after it are read
                    # again on their own, so they are not lost with it.
                    line = c.first_line
                    yield TableRow(
                        line,
                        [],
                        "a quoted field opened on this line is never closed (close the quote)",
                    )
                    handle.close()
                    handle = path.open(newline="", encoding="utf-8", errors="surrogateescape")
                    restarted = _LineCounter(handle, skip=line, chars=c.chars)
                    read[0] = restarted
                    reader = csv.reader(restarted, strict=True)
                    continue
                if c.undecoded:
                    c.undecoded = False
                    yield TableRow(c.first_line, [], _NOT_UTF8)
                elif len(values) != width and any(values):
                    # Columns that do not line up with the header cannot be trusted: a comma
                    # too many or too few shifts every value after it.
                    yield TableRow(
                        c.first_line,
                        [],
                        f"has {len(values)} fields, the header has {width} "
                        "(a comma too many or too few, or a quote missing?)",
                    )
                elif values:
                    yield TableRow(c.first_line, values)
        finally:
            handle.close()

    return Table(header, rows(), lambda: read[0].chars, lambda: read[0].close())


class _LineCounter:
    """Feeds the csv reader and remembers on which physical line each record began."""

    def __init__(self, f: io.TextIOBase, *, skip: int = 0, chars: int = 0) -> None:
        """``skip``: lines already read (a restart after a bad row), passed over here."""
        self._f = f
        self.line = 0
        self.first_line = 1
        self.chars = chars
        self.undecoded = False  # the record being read holds bytes that are not UTF-8
        self.at_end = False  # the file ran out (the reader is at its last record)
        self._at_start = True
        for _ in range(skip):
            if not next(f, ""):
                break
            self.line += 1

    def __iter__(self) -> _LineCounter:
        return self

    def close(self) -> None:
        self._f.close()

    def __next__(self) -> str:
        try:
            text = next(self._f)
        except StopIteration:
            self.at_end = True
            raise
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


# JSON lines need not all have the same keys: the columns are those of this many first
# objects (a key only later objects have is not a column a --map can name).
HEADER_LINES = 1000


def _jsonl_rows(path: Path, known: Iterable[str]) -> Table:
    header: list[str] = []
    seen: set[str] = set()
    with path.open("rb") as f:
        objects = 0
        for raw in f:
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                header += [k for k in obj if k not in seen]
                seen.update(obj)
            objects += 1
            if objects >= HEADER_LINES:
                break
    # The record's own field names are columns even where no object has them (they take
    # their defaults); a --map to a key no object has is refused, as for a CSV column.
    added = frozenset(k for k in known if k not in seen)
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
                    obj = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf") if n == 1 else raw)
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
