"""`tokenomy rollups`: the sums the dashboard and API read (status, rebuild): hourly and
daily, and per session and per prompt; and the refresh that commands writing calls run
before they finish."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.context import Context
from tokenomy.config import Paths

if TYPE_CHECKING:
    from rich.console import Console

    from tokenomy.store import Database

_STATUS_SQL = "SELECT COUNT(*), COUNT(DISTINCT hour) FROM rollup_hour"
# Groups the ranked lists rank (store/key_rollups.py), and how many have their calls copied.
_GROUPS_SQL = "SELECT COUNT(*), COALESCE(SUM(heavy), 0) FROM {table} WHERE calls > 0"
# Below this many hours to recompute, a refresh takes well under a second: no bar.
PROGRESS_MIN_HOURS = 200


def refresh_rollups(db: Database, console: Console | None) -> int:
    """Bring the rollups up to date after a write, with a progress bar when it is long."""
    from tokenomy.store.rollups import pending_hours, refresh

    total = pending_hours(db)
    if total == 0:
        return 0
    if console is None or total < PROGRESS_MIN_HOURS:
        return refresh(db)
    return _with_bar(console, "Updating rollups", total, lambda step: refresh(db, step))


def _with_bar(
    console: Console, title: str, total: int, work: Callable[[Callable[[int, int], None]], int]
) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("hours"),
        console=console,
        transient=True,
    ) as bars:
        task = bars.add_task(title, total=total)
        return work(lambda done, n: bars.update(task, completed=done, total=n))


def cmd_rollups(args: argparse.Namespace) -> int:
    """Show or rebuild the rollups (hourly and daily sums, per session and per prompt)."""
    from rich.console import Console

    from tokenomy.store.key_rollups import PROMPTS, SESSIONS
    from tokenomy.store.rollups import pending_hours, rebuild

    ctx = Context(Paths.from_env())
    console = None if args.json else Console()
    try:
        db = ctx.db
        if args.action == "rebuild":
            hours = (
                rebuild(db)
                if console is None
                else _with_bar(console, "Rebuilding rollups", 1, lambda step: rebuild(db, step))
            )
            out: dict[str, Any] = {"rebuilt_hours": hours}
            message = f"Rebuilt the rollups of {hours:,} hours from the stored calls."
        else:
            count, hours = (int(v) for v in db.query(_STATUS_SQL)[0])
            sessions, heavy_sessions = (
                int(v) for v in db.query(_GROUPS_SQL.format(table=SESSIONS.totals))[0]
            )
            prompts, heavy_prompts = (
                int(v) for v in db.query(_GROUPS_SQL.format(table=PROMPTS.totals))[0]
            )
            pending = pending_hours(db)
            out = {
                "rows": count,
                "hours": hours,
                "sessions": sessions,
                "prompts": prompts,
                "copied_sessions": heavy_sessions,
                "copied_prompts": heavy_prompts,
                "pending_hours": pending,
            }
            message = (
                f"{count:,} rollup rows over {hours:,} hours; {sessions:,} sessions and "
                f"{prompts:,} prompts ranked ({heavy_sessions:,} and {heavy_prompts:,} with "
                f"their calls copied); {pending:,} hours wait "
                + (
                    "to be recomputed (the API does it before its next answer)"
                    if pending
                    else "(none)"
                )
            )
        if console is None:
            sys.stdout.write(orjson.dumps(out).decode() + "\n")
        else:
            console.print(message)
        return 0
    finally:
        ctx.close()


def add_rollups_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command(sub, "rollups", cmd_rollups)
    p.add_argument(
        "action",
        choices=("status", "rebuild"),
        nargs="?",
        default="status",
        help="status (default): what the rollups hold; rebuild: recompute them all "
        "(hourly, daily, per session and per prompt) from the stored calls (they are kept "
        "current by themselves: this is for after a change made to the database by other "
        "means)",
    )
