"""The periods scheduled reports cover: a local day, or a Monday-to-Sunday local week.

A period is due once its end (local midnight after its last day) has passed. What was
produced is remembered as one instant per report, ``done_until`` (the end of the last
period produced), so a missed run catches up, re-running produces nothing twice, and a
schedule that changes (daily to weekly, another time zone) carries on after what was
already covered instead of starting over: the period that straddles ``done_until`` is
produced from there to its end (a partial period, its label saying where it starts), so
no call is left out and none is reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EVERY = ("daily", "weekly")
# At most this many missed periods are produced in one run (the most recent ones): a
# machine that was off for a year should not post 365 reports to a channel.
MAX_CATCH_UP = 31


@dataclass(frozen=True, slots=True)
class Period:
    """A local day or week; with ``from_ms``, only its part from that instant on (what an
    earlier schedule had not covered yet)."""

    every: str
    first_day: date
    tz: ZoneInfo
    from_ms: int | None = None

    @property
    def days(self) -> int:
        return 7 if self.every == "weekly" else 1

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    @property
    def label(self) -> str:
        """``2026-11-16`` for a day, ``2026-W46`` (ISO week) for a week: file names."""
        if self.every == "weekly":
            year, week, _ = self.first_day.isocalendar()
            whole = f"{year}-W{week:02d}"
        else:
            whole = self.first_day.isoformat()
        if self.from_ms is None:
            return whole
        # A part: named by where it starts, so it never overwrites the whole period's
        # files, nor those of a period of the earlier schedule with the same name.
        start = datetime.fromtimestamp(self.from_ms / 1000, self.tz)
        parts = [f"{start:%m-%d}"] if self.every == "weekly" else []
        if start.time() != time.min:
            parts.append(f"{start:%H%M}")
        return f"{whole}-from-{'T'.join(parts)}"

    @property
    def start_ms(self) -> int:
        midnight = midnight_ms(self.first_day, self.tz)
        return midnight if self.from_ms is None else max(midnight, self.from_ms)

    @property
    def end_ms(self) -> int:
        return midnight_ms(self.first_day + timedelta(days=self.days), self.tz)

    def shifted(self, n: int) -> Period:
        return Period(self.every, self.first_day + timedelta(days=n * self.days), self.tz)


def midnight_ms(day: date, tz: ZoneInfo) -> int:
    """The instant a local day starts (UTC ms), across DST changes."""
    return int(datetime.combine(day, time.min, tz).timestamp() * 1000)


def containing(every: str, tz: ZoneInfo, at_ms: int) -> Period:
    day = datetime.fromtimestamp(at_ms / 1000, tz).date()
    if every == "weekly":
        day -= timedelta(days=day.weekday())
    return Period(every, day, tz)


@dataclass(frozen=True, slots=True)
class Due:
    periods: list[Period]  # oldest first
    skipped: int  # missed periods older than MAX_CATCH_UP, not produced


def first_open(every: str, tz: ZoneInfo, now_ms: int, done_until_ms: int | None) -> Period:
    """The oldest period not produced yet, or its part not produced yet. Never run before:
    the last period that ended by ``now_ms`` (history is not back-filled)."""
    if done_until_ms is None:
        return containing(every, tz, now_ms).shifted(-1)
    first = containing(every, tz, done_until_ms)
    if first.start_ms < done_until_ms:
        # Partly covered under an earlier schedule: the rest of it.
        first = Period(every, first.first_day, tz, done_until_ms)
    return first


def due(every: str, tz: ZoneInfo, now_ms: int, done_until_ms: int | None) -> Due:
    """The periods not produced yet that have ended by ``now_ms``, oldest first."""
    periods = []
    p = first_open(every, tz, now_ms, done_until_ms)
    while p.end_ms <= now_ms:
        periods.append(p)
        p = p.shifted(1)
    skipped = max(0, len(periods) - MAX_CATCH_UP)
    return Due(periods[skipped:], skipped)


def next_due_ms(every: str, tz: ZoneInfo, now_ms: int, done_until_ms: int | None) -> int:
    """When the next report is due: the end of the oldest period not produced yet (in the
    past when it is overdue)."""
    return first_open(every, tz, now_ms, done_until_ms).end_ms
