"""``GET /api/v1/advise/cache`` over real HTTP (uvicorn) on SQLite and PostgreSQL: the
rows and figures of records.py, CSV, OpenAPI, and 422s that name the parameter."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from tests.advise.records import EXPECTED_ROWS, SINCE, UNTIL, advice_calls
from tests.api.test_api import _get
from tests.gateway.running import RunningGateway

from tokenomy.api.app import AnalyticsApi
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
RANGE = urlencode({"since": SINCE, "until": UNTIL})


@pytest.fixture
def api(db: Database) -> Iterator[RunningGateway]:
    write_records(db, advice_calls())
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def test_advice_over_http(api: RunningGateway) -> None:
    status, body, ctype = _get(api, f"/api/v1/advise/cache?{RANGE}")
    assert (status, ctype) == (200, "application/json")
    rows = [(r["key"], r["kind"], r["strategy"], r["savings_usd"]) for r in body["rows"]]
    assert rows == EXPECTED_ROWS
    assert body["summary"]["monthly_savings_usd"] == 4.005
    assert body["assumptions"]["openai"]["min_tokens"] == 1024
    _, narrowed, _ = _get(api, f"/api/v1/advise/cache?{RANGE}&project=web&limit=1")
    assert [r["key"] for r in narrowed["rows"]] == ["sess-chat"]


def test_advice_as_csv(api: RunningGateway) -> None:
    status, text, ctype = _get(api, f"/api/v1/advise/cache?{RANGE}&format=csv")
    assert status == 200 and ctype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["key"] for r in rows] == ["pfx-tools", "sess-chat", "dup-prompt"]
    assert rows[0]["savings_usd"] == "0.081"
    assert rows[0]["strategies.anthropic_1h.prompt_cost_usd"] == "0.069"
    assert rows[0]["evidence"] == '["tools-1","tools-2","tools-3"]'


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("colour=red", "colour"),
        ("since=yesterday", "since"),
        ("timezone=Mars/Base", "timezone"),
        ("since=2026-11-02&until=2026-11-01T00:00:00Z", "until"),
    ],
)
def test_bad_parameters_are_422s_naming_them(api: RunningGateway, query: str, param: str) -> None:
    status, body, _ = _get(api, f"/api/v1/advise/cache?{query}")
    assert status == 422
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_parameter"


def test_openapi_describes_the_endpoint(api: RunningGateway) -> None:
    _, spec, _ = _get(api, "/api/v1/openapi.json")
    path = spec["paths"]["/api/v1/advise/cache"]["get"]
    names = {p["name"] for p in path["parameters"]}
    assert {"since", "until", "timezone", "project", "model", "limit"} <= names
    assert "422" in path["responses"]
