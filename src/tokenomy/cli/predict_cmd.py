"""`tokenomy predict`: the estimate before a call (tokenomy/predict/, docs/predict.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tokenomy.cli.context import Context, UsageError
from tokenomy.config import Paths

EPILOG = """examples:
  tokenomy predict -m gpt-4o "List 5 ideas for a birthday party"
  tokenomy predict -m claude-sonnet-4-5 --messages chat.json --json
  tokenomy predict -m claude-sonnet-4-5 --command "fix the failing test in src/app.py"
"""


def cmd_predict(args: argparse.Namespace) -> int:
    """Estimate a call's tokens and cost before sending it, with 80-percent intervals."""
    from tokenomy.predict import PredictError, predict

    messages: Any = None
    if args.prompt is not None and (args.messages or args.command):
        raise UsageError("give the prompt, --messages or --command, not two of them")
    if args.prompt is None and args.messages is None and args.command is None:
        raise UsageError(
            'give what to estimate: the prompt (tokenomy predict "..." -m MODEL), '
            "--messages FILE (a JSON list of messages) or --command PROMPT (an agent run)"
        )
    if args.messages is not None:
        try:
            messages = orjson.loads(Path(args.messages).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise UsageError(f"--messages {args.messages}: {exc}") from exc
    elif args.prompt is not None:
        messages = [{"role": "user", "content": args.prompt}]
    ctx = Context(Paths.from_env())
    try:
        result = predict(
            messages,
            args.model,
            command=args.command,
            provider=args.provider,
            db=None if args.no_history else ctx.db,
            catalog=ctx.catalog,
        )
    except PredictError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        ctx.close()
    out = result.to_json()
    if args.json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    sys.stdout.write(_text(out))
    return 0


def _text(out: dict[str, Any]) -> str:
    i, o, c = out["input_tokens"], out["output_tokens"], out["cost_usd"]
    kind = "exact" if i["exact"] else f"estimate, ±{i['relative_error']:.0%}"
    lines = [
        f"model          {out['model']}",
        f"input tokens   {i['tokens']:,} ({kind})",
        f"output tokens  {o['median']:,} (80%: {o['low']:,}-{o['high']:,}; {o['basis']}, "
        f"{o['history_calls']} past calls)",
        "cost           "
        + (
            "unknown (no price for this model)"
            if c is None
            else f"${c['median']:.6f} (80%: ${c['low']:.6f}-${c['high']:.6f})"
        ),
    ]
    return "\n".join(lines) + "\n"


def add_predict_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command(sub, "predict", cmd_predict)
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("prompt", nargs="?", help="the user message (or use --messages/--command)")
    p.add_argument("-m", "--model", required=True, help="the model that would answer")
    p.add_argument("--provider", help="the provider, when the model name is ambiguous")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--messages", metavar="FILE", help="a JSON file of chat messages [{role, content}]"
    )
    what.add_argument(
        "--command", metavar="PROMPT", help="a `tokenomy run` prompt: uses its family's history"
    )
    p.add_argument(
        "--no-history", action="store_true", help="use the shipped model only, not your calls"
    )
