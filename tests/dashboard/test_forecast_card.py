"""The Costs page's "Spend forecast" card in a real Chromium: the chart of history and
forecast (with the 80% interval as two more lines) and the 7- and 30-day totals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.dashboard.test_browser import open_view
from tests.forecast.test_api_cli import PATTERN, history_calls
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
VIEW = "range=custom&since=2026-10-05&until=2026-11-15&tz=Europe/Paris&page=costs"


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[RunningGateway]:
    write_records(sqlite_db, history_calls())
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        yield gw


def test_the_costs_page_shows_the_spend_forecast(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW)
    card = page.get_by_role("region", name="Spend forecast")
    card.get_by_test_id("forecast").wait_for()
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=forecast] canvas');"
        " return c && Chart.getChart(c) !== undefined; }"
    )
    labels = page.evaluate(
        "() => Chart.getChart(document.querySelector('[data-testid=forecast] canvas'))"
        ".data.datasets.map((d) => d.label)"
    )
    assert labels == ["Spent", "Forecast", "Low (10%)", "High (90%)"]
    points = page.evaluate(
        "() => Chart.getChart(document.querySelector('[data-testid=forecast] canvas'))"
        ".data.labels.length"
    )
    assert points == 28 + 30  # four weeks of history, then thirty days ahead
    rows = card.locator("table").last.locator("tbody tr")
    assert rows.first.locator("td").first.inner_text() == "Total"
    web = rows.filter(has_text="web").locator("td").nth(1).inner_text()
    assert web.startswith(f"${sum(PATTERN):.2f}")  # web's week repeats its pattern exactly
    assert "From 2026-11-16" in card.inner_text()
