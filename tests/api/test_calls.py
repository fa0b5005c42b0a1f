"""/api/v1/calls and /api/v1/calls/{id} over HTTP on SQLite and PostgreSQL: keyset paging
visits every call once in order (also while calls arrive), search and filters, the detail
with tools and attributes, and the errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from tests.api.test_api import CATALOG, HOUR, T0, _get
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.store import Database, write_records


def _records() -> list[CallRecord]:
    out = []
    for i in range(7):
        out.append(
            CallRecord(
                source="gateway",
                dedupe_key=f"d{i}",
                # Two pairs share a start time: the id breaks the tie in the order.
                started_at_ms=T0 + (i // 2) * HOUR,
                usage=TokenUsage(input_tokens=100 + i, output_tokens=i),
                id=f"01CALL{i:04d}",
                provider="openai",
                request_model="gpt-4o" if i % 2 else "gpt-4o-mini",
                project="web" if i < 4 else "batch",
                session_id=f"sess-{i % 3}",
                cost_nanos=1_000 * i,
                cost_source=CostSource.COMPUTED,
                status=Status.ERROR if i == 5 else Status.OK,
                error_type="rate_limit" if i == 5 else None,
                tools=[ToolUse("mcp__github__search", "t1")] if i == 6 else [],
                attributes={"agent": "claude-code"} if i == 6 else {},
            )
        )
    return out


@pytest.fixture
def api(db: Database) -> Iterator[tuple[RunningGateway, Database]]:
    write_records(db, _records())
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw, db


def _pages(gw: RunningGateway, query: str) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        _, body, _ = _get(gw, f"/api/v1/calls?{query}" + (f"&cursor={cursor}" if cursor else ""))
        pages.append([r["id"] for r in body["rows"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_paging_visits_every_call_once_newest_first(
    api: tuple[RunningGateway, Database],
) -> None:
    gw, _ = api
    pages = _pages(gw, "limit=3")
    assert pages == [
        ["01CALL0006", "01CALL0005", "01CALL0004"],
        ["01CALL0003", "01CALL0002", "01CALL0001"],
        ["01CALL0000"],
    ]
    assert _pages(gw, "limit=4&order=asc") == [
        ["01CALL0000", "01CALL0001", "01CALL0002", "01CALL0003"],
        ["01CALL0004", "01CALL0005", "01CALL0006"],
    ]


def test_a_call_arriving_between_pages_does_not_shift_them(
    api: tuple[RunningGateway, Database],
) -> None:
    gw, db = api
    _, first, _ = _get(gw, "/api/v1/calls?limit=3")
    newer = CallRecord("gateway", "new", T0 + 9 * HOUR, TokenUsage(input_tokens=1), id="01CALL9999")
    write_records(db, [newer])
    _, second, _ = _get(gw, f"/api/v1/calls?limit=3&cursor={first['next_cursor']}")
    assert [r["id"] for r in second["rows"]] == ["01CALL0003", "01CALL0002", "01CALL0001"]


def test_filters_and_search_narrow_the_list(api: tuple[RunningGateway, Database]) -> None:
    gw, _ = api
    _, body, _ = _get(gw, "/api/v1/calls?project=batch&status=error")
    assert [r["id"] for r in body["rows"]] == ["01CALL0005"]
    assert body["rows"][0]["error_type"] == "rate_limit"
    _, body, _ = _get(gw, "/api/v1/calls?q=SESS-1")  # case does not matter
    assert [r["id"] for r in body["rows"]] == ["01CALL0004", "01CALL0001"]
    _, body, _ = _get(gw, "/api/v1/calls?q=" + quote("o_m"))  # _ is a letter, not a wildcard
    assert body["rows"] == []
    _, body, _ = _get(gw, "/api/v1/calls?since=2026-11-01T01:00:00Z&until=2026-11-01T02:00:00Z")
    assert [r["id"] for r in body["rows"]] == ["01CALL0003", "01CALL0002"]
    row = body["rows"][0]
    assert row["started_at"] == "2026-11-01T01:00:00.000+00:00"
    assert (row["model"], row["cost_usd"], row["tokens"]["total"]) == ("gpt-4o", 3e-06, 106)


def test_a_failure_group_lists_only_its_error_type(api: tuple[RunningGateway, Database]) -> None:
    gw, db = api
    # A second failure of the same model and provider, of another type: the dimensions
    # (status, model, provider) cannot tell the two groups apart, error_type can.
    write_records(
        db,
        [
            CallRecord(
                source="gateway",
                dedupe_key="t1",
                started_at_ms=T0 + 5 * HOUR,
                id="01CALL0100",
                provider="openai",
                request_model="gpt-4o",
                status=Status.ERROR,
                error_type="timeout",
            )
        ],
    )
    query = "/api/v1/calls?status=error&model=gpt-4o&provider=openai"
    _, both, _ = _get(gw, query)
    _, limited, _ = _get(gw, query + "&error_type=rate_limit")
    _, timeouts, _ = _get(gw, query + "&error_type=timeout")
    assert [r["id"] for r in both["rows"]] == ["01CALL0100", "01CALL0005"]
    assert [r["id"] for r in limited["rows"]] == ["01CALL0005"]
    assert [r["id"] for r in timeouts["rows"]] == ["01CALL0100"]


def test_a_value_with_a_comma_is_filtered_on_when_escaped(
    api: tuple[RunningGateway, Database],
) -> None:
    gw, db = api
    write_records(
        db,
        [CallRecord("gateway", "c1", T0, id="01CALL0200", project="a,b", provider="openai")],
    )
    _, escaped, _ = _get(gw, "/api/v1/calls?project=" + quote("a\\,b"))
    assert [r["id"] for r in escaped["rows"]] == ["01CALL0200"]
    _, both, _ = _get(gw, "/api/v1/calls?project=" + quote("a\\,b,web"))
    assert len(both["rows"]) == 5  # web's four and a,b's one
    _, split, _ = _get(gw, "/api/v1/calls?project=a,b")  # unescaped: projects a and b
    assert split["rows"] == []


def test_the_detail_has_tools_attributes_and_key(api: tuple[RunningGateway, Database]) -> None:
    gw, _ = api
    status, call, _ = _get(gw, "/api/v1/calls/01CALL0006")
    assert status == 200
    assert call["tools"] == [
        {"use_id": "t1", "name": "mcp__github__search", "mcp_server": "github"}
    ]
    assert call["attributes"] == {"agent": "claude-code"}
    assert (call["dedupe_key"], call["session_id"], call["content"]) == ("d6", "sess-0", None)


def test_bad_requests_get_errors_in_the_api_shape(api: tuple[RunningGateway, Database]) -> None:
    gw, _ = api
    status, body, _ = _get(gw, "/api/v1/calls/nope")
    assert (status, body["error"]["type"], body["error"]["param"]) == (404, "not_found", "id")
    status, body, _ = _get(gw, "/api/v1/calls?cursor=%%%")
    assert (status, body["error"]["param"]) == (422, "cursor")
    status, body, _ = _get(gw, "/api/v1/calls?limit=5000")
    assert (status, body["error"]["param"]) == (422, "limit")
    assert "from 1 to 500" in body["error"]["message"]


def test_a_page_exports_as_csv(api: tuple[RunningGateway, Database]) -> None:
    gw, _ = api
    status, text, _ = _get(gw, "/api/v1/calls?limit=2&format=csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert status == 200
    assert [(r["id"], r["tokens.input_tokens"]) for r in rows] == [
        ("01CALL0006", "106"),
        ("01CALL0005", "105"),
    ]
