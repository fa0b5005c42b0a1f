"""GET /metrics over HTTP on SQLite and PostgreSQL, read back with the official Prometheus
client's parser: counters and the latency histogram equal the records the test wrote."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.api.test_api import CALLS, CATALOG, T0
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.record import CallRecord, TokenUsage
from tokenomy.store import Database, write_records

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gateway(db: Database) -> Iterator[RunningGateway]:
    write_records(db, CALLS)
    write_records(db, [CallRecord("runner", "r1", T0, TokenUsage(input_tokens=999))])
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def _samples(gw: RunningGateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(gw.url + "/metrics", timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_and_histogram_equal_the_records(gateway: RunningGateway) -> None:
    samples = _samples(gateway)
    sonnet_ok = {("provider", "anthropic"), ("model", "claude-sonnet-4-5"), ("status", "ok")}

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(sonnet_ok | set(labels.items())))]

    # CALLS: four ok Sonnet calls (0, 1, 2, 5), one failed, one gpt-4o; the runner record
    # is left out as everywhere else.
    assert value("tokenomy_calls_total") == 4
    assert value("tokenomy_cost_usd_total") == pytest.approx((1 + 2 + 3 + 6) * 1e-6)
    assert value("tokenomy_tokens_total", type="input") == 10 + 20 + 30 + 60
    calls = sum(v for (name, _), v in samples.items() if name == "tokenomy_calls_total")
    assert calls == 6
    # Durations 100, 200, 300 ms and none (call 5): cumulative buckets, +Inf = count.
    assert value("tokenomy_call_duration_seconds_bucket", le="0.1") == 0
    assert value("tokenomy_call_duration_seconds_bucket", le="0.15") == 1
    assert value("tokenomy_call_duration_seconds_bucket", le="0.3") == 2
    assert value("tokenomy_call_duration_seconds_bucket", le="0.4") == 3
    assert value("tokenomy_call_duration_seconds_bucket", le="+Inf") == 3
    assert value("tokenomy_call_duration_seconds_count") == 3
    assert value("tokenomy_call_duration_seconds_sum") == pytest.approx(0.6)


def test_every_family_has_its_type_and_no_family_is_empty(gateway: RunningGateway) -> None:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=10) as resp:
        families = list(text_string_to_metric_families(resp.read().decode()))
    types = {f.name: f.type for f in families}
    assert types == {
        "tokenomy_calls": "counter",
        "tokenomy_unknown_cost_calls": "counter",
        "tokenomy_cost_usd": "counter",
        "tokenomy_tokens": "counter",
        "tokenomy_call_duration_seconds": "histogram",
    }
    assert all(f.samples for f in families)


def test_the_grafana_dashboard_reads_only_metrics_we_export(gateway: RunningGateway) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "tokenomy.json").read_text())
    exported = {name for name, _ in _samples(gateway)}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(tokenomy_[a-z_]+)", e)}
    assert used and used <= exported, used - exported
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
