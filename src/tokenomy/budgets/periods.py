"""Budget periods: which day or month an instant belongs to in a budget's time zone, the
id that names it in the ledger, and when it resets.

A day starts at local midnight. Where midnight does not exist (a zone that springs
forward at 00:00) the day starts at the transition; where it happens twice (a zone that
falls back to 23:00) the day starts at the second one, so the repeated hour stays in the
day before and every instant belongs to exactly one period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["daily", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "monthly")


@dataclass(frozen=True, slots=True)
class Window:
    """One period of one budget: ``[start, end)`` as aware datetimes in the budget's zone."""

    period: Period
    id: str  # "2026-11-21" (daily) or "2026-11" (monthly): names the ledger entry
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return round(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end.timestamp() * 1000)

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the reset, at least 1 (a Retry-After of 0 invites a loop)."""
        return max(1, math.ceil(self.end.timestamp() - now.timestamp()))


def window(period: Period, zone: ZoneInfo, at: datetime | None = None) -> Window:
    """The period of ``period`` kind that contains ``at`` (default: now) in ``zone``."""
    now = at if at is not None else datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("window() needs an aware datetime")
    local = now.astimezone(zone).date()
    first = _first_day(period, local)
    start = _day_start(first, zone)
    # (Timestamps, not datetimes: two datetimes in one zone compare ignoring fold.)
    if now.timestamp() < start.timestamp():  # an hour repeated at midnight: the day before
        first = _first_day(period, first - timedelta(days=1))
        start = _day_start(first, zone)
    end = _day_start(_next_first_day(period, first), zone)
    period_id = first.isoformat() if period == "daily" else first.isoformat()[:7]
    return Window(period, period_id, start, end)


def _first_day(period: Period, day: date) -> date:
    return day if period == "daily" else day.replace(day=1)


def _next_first_day(period: Period, first: date) -> date:
    if period == "daily":
        return first + timedelta(days=1)
    if first.month == 12:
        return date(first.year + 1, 1, 1)
    return date(first.year, first.month + 1, 1)


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of ``day``. fold=0 reads a midnight that never happened (clocks jump
    over it) with the offset before the jump, which is the jump itself; and a midnight that
    happens twice (clocks go back over it) as its first occurrence: the wall clock says the
    new day then, and reports count the hour after it in that day too."""
    return datetime.combine(day, time()).replace(tzinfo=zone, fold=0)
