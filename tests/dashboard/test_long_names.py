"""A name thousands of characters long (a project, model, user, session or tool, from a
header or a log) in a real Chromium: no page of the dashboard, and no HTML report, scrolls
sideways at 1280 px; the name is cut in the middle with the whole of it in a title."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.api.insight_records import HOUR, T0, call
from tests.dashboard.seed import RANGE, seed
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.api.params import Scope
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, ToolUse
from tokenomy.reports import ReportSpec, collect, render
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
# No space to break at: the worst case for wrapping.
LONG = "p" * 2500 + "-" + "q" * 2499
WIDTH = 1280


def _long_calls() -> list[CallRecord]:
    return [
        call(
            f"long{i}",
            T0 + (10 + i) * HOUR,
            project=LONG,
            model=LONG,
            user=LONG,
            session_id=LONG,
            org=LONG,
            cost_nanos=900_000_000,
            tools=[ToolUse(LONG, f"t{i}")],
        )
        for i in range(3)
    ]


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[RunningGateway]:
    seed(sqlite_db)
    write_records(sqlite_db, _long_calls())
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        yield gw


VIEWS = [
    "page=overview",
    "page=costs",
    "page=costs&group=project",
    "page=costs&group=model",
    "page=models",
    "page=projects",
    "page=sessions",
    "page=failures",
    "page=cache",
    "page=advice",
    "page=calls",
    "page=calls&call=long0",
    f"page=calls&project={LONG}",  # its filter chip
]


def _width(page: Any) -> int:
    value: int = page.evaluate("document.documentElement.scrollWidth")
    return value


@pytest.mark.parametrize("view", VIEWS)
def test_no_dashboard_page_scrolls_sideways(page: Any, server: RunningGateway, view: str) -> None:
    page.goto(f"{server.url}/?{RANGE}&{view}")
    page.wait_for_selector("main h1")
    page.wait_for_function("() => !document.querySelector('main .loading')")
    for details in page.locator("details").all():  # the charts' numbers too
        details.evaluate("d => { d.open = true; }")
    assert _width(page) <= WIDTH
    if "call=" in view:
        return  # one call in detail shows its values whole, wrapped
    # Tables, tags and filter chips show the name cut in the middle, whole in a title.
    shown = page.evaluate("() => document.body.innerText")
    assert "p" * 100 not in shown and "q" * 100 not in shown
    titled = page.evaluate(
        "(long) => [...document.querySelectorAll('[title]')].filter(e => e.title.includes(long))"
        ".map(e => e.textContent)",
        LONG,
    )
    if view not in ("page=advice", "page=failures"):  # these list no name of the seed's
        assert titled and all(len(text) <= 80 for text in titled)
        assert any(text == "p" * 26 + "…" + "q" * 53 for text in titled)


def test_the_html_report_does_not_scroll_sideways(
    page: Any, sqlite_db: Database, tmp_path: Path
) -> None:
    """``tokenomy report --html`` with the long name in the chart's legend, its numbers, the
    breakdowns and the sessions: the page stays 1280 px wide."""
    seed(sqlite_db)
    write_records(sqlite_db, _long_calls())
    scope = Scope(ZoneInfo("UTC"), T0, T0 + 48 * HOUR)
    for stack in ("project", "model"):
        data = collect(sqlite_db, CATALOG, ReportSpec(scope, stack=stack), T0 + 72 * HOUR)
        path = tmp_path / f"{stack}.html"
        path.write_text(render(data))
        page.goto(path.as_uri())
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        assert _width(page) <= WIDTH, stack
        assert "p" * 100 not in page.evaluate("() => document.body.innerText")
        titles = page.evaluate(
            "(long) => [...document.querySelectorAll('.cut')].filter(e => e.title === long).length",
            LONG,
        )
        assert titles >= 4  # legend, its numbers' column, a breakdown, a session
