"""Field parsing shared by the agent-log importers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from tokenomy.record import MAX_TOKENS, time_in_range


class BadLineError(ValueError):
    """A line that looks like a usage record but has the wrong shape."""


def parse_timestamp_ms(value: object) -> int:
    if not isinstance(value, str):
        raise BadLineError(f"timestamp is {type(value).__name__}, expected an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadLineError(f"timestamp {value[:40]!r} is not ISO 8601") from exc
    if dt.tzinfo is None:
        raise BadLineError(f"timestamp {value[:40]!r} has no time zone")
    ms = int(dt.timestamp() * 1000)
    if not time_in_range(ms):
        raise BadLineError(f"timestamp {value[:40]!r} is not between 1970 and 3000")
    return ms


def project_name(cwd: object, folder: str) -> str:
    """The project: the last part of the working directory, else the decoded folder name."""
    if isinstance(cwd, str) and cwd:
        pure = PureWindowsPath(cwd) if "\\" in cwd else PurePosixPath(cwd)
        if pure.name:
            return pure.name
    return folder.rsplit("-", 1)[-1] or folder


def token_count(counts: Mapping[str, Any], key: str, where: str) -> int:
    """A token count: missing or null is 0; anything but a non-negative integer is an error
    that names the field (``where`` is its parent, e.g. ``usage``)."""
    value = counts.get(key, 0)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise BadLineError(f"{where}.{key} is {value!r}, expected a non-negative integer")
    if value > MAX_TOKENS:
        raise BadLineError(f"{where}.{key} is {value}, more than {MAX_TOKENS:,} tokens")
    return value
