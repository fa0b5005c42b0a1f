"""An attempt as a call record (``source=runner``, ``operation=agent_run``), priced.

Cost: when every model the run used has a price, it is computed from the tokens
(``computed``); otherwise the agent's own figure is used if it gave one (``reported``,
exact to the cent fraction it printed); otherwise it is unknown (NULL), never 0. The
agent's figure is kept in the attributes either way, so the two can be compared.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from tokenomy.pricing import PriceCatalog
from tokenomy.record import (
    NANOS_PER_USD,
    CallRecord,
    CostSource,
    Source,
    Status,
    TokenUsage,
    new_ulid,
)
from tokenomy.runner.command import Command
from tokenomy.runner.family import command_hash, family, family_hash
from tokenomy.runner.outcome import AgentOutput
from tokenomy.runner.results import Attempt

OPERATION = "agent_run"


def nanos(usd: Decimal) -> int:
    return int((usd * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def attempt_record(command: Command, attempt: Attempt, catalog: PriceCatalog) -> CallRecord:
    """The call record for one attempt of ``command``."""
    out = attempt.output
    provider = command.provider
    at = attempt.started_at_ms
    usage = out.usage if out else TokenUsage()
    model_costs = {
        m.model: catalog.cost_nanos(provider, m.model, m.usage, at)
        for m in (out.models if out else ())
    }
    attributes = _attributes(command, attempt, model_costs)
    rec = CallRecord(
        source=Source.RUNNER,
        dedupe_key=new_ulid(at),
        started_at_ms=at,
        usage=usage,
        id=new_ulid(at),
        duration_ms=attempt.duration_ms,
        operation=OPERATION,
        provider=provider,
        request_model=command.requested_model or (out.main_model if out else None),
        response_model=out.main_model if out else None,
        project=command.project_name(),
        project_path=command.project_path(),
        session_id=out.session_id if out else None,
        status=Status.OK if attempt.ok else Status.ERROR,
        error_type=attempt.error_type,
        finish_reason=out.subtype if out else None,
        prompt_hash=attributes["command_hash"],
        attributes=attributes,
    )
    rec.cost_nanos, rec.cost_source = _cost(out, model_costs)
    return rec


def _cost(out: AgentOutput | None, model_costs: dict[str, int | None]) -> tuple[int | None, str]:
    if out is None:
        return None, CostSource.UNKNOWN
    unattributed = out.unattributed_usage is not None and out.unattributed_usage.total > 0
    costs = list(model_costs.values())
    if costs and not unattributed and all(c is not None for c in costs):
        return sum(c for c in costs if c is not None), CostSource.COMPUTED
    if out.reported_cost_usd is not None:
        return nanos(out.reported_cost_usd), CostSource.REPORTED
    return None, CostSource.UNKNOWN


def _usage_json(u: TokenUsage) -> dict[str, int]:
    return {
        "input_tokens": u.input_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "cache_write_1h_tokens": u.cache_write_1h_tokens,
        "output_tokens": u.output_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }


def _usd(value: Decimal | None) -> str | None:
    # Dollar figures as strings: JSON numbers would come back as floats.
    return None if value is None else str(value)


def _usd_from_nanos(value: int | None) -> str | None:
    return None if value is None else str(Decimal(value) / NANOS_PER_USD)


def _attributes(
    command: Command, attempt: Attempt, model_costs: dict[str, int | None]
) -> dict[str, Any]:
    out = attempt.output
    attrs: dict[str, Any] = {
        "agent": command.agent,
        "command_hash": command_hash(command.prompt),
        "family": family(command.prompt),
        "family_hash": family_hash(command.prompt),
        "cwd": str((command.cwd or Path.cwd()).resolve()),
        "attempt": attempt.number,
        "exit_code": attempt.exit_code,
    }
    if command.extra_args:
        attrs["args"] = list(command.extra_args)
    if attempt.message and not attempt.ok:
        attrs["error"] = attempt.message[:300]
    if out is None:
        return attrs
    attrs["is_error"] = out.is_error
    if out.subtype:
        attrs["subtype"] = out.subtype
    if out.num_turns is not None:
        attrs["turns"] = out.num_turns
    if out.duration_ms is not None:
        attrs["agent_duration_ms"] = out.duration_ms
    if out.duration_api_ms is not None:
        attrs["api_duration_ms"] = out.duration_api_ms
    if out.reported_cost_usd is not None:
        attrs["reported_cost_usd"] = _usd(out.reported_cost_usd)
    if out.models:
        attrs["models"] = {
            m.model: {
                **_usage_json(m.usage),
                "cost_usd": _usd_from_nanos(model_costs.get(m.model)),
                "reported_cost_usd": _usd(m.reported_cost_usd),
            }
            for m in out.models
        }
    attrs.update(out.details)
    return attrs
