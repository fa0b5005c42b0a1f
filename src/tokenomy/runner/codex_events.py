"""``codex exec --json``: one JSON event per line on stdout.

``thread.started`` names the session (``thread_id``); each ``turn.completed`` carries that
turn's ``usage`` (``input_tokens`` *includes* ``cached_input_tokens``; reasoning, when
reported, is part of ``output_tokens``); ``turn.failed`` (``error.message``) and ``error``
(``message``) report failures; ``item.*`` events describe the work (commands run, files
changed). The events never name the model: it is whatever ``-m``/``--model`` asked for.
"""

from __future__ import annotations

import json
from collections import Counter
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
    optional_text,
)


def parse_codex_events(stdout: str, model: str | None) -> AgentOutput:
    """The run's outcome from ``codex exec --json`` output; ``model`` is the one requested
    (None if the command did not name one, and then the tokens belong to no model)."""
    events = _events(stdout)
    if not events:
        raise AgentOutputError(f"no JSON events on stdout: {excerpt(stdout)}")
    session_id: str | None = None
    usage = TokenUsage()
    turns = failed_turns = 0
    errors: list[str] = []
    items: Counter[str] = Counter()
    last_message: str | None = None
    for event in events:
        kind = event.get("type")
        if kind == "thread.started":
            session_id = optional_text(event, "thread_id") or session_id
        elif kind == "turn.completed":
            turns += 1
            usage = usage + _usage(event.get("usage"))
        elif kind == "turn.failed":
            failed_turns += 1
            error = event.get("error")
            message = optional_text(error, "message") if isinstance(error, Mapping) else None
            errors.append(message or "turn failed")
        elif kind == "error":
            errors.append(optional_text(event, "message") or "error")
        elif kind == "item.completed":
            item = event.get("item")
            if isinstance(item, Mapping):
                item_type = optional_text(item, "type") or "unknown"
                items[item_type] += 1
                if item_type == "agent_message":
                    last_message = optional_text(item, "text") or last_message
    # A run fails when a turn failed, or when no turn finished at all. ``error`` events on
    # their own may be transient (a reconnect the CLI recovered from).
    is_error = failed_turns > 0 or turns == 0
    models: tuple[ModelUsage, ...] = ()
    if model is not None and (usage.total or not is_error):
        models = (ModelUsage(model, usage),)
    return AgentOutput(
        is_error=is_error,
        subtype="turn_failed" if failed_turns else ("no_turn" if turns == 0 else "success"),
        result=errors[-1] if is_error and errors else last_message,
        session_id=session_id,
        num_turns=turns + failed_turns,
        models=models,
        main_model=model,
        unattributed_usage=None if models else usage,
        details={"items": dict(sorted(items.items()))} if items else {},
    )


def _events(stdout: str) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue  # stray text is not an event
        try:
            value = json.loads(line, parse_float=Decimal)
        except ValueError:
            continue
        if isinstance(value, Mapping) and isinstance(value.get("type"), str):
            out.append(value)
    return out


def _usage(raw: object) -> TokenUsage:
    if not isinstance(raw, Mapping):
        return TokenUsage()
    where = "turn.completed.usage"
    total_input = count(raw, "input_tokens", where)
    cached = min(count(raw, "cached_input_tokens", where), total_input)
    output = count(raw, "output_tokens", where)
    reasoning = min(count(raw, "reasoning_output_tokens", where), output)
    return TokenUsage(
        input_tokens=total_input - cached,
        cache_read_tokens=cached,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )
