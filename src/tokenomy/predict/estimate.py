"""The pre-execution estimate: input tokens, output tokens with an 80% interval, and cost.

Output length starts from the shipped model (``prior.py``) applied to the last user
message, then moves towards the user's own history with empirical-Bayes weight
``n / (n + PRIOR_CALLS)``: a few past calls nudge it, hundreds decide it. The history's
level is compared with the level the model expects for that model's usual instructions,
so what carries over is the model's verbosity for this user, not the particular answer
lengths. A command for the runner uses its family's history first, then the model's runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenomy.predict import history as hist
from tokenomy.predict.model import LengthModel, LogInterval
from tokenomy.predict.prior import shipped_model
from tokenomy.predict.tokens import TokenCount, count_messages
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage
from tokenomy.runner.family import family, family_hash
from tokenomy.store.db import Database

PRIOR_CALLS = 10  # the shipped model counts as this many of the user's calls
MIN_SPREAD_CALLS = 5  # fewer calls than this say nothing about the interval's width


class PredictError(ValueError):
    """Input the estimate cannot use; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Prediction:
    model: str
    provider: str | None
    input: TokenCount
    output_low: int
    output_median: int
    output_high: int
    basis: str  # prior, history, prior+history
    history_calls: int
    family: str | None
    cost_low_nanos: int | None
    cost_median_nanos: int | None
    cost_high_nanos: int | None

    def to_json(self) -> dict[str, Any]:
        def usd(n: int | None) -> float | None:
            return None if n is None else n / 1e9

        return {
            "model": self.model,
            "provider": self.provider,
            "input_tokens": self.input.to_json(),
            "output_tokens": {
                "median": self.output_median,
                "low": self.output_low,
                "high": self.output_high,
                "interval": 0.8,
                "basis": self.basis,
                "history_calls": self.history_calls,
            },
            "family": self.family,
            "cost_usd": None
            if self.cost_median_nanos is None
            else {
                "median": usd(self.cost_median_nanos),
                "low": usd(self.cost_low_nanos),
                "high": usd(self.cost_high_nanos),
            },
        }


def last_user_text(messages: Any) -> str:
    """The instruction the answer responds to: the last user message's text."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        raise PredictError("messages must be a string or a list of {role, content}", "messages")
    for message in reversed(messages):
        if not isinstance(message, Mapping):
            raise PredictError("each message must be an object with role and content", "messages")
        if message.get("role", "user") == "user":
            return _text(message.get("content"))
    return _text(messages[-1].get("content")) if messages else ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


def predict(
    messages: Any = None,
    model: str = "",
    *,
    command: str | None = None,
    provider: str | None = None,
    db: Database | None = None,
    catalog: PriceCatalog | None = None,
    prior: LengthModel | None = None,
    at_ms: int | None = None,
) -> Prediction:
    """Estimate a call before sending it: ``messages`` (chat messages or a prompt string)
    or ``command`` (a runner prompt), for ``model``. With ``db``, the user's history there
    refines the shipped prior; with ``catalog``, the cost is priced."""
    if not isinstance(model, str) or not model.strip():
        raise PredictError("model is required", "model")
    if (messages is None) == (command is None):
        raise PredictError("give exactly one of messages and command", "messages")
    if command is not None and not isinstance(command, str):
        raise PredictError("command must be a string", "command")
    prior = prior or shipped_model()
    text = command if command is not None else last_user_text(messages)
    counted = count_messages(command if command is not None else messages)
    base = prior.predict(text, model)
    fam: str | None = None
    if command is not None:
        fam = family(command)
        out, basis, n, counted = _runner(db, model, command, base, counted)
    else:
        found = hist.load(db, model) if db is not None else None
        out, basis, n = _blend(base, found, prior.typical_log(model))
    low, mid, high = out.tokens()
    costs: list[int | None] = [None, None, None]
    if catalog is not None:
        when = at_ms if at_ms is not None else int(time.time() * 1000)
        pairs = ((counted.low, low), (counted.tokens, mid), (counted.high, high))
        costs = [
            catalog.cost_nanos(provider, model, TokenUsage(input_tokens=i, output_tokens=o), when)
            for i, o in pairs
        ]
    return Prediction(
        model, provider, counted, low, mid, high, basis, n, fam, costs[0], costs[1], costs[2]
    )


def _blend(
    base: LogInterval, found: hist.History | None, typical: float
) -> tuple[LogInterval, str, int]:
    if found is None:
        return base, "prior", 0
    w = found.calls / (found.calls + PRIOR_CALLS)
    center = base.center + w * (found.median_log - typical)
    return _around(center, base, found, w), "prior+history", found.calls


def _around(center: float, base: LogInterval, found: hist.History, w: float) -> LogInterval:
    """An interval about ``center``: the prior's offsets, moved towards the history's own
    spread once there are enough calls to have one."""
    lo, hi = base.low - base.center, base.high - base.center
    if found.calls >= MIN_SPREAD_CALLS:
        lo = w * found.low_offset + (1 - w) * lo
        hi = w * found.high_offset + (1 - w) * hi
    return LogInterval(center, center + lo, center + hi)


def _runner(
    db: Database | None, model: str, command: str, base: LogInterval, counted: TokenCount
) -> tuple[LogInterval, str, int, TokenCount]:
    """An agent run: its family's history, else the model's runs, else the prior on the
    prompt (which knows nothing of the agent's own context, so it is a low estimate)."""
    if db is None:
        return base, "prior", 0, counted
    runs = hist.load(db, model, runner=True)
    same = hist.load(db, model, runner=True, family_hash=family_hash(command))
    if runs is None:
        return base, "prior", 0, counted
    if same is None:
        same, basis = runs, "model runs"
    else:
        basis = "family history"
    w = same.calls / (same.calls + PRIOR_CALLS)
    center = w * same.median_log + (1 - w) * runs.median_log
    width = LogInterval(
        runs.median_log, runs.median_log + runs.low_offset, runs.median_log + runs.high_offset
    )
    out = _around(center, width, same, w) if same is not runs else _around(center, width, runs, 1)
    # An agent's prompt is mostly its own context: the runs' median prompt, not the text.
    prompt = TokenCount(same.input_tokens, False, _spread(same), "history median")
    return out, basis, same.calls, prompt


def _spread(found: hist.History) -> float:
    return round(min(0.9, max(0.05, math.expm1(max(-found.low_offset, found.high_offset)))), 3)
