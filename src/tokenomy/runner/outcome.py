"""What an agent run reports about itself, whichever agent ran it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tokenomy.record import TokenUsage


class AgentOutputError(ValueError):
    """The agent's output is not what its documented format promises; says what is wrong."""


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's tokens in a run, and the cost the agent reported for them, if it did."""

    model: str
    usage: TokenUsage
    reported_cost_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AgentOutput:
    """A finished run as the agent described it. ``is_error`` is the agent's own verdict:
    its exit code may be 0 when the run failed."""

    is_error: bool
    subtype: str | None = None
    # The final answer, or the error text when the run failed.
    result: str | None = None
    session_id: str | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    models: tuple[ModelUsage, ...] = ()
    # The model that did the work (others, e.g. a small model for titles, only helped).
    main_model: str | None = None
    reported_cost_usd: Decimal | None = None
    # Used when the output names no models: the agent's totals, model unknown.
    unattributed_usage: TokenUsage | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def usage(self) -> TokenUsage:
        total = self.unattributed_usage or TokenUsage()
        for m in self.models:
            total = total + m.usage
        return total


def count(data: Mapping[str, Any], key: str, where: str) -> int:
    """A token count: missing or null is 0; anything but a non-negative integer is an error
    naming the field."""
    value = data.get(key, 0)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise AgentOutputError(f"{where}.{key} is {value!r}, expected a non-negative integer")
    return value


def optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if type(value) is int else None


def optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def optional_usd(data: Mapping[str, Any], key: str) -> Decimal | None:
    """A dollar figure, exact: the JSON is parsed with ``parse_float=Decimal``."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return None
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return amount if amount.is_finite() and amount >= 0 else None


def excerpt(text: str, limit: int = 120) -> str:
    """The start of some output on one line, to quote in an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
