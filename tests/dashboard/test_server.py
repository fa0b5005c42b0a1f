"""The dashboard's server side over real HTTP: packaged files with a strict CSP and nothing
from elsewhere, the live event stream, the gateway's live state, and keys."""

from __future__ import annotations

import http.client
import json
import re
import time
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from tests.api.insight_records import T0, call
from tests.dashboard.seed import seed
from tests.gateway.running import RunningGateway, close_after_test
from tests.gateway.test_gateway import openai_deployment
from tests.gateway.upstreams import openai_upstream

from tokenomy.api.app import AnalyticsApi
from tokenomy.dashboard.assets import Assets
from tokenomy.keys import KeyRing, KeyStore
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
STATIC = resources.files("tokenomy.dashboard").joinpath("static")
HI = [{"role": "user", "content": "hi"}]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def server(sqlite_db: Database) -> Any:
    seed(sqlite_db)
    with RunningGateway({}, None, api=AnalyticsApi(sqlite_db, CATALOG)) as gw:
        yield gw


def test_every_file_is_served_from_the_package_with_a_strict_policy(
    server: RunningGateway,
) -> None:
    status, headers, body = get(server.url + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    # Every script and stylesheet the page names is ours, and is served.
    html = body.decode()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs)
    modules = [p.name for p in STATIC.joinpath("js").iterdir()] + [
        f"pages/{p.name}" for p in STATIC.joinpath("js", "pages").iterdir()
    ]
    for name in modules:
        if not name.endswith(".js"):
            continue
        status, headers, text = get(f"{server.url}/static/js/{name}")
        assert status == 200, name
        assert headers["content-type"].startswith("text/javascript")
        # Imports are relative: nothing is fetched from another host.
        for target in re.findall(r'from "([^"]+)"', text.decode()):
            assert target.startswith("./") or target.startswith("../"), (name, target)
    for ref in refs:
        assert get(server.url + ref)[0] == 200, ref


def test_unchanged_files_are_not_sent_twice_and_paths_cannot_leave_the_folder(
    server: RunningGateway,
) -> None:
    status, headers, _ = get(server.url + "/static/style.css")
    assert status == 200
    again = get(server.url + "/static/style.css", {"if-none-match": headers["etag"]})
    assert again[0] == 304 and again[2] == b""
    assert get(server.url + "/static/nope.js")[0] == 404
    assets = Assets()
    for path in ("../assets.py", "js/../../assets.py", "/etc/passwd", "", "js//main.js"):
        assert assets.get(path) is None, path
    assert assets.get("js/main.js") is not None


def test_only_packaged_files_are_kept_and_a_long_name_is_a_404(
    server: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone may ask for dashboard files: a miss must cost no memory, and a name longer
    than the file system allows (255) is a plain 404, not a 500 with a traceback."""
    for name in ("a" * 300 + ".js", "/".join(["b" * 240] * 15) + ".js", "x" * 5000):
        status, _, body = get(f"{server.url}/static/{name}")
        assert (status, body) == (404, b"no such dashboard file"), name[:20]
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assets = Assets()
    for i in range(500):
        assert assets.get(f"missing-{i}.js") is None
    assert assets.get("y" * 300 + ".css") is None
    assert assets._cache == {}  # nothing kept for a name that is not a packaged file
    assert assets.get("js/main.js") is assets.get("js/main.js")  # read once
    assert list(assets._cache) == ["js/main.js"]
    assert "vendor/chart.umd.min.js" in assets.names()


def _events(url: str, count: int, on_first: Any = None) -> list[dict[str, Any]]:
    """The first ``count`` tick events of the stream at ``url``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request("GET", f"{parts.path}?{parts.query}")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("content-type", "").startswith("text/event-stream")
    ticks: list[dict[str, Any]] = []
    try:
        while len(ticks) < count:
            line = resp.readline().decode()
            if line.startswith("data: "):
                ticks.append(json.loads(line[6:]))
                if len(ticks) == 1 and on_first is not None:
                    on_first()
    finally:
        conn.close()
    return ticks


@pytest.mark.parametrize("db_name", ["sqlite_db", "postgres_db"])
def test_the_live_stream_says_when_calls_arrive(
    request: pytest.FixtureRequest, db_name: str
) -> None:
    db: Database = request.getfixturevalue(db_name)
    seed(db)
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        # Nothing new: no tick says "changed".
        quiet = _events(gw.url + "/api/v1/live?interval=0.2", 3)
        assert not any(t["changed"] for t in quiet)
        # An old call (not the newest) arrives after the first tick: still news.
        late = call("late", T0 + 1000, project="web")
        ticks = _events(gw.url + "/api/v1/live?interval=0.2", 4, lambda: write_records(db, [late]))
        assert [t["changed"] for t in ticks[1:]].count(True) == 1
        assert "gateway" not in ticks[0]


def test_gateway_state_shows_calls_and_the_circuit_opening(sqlite_db: Database) -> None:
    with (
        openai_upstream() as oai,
        RunningGateway(
            {"fast": [openai_deployment(oai)]},
            sqlite_db,
            router={"retries": 0, "failure_threshold": 2, "cooldown": 60},
            api=AnalyticsApi(sqlite_db, CATALOG),
        ) as gw,
    ):
        client = close_after_test(
            openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        )
        client.chat.completions.create(model="fast", messages=HI)
        state = json.loads(get(gw.url + "/api/v1/gateway")[2])
        [alias] = state["models"]
        [dep] = alias["deployments"]
        assert (alias["alias"], dep["circuit"], dep["requests_last_minute"]) == (
            "fast",
            "closed",
            1,
        )
        assert state["recent"][0]["status"] == 200 and state["recent"][0]["tokens"] == 17
        # Each latest call carries its record's id: the Gateway page's rows open the call.
        call_id = state["recent"][0]["id"]
        deadline = time.monotonic() + 5
        while not sqlite_db.query("SELECT 1 FROM calls WHERE id = ?", (call_id,)):
            assert time.monotonic() < deadline, "the call's record never arrived"
            time.sleep(0.05)
        oai.fail_next(500, times=2)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="fast", messages=HI)
        state = json.loads(get(gw.url + "/api/v1/gateway")[2])
        dep = state["models"][0]["deployments"][0]
        assert dep["circuit"] == "open" and dep["available"] is False
        assert dep["cooling_seconds"] > 50
        assert state["window"]["calls"] == 3 and state["window"]["failed_calls"] == 2
        assert [r["failed"] for r in state["recent"]] == [True, True, False]
        # The stream carries the same state when asked for it.
        [tick] = _events(gw.url + "/api/v1/live?gateway=1", 1)
        assert tick["gateway"]["models"][0]["deployments"][0]["circuit"] == "open"
        client.close()
        # Parameters they cannot use are refused, naming them, as the API's are.
        for query, param in (
            ("/api/v1/live?interval=abc", "interval"),
            ("/api/v1/live?interval=100", "interval"),
            ("/api/v1/live?gateway=maybe", "gateway"),
            ("/api/v1/live?bogus=1", "bogus"),
            ("/api/v1/gateway?bogus=1", "bogus"),
        ):
            status, _, body = get(gw.url + query)
            assert status == 422, query
            assert json.loads(body)["error"]["param"] == param, query


def test_with_keys_the_page_loads_but_the_data_needs_a_key(sqlite_db: Database) -> None:
    secret, _ = KeyStore(sqlite_db).create(name="ops")  # no project: reads all
    with RunningGateway(
        {}, None, api=AnalyticsApi(sqlite_db, CATALOG), load_keys=lambda: KeyRing.load(sqlite_db)
    ) as gw:
        assert get(gw.url + "/")[0] == 200
        assert get(gw.url + "/static/js/main.js")[0] == 200
        for path in ("/api/v1/gateway", "/api/v1/live", "/api/v1/summary"):
            status, _headers, body = get(gw.url + path)
            assert status == 401, path
            assert "tokenomy key" in json.loads(body)["error"]["message"]
        status, _, _ = get(gw.url + "/api/v1/gateway", {"authorization": f"Bearer {secret}"})
        assert status == 200


def test_a_stream_ends_by_itself_so_shutdown_never_waits_long(sqlite_db: Database) -> None:
    """A server that shuts down lets requests finish; an event stream must end on its own."""
    import asyncio

    from tokenomy.dashboard import live

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client never leaves
        return {"type": "http.disconnect"}

    async def run() -> None:
        await asyncio.wait_for(
            live.stream(sqlite_db, receive, send, interval=30, lifetime=0.3), timeout=10
        )

    asyncio.run(run())
    assert sent[0]["status"] == 200
    assert sent[-1] == {"type": "http.response.body", "body": b""}
    assert sum(b"event: tick" in m.get("body", b"") for m in sent) == 2
    assert live.STREAM_SECONDS <= 30
