"""A gateway with no keys serves programs on this machine, not web pages in its browser;
attribution headers sent as UTF-8 are read as UTF-8."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from tests.gateway.running import RunningGateway
from tests.gateway.test_gateway import openai_deployment, records
from tests.gateway.upstreams import Upstream

from tokenomy.gateway.same_site import local_name, other_site
from tokenomy.keys import KeyRing, KeyStore
from tokenomy.store import Database

BODY = json.dumps({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}).encode()


def _post(url: str, headers: dict[str, str | bytes], path: str = "/v1/chat/completions") -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("POST", path, skip_host="host" in headers)
        for name, value in {"content-type": "text/plain", **headers}.items():
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(BODY)))
        conn.endheaders(BODY)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("origin", "host", "other"),
    [
        ("http://127.0.0.1:4000", "127.0.0.1:4000", False),
        ("http://localhost:4000", "localhost:4000", False),
        ("http://[::1]:4000", "[::1]:4000", False),
        ("http://localhost", "localhost:80", False),
        ("http://evil.example", "127.0.0.1:4000", True),
        ("http://localhost:3000", "localhost:4000", True),
        ("null", "127.0.0.1:4000", True),
    ],
)
def test_other_site(origin: str, host: str, other: bool) -> None:
    assert other_site(origin, host) is other


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1:4000", True),
        ("localhost:4000", True),
        ("app.localhost", True),
        ("[::1]:4000", True),
        ("192.168.1.5:4000", True),
        ("", True),
        ("rebind.attacker.example:4000", False),
        ("localhost.attacker.example", False),
    ],
)
def test_local_name(host: str, local: bool) -> None:
    assert local_name(host) is local


def test_a_keyless_gateway_refuses_web_pages_of_other_sites(
    oai: Upstream, sqlite_db: Database
) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        host = urlsplit(gw.url).netloc
        # A page elsewhere POSTs text/plain (no CORS preflight): never sent on.
        assert _post(gw.url, {"origin": "http://evil.example"}) == 403
        # DNS rebinding: the page's own name now points at 127.0.0.1.
        assert _post(gw.url, {"host": "rebind.attacker.example:4000"}) == 403
        assert oai.seen == []
        # The dashboard's own page (same origin), SDKs and curl (no Origin) are served.
        assert (
            _post(gw.url, {"origin": f"http://{host}", "content-type": "application/json"}) == 200
        )
        assert _post(gw.url, {"content-type": "application/json"}) == 200
    assert len(oai.seen) == 2


def test_with_keys_the_key_is_the_guard(oai: Upstream, sqlite_db: Database) -> None:
    secret, _ = KeyStore(sqlite_db).create(name="ops")
    with RunningGateway(
        {"fast": [openai_deployment(oai)]},
        sqlite_db,
        load_keys=lambda: KeyRing.load(sqlite_db),
    ) as gw:
        bearer = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
        assert _post(gw.url, {"host": "tokenomy.internal:4000", **bearer}) == 200
        assert _post(gw.url, {"origin": "http://evil.example"}) == 401


def test_utf8_attribution_headers_are_read_as_utf8(oai: Upstream, sqlite_db: Database) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        headers: dict[str, str | bytes] = {
            "content-type": "application/json",
            "x-tokenomy-project": "Zürich".encode(),
            "x-tokenomy-user": "café-日本".encode(),
        }
        assert _post(gw.url, headers) == 200
        # Bytes that are not UTF-8 stay as Latin-1 read them.
        assert _post(gw.url, {**headers, "x-tokenomy-project": b"caf\xe9"}) == 200
    first, second = records(sqlite_db)
    assert (first["project"], first["user"]) == ("Zürich", "café-日本")
    assert second["project"] == "café"
