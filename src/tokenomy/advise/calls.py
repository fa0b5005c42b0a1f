"""The calls the advisor reads: one pass over the calls in scope, grouped by prefix.

A prefix is the ``prefix_hash`` the call was recorded with; without one, its session (a
conversation whose prompt grows); without either, its ``prompt_hash`` (the same prompt
again). Caches are per model, so a group is also one provider and model. Unlike the
ranked lists in ``api/``, the simulation needs each call, so rows are read one by one,
in group and time order, and only one group is held at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from tokenomy.api.params import Scope
from tokenomy.api.ranked import MODEL, where_and
from tokenomy.store.db import Database

KINDS = ("prefix", "session", "prompt")
_PROMPT = "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens"
_KIND = "CASE WHEN c.prefix_hash IS NOT NULL THEN 0 WHEN c.session_id IS NOT NULL THEN 1 ELSE 2 END"
_KEY = "COALESCE(c.prefix_hash, c.session_id, c.prompt_hash)"
# Rows fetched per round trip: few enough to stay small, many enough to be quick.
_FETCH = 5000


@dataclass(frozen=True, slots=True)
class CallRow:
    id: str
    at_ms: int
    input: int
    read: int
    write: int
    write_1h: int

    @property
    def prompt(self) -> int:
        return self.input + self.read + self.write + self.write_1h


@dataclass(slots=True)
class Group:
    """The calls of one prefix and model, oldest first."""

    kind: str
    key: str
    provider: str | None
    model: str
    calls: list[CallRow] = field(default_factory=list)
    projects: dict[str, int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    cost_nanos: int = 0
    unknown_cost_calls: int = 0

    @property
    def project(self) -> str | None:
        """The project most of its calls belong to (ties: the first name)."""
        if not self.projects:
            return None
        return min(self.projects, key=lambda p: (-self.projects[p], p))


def read_groups(db: Database, scope: Scope) -> Iterator[Group]:
    """The groups of the calls in ``scope`` that reached the provider with a prompt.

    Calls our response cache answered never reached it; calls with no model cannot be
    priced.
    """
    where, params = scope.where()
    where = where_and(
        where,
        f"{MODEL} IS NOT NULL AND c.cache_hit = 'none' AND {_PROMPT} > 0 AND {_KEY} IS NOT NULL",
    )
    sql = (
        f"SELECT {_KIND}, {_KEY}, c.provider, {MODEL}, c.id, c.started_at, c.project, "
        "c.session_id, c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, "
        f"c.cache_write_1h_tokens, c.cost_nanos FROM calls c{where} "
        "ORDER BY 1, 2, 3, 4, c.started_at, c.id"
    )
    group: Group | None = None
    # A connection of its own: the pass can be long, and the shared one would hold up
    # every other query of this process meanwhile.
    conn = db.connect()
    try:
        # Both drivers' cursors have fetchmany; the store's Cursor protocol names only
        # what the writers use.
        cur = cast(Any, conn.cursor())
        cur.execute(db.sql(sql), params)
        while rows := cur.fetchmany(_FETCH):
            for kind, key, provider, model, *rest in rows:
                if group is None or (KINDS[kind], key, provider, model) != (
                    group.kind,
                    group.key,
                    group.provider,
                    group.model,
                ):
                    if group is not None:
                        yield group
                    group = Group(KINDS[kind], str(key), provider, str(model))
                _add(group, rest)
        cur.close()
    finally:
        conn.close()
    if group is not None:
        yield group


def _add(group: Group, row: list[Any]) -> None:
    call_id, at, project, session, inp, read, write, write_1h, cost = row
    group.calls.append(
        CallRow(str(call_id), int(at), int(inp), int(read), int(write), int(write_1h))
    )
    if project is not None:
        group.projects[project] = group.projects.get(project, 0) + 1
    if session is not None:
        group.sessions.add(session)
    if cost is None:
        group.unknown_cost_calls += 1
    else:
        group.cost_nanos += int(cost)
