"""Commands and sessions whose cost grew.

The range is cut in two halves of equal length. A runner command (its exact command's
hash) whose average run cost at least ``MIN_GROWTH`` times more in the second half than in
the first, or a project's agent sessions (per source) whose average session did, is
listed. The saving is what the second half's runs or sessions cost above the first
half's average, scaled from that half: what bringing them back would save, an estimate
that assumes the work itself did not change. Ranges shorter than two days are not split.
"""

from __future__ import annotations

from dataclasses import replace

from tokenomy.advise.recommend.base import (
    ESTIMATE,
    Context,
    Recommendation,
    money,
    plural,
)
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import DOUBLE_COUNTED_SOURCE
from tokenomy.api.queries import DAY_MS
from tokenomy.api.ranked import where_and

MIN_GROWTH = 1.5
# Runs or sessions each half needs before an average means anything.
MIN_EACH = 3


def _halves(ctx: Context) -> int | None:
    win = ctx.window
    if win.start_ms is None or win.span_ms < 2 * DAY_MS:
        return None
    return win.start_ms + win.span_ms // 2


def find_cost_growth(ctx: Context) -> list[Recommendation]:
    mid = _halves(ctx)
    if mid is None:
        return []
    return [*_commands(ctx, mid), *_sessions(ctx, mid)]


def _grew(early: tuple[int, int], recent: tuple[int, int]) -> int | None:
    """The second half's cost above the first half's average, if it grew enough."""
    (n0, c0), (n1, c1) = early, recent
    if n0 < MIN_EACH or n1 < MIN_EACH or c1 <= 0:
        return None
    before, after = c0 / n0, c1 / n1
    if after < MIN_GROWTH * before:
        return None
    return round(c1 - before * n1)


def _commands(ctx: Context, mid: int) -> list[Recommendation]:
    sources = ctx.scope.filters.get("source")
    if sources is not None and DOUBLE_COUNTED_SOURCE not in sources:
        return []
    runner = replace(ctx.scope, filters={**ctx.scope.filters, "source": (DOUBLE_COUNTED_SOURCE,)})
    where, params = runner.where()
    where = where_and(where, "c.prompt_hash IS NOT NULL AND c.cost_nanos IS NOT NULL")
    rows = ctx.db.query(
        "SELECT c.prompt_hash, CASE WHEN c.started_at >= ? THEN 1 ELSE 0 END, COUNT(*), "
        f"SUM(c.cost_nanos), MAX(c.id) FROM calls c{where} GROUP BY 1, 2",
        [mid, *params],
    )
    halves: dict[str, dict[int, tuple[int, int, str]]] = {}
    for command, half, runs, cost, last_id in rows:
        halves.setdefault(str(command), {})[int(half)] = (int(runs), int(cost), str(last_id))
    out = []
    for command, h in halves.items():
        if 0 not in h or 1 not in h:
            continue
        excess = _grew(h[0][:2], h[1][:2])
        if excess is None:
            continue
        (n0, c0, _), (n1, c1, last) = h[0], h[1]
        out.append(
            Recommendation(
                kind="cost_growth",
                title=f"Command {command[:12]} costs {c1 / n1 / (c0 / n0):.1f}x more a run",
                advice=(
                    "Find what changed in this command (its prompt, model, tools or inputs): "
                    "its runs cost more than before for the same command."
                ),
                evidence=(
                    f"{plural(n1, 'run')} since {iso_utc(mid)[:10]} averaged {money(c1 // n1)} "
                    f"against {money(c0 // n0)} for {plural(n0, 'run')} before."
                ),
                savings_nanos=_scaled(ctx, excess, mid),
                basis=ESTIMATE,
                calls=n1,
                calls_query={"source": DOUBLE_COUNTED_SOURCE, "q": command, "since": iso_utc(mid)},
                examples=[last],
                details={
                    "command": command,
                    "runs_before": n0,
                    "runs_after": n1,
                    "split_at": iso_utc(mid),
                },
            )
        )
    return out


def _sessions(ctx: Context, mid: int) -> list[Recommendation]:
    where, params = ctx.scope.where()
    where = where_and(where, "c.session_id IS NOT NULL AND c.cost_nanos IS NOT NULL")
    rows = ctx.db.query(
        "SELECT s.project, s.source, CASE WHEN s.first_at >= ? THEN 1 ELSE 0 END, COUNT(*), "
        "SUM(s.cost), MAX(s.last_id), SUM(s.n) FROM (SELECT c.project AS project, "
        "c.source AS source, c.session_id AS session_id, MIN(c.started_at) AS first_at, "
        "SUM(c.cost_nanos) AS cost, COUNT(*) AS n, "
        f"MAX(c.id) AS last_id FROM calls c{where} GROUP BY c.project, c.source, c.session_id) s "
        "GROUP BY 1, 2, 3",
        [mid, *params],
    )
    halves: dict[tuple[str | None, str], dict[int, tuple[int, int, str, int]]] = {}
    for project, source, half, sessions, cost, last_id, calls in rows:
        halves.setdefault((project, str(source)), {})[int(half)] = (
            int(sessions),
            int(cost),
            str(last_id),
            int(calls),
        )
    out = []
    for (project, source), h in halves.items():
        if 0 not in h or 1 not in h:
            continue
        excess = _grew(h[0][:2], h[1][:2])
        if excess is None:
            continue
        (n0, c0, _, _), (n1, c1, last, calls) = h[0], h[1]
        where_text = f" in {project}" if project else ""
        query = {"source": source, "since": iso_utc(mid)}
        if project is not None:
            query["project"] = project
        out.append(
            Recommendation(
                kind="cost_growth",
                title=f"{source} sessions{where_text} cost {c1 / n1 / (c0 / n0):.1f}x more",
                advice=(
                    "Look at the latest sessions' models, context length and tools: the same "
                    "kind of session costs more than it did (a pricier model, longer contexts "
                    "or less cache reuse are the usual causes)."
                ),
                evidence=(
                    f"{plural(n1, 'session')} since {iso_utc(mid)[:10]} averaged "
                    f"{money(c1 // n1)} against {money(c0 // n0)} for "
                    f"{plural(n0, 'session')} before."
                ),
                savings_nanos=_scaled(ctx, excess, mid),
                basis=ESTIMATE,
                calls=calls,
                calls_query=query,
                examples=[last],
                project=project,
                details={
                    "source": source,
                    "sessions_before": n0,
                    "sessions_after": n1,
                    "average_before_usd": c0 / n0 / 1e9,
                    "average_after_usd": c1 / n1 / 1e9,
                    "split_at": iso_utc(mid),
                },
            )
        )
    return out


def _scaled(ctx: Context, excess: int, mid: int) -> int:
    """The second half's excess as if it had run the whole range (savings are scaled from
    the whole range to 30 days)."""
    win = ctx.window
    assert win.start_ms is not None
    half = win.start_ms + win.span_ms - mid
    return excess * win.span_ms // max(half, 1)
