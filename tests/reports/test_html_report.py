"""The HTML report on SQLite and PostgreSQL: the figures of records the tests wrote (each
worked out by hand in tests/reports/records.py), the API's own numbers, a page that loads
nothing and escapes every name, weeks and months folded from days, and an empty range."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.reports.page import Page
from tests.reports.records import ALL, EVIL_MODEL, EVIL_PROJECT, SONNET, at, call

from tokenomy.api import failures, queries, top
from tokenomy.api.params import Scope
from tokenomy.pricing import PriceCatalog
from tokenomy.reports import ReportSpec, collect, render
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
UTC = ZoneInfo("UTC")
NOW = at("2026-11-20T00:00:00")
WEEK = Scope(UTC, at("2026-11-02T00:00:00"), at("2026-11-09T00:00:00"))


def page_for(db: Database, spec: ReportSpec) -> tuple[dict[str, Any], str, Page]:
    data = collect(db, CATALOG, spec, NOW)
    text = render(data, "9.9")
    page = Page(text)
    assert page.problems == []
    return data, text, page


def test_the_page_shows_the_figures_of_the_calls(db: Database) -> None:
    write_records(db, ALL)
    _, _, page = page_for(db, ReportSpec(WEEK))
    # 5 calls (the runner record left out), $3.75 known, one call with no price: the cost
    # is marked + because it leaves that call out.
    assert page.cards["Cost"] == ("$3.75+", "1 call without a price not included")
    assert page.cards["Calls"][0] == "5"
    assert page.cards["Failed calls"] == ("1", "20.0% error rate")
    assert page.cards["Tokens"] == ("8,500", "700 output")
    assert page.cards["Unknown cost"][0] == "1"
    # Sonnet 4.5: 4,000 cache reads at $0.30 instead of $3 per million tokens: $0.0108.
    assert page.cards["Cache savings"][0] == "$0.011"
    assert page.table("Tokens per category")[1:] == [
        ["Input (not cached)", "3,800", "44.7%", ""],
        ["Cache reads", "4,000", "47.1%", ""],
        ["Cache writes, 5 minutes", "0", "0%", ""],
        ["Cache writes, 1 hour", "0", "0%", ""],
        ["Output", "700", "8.2%", ""],
        ["Total", "8,500", "", ""],
    ]
    assert page.table("Cost by model")[1:] == [
        [SONNET, "$3.25", "", "3", "1", "7,600", "0"],
        ["gpt-4o", "$0.50", "", "1", "0", "600", "0"],
        [EVIL_MODEL, "?", "", "1", "0", "300", "1"],  # no price: not free
    ]
    assert [r[:4] for r in page.table("Cost by project")[1:]] == [
        ["api", "$2.00+", "", "2"],  # call d, api's, has no price
        ["web", "$1.25", "", "2"],
        [EVIL_PROJECT, "$0.50", "", "1"],
    ]
    assert page.table("Cost by source")[1:] == [["sdk", "$3.75+", "", "5", "1", "8,500", "1"]]
    sessions = page.table("Top sessions")
    assert [r[:5] for r in sessions[1:]] == [
        ["s3", "api", "$2.00", "1", "2,400"],
        ["s1", "web", "$1.25", "2", "5,200"],
        ["s2", EVIL_PROJECT, "$0.50", "1", "600"],
    ]
    assert sessions[2][6] == "2026-11-03 12:00"  # last call, in the report's zone
    assert page.table("Failures")[1:] == [
        ["overloaded", f"anthropic · {SONNET}", "1", "20.0%", "529", "$0.00", "2026-11-03 12:00"]
    ]
    chart = page.table("Cost per day, by model")
    assert chart[0] == ["Day", SONNET, "gpt-4o", EVIL_MODEL, "Total"]
    assert [(r[0], r[-1]) for r in chart[1:]] == [
        ("2026-11-02", "$0.00"),
        ("2026-11-03", "$1.75"),
        ("2026-11-04", "$0.00"),
        ("2026-11-05", "$2.00"),
        ("2026-11-06", "$0.00"),
        ("2026-11-07", "$0.00"),
        ("2026-11-08", "$0.00"),
    ]
    assert "2026-11-02 – 2026-11-08 (UTC)" in page.all_text


def test_the_figures_are_the_apis(db: Database) -> None:
    write_records(db, ALL)
    data = collect(db, CATALOG, ReportSpec(WEEK, stack="project"), NOW)
    assert data["summary"] == queries.summary(db, WEEK, CATALOG)
    assert data["summary"]["cache"]["prompt_cache_savings_usd"] == 0.0108
    assert data["breakdowns"]["model"] == queries.breakdown(db, WEEK, "model", "cost", True, 12)
    assert data["top_sessions"] == top.top(db, WEEK, "sessions", 10)["rows"]
    assert data["failures"] == failures.failures(db, WEEK, 10, "day")
    chart = data["chart"]
    series = {s["key"]: s["values"] for s in chart["series"]}
    assert series == {
        "api": [0, 0, 0, 2.0, 0, 0, 0],
        "web": [0, 1.25, 0, 0, 0, 0, 0],
        EVIL_PROJECT: [0, 0.5, 0, 0, 0, 0, 0],
    }


def test_the_page_loads_nothing_and_escapes_every_name(sqlite_db: Database) -> None:
    write_records(sqlite_db, ALL)
    _, text, page = page_for(sqlite_db, ReportSpec(WEEK, stack="project"))
    assert "http://" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "b", "base"}
    assert not [a for _, attrs in page.tags for a in attrs if a in ("src", "href", "srcset")]
    assert any(
        tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
        for tag, attrs in page.tags
    )
    # The names are there as text, escaped in the markup wherever they appear: table
    # cells, the legend, the chart's bar titles.
    assert EVIL_PROJECT in page.all_text and EVIL_MODEL in page.all_text
    assert "<script" not in text.lower()
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "m&quot;&lt;b&gt;&amp;x" in text
    # The chart is an image with a title and a description for screen readers.
    svg = next(attrs for tag, attrs in page.tags if tag == "svg" and attrs.get("role") == "img")
    assert svg["aria-labelledby"] == "cost-chart-t cost-chart-d"
    assert re.search(r'<title id="cost-chart-t">Cost per day, by project</title>', text)


def test_an_empty_range_says_how_to_get_calls(db: Database) -> None:
    write_records(db, ALL)
    empty = Scope(UTC, at("2026-01-01T00:00:00"), at("2026-01-02T00:00:00"))
    data, _, page = page_for(db, ReportSpec(empty, interval="hour"))
    assert data["summary"]["calls"] == 0
    assert "No calls in this range: import logs with tokenomy import" in page.all_text
    assert not page.tables
    # Nothing stored at all, and no range given.
    db_empty = Scope(UTC, None, None, {"project": ("nothing-here",)})
    data, _, page = page_for(db, ReportSpec(db_empty))
    assert data["range"]["first_day"] is None
    assert "all time (UTC)" in page.all_text


def test_weeks_and_months_are_sums_of_local_days(db: Database) -> None:
    write_records(db, ALL)
    two_weeks = Scope(UTC, at("2026-11-01T00:00:00"), at("2026-11-15T00:00:00"))
    data = collect(db, CATALOG, ReportSpec(two_weeks, interval="week"), NOW)
    chart = data["chart"]
    # 2026-11-01 is a Sunday: the first bar is the week of Monday 10-26 (one day of it).
    assert chart["buckets"] == ["2026-10-26", "2026-11-02", "2026-11-09"]
    totals = [sum(s["values"][i] for s in chart["series"]) for i in range(3)]
    assert totals == [0, 3.75, 0.25]
    data = collect(db, CATALOG, ReportSpec(two_weeks, interval="month"), NOW)
    assert data["chart"]["buckets"] == ["2026-11"]
    assert sum(s["values"][0] for s in data["chart"]["series"]) == 4.0
    _, _, page = page_for(db, ReportSpec(two_weeks, interval="week"))
    rows = page.table("Cost per week, by model")
    assert [(r[0], r[-1]) for r in rows[1:]] == [
        ("week of 2026-10-26", "$0.00"),
        ("week of 2026-11-02", "$3.75"),
        ("week of 2026-11-09", "$0.25"),
    ]


def test_a_day_when_clocks_go_back_is_one_local_day(sqlite_db: Database) -> None:
    ny = ZoneInfo("America/New_York")  # 2026-11-01: 02:00 EDT becomes 01:00 EST
    write_records(
        sqlite_db,
        [  # 01:30 EDT and 01:30 EST: two calls an hour apart at the same local time
            call("x", "2026-11-01T05:30:00", cost_nanos=1_000_000_000),
            call("y", "2026-11-01T06:30:00", cost_nanos=2_000_000_000),
        ],
    )
    day = Scope(ny, at("2026-11-01T04:00:00"), at("2026-11-02T05:00:00"))  # 25 hours
    data = collect(sqlite_db, CATALOG, ReportSpec(day, interval="hour"), NOW)
    assert data["range"]["first_day"] == data["range"]["last_day"] == "2026-11-01"
    assert data["range"]["start"] == "2026-11-01T00:00:00-04:00"
    assert data["range"]["end"] == "2026-11-02T00:00:00-05:00"
    # Hours of real time, as the API's timeseries draws them: 01:00 EDT, then 01:00 EST.
    buckets = data["chart"]["buckets"]
    assert len(buckets) == 25
    values = data["chart"]["series"][0]["values"]
    assert values[buckets.index("2026-11-01T01:00:00-04:00")] == 1.0
    assert values[buckets.index("2026-11-01T01:00:00-05:00")] == 2.0
    text = render(data, "9.9")
    assert "2026-11-01 01:00 (UTC-04:00)" in text and "2026-11-01 01:00 (UTC-05:00)" in text


def test_a_day_when_clocks_go_forward_has_no_hour_they_skipped(db: Database) -> None:
    ny = ZoneInfo("America/New_York")  # 2026-03-08: 02:00 EST becomes 03:00 EDT
    write_records(db, [call("x", "2026-03-08T07:30:00", cost_nanos=1_000_000_000)])
    day = Scope(ny, at("2026-03-08T05:00:00"), at("2026-03-09T04:00:00"))  # 23 hours
    data = collect(db, CATALOG, ReportSpec(day, interval="hour"), NOW)
    buckets = data["chart"]["buckets"]
    assert len(buckets) == 23
    assert buckets[1:3] == ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"]
    assert data["chart"]["series"][0]["values"][2] == 1.0  # 03:30 EDT


@pytest.mark.parametrize(("interval", "stack"), [("fortnight", "model"), ("day", "colour")])
def test_a_chart_it_cannot_draw_is_refused(sqlite_db: Database, interval: str, stack: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        collect(sqlite_db, CATALOG, ReportSpec(WEEK, interval=interval, stack=stack), NOW)
