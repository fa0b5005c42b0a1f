"""Period ids and reset times: daily and monthly, in several zones, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tokenomy.budgets.periods import window

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")  # springs forward at midnight: 00:00 never happens
AZORES = ZoneInfo("Atlantic/Azores")  # falls back from 01:00 to 00:00: midnight happens twice


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_daily_in_utc() -> None:
    w = window("daily", UTC_ZONE, at("2026-11-21T13:45:00+00:00"))
    assert w.id == "2026-11-21"
    assert w.start.isoformat() == "2026-11-21T00:00:00+00:00"
    assert w.end.isoformat() == "2026-11-22T00:00:00+00:00"
    assert w.seconds_left(at("2026-11-21T23:59:59.5+00:00")) == 1


def test_monthly_rolls_over_the_year_and_knows_leap_february() -> None:
    dec = window("monthly", UTC_ZONE, at("2026-12-31T23:59:59+00:00"))
    assert (dec.id, dec.end.isoformat()) == ("2026-12", "2027-01-01T00:00:00+00:00")
    feb = window("monthly", UTC_ZONE, at("2028-02-10T00:00:00+00:00"))
    assert feb.end - feb.start == timedelta(days=29)


def test_a_zone_moves_the_day() -> None:
    # 20:00 UTC on the 21st is already the 22nd in Kolkata (+05:30).
    w = window("daily", ZoneInfo("Asia/Kolkata"), at("2026-11-21T20:00:00+00:00"))
    assert w.id == "2026-11-22"
    assert w.start.isoformat() == "2026-11-22T00:00:00+05:30"
    assert w.start.astimezone(UTC).isoformat() == "2026-11-21T18:30:00+00:00"


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2026-03-08T12:00:00-04:00", 23), ("2026-11-01T12:00:00-05:00", 25)],
)
def test_dst_days_are_23_and_25_hours_long(day: str, hours: int) -> None:
    w = window("daily", NEW_YORK, at(day))
    assert (w.end.timestamp() - w.start.timestamp()) / 3600 == hours
    assert w.start.hour == 0 and w.end.hour == 0


def test_a_month_across_dst_resets_at_local_midnight() -> None:
    w = window("monthly", ZoneInfo("Europe/Berlin"), at("2026-03-15T12:00:00+00:00"))
    assert w.start.isoformat() == "2026-03-01T00:00:00+01:00"
    assert w.end.isoformat() == "2026-04-01T00:00:00+02:00"


def test_a_day_whose_midnight_does_not_exist_starts_at_the_transition() -> None:
    # Chile, 2026-09-06: at 00:00 (-04) clocks jump to 01:00 (-03), i.e. at 04:00 UTC.
    w = window("daily", SANTIAGO, at("2026-09-06T10:00:00+00:00"))
    assert w.id == "2026-09-06"
    assert w.start.astimezone(UTC).isoformat() == "2026-09-06T04:00:00+00:00"
    before = window("daily", SANTIAGO, at("2026-09-06T03:59:59+00:00"))
    assert before.id == "2026-09-05" and before.end_ms == w.start_ms


def test_a_midnight_that_happens_twice_starts_the_day_at_the_first() -> None:
    # Azores, 2026-10-25: at 01:00 (+00) clocks go back to 00:00 (-01); the first hour
    # after midnight repeats. The wall clock says the 25th from the first midnight on, and
    # reports count that hour in the 25th: so do budgets (that day is 25 hours long).
    before = window("daily", AZORES, at("2026-10-24T23:30:00+00:00"))
    assert before.id == "2026-10-24"
    assert before.end.astimezone(UTC).isoformat() == "2026-10-25T00:00:00+00:00"
    first_pass = window("daily", AZORES, at("2026-10-25T00:30:00+00:00"))
    second_pass = window("daily", AZORES, at("2026-10-25T01:30:00+00:00"))
    assert first_pass.id == second_pass.id == "2026-10-25"
    assert first_pass.start_ms == before.end_ms
    assert (first_pass.end.timestamp() - first_pass.start.timestamp()) / 3600 == 25


def test_every_instant_is_in_exactly_one_window() -> None:
    # Walk a year in New York, Chile and the Azores hour by hour (plus a minute): windows
    # tile time, with no gap and no overlap.
    for zone in (NEW_YORK, SANTIAGO, AZORES):
        t = at("2026-01-01T00:01:00+00:00")
        previous = window("daily", zone, t)
        for _ in range(24 * 366):
            t += timedelta(hours=1)
            w = window("daily", zone, t)
            assert w.start_ms <= t.timestamp() * 1000 < w.end_ms
            if w.id != previous.id:
                assert w.start_ms == previous.end_ms
            previous = w


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        window("daily", UTC_ZONE, datetime(2026, 1, 1))
