"""Ground truth for a generated Claude Code project tree.

The counting rules are the product's: a response is identified by ``message.id`` +
``requestId`` and counts once, with its final (largest-total) usage; copies (streaming
partials, ``progress`` mirrors of subagent messages, lines replayed into a resumed session)
never count again; a resumed session's copies belong to the session they came from;
subagent (sidechain) calls count for their parent session; synthetic API errors count as
calls and failed calls with no tokens; malformed lines count for nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

# Local-date views kept besides UTC, so reports run with --timezone can be checked.
EXTRA_TIMEZONES: tuple[str, ...] = ("America/Los_Angeles", "Asia/Tokyo")

_HOUR_MS = 3_600_000


@dataclass(slots=True)
class Totals:
    """Calls and tokens in the product's disjoint categories."""

    calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # 5-minute cache writes
    cache_write_1h_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
        )

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.failed_calls += other.failed_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_write_1h_tokens += other.cache_write_1h_tokens

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class Call:
    """One counted response, as the generator wrote it."""

    session_id: str
    project: str
    started_at_ms: int
    model: str
    failed: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    tools: tuple[str, ...] = ()

    def totals(self) -> Totals:
        return Totals(
            calls=1,
            failed_calls=1 if self.failed else 0,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
        )


class _DayKeys:
    """Local date of a UTC millisecond time, cached per hour (every zone used is whole-hour)."""

    def __init__(self, zones: tuple[str, ...]) -> None:
        self._zones = [ZoneInfo(z) for z in zones]
        self._cache: dict[int, tuple[str, ...]] = {}

    def __call__(self, at_ms: int) -> tuple[str, ...]:
        hour = at_ms // _HOUR_MS
        keys = self._cache.get(hour)
        if keys is None:
            at = datetime.fromtimestamp(hour * 3600, tz=UTC)
            local = [at.astimezone(z).date().isoformat() for z in self._zones]
            keys = (at.date().isoformat(), *local)
            self._cache[hour] = keys
        return keys


def _merge_map(into: dict[str, Totals], other: dict[str, Totals]) -> None:
    for key, value in other.items():
        into.setdefault(key, Totals()).add(value)


def _map_to_json(m: dict[str, Totals]) -> dict[str, dict[str, int]]:
    return {k: m[k].to_dict() for k in sorted(m)}


def _map_from_json(data: dict[str, Any]) -> dict[str, Totals]:
    return {k: Totals.from_dict(v) for k, v in data.items()}


@dataclass(slots=True)
class GroundTruth:
    """What a correct importer must report for a generated tree."""

    totals: Totals = field(default_factory=Totals)
    per_day_utc: dict[str, Totals] = field(default_factory=dict)
    # Time zone name -> local date -> totals, for each of EXTRA_TIMEZONES.
    per_day_local: dict[str, dict[str, Totals]] = field(
        default_factory=lambda: {z: {} for z in EXTRA_TIMEZONES}
    )
    per_session: dict[str, Totals] = field(default_factory=dict)
    per_model: dict[str, Totals] = field(default_factory=dict)
    # Keyed by the encoded project folder name under ``projects/``.
    per_project: dict[str, Totals] = field(default_factory=dict)
    session_project: dict[str, str] = field(default_factory=dict)
    project_cwds: dict[str, list[str]] = field(default_factory=dict)
    tool_uses: dict[str, int] = field(default_factory=dict)
    # How many of each quirk were written (malformed lines, copies, partials, ...).
    quirks: dict[str, int] = field(default_factory=dict)
    files: int = 0
    size_bytes: int = 0
    _day_keys: _DayKeys = field(
        default_factory=lambda: _DayKeys(EXTRA_TIMEZONES), repr=False, compare=False
    )

    def per_day(self, timezone: str = "UTC") -> dict[str, Totals]:
        """Per-day totals keyed by local date in ``timezone`` (UTC or one of EXTRA_TIMEZONES)."""
        if timezone == "UTC":
            return self.per_day_utc
        return self.per_day_local[timezone]

    def add_call(self, call: Call) -> None:
        t = call.totals()
        self.totals.add(t)
        keys = self._day_keys(call.started_at_ms)
        self.per_day_utc.setdefault(keys[0], Totals()).add(t)
        for zone, key in zip(EXTRA_TIMEZONES, keys[1:], strict=True):
            self.per_day_local[zone].setdefault(key, Totals()).add(t)
        self.per_session.setdefault(call.session_id, Totals()).add(t)
        self.per_model.setdefault(call.model, Totals()).add(t)
        self.per_project.setdefault(call.project, Totals()).add(t)
        self.session_project.setdefault(call.session_id, call.project)
        for name in call.tools:
            self.tool_uses[name] = self.tool_uses.get(name, 0) + 1

    def add_session(self, session_id: str, project: str, cwd: str) -> None:
        """Register a session even if it ends up with no counted call."""
        self.session_project.setdefault(session_id, project)
        self.per_session.setdefault(session_id, Totals())
        cwds = self.project_cwds.setdefault(project, [])
        if cwd not in cwds:
            cwds.append(cwd)

    def count(self, quirk: str, n: int = 1) -> None:
        self.quirks[quirk] = self.quirks.get(quirk, 0) + n

    def merge(self, other: GroundTruth) -> None:
        """Add ``other`` (e.g. a session appended later) into this ground truth."""
        self.totals.add(other.totals)
        _merge_map(self.per_day_utc, other.per_day_utc)
        for zone, days in other.per_day_local.items():
            _merge_map(self.per_day_local.setdefault(zone, {}), days)
        _merge_map(self.per_session, other.per_session)
        _merge_map(self.per_model, other.per_model)
        _merge_map(self.per_project, other.per_project)
        for session, project in other.session_project.items():
            self.session_project.setdefault(session, project)
        for project, cwds in other.project_cwds.items():
            mine = self.project_cwds.setdefault(project, [])
            mine.extend(c for c in cwds if c not in mine)
        for name, n in other.tool_uses.items():
            self.tool_uses[name] = self.tool_uses.get(name, 0) + n
        for quirk, n in other.quirks.items():
            self.count(quirk, n)
        self.files += other.files
        self.size_bytes += other.size_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "totals": self.totals.to_dict(),
            "per_day_utc": _map_to_json(self.per_day_utc),
            "per_day_local": {z: _map_to_json(d) for z, d in sorted(self.per_day_local.items())},
            "per_session": _map_to_json(self.per_session),
            "per_model": _map_to_json(self.per_model),
            "per_project": _map_to_json(self.per_project),
            "session_project": dict(sorted(self.session_project.items())),
            "project_cwds": {p: list(c) for p, c in sorted(self.project_cwds.items())},
            "tool_uses": dict(sorted(self.tool_uses.items())),
            "quirks": dict(sorted(self.quirks.items())),
            "files": self.files,
            "size_bytes": self.size_bytes,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        truth = cls()
        truth.totals = Totals.from_dict(data["totals"])
        truth.per_day_utc = _map_from_json(data["per_day_utc"])
        truth.per_day_local = {z: _map_from_json(d) for z, d in data["per_day_local"].items()}
        truth.per_session = _map_from_json(data["per_session"])
        truth.per_model = _map_from_json(data["per_model"])
        truth.per_project = _map_from_json(data["per_project"])
        truth.session_project = dict(data["session_project"])
        truth.project_cwds = {p: list(c) for p, c in data["project_cwds"].items()}
        truth.tool_uses = {k: int(v) for k, v in data["tool_uses"].items()}
        truth.quirks = {k: int(v) for k, v in data["quirks"].items()}
        truth.files = int(data["files"])
        truth.size_bytes = int(data["size_bytes"])
        return truth

    @classmethod
    def from_json(cls, raw: bytes | str) -> GroundTruth:
        return cls.from_dict(orjson.loads(raw))
