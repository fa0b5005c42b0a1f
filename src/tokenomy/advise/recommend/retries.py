"""Retry storms: clients that keep sending while the provider keeps failing.

A storm is a run of minutes in which one project's calls to one model failed with the
same error at least five times a minute, and failures were at least half of its calls
(minutes at most one apart are one storm). The saving is what the failed calls were
billed (a timeout or a cut stream is billed for what was read; a refusal usually is
not), measured on the recorded calls; the other costs, rate-limit headroom and time, are
in the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenomy.advise.recommend.base import (
    MEASURED,
    Context,
    Recommendation,
    group_query,
    money,
    plural,
    range_query,
)
from tokenomy.api.ranked import MODEL

MINUTE_MS = 60_000
# Failures a minute, and their least share of the minute's calls, that make it a storm's.
MIN_FAILED = 5
MIN_SHARE = 0.5


@dataclass(slots=True)
class _Storms:
    storms: int = 0
    minutes: int = 0
    failed: int = 0
    calls: int = 0
    cost_nanos: int = 0
    first_ms: int = 0
    last_ms: int = 0
    worst_per_minute: int = 0
    examples: list[str] = field(default_factory=list)
    _last_minute: int | None = None

    def add(self, minute: int, calls: int, failed: int, cost: int, example: str) -> None:
        if self._last_minute is None or minute - self._last_minute > 1:
            self.storms += 1
            if len(self.examples) < 3:
                self.examples.append(example)
        if self._last_minute is None:
            self.first_ms = minute * MINUTE_MS
        self._last_minute = minute
        self.last_ms = minute * MINUTE_MS + MINUTE_MS - 1
        self.minutes += 1
        self.failed += failed
        self.calls += calls
        self.cost_nanos += cost
        self.worst_per_minute = max(self.worst_per_minute, failed)


def find_retry_storms(ctx: Context) -> list[Recommendation]:
    where, params = ctx.scope.where()
    failed = "CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END"
    # Calls in a storm's minutes, split by error type: each error type of a group is
    # a storm of its own (successes count in every one's share).
    rows = ctx.db.query(
        f"SELECT c.project, c.provider, {MODEL}, c.started_at / {MINUTE_MS}, "
        f"COUNT(*), SUM({failed}) FROM calls c{where} "
        f"GROUP BY c.project, c.provider, {MODEL}, c.started_at / {MINUTE_MS} "
        f"HAVING SUM({failed}) >= {MIN_FAILED}",
        params,
    )
    stormy = {
        (r[0], r[1], r[2], int(r[3])): int(r[4]) for r in rows if int(r[5]) >= MIN_SHARE * int(r[4])
    }
    if not stormy:
        return []
    minutes = sorted({m for *_, m in stormy})
    low, high = minutes[0] * MINUTE_MS, (minutes[-1] + 1) * MINUTE_MS
    detail = ctx.db.query(
        f"SELECT c.project, c.provider, {MODEL}, c.started_at / {MINUTE_MS}, "
        "COALESCE(c.error_type, 'error'), COUNT(*), COALESCE(SUM(c.cost_nanos), 0), MIN(c.id) "
        f"FROM calls c{where} AND c.status <> 'ok' AND c.started_at >= ? AND c.started_at < ? "
        f"GROUP BY c.project, c.provider, {MODEL}, c.started_at / {MINUTE_MS}, "
        "COALESCE(c.error_type, 'error') ORDER BY 4",
        [*params, low, high],
    )
    found: dict[tuple[str | None, str | None, str | None, str], _Storms] = {}
    for project, provider, model, minute, error, count, cost, example in detail:
        calls = stormy.get((project, provider, model, int(minute)))
        if calls is None or int(count) < MIN_FAILED:
            continue
        storms = found.setdefault((project, provider, model, str(error)), _Storms())
        storms.add(int(minute), calls, int(count), int(cost), str(example))
    return [_recommend(key, s) for key, s in found.items()]


def _remedy(error: str) -> str:
    e = error.lower()
    if "429" in e or "rate" in e or "quota" in e:
        return (
            "Back off instead of retrying at once: honour Retry-After, retry with exponential "
            "backoff and jitter, and spread the load over more deployments (the gateway's "
            "per-deployment rpm/tpm limits queue instead of failing)."
        )
    if e.removeprefix("http_")[:1] == "4" and "408" not in e:
        return (
            "These requests fail every time they are sent: a retry cannot help. Fix the "
            "request (the error message of an example call says what the provider refused)."
        )
    return (
        "Stop retrying into an outage: cap attempts, back off exponentially with jitter, and "
        "let a circuit breaker fail over to a fallback model (the gateway's router: retries, "
        "failure_threshold, fallbacks)."
    )


def _recommend(key: tuple[str | None, str | None, str | None, str], s: _Storms) -> Recommendation:
    project, provider, model, error = key
    where = f" in {project}" if project else ""
    billed = (
        f"They were billed {money(s.cost_nanos)}."
        if s.cost_nanos
        else "They were not billed, but used up rate limits and time."
    )
    return Recommendation(
        kind="retry_storm",
        title=f"Stop retry storms on {model}{where} ({error})",
        advice=_remedy(error),
        evidence=(
            f"{plural(s.storms, 'storm')} over {plural(s.minutes, 'minute')}: "
            f"{plural(s.failed, 'call')} failed with {error} out of {s.calls:,} "
            f"(up to {s.worst_per_minute:,} a minute). {billed}"
        ),
        savings_nanos=s.cost_nanos,
        basis=MEASURED,
        calls=s.failed,
        calls_query={
            **group_query(project, provider, model),
            "status": "error",
            **range_query(s.first_ms, s.last_ms),
        },
        examples=s.examples,
        project=project,
        model=model,
        details={
            "error_type": error,
            "storms": s.storms,
            "minutes": s.minutes,
            "failed_calls": s.failed,
            "calls": s.calls,
            "worst_per_minute": s.worst_per_minute,
        },
    )
