"""What a virtual key can read: a team's key (tied to a project or user) sees only its own
calls in the analytics API; a key tied to neither reads everything."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.keys import KeyRing, KeyStore
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallContent, CallRecord, TokenUsage
from tokenomy.store import Database
from tokenomy.store.writer import write_records

CATALOG = PriceCatalog.load()
T0 = 1_790_000_000_000


def _get(gw: RunningGateway, path: str, secret: str) -> tuple[int, Any]:
    req = urllib.request.Request(gw.url + path, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            status, body = err.code, err.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


@pytest.fixture
def keyed(db: Database) -> Any:
    usage = TokenUsage(input_tokens=100, output_tokens=10)
    secret_call = CallRecord(
        "gateway", "s1", T0, usage, project="secret-team", user="eve",
        content=CallContent(request='{"q": "confidential roadmap"}', response="ok"),
    )  # fmt: skip
    web_calls = [
        CallRecord("gateway", f"w{i}", T0 + i, usage, project="web", user="ann") for i in range(3)
    ]
    write_records(db, [secret_call, *web_calls])
    store = KeyStore(db)
    team, _ = store.create(project="web", name="web team")
    admin, _ = store.create(name="admin")
    with RunningGateway(
        {}, None, api=AnalyticsApi(db, CATALOG), load_keys=lambda: KeyRing.load(db)
    ) as gw:
        yield gw, team, admin


def test_a_team_key_reads_only_its_own_project(keyed: Any) -> None:
    gw, team, admin = keyed
    status, body = _get(gw, "/api/v1/breakdown?by=project", team)
    assert status == 200
    assert [(r["key"], r["calls"]) for r in body["rows"]] == [("web", 3)]
    status, body = _get(gw, "/api/v1/summary", team)
    assert (status, body["calls"]) == (200, 3)
    status, body = _get(gw, "/api/v1/breakdown?by=project", admin)
    assert sorted(r["key"] for r in body["rows"]) == ["secret-team", "web"]


def test_a_team_key_cannot_ask_for_another_project_or_open_its_calls(keyed: Any) -> None:
    gw, team, admin = keyed
    status, body = _get(gw, "/api/v1/calls?project=secret-team", team)
    assert status == 403
    assert body["error"]["param"] == "project"
    assert "reads the calls of project 'web' only" in body["error"]["message"]
    status, body = _get(gw, "/api/v1/calls?project=secret-team", admin)
    [row] = body["rows"]
    # The other team's call, with its captured prompt: not found for the team's key.
    assert _get(gw, f"/api/v1/calls/{row['id']}", team)[0] == 404
    status, detail = _get(gw, f"/api/v1/calls/{row['id']}", admin)
    assert status == 200 and "confidential" in detail["content"]["request"]


def test_every_tenants_views_need_an_unscoped_key(keyed: Any) -> None:
    gw, team, admin = keyed
    for path in ("/metrics", "/api/v1/gateway"):
        status, body = _get(gw, path, team)
        assert status == 403, path
        assert "needs a key with no project or user" in json.dumps(body)
    assert _get(gw, "/metrics", admin)[0] == 200
    assert _get(gw, "/api/v1/gateway", admin)[0] == 200


def test_live_updates_tell_a_team_key_of_its_own_calls_only(db: Database) -> None:
    from tokenomy.dashboard.live import data_version

    now = int(time.time() * 1000)
    usage = TokenUsage(input_tokens=1)
    write_records(db, [CallRecord("gateway", "w1", now - 1000, usage, project="web")])
    web = {"project": "web"}
    before = data_version(db, web)
    write_records(db, [CallRecord("gateway", "s1", now, usage, project="secret-team")])
    assert data_version(db, web) == before  # another team's call: no news
    assert data_version(db) != data_version(db, web)
    write_records(db, [CallRecord("gateway", "w2", now + 1, usage, project="web")])
    assert data_version(db, web) != before
