"""Spend so far from the database: what seeds a period's ledger entry on its first use,
and what `tokenomy budgets` shows when there is no Redis.

Only calls that went through a Tokenomy gateway count (sources ``gateway`` and ``sdk``):
a budget limits what the gateway can refuse, and imported agent logs (Claude Code and
the like) never passed through it.
"""

from __future__ import annotations

from tokenomy.budgets.budget import Scope
from tokenomy.budgets.periods import Window
from tokenomy.store.db import Database

GATEWAY_SOURCES = ("gateway", "sdk")


def spent_nanos(db: Database, scope: Scope, window: Window) -> int:
    """Sum of ``cost_nanos`` of the scope's gateway calls in the window (blocking I/O)."""
    where = ["started_at >= ?", "started_at < ?", "source IN (?, ?)"]
    params: list[object] = [window.start_ms, window.end_ms, *GATEWAY_SOURCES]
    for column, value in (
        ("org", scope.org),
        ("project", scope.project),
        ('"user"', scope.user),  # a keyword in PostgreSQL
        ("api_key_id", scope.key),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = db.query(
        f"SELECT COALESCE(SUM(cost_nanos), 0) FROM calls WHERE {' AND '.join(where)}", params
    )
    return int(rows[0][0])
