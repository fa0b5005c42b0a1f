"""The query parameters every analytics endpoint takes, checked once.

A bad value is an :class:`ApiError` naming the parameter and what it allows (a 422), never
a stack trace. Times are ISO 8601 instants or dates (``2026-11-01`` or ``20261101``: a date
is midnight in ``timezone``); ``until`` is exclusive for instants and inclusive for dates,
as people read "until the 5th". Filters repeat (``project=a&project=b``) or take commas
(``project=a,b``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.record import EARLIEST_MS, LATEST_MS, Status

STATUSES = tuple(str(s) for s in Status)
# The two forms of a day: extended and basic ISO 8601 (the CLI takes the same).
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}")

# Dimensions to filter and group by, as SQL over ``calls c``.
DIMENSIONS: dict[str, str] = {
    "project": "c.project",
    "model": "COALESCE(c.response_model, c.request_model)",
    "provider": "c.provider",
    "user": 'c."user"',
    "key": "c.api_key_id",
    "source": "c.source",
    "session": "c.session_id",
    "status": "c.status",
    "org": "c.org",
}
# ``tool`` filters through call_tools; it is not a column of calls.
FILTERS = (*DIMENSIONS, "tool")
# A runner record sums a whole agent run that the agent's own logs also hold.
DOUBLE_COUNTED_SOURCE = "runner"


class ApiError(Exception):
    """A request the API cannot answer as asked; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param

    def to_json(self) -> dict[str, Any]:
        kind = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            self.status, "invalid_parameter"
        )
        return {"error": {"type": kind, "message": self.message, "param": self.param}}


Params = Mapping[str, Sequence[str]]


def one(params: Params, name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(422, f"{name} is given {len(values)} times; give it once", name)
    return values[0].strip() or None


def many(params: Params, name: str) -> tuple[str, ...]:
    """Every value of a repeatable parameter, each occurrence split at commas; ``\\,`` is a
    comma inside a value (a project named "a,b" is ``a\\,b``) and ``\\\\`` a backslash."""
    out: list[str] = []
    for value in params.get(name, ()):
        out.extend(v.strip() for v in split_escaped(value) if v.strip())
    return tuple(out)


def split_escaped(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1 : i + 2] in (",", "\\"):
            current.append(text[i + 1])
            i += 2
            continue
        if ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def choice(
    params: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str], default: str
) -> str:
    value = one(params, name) or default
    if value not in allowed:
        raise ApiError(422, f"{name} must be one of: {', '.join(allowed)} (got {value!r})", name)
    return value


def integer(
    params: Mapping[str, Sequence[str]], name: str, default: int, low: int, high: int
) -> int:
    text = one(params, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(422, f"{name} must be a whole number from {low} to {high}", name) from None
    if not low <= value <= high:
        raise ApiError(422, f"{name} must be from {low} to {high} (got {value})", name)
    return value


@dataclass(frozen=True, slots=True)
class Scope:
    """Which calls a request is about: a time range (UTC ms, end exclusive), a time zone
    for days, and filters per dimension."""

    tz: ZoneInfo
    start_ms: int | None = None
    end_ms: int | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over ``calls c`` and its parameters (``?`` placeholders)."""
        parts: list[str] = []
        params: list[Any] = []
        if self.start_ms is not None:
            parts.append("c.started_at >= ?")
            params.append(self.start_ms)
        if self.end_ms is not None:
            parts.append("c.started_at < ?")
            params.append(self.end_ms)
        filters, values = self.conditions(DIMENSIONS)
        parts += filters
        params += values
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def conditions(self, columns: Mapping[str, str]) -> tuple[list[str], list[Any]]:
        """The filters (not the time range) as SQL over the given column of each
        dimension (``tool`` is always looked up in call_tools for ``calls c``)."""
        parts: list[str] = []
        params: list[Any] = []
        for name, values in self.filters.items():
            marks = ", ".join("?" * len(values))
            if name == "tool":
                parts.append(
                    "EXISTS (SELECT 1 FROM call_tools t WHERE t.source = c.source "
                    f"AND t.dedupe_key = c.dedupe_key AND t.name IN ({marks}))"
                )
            else:
                parts.append(f"{columns[name]} IN ({marks})")
            params.extend(values)
        if "source" not in self.filters:
            parts.append(f"{columns['source']} <> ?")
            params.append(DOUBLE_COUNTED_SOURCE)
        return parts, params


def _instant(text: str, name: str, tz: ZoneInfo, *, end: bool) -> int:
    """Milliseconds since the epoch, within the times a call can have (record.py): a range
    to 9999-12-31, a common way to say "no end", is the range to the year 3000."""
    try:
        if _DAY.fullmatch(text):  # 2026-11-02 or 20261102, as the CLI takes them
            day = date.fromisoformat(text)
            if end and day < date.max:
                day += timedelta(days=1)  # a date as `until` includes that day
            ms = int(datetime.combine(day, time.min, tz).timestamp() * 1000)
            return min(max(ms, EARLIEST_MS), LATEST_MS)
        if _is_date(text):
            # Another form of a date (a week, 2026-W45) would be read as its first
            # midnight, and as `until` leave out the very days it names.
            raise ValueError(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ApiError(
            422,
            f"{name} must be an ISO 8601 date (2026-11-01 or 20261101) or time "
            f"(2026-11-01T09:30:00Z), got {text!r}",
            name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):  # 0001-01-01 east of UTC is before year 1
        ms = EARLIEST_MS if moment.year < 1970 else LATEST_MS
    return min(max(ms, EARLIEST_MS), LATEST_MS)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_scope(params: Params) -> Scope:
    zone_name = one(params, "timezone") or "UTC"
    try:
        tz = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ApiError(
            422,
            f"timezone must be an IANA zone such as UTC or Europe/Paris, got {zone_name!r}",
            "timezone",
        ) from None
    since, until = one(params, "since"), one(params, "until")
    start = _instant(since, "since", tz, end=False) if since else None
    end = _instant(until, "until", tz, end=True) if until else None
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "until must be after since", "until")
    filters = {name: values for name in FILTERS if (values := many(params, name))}
    # The one dimension with a closed set of values: another matches nothing, silently.
    wrong = [v for v in filters.get("status", ()) if v not in STATUSES]
    if wrong:
        raise ApiError(
            422, f"status must be one of: {', '.join(STATUSES)} (got {wrong[0]!r})", "status"
        )
    return Scope(tz, start, end, filters)


def check_known(params: Params, allowed: Sequence[str]) -> None:
    """Refuse a parameter the endpoint does not know (a typo would silently widen a query)."""
    known = {"since", "until", "timezone", "format", *FILTERS, *allowed}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ApiError(
            422,
            f"unknown parameter {', '.join(unknown)}; "
            f"this endpoint takes: {', '.join(sorted(known))}",
            unknown[0],
        )
