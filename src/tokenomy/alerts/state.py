"""Which alerts were sent, kept in ``$TOKENOMY_HOME/alerts/state.json``: an alert (rule,
scope, period) is sent once, and a rule and scope stays quiet for the cool-down after it
alerted. Written whole and renamed, under the same kind of lock as scheduled reports, so
an overlapping cron run or the gateway's budget hook cannot send an alert twice."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from tokenomy.reports.state import folder_lock, write_atomic

# Sent alerts are remembered this long; an alert's period is never longer than a month.
KEEP_MS = 40 * 86_400_000


class AlertStateError(ValueError):
    """A state file that cannot be read, with what to do about it."""


@dataclass(slots=True)
class Sent:
    alerts: dict[str, int] = field(default_factory=dict)  # alert key -> when sent (ms)
    last: dict[str, int] = field(default_factory=dict)  # rule|scope -> last sent (ms)

    def prune(self, now_ms: int) -> None:
        self.alerts = {k: t for k, t in self.alerts.items() if now_ms - t < KEEP_MS}
        self.last = {k: t for k, t in self.last.items() if now_ms - t < KEEP_MS}


class AlertState:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "state.json"

    def load(self) -> Sent:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Sent()
        except (OSError, orjson.JSONDecodeError) as exc:
            raise AlertStateError(
                f"{self.path}: cannot read the alerts' state ({exc}); delete it to start "
                "over (alerts already sent may then be sent again)"
            ) from exc
        try:
            return Sent(
                {str(k): int(v) for k, v in raw["alerts"].items()},
                {str(k): int(v) for k, v in raw["last"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AlertStateError(
                f"{self.path}: not an alerts' state file; delete it to start over"
            ) from exc

    def save(self, sent: Sent) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = {
            "alerts": dict(sorted(sent.alerts.items())),
            "last": dict(sorted(sent.last.items())),
        }
        write_atomic(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2))

    def locked(self) -> AbstractContextManager[None]:
        return folder_lock(self.folder)
