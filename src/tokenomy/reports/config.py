"""The ``reports:`` section of ``tokenomy.yaml``: reports produced on a schedule.

```yaml
reports:
  - name: team-weekly              # letters, digits, . _ -: it names the files
    every: weekly                  # daily | weekly (Monday to Sunday)
    timezone: Europe/Paris         # optional: the machine's zone otherwise
    filters: {project: [web]}      # optional: any analytics API filter
    stack: project                 # optional: what the cost chart is stacked by (model)
    to:                            # one or both
      folder: ~/reports            # relative to this file's folder
      webhook: https://hooks.example/abc
      # or webhook: {url: ..., timeout: 10, retries: 3, backoff: 1, html: false}
```

The gateway reads the same file and leaves this section alone; this module reads only
this section. Every error names the file and the key, as the gateway's do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.api.params import FILTERS
from tokenomy.config import check_finite, read_sections
from tokenomy.reports.data import STACKS
from tokenomy.reports.periods import EVERY


class ReportConfigError(ValueError):
    """A ``reports:`` section that cannot be used, with the file, the key and why."""


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_REPORT_KEYS = ("name", "every", "timezone", "filters", "stack", "to")
_TO_KEYS = ("folder", "webhook")
_WEBHOOK_KEYS = ("url", "timeout", "retries", "backoff", "html")
Fail = Callable[[str, str], NoReturn]


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    timeout: float = 10.0  # seconds to wait on the server, per attempt
    retries: int = 3  # further attempts after a 5xx, a 429 or no answer
    backoff: float = 1.0  # seconds before the first retry, doubled for each next one
    html: bool = True  # send the page in the JSON body (off for chat hooks with size limits)


@dataclass(frozen=True, slots=True)
class ScheduledReport:
    name: str
    every: str
    tz: ZoneInfo
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stack: str = "model"
    folder: Path | None = None
    webhook: Webhook | None = None


def load_reports(path: Path, default_tz: ZoneInfo) -> list[ScheduledReport]:
    raw = read_sections(path, ReportConfigError, "reports")
    return parse_reports(raw.get("reports"), path, default_tz)


def parse_reports(raw: Any, path: Path, default_tz: ZoneInfo) -> list[ScheduledReport]:
    def fail(key: str, problem: str) -> NoReturn:
        raise ReportConfigError(f"{path}: {key}: {problem}")

    if raw is None:
        return []
    if not isinstance(raw, list):
        fail("reports", "expected a list of reports (each with name, every and to)")
    out: list[ScheduledReport] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        report = _report(entry, f"reports[{i}]", path, default_tz, fail)
        if report.name in seen:
            fail(f"reports[{i}].name", f"{report.name!r} is used twice; names must be unique")
        seen.add(report.name)
        out.append(report)
    return out


def _unknown(entry: Mapping[Any, Any], allowed: tuple[str, ...], where: str, fail: Fail) -> None:
    unknown = sorted(str(k) for k in set(entry) - set(allowed))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of: {', '.join(allowed)})")


def _report(
    entry: Any, where: str, path: Path, default_tz: ZoneInfo, fail: Fail
) -> ScheduledReport:
    if not isinstance(entry, dict):
        fail(where, "expected a mapping with name, every and to")
    _unknown(entry, _REPORT_KEYS, where, fail)
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        fail(
            f"{where}.name",
            f"expected letters, digits, '.', '_' or '-' (it names the files), got {name!r}",
        )
    every = entry.get("every")
    if every not in EVERY:
        fail(f"{where}.every", f"expected one of: {', '.join(EVERY)}, got {every!r}")
    tz = default_tz
    zone = entry.get("timezone")
    if zone is not None:
        try:
            tz = ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            fail(f"{where}.timezone", f"expected an IANA zone such as Europe/Paris, got {zone!r}")
    stack = entry.get("stack", "model")
    if stack not in STACKS:
        fail(f"{where}.stack", f"expected one of: {', '.join(STACKS)}, got {stack!r}")
    to = entry.get("to")
    if not isinstance(to, dict) or not to:
        fail(f"{where}.to", "expected a mapping with folder and/or webhook")
    _unknown(to, _TO_KEYS, f"{where}.to", fail)
    folder = to.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder):
        fail(f"{where}.to.folder", f"expected a folder path, got {folder!r}")
    hook = to.get("webhook")
    return ScheduledReport(
        name=name,
        every=every,
        tz=tz,
        filters=_filters(entry.get("filters"), f"{where}.filters", fail),
        stack=stack,
        # Relative to the config file, not to wherever cron happens to start.
        folder=None if folder is None else path.parent.absolute() / Path(folder).expanduser(),
        webhook=None if hook is None else _webhook(hook, f"{where}.to.webhook", fail),
    )


def _filters(raw: Any, where: str, fail: Fail) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        fail(where, f"expected a mapping of dimension -> values ({', '.join(FILTERS)})")
    out: dict[str, tuple[str, ...]] = {}
    for key, values in raw.items():
        if key not in FILTERS:
            fail(f"{where}.{key}", f"unknown dimension (expected one of: {', '.join(FILTERS)})")
        if isinstance(values, str | int):
            values = [values]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
        ):
            fail(f"{where}.{key}", "expected a value or a non-empty list of values")
        out[key] = tuple(str(v) for v in values)
    return out


def _webhook(raw: Any, where: str, fail: Fail) -> Webhook:
    url_key = where if isinstance(raw, str) else f"{where}.url"
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, dict):
        fail(where, "expected a URL or a mapping with url (and timeout, retries, backoff, html)")
    _unknown(raw, _WEBHOOK_KEYS, where, fail)
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        fail(url_key, f"expected an http(s) URL, got {url!r}")
    defaults = Webhook(url)
    timeout = raw.get("timeout", defaults.timeout)
    check_finite(timeout, f"{where}.timeout", fail)
    if not _number(timeout) or timeout <= 0:
        fail(f"{where}.timeout", f"expected a positive number of seconds, got {timeout!r}")
    retries = raw.get("retries", defaults.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        fail(f"{where}.retries", f"expected a whole number from 0 to 10, got {retries!r}")
    backoff = raw.get("backoff", defaults.backoff)
    check_finite(backoff, f"{where}.backoff", fail)
    if not _number(backoff) or backoff < 0:
        fail(f"{where}.backoff", f"expected a number of seconds >= 0, got {backoff!r}")
    html = raw.get("html", defaults.html)
    if not isinstance(html, bool):
        fail(f"{where}.html", f"expected true or false, got {html!r}")
    return Webhook(url, float(timeout), retries, float(backoff), html)


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)
