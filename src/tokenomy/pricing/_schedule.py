"""Which price is in force at a given instant.

A schedule is an ordered list of periods, each a price with an optional start instant and
an optional daily window (off-peak discounts). As in genai-prices, the *last* period in
force wins, so later entries (newer prices, then user overrides) take precedence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tokenomy.pricing._price import ModelPrice

MS_PER_DAY = 86_400_000
# "Always": earlier than any timestamp a record can carry.
ALWAYS = -(2**62)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    price: ModelPrice | None  # None: the source lists the model but prices no tokens then
    start_ms: int = ALWAYS
    # Daily window in milliseconds since UTC midnight, [start, end); wraps past midnight
    # when end < start. None when the price holds all day.
    daily: tuple[int, int] | None = None

    def active(self, at_ms: int) -> bool:
        if at_ms < self.start_ms:
            return False
        if self.daily is None:
            return True
        start, end = self.daily
        t = at_ms % MS_PER_DAY
        if start <= end:
            return start <= t < end
        return t >= start or t < end

    @property
    def always(self) -> bool:
        return self.start_ms == ALWAYS and self.daily is None


@dataclass(frozen=True, slots=True)
class Schedule:
    periods: tuple[Period, ...]
    # Used when no period is in force: genai-prices falls back to a model's first price;
    # a model known only from a dated override has no price before that date.
    default: ModelPrice | None

    def at(self, at_ms: int) -> ModelPrice | None:
        for period in reversed(self.periods):
            if period.active(at_ms):
                return period.price
        return self.default

    def simplified(self) -> ModelPrice | Schedule | None:
        """The bare price when it never changes, so the hot path skips the time check."""
        if not self.periods:
            return self.default
        last = self.periods[-1]
        return last.price if last.always else self


def date_start_ms(day: date) -> int:
    """Milliseconds at UTC midnight starting ``day`` (genai-prices compares UTC dates)."""
    return datetime_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def datetime_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps can land a millisecond early.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def time_of_day_ms(moment: time) -> int:
    """Milliseconds since UTC midnight; a naive time is taken as UTC."""
    offset = moment.utcoffset() or timedelta(0)
    wall = timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )
    return ((wall - offset) // timedelta(milliseconds=1)) % MS_PER_DAY
