"""Non-urgent, high-volume calls that a provider's batch API would bill at half price.

OpenAI's Batch API, Anthropic's Message Batches and Gemini's Batch Mode all charge 50% of
the standard price for requests answered within 24 hours. Which calls can wait is not in
the record, so the finder looks for calls no person is waiting on: sent by one user or
key at ten or more a minute (a job's loop; nobody types that fast), not streamed (a
stream is read as it arrives), successful and not served from our cache. Agent sessions
and runner records are interactive work and left out. The saving is half of what those
calls cost: an estimate that holds only if they can wait, which the advice says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenomy.advise.recommend.base import (
    ESTIMATE,
    Context,
    Recommendation,
    group_query,
    money,
    plural,
)
from tokenomy.api.ranked import MODEL, where_and
from tokenomy.record import Source

# Providers whose batch API bills 50% of the standard price (their pricing pages).
BATCH_DISCOUNT = {"openai": 0.5, "anthropic": 0.5, "google": 0.5, "gemini": 0.5}
BATCH_API = {
    "openai": "the Batch API (/v1/batches)",
    "anthropic": "Message Batches (/v1/messages/batches)",
    "google": "Gemini Batch Mode",
    "gemini": "Gemini Batch Mode",
}
# Calls one sender makes in one minute from which they are taken as a job's.
BURST = 10
# Fewer job calls than this in the range are not worth a change of API.
MIN_CALLS = 100
_INTERACTIVE = (Source.CLAUDE_CODE, Source.CODEX, Source.GEMINI_CLI, Source.RUNNER)


@dataclass(slots=True)
class _Group:
    calls: int = 0
    job_calls: int = 0
    job_cost_nanos: int = 0
    minutes: int = 0
    senders: set[str] = field(default_factory=set)
    examples: list[tuple[int, str]] = field(default_factory=list)


def find_batchable(ctx: Context) -> list[Recommendation]:
    where, params = ctx.scope.where()
    providers = sorted(BATCH_DISCOUNT)
    where = where_and(
        where,
        f"c.provider IN ({', '.join('?' * len(providers))}) "
        f"AND c.source NOT IN ({', '.join('?' * len(_INTERACTIVE))}) "
        "AND c.status = 'ok' AND c.cache_hit = 'none' AND c.cost_nanos IS NOT NULL "
        """AND (c.attributes IS NULL OR c.attributes NOT LIKE '%"stream":true%')""",
    )
    rows = ctx.db.query(
        f"SELECT c.project, c.provider, {MODEL}, COALESCE(c.\"user\", c.api_key_id, ''), "
        "c.started_at / 60000, COUNT(*), SUM(c.cost_nanos), MIN(c.id) FROM calls c"
        f"{where} GROUP BY c.project, c.provider, {MODEL}, "
        "COALESCE(c.\"user\", c.api_key_id, ''), c.started_at / 60000",
        [*params, *providers, *(str(s) for s in _INTERACTIVE)],
    )
    groups: dict[tuple[str | None, str, str | None], _Group] = {}
    for project, provider, model, sender, _minute, calls, cost, first_id in rows:
        g = groups.setdefault((project, str(provider), model), _Group())
        g.calls += int(calls)
        if int(calls) >= BURST:
            g.job_calls += int(calls)
            g.job_cost_nanos += int(cost)
            g.minutes += 1
            g.senders.add(str(sender))
            g.examples.append((-int(cost), str(first_id)))
    out = []
    for key, g in groups.items():
        if g.job_calls >= MIN_CALLS and g.job_cost_nanos > 0:
            out.append(_recommend(key, g))
    return out


def _recommend(key: tuple[str | None, str, str | None], g: _Group) -> Recommendation:
    project, provider, model = key
    discount = BATCH_DISCOUNT[provider]
    savings = round(g.job_cost_nanos * discount)
    where = f" in {project}" if project else ""
    senders = sorted(s for s in g.senders if s)
    query = group_query(project, provider, model)
    if len(senders) == 1:
        query["user"] = senders[0]
    share = g.job_calls / g.calls
    return Recommendation(
        kind="batch_api",
        title=f"Send {model}'s bulk calls{where} through the batch API",
        advice=(
            f"If these calls can wait up to 24 hours, submit them through {BATCH_API[provider]}, "
            f"billed at {discount:.0%} of the standard price."
        ),
        evidence=(
            f"{plural(g.job_calls, 'call')} ({share:.0%} of {model}'s non-streamed calls{where}) "
            f"came in {plural(g.minutes, 'minute')} of {BURST} or more from one sender "
            f"({plural(len(g.senders), 'sender')}): a job's loop, not a person. They cost "
            f"{money(g.job_cost_nanos)}."
        ),
        savings_nanos=savings,
        basis=ESTIMATE,
        calls=g.job_calls,
        calls_query=query,
        examples=[i for _, i in sorted(g.examples)[:3]],
        project=project,
        model=model,
        details={
            "job_calls": g.job_calls,
            "non_streamed_calls": g.calls,
            "burst_minutes": g.minutes,
            "senders": len(g.senders),
            "discount": discount,
        },
    )
