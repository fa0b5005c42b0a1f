"""Where the hours of an hourly UTC series fall on the user's clock.

LLM traffic follows the working day and week of the people sending it: "the same hour
yesterday" is the same local hour, and a weekend is a local Saturday and Sunday. Judged on
UTC days instead, a team in Los Angeles has its Friday afternoon compared with weekend
hours (every week, a false anomaly), and every DST change moves its working day an hour
against the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class LocalClock:
    days: tuple[int, ...]  # each hour's local date, as an ordinal
    hours: tuple[int, ...]  # and its local hour of the day (0-23)
    first: dict[tuple[int, int], int]  # (day, hour) -> the first index there (DST repeats one)

    def same_hour(self, i: int, days_before: int) -> int | None:
        """The index of the same local hour ``days_before`` days before ``i``; None when
        that day has no such hour (a DST change skipped it) or is before the series."""
        return self.first.get((self.days[i] - days_before, self.hours[i]))

    def before_start(self, i: int, days_before: int) -> bool:
        return self.days[i] - days_before < self.days[0]

    def weekend(self, i: int) -> bool:
        return date.fromordinal(self.days[i]).weekday() >= 5


@lru_cache(maxsize=64)
def local_clock(epoch_hour: int, hours: int, zone: tzinfo = UTC) -> LocalClock:
    """The clock of ``hours`` hours from ``epoch_hour`` (hours since 1970-01-01 UTC)."""
    days: list[int] = []
    of_day: list[int] = []
    first: dict[tuple[int, int], int] = {}
    for i in range(hours):
        local = datetime.fromtimestamp((epoch_hour + i) * HOUR_S, zone)
        days.append(local.date().toordinal())
        of_day.append(local.hour)
        first.setdefault((days[-1], local.hour), i)
    return LocalClock(tuple(days), tuple(of_day), first)
