"""``claude -p --output-format json``: one ``{"type": "result", ...}`` object on stdout.

Fields used: ``is_error`` and ``subtype`` (``success``, ``error_max_turns``,
``error_during_execution``; ``is_error`` with ``success`` means the API failed and
``result`` holds its message), ``result``, ``session_id``, ``num_turns``, ``duration_ms``,
``duration_api_ms``, ``total_cost_usd``, ``usage`` and ``modelUsage``.

``usage`` covers only the main model in some versions, so tokens come from ``modelUsage``
(every model). ``modelUsage`` does not split cache writes by lifetime: they are 5-minute
writes, except that ``usage.cache_creation.ephemeral_1h_input_tokens`` (which describes the
main model) moves that many of the main model's writes to the 1-hour category.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tokenomy.record import TokenUsage
from tokenomy.runner.outcome import (
    AgentOutput,
    AgentOutputError,
    ModelUsage,
    count,
    excerpt,
    optional_int,
    optional_text,
    optional_usd,
)


def parse_claude_result(stdout: str) -> AgentOutput:
    """The run's result from Claude Code's stdout; :class:`AgentOutputError` if there is none."""
    data = _result_object(stdout)
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    models = _model_usages(data.get("modelUsage"))
    main = max(models, key=lambda m: (m.usage.total, m.model)) if models else None
    if main is not None:
        models = tuple(_with_1h_writes(m, usage) if m is main else m for m in models)
    is_error = data.get("is_error")
    subtype = optional_text(data, "subtype")
    denials = data.get("permission_denials")
    return AgentOutput(
        is_error=is_error is True or (subtype is not None and subtype.startswith("error")),
        subtype=subtype,
        result=optional_text(data, "result"),
        session_id=optional_text(data, "session_id"),
        num_turns=optional_int(data, "num_turns"),
        duration_ms=optional_int(data, "duration_ms"),
        duration_api_ms=optional_int(data, "duration_api_ms"),
        models=models,
        main_model=main.model if main else None,
        reported_cost_usd=optional_usd(data, "total_cost_usd"),
        unattributed_usage=None if models else _anthropic_usage(usage, "usage"),
        details={"permission_denials": len(denials)} if isinstance(denials, list) else {},
    )


def _result_object(stdout: str) -> Mapping[str, Any]:
    text = stdout.strip()
    if not text:
        raise AgentOutputError("no output on stdout")
    candidates: list[str] = [text]
    # `--output-format stream-json` in the extra arguments gives JSON lines ending in the
    # result; warnings printed before the JSON are skipped the same way.
    candidates += [line for line in reversed(text.splitlines()) if line.lstrip().startswith("{")]
    for candidate in candidates:
        try:
            value = json.loads(candidate, parse_float=Decimal)
        except ValueError:
            continue
        if isinstance(value, Mapping) and value.get("type") == "result":
            return value
    raise AgentOutputError(f"expected a JSON object with type 'result', got: {excerpt(text)}")


def _model_usages(raw: object) -> tuple[ModelUsage, ...]:
    if not isinstance(raw, Mapping):
        return ()
    out: list[ModelUsage] = []
    for model, counts in raw.items():
        if not isinstance(counts, Mapping):
            raise AgentOutputError(f"modelUsage.{model} is not an object")
        where = f"modelUsage.{model}"
        usage = TokenUsage(
            input_tokens=count(counts, "inputTokens", where),
            cache_read_tokens=count(counts, "cacheReadInputTokens", where),
            cache_write_tokens=count(counts, "cacheCreationInputTokens", where),
            output_tokens=count(counts, "outputTokens", where),
        )
        out.append(ModelUsage(str(model), usage, optional_usd(counts, "costUSD")))
    return tuple(out)


def _with_1h_writes(m: ModelUsage, usage: Mapping[str, Any]) -> ModelUsage:
    detail = usage.get("cache_creation")
    if not isinstance(detail, Mapping):
        return m
    one_hour = min(
        count(detail, "ephemeral_1h_input_tokens", "usage.cache_creation"),
        m.usage.cache_write_tokens,
    )
    if not one_hour:
        return m
    u = m.usage
    moved = TokenUsage(
        u.input_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens - one_hour,
        u.cache_write_1h_tokens + one_hour,
        u.output_tokens,
        u.reasoning_tokens,
    )
    return ModelUsage(m.model, moved, m.reported_cost_usd)


def _anthropic_usage(usage: Mapping[str, Any], where: str) -> TokenUsage:
    written = count(usage, "cache_creation_input_tokens", where)
    detail = usage.get("cache_creation")
    one_hour = 0
    if isinstance(detail, Mapping):
        one_hour = min(
            count(detail, "ephemeral_1h_input_tokens", f"{where}.cache_creation"), written
        )
    return TokenUsage(
        input_tokens=count(usage, "input_tokens", where),
        cache_read_tokens=count(usage, "cache_read_input_tokens", where),
        cache_write_tokens=written - one_hour,
        cache_write_1h_tokens=one_hour,
        output_tokens=count(usage, "output_tokens", where),
    )
