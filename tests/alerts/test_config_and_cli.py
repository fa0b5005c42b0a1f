"""Config errors name the file and the key; the CLI's `alerts test`, `run` and `check`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.alerts.smtp_sink import smtp_sink
from tests.reports.conftest import Cli
from tests.reports.hooks import Answer, webhook

from tokenomy.alerts import AlertConfigError, load_alerts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alerts: []", "alerts: expected a mapping"),
        ("alerts: {rulez: []}", "alerts.rulez: unknown key"),
        ("alerts: {cooldown: soon}", "alerts.cooldown: expected a whole number of seconds"),
        ("alerts: {notify: {pager: {}}}", "alerts.notify.pager: unknown key"),
        ("alerts: {notify: {webhook: {url: 'http://h/x', timeout: 0}}}",
         "alerts.notify.webhook.timeout: expected a number of seconds (more than 0)"),
        ("alerts: {notify: {webhook: {url: 'http://h/x', timeout: .inf}}}",
         "alerts.notify.webhook.timeout: expected a number of seconds (more than 0)"),
        ("alerts: {notify: {slack: {webhook_url: ftp://x}}}", "alerts.notify.slack.webhook_url"),
        ("alerts: {notify: {email: {smtp_host: h, from: a@b, to: [nobody]}}}",
         "alerts.notify.email.to"),
        ("alerts: {rules: [{name: a, kind: magic}]}", "alerts.rules[0].kind: expected one of"),
        ("alerts: {rules: [{name: a, kind: threshold, window: 1w, above: 1}]}",
         "alerts.rules[0].window"),
        ("alerts: {rules: [{name: a, kind: threshold}]}", "alerts.rules[0].above: missing"),
        ("alerts: {rules: [{name: a, kind: anomaly, metrics: [vibes]}]}",
         "alerts.rules[0].metrics"),
        ("alerts: {rules: [{name: a, kind: budget, budget: nope}]}", "alerts.rules[0].budget"),
        ("alerts: {rules: [{name: a, kind: anomaly, threshold: .nan}]}",
         "alerts.rules[0].threshold: expected a positive score"),
        ("alerts: {rules: [{name: a, kind: anomaly, threshold: .inf}]}",
         "alerts.rules[0].threshold: expected a positive score"),
        ("alerts: {timezone: Mars/Olympus}",
         "alerts.timezone: 'Mars/Olympus' is not a known time zone"),
        ("alerts: {rules: [{name: a, kind: rate_of_change, increase_pct: 5, above: 1}]}",
         "alerts.rules[0].above: unknown key"),
    ],
)  # fmt: skip
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(text)
    with pytest.raises(AlertConfigError) as info:
        load_alerts(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_the_gateway_accepts_the_section(tmp_path: Path) -> None:
    from tokenomy.gateway.config import load_config

    path = tmp_path / "tokenomy.yaml"
    path.write_text("models: {}\nalerts: {cooldown: 10}\n")
    load_config(path, {})


def test_alerts_test_reports_each_notifier(home: Path, cli: Cli) -> None:
    with (
        webhook() as slack,
        webhook(then=Answer(403, body=b"invalid_token")) as bad,
        smtp_sink() as sink,
    ):
        Path("tokenomy.yaml").write_text(
            "alerts:\n  notify:\n"
            f"    slack: {{webhook_url: '{slack.url}', retries: 0}}\n"
            f"    webhook: {{url: '{bad.url}', retries: 0}}\n"
            f"    email: {{smtp_host: 127.0.0.1, smtp_port: {sink.port}, from: t@x.org, "
            "to: [ops@x.org]}\n"
        )
        result = cli(["alerts", "test", "--json"])
    assert result.exit_code == 1
    out = orjson.loads(result.stdout)
    assert [(n["notifier"], n["ok"]) for n in out["notifiers"]] == [
        ("slack", True), ("webhook", False), ("email", True)
    ]  # fmt: skip
    assert "HTTP 403" in out["notifiers"][1]["reason"]
    assert slack.received[0].json()["text"].startswith("[tokenomy TEST]")
    assert sink.messages[0]["Subject"].startswith("[tokenomy TEST]")


def test_alerts_run_and_check_on_an_empty_database(home: Path, cli: Cli) -> None:
    Path("tokenomy.yaml").write_text(
        "alerts:\n  rules:\n    - {name: w, kind: anomaly}\n"
        "    - {name: t, kind: threshold, metric: cost, window: 1h, above: 0}\n"
    )
    run = cli(["alerts", "run", "--json"])
    assert run.exit_code == 0, run.stderr
    assert orjson.loads(run.stdout)["alerts"] == []
    check = cli(["alerts", "check", "--json", "--since", "2026-11-20T00:00:00Z"])
    assert check.exit_code == 0 and orjson.loads(check.stdout) == {"anomalies": []}
    bad = cli(["alerts", "check", "--since", "yesterday"])
    assert bad.exit_code != 0 and "--since" in bad.stderr


NEWLINE_PROJECT = "web\nBcc: victim@example.com"


def _two_alerts(hook_url: str, smtp_port: int, *, refuse: bool = False) -> None:
    """Two threshold rules that fire on imported calls, one for a project whose name holds
    a line break, sent to Slack and by email."""
    Path("calls.csv").write_text(
        "started_at,provider,request_model,project,input_tokens,output_tokens\n"
        '2026-11-20T10:00:00Z,openai,gpt-4o-mini,"web\nBcc: victim@example.com",10000,1000\n'
        "2026-11-20T10:00:00Z,openai,gpt-4o-mini,api,10000,1000\n"
    )
    Path("tokenomy.yaml").write_text(
        "alerts:\n  notify:\n"
        f"    slack: {{webhook_url: '{hook_url}', retries: 0}}\n"
        f"    email: {{smtp_host: 127.0.0.1, smtp_port: {smtp_port}, from: t@x.org, "
        "to: [ops@x.org]}\n"
        "  rules:\n"
        '    - {name: nl, kind: threshold, metric: calls, window: 1d, above: 0, project: "'
        + NEWLINE_PROJECT.replace("\n", "\\n")
        + '"}\n'
        "    - {name: api, kind: threshold, metric: calls, window: 1d, above: 0, project: api}\n"
    )


def test_a_line_break_in_a_name_is_emailed_on_one_line_and_sent_once(home: Path, cli: Cli) -> None:
    with webhook() as slack, smtp_sink() as sink:
        _two_alerts(slack.url, sink.port)
        assert cli(["import", "csv", "calls.csv"]).exit_code == 0
        now = ["--now", "2026-11-20T12:00:00Z"]
        first = cli(["alerts", "run", "--json", *now])
        again = cli(["alerts", "run", "--json", *now])
    assert first.exit_code == 0, first.stdout + first.stderr
    assert [a["status"] for a in orjson.loads(first.stdout)["alerts"]] == ["sent", "sent"]
    assert sorted(m["Subject"] for m in sink.messages) == [
        "[tokenomy] api: calls over the last 1d is 1 (project api)",
        "[tokenomy] nl: calls over the last 1d is 1 (project web Bcc: victim@example.com)",
    ]
    assert all(m["Bcc"] is None for m in sink.messages)
    assert [env[1] for env in sink.envelopes] == [["ops@x.org"], ["ops@x.org"]]
    # Remembered: the next run sends nothing again.
    assert again.exit_code == 0
    assert [a["status"] for a in orjson.loads(again.stdout)["alerts"]] == ["duplicate"] * 2
    assert len(slack.received) == 2


def test_a_notifier_that_fails_fails_the_run_but_the_others_deliver(home: Path, cli: Cli) -> None:
    with webhook() as slack, smtp_sink(refuse_rcpt=True) as sink:
        _two_alerts(slack.url, sink.port)
        cli(["import", "csv", "calls.csv"])
        run = cli(["alerts", "run", "--now", "2026-11-20T12:00:00Z"])
    assert run.exit_code == 1  # docs/alerts.md: a failed delivery is exit code 1
    assert run.stdout.count("email: failed: email via 127.0.0.1") == 2
    assert "Traceback" not in run.stdout + run.stderr
    assert len(slack.received) == 2 and sink.messages == []


def test_alert_lines_show_control_characters_in_names_as_escapes(home: Path, cli: Cli) -> None:
    """A project name with an ESC sequence recoloured the terminal and one with a line
    break split the alert's line; JSON keeps the real name."""
    Path("calls.csv").write_text(
        "started_at,provider,request_model,project,input_tokens\n"
        '2026-11-20T10:00:00Z,openai,gpt-4o-mini,"\x1b[31mRED\nBcc: x",10000\n'
    )
    Path("tokenomy.yaml").write_text(
        "alerts:\n  rules:\n"
        '    - {name: t, kind: threshold, metric: calls, window: 1d, above: 0, project: "'
        + "\\e[31mRED\\nBcc: x"
        + '"}\n'
    )
    assert cli(["import", "csv", "calls.csv"]).exit_code == 0
    now = ["--now", "2026-11-20T12:00:00Z"]
    run = cli(["alerts", "run", *now])
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "\x1b" not in run.stdout
    [line] = run.stdout.splitlines()
    assert line.startswith("listed") and "(project \\x1b[31mRED\\nBcc: x)" in line, line
    as_json = orjson.loads(cli(["alerts", "run", "--json", *now]).stdout)
    assert "(project \x1b[31mRED\nBcc: x)" in as_json["alerts"][0]["title"]
