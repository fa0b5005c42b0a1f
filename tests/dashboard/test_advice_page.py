"""The Advice page in a real Chromium against a real server: the recommendations appear in
the API's order with its monthly savings, each links to the calls that show it and to its
example calls, what was not assessed is listed, an empty range says what to do next, names
stay text, and the page reads in both themes, by keyboard and on a phone."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.advise.recommend_records import (
    SINCE,
    UNTIL,
    batch_job,
    duplicates,
    long_contexts,
    retry_storm,
)
from tests.dashboard.seed import HOSTILE
from tests.dashboard.test_browser import _contrast
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
# The ten days the records are built for; their savings per 30 days are three times theirs.
VIEW = f"page=advice&range=custom&since={SINCE}&until={UNTIL}&tz=UTC"
EMPTY_VIEW = "page=advice&range=custom&since=2020-01-01&until=2020-01-02&tz=UTC"


def priced(records: list[CallRecord]) -> list[CallRecord]:
    """Records priced by the catalog, as the importers store them."""
    for r in records:
        if r.cost_nanos is None:
            r.cost_nanos = CATALOG.cost_nanos(
                r.provider, r.response_model, r.usage, r.started_at_ms
            )
    return records


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[RunningGateway]:
    write_records(
        sqlite_db, [*duplicates(), *batch_job(), *retry_storm(), *priced(long_contexts())]
    )
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        yield gw


def open_view(page: Any, server: RunningGateway, query: str) -> None:
    page.goto(f"{server.url}/?{query}")
    page.wait_for_selector("main h1")
    page.wait_for_function("() => !document.querySelector('main .loading')")


def advise_api(server: RunningGateway) -> dict[str, Any]:
    """What the page reads: the same range and limit."""
    url = f"{server.url}/api/v1/advise?since={SINCE}&until={UNTIL}&timezone=UTC&limit=50"
    with urllib.request.urlopen(url, timeout=10) as resp:
        result: dict[str, Any] = json.load(resp)
    return result


def dollars(value: float) -> str:
    """A saving as the page writes it: cents from a dollar up, else three significant
    digits (at least two decimals, at most four)."""
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    digits = min(4, max(2, 2 - math.floor(math.log10(abs(value))))) if value else 2
    whole, cents = f"{value:.{digits}f}".split(".")
    return f"${whole}.{cents.rstrip('0').ljust(2, '0')}"


def recommendation(page: Any, kind: str) -> Any:
    return page.locator(f"[data-testid=recommendation][data-kind={kind}]")


def test_recommendations_come_in_the_apis_order_with_its_monthly_savings(
    page: Any, server: RunningGateway
) -> None:
    open_view(page, server, VIEW)
    expected = advise_api(server)
    rows = page.get_by_test_id("recommendation")
    expect(rows).to_have_count(len(expected["rows"]))
    assert [r["kind"] for r in expected["rows"]] == [
        rows.nth(i).get_attribute("data-kind") for i in range(rows.count())
    ]
    for i, r in enumerate(expected["rows"]):
        row = rows.nth(i)
        expect(row.locator("h3")).to_have_text(f"{i + 1}. {r['title']}")
        expect(row.locator(".saving")).to_have_text(dollars(r["monthly_savings_usd"]))
        expect(row.locator(".basis .badge")).to_have_text(r["basis"])
        expect(row.locator(".rec-advice")).to_have_text(r["advice"].replace("`", ""))
        expect(row.locator(".rec-evidence")).to_have_text(r["evidence"].replace("`", ""))
    savings = [r["monthly_savings_usd"] for r in expected["rows"]]
    assert savings == sorted(savings, reverse=True)
    # Worked out by hand in tests/advise/recommend_records.py: ten days scaled to thirty.
    expect(recommendation(page, "exact_cache").locator(".saving")).to_have_text("$0.03")
    expect(recommendation(page, "batch_api").locator(".saving")).to_have_text("$0.018")
    expect(recommendation(page, "exact_cache").locator(".basis .badge")).to_have_text("measured")
    # The headline: every row's saving a month against the spend a month.
    s = expected["summary"]
    figure = page.get_by_test_id("advice-headline").locator(".headline-figure")
    expect(figure.locator("strong")).to_have_text(
        [dollars(s["monthly_savings_usd"]), dollars(s["monthly_spend_usd"])]
    )
    expect(figure).to_contain_text("a month of")
    expect(figure).to_contain_text("could be saved")
    by_kind = page.get_by_test_id("by-kind")
    expect(by_kind.get_by_role("row", name=re.compile("^Exact response cache"))).to_contain_text(
        "$0.03"
    )
    expect(by_kind.get_by_role("row", name=re.compile("^Batch API"))).to_contain_text("$0.018")


def test_the_headline_and_a_basis_explain_themselves(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW)
    tip = page.get_by_test_id("advice-headline").get_by_role("tooltip")
    expect(tip).to_be_hidden()
    page.get_by_role("button", name="How are these savings worked out?").hover()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("30 days")
    expect(tip).to_contain_text("overlap")
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    # By keyboard too.
    row = recommendation(page, "long_context")
    row.get_by_role("button", name="What does upper bound mean?").focus()
    expect(row.get_by_role("tooltip")).to_be_visible()
    expect(row.get_by_role("tooltip")).to_contain_text("the most the change could save")


def test_a_rows_calls_link_opens_the_calls_page_filtered_by_its_query(
    page: Any, server: RunningGateway
) -> None:
    open_view(page, server, VIEW)
    row = recommendation(page, "exact_cache")
    expect(row.locator(".calls-count")).to_have_text("3 calls")  # what the advice counted
    row.get_by_role("link", name="open its calls").click()
    page.wait_for_url(re.compile(r"page=calls"))
    assert "project=faq" in page.url and "q=h1" in page.url
    expect(page.locator("#calls-q")).to_have_value("h1")
    expect(page.locator(".chip").filter(has_text="project: faq")).to_have_count(1)
    # Prompt h1's seven calls in faq: the failed first try, five paid, one cache hit.
    listed = page.locator("main table tbody tr")
    expect(listed).to_have_count(7)
    assert set(listed.locator("td:nth-child(3)").all_inner_texts()) == {"faq"}


def test_a_storms_link_opens_its_minutes_as_a_custom_range(
    page: Any, server: RunningGateway
) -> None:
    open_view(page, server, VIEW)
    recommendation(page, "retry_storm").get_by_role("link", name="open its calls").click()
    page.wait_for_url(re.compile(r"page=calls"))
    assert "range=custom" in page.url and "status=error" in page.url
    assert "since=2026-11-04T00%3A00%3A00.000Z" in page.url
    # The two minutes of the storm: 6 and 5 failures.
    expect(page.locator("main table tbody tr")).to_have_count(11)


def test_an_example_link_opens_that_calls_detail(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW)
    row = recommendation(page, "exact_cache")
    expect(row.locator(".examples a")).to_have_text(["dup-5", "dup-3", "dup-2"])
    row.get_by_role("link", name="Example call dup-3").click()
    page.wait_for_url(re.compile(r"call=dup-3"))
    expect(page.get_by_role("region", name="Call")).to_contain_text("dup-3")
    expect(page.get_by_role("link", name="faq")).to_have_count(1)


def test_what_was_not_assessed_is_listed(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW)
    notes = page.get_by_test_id("not-assessed")
    expect(notes.locator("li")).to_have_count(len(advise_api(server)["not_assessed"]))
    expect(notes).to_contain_text("Cheaper model: no evaluation results")
    expect(notes).to_contain_text("Semantic cache: no captured prompts")
    expect(notes.locator("code")).to_contain_text(["tokenomy serve --capture-content"])


def test_the_export_buttons_download_the_recommendations(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW)
    region = page.get_by_role("region", name="Recommendations")
    with page.expect_download() as info:
        region.get_by_role("button", name="Download advice as CSV").click()
    download = info.value
    assert download.suggested_filename == "advice.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("kind,title,")
    assert len(lines) == 1 + len(advise_api(server)["rows"])


def test_an_empty_range_says_what_to_do_next(page: Any, server: RunningGateway) -> None:
    open_view(page, server, EMPTY_VIEW)
    empty = page.get_by_test_id("empty")
    expect(empty).to_contain_text("No recommendations for this range")
    expect(empty).to_contain_text("tokenomy import")
    expect(empty).to_contain_text("OPENAI_BASE_URL")
    expect(empty).to_contain_text("widen the range")
    expect(page.get_by_test_id("recommendation")).to_have_count(0)
    # One click widens it.
    empty.get_by_role("link", name="the last 90 days").click()
    page.wait_for_url(re.compile(r"range=90d"))
    expect(page.locator("#range-preset")).to_have_value("90d")


def test_keyboard_reaches_the_advice_page(page: Any, server: RunningGateway) -> None:
    open_view(page, server, VIEW.replace("page=advice", "page=overview"))
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Advice":
            break
    else:
        pytest.fail("the Advice link was not reachable by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"page=advice"))
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Advice")
    expect(page.get_by_test_id("recommendation").first).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_advice_text_has_sufficient_contrast_in_both_themes(
    browser: Any, server: RunningGateway, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    open_view(page, server, VIEW)
    expect(page.get_by_test_id("recommendation").first).to_be_visible()
    for selector in (
        ".headline-figure",
        ".headline .muted",
        ".rec h3",
        ".rec .saving",
        ".rec-meta .muted",
        ".rec-advice",
        ".rec-evidence",
        ".rec-links a",
        ".rec-links .examples",
        "[data-kind=exact_cache] .badge",
        "[data-kind=batch_api] .badge",
        "[data-kind=long_context] .badge",
        ".legend dd",
        ".not-assessed li",
    ):
        assert _contrast(page, selector) >= 4.5, (scheme, selector)
    context.close()


@pytest.mark.parametrize("view", [VIEW, EMPTY_VIEW])
def test_readable_on_a_phone(browser: Any, server: RunningGateway, view: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    open_view(page, server, view)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    context.close()


def test_names_are_shown_as_text_never_as_markup(page: Any, sqlite_db: Database) -> None:
    records = duplicates()
    for r in records:
        r.project = HOSTILE
    write_records(sqlite_db, records)
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        open_view(page, gw, VIEW)
        row = recommendation(page, "exact_cache")
        expect(row.locator("h3")).to_contain_text(f"in {HOSTILE}")
        expect(row.locator(".rec-meta")).to_contain_text(f"project {HOSTILE}")
        assert page.evaluate("window.pwned") is None
        assert page.locator("main img").count() == 0
        # Its calls link carries the name as a filter, also shown as text.
        row.get_by_role("link", name="open its calls").click()
        page.wait_for_url(re.compile(r"page=calls"))
        expect(page.locator(".chip").first).to_contain_text(f"project: {HOSTILE}")
        expect(page.locator("main table tbody tr")).to_have_count(7)
        assert page.evaluate("window.pwned") is None
