"""The anomalies of recent hours, per project, model and metric: what
``tokenomy alerts check`` lists and the ``anomaly`` alert rule sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from tokenomy.anomalies.detector import HOURS_PER_DAY, DetectorSettings, detect
from tokenomy.anomalies.series import METRICS, UNITS, load_hourly
from tokenomy.budgets.budget import money
from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database
from tokenomy.store.rollups import HOUR_MS

# Smallest change worth anyone's attention, per metric, in its own unit.
MIN_CHANGE: dict[str, float] = {
    "cost": 1.0,  # USD in an hour
    "tokens": 100_000.0,
    "error_rate": 0.05,  # 5 points of the share of failed calls
    "latency_p95": 1000.0,  # ms
}


@dataclass(frozen=True, slots=True)
class AnomalySettings:
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    min_change: Mapping[str, float] = field(default_factory=lambda: dict(MIN_CHANGE))
    min_calls: int = 20  # calls in an hour for its error rate and p95 latency to count
    # The users' clock: "the same hour yesterday" and weekends are local (anomalies/clock.py).
    zone: tzinfo = UTC


@dataclass(frozen=True, slots=True)
class Anomaly:
    project: str | None
    model: str | None
    metric: str
    hour_ms: int  # start of the hour (UTC)
    observed: float
    expected: float
    score: float
    zone: tzinfo = UTC  # shown on this clock

    @property
    def hour(self) -> str:
        return datetime.fromtimestamp(self.hour_ms / 1000, self.zone).isoformat()

    @property
    def scope(self) -> str:
        """Project/model/hour, as a stable key and for people."""
        return f"{self.project or '-'}/{self.model or '-'}/{self.hour}"

    @property
    def link(self) -> str:
        """The analytics API query for the hour's calls of this project and model."""
        params = {"since": self.hour, "until": _iso(self.hour_ms + HOUR_MS, self.zone)}
        if self.project:
            params["project"] = self.project
        if self.model:
            params["model"] = self.model
        return "/api/v1/calls?" + urlencode(params)

    def describe(self) -> str:
        return (
            f"{self.metric} of {self.project or '(no project)'} / {self.model or '(no model)'} "
            f"at {self.hour}: {fmt(self.metric, self.observed)} against "
            f"{fmt(self.metric, self.expected)} expected (score {self.score:.1f})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "model": self.model,
            "metric": self.metric,
            "unit": UNITS[self.metric],
            "hour": self.hour,
            "observed": round(self.observed, 6),
            "expected": round(self.expected, 6),
            "score": round(self.score, 2),
            "scope": self.scope,
            "link": self.link,
        }


def _iso(ms: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).isoformat()


def fmt(metric: str, x: float) -> str:
    if metric == "cost":  # as budgets say it: a fraction of a cent never reads $0.00
        return money(round(x * NANOS_PER_USD))
    if metric == "error_rate":
        return f"{x * 100:.1f}%"
    if metric == "latency_p95":
        return f"{x:,.0f} ms"
    return f"{x:,.0f}"


def find_anomalies(
    db: Database,
    since_ms: int,
    until_ms: int,
    settings: AnomalySettings,
    *,
    metrics: Sequence[str] = METRICS,
    filters: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Anomaly]:
    """Anomalous complete hours in [since, until), most surprising first. The history
    before ``since`` that the baseline needs is read too."""
    first = since_ms // HOUR_MS * HOUR_MS
    end = until_ms // HOUR_MS * HOUR_MS  # the hour in progress is not judged yet
    if end <= first:
        return []
    history = (settings.detector.days + 1) * HOURS_PER_DAY * HOUR_MS
    groups = load_hourly(db, first - history, end, filters=filters, min_calls=settings.min_calls)
    out: list[Anomaly] = []
    for (project, model), hourly in groups.items():
        start = (first - hourly.start_ms) // HOUR_MS
        for metric in metrics:
            det = replace(settings.detector, min_change=settings.min_change.get(metric, 0.0))
            epoch_hour = hourly.start_ms // HOUR_MS
            # The call counts size each hour's noise; error rate is a share of them.
            found = detect(
                hourly.series[metric],
                det,
                start,
                epoch_hour,
                calls=hourly.calls,
                rate=metric == "error_rate",
                zone=settings.zone,
            )
            for v in found:
                out.append(
                    Anomaly(
                        project,
                        model,
                        metric,
                        hourly.hour_ms(v.index),
                        v.observed,
                        v.expected,
                        v.score,
                        settings.zone,
                    )
                )
    out.sort(key=lambda a: (-a.score, a.hour_ms, a.metric, a.project or "", a.model or ""))
    return out
