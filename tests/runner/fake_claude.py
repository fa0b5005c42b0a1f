"""A stand-in for ``claude -p --output-format json``: prints the documented result object.

Run as a script (``python fake_claude.py -p --output-format json [args] -- PROMPT``). The
prompt's ``[directive arg]`` markers choose what happens (see ``fake_agent_state``):

- none: success, with ``modelUsage`` for Sonnet and Haiku (the numbers below)
- ``[max-turns]``: ``is_error`` with subtype ``error_max_turns``, exit code 0
- ``[exec-error]``: subtype ``error_during_execution``, no ``result``, exit code 0
- ``[rate-limit N]``: the first N runs of this prompt fail with "API Error: 429 ..."
- ``[usage-limit]``: always "Claude AI usage limit reached|<epoch>"
- ``[api-error]``: "API Error: 500 ..." (not a rate limit)
- ``[unpriced]``: the main model is one no price list knows
- ``[one-hour]``: part of the main model's cache writes have the 1-hour lifetime
- ``[garbage]``: not JSON at all; ``[crash]``: stderr and exit code 1
- ``[slow S]``: wait S seconds first; ``[rendezvous K]``: wait until K runs have started
- ``[background S]``: leave a process behind that holds the output open for S seconds
  (its pid is logged as ``background PID``), then answer and exit at once
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
UNPRICED = "claude-mystery-9-20990101"
TOTAL_COST_USD = "0.1234"
ONE_HOUR_WRITES = 1000

MODEL_USAGE: dict[str, dict[str, Any]] = {
    SONNET: {
        "inputTokens": 20,
        "outputTokens": 800,
        "cacheReadInputTokens": 30000,
        "cacheCreationInputTokens": 1500,
        "webSearchRequests": 0,
        "costUSD": 0.11,
        "contextWindow": 200000,
    },
    HAIKU: {
        "inputTokens": 300,
        "outputTokens": 50,
        "cacheReadInputTokens": 0,
        "cacheCreationInputTokens": 0,
        "webSearchRequests": 0,
        "costUSD": 0.0006,
        "contextWindow": 200000,
    },
}
RESULT_TEXT = "Done."
USAGE_LIMIT_RESET = 1760000000


def result(prompt: str, d: dict[str, str]) -> tuple[dict[str, Any], int]:
    """The result object and the exit code for a prompt."""
    models = json.loads(json.dumps(MODEL_USAGE))
    if "unpriced" in d:
        models[UNPRICED] = models.pop(SONNET)
    main = models[UNPRICED if "unpriced" in d else SONNET]
    usage: dict[str, Any] = {
        "input_tokens": main["inputTokens"],
        "cache_creation_input_tokens": main["cacheCreationInputTokens"],
        "cache_read_input_tokens": main["cacheReadInputTokens"],
        "output_tokens": main["outputTokens"],
        "server_tool_use": {"web_search_requests": 0},
        "service_tier": "standard",
        "cache_creation": {
            "ephemeral_1h_input_tokens": ONE_HOUR_WRITES if "one-hour" in d else 0,
            "ephemeral_5m_input_tokens": main["cacheCreationInputTokens"]
            - (ONE_HOUR_WRITES if "one-hour" in d else 0),
        },
    }
    out: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 12345,
        "duration_api_ms": 11000,
        "num_turns": 4,
        "result": RESULT_TEXT,
        "session_id": str(uuid.uuid4()),
        "total_cost_usd": "TOTAL",
        "usage": usage,
        "modelUsage": models,
        "permission_denials": [],
        "uuid": str(uuid.uuid4()),
    }
    failure = _failure(prompt, d)
    if failure is not None:
        out.update(failure)
        if out["subtype"] == "success":  # the API refused: nothing was used
            out["modelUsage"] = {}
            out["usage"] = {"input_tokens": 0, "output_tokens": 0}
            out["total_cost_usd"] = 0
            out["num_turns"] = 1
    if out.get("result") is None:
        out.pop("result", None)
    return out, 0


def _failure(prompt: str, d: dict[str, str]) -> dict[str, Any] | None:
    from fake_agent_state import bump

    if "max-turns" in d:
        return {"is_error": True, "subtype": "error_max_turns", "num_turns": 10, "result": None}
    if "exec-error" in d:
        return {"is_error": True, "subtype": "error_during_execution", "result": None}
    if "rate-limit" in d and bump(prompt) < int(d["rate-limit"] or 1):
        message = (
            'API Error: 429 {"type":"error","error":{"type":"rate_limit_error",'
            '"message":"This request would exceed the rate limit for your organization"}}'
        )
        return {"is_error": True, "result": message}
    if "usage-limit" in d:
        return {"is_error": True, "result": f"Claude AI usage limit reached|{USAGE_LIMIT_RESET}"}
    if "api-error" in d:
        return {"is_error": True, "result": "API Error: 500 Internal server error"}
    return None


def main(argv: list[str]) -> int:
    from fake_agent_state import directives, log_event, record_call, wait_for_starts

    record_call(argv)
    if argv[:3] != ["-p", "--output-format", "json"] or "--" not in argv:
        sys.stderr.write(f"fake claude: unexpected arguments {argv}\n")
        return 2
    prompt = argv[argv.index("--") + 1]
    d = directives(prompt)
    log_event("start")
    try:
        if "rendezvous" in d and not wait_for_starts(int(d["rendezvous"])):
            sys.stderr.write("fake claude: the other runs never started\n")
            return 3
        if "slow" in d:
            time.sleep(float(d["slow"]))
        if "background" in d:
            import subprocess

            child = subprocess.Popen(["sleep", d["background"]], stdout=sys.stdout)
            log_event(f"background {child.pid}")
        if "garbage" in d:
            sys.stdout.write("Welcome to Claude! <html>not json\n")
            return 0
        if "crash" in d:
            sys.stderr.write("Error: Invalid API key · Please run /login\n")
            return 1
        out, code = result(prompt, d)
        # The documented total is printed exactly as written, as JSON text.
        text = json.dumps(out).replace('"TOTAL"', TOTAL_COST_USD)
        sys.stdout.write(text + "\n")
        return code
    finally:
        log_event("end")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
