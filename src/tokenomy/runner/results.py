"""What running a command produced: one :class:`Attempt` per execution (a rate-limited run
is tried again), gathered in a :class:`RunResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tokenomy.record import CallRecord, Status, TokenUsage
from tokenomy.runner.command import Command
from tokenomy.runner.outcome import AgentOutput
from tokenomy.runner.retry import is_rate_limited

# Error types, as recorded in ``calls.error_type``.
RATE_LIMITED = "rate_limited"
MAX_TURNS = "max_turns"
EXECUTION_ERROR = "execution_error"
TURN_FAILED = "turn_failed"
AGENT_ERROR = "agent_error"
EXIT_STATUS = "exit_status"
BAD_OUTPUT = "bad_output"
TIMEOUT = "timeout"
SPAWN_FAILED = "spawn_failed"

_SUBTYPE_ERRORS = {
    "error_max_turns": MAX_TURNS,
    "error_during_execution": EXECUTION_ERROR,
    "turn_failed": TURN_FAILED,
}


@dataclass(slots=True)
class Attempt:
    """One execution of a command. ``exit_code`` is None when it never started or was
    killed; ``output`` is None when stdout held no result."""

    number: int
    started_at_ms: int
    duration_ms: int
    exit_code: int | None
    output: AgentOutput | None
    error_type: str | None = None
    message: str | None = None
    stderr: str = ""
    # The call record written for this attempt (priced), once the runner has made it.
    record: CallRecord | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


def judge(
    exit_code: int | None, output: AgentOutput | None, problem: str | None, stderr: str
) -> tuple[str | None, str | None]:
    """``(error_type, message)`` for a finished execution; ``(None, None)`` if it succeeded.

    The agent's own verdict (``is_error``) comes first, since its exit code may be 0 on
    error; a non-zero exit code fails a run even when the output looks fine.
    """
    err = stderr.strip()
    if output is not None and output.is_error:
        error_type = _SUBTYPE_ERRORS.get(output.subtype or "", AGENT_ERROR)
        message = output.result or _tail(err) or _describe(error_type, output)
        if is_rate_limited(message):
            return RATE_LIMITED, message
        return error_type, message
    if output is not None and exit_code == 0:
        return None, None
    if exit_code not in (0, None):
        message = f"exited with status {exit_code}" + (f": {_tail(err)}" if err else "")
        return (RATE_LIMITED if is_rate_limited(err) else EXIT_STATUS), message
    if is_rate_limited(err):
        return RATE_LIMITED, _tail(err)
    return BAD_OUTPUT, problem or "no result in the output"


def _describe(error_type: str, output: AgentOutput) -> str:
    if error_type == MAX_TURNS:
        turns = f" ({output.num_turns} turns)" if output.num_turns else ""
        return f"stopped at the turn limit{turns}; raise it with -- --max-turns N"
    return f"the agent reported an error ({output.subtype or 'no detail'})"


def _tail(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass(slots=True)
class RunResult:
    """A command's outcome: its last attempt decides the status; tokens and cost add up
    every attempt, since a rate-limited run may have spent tokens before it was stopped."""

    command: Command
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.final.ok

    @property
    def status(self) -> str:
        return Status.OK if self.ok else Status.ERROR

    @property
    def error_type(self) -> str | None:
        return self.final.error_type

    @property
    def message(self) -> str | None:
        return self.final.message

    @property
    def output(self) -> AgentOutput | None:
        return self.final.output

    @property
    def records(self) -> list[CallRecord]:
        return [a.record for a in self.attempts if a.record is not None]

    @property
    def model(self) -> str | None:
        for rec in reversed(self.records):
            if rec.response_model or rec.request_model:
                return rec.response_model or rec.request_model
        return None

    @property
    def session_id(self) -> str | None:
        out = self.output
        return out.session_id if out else None

    @property
    def turns(self) -> int | None:
        counts = [a.output.num_turns for a in self.attempts if a.output and a.output.num_turns]
        return sum(counts) if counts else None

    @property
    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for rec in self.records:
            total = total + rec.usage
        return total

    @property
    def cost_usd(self) -> Decimal:
        """The known part of the cost (see :attr:`cost_complete`)."""
        return sum((r.cost_usd for r in self.records if r.cost_usd is not None), Decimal(0))

    @property
    def cost_complete(self) -> bool:
        """False when some attempt's cost is unknown (an unpriced model, unreadable output)."""
        return all(r.cost_nanos is not None for r in self.records)

    @property
    def duration_ms(self) -> int:
        return sum(a.duration_ms for a in self.attempts)

    def to_json(self) -> dict[str, Any]:
        u = self.usage
        return {
            "prompt": self.command.prompt,
            "agent": self.command.agent,
            "cwd": str(self.command.cwd) if self.command.cwd else None,
            "status": str(self.status),
            "error_type": self.error_type,
            "message": self.message,
            "exit_code": self.final.exit_code if self.attempts else None,
            "attempts": len(self.attempts),
            "session_id": self.session_id,
            "model": self.model,
            "turns": self.turns,
            "tokens": {
                "input": u.input_tokens,
                "cache_read": u.cache_read_tokens,
                "cache_write": u.cache_write_tokens,
                "cache_write_1h": u.cache_write_1h_tokens,
                "output": u.output_tokens,
                "reasoning": u.reasoning_tokens,
                "total": u.total,
            },
            "cost_usd": str(self.cost_usd),
            "cost_complete": self.cost_complete,
            "duration_ms": self.duration_ms,
            "result": self.output.result if self.output and self.ok else None,
            "record_ids": [r.id for r in self.records],
        }
