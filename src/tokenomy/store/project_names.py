"""One readable, unique project name per project directory.

Agent logs and agent runs know a project by its directory, and people read it by the last
part ("app"); two directories with the same last part (``~/work/app``, ``~/personal/app``)
must stay two projects. The first directory seen under a name keeps it; another one is
named by as many of its last parts as make it unique ("personal/app"). Names are kept in
``project_paths`` and never change, so a project keeps its name in every later import, and
one directory gets one name whatever agent (Claude Code, Codex, Gemini CLI, the runner)
recorded it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence

from tokenomy.record import CallRecord
from tokenomy.store.db import Cursor, Database
from tokenomy.store.nul import without_nul

_SEPARATORS = re.compile(r"[\\/]+")


def path_parts(path: str) -> list[str]:
    """A directory's parts, for POSIX and Windows paths alike (``C:`` included); a NUL,
    which PostgreSQL cannot store, made U+FFFD."""
    return [without_nul(p) for p in _SEPARATORS.split(path.strip()) if p]


def normalised(path: str) -> str:
    """The key a directory is kept under: one separator style, no trailing separator, so
    ``/w/app/`` and ``/w/app`` are one project."""
    parts = path_parts(path)
    lead = "/" if path.strip().startswith(("/", "\\")) else ""
    return lead + "/".join(parts)


def candidates(path: str) -> list[str]:
    """Names for ``path``, shortest first: its last part, then its last two, ..., then all."""
    parts = path_parts(path)
    return ["/".join(parts[-n:]) for n in range(1, len(parts) + 1)]


def unique_names(db: Database, cur: Cursor, paths: Iterable[str]) -> dict[str, str]:
    """The name of each directory in ``paths`` (keyed as given), claiming names for new
    ones. Call inside the transaction that writes the calls: on PostgreSQL a concurrent
    writer's claim of the same name makes ``ON CONFLICT DO NOTHING`` wait for it, and the
    loser claims again with the winner's name taken."""
    wanted = {p: normalised(p) for p in paths if path_parts(p)}
    if not wanted:
        return {}
    keys = sorted(set(wanted.values()))
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        part = keys[start : start + 500]
        marks = ", ".join("?" * len(part))
        cur.execute(db.sql(f"SELECT path, name FROM project_paths WHERE path IN ({marks})"), part)
        found.update((str(p), str(n)) for p, n in cur.fetchall())
    claim = db.sql(
        "INSERT INTO project_paths (path, name, claimed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    )
    read = db.sql("SELECT name FROM project_paths WHERE path = ?")
    now = int(time.time() * 1000)
    for key in keys:
        while key not in found:
            # A project has few directories: all of them, read again after a lost race.
            cur.execute("SELECT path, name FROM project_paths")
            taken = [(str(p), str(n)) for p, n in cur.fetchall()]
            cur.execute(claim, (key, free_name(key, taken), now))
            cur.execute(read, (key,))
            row = cur.fetchone()
            if row is not None:  # ours, or a concurrent writer's claim for this same path
                found[key] = str(row[0])
    return {given: found[key] for given, key in wanted.items()}


def free_name(path: str, taken: Iterable[tuple[str, str]]) -> str:
    """The shortest suffix of ``path`` that is no other directory's name and does not end
    another directory (so ``/y/a/b/app`` beside ``/x/a/b/app`` is ``y/a/b/app``, not a
    ``b/app`` that fits both); the whole path if none is left."""
    others = [(p, n) for p, n in taken if p != path]
    names = {n for _, n in others}
    for name in candidates(path):
        if name in names or any(p == name or p.endswith("/" + name) for p, _ in others):
            continue
        return name
    return path


def name_projects(db: Database, cur: Cursor, records: Sequence[CallRecord]) -> list[int]:
    """Give each record named after a directory that directory's unique name; return the
    indexes of the records renamed."""
    names = unique_names(db, cur, {r.project_path for r in records if r.project_path})
    renamed = []
    for i, rec in enumerate(records):
        name = names.get(rec.project_path) if rec.project_path else None
        if name is not None and name != rec.project:
            rec.project = name
            renamed.append(i)
    return renamed
