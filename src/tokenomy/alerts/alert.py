"""An alert: what fired, for which scope and period, said once for every notifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    kind: str  # threshold | rate_of_change | anomaly | budget | sample
    scope: str  # what it is about (project/model/metric, a budget, ...): cool-down key
    period: str  # which window, hour or budget period: de-duplication key with the scope
    title: str  # one line
    text: str  # a few sentences
    at_ms: int
    fields: Mapping[str, str] = field(default_factory=dict)  # formatted, for people
    link: str | None = None
    sample: bool = False  # `tokenomy alerts test`: nothing really happened
    # The same figures as numbers, named with their unit (``observed_usd``), for programs:
    # a webhook's ``fields`` carry both, chat and email show only the formatted ones.
    values: Mapping[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Same rule, scope and period: the same alert, sent once."""
        return f"{self.rule}|{self.scope}|{self.period}"

    @property
    def cooldown_key(self) -> str:
        return f"{self.rule}|{self.scope}"

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat()

    @property
    def subject(self) -> str:
        return ("[tokenomy TEST] " if self.sample else "[tokenomy] ") + self.title

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "tokenomy.alert",
            "sample": self.sample,
            "rule": self.rule,
            "kind": self.kind,
            "scope": self.scope,
            "period": self.period,
            "title": self.title,
            "text": self.text,
            "fields": {**self.fields, **self.values},
            "link": self.link,
            "at": self.at,
        }


def sample_alert(at_ms: int) -> Alert:
    return Alert(
        rule="tokenomy-test",
        kind="sample",
        scope="test",
        period="test",
        title="Test alert: notifications work",
        text=(
            "This is a sample sent by `tokenomy alerts test`. Nothing happened: it only "
            "checks that this notifier reaches you."
        ),
        at_ms=at_ms,
        fields={"observed": "$12.34", "expected": "$1.20", "scope": "project demo"},
        sample=True,
        values={"observed_usd": 12.34, "expected_usd": 1.2},
    )
