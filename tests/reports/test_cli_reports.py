"""`tokenomy report --html` and `tokenomy reports run|list`, run in-process as a user
would: files written, what is printed, exit codes, and errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.reports.conftest import Cli
from tests.reports.hooks import Answer, webhook
from tests.reports.page import Page
from tests.reports.records import ALL

from tokenomy.config import Paths
from tokenomy.store import open_database, write_records

WEEK = ["--since", "2026-11-02", "--until", "2026-11-08", "-z", "UTC", "--no-import"]


@pytest.fixture
def seeded(home: Path) -> Path:
    db = open_database(Paths.from_env().database_url)
    try:
        write_records(db, ALL)
    finally:
        db.close()
    return home


def test_report_html_writes_one_page_and_says_what_it_holds(
    cli: Cli, seeded: Path, tmp_path: Path
) -> None:
    out = tmp_path / "week.html"
    result = cli(["report", "--html", str(out), *WEEK])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"Wrote {out} for 2026-11-02 to 2026-11-08 (UTC): $3.75+ over 5 calls, 1 failed (20.0%)."
    )
    page = Page(out.read_text())
    assert page.problems == []
    assert page.cards["Calls"][0] == "5"
    assert "Cost per day, by model" in page.all_text


@pytest.mark.parametrize(
    ("kind", "range_", "title"),
    [
        ("weekly", WEEK, "Cost per week, by model"),
        ("monthly", WEEK, "Cost per month, by model"),
        ("project", WEEK, "Cost per day, by project"),
        ("daily", ["--since", "2026-11-03", "--until", "2026-11-03", "--no-import"], "per hour"),
    ],
)
def test_the_report_kind_sets_the_bars_or_their_stacking(
    cli: Cli, seeded: Path, tmp_path: Path, kind: str, range_: list[str], title: str
) -> None:
    out = tmp_path / "r.html"
    result = cli(["report", kind, "--html", str(out), *range_])
    assert result.exit_code == 0, result.stderr
    assert title in Page(out.read_text()).all_text


def test_report_html_json_prints_the_data_and_filters_apply(
    cli: Cli, seeded: Path, tmp_path: Path
) -> None:
    out = tmp_path / "web.html"
    result = cli(["report", "--html", str(out), "-p", "web", "--json", *WEEK])
    assert result.exit_code == 0, result.stderr
    data = orjson.loads(result.stdout)
    assert data["html"] == str(out)
    assert data["filters"] == {"project": ["web"]}
    assert (data["summary"]["calls"], data["summary"]["cost_usd"]) == (2, 1.25)
    assert "Only project: web" in Page(out.read_text()).all_text


def test_report_without_html_is_unchanged(cli: Cli, seeded: Path, tmp_path: Path) -> None:
    result = cli(["report", "daily", "--json", *WEEK])
    assert result.exit_code == 0, result.stderr
    out = orjson.loads(result.stdout)
    assert set(out) == {"report", "timezone", "rows", "totals"}
    assert [r["key"] for r in out["rows"]] == ["2026-11-03", "2026-11-04", "2026-11-05"]
    assert list(tmp_path.glob("*.html")) == []


def test_report_html_on_an_empty_store_explains_what_to_do(
    cli: Cli, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "empty.html"
    result = cli(["report", "--html", str(out), "--no-import", "-z", "UTC"])
    assert result.exit_code == 0, result.stderr
    assert "no calls in this range; import logs with `tokenomy import`" in result.stdout
    assert "No calls in this range" in Page(out.read_text()).all_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "blocks", "--html", "x.html"], "--html draws no 5-hour blocks"),
        (["report", "--html", "nowhere/x.html", "--no-import"], "--html: no such directory"),
        (
            ["report", "--html", "x.html", "--since", "2026-11-05", "--until", "2026-11-01"],
            "--since 2026-11-05 is after --until 2026-11-01",
        ),
    ],
)
def test_report_html_errors_say_what_to_do(
    cli: Cli, home: Path, args: list[str], message: str
) -> None:
    result = cli(args)
    assert result.exit_code == 2
    assert message in result.stderr


CONFIG = """\
reports:
  - name: team
    every: weekly
    timezone: UTC
    to:
      folder: out
      webhook: {{url: "{url}", retries: {retries}, backoff: 0}}
"""
TUESDAY = "2026-11-10T06:00:00Z"


def test_reports_list_then_run_then_nothing_left(cli: Cli, seeded: Path, tmp_path: Path) -> None:
    with webhook() as hook:
        (tmp_path / "tokenomy.yaml").write_text(CONFIG.format(url=hook.url, retries=1))
        listed = cli(["reports", "list", "--json", "--now", TUESDAY])
        assert listed.exit_code == 0, listed.stderr
        [row] = orjson.loads(listed.stdout)["reports"]
        assert (row["name"], row["due_now"], row["last_period"]) == ("team", True, None)
        assert SECRET_FREE(row["webhook"])
        ran = cli(["reports", "run", "--now", TUESDAY, "--no-import"])
        assert ran.exit_code == 0, ran.stderr
        assert ran.stdout.startswith(f"team 2026-W45: wrote {tmp_path / 'out'}/team-2026-W45.html")
        assert "(HTTP 200)" in ran.stdout
        assert len(hook.received) == 1
        again = cli(["reports", "run", "--now", TUESDAY, "--no-import"])
        assert again.stdout.startswith("Nothing due")
        assert len(hook.received) == 1
    listed = cli(["reports", "list", "--json", "--now", TUESDAY])
    [row] = orjson.loads(listed.stdout)["reports"]
    assert (row["last_period"], row["due_now"]) == ("2026-W45", False)
    assert row["next_due"] == "2026-11-16T00:00:00+00:00"
    table = cli(["reports", "list", "--now", TUESDAY])
    assert table.exit_code == 0 and "team" in table.stdout and "2026-11-16 00:00" in table.stdout


def SECRET_FREE(url: str) -> bool:  # noqa: N802 - reads as a claim
    return "secret-token-xyz" not in url and url.endswith("/secr…")


def test_reports_run_fails_loudly_and_keeps_the_report(
    cli: Cli, seeded: Path, tmp_path: Path
) -> None:
    with webhook(then=Answer(500)) as hook:
        (tmp_path / "tokenomy.yaml").write_text(CONFIG.format(url=hook.url, retries=1))
        ran = cli(["reports", "run", "--now", TUESDAY, "--no-import", "--json"])
    assert ran.exit_code == 1
    out = orjson.loads(ran.stdout)
    [produced] = out["produced"]
    assert produced["ok"] is False and len(hook.received) == 2
    assert produced["outbox"] == [
        str(seeded / "reports" / "outbox" / "team-2026-W45.html"),
        str(seeded / "reports" / "outbox" / "team-2026-W45.json"),
    ]
    with webhook(then=Answer(500)) as hook:
        (tmp_path / "tokenomy.yaml").write_text(CONFIG.format(url=hook.url, retries=0))
        ran = cli(["reports", "run", "--now", TUESDAY, "--no-import"])
    assert ran.exit_code == 1
    assert "error: report team: webhook http://127.0.0.1:" in ran.stderr
    assert "failed after 1 attempt: HTTP 500" in ran.stderr
    assert "the next `tokenomy reports run` tries again" in ran.stderr
    listed = cli(["reports", "list", "--now", TUESDAY])
    assert "1 undelivered in" in listed.stdout


def test_a_webhook_with_user_and_password_is_delivered_and_the_password_never_shown(
    cli: Cli, seeded: Path, tmp_path: Path
) -> None:
    """urllib took ``ops:pw@127.0.0.1`` for a host name: the report never went out, and
    every message printed the password."""
    with webhook() as hook:
        url = hook.url.replace("http://", "http://ops:p%40ss%3Aword@")
        (tmp_path / "tokenomy.yaml").write_text(CONFIG.format(url=url, retries=0))
        listed = cli(["reports", "list", "--now", TUESDAY])
        ran = cli(["reports", "run", "--now", TUESDAY, "--no-import"])
    assert ran.exit_code == 0, ran.stderr
    assert len(hook.received) == 1
    # "ops:p@ss:word", as Basic credentials
    assert hook.received[0].headers["Authorization"] == "Basic b3BzOnBAc3M6d29yZA=="
    with webhook(then=Answer(500)) as hook:
        url = hook.url.replace("http://", "http://ops:p%40ss%3Aword@")
        (tmp_path / "tokenomy.yaml").write_text(CONFIG.format(url=url, retries=0))
        failed = cli(["reports", "run", "--now", "2026-11-17T06:00:00Z", "--no-import"])
    assert failed.exit_code == 1 and "HTTP 500" in failed.stderr
    for result in (listed, ran, failed):
        shown = result.stdout + result.stderr
        assert "http://127.0.0.1:" in shown
        assert "p%40ss" not in shown and "ops:" not in shown, shown


def test_reports_finds_its_config_in_the_data_directory(cli: Cli, home: Path) -> None:
    (home / "tokenomy.yaml").write_text(
        "reports:\n  - {name: me, every: daily, timezone: UTC, to: {folder: daily}}\n"
    )
    ran = cli(["reports", "run", "--now", TUESDAY])  # importing agent logs first, as cron would
    assert ran.exit_code == 0, ran.stderr
    assert (home / "daily" / "me-2026-11-09.html").is_file()
    (home / "tokenomy.yaml").write_text("models: {}\n")
    ran = cli(["reports", "run"])
    assert ran.exit_code == 0 and "declares no reports" in ran.stderr


@pytest.mark.parametrize(
    ("yaml_text", "args", "message"),
    [
        (None, [], "no tokenomy.yaml here or in"),
        (None, ["--config", "missing.yaml"], "--config: no such file: missing.yaml"),
        (
            "reports: [{name: a, every: monthly, to: {folder: x}}]",
            [],
            "tokenomy.yaml: reports[0].every: expected one of: daily, weekly, got 'monthly'",
        ),
        ("reports: []", ["--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_reports_errors_say_what_to_do(
    cli: Cli, home: Path, tmp_path: Path, yaml_text: str | None, args: list[str], message: str
) -> None:
    if yaml_text is not None:
        (tmp_path / "tokenomy.yaml").write_text(yaml_text + "\n")
    for command in ("run", "list"):
        result = cli(["reports", command, *args])
        assert result.exit_code == 2, result.stdout
        assert message in result.stderr


def test_reports_help_explains_scheduling(cli: Cli) -> None:
    result = cli(["reports", "--help"])
    assert "cron" in result.stdout and "tokenomy reports run" in result.stdout
    assert "reports" in cli(["--help"]).stdout
