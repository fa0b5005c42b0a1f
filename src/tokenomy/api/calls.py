"""``GET /api/v1/calls`` and ``GET /api/v1/calls/{id}``: the calls behind every number.

Paging is by keyset, newest first: the cursor is the (started_at, id) of the last call of
a page, and the next page starts strictly after it in that order. Each page is one
indexed read of at most ``limit`` rows, however deep the paging goes, and a call written
meanwhile never shifts or repeats a page the way OFFSET would.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from tokenomy.api.params import ApiError, Scope
from tokenomy.record import EARLIEST_MS, LATEST_MS, NANOS_PER_USD, TOKEN_FIELDS
from tokenomy.store.db import Database
from tokenomy.store.schema import CALL_COLUMNS

# A call's detail: every column but the upsert's bookkeeping; a list leaves out the
# free-form and tracing ones too.
DETAIL_COLUMNS = tuple(c for c in CALL_COLUMNS if c not in ("dedupe_rank", "dedupe_order"))
_DETAIL_ONLY: tuple[str, ...] = (
    "dedupe_key",
    "trace_id",
    "parent_id",
    "routed_from",
    "route_policy",
)
_DETAIL_ONLY += ("variant", "prompt_hash", "prefix_hash", "attributes", "ingested_at")
LIST_COLUMNS = tuple(c for c in DETAIL_COLUMNS if c not in _DETAIL_ONLY)
_ID, _STARTED_AT = LIST_COLUMNS.index("id"), LIST_COLUMNS.index("started_at")
# A page is at most this many calls: paging never loads unbounded rows.
MAX_LIMIT = 500
# What ``q`` searches: ids and names a person would paste or type.
SEARCHED = (
    "c.id",
    "c.session_id",
    "c.trace_id",
    "c.prompt_hash",
    "c.error_type",
    "c.request_model",
    "c.project",
)


def _select(columns: tuple[str, ...]) -> str:
    return ", ".join(f'c."{c}"' for c in columns)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _call(columns: tuple[str, ...], row: Any) -> dict[str, Any]:
    raw = dict(zip(columns, row, strict=True))
    out: dict[str, Any] = {
        k: v for k, v in raw.items() if k not in TOKEN_FIELDS and k != "cost_nanos"
    }
    out["started_at"] = _iso(raw["started_at"])
    out["model"] = raw["response_model"] or raw["request_model"]
    tokens = {t: int(raw[t]) for t in TOKEN_FIELDS}
    out["tokens"] = {
        **tokens,
        "total": sum(v for k, v in tokens.items() if k != "reasoning_tokens"),
    }
    cost = raw["cost_nanos"]
    out["cost_usd"] = None if cost is None else round(int(cost) / NANOS_PER_USD, 9)
    if "ingested_at" in raw:
        out["ingested_at"] = _iso(raw["ingested_at"])
    if "attributes" in raw:
        out["attributes"] = orjson.loads(raw["attributes"] or "{}")
    return out


def encode_cursor(started_at: int, call_id: str) -> str:
    return base64.urlsafe_b64encode(f"{started_at}:{call_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, call_id = raw.split(":", 1)
        if not EARLIEST_MS <= int(at) < LATEST_MS:  # would not fit the column
            raise ValueError(at)
        return int(at), call_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            422, "cursor is not one this API gave out: use next_cursor from a page", "cursor"
        ) from None


def list_calls(
    db: Database,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    search: str | None,
    oldest_first: bool,
    error_types: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A page of calls, newest first (or oldest); ``error_types``: only failed calls of
    these types (a failure group's calls, which the dimensions cannot name)."""
    where, params = scope.where()
    parts = [where[len(" WHERE ") :]] if where else []
    if error_types:
        parts.append(f"c.error_type IN ({', '.join('?' * len(error_types))})")
        params += list(error_types)
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        parts.append("(" + " OR ".join(f"LOWER({c}) LIKE ? ESCAPE '\\'" for c in SEARCHED) + ")")
        params += [pattern] * len(SEARCHED)
    op, direction = (">", "ASC") if oldest_first else ("<", "DESC")
    if cursor:
        at, call_id = decode_cursor(cursor)
        parts.append(f"(c.started_at {op} ? OR (c.started_at = ? AND c.id {op} ?))")
        params += [at, at, call_id]
    sql = f"SELECT {_select(LIST_COLUMNS)} FROM calls c"
    if parts:
        sql += " WHERE " + " AND ".join(parts)
    # One row more than asked says whether there is a next page.
    sql += f" ORDER BY c.started_at {direction}, c.id {direction} LIMIT {limit + 1}"
    rows = db.query(sql, params)
    page = [_call(LIST_COLUMNS, r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "rows": page,
        "limit": limit,
        "next_cursor": None
        if last is None
        else encode_cursor(int(last[_STARTED_AT]), str(last[_ID])),
    }


def get_call(db: Database, call_id: str) -> dict[str, Any]:
    rows = db.query(f"SELECT {_select(DETAIL_COLUMNS)} FROM calls c WHERE c.id = ?", (call_id,))
    if not rows:
        raise ApiError(404, f"no call with id {call_id!r}", "id")
    call = _call(DETAIL_COLUMNS, rows[0])
    key = (call["source"], call["dedupe_key"])
    tools = db.query(
        "SELECT use_id, name, mcp_server FROM call_tools WHERE source = ? AND dedupe_key = ? "
        "ORDER BY use_id",
        key,
    )
    call["tools"] = [{"use_id": u, "name": n, "mcp_server": m} for u, n, m in tools]
    content = db.query(
        "SELECT request, response FROM call_content WHERE source = ? AND dedupe_key = ?", key
    )
    call["content"] = None if not content else {"request": content[0][0], "response": content[0][1]}
    return call
