"""Where each log file was read up to, so a re-run reads only new bytes.

A file is identified by device and inode plus a hash of its first bytes. If any of those
changed, or the file shrank below the stored offset, it was rewritten or truncated: it is
read again from the start, which is safe because records are upserted by dedupe key.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tokenomy.store.db import Cursor, Database
from tokenomy.store.schema import IMPORT_FILES

HEAD_BYTES = 1024


@dataclass(slots=True)
class FileState:
    path: str
    source: str
    device: int = 0
    inode: int = 0
    size: int = 0
    mtime_ns: int = 0
    offset: int = 0
    head_hash: str = ""
    # Importer-specific memory, e.g. Codex's running token totals; "lines" is the number
    # of lines consumed, so problems can name line numbers after an incremental read.
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return int(self.state.get("lines", 0))


# Listings of the trees walked in the current `shared_listing()` scope, by roots.
_listings: ContextVar[dict[tuple[str, ...], list[str]] | None] = ContextVar(
    "_listings", default=None
)


@contextmanager
def shared_listing() -> Iterator[None]:
    """Within this scope each tree is walked once, however many importers look in it
    (``tokenomy report --path DIR`` hands the same tree to every importer)."""
    token = _listings.set({})
    try:
        yield
    finally:
        _listings.reset(token)


def list_files(roots: Sequence[Path]) -> list[str]:
    """Every file under ``roots`` (symlinked dirs not followed), as path strings; a root
    that is a file is listed as itself.

    ``os.scandir`` knows each entry's type from the directory listing itself, so a tree of
    thousands of sessions is listed without a stat per entry.
    """
    key = tuple(str(r) for r in roots)
    cache = _listings.get()
    if cache is not None and key in cache:
        return cache[key]
    found: list[str] = []
    stack = list(key)
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        found.append(entry.path)
        except NotADirectoryError:
            found.append(top)  # only a root can be a file: one log given by name
        except OSError:
            continue  # vanished or unreadable: nothing to import from it
    if cache is not None:
        cache[key] = found
    return found


def find_files(roots: Sequence[Path], suffix: str) -> list[str]:
    """Every file under ``roots`` whose name ends in ``suffix``, as path strings: a tree
    holds thousands of logs, and a ``Path`` object for each took 15-20 ms before the first
    byte was read."""
    return [p for p in list_files(roots) if p.endswith(suffix)]


EDGE_BYTES = 1024  # hashed just before where a read stopped (edge_hash)


def head_length(size: int) -> int:
    return min(size, HEAD_BYTES)


def head_hash(path: Path, length: int) -> str:
    """Hash of the first ``length`` bytes. A growing small file keeps its hash because the
    length hashed last time is stored (``state['head_len']``) and used again."""
    with path.open("rb") as f:
        data = f.read(length)
    if len(data) < length:
        return ""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def edge_hash(path: Path, offset: int) -> str:
    """Hash of the ``EDGE_BYTES`` before ``offset``: where the last read stopped. A log
    rewritten in place (same file, same first bytes, then longer) changes them, and is
    read again from the start instead of from an offset that no longer means anything."""
    start = max(0, offset - EDGE_BYTES)
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(offset - start)
    if len(data) < offset - start:
        return ""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def state_after_read(
    plan: ReadPlan, offset: int, state: dict[str, Any], read: bytes = b""
) -> FileState:
    """The state to save once ``plan`` was read up to ``offset``; ``read``: the bytes read
    from the start of the file, if it was read from the start (the head's hash is then
    taken from them instead of opening the file again)."""
    length = head_length(plan.stat.st_size)
    if plan.start == 0 and len(read) >= length > 0:
        digest = hashlib.blake2b(read[:length], digest_size=12).hexdigest()
    else:
        digest = head_hash(Path(plan.path), length)
    return FileState(
        plan.path,
        plan.source,
        plan.stat.st_dev,
        plan.stat.st_ino,
        plan.stat.st_size,
        plan.stat.st_mtime_ns,
        offset,
        digest,
        {**state, "head_len": length, "edge_hash": edge_hash(Path(plan.path), offset)},
    )


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What to read of one file: from ``start`` (0 = from scratch) with the state to resume."""

    path: str
    source: str
    start: int
    size: int
    prior: FileState | None
    stat: os.stat_result


def plan_read(path: str | Path, source: str, prior: FileState | None) -> ReadPlan | None:
    """None when nothing new was written since the last read."""
    key = os.fspath(path)
    try:
        st = os.stat(key)  # noqa: PTH116 (a path string: no Path object per file)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # a named pipe or device named like a log: reading it would block
    if prior is not None and (prior.device, prior.inode) == (st.st_dev, st.st_ino):
        if st.st_size == prior.size and st.st_mtime_ns == prior.mtime_ns:
            return None
        length = int(prior.state.get("head_len", head_length(prior.size)))
        edge = prior.state.get("edge_hash")  # absent in states saved before it was kept
        if (
            st.st_size >= prior.offset
            and head_hash(Path(key), length) == prior.head_hash
            and (edge is None or edge_hash(Path(key), prior.offset) == edge)
        ):
            return ReadPlan(key, source, prior.offset, st.st_size, prior, st)
    return ReadPlan(key, source, 0, st.st_size, None, st)


def load_states(db: Database, source: str) -> dict[str, FileState]:
    cols = ", ".join(f'"{c}"' for c in IMPORT_FILES.column_names)
    rows = db.query(f"SELECT {cols} FROM import_files WHERE source = ?", (source,))
    # Columns come in schema order: source, path, then the rest.
    return {
        r[1]: FileState(r[1], r[0], r[2], r[3], r[4], r[5], r[6], r[7], orjson.loads(r[8]))
        for r in rows
    }


def save_states(db: Database, states: list[FileState]) -> None:
    if states:
        with db.transaction() as cur:
            write_states(db, cur, states)


def write_states(db: Database, cur: Cursor, states: list[FileState]) -> None:
    """Save read positions with an open cursor (in the transaction that stores the rows)."""
    if not states:
        return
    now = int(time.time() * 1000)
    rows = [
        (
            s.source,
            s.path,
            s.device,
            s.inode,
            s.size,
            s.mtime_ns,
            s.offset,
            s.head_hash,
            orjson.dumps(s.state).decode(),
            now,
        )
        for s in states
    ]
    cols = ", ".join(f'"{c}"' for c in IMPORT_FILES.column_names)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in IMPORT_FILES.column_names[2:])
    marks = ", ".join("?" * len(IMPORT_FILES.columns))
    sql = (
        f"INSERT INTO import_files ({cols}) VALUES ({marks}) "
        f"ON CONFLICT (source, path) DO UPDATE SET {updates}"
    )
    cur.executemany(db.sql(sql), rows)
