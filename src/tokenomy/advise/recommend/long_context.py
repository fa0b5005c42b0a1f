"""Long contexts that could be trimmed.

Every token of a prompt is paid on every call that sends it, cached or not. Calls whose
prompt is longer than ``TRIM_TO`` tokens are repriced as if their prompt had been cut to
that length (each token category in proportion, the answer unchanged): the difference is
the most trimming could save, an upper bound, because not every token can go. Crossing a
model's long-context threshold (Anthropic's 200k for Sonnet 4/4.5, Gemini's 200k) bills the
whole request at premium rates: that part is named on its own, since staying under the
threshold saves it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tokenomy.advise.recommend.base import (
    UPPER_BOUND,
    Context,
    Recommendation,
    group_query,
    money,
    plural,
)
from tokenomy.api.ranked import MODEL, where_and
from tokenomy.pricing import ModelPrice
from tokenomy.record import Source, TokenUsage

TRIM_TO = 100_000
_PROMPT = "(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens)"
_AGENTS = {Source.CLAUDE_CODE, Source.CODEX, Source.GEMINI_CLI}


@dataclass(slots=True)
class _Group:
    calls: int = 0
    prompt_tokens: int = 0
    cost_pico: int = 0
    savings_pico: int = 0
    premium_calls: int = 0
    premium_pico: int = 0
    sessions: set[str] = field(default_factory=set)
    agent_calls: int = 0
    longest: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)


def trimmed(usage: TokenUsage, prompt_tokens: int) -> TokenUsage:
    """``usage`` with its prompt cut to ``prompt_tokens``, each category in proportion."""
    total = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    total += usage.cache_write_1h_tokens
    if total <= prompt_tokens:
        return usage

    def cut(n: int) -> int:
        return n * prompt_tokens // total

    return replace(
        usage,
        input_tokens=cut(usage.input_tokens),
        cache_read_tokens=cut(usage.cache_read_tokens),
        cache_write_tokens=cut(usage.cache_write_tokens),
        cache_write_1h_tokens=cut(usage.cache_write_1h_tokens),
    )


def _premium_pico(price: ModelPrice, usage: TokenUsage) -> int:
    """What the long-context premium added to this call (0 under the threshold)."""
    if price.premium is None:
        return 0
    return price.cost_pico(usage) - replace(price, premium=None).cost_pico(usage)


def find_long_contexts(ctx: Context, trim_to: int = TRIM_TO) -> list[Recommendation]:
    where, params = ctx.scope.where()
    where = where_and(where, f"{_PROMPT} > ? AND c.cache_hit = 'none' AND {MODEL} IS NOT NULL")
    rows = ctx.db.query(
        f"SELECT c.project, c.provider, {MODEL}, c.source, c.session_id, c.id, c.started_at, "
        "c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cache_write_1h_tokens, "
        f"c.output_tokens, c.cost_nanos FROM calls c{where}",
        [*params, trim_to],
    )
    groups: dict[tuple[str | None, str | None, str], _Group] = {}
    for project, provider, model, source, session, call_id, at, i, r, w, h, o, recorded in rows:
        price = ctx.catalog.resolve(provider, str(model), int(at))
        if price is None:
            continue  # unpriced: `tokenomy prices check` names it
        usage = TokenUsage(
            input_tokens=int(i),
            cache_read_tokens=int(r),
            cache_write_tokens=int(w),
            cache_write_1h_tokens=int(h),
            output_tokens=int(o),
        )
        cost = price.cost_pico(usage)
        saving = cost - price.cost_pico(trimmed(usage, trim_to))
        if recorded is not None and cost > 0:
            # What the call cost as recorded (a reported or negotiated price), and the same
            # share of it saved: the evidence must match the calls it links to.
            saving = saving * int(recorded) * 1000 // cost
            cost = int(recorded) * 1000
        g = groups.setdefault((project, provider, str(model)), _Group())
        g.calls += 1
        prompt = int(i) + int(r) + int(w) + int(h)
        g.prompt_tokens += prompt
        g.longest = max(g.longest, prompt)
        g.cost_pico += cost
        g.savings_pico += saving
        premium = _premium_pico(price, usage)
        if premium:
            g.premium_calls += 1
            g.premium_pico += premium
        if session is not None:
            g.sessions.add(str(session))
        g.agent_calls += source in _AGENTS
        g.examples.append((-saving, str(call_id)))
        if len(g.examples) > 50:
            g.examples.sort()
            del g.examples[3:]
    return [_recommend(key, g, trim_to) for key, g in groups.items() if g.savings_pico > 0]


def _recommend(key: tuple[str | None, str | None, str], g: _Group, trim_to: int) -> Recommendation:
    project, provider, model = key
    where = f" in {project}" if project else ""
    if g.agent_calls * 2 >= g.calls:
        how = (
            "Compact sooner (/compact in Claude Code, or a lower auto-compact threshold), start a "
            "new session for a new task (/clear), and keep large files and tool outputs out of "
            "the conversation."
        )
    else:
        how = (
            "Send less context: drop or summarise old turns, retrieve fewer and shorter "
            "documents, and cut tool results to what the model needs."
        )
    premium = (
        f" {plural(g.premium_calls, 'call')} crossed the model's long-context threshold and "
        f"paid {money((g.premium_pico + 500) // 1000)} in premium rates on the whole request."
        if g.premium_calls
        else ""
    )
    sessions = f" in {plural(len(g.sessions), 'session')}" if g.sessions else ""
    return Recommendation(
        kind="long_context",
        title=f"Trim long prompts to {model}{where}",
        advice=(
            f"{how} The saving shown is what these calls would have cost less with prompts "
            f"of {trim_to // 1000}k tokens: the most trimming can save."
        ),
        evidence=(
            f"{plural(g.calls, 'call')}{sessions} sent prompts over {trim_to // 1000}k tokens "
            f"(average {g.prompt_tokens // g.calls // 1000:,}k, longest {g.longest // 1000:,}k), "
            f"costing {money((g.cost_pico + 500) // 1000)}.{premium}"
        ),
        savings_nanos=(g.savings_pico + 500) // 1000,
        basis=UPPER_BOUND,
        calls=g.calls,
        calls_query=group_query(project, provider, model),
        examples=[i for _, i in sorted(g.examples)[:3]],
        project=project,
        model=model,
        details={
            "trim_to_tokens": trim_to,
            "long_calls": g.calls,
            "average_prompt_tokens": g.prompt_tokens // g.calls,
            "longest_prompt_tokens": g.longest,
            "premium_calls": g.premium_calls,
            "premium_usd": round((g.premium_pico + 500) // 1000 / 1e9, 9),
            "sessions": len(g.sessions),
        },
    )
