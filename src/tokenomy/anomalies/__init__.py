"""Anomalies in cost, tokens, error rate and p95 latency, per project and model: a
seasonal baseline (same hour of the day, weekday or weekend), noise sized by the hour's
call count (binomial for error rate), and runs of high hours for level shifts. See
docs/alerts.md."""

from tokenomy.anomalies.check import MIN_CHANGE, Anomaly, AnomalySettings, find_anomalies
from tokenomy.anomalies.detector import DetectorSettings, Verdict, detect, score_series
from tokenomy.anomalies.series import METRICS, Hourly, load_hourly

__all__ = [
    "METRICS",
    "MIN_CHANGE",
    "Anomaly",
    "AnomalySettings",
    "DetectorSettings",
    "Hourly",
    "Verdict",
    "detect",
    "find_anomalies",
    "load_hourly",
    "score_series",
]
