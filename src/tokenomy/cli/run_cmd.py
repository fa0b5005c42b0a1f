"""`tokenomy run`: run Claude Code or Codex commands non-interactively and record each run.

tokenomy run "fix the failing test" --cwd ~/src/app -- --model sonnet --max-turns 20
tokenomy run --batch commands.txt --concurrency 4 --json
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from tokenomy.cli.context import Context, UsageError
from tokenomy.config import Paths

if TYPE_CHECKING:  # rich only when something is drawn: --json stays lean
    from rich.console import Console
    from rich.table import Table

    # The runner (and asyncio) only when a run starts: main.py builds every command's
    # parser at start-up, and `tokenomy report` should not pay for this one.
    from tokenomy.runner import Command, Runner, RunResult

# The same as tokenomy.runner.AGENTS (a test checks), spelled out to keep start-up lean.
AGENT_CHOICES = ("claude", "codex")

_EPILOG = (
    "Arguments after `--` go to the agent unchanged, e.g. `-- --model opus --max-turns 30`. "
    "Exit status: 0 if every run succeeded, 1 if any failed."
)


class _AgentArgsParser(argparse.ArgumentParser):
    """Takes everything after the first ``--`` as the agent's arguments before parsing the
    rest. argparse alone cannot: an optional positional (the prompt) followed by options and
    then ``--`` leaves the tail unrecognised, and with ``--batch`` the first agent argument
    would be taken for the prompt."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        agent_args: list[str] = []
        if "--" in words:
            cut = words.index("--")
            words, agent_args = words[:cut], words[cut + 1 :]
        parsed, rest = super().parse_known_args(words, namespace)
        parsed.agent_args = agent_args
        return parsed, rest


def add_run_parser(sub: Any) -> None:
    """Add the ``run`` command to an argparse sub-parsers object."""
    doc = (cmd_run.__doc__ or "").strip()
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help=doc,
        description=doc,
        epilog=_EPILOG,
        usage="%(prog)s [options] (PROMPT | --batch FILE) [-- AGENT_ARGS ...]",
    )
    # The parser class is argparse's choice for every sub-command; only this one needs `--`.
    p.__class__ = _AgentArgsParser
    p.set_defaults(func=cmd_run)
    p.add_argument("prompt", nargs="?", help="what to ask the agent (or use --batch)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument(
        "--batch", metavar="FILE", type=Path, help="one prompt per line; # comments skipped"
    )
    p.add_argument("--cwd", metavar="DIR", type=Path, help="run the agent in this directory")
    p.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="runs at once (default: 4)"
    )
    p.add_argument(
        "--agent", choices=AGENT_CHOICES, default="claude", help="which CLI (default: claude)"
    )
    p.add_argument(
        "--retries", type=int, default=3, metavar="N", help="retries on rate limits (default: 3)"
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a run after this long")
    p.add_argument("--project", metavar="NAME", help="project to record (default: the cwd's name)")
    p.add_argument(
        "--executable",
        metavar="PATH",
        help="the agent's CLI (default: claude/codex on PATH, or TOKENOMY_CLAUDE_BIN/"
        "TOKENOMY_CODEX_BIN)",
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Run Claude Code or Codex non-interactively; record tokens, cost and outcome of each run."""
    from tokenomy.runner import ExecutableNotFoundError, Runner
    from tokenomy.runner.executables import find_executable

    commands = _commands(args)
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if args.timeout is not None and not (0 < args.timeout < math.inf):  # nan fails both
        raise UsageError("--timeout must be a positive number of seconds")
    try:  # before the store is opened: nothing to clean up after a typo
        executable = find_executable(args.agent, args.executable)
    except ExecutableNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    ctx = Context(Paths.from_env())
    # SIGTERM (a supervisor, `kill`, a CI job cancelled) is Ctrl-C here: the agents, in
    # process groups of their own, are stopped and their runs recorded, not orphaned to
    # go on spending unobserved.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        runner = Runner(
            db=ctx.db,
            catalog=ctx.catalog,
            executables={args.agent: executable},
            retries=args.retries,
            timeout=args.timeout,
        )
        if args.json:
            results = runner.run_batch(commands, concurrency=args.concurrency)
            sys.stdout.write(
                orjson.dumps(results_json(results), option=orjson.OPT_INDENT_2).decode()
            )
            sys.stdout.write("\n")
        else:
            results = _run_with_progress(runner, commands, args.concurrency)
            _print_summary(results)
        return 0 if all(r.ok for r in results) else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        ctx.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _commands(args: argparse.Namespace) -> list[Command]:
    from tokenomy.runner import Command, parse_batch

    if (args.prompt is None) == (args.batch is None):
        raise UsageError("give a prompt, or --batch FILE, but not both")
    if args.cwd is not None and not args.cwd.is_dir():
        raise UsageError(f"--cwd: no such directory: {args.cwd}")
    if args.batch is not None:
        try:
            prompts = parse_batch(args.batch.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--batch: cannot read {args.batch}: {exc}") from exc
        if not prompts:
            raise UsageError(f"--batch: {args.batch} holds no commands")
    else:
        prompts = [args.prompt]
    extra = tuple(getattr(args, "agent_args", None) or ())
    return [
        Command(p, agent=args.agent, cwd=args.cwd, extra_args=extra, project=args.project)
        for p in prompts
    ]


def results_json(results: Sequence[RunResult]) -> dict[str, Any]:
    failed = sum(1 for r in results if not r.ok)
    return {
        "runs": len(results),
        "succeeded": len(results) - failed,
        "failed": failed,
        "cost_usd": str(sum((r.cost_usd for r in results), start=Decimal(0))),
        "cost_complete": all(r.cost_complete for r in results),
        "results": [r.to_json() for r in results],
    }


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _run_with_progress(
    runner: Runner, commands: list[Command], concurrency: int
) -> list[RunResult]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    agent = commands[0].agent
    with Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{agent}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        console=_stderr(),
        transient=True,
    ) as progress:
        task = progress.add_task("runs", total=len(commands), failed="")
        failures = 0

        def done(_index: int, result: RunResult) -> None:
            nonlocal failures
            failures += not result.ok
            progress.update(
                task, advance=1, failed=f"[red]{failures} failed[/]" if failures else ""
            )

        return runner.run_batch(commands, concurrency=concurrency, on_done=done)


def _seconds(ms: int) -> str:
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def _status(result: RunResult) -> tuple[str, str]:
    """The run's status and the colour it is shown in."""
    tries = f" ({len(result.attempts)} tries)" if len(result.attempts) > 1 else ""
    if result.ok:
        return f"ok{tries}", "green"
    return f"✗ {result.error_type}{tries}", "red"


COMMAND_LEAST = 12  # the prompt's start, enough to recognise it


def summary_table(results: Sequence[RunResult], width: int = 80) -> Table:
    """One row per command (status, model, turns, tokens, cost, duration) and a total row."""
    from rich import box
    from rich.text import Text

    from tokenomy.cli.format import tokens, usd
    from tokenomy.cli.render import TABLE_OVERHEAD_PER_COLUMN, SafeTable, fit, share, short_model

    ok = sum(1 for r in results if r.ok)
    cost = sum((r.cost_usd for r in results), start=Decimal(0))
    unknown = sum(1 for r in results if not r.cost_complete)
    turns = [r.turns for r in results if r.turns is not None]
    heads = ["#", "Command", "Status", "Model", "Turns", "Tokens", "Cost", "Time"]
    footer = ["", "Total", f"{ok}/{len(results)} ok", "", f"{sum(turns):,}"]
    footer += [tokens(sum(r.usage.total for r in results)), usd(cost, unknown)]
    footer += [_seconds(sum(r.duration_ms for r in results))]
    rows = []
    for n, r in enumerate(results, 1):
        model = r.model
        rows.append(
            [
                str(n),
                " ".join(r.command.prompt.split()),
                _status(r)[0],
                short_model(model, drop_vendor=True) if model else "?",
                f"{r.turns:,}" if r.turns is not None else "",
                tokens(r.usage.total),
                usd(r.cost_usd, 0 if r.cost_complete else 1) if r.records else "?",
                _seconds(r.duration_ms),
            ]
        )
    widest = [max(len(h), *(len(c[i]) for c in [footer, *rows])) for i, h in enumerate(heads)]
    # Numbers keep their width. Status and model come next (a status may say "(4 tries)");
    # the prompt gets what is left, at least its start. Text too long is cut in its middle.
    numbers = widest[0] + sum(widest[4:])
    room = width - numbers - TABLE_OVERHEAD_PER_COLUMN * len(heads)
    status_w, model_w = share(widest[2:4], room - min(COMMAND_LEAST, widest[1]))
    command_w = max(min(COMMAND_LEAST, widest[1]), min(widest[1], room - status_w - model_w))
    widths = [widest[0], command_w, status_w, model_w, *widest[4:]]
    table = SafeTable(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False, collapse_padding=True)
    for i, (head, foot, w) in enumerate(zip(heads, footer, widths, strict=True)):
        justify: Literal["left", "right"] = "left" if 1 <= i <= 3 else "right"
        table.add_column(head, justify=justify, footer=foot, no_wrap=True, min_width=w, max_width=w)
    for r, cells in zip(results, rows, strict=True):
        texts = [Text(fit(c, w)) for c, w in zip(cells, widths, strict=True)]
        texts[2].stylize(_status(r)[1])
        table.add_row(*texts)
    return table


def _print_summary(results: Sequence[RunResult]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if len(results) == 1 and results[0].ok and results[0].output and results[0].output.result:
        console.print(Text(results[0].output.result))  # the answer, as `claude -p` prints it
        console.print()
    console.print(summary_table(results, console.width))
    for n, r in enumerate(results, 1):
        if not r.ok and r.message:
            console.print(Text.assemble((f"#{n} {r.error_type}: ", "red"), r.message))
    if any(not r.cost_complete for r in results):
        console.print(
            "[dim]+ some runs have no known cost (an unpriced model, or no usage in the "
            "output): run `tokenomy prices check`.[/]"
        )
