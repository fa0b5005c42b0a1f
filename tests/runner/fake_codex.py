"""A stand-in for ``codex exec --json``: prints the documented JSONL events.

Run as a script (``python fake_codex.py exec --json [args] -- PROMPT``). Directives in the
prompt (see ``fake_agent_state``):

- none: one turn with a reasoning item, a command, a message, then ``turn.completed``
- ``[two-turns]``: two completed turns (usage adds up)
- ``[turn-failed]``: ``turn.failed`` with an error message, exit code 1
- ``[rate-limit N]``: the first N runs of this prompt end in a 429 ``error`` + ``turn.failed``
- ``[garbage]``: no events; ``[slow S]``: wait S seconds first
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

USAGE = {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}
MESSAGE = "Tests pass now."


def events(prompt: str, d: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    from fake_agent_state import bump

    out: list[dict[str, Any]] = [{"type": "thread.started", "thread_id": str(uuid.uuid4())}]
    turns = 2 if "two-turns" in d else 1
    for _ in range(turns):
        out.append({"type": "turn.started"})
        if "turn-failed" in d:
            out.append({"type": "turn.failed", "error": {"message": "sandbox denied the write"}})
            return out, 1
        if "rate-limit" in d and bump(prompt) < int(d["rate-limit"] or 1):
            message = "exceeded retry limit, last status: 429 Too Many Requests"
            out.append({"type": "error", "message": message})
            out.append({"type": "turn.failed", "error": {"message": message}})
            return out, 1
        out += [
            _item("item.completed", 0, {"type": "reasoning", "text": "**Running tests**"}),
            _item(
                "item.started",
                1,
                {
                    "type": "command_execution",
                    "command": "bash -lc pytest",
                    "status": "in_progress",
                },
            ),
            _item(
                "item.completed",
                1,
                {"type": "command_execution", "command": "bash -lc pytest", "exit_code": 0},
            ),
            _item("item.completed", 2, {"type": "agent_message", "text": MESSAGE}),
            {"type": "turn.completed", "usage": dict(USAGE)},
        ]
    return out, 0


def _item(kind: str, n: int, fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "item": {"id": f"item_{n}", **fields}}


def main(argv: list[str]) -> int:
    from fake_agent_state import directives, log_event, record_call

    record_call(argv)
    if argv[:2] != ["exec", "--json"] or "--" not in argv:
        sys.stderr.write(f"fake codex: unexpected arguments {argv}\n")
        return 2
    prompt = argv[argv.index("--") + 1]
    d = directives(prompt)
    log_event("start")
    try:
        if "slow" in d:
            time.sleep(float(d["slow"]))
        if "garbage" in d:
            sys.stdout.write("Reading prompt from stdin...\n")
            return 0
        lines, code = events(prompt, d)
        sys.stdout.write("".join(json.dumps(e) + "\n" for e in lines))
        return code
    finally:
        log_event("end")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
