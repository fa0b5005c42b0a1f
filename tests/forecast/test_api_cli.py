"""``GET /api/v1/forecast`` over HTTP and ``tokenomy forecast --json`` on stored calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.api.insight_records import call
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.cli.main import main
from tokenomy.config import Paths
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord
from tokenomy.store import Database, open_database, write_records

CATALOG = PriceCatalog.load(None)
ZONE = ZoneInfo("Europe/Paris")
LAST = date(2026, 11, 15)  # a Sunday: the history's last day
PATTERN = [1.4, 1.5, 1.3, 1.2, 1.0, 0.2, 0.4]  # Monday first


def history_calls(weeks: int = 6) -> list[CallRecord]:
    """``web`` spends $PATTERN per day (Paris noon); ``old`` spent $1 a day until four
    weeks before the end and then stopped."""
    out = []
    first = LAST - timedelta(days=weeks * 7 - 1)
    for i in range(weeks * 7):
        day = first + timedelta(days=i)
        noon = int(datetime(day.year, day.month, day.day, 12, tzinfo=ZONE).timestamp() * 1000)
        nanos = int(PATTERN[day.weekday()] * 1e9)
        out.append(call(f"web{i}", noon, project="web", cost_nanos=nanos))
        if i < weeks * 7 - 28:
            out.append(call(f"old{i}", noon + 60_000, project="old", cost_nanos=1_000_000_000))
    return out


@pytest.fixture
def api(db: Database) -> Iterator[RunningGateway]:
    write_records(db, history_calls())
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def _get(gw: RunningGateway, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(gw.url + path, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


QUERY = "/api/v1/forecast?timezone=Europe/Paris&until=2026-11-15"


def test_the_forecast_answers_history_forecast_and_totals(api: RunningGateway) -> None:
    status, body = _get(api, QUERY + "&days=14")
    assert status == 200
    assert body["first_forecast_day"] == "2026-11-16"
    assert body["forecast_buckets"][0] == "2026-11-16" and len(body["forecast_buckets"]) == 14
    assert len(body["history_buckets"]) == 84 and body["history_buckets"][-1] == "2026-11-15"
    total = body["total"]
    assert sum(total["history"]) == pytest.approx(6 * sum(PATTERN) + 14, abs=1e-6)
    assert total["history_days"] == 42
    assert len(total["forecast"]) == 14
    week = total["totals"]["7"]
    assert week["low"] <= week["expected"] <= week["high"]
    # The project is exactly periodic: its next week is its pattern.
    web = next(p for p in body["projects"] if p["key"] == "web")
    assert web["weekly_pattern"]
    assert web["totals"]["7"]["expected"] == pytest.approx(sum(PATTERN), rel=0.02)
    assert web["forecast"][1]["expected"] == pytest.approx(1.5, rel=0.02)  # a Tuesday
    old = next(p for p in body["projects"] if p["key"] == "old")
    assert old["totals"]["30"]["expected"] == 0
    assert any("stopped" in n for n in old["notes"])


def test_a_project_filter_narrows_the_forecast(api: RunningGateway) -> None:
    _, body = _get(api, QUERY + "&project=old")
    assert [p["key"] for p in body["projects"]] == ["old"]
    assert body["total"]["totals"]["7"]["expected"] == 0


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("&days=0", "days"),
        ("&days=week", "days"),
        ("&history=3", "history"),
        ("&timezone=Mars/Base", "timezone"),
        ("&horizon=7", "horizon"),
    ],
)
def test_bad_parameters_are_422s_naming_them(api: RunningGateway, query: str, param: str) -> None:
    status, body = _get(api, "/api/v1/forecast?until=2026-11-15" + query)
    assert status == 422
    assert body["error"]["param"] == param


def test_the_forecast_is_in_the_openapi_document(api: RunningGateway) -> None:
    _, doc = _get(api, "/api/v1/openapi.json")
    names = [p["name"] for p in doc["paths"]["/api/v1/forecast"]["get"]["parameters"]]
    assert "days" in names and "project" in names


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The CLI's own database, in a home of the test's."""
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    return open_database(Paths.from_env().database_url)


def _yesterday() -> date:
    """The last day of history: the CLI forecasts from today (UTC here)."""
    return datetime.now(ZoneInfo("UTC")).date() - timedelta(days=1)


def test_the_cli_prints_json(cli_home: Database, capsys: pytest.CaptureFixture[str]) -> None:
    db = cli_home
    end = _yesterday()
    calls = []
    for i in range(28):
        day = end - timedelta(days=i)
        at = int(datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("UTC")).timestamp())
        calls.append(call(f"c{i}", at * 1000, project="web", cost_nanos=2_000_000_000))
    write_records(db, calls)
    db.close()
    assert main(["forecast", "--json", "-z", "UTC", "--days", "7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["first_forecast_day"] == (end + timedelta(days=1)).isoformat()
    assert len(out["total"]["forecast"]) == 7
    assert out["total"]["totals"]["7"]["expected"] == pytest.approx(14, rel=0.01)
    assert out["total"]["totals"]["30"]["expected"] == pytest.approx(60, rel=0.01)
    assert [p["key"] for p in out["projects"]] == ["web"]
    # The table names the days actually used: from the first spend, not the window's start.
    assert main(["forecast", "-z", "UTC"]) == 0
    first = (end - timedelta(days=27)).isoformat()
    assert f"History used: 28 days from {first}" in capsys.readouterr().out


def test_the_cli_cuts_long_project_names_in_the_middle_at_80_columns(
    cli_home: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long names wrapped over several lines (which broke grep and awk): each row is one
    line, a name too long is cut in its middle, and every amount is whole."""
    db = cli_home
    end = _yesterday()
    projects = ["data-warehouse-pipeline-nightly", "data-warehouse-pipeline-weekly", "web"]
    calls = []
    for i in range(28):
        day = end - timedelta(days=i)
        at = int(datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("UTC")).timestamp())
        for n, project in enumerate(projects):
            nanos = (n + 1) * 1_500_000_000
            calls.append(call(f"c{i}-{n}", at * 1000 + n, project=project, cost_nanos=nanos))
    write_records(db, calls)
    db.close()
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["forecast", "-z", "UTC"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    assert [cells[0].strip() for cells in rows] == [
        "Total",
        "web",
        "data-…ine-weekly",
        "data-…ne-nightly",
    ]  # and nothing wrapped onto a line of its own
    assert [cell.strip() for cell in rows[3][1:]] == ["$10.50"] * 3 + ["$45.00"] * 3
    assert rows[0][-1].strip() == "$270.00"


def test_the_cli_says_what_to_do_with_nothing_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    assert main(["forecast", "-z", "UTC"]) == 0
    out = capsys.readouterr().out
    assert "tokenomy import" in out
    assert main(["forecast", "--history", "3"]) == 2


def test_calls_without_a_price_are_named_not_asked_for(
    cli_home: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    db = cli_home
    end = _yesterday()
    at = int(datetime(end.year, end.month, end.day, 12, tzinfo=ZoneInfo("UTC")).timestamp())
    write_records(db, [call(f"u{i}", at * 1000 - i, cost_nanos=None) for i in range(3)])
    db.close()
    assert main(["forecast", "-z", "UTC"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # as read, not as the terminal wrapped it
    assert "3 calls there have no known price" in out and "tokenomy prices check" in out
    assert "tokenomy import" not in out
    assert main(["forecast", "--json", "-z", "UTC"]) == 0
    assert json.loads(capsys.readouterr().out)["unknown_cost_calls"] == 3
