"""`tokenomy keys create | list | revoke` in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tokenomy.cli.context import UsageError
from tokenomy.cli.keys_cmd import add_keys_parser
from tokenomy.keys import KeyStore
from tokenomy.store import Database

SECRET = re.compile(r"tk-[A-Za-z0-9_-]{40}")


@dataclass
class Output:
    code: int
    stdout: str


Run = Callable[..., Output]


@pytest.fixture
def keys(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """Run `tokenomy keys ...` against the test database, through the commands' own parser."""
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOKENOMY_DB", db.url)
    parser = argparse.ArgumentParser(prog="tokenomy")
    add_keys_parser(parser.add_subparsers())

    def run(*argv: str, columns: int = 200) -> Output:
        monkeypatch.setenv("COLUMNS", str(columns))
        args = parser.parse_args(["keys", *argv])
        capsys.readouterr()
        code = args.func(args)
        return Output(code, capsys.readouterr().out)

    return run


def test_create_shows_the_secret_once_and_how_to_use_it(keys: Run, db: Database) -> None:
    out = keys("create", "--project", "web", "--user", "ana", columns=60)
    assert out.code == 0
    (secret,) = set(SECRET.findall(out.stdout))
    assert f"\n  {secret}\n" in out.stdout  # alone on its line, unbroken, to copy
    assert "Store it now: it cannot be shown again" in out.stdout
    assert f"OPENAI_API_KEY={secret} OPENAI_BASE_URL=http://127.0.0.1:4000/v1" in out.stdout
    assert f"ANTHROPIC_API_KEY={secret} ANTHROPIC_BASE_URL=http://127.0.0.1:4000" in out.stdout
    assert f"ANTHROPIC_AUTH_TOKEN={secret}" in out.stdout
    found = KeyStore(db).find(secret)
    assert found is not None
    assert (found.project, found.user) == ("web", "ana")
    assert found.id in out.stdout


def test_create_json_stores_the_budget_exactly(keys: Run, db: Database) -> None:
    out = keys("create", "--name", "ci", "--budget", "$12.50", "--budget-period", "daily", "--json")
    created = orjson.loads(out.stdout)
    assert SECRET.fullmatch(created["key"])
    assert created["budget_nanos"] == 12_500_000_000
    assert created["budget_usd"] == 12.5
    assert created["budget_period"] == "daily"
    (stored,) = KeyStore(db).list()
    assert (stored.id, stored.name, stored.budget_nanos) == (created["id"], "ci", 12_500_000_000)

    monthly = orjson.loads(keys("create", "--budget", "7", "--json").stdout)
    assert (monthly["budget_nanos"], monthly["budget_period"]) == (7_000_000_000, "monthly")


def test_create_refuses_bad_budgets(keys: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        keys("create", "--budget", "lots")
    assert exc.value.code == 2
    assert "'lots' is not an amount of USD" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--budget-period needs --budget"):
        keys("create", "--budget-period", "daily")
    with pytest.raises(UsageError, match="finer than a billionth"):
        keys("create", "--budget", "0.0000000001")


def test_list_shows_ids_and_prefixes_never_secrets(keys: Run) -> None:
    assert "No active keys" in keys("list").stdout
    assert orjson.loads(keys("list", "--json").stdout) == {"keys": []}
    a = orjson.loads(keys("create", "--project", "a", "--json").stdout)
    b = orjson.loads(keys("create", "--project", "b", "--budget", "3", "--json").stdout)
    keys("revoke", a["id"])

    listed = orjson.loads(keys("list", "--json").stdout)["keys"]
    assert [k["id"] for k in listed] == [b["id"]]
    everything = orjson.loads(keys("list", "--all", "--json").stdout)["keys"]
    by_id = {k["id"]: k for k in everything}
    assert set(by_id) == {a["id"], b["id"]}
    assert by_id[a["id"]]["revoked_at"] is not None
    assert by_id[b["id"]]["revoked_at"] is None
    assert by_id[b["id"]]["prefix"] == b["key"][:11]

    table = keys("list", "--all").stdout
    for k in (a, b):
        assert k["id"] in table
        assert k["key"][:11] in table
        assert k["key"] not in table
        assert k["key"] not in str(everything)
    assert "$3/month" in table


def test_list_keeps_ids_whole_in_80_columns(keys: Run) -> None:
    created = [
        orjson.loads(
            keys("create", "--project", "p" * 60, "--user", "u" * 60, "--json", "--name", n).stdout
        )
        for n in ("laptop", "ci-runner-with-a-long-name")
    ]
    table = keys("list", columns=80).stdout
    assert max(len(line) for line in table.splitlines()) <= 80
    for k in created:
        assert k["id"] in table
        assert k["key"][:11] in table


def test_list_all_fits_80_columns_without_cutting_short_names(keys: Run) -> None:
    """Revoked keys made one table 88 columns wide that still cut "laptop" and "Project":
    they are listed in a table of their own, with when they were revoked."""
    who = ["--name", "laptop", "--project", "web", "--user", "ana", "--budget", "50"]
    gone = orjson.loads(keys("create", *who, "--json").stdout)
    who = ["--name", "ci", "--project", "data", "--user", "bob", "--budget", "12"]
    kept = orjson.loads(keys("create", *who, "--json").stdout)
    before = keys("list", columns=80).stdout
    assert "  Project  " in before and f"{gone['prefix']}…  laptop  web " in before
    keys("revoke", gone["id"])
    out = keys("list", "--all", columns=80).stdout
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    active, revoked = out.split("Revoked keys")
    assert "Virtual keys" in active and gone["id"] not in active
    assert active.split("\n")[2].split()[-4:] == ["Project", "User", "Budget", "Created"]
    assert f"{kept['id']}  {kept['prefix']}…  ci  " in active and "$12/month" in active
    today = datetime.now(UTC).date().isoformat()
    assert revoked.split("\n")[2].split()[-4:] == ["Project", "User", "Created", "Revoked"]
    assert f"{gone['prefix']}…  laptop  web      ana   {today}  {today}" in revoked


def test_revoke_by_prefix_and_again(keys: Run, db: Database) -> None:
    created = orjson.loads(keys("create", "--project", "web", "--json").stdout)
    out = keys("revoke", created["prefix"])
    assert f"Revoked {created['id']}" in out.stdout
    assert KeyStore(db).find(created["key"]) is None
    again = orjson.loads(keys("revoke", created["id"], "--json").stdout)
    assert again["already_revoked"] is True
    assert "already revoked" in keys("revoke", created["id"]).stdout


def test_revoke_unknown_or_ambiguous_names_the_problem(keys: Run) -> None:
    first = orjson.loads(keys("create", "--json").stdout)
    second = orjson.loads(keys("create", "--json").stdout)
    with pytest.raises(UsageError, match="no key matches 'key_nothing'"):
        keys("revoke", "key_nothing")
    with pytest.raises(UsageError, match="matches 2 keys") as exc:
        keys("revoke", "key_")
    assert first["id"] in str(exc.value) and second["id"] in str(exc.value)


def test_names_are_shown_literally(keys: Run) -> None:
    created = orjson.loads(keys("create", "--project", "[bold]ops[/bold]", "--json").stdout)
    assert "[bold]ops[/bold]" in keys("list").stdout
    assert "[bold]ops[/bold]" in keys("revoke", created["id"]).stdout
