"""The Cache page's "Prompt-caching advice" section in a real Chromium: its top row shows
the advisor's figures for the seeded calls, and the row's link opens the calls behind it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.advise.records import advice_calls
from tests.dashboard.seed import seed
from tests.dashboard.test_browser import CATALOG, open_view
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.store import Database, write_records

# One day, so "per 30 days" is 30 times the day's saving.
DAY = "page=cache&range=custom&since=2026-11-01&until=2026-11-01&tz=UTC"


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[RunningGateway]:
    seed(sqlite_db)  # the other dashboard tests' calls: too short to cache, no advice
    write_records(sqlite_db, advice_calls())
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        yield gw


def test_the_top_advice_row_and_its_calls(page: Any, server: RunningGateway) -> None:
    open_view(page, server, DAY)
    section = page.get_by_role("region", name="Prompt-caching advice")
    rows = section.locator("tbody tr")
    assert rows.count() == 3
    cells = rows.first.locator("td").all_inner_texts()
    # pfx-tools: $0.15 paid, $0.069 with 1-hour writes, $0.081 a day = $2.43 per 30 days.
    assert cells[:9] == [
        "pfx-tools",
        "claude-sonnet-4-5",
        "agents",
        "4",
        "30K",
        "$0.15",
        "$0.07",
        "$2.43",
        "1-hour TTL",
    ]
    assert cells[9] == "3 (3 within 1 h)"
    assert 'ttl "1h"' in cells[10]
    assert "$0.13 less" in section.locator(".subtitle").inner_text()
    example = section.get_by_role("link", name="Example call 1").first
    assert "call=tools-1" in example.get_attribute("href")
    # The prefix links to its calls: its model and session over its first to last call.
    rows.first.get_by_role("link", name="pfx-tools").click()
    page.wait_for_url(re.compile(r"page=calls"))
    page.wait_for_selector("main table tbody tr")
    assert "session=sess-a" in page.url and "model=claude-sonnet-4-5" in page.url
    listed = page.locator("main table tbody tr")
    assert listed.count() == 4
