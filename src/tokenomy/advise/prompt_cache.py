"""The prompt-cache advisor: for the calls in a scope, which prompt prefixes are sent again
without being cached (or are evicted before they are reused), what Anthropic
``cache_control`` breakpoints (5-minute or 1-hour TTL) or OpenAI's automatic caching
would have charged for them, and what the best choice saves, scaled to 30 days.

    advise_cache(db, scope, catalog, limit=20) -> {"summary", "range", "assumptions", "rows"}

Rows are the prefixes whose recommended strategy costs less than what was paid, the
largest saving first, each with the ids of the calls where the advice changes most.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tokenomy.advise.calls import Group, read_groups
from tokenomy.advise.evaluate import Evaluation, Tally, evaluate
from tokenomy.advise.policies import assumptions, policy_for
from tokenomy.advise.recommend.base import window
from tokenomy.advise.wording import advice
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import Scope
from tokenomy.api.queries import DAY_MS, usd
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

MONTH_MS = 30 * DAY_MS


def nanos_from_pico(pico: int) -> int:
    """Nano-dollars, rounded half-up (as the store rounds each call's cost)."""
    return (pico + 500) // 1000


def _usd(pico: int) -> float:
    return usd(nanos_from_pico(pico))


def _tally_json(t: Tally) -> dict[str, Any]:
    return {
        "prompt_cost_usd": _usd(t.pico),
        "input_tokens": t.input,
        "cache_read_tokens": t.read,
        "cache_write_tokens": t.write,
        "cache_write_1h_tokens": t.write_1h,
    }


@dataclass(slots=True)
class _Totals:
    groups: int = 0
    with_advice: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    repeated_tokens: int = 0
    cost_nanos: int = 0
    unknown_cost_calls: int = 0
    actual: Tally = field(default_factory=Tally)
    advised_pico: int = 0
    evicted: int = 0
    evicted_within_hour: int = 0
    strategies: dict[str, Tally] = field(default_factory=dict)
    unpriced_calls: int = 0
    unmodelled_calls: int = 0
    unmodelled: set[str] = field(default_factory=set)

    def add(self, ev: Evaluation) -> None:
        g = ev.group
        self.groups += 1
        self.with_advice += ev.savings_pico > 0
        self.calls += len(g.calls)
        self.prompt_tokens += ev.prompt_tokens
        self.repeated_tokens += ev.repeated_tokens
        self.cost_nanos += g.cost_nanos
        self.unknown_cost_calls += g.unknown_cost_calls
        self.actual.merge(ev.actual)
        self.advised_pico += min(ev.actual.pico, ev.strategies[ev.best].pico)
        self.evicted += ev.evicted
        self.evicted_within_hour += ev.evicted_within_hour
        for name, tally in ev.strategies.items():
            self.strategies.setdefault(name, Tally()).merge(tally)


def advise_cache(
    db: Database,
    scope: Scope,
    catalog: PriceCatalog,
    *,
    limit: int = 20,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Prompt-caching advice for the calls in ``scope`` (see the module's docstring)."""
    totals = _Totals()
    ranked: list[tuple[tuple[Any, ...], Evaluation]] = []
    for ev in _with_savings(db, scope, catalog, totals):
        # Rows keep their group's calls until written out: keep only the best few.
        ranked.append((_order(ev), ev))
        if len(ranked) > 4 * limit + 100:
            ranked.sort(key=lambda pair: pair[0])
            del ranked[limit:]
    ranked.sort(key=lambda pair: pair[0])
    # The same range and scaling as `tokenomy advise` (every call in scope, at least a day),
    # so its prompt-cache row and this list give the same monthly figure.
    win = window(db, scope, int(time.time() * 1000) if now_ms is None else now_ms)
    span = win.span_ms
    since = win.start_ms
    return {
        "range": {
            "since": iso_utc(since) if since is not None else None,
            "until": iso_utc(since + span) if since is not None else None,
            "days": round(span / DAY_MS, 4),
        },
        "summary": _summary(totals, span),
        "assumptions": assumptions(),
        "rows": [_row(ev, span) for _, ev in ranked[:limit]],
    }


def _with_savings(
    db: Database, scope: Scope, catalog: PriceCatalog, totals: _Totals
) -> Iterator[Evaluation]:
    """Every prefix, session or prompt in scope that caching would make cheaper (all are
    counted in ``totals``)."""
    for group in read_groups(db, scope):
        ev = _evaluate(group, catalog, totals)
        if ev is not None and ev.savings_pico > 0:
            yield ev


def by_model(
    db: Database, scope: Scope, catalog: PriceCatalog, *, now_ms: int | None = None
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Per provider and model, the row that saves most and a short form of every row (not
    only the first N of :func:`advise_cache`'s list), for `tokenomy advise`'s one row per
    model: the two commands give the same figures."""
    win = window(db, scope, int(time.time() * 1000) if now_ms is None else now_ms)
    best: dict[tuple[Any, str], Evaluation] = {}
    briefs: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for ev in _with_savings(db, scope, catalog, _Totals()):
        key = (ev.group.provider, ev.group.model)
        briefs.setdefault(key, []).append(_brief(ev))
        if key not in best or _order(ev) < _order(best[key]):
            best[key] = ev
    return [(_row(best[key], win.span_ms), rows) for key, rows in briefs.items()]


def _brief(ev: Evaluation) -> dict[str, Any]:
    """The figures of a row that a sum over rows needs (its calls are not kept)."""
    return {
        "calls": len(ev.group.calls),
        "project": ev.group.project,
        "repeated_tokens": ev.repeated_tokens,
        "strategy": ev.best,
        "evicted": ev.evicted,
        "prompt_cost_usd": _usd(ev.actual.pico),
        "advised_prompt_cost_usd": _usd(ev.strategies[ev.best].pico),
        "savings_usd": _usd(ev.savings_pico),
    }


def _evaluate(group: Group, catalog: PriceCatalog, totals: _Totals) -> Evaluation | None:
    policy = policy_for(group.provider, group.model)
    if policy is None:
        totals.unmodelled_calls += len(group.calls)
        totals.unmodelled.add(group.provider or group.model)
        return None
    ev = evaluate(group, policy, catalog)
    if ev is None:
        totals.unpriced_calls += len(group.calls)
        return None
    totals.add(ev)
    return ev


def _order(ev: Evaluation) -> tuple[Any, ...]:
    g = ev.group
    return (-ev.savings_pico, g.kind, g.key, g.provider or "", g.model)


def _monthly(pico: int, span_ms: int) -> float:
    return usd(nanos_from_pico(pico * MONTH_MS // span_ms))


def _summary(t: _Totals, span_ms: int) -> dict[str, Any]:
    savings = t.actual.pico - t.advised_pico
    return {
        "groups": t.groups,
        "groups_with_advice": t.with_advice,
        "calls": t.calls,
        "prompt_tokens": t.prompt_tokens,
        "repeated_tokens": t.repeated_tokens,
        "cost_usd": usd(t.cost_nanos),
        "unknown_cost_calls": t.unknown_cost_calls,
        "prompt_cost_usd": _usd(t.actual.pico),
        "advised_prompt_cost_usd": _usd(t.advised_pico),
        "savings_usd": _usd(savings),
        "monthly_savings_usd": _monthly(savings, span_ms),
        "evicted": t.evicted,
        "evicted_within_1h": t.evicted_within_hour,
        "actual": _tally_json(t.actual),
        "strategies": {name: _tally_json(s) for name, s in sorted(t.strategies.items())},
        "skipped": {
            "unpriced_calls": t.unpriced_calls,
            "unmodelled_calls": t.unmodelled_calls,
            "unmodelled_providers": sorted(t.unmodelled),
        },
    }


def _row(ev: Evaluation, span_ms: int) -> dict[str, Any]:
    g, a = ev.group, ev.actual
    best = ev.strategies[ev.best]
    first, last = g.calls[0].at_ms, g.calls[-1].at_ms
    return {
        "key": g.key,
        "kind": g.kind,
        "provider": g.provider,
        "model": g.model,
        "project": g.project,
        "sessions": len(g.sessions),
        "calls": len(g.calls),
        "first_at": iso_utc(first),
        "last_at": iso_utc(last),
        "prompt_tokens": ev.prompt_tokens,
        "repeated_tokens": ev.repeated_tokens,
        "strategy": ev.best,
        "advice": advice(ev),
        "cost_usd": usd(g.cost_nanos),
        "unknown_cost_calls": g.unknown_cost_calls,
        "prompt_cost_usd": _usd(a.pico),
        "advised_prompt_cost_usd": _usd(best.pico),
        "savings_usd": _usd(ev.savings_pico),
        "monthly_savings_usd": _monthly(ev.savings_pico, span_ms),
        "gaps": {"within_ttl": ev.gaps[0], "ttl_to_1h": ev.gaps[1], "over_1h": ev.gaps[2]},
        "evicted": ev.evicted,
        "evicted_within_1h": ev.evicted_within_hour,
        "rewritten_calls": ev.rewritten,
        "one_hour_pays": ev.one_hour_pays,
        "actual": _tally_json(a),
        "strategies": {name: _tally_json(s) for name, s in ev.strategies.items()},
        "evidence": ev.evidence,
        "calls_query": _calls_query(g),
    }


def _calls_query(g: Group) -> dict[str, str]:
    """Parameters of ``/api/v1/calls`` (and the dashboard's Calls page) that list this
    row's calls: exactly for a session or a prompt hash; for a prefix hash, which the
    calls list does not search, its model (and session or project when it has one only)
    over the time from its first call to its last."""
    out = {"model": g.model}
    if g.provider is not None:
        out["provider"] = g.provider
    if g.kind == "session":
        out["session"] = g.key
    elif g.kind == "prompt":
        out["q"] = g.key
    else:
        out["since"] = iso_utc(g.calls[0].at_ms)
        out["until"] = iso_utc(g.calls[-1].at_ms + 1)
        if len(g.sessions) == 1:
            out["session"] = next(iter(g.sessions))
        if len(g.projects) == 1 and sum(g.projects.values()) == len(g.calls):
            out["project"] = next(iter(g.projects))
    return out
