"""The analytics API's insights: what cost the most (``top``), how calls fail
(``failures``) and how well caching works (``cache``), each with the evidence behind it.

Same rules as ``queries.py``: SQL written once for SQLite and PostgreSQL (``?``
placeholders, integer sums, window functions both engines have), every list bounded by
``limit``, and Python only ever reads aggregated groups (at most ``EVIDENCE`` call ids per
group), never one row per call.
Money is summed in integer nano-dollars and turned into USD at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tokenomy.analytics.query import offset_sql
from tokenomy.analytics.reports import SavingsPricer
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import DIMENSIONS, DOUBLE_COUNTED_SOURCE, ApiError, Scope
from tokenomy.api.queries import (
    DAY_MS,
    Measures,
    prompt_cache_savings,
    response_cache,
    usd,
)
from tokenomy.api.timeseries import INTERVALS, MAX_BUCKETS, bucket_label, local_ms
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TOKEN_FIELDS
from tokenomy.store.db import Database

TOP_KINDS = ("commands", "sessions", "projects", "users", "prompts")
# Call ids given as evidence per row: enough to open and check, few enough to read.
EVIDENCE = 3
# Models listed per row, the most expensive first.
MODELS_SHOWN = 5
# A session (or prompt prefix) reuses the provider's prompt cache poorly when it has at
# least this many calls and prompt tokens yet reads less than half its prompt from cache:
# below these sizes the first call's cache write dominates and the share means little.
POOR_REUSE_MIN_CALLS = 5
POOR_REUSE_MIN_PROMPT_TOKENS = 100_000

_MODEL = DIMENSIONS["model"]
# The sums Measures.from_row reads, in its order, over ``calls c``. These answers group by
# session, prompt, prefix or error type, which the hourly rollups do not keep: they sum
# the calls themselves.
MEASURES_SQL = (
    "COUNT(*), "
    "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END), "
    "COALESCE(SUM(c.cost_nanos), 0), " + ", ".join(f"COALESCE(SUM(c.{t}), 0)" for t in TOKEN_FIELDS)
)
_N_MEASURES = 4 + len(TOKEN_FIELDS)
_TOP_KEYS = {
    "sessions": "c.session_id",
    "projects": "c.project",
    "users": DIMENSIONS["user"],
    "prompts": "c.prompt_hash",
}
# A call without a session or prompt hash is not part of any session or prompt: leave it
# out. A call without a project or user is shown as one row with key null, as breakdowns do.
_NULL_KEY_EXCLUDED = ("sessions", "prompts")
_PROMPT = "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens"
# The most expensive first; unknown costs after every known one, then more tokens, then
# the older call (ids are ULIDs, sortable by time): the same order on both engines.
_EXPENSIVE_FIRST = "COALESCE(c.cost_nanos, -1) DESC, c.total_tokens DESC, c.id"


def _and(where: str, condition: str) -> str:
    """``where`` (from :meth:`Scope.where`, maybe empty) with one more condition."""
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


def _key_in(key_sql: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """A condition matching any of ``keys`` (None matches NULL: ``IN`` never does)."""
    values = [k for k in keys if k is not None]
    parts = [f"{key_sql} IN ({', '.join('?' * len(values))})"] if values else []
    if len(values) < len(keys):
        parts.append(f"{key_sql} IS NULL")
    return "(" + " OR ".join(parts) + ")", values


def _rank(cost_nanos: int, key: Any) -> tuple[int, bool, str]:
    """Sort order of rows: cost descending, then key (null last). Python sorts again after
    SQL so both engines list rows alike whatever their text collation."""
    return (-cost_nanos, key is None, "" if key is None else str(key))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _div_round(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)  # a / b rounded half up, in integers


def _plus(a: Measures, b: Measures) -> Measures:
    return Measures(
        a.calls + b.calls,
        a.failed_calls + b.failed_calls,
        a.unknown_cost_calls + b.unknown_cost_calls,
        a.cost_nanos + b.cost_nanos,
        {k: a.tokens[k] + b.tokens[k] for k in a.tokens},
    )


# --- top ---------------------------------------------------------------------------------


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
        where = _and(where, f"{key} IS NOT NULL")
    rows = db.query(
        f"SELECT {key}, {MEASURES_SQL}, MIN(c.started_at), MAX(c.started_at), "
        f"COUNT(DISTINCT c.session_id), MIN(c.project) FROM calls c{where} GROUP BY {key} "
        f"ORDER BY COALESCE(SUM(c.cost_nanos), 0) DESC, ({key} IS NULL), {key} LIMIT ?",
        [*params, limit],
    )
    if not rows:
        return []
    keys = [r[0] for r in rows]
    models = _models(db, where, params, key, keys)
    evidence = _evidence(db, where, params, key, keys)
    tools = _session_tools(db, where, params, keys, limit) if what == "sessions" else {}
    out: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
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
        out.append((m.cost_nanos, item))
    out.sort(key=lambda pair: _rank(pair[0], pair[1]["key"]))
    return [item for _, item in out]


def _models(
    db: Database, where: str, params: list[Any], key: str, keys: Sequence[Any]
) -> dict[Any, list[dict[str, Any]]]:
    """The most expensive models of each key (calls and cost per model)."""
    cond, values = _key_in(key, keys)
    rows = db.query(
        f"SELECT {key}, {_MODEL}, COUNT(*), COALESCE(SUM(c.cost_nanos), 0) "
        f"FROM calls c{_and(where, cond)} GROUP BY {key}, {_MODEL}",
        [*params, *values],
    )
    per_key: dict[Any, list[tuple[Any, int, int]]] = {}
    for k, model, calls, cost in rows:
        per_key.setdefault(k, []).append((model, int(calls), int(cost)))
    return {k: _model_list(v) for k, v in per_key.items()}


def _model_list(models: Iterable[tuple[Any, int, int]]) -> list[dict[str, Any]]:
    """(model, calls, cost) -> the most expensive ``MODELS_SHOWN``, as JSON."""
    ranked = sorted(models, key=lambda m: (-m[2], -m[1], m[0] is None, str(m[0])))
    return [
        {"model": model, "calls": calls, "cost_usd": usd(cost)}
        for model, calls, cost in ranked[:MODELS_SHOWN]
    ]


def _evidence(
    db: Database, where: str, params: list[Any], key: str, keys: Sequence[Any]
) -> dict[Any, list[str]]:
    """The ids of the ``EVIDENCE`` most expensive calls of each key."""
    cond, values = _key_in(key, keys)
    rows = db.query(
        f"SELECT x.k, x.id FROM (SELECT {key} AS k, c.id AS id, ROW_NUMBER() OVER "
        f"(PARTITION BY {key} ORDER BY {_EXPENSIVE_FIRST}) AS rn "
        f"FROM calls c{_and(where, cond)}) x WHERE x.rn <= {EVIDENCE} ORDER BY x.rn",
        [*params, *values],
    )
    out: dict[Any, list[str]] = {}
    for k, call_id in rows:
        out.setdefault(k, []).append(call_id)
    return out


def _session_tools(
    db: Database, where: str, params: list[Any], sessions: Sequence[Any], limit: int
) -> dict[Any, list[dict[str, Any]]]:
    """The tools each session used, the most used first (MCP tools name their server)."""
    cond, values = _key_in("c.session_id", sessions)
    # ``ct``, not ``t``: the scope's tool filter has its own ``call_tools t`` subquery.
    rows = db.query(
        "SELECT c.session_id, ct.name, MIN(ct.mcp_server), COUNT(*) FROM calls c "
        "JOIN call_tools ct ON ct.source = c.source AND ct.dedupe_key = c.dedupe_key"
        f"{_and(where, cond)} GROUP BY c.session_id, ct.name",
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
    models: dict[Any, list[int]] = field(default_factory=dict)  # model -> [calls, cost]


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
    where = _and(where, "c.prompt_hash IS NOT NULL")
    # The family is in the attributes (JSON), which neither engine reads the same way. A
    # family is a function of the exact command, and prompt_hash is the exact command's
    # hash: SQL sums per command and model, Python reads one attributes value per group.
    rows = db.query(
        f"SELECT c.prompt_hash, {_MODEL}, {MEASURES_SQL}, MIN(c.started_at), "
        f"MAX(c.started_at), MIN(c.attributes) FROM calls c{where} "
        f"GROUP BY c.prompt_hash, {_MODEL}",
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
            fam.measures = _plus(fam.measures, m)
            fam.first_ms, fam.last_ms = min(fam.first_ms, int(first)), max(fam.last_ms, int(last))
            fam.text = fam.text or text
        fam.commands.add(command)
        per_model = fam.models.setdefault(model, [0, 0])
        per_model[0] += m.calls
        per_model[1] += m.cost_nanos
    chosen = sorted(families, key=lambda k: _rank(families[k].measures.cost_nanos, k))[:limit]
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
                "models": _model_list((k, v[0], v[1]) for k, v in fam.models.items()),
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
        f"(PARTITION BY c.prompt_hash ORDER BY {_EXPENSIVE_FIRST}) AS rn "
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


# --- failures ----------------------------------------------------------------------------


def failures(db: Database, scope: Scope, limit: int, interval: str = "day") -> dict[str, Any]:
    """Failed calls (status other than ``ok``) grouped by (error type, provider, model),
    the most frequent first: count, share of all calls in scope, HTTP statuses seen,
    first and last time, a count per local ``interval`` bucket (aligned with
    ``buckets``, as in ``timeseries``) and the ids of the most recent failures."""
    if interval not in INTERVALS:
        raise ApiError(
            422,
            f"interval must be one of: {', '.join(INTERVALS)} (got {interval!r})",
            "interval",
        )
    step = INTERVALS[interval]
    where, params = scope.where()
    calls, failed, low, high = db.query(
        "SELECT COUNT(*), SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
        f"MIN(c.started_at), MAX(c.started_at) FROM calls c{where}",
        params,
    )[0]
    calls, failed = int(calls), int(failed or 0)
    total: dict[str, Any] = {
        "calls": calls,
        "failed_calls": failed,
        "error_rate": round(failed / calls, 6) if calls else 0.0,
        "groups": 0,
    }
    # The buckets span the request's range or, where it is open, that of its calls (failed
    # or not), so quiet days show as zeros, as timeseries does.
    start = scope.start_ms if scope.start_ms is not None else low
    end = scope.end_ms if scope.end_ms is not None else (None if high is None else int(high) + 1)
    if start is None or end is None:
        return {"interval": interval, "total": total, "buckets": [], "rows": []}
    start, end = int(start), int(end)
    first = local_ms(scope, start) // step
    count = local_ms(scope, end - 1) // step - first + 1
    if count > MAX_BUCKETS:
        raise ApiError(
            422,
            f"interval={interval} over this range gives {count:,} buckets; the limit is "
            f"{MAX_BUCKETS:,}: narrow since/until or use a longer interval",
            "interval",
        )
    buckets = [bucket_label(scope, (first + i) * step) for i in range(count)]
    if not failed:
        return {"interval": interval, "total": total, "buckets": buckets, "rows": []}

    fwhere = _and(where, "c.status <> 'ok'")
    group = f"c.error_type, c.provider, {_MODEL}"
    total["groups"] = int(
        db.query(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM calls c{fwhere} GROUP BY {group}) g", params
        )[0][0]
    )
    rows = db.query(
        f"SELECT {group}, COUNT(*), MIN(c.started_at), MAX(c.started_at), "
        f"COALESCE(SUM(c.cost_nanos), 0), COUNT(DISTINCT c.session_id) "
        f"FROM calls c{fwhere} GROUP BY {group} ORDER BY COUNT(*) DESC, "
        f"(c.error_type IS NULL), c.error_type, (c.provider IS NULL), c.provider, "
        f"({_MODEL} IS NULL), {_MODEL} LIMIT ?",
        [*params, limit],
    )
    groups = [tuple(r[:3]) for r in rows]
    if total["groups"] > len(groups):
        # Only some groups are shown: their details alone are fetched.
        cond, values = _groups_in(groups)
        fwhere, params = _and(fwhere, cond), [*params, *values]
    statuses: dict[tuple[Any, ...], set[int]] = {}
    for *g, status in db.query(
        f"SELECT DISTINCT {group}, c.http_status FROM calls c{fwhere} "
        "AND c.http_status IS NOT NULL",
        params,
    ):
        statuses.setdefault(tuple(g), set()).add(int(status))
    counts: dict[tuple[Any, ...], list[int]] = {}
    bucket = f"(c.started_at + {offset_sql(scope.tz, start, end)}) / {step}"
    for *g, b, n in db.query(
        f"SELECT {group}, {bucket}, COUNT(*) FROM calls c{fwhere} GROUP BY {group}, {bucket}",
        params,
    ):
        counts.setdefault(tuple(g), [0] * count)[int(b) - first] += int(n)
    examples: dict[tuple[Any, ...], list[str]] = {}
    for *g, call_id in db.query(
        "SELECT x.e, x.p, x.m, x.id FROM (SELECT c.error_type AS e, c.provider AS p, "
        f"{_MODEL} AS m, c.id AS id, ROW_NUMBER() OVER (PARTITION BY {group} "
        f"ORDER BY c.started_at DESC, c.id DESC) AS rn FROM calls c{fwhere}) x "
        f"WHERE x.rn <= {EVIDENCE} ORDER BY x.rn",
        params,
    ):
        examples.setdefault(tuple(g), []).append(call_id)
    out = []
    for row in rows:
        g = tuple(row[:3])
        n, first_at, last_at, cost, sessions = (int(v) for v in row[3:])
        out.append(
            {
                "error_type": g[0],
                "provider": g[1],
                "model": g[2],
                "failed_calls": n,
                "share": round(n / calls, 6),
                "http_statuses": sorted(statuses.get(g, ())),
                "cost_usd": usd(cost),
                "sessions": sessions,
                "first_at": iso_utc(first_at),
                "last_at": iso_utc(last_at),
                "counts": counts.get(g, [0] * count),
                "examples": examples.get(g, []),
            }
        )
    out.sort(
        key=lambda r: (-r["failed_calls"], *_none_last(r["error_type"], r["provider"], r["model"]))
    )
    return {"interval": interval, "total": total, "buckets": buckets, "rows": out}


def _none_last(*values: Any) -> tuple[Any, ...]:
    return tuple(x for v in values for x in (v is None, "" if v is None else str(v)))


def _groups_in(groups: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """A condition matching any of these (error type, provider, model) groups."""
    columns = ("c.error_type", "c.provider", _MODEL)
    parts: list[str] = []
    values: list[Any] = []
    for g in groups:
        terms = []
        for column, value in zip(columns, g, strict=True):
            if value is None:
                terms.append(f"{column} IS NULL")
            else:
                terms.append(f"{column} = ?")
                values.append(value)
        parts.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(parts) + ")", values


# --- cache -------------------------------------------------------------------------------


def cache(
    db: Database,
    scope: Scope,
    catalog: PriceCatalog,
    limit: int,
    *,
    min_calls: int = POOR_REUSE_MIN_CALLS,
    min_prompt_tokens: int = POOR_REUSE_MIN_PROMPT_TOKENS,
) -> dict[str, Any]:
    """Prompt-cache efficiency (overall and per model), the sessions and prompt prefixes
    that reuse the provider's cache poorly, and the prompts sent more than once (what an
    exact response cache would save). ``rows`` is ``duplicate_prompts`` again, for CSV."""
    savings = SavingsPricer(catalog)
    models, totals = _cache_by_model(db, scope, savings, limit)
    duplicates, dup_totals = _duplicate_prompts(db, scope, limit)
    summary = {
        **totals,
        # The same figure as /summary's, by the same query.
        "savings_usd": usd(prompt_cache_savings(db, scope, catalog)),
        **response_cache(db, scope, catalog),
        "duplicates": dup_totals,
    }
    return {
        "summary": summary,
        "thresholds": {
            "min_calls": min_calls,
            "min_prompt_tokens": min_prompt_tokens,
            "max_read_share": 0.5,
        },
        "models": models,
        "poor_reuse_sessions": _poor_reuse(
            db, scope, savings, "c.session_id", min_calls, min_prompt_tokens, limit
        ),
        "poor_reuse_prefixes": _poor_reuse(
            db, scope, savings, "c.prefix_hash", min_calls, min_prompt_tokens, limit
        ),
        "duplicate_prompts": duplicates,
        "rows": duplicates,
    }


_CACHE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
_READS = _CACHE_TOKENS.index("cache_read_tokens")


@dataclass(slots=True)
class _CacheSums:
    """Prompt-cache figures of some calls; ``tokens`` in ``_CACHE_TOKENS`` order."""

    calls: int = 0
    reading: int = 0  # calls that read from the cache
    tokens: list[int] = field(default_factory=lambda: [0] * len(_CACHE_TOKENS))
    cost_nanos: int = 0
    saved_nanos: int = 0

    def add(self, other: _CacheSums) -> None:
        self.calls += other.calls
        self.reading += other.reading
        self.tokens = [a + b for a, b in zip(self.tokens, other.tokens, strict=True)]
        self.cost_nanos += other.cost_nanos
        self.saved_nanos += other.saved_nanos

    def to_json(self) -> dict[str, Any]:
        prompt = sum(self.tokens)
        return {
            "calls": self.calls,
            "calls_with_cache_reads": self.reading,
            "tokens": {**dict(zip(_CACHE_TOKENS, self.tokens, strict=True)), "prompt": prompt},
            # Of everything the model read, the part read from the provider's cache.
            "read_share": _ratio(self.tokens[_READS], prompt),
            "cost_usd": usd(self.cost_nanos),
            "savings_usd": usd(self.saved_nanos),
        }


def _cache_by_model(
    db: Database, scope: Scope, savings: SavingsPricer, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cache tokens and savings per (provider, model), the biggest readers of prompts first,
    and in total. Sums are per model and UTC day, so savings use that day's prices."""
    where, params = scope.where()
    day = f"c.started_at / {DAY_MS}"
    rows = db.query(
        f"SELECT c.provider, {_MODEL}, {day}, COUNT(*), "
        "SUM(CASE WHEN c.cache_read_tokens > 0 THEN 1 ELSE 0 END), "
        + ", ".join(f"SUM(c.{t})" for t in _CACHE_TOKENS)
        + f", COALESCE(SUM(c.cost_nanos), 0) FROM calls c{where} "
        f"GROUP BY c.provider, {_MODEL}, {day}",
        params,
    )
    per_model: dict[tuple[Any, Any], _CacheSums] = {}
    total = _CacheSums()
    for provider, model, d, calls, reading, *rest in rows:
        tokens = [int(v or 0) for v in rest[: len(_CACHE_TOKENS)]]
        reads = tokens[_READS]
        group = _CacheSums(
            int(calls),
            int(reading or 0),
            tokens,
            int(rest[-1] or 0),
            savings.saved(provider, model, reads, int(d) * DAY_MS),
        )
        per_model.setdefault((provider, model), _CacheSums()).add(group)
        total.add(group)
    ranked = sorted(
        per_model.items(),
        key=lambda kv: (-sum(kv[1].tokens), kv[0][1] is None, str(kv[0][1]), str(kv[0][0])),
    )
    models = [{"key": m, "provider": p, **sums.to_json()} for (p, m), sums in ranked[:limit]]
    summary = total.to_json()
    del summary["savings_usd"]  # the caller's, from prompt_cache_savings
    return models, summary


def _poor_reuse(
    db: Database,
    scope: Scope,
    savings: SavingsPricer,
    key: str,
    min_calls: int,
    min_prompt_tokens: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Values of ``key`` (a session, a prompt prefix) with at least ``min_calls`` calls and
    ``min_prompt_tokens`` prompt tokens that read less than half of them from the cache,
    sorted by what better reuse could have saved.

    The estimate: every uncached input token after the key's first call (which has to
    write the cache) read from the cache instead, at that model's input price minus its
    cache-read price on the day. An upper bound: part of a later prompt is always new.
    """
    where, params = scope.where()
    where = _and(where, f"{key} IS NOT NULL")
    having = (
        f"COUNT(*) >= ? AND SUM({_PROMPT}) >= ? AND 2 * SUM(c.cache_read_tokens) < SUM({_PROMPT})"
    )
    found = db.query(
        f"SELECT {key}, COUNT(*), "
        + ", ".join(f"SUM(c.{t})" for t in _CACHE_TOKENS)
        + ", COALESCE(SUM(c.cost_nanos), 0), MIN(c.started_at), MAX(c.started_at), "
        f"MIN(c.project), COUNT(DISTINCT c.session_id) "
        f"FROM calls c{where} GROUP BY {key} HAVING {having}",
        [*params, min_calls, min_prompt_tokens],
    )
    if not found:
        return []
    # Uncached input after each key's first call, per model and day (so it is priced).
    later = db.query(
        "SELECT x.k, x.provider, x.model, x.day, SUM(x.input_tokens) FROM ("
        f"SELECT {key} AS k, c.provider AS provider, {_MODEL} AS model, "
        f"c.started_at / {DAY_MS} AS day, c.input_tokens AS input_tokens, "
        f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY c.started_at, c.id) AS rn "
        f"FROM calls c{where} AND {key} IN "
        f"(SELECT {key} FROM calls c{where} GROUP BY {key} HAVING {having})"
        ") x WHERE x.rn > 1 GROUP BY x.k, x.provider, x.model, x.day",
        [*params, *params, min_calls, min_prompt_tokens],
    )
    potential: dict[Any, int] = {}
    for k, provider, model, d, tokens in later:
        saved = savings.saved(provider, model, int(tokens or 0), int(d) * DAY_MS)
        potential[k] = potential.get(k, 0) + saved
    out = []
    for k, calls, *rest in found:
        tokens = [int(v or 0) for v in rest[: len(_CACHE_TOKENS)]]
        cost, first, last, project, sessions = rest[len(_CACHE_TOKENS) :]
        prompt = sum(tokens)
        item: dict[str, Any] = {"key": k}
        if key == "c.session_id":
            item["project"] = project
        else:
            item["sessions"] = int(sessions)
        item.update(
            {
                "calls": int(calls),
                "tokens": {**dict(zip(_CACHE_TOKENS, tokens, strict=True)), "prompt": prompt},
                "read_share": _ratio(tokens[_READS], prompt),
                "cost_usd": usd(int(cost)),
                "potential_savings_usd": usd(potential.get(k, 0)),
                "first_at": iso_utc(int(first)),
                "last_at": iso_utc(int(last)),
            }
        )
        out.append((potential.get(k, 0), item))
    out.sort(key=lambda pair: _rank(pair[0], pair[1]["key"]))
    return [item for _, item in out[:limit]]


def _duplicate_prompts(
    db: Database, scope: Scope, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Prompts (``prompt_hash``) sent more than once: the cost of every repeat after the
    first that our response cache did not already answer is what an exact response cache
    would have saved. Sorted by that, then by the number of calls."""
    where, params = scope.where()
    where = _and(where, "c.prompt_hash IS NOT NULL")
    numbered = (
        "SELECT c.prompt_hash AS k, c.cost_nanos AS cost, c.cache_hit AS hit, "
        "c.started_at AS at, c.session_id AS sid, ROW_NUMBER() OVER "
        f"(PARTITION BY c.prompt_hash ORDER BY c.started_at, c.id) AS rn FROM calls c{where}"
    )
    repeat_cost = "COALESCE(SUM(CASE WHEN x.rn > 1 AND x.hit = 'none' THEN x.cost ELSE 0 END), 0)"
    hits = "SUM(CASE WHEN x.hit <> 'none' THEN 1 ELSE 0 END)"
    grouped = (
        f"SELECT x.k AS k, COUNT(*) AS n, {repeat_cost} AS saved, {hits} AS hits, "
        "COALESCE(SUM(x.cost), 0) AS cost, SUM(CASE WHEN x.cost IS NULL THEN 1 ELSE 0 END) "
        "AS unknown, MIN(x.at) AS first, MAX(x.at) AS last, COUNT(DISTINCT x.sid) AS sessions "
        f"FROM ({numbered}) x GROUP BY x.k HAVING COUNT(*) > 1"
    )
    n, repeats, saved, cache_hits = db.query(
        "SELECT COUNT(*), COALESCE(SUM(g.n - 1), 0), COALESCE(SUM(g.saved), 0), "
        f"COALESCE(SUM(g.hits), 0) FROM ({grouped}) g",
        params,
    )[0]
    totals = {
        "prompts": int(n),
        "repeats": int(repeats),
        "cache_hits": int(cache_hits),
        "repeat_cost_usd": usd(int(saved)),
    }
    if not n:
        return [], totals
    rows = db.query(
        "SELECT g.k, g.n, g.saved, g.hits, g.cost, g.unknown, g.first, g.last, g.sessions "
        f"FROM ({grouped}) g ORDER BY g.saved DESC, g.n DESC, g.k LIMIT ?",
        [*params, limit],
    )
    evidence = _evidence(db, where, params, "c.prompt_hash", [r[0] for r in rows])
    out: list[tuple[tuple[int, int, str], dict[str, Any]]] = []
    for k, calls, repeat, hit, cost, unknown, first, last, sessions in rows:
        order = (-int(repeat), -int(calls), str(k))
        out.append(
            (
                order,
                {
                    "key": k,
                    "calls": int(calls),
                    "repeats": int(calls) - 1,
                    "cache_hits": int(hit),
                    "sessions": int(sessions),
                    "cost_usd": usd(int(cost)),
                    "unknown_cost_calls": int(unknown),
                    "repeat_cost_usd": usd(int(repeat)),
                    "first_at": iso_utc(int(first)),
                    "last_at": iso_utc(int(last)),
                    "evidence": evidence.get(k, []),
                },
            )
        )
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out], totals
