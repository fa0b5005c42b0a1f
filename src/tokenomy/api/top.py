"""``GET /api/v1/top``: what cost the most, so the money can be traced to its cause.

The most expensive commands (runner records grouped by command family), sessions,
projects, users or prompts, each with its measures, the models it used, for sessions the
tools, and the ids of its most expensive calls (see ``ranked.py`` for the shared rules).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tokenomy.analytics.rows import iso_utc
from tokenomy.api import threshold
from tokenomy.api.params import DIMENSIONS, DOUBLE_COUNTED_SOURCE, ApiError, Scope
from tokenomy.api.queries import Measures, usd
from tokenomy.api.ranked import (
    EVIDENCE,
    EXPENSIVE_FIRST,
    MODEL,
    evidence_by_key,
    evidence_in_order,
    key_in,
    rank,
    where_and,
)
from tokenomy.api.threshold import UNKNOWN_COST, ModelSums
from tokenomy.record import TOKEN_FIELDS
from tokenomy.store.db import Database
from tokenomy.store.key_rollups import PROMPTS, SESSIONS, Grouping

log = logging.getLogger("tokenomy.api")
TOP_KINDS = ("commands", "sessions", "projects", "users", "prompts")
# Models listed per row, the most expensive first.
MODELS_SHOWN = 5

# The sums Measures.from_row reads, in its order, over ``calls c``. Each row returned is
# summed from its calls; for sessions and prompts, which groups to return is decided from
# their rollups when they can say (threshold.py), for the rest by grouping the calls.
MEASURES_SQL = (
    "COUNT(*), "
    "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END), "
    "COALESCE(SUM(c.cost_nanos), 0), " + ", ".join(f"COALESCE(SUM(c.{t}), 0)" for t in TOKEN_FIELDS)
)
_N_MEASURES = 4 + len(TOKEN_FIELDS)
_COST = 3  # where the cost sum is in MEASURES_SQL
_TOP_KEYS = {
    "sessions": "c.session_id",
    "projects": "c.project",
    "users": DIMENSIONS["user"],
    "prompts": "c.prompt_hash",
}
_GROUPINGS: dict[str, Grouping] = {"sessions": SESSIONS, "prompts": PROMPTS}
# A call without a session or prompt hash is not part of any session or prompt: leave it
# out. A call without a project or user is shown as one row with key null, as breakdowns do.
_NULL_KEY_EXCLUDED = ("sessions", "prompts")


def _div_round(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)  # a / b rounded half up, in integers


def top(db: Database, scope: Scope, what: str, limit: int) -> dict[str, Any]:
    """The ``limit`` most expensive commands, sessions, projects, users or prompts, each
    with its measures and the ids of its most expensive calls (``evidence``).

    Sorted by cost descending, then by key. Commands are runner records (``tokenomy run``)
    grouped by the family of their prompt (see ``runner/family.py``); prompts are calls
    grouped by ``prompt_hash``.
    """
    if what not in TOP_KINDS:
        raise ApiError(422, f"what must be one of: {', '.join(TOP_KINDS)} (got {what!r})", "what")
    rows = (
        _top_commands(db, scope, limit) if what == "commands" else _top_by(db, scope, what, limit)
    )
    return {"what": what, "rows": rows}


def _top_by(db: Database, scope: Scope, what: str, limit: int) -> list[dict[str, Any]]:
    key = _TOP_KEYS[what]
    where, params = scope.where()
    if what in _NULL_KEY_EXCLUDED:
        where = where_and(where, f"{key} IS NOT NULL")
    out: list[tuple[int, dict[str, Any]]] = []
    for part in _ranked_rows(db, scope, what, where, params, limit):
        if not part.rows:
            continue
        keys = [r[0] for r in part.rows]
        # Models the walk summed already (threshold.Leader.models); the rest read here.
        models = {k: _model_list(ms) for k, ms in part.models.items()}
        missing = [k for k in keys if k not in models]
        if missing:
            models.update(_models(db, part.table, part.where, part.params, key, missing))
        # Heavy groups' copies have an index in evidence order; the calls table does not.
        find = evidence_by_key if part.table == "calls" else evidence_in_order
        evidence = find(db, part.where, part.params, key, keys, part.table)
        tools = (
            _session_tools(db, part.table, part.where, part.params, keys, limit)
            if what == "sessions"
            else {}
        )
        for row in part.rows:
            out.append((int(row[1 + _COST]), _item(what, row, models, tools, evidence)))
    out.sort(key=lambda pair: rank(pair[0], pair[1]["key"]))
    return [item for _, item in out]


def _item(
    what: str,
    row: Sequence[Any],
    models: dict[Any, list[dict[str, Any]]],
    tools: dict[Any, list[dict[str, Any]]],
    evidence: dict[Any, list[str]],
) -> dict[str, Any]:
    k, m = row[0], Measures.from_row(row[1 : 1 + _N_MEASURES])
    first, last, sessions, project = row[1 + _N_MEASURES :]
    item: dict[str, Any] = {"key": k}
    if what == "sessions":
        # A session normally runs in one project; if it spans several, the first by name.
        item["project"] = project
    else:
        item["sessions"] = int(sessions)
    item.update(m.to_json())
    item["first_at"] = iso_utc(int(first))
    item["last_at"] = iso_utc(int(last))
    item["models"] = models.get(k, [])
    if what == "sessions":
        item["tools"] = tools.get(k, [])
    item["evidence"] = evidence.get(k, [])
    return item


@dataclass(frozen=True, slots=True)
class _Part:
    """Some of the ``limit`` most expensive groups (``rows``, each summed from its calls
    with the same SQL), and where their calls are: a table (``calls``, or the copy of the
    heavy groups' calls) and a condition that finds them there."""

    table: str
    where: str
    params: list[Any]
    rows: list[Any]
    models: dict[Any, ModelSums] = field(default_factory=dict)  # known per-model sums


def _ranked_rows(
    db: Database, scope: Scope, what: str, where: str, params: list[Any], limit: int
) -> list[_Part]:
    """For sessions and prompts the groups are chosen from their rollups (threshold.py)
    when they can say, else by grouping every call of the scope."""
    key = _TOP_KEYS[what]
    sql = (
        f"SELECT {key}, {MEASURES_SQL}, MIN(c.started_at), MAX(c.started_at), "
        f"COUNT(DISTINCT c.session_id), MIN(c.project) FROM {{table}} c{{where}} GROUP BY {key} "
        f"ORDER BY COALESCE(SUM(c.cost_nanos), 0) DESC, ({key} IS NULL), {key} LIMIT ?"
    )

    def grouped() -> list[_Part]:
        rows = db.query(sql.format(table="calls", where=where), [*params, limit])
        return [_Part("calls", where, params, rows)]

    grouping = _GROUPINGS.get(what)
    chosen = None if grouping is None else threshold.leaders(db, grouping, scope, limit)
    if grouping is None or chosen is None:
        return grouped()
    out: list[_Part] = []
    for table, heavy in (("calls", False), (grouping.copy, True)):
        keys = [c for c in chosen if c.heavy == heavy]
        if keys:
            # Light keys' calls: by their index or their instant (threshold.calls_of).
            cond, values = (
                key_in(key, [c.key for c in keys]) if heavy else threshold.calls_of(grouping, keys)
            )
            found = where_and(where, cond)
            rows = db.query(sql.format(table=table, where=found), [*params, *values, limit])
            known = {c.key: c.models for c in keys if c.models is not None}
            out.append(_Part(table, found, [*params, *values], rows, known))
    costs = {r[0]: int(r[1 + _COST]) for part in out for r in part.rows}
    if costs == {c.key: c.cost for c in chosen}:
        return out
    # The rollups disagree with the calls (`tokenomy rollups rebuild` recomputes them):
    # the answer comes from the calls.
    log.warning("%s rollups disagree with the calls; ranking from the calls", what)
    return grouped()


def _models(
    db: Database, table: str, where: str, params: list[Any], key: str, keys: Sequence[Any]
) -> dict[Any, list[dict[str, Any]]]:
    """The most expensive models of each key (calls and cost per model)."""
    cond, values = key_in(key, keys)
    rows = db.query(
        f"SELECT {key}, {MODEL}, COUNT(*), COALESCE(SUM(c.cost_nanos), 0), {UNKNOWN_COST} "
        f"FROM {table} c{where_and(where, cond)} GROUP BY {key}, {MODEL}",
        [*params, *values],
    )
    per_key: dict[Any, list[tuple[Any, int, int, int]]] = {}
    for k, model, calls, cost, unknown in rows:
        per_key.setdefault(k, []).append((model, int(calls), int(cost), int(unknown)))
    return {k: _model_list(v) for k, v in per_key.items()}


def _model_list(models: Iterable[tuple[Any, int, int, int]]) -> list[dict[str, Any]]:
    """(model, calls, cost, unknown-cost calls) -> the most expensive ``MODELS_SHOWN``, as
    JSON. A model without a price shows its calls of unknown cost: never a cost of 0."""
    ranked = sorted(models, key=lambda m: (-m[2], -m[1], m[0] is None, str(m[0])))
    return [
        {"model": model, "calls": calls, "cost_usd": usd(cost), "unknown_cost_calls": unknown}
        for model, calls, cost, unknown in ranked[:MODELS_SHOWN]
    ]


def _session_tools(
    db: Database,
    table: str,
    where: str,
    params: list[Any],
    sessions: Sequence[Any],
    limit: int,
) -> dict[Any, list[dict[str, Any]]]:
    """The tools each session used, the most used first (MCP tools name their server)."""
    cond, values = key_in("c.session_id", sessions)
    # ``ct``, not ``t``: the scope's tool filter has its own ``call_tools t`` subquery.
    rows = db.query(
        f"SELECT c.session_id, ct.name, MIN(ct.mcp_server), COUNT(*) FROM {table} c "
        "JOIN call_tools ct ON ct.source = c.source AND ct.dedupe_key = c.dedupe_key"
        f"{where_and(where, cond)} GROUP BY c.session_id, ct.name",
        [*params, *values],
    )
    per_session: dict[Any, list[tuple[str, str | None, int]]] = {}
    for session, name, server, uses in rows:
        per_session.setdefault(session, []).append((name, server, int(uses)))
    return {
        s: [
            {"name": name, "mcp_server": server, "uses": uses}
            for name, server, uses in sorted(tools, key=lambda t: (-t[2], t[0]))[:limit]
        ]
        for s, tools in per_session.items()
    }


@dataclass(slots=True)
class _Family:
    """Runner records of one command family, summed from per-command groups."""

    measures: Measures
    text: str | None
    first_ms: int
    last_ms: int
    commands: set[str] = field(default_factory=set)
    # model -> [calls, cost, calls of unknown cost]
    models: dict[Any, list[int]] = field(default_factory=dict)


def _family_of(attributes: str | None, command: str) -> tuple[str, str | None]:
    """(family hash, family text) from a runner record's attributes; a record without them
    (written by something other than ``tokenomy run``) is a family of its own command."""
    try:
        attrs = orjson.loads(attributes or "{}")
    except orjson.JSONDecodeError:
        return command, None
    if not isinstance(attrs, dict) or not isinstance(attrs.get("family_hash"), str):
        return command, None
    text = attrs.get("family")
    return attrs["family_hash"], text if isinstance(text, str) else None


def _top_commands(db: Database, scope: Scope, limit: int) -> list[dict[str, Any]]:
    sources = scope.filters.get("source")
    if sources is not None and DOUBLE_COUNTED_SOURCE not in sources:
        return []  # the request asked for other sources only: no runner records
    # Runner records are left out of every other answer (their calls are also in the
    # agents' own logs); here they are the subject.
    runner = replace(scope, filters={**scope.filters, "source": (DOUBLE_COUNTED_SOURCE,)})
    where, params = runner.where()
    where = where_and(where, "c.prompt_hash IS NOT NULL")
    # The family is in the attributes (JSON), which neither engine reads the same way. A
    # family is a function of the exact command, and prompt_hash is the exact command's
    # hash: SQL sums per command and model, Python reads one attributes value per group.
    rows = db.query(
        f"SELECT c.prompt_hash, {MODEL}, {MEASURES_SQL}, MIN(c.started_at), "
        f"MAX(c.started_at), MIN(c.attributes) FROM calls c{where} "
        f"GROUP BY c.prompt_hash, {MODEL}",
        params,
    )
    families: dict[str, _Family] = {}
    family_of_command: dict[str, str] = {}
    for row in rows:
        command, model = row[0], row[1]
        m = Measures.from_row(row[2 : 2 + _N_MEASURES])
        first, last, attributes = row[2 + _N_MEASURES :]
        key, text = _family_of(attributes, command)
        family_of_command[command] = key
        fam = families.get(key)
        if fam is None:
            fam = families[key] = _Family(m, text, int(first), int(last))
        else:
            fam.measures = fam.measures + m
            fam.first_ms, fam.last_ms = min(fam.first_ms, int(first)), max(fam.last_ms, int(last))
            fam.text = fam.text or text
        fam.commands.add(command)
        per_model = fam.models.setdefault(model, [0, 0, 0])
        per_model[0] += m.calls
        per_model[1] += m.cost_nanos
        per_model[2] += m.unknown_cost_calls
    chosen = sorted(families, key=lambda k: rank(families[k].measures.cost_nanos, k))[:limit]
    evidence = _command_evidence(db, where, params, family_of_command, set(chosen))
    out = []
    for key in chosen:
        fam = families[key]
        m = fam.measures
        known = m.calls - m.unknown_cost_calls
        out.append(
            {
                "key": key,
                "family": fam.text,
                "commands": len(fam.commands),
                "runs": m.calls,
                **m.to_json(),
                # Over the runs whose cost is known: an unknown cost is not a free run.
                "avg_cost_usd": usd(_div_round(m.cost_nanos, known)) if known else None,
                "first_at": iso_utc(fam.first_ms),
                "last_at": iso_utc(fam.last_ms),
                "models": _model_list((k, *v) for k, v in fam.models.items()),
                "evidence": evidence.get(key, []),
            }
        )
    return out


def _command_evidence(
    db: Database,
    where: str,
    params: list[Any],
    family_of_command: dict[str, str],
    chosen: set[str],
) -> dict[str, list[str]]:
    """The most expensive runs of each chosen family: SQL ranks runs per command (it cannot
    see families), at most ``EVIDENCE`` per command; Python keeps the family's best."""
    if not chosen:
        return {}
    rows = db.query(
        "SELECT x.h, x.id, x.cost, x.tokens FROM (SELECT c.prompt_hash AS h, c.id AS id, "
        "c.cost_nanos AS cost, c.total_tokens AS tokens, ROW_NUMBER() OVER "
        f"(PARTITION BY c.prompt_hash ORDER BY {EXPENSIVE_FIRST}) AS rn "
        f"FROM calls c{where}) x WHERE x.rn <= {EVIDENCE}",
        params,
    )
    runs: dict[str, list[tuple[int, int, str]]] = {}
    for command, call_id, cost, tokens in rows:
        key = family_of_command.get(command)
        if key in chosen:
            cost_key = -1 if cost is None else int(cost)
            runs.setdefault(key, []).append((-cost_key, -int(tokens), call_id))
    return {k: [r[2] for r in sorted(v)[:EVIDENCE]] for k, v in runs.items()}
