"""Scheduled reports against real files and a real HTTP server: pages and JSON written
once per period, a missed run caught up, webhooks retried on 5xx and 429 (honouring
Retry-After), refusals not retried, and a report that could not be delivered kept in the
outbox and sent by the next run."""

from __future__ import annotations

import fcntl
import time
from datetime import datetime
from email.utils import formatdate
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from tests.reports.hooks import Answer, webhook
from tests.reports.page import Page
from tests.reports.records import ALL, EVIL_PROJECT, HOUR, USD, at, call

from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, TokenUsage
from tokenomy.reports import ReportState, ReportStateError, ScheduledReport, Webhook, run_due
from tokenomy.reports.schedule import status
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
UTC = ZoneInfo("UTC")
TUESDAY = at("2026-11-10T06:00:00")  # week 45 (11-02..11-08) has ended, week 46 has not
SECRET = "secret-token-xyz"


class Sleeps(list[float]):
    """Records the waits between attempts instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def weekly(folder: Path | None = None, hook: Webhook | None = None, **kw: Any) -> ScheduledReport:
    return ScheduledReport("team", "weekly", UTC, folder=folder, webhook=hook, **kw)


def test_a_folder_gets_each_period_once_and_a_missed_run_catches_up(
    db: Database, tmp_path: Path
) -> None:
    write_records(db, ALL)
    state = ReportState(tmp_path / "data" / "reports")
    out = tmp_path / "out"
    result = run_due(db, CATALOG, [weekly(out)], state, TUESDAY)
    assert result.ok
    assert [(o.report, o.period) for o in result.outcomes] == [("team", "2026-W45")]
    assert sorted(p.name for p in out.iterdir()) == ["team-2026-W45.html", "team-2026-W45.json"]
    data = orjson.loads((out / "team-2026-W45.json").read_bytes())
    assert (data["summary"]["calls"], data["summary"]["cost_usd"]) == (5, 3.75)
    assert data["range"]["first_day"] == "2026-11-02" and data["range"]["last_day"] == "2026-11-08"
    assert len(data["chart"]["buckets"]) == 7  # a week is drawn per day
    page = Page((out / "team-2026-W45.html").read_text())
    assert page.problems == []
    assert page.cards["Cost"][0] == "$3.75+"
    assert "team" in page.all_text and "2026-W45" in page.all_text
    # Again: nothing more to do.
    assert run_due(db, CATALOG, [weekly(out)], state, TUESDAY + 3_600_000).outcomes == []
    # Two weeks later, the two weeks missed, oldest first.
    later = run_due(db, CATALOG, [weekly(out)], state, at("2026-11-23T00:00:00"))
    assert [o.period for o in later.outcomes] == ["2026-W46", "2026-W47"]
    w46 = orjson.loads((out / "team-2026-W46.json").read_bytes())
    assert (w46["summary"]["calls"], w46["summary"]["cost_usd"]) == (1, 0.25)
    w47 = Page((out / "team-2026-W47.html").read_text())
    assert "No calls in this range" in w47.all_text
    [row] = status([weekly(out)], state, at("2026-11-23T00:00:00"))
    assert (row["last_period"], row["due_now"]) == ("2026-W47", False)
    assert row["next_due"] == "2026-11-30T00:00:00+00:00"


def test_a_daily_report_is_drawn_per_hour_with_its_filters(
    sqlite_db: Database, tmp_path: Path
) -> None:
    write_records(sqlite_db, ALL)
    report = ScheduledReport(
        "web", "daily", UTC, filters={"project": ("web",)}, folder=tmp_path / "out"
    )
    result = run_due(
        sqlite_db, CATALOG, [report], ReportState(tmp_path / "s"), at("2026-11-04T01:00:00")
    )
    assert [o.period for o in result.outcomes] == ["2026-11-03"]
    data = orjson.loads((tmp_path / "out" / "web-2026-11-03.json").read_bytes())
    assert data["filters"] == {"project": ["web"]}
    assert (data["summary"]["calls"], data["summary"]["failed_calls"]) == (2, 1)
    assert data["chart"]["interval"] == "hour" and len(data["chart"]["buckets"]) == 24


def test_a_daily_report_of_a_23_hour_day_draws_23_hours(db: Database, tmp_path: Path) -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 2026-03-29: 02:00 CET becomes 03:00 CEST
    report = ScheduledReport("team", "daily", berlin, folder=tmp_path / "out")
    run_due(db, CATALOG, [report], ReportState(tmp_path / "s"), at("2026-03-30T00:00:00"))
    data = orjson.loads((tmp_path / "out" / "team-2026-03-29.json").read_bytes())
    buckets = data["chart"]["buckets"]
    assert len(buckets) == 23
    assert buckets[1:3] == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]


def test_a_schedule_that_changes_reports_every_call_once(db: Database, tmp_path: Path) -> None:
    # A call every 5 hours from 01:00Z on Monday 11-09 to 19:00Z on Sunday 11-22.
    times = [at("2026-11-09T01:00:00") + i * 5 * HOUR for i in range(67)]
    write_records(db, [CallRecord("sdk", f"c{i}", t, TokenUsage(1)) for i, t in enumerate(times)])
    state, out = ReportState(tmp_path / "s"), tmp_path / "out"
    berlin = ZoneInfo("Europe/Berlin")
    runs = [  # daily, then weekly from mid-week, then daily in Kolkata from mid-day
        (ScheduledReport("team", "daily", berlin, folder=out), "2026-11-10T23:30:00"),
        (ScheduledReport("team", "weekly", berlin, folder=out), "2026-11-15T23:00:00"),
        (
            ScheduledReport("team", "daily", ZoneInfo("Asia/Kolkata"), folder=out),
            "2026-11-22T18:30:00",
        ),
    ]
    for report, now in runs:
        assert run_due(db, CATALOG, [report], state, at(now)).ok
    ranges = {}
    for path in out.glob("*.json"):
        data = orjson.loads(path.read_bytes())
        start, end = (
            int(datetime.fromisoformat(data["range"][k]).timestamp() * 1000)
            for k in ("start", "end")
        )
        ranges[path.stem.removeprefix("team-")] = (start, end, data["summary"]["calls"])
    # Berlin's 11-10; the rest of week 46 from Wednesday 11-11 (Berlin); the rest of 11-16
    # in Kolkata from 04:30 there (Monday 00:00 in Berlin), then Kolkata's whole days.
    assert sorted(ranges, key=lambda k: ranges[k][0]) == [
        "2026-11-10",
        "2026-W46-from-11-11",
        "2026-11-16-from-0430",
        *(f"2026-11-{d}" for d in range(17, 23)),
    ]
    # The ranges follow each other with no gap and no overlap, and hold every call once.
    spans = sorted(ranges.values())
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert (spans[0][0], spans[-1][1]) == (at("2026-11-09T23:00:00"), at("2026-11-22T18:30:00"))
    assert sum(n for _, _, n in spans) == sum(spans[0][0] <= t < spans[-1][1] for t in times)


def test_a_webhook_500_then_200_is_retried_and_gets_the_summary_and_page(
    sqlite_db: Database, tmp_path: Path
) -> None:
    write_records(sqlite_db, ALL)
    sleeps = Sleeps()
    state = ReportState(tmp_path / "s")
    with webhook(Answer(500, body=b"oops")) as hook:
        result = run_due(
            sqlite_db, CATALOG, [weekly(hook=Webhook(hook.url))], state, TUESDAY, sleep=sleeps
        )
    [outcome] = result.outcomes
    assert outcome.ok, outcome.errors
    assert (outcome.status, outcome.files, outcome.kept) == (200, [], [])
    assert len(hook.received) == 2
    assert hook.received[0].body == hook.received[1].body
    assert sleeps == [1.0]  # the default backoff before the first retry
    first = hook.received[0]
    assert first.path == "/hook/T0123/B0456/" + SECRET
    assert first.headers["Content-Type"] == "application/json"
    body = first.json()
    assert body["text"] == (
        "Tokenomy report team 2026-W45 2026-11-02 to 2026-11-08 (UTC): $3.75+ over 5 calls, "
        "1 failed (20.0%). Top models: claude-sonnet-4-5 $3.25, gpt-4o $0.50, "
        'm"&lt;b&gt;&amp;x ?. 1 call has no price.'  # escaped for Slack's markup
    )
    assert (body["report"], body["period"]) == ("team", "2026-W45")
    assert body["summary"]["calls"] == 5 and body["summary"]["unknown_cost_calls"] == 1
    page = Page(body["html"])
    assert page.problems == [] and EVIL_PROJECT in page.all_text
    assert status([weekly()], state, TUESDAY)[0]["last_period"] == "2026-W45"


@pytest.mark.parametrize("header", ["7", "date"])
def test_a_429_waits_as_long_as_retry_after_says(
    sqlite_db: Database, tmp_path: Path, header: str
) -> None:
    value = "7" if header == "7" else formatdate(time.time() + 30, usegmt=True)
    sleeps = Sleeps()
    with webhook(Answer(429, {"Retry-After": value})) as hook:
        result = run_due(
            sqlite_db,
            CATALOG,
            [weekly(hook=Webhook(hook.url))],
            ReportState(tmp_path / "s"),
            TUESDAY,
            sleep=sleeps,
        )
    assert result.ok and len(hook.received) == 2
    assert len(sleeps) == 1
    if header == "7":
        assert sleeps == [7.0]
    else:  # an HTTP date 30 s ahead, to the second
        assert 25 < sleeps[0] <= 30


def test_a_webhook_that_keeps_failing_keeps_the_report_for_the_next_run(
    sqlite_db: Database, tmp_path: Path
) -> None:
    write_records(sqlite_db, ALL)
    state = ReportState(tmp_path / "s")
    out = tmp_path / "out"
    sleeps = Sleeps()
    with webhook(then=Answer(503, body=b"down for maintenance")) as hook:
        report = weekly(out, Webhook(hook.url, retries=2, backoff=0.5))
        result = run_due(sqlite_db, CATALOG, [report], state, TUESDAY, sleep=sleeps)
    assert not result.ok
    assert len(hook.received) == 3 and sleeps == [0.5, 1.0]
    [outcome] = result.outcomes
    [error] = outcome.errors
    port = hook.url.split(":")[2].split("/")[0]
    assert error == (
        f"report team: webhook http://127.0.0.1:{port}/hook/T0123/B0456/secr… failed after "
        "3 attempts: HTTP 503 Service Unavailable: down for maintenance"
    )
    assert SECRET not in error
    # Written to its folder all the same, and kept in the outbox; not marked as produced.
    assert (out / "team-2026-W45.html").is_file()
    kept = sorted(p.name for p in state.outbox.iterdir())
    assert kept == ["team-2026-W45.html", "team-2026-W45.json"]
    assert Page((state.outbox / "team-2026-W45.html").read_text()).cards["Calls"][0] == "5"
    [row] = status([report], state, TUESDAY)
    assert (row["last_period"], row["due_now"], row["waiting"]) == (None, True, 1)
    # The next run, a week later, the hook is back: the first schedule's failed week is
    # delivered first (it used to be taken for a first run again, and W45 was lost), then
    # the week since; the outbox copy goes.
    a_week_later = TUESDAY + 7 * 86_400_000
    with webhook() as hook:
        again = run_due(sqlite_db, CATALOG, [weekly(out, Webhook(hook.url))], state, a_week_later)
    assert again.ok and [o.period for o in again.outcomes] == ["2026-W45", "2026-W46"]
    assert len(hook.received) == 2
    assert list(state.outbox.iterdir()) == []


def test_one_failing_report_does_not_stop_the_others(sqlite_db: Database, tmp_path: Path) -> None:
    state = ReportState(tmp_path / "s")
    with webhook(then=Answer(500)) as hook:
        bad = ScheduledReport("bad", "daily", UTC, webhook=Webhook(hook.url, retries=0))
        good = ScheduledReport("good", "daily", UTC, folder=tmp_path / "out")
        result = run_due(sqlite_db, CATALOG, [bad, good], state, TUESDAY)
    assert [(o.report, o.ok) for o in result.outcomes] == [("bad", False), ("good", True)]
    assert [o.report for o in result.outcomes if o.ok] == ["good"]
    assert "failed after 1 attempt: HTTP 500" in result.outcomes[0].errors[0]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            Answer(400, body=b"invalid_payload"),
            "refused the report: HTTP 400 Bad Request: invalid_payload",
        ),
        (
            Answer(302, {"Location": "http://elsewhere.example/"}),
            "answered HTTP 302 Found to http://elsewhere.example/; redirects are not followed",
        ),
    ],
)
def test_a_refusal_or_a_redirect_is_not_retried(
    sqlite_db: Database, tmp_path: Path, answer: Answer, expected: str
) -> None:
    with webhook(then=answer) as hook:
        result = run_due(
            sqlite_db,
            CATALOG,
            [weekly(hook=Webhook(hook.url))],
            ReportState(tmp_path / "s"),
            TUESDAY,
        )
    assert len(hook.received) == 1
    assert expected in result.outcomes[0].errors[0]


def test_a_server_that_does_not_answer_in_time_fails_with_no_answer(
    sqlite_db: Database, tmp_path: Path
) -> None:
    with webhook(then=Answer(delay=2.0)) as hook:
        result = run_due(
            sqlite_db,
            CATALOG,
            [weekly(hook=Webhook(hook.url, timeout=0.2, retries=0))],
            ReportState(tmp_path / "s"),
            TUESDAY,
        )
    assert "failed after 1 attempt: no answer (timed out)" in result.outcomes[0].errors[0]


def test_the_page_can_be_left_out_of_the_webhook(sqlite_db: Database, tmp_path: Path) -> None:
    with webhook() as hook:
        run_due(
            sqlite_db,
            CATALOG,
            [weekly(hook=Webhook(hook.url, html=False))],
            ReportState(tmp_path / "s"),
            TUESDAY,
        )
    body = hook.received[0].json()
    assert "html" not in body
    assert body["text"].endswith("no calls in this range.")


def test_the_webhook_text_escapes_names_for_slack(sqlite_db: Database, tmp_path: Path) -> None:
    """A model named with Slack's markup must not ping the channel or show a disguised
    link: & < > reach Slack as entities, the way its "Escaping text" rule asks."""
    evil = "web <!channel> <https://evil.example/login|Re-authenticate billing> & co"
    write_records(sqlite_db, [call("x", "2026-11-03T10:00:00", model=evil, cost_nanos=USD)])
    with webhook() as hook:
        run_due(
            sqlite_db,
            CATALOG,
            [weekly(hook=Webhook(hook.url, html=False))],
            ReportState(tmp_path / "s"),
            TUESDAY,
        )
    text = hook.received[0].json()["text"]
    assert "Top models: web &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate" in text
    assert "billing&gt; &amp; co $1.00." in text
    assert "<" not in text and ">" not in text


def test_a_run_holds_a_lock_and_a_broken_state_file_says_what_to_do(
    sqlite_db: Database, tmp_path: Path
) -> None:
    state = ReportState(tmp_path / "s")
    with (
        state.locked(),
        (state.folder / ".lock").open("rb") as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    state.path.write_text("{not json")
    with pytest.raises(ReportStateError, match="delete it to start over"):
        run_due(sqlite_db, CATALOG, [weekly(tmp_path / "out")], state, TUESDAY)
