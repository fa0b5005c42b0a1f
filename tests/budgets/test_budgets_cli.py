"""`tokenomy budgets [status]`: config rules and key budgets, spend from the database or
from Redis, as a table and as JSON."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenomy.budgets import Claim, key_budget, window
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.cli.main import main
from tokenomy.keys import KeyStore
from tokenomy.record import CallRecord, new_ulid
from tokenomy.store import open_database, write_records


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path / "home"


def call(source: str, cost: int, **who: Any) -> CallRecord:
    now = int(time.time() * 1000)
    return CallRecord(
        source=source, dedupe_key=new_ulid(now), started_at_ms=now, cost_nanos=cost, **who
    )


def setup(home: Path, budgets: dict[str, Any]) -> str:
    db = open_database(f"sqlite:///{home / 'tokenomy.db'}")
    try:
        _, key = KeyStore(db).create(budget_usd=Decimal("2"), budget_period="daily")
        KeyStore(db).create(project="no-budget")
        write_records(
            db,
            [
                call("gateway", 300_000_000, project="web"),
                call("sdk", 200_000_000, project="web", api_key_id=key.id),
                # Imported agent logs never passed the gateway: not counted.
                call("claude-code", 900_000_000, project="web"),
            ],
        )
    finally:
        db.close()
    Path("tokenomy.yaml").write_text(
        yaml.safe_dump(
            {
                "models": {
                    "fast": [{"provider": "openai", "model": "m", "api_key_env": "UNSET_KEY"}]
                },
                "budgets": budgets,
            }
        )
    )
    return key.id


def test_status_from_the_database_as_json(
    home: Path, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    rule = {"name": f"web-{tag}", "project": "web", "period": "monthly", "limit_usd": 1}
    key_id = setup(home, {"rules": [rule]})
    assert main(["budgets", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ledger"] == "database" and out["note"] is None
    web, own = out["budgets"]
    assert (web["name"], web["spent_nanos"], web["percent"], web["source"]) == (
        f"web-{tag}",
        500_000_000,
        50.0,
        "database",
    )
    assert web["scope"] == {"org": None, "project": "web", "user": None, "key": None}
    assert web["period_id"] == datetime.now(UTC).strftime("%Y-%m")
    assert (own["name"], own["spent_usd"], own["limit_usd"], own["period"]) == (
        f"key:{key_id}",
        0.2,
        2.0,
        "daily",
    )
    assert own["resets_at"].endswith("T00:00:00+00:00")


def test_status_table_reads_redis_and_shows_what_is_in_flight(
    home: Path, capsys: pytest.CaptureFixture[str], redis_url: str, tag: str
) -> None:
    rule = {"name": f"web-{tag}", "project": "web", "limit_usd": 1, "mode": "soft"}
    key_id = setup(home, {"redis_url": redis_url, "rules": [rule]})
    db = open_database(f"sqlite:///{home / 'tokenomy.db'}")
    key = KeyStore(db).resolve(key_id)
    db.close()
    budget = key_budget(key)
    assert budget is not None
    claim = Claim(budget, window("daily", budget.zone))

    async def spend() -> None:
        ledger = RedisLedger(redis_url)
        await ledger.seed(claim, 1_500_000_000, 0)
        await ledger.reserve([claim], 250_000_000, "t1")
        await ledger.close()

    asyncio.run(spend())
    try:
        assert main(["budgets", "status"]) == 0
        table = capsys.readouterr().out
    finally:
        import redis

        redis.Redis.from_url(redis_url).delete(claim.key)
    assert "Budgets (spend from redis://" in table
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert "$0.50" in lines[f"web-{tag}"] and "50.0%" in lines[f"web-{tag}"]
    assert "project web (soft)" in lines[f"web-{tag}"]
    own = lines[f"key:{key_id}"]
    assert "$1.50" in own and "75.0%" in own and "$2.00/day" in own and "the key's calls" in own
    assert f"Held by calls in flight: key:{key_id} $0.25" in table


def test_status_table_fits_80_columns_and_never_cuts_an_amount(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    """At 80 columns (or piped) every amount read "$0.…" and Covers was dropped: amounts keep
    their width, the zones give way first, then names are cut in their middle."""
    rules = [
        {"name": f"web-{tag}", "project": "web", "period": "daily", "limit_usd": 10},
        {"name": f"ann-{tag}", "user": "ann", "limit_usd": 100, "mode": "soft"},
        {"name": f"acme-{tag}", "org": "acme", "limit_usd": 2500, "timezone": "America/New_York"},
    ]
    key_id = setup(home, {"rules": rules})
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["budgets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert lines[2].split() == ["Budget", "Covers", "Limit", "Spent", "Used", "Resets"]
    rows = {line.split()[0][:3]: line for line in lines[4:] if line.strip()}
    for prefix, cells in {
        "web": ["project web", "$10.00/day", "$0.50", "5.0%", "UTC"],
        "ann": ["$100.00/month", "$0.00", "0.0%", "UTC"],
        "acm": ["org acme", "$2,500.00/month", "$0.00", "0.0%"],
        "key": ["$2.00/day", "$0.20", "10.0%", "UTC"],
    }.items():
        assert all(f" {cell}" in rows[prefix] for cell in cells), rows[prefix]
    # A name cut in its middle keeps the end that tells keys apart.
    assert key_id[-6:] in rows["key"] and "…" in rows["key"]


def test_no_budgets_says_how_to_add_one(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budgets"]) == 0
    assert "No budgets." in capsys.readouterr().out


def test_a_bad_budgets_section_is_an_error_naming_the_key(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("tokenomy.yaml").write_text("budgets: {rules: [{name: x, limit_usd: lots}]}\n")
    assert main(["budgets"]) == 2
    assert "tokenomy.yaml: budgets.rules[0].limit_usd" in capsys.readouterr().err


def test_a_budgets_section_written_twice_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("tokenomy.yaml").write_text(
        "budgets:\n  rules: [{name: web-daily, project: web, limit_usd: 10}]\n"
        "alerts:\n  cooldown: 60\n"
        "budgets:\n  rules: [{name: ann-monthly, user: ann, limit_usd: 100}]\n"
    )
    assert main(["budgets"]) == 2
    assert "tokenomy.yaml: line 5: budgets: duplicate key (first at line 1)" in (
        capsys.readouterr().err
    )


def test_status_reads_the_tokenomy_yaml_in_tokenomy_home(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As alerts and reports do: from another folder, it said "No budgets"."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "tokenomy.yaml").write_text(
        "budgets:\n  rules: [{name: web-daily, project: web, period: daily, limit_usd: 10}]\n"
    )
    assert not Path("tokenomy.yaml").exists()
    assert main(["budgets", "status", "--json"]) == 0
    assert [b["name"] for b in json.loads(capsys.readouterr().out)["budgets"]] == ["web-daily"]
