"""Which periods are due: the day or Monday-to-Sunday week just ended, in the report's
zone; what a missed run catches up on; nothing twice; a schedule that changes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tests.reports.records import at

from tokenomy.reports.periods import MAX_CATCH_UP, Period, containing, due, next_due_ms

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")


def labels(periods: list[Period]) -> list[str]:
    return [p.label for p in periods]


def test_a_first_run_produces_only_the_period_just_ended() -> None:
    now = at("2026-11-18T09:00:00")  # a Wednesday
    assert labels(due("daily", UTC, now, None).periods) == ["2026-11-17"]
    weekly = due("weekly", UTC, now, None).periods
    assert labels(weekly) == ["2026-W46"]
    assert (weekly[0].first_day.isoformat(), weekly[0].last_day.isoformat()) == (
        "2026-11-09",
        "2026-11-15",
    )


def test_periods_end_at_local_midnight() -> None:
    # 23:30 UTC on Sunday the 15th is 00:30 on Monday the 16th in Paris: that week has
    # ended there, not yet in UTC.
    now = at("2026-11-15T23:30:00")
    assert labels(due("weekly", PARIS, now, None).periods) == ["2026-W46"]
    assert labels(due("weekly", UTC, now, None).periods) == ["2026-W45"]
    week = Period("weekly", containing("weekly", PARIS, now).first_day, PARIS).shifted(-1)
    assert week.start_ms == at("2026-11-08T23:00:00")  # CET, UTC+1
    assert week.end_ms == at("2026-11-15T23:00:00")


def test_a_week_across_a_clock_change_is_seven_local_days() -> None:
    week = Period("weekly", containing("weekly", PARIS, at("2026-10-28T12:00:00")).first_day, PARIS)
    assert week.label == "2026-W44"  # Monday 10-26 .. Sunday 11-01
    autumn = Period(
        "weekly", containing("weekly", PARIS, at("2026-10-21T12:00:00")).first_day, PARIS
    )
    # 2026-10-25: clocks go back in Paris, so the week of 10-19 has 169 hours.
    assert autumn.end_ms - autumn.start_ms == 169 * 3_600_000


def test_nothing_is_due_twice_and_a_missed_run_catches_up() -> None:
    now = at("2026-11-18T09:00:00")
    first = due("daily", UTC, now, None).periods
    done = first[-1].end_ms
    assert due("daily", UTC, now, done).periods == []
    assert next_due_ms("daily", UTC, now, done) == at("2026-11-19T00:00:00")
    # Three days later: the three days missed, oldest first.
    later = at("2026-11-21T00:00:01")
    assert labels(due("daily", UTC, later, done).periods) == [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
    ]
    assert next_due_ms("daily", UTC, later, done) == at("2026-11-19T00:00:00")  # overdue


def test_a_long_absence_catches_up_on_the_most_recent_periods_only() -> None:
    done = at("2026-01-01T00:00:00")
    result = due("daily", UTC, at("2026-11-18T09:00:00"), done)
    assert len(result.periods) == MAX_CATCH_UP
    assert result.periods[-1].label == "2026-11-17"
    assert result.skipped == 321 - MAX_CATCH_UP  # Jan 1 .. Nov 17 is 321 days


def test_a_schedule_that_changes_carries_on_after_what_was_covered() -> None:
    # Daily reports went out up to Wednesday 11-11 (done until Thursday 00:00); now weekly:
    # the week of 11-09 was partly covered, so its rest (Thursday to Sunday) comes next.
    done = at("2026-11-12T00:00:00")
    assert due("weekly", UTC, at("2026-11-15T23:00:00"), done).periods == []
    periods = due("weekly", UTC, at("2026-11-23T00:00:00"), done).periods
    assert labels(periods) == ["2026-W46-from-11-12", "2026-W47"]
    assert (periods[0].start_ms, periods[0].end_ms) == (done, at("2026-11-16T00:00:00"))
    assert periods[1].start_ms == periods[0].end_ms
    assert next_due_ms("weekly", UTC, at("2026-11-13T00:00:00"), done) == periods[0].end_ms


def test_a_new_time_zone_carries_on_from_the_instant_covered() -> None:
    # Daily in Paris up to 11-11 (done until 23:00Z); now daily in Kolkata (+05:30), where
    # that instant is 04:30 on 11-12: the rest of that day, then whole days.
    kolkata = ZoneInfo("Asia/Kolkata")
    done = at("2026-11-11T23:00:00")
    periods = due("daily", kolkata, at("2026-11-14T18:30:00"), done).periods
    assert labels(periods) == ["2026-11-12-from-0430", "2026-11-13", "2026-11-14"]
    assert periods[0].start_ms == done
    assert [p.start_ms for p in periods[1:]] == [p.end_ms for p in periods[:-1]]
    # Back to Paris: the Kolkata day ended at 18:30Z, 19:30 in Paris on 11-14.
    back = due("daily", PARIS, at("2026-11-16T00:00:00"), periods[-1].end_ms).periods
    assert labels(back) == ["2026-11-14-from-1930", "2026-11-15"]
    assert back[0].start_ms == periods[-1].end_ms
