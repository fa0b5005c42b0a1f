"""`tokenomy import`: read agent logs into the store, only what is new."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenomy.capture.base import Importer
from tokenomy.capture.registry import get_importer, importer_names
from tokenomy.capture.run_import import ImportSummary, import_all
from tokenomy.cli.context import Context, UsageError
from tokenomy.cli.format import printable

if TYPE_CHECKING:  # rich is imported only when something is drawn: --json stays lean
    from rich.console import Console

# Show a progress bar only when there is enough to read for it to matter.
PROGRESS_MIN_BYTES = 32 * 1024 * 1024


def select_importers(which: str) -> list[Importer]:
    names = importer_names()
    if which == "all":
        return [get_importer(n) for n in names]
    if which not in names:
        raise UsageError(f"unknown source {which!r}; choose one of: all, {', '.join(names)}")
    return [get_importer(which)]


@contextmanager
def progress_bars(console: Console | None, enabled: bool) -> Iterator[Callable[[str], Any] | None]:
    if not enabled or console is None:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bars = Progress(
        TextColumn("Importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )

    def for_source(name: str) -> Callable[[int, int], None]:
        task = None

        def update(done: int, total: int) -> None:
            nonlocal task
            if total < PROGRESS_MIN_BYTES:
                return
            if task is None:
                task = bars.add_task(name, total=total)
            bars.update(task, completed=done)

        return update

    with bars:
        yield for_source


def run_import(
    ctx: Context,
    which: str,
    *,
    paths: list[Path] | None,
    console: Console | None,
    show_progress: bool,
) -> ImportSummary:
    importers = select_importers(which)
    with progress_bars(console, show_progress) as progress:
        return import_all(ctx.db, importers, ctx.catalog, roots=paths, progress=progress)


# The variable that moves each agent's logs (docs: README, "Agent logs").
_LOG_DIR_VARS = {
    "claude-code": "CLAUDE_CONFIG_DIR",
    "codex": "CODEX_HOME",
    "gemini": "GEMINI_CLI_HOME",
}


def missing_log_dirs(env: Mapping[str, str], sources: Iterable[str] = _LOG_DIR_VARS) -> list[str]:
    """A line for each log-directory variable set to a directory that does not exist:
    its logs are then silently not found (ccusage stops on it)."""
    out = []
    for source in sources:
        var = _LOG_DIR_VARS.get(source)
        value = env.get(var, "").strip() if var else ""
        for part in (p.strip() for p in value.split(",") if p.strip()):
            if not Path(part).expanduser().is_dir():
                out.append(f"{var}={part}: no such directory, so no {source} logs are read there")
    return out


def print_summary(
    console: Console,
    summary: ImportSummary,
    *,
    verbose: bool,
    prices_file: Path | str = "~/.tokenomy/prices.toml",
    verbose_hint: str = "with --verbose",
) -> None:
    from rich.text import Text

    for name, s in summary.sources.items():
        if s.files_seen == 0:
            why = missing_log_dirs(os.environ, (name,))
            if why:
                line = Text(f"{name}: no logs found ({'; '.join(why)})", style="yellow")
                console.print(line, soft_wrap=True)  # a path is never broken
            else:
                console.print(f"[dim]{name}: no logs found[/]")
            continue
        console.print(
            f"{name}: {s.files_seen:,} files, {s.files_read:,} read "
            f"({s.bytes_read / 1e6:,.1f} MB new), {s.records:,} calls stored"
        )
    problems = summary.problems
    if problems.items:
        if verbose:
            for p in problems.items:
                console.print(Text(str(p), style="yellow"), soft_wrap=True)
        else:
            counts = problems.by_reason()
            kinds = ", ".join(f"{n} {k}" for k, n in counts.most_common(4))
            if len(counts) > 4:
                kinds += f", {sum(counts.values()) - sum(n for _, n in counts.most_common(4))} more"
            first = problems.items[0]
            message = (
                f"{len(problems):,} lines skipped ({kinds}); first: {first}. "
                f"Run {verbose_hint} to list every one."
            )
            console.print(Text(message, style="yellow"), soft_wrap=True)
    if summary.unpriced_models:
        models = printable(", ".join(sorted(summary.unpriced_models)))  # names from logs
        console.print(
            Text(
                f"No price for {models}: their cost shows "
                f"as unknown. Add them to {prices_file} (see `tokenomy prices check`).",
                style="yellow",
            ),
            soft_wrap=True,
        )


def summary_json(summary: ImportSummary) -> dict[str, Any]:
    return {
        "sources": {
            name: {
                "files_seen": s.files_seen,
                "files_read": s.files_read,
                "bytes_read": s.bytes_read,
                "records": s.records,
            }
            for name, s in summary.sources.items()
        },
        "problems": [
            {"path": p.path, "line": p.line, "reason": p.reason} for p in summary.problems.items
        ],
        "unpriced_models": sorted(summary.unpriced_models),
    }
