"""The `reports:` section of tokenomy.yaml: what it accepts, and errors that name the file
and the key; the gateway reads the same file and leaves the section alone."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tokenomy.gateway.config import load_config
from tokenomy.reports import ReportConfigError, Webhook, load_reports

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")

FULL = """\
models:
  fast:
    - provider: openai
      model: gpt-4o-mini
      api_key: sk-test
reports:
  - name: team-weekly
    every: weekly
    timezone: Europe/Paris
    filters: {project: [web, api], model: gpt-4o}
    stack: project
    to:
      folder: out/reports
      webhook: https://hooks.example/abc
  - name: me.daily
    every: daily
    to:
      webhook: {url: "http://127.0.0.1:9/x", timeout: 2.5, retries: 0, backoff: 0, html: false}
"""


def test_a_full_section_is_read_and_the_gateway_ignores_it(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(FULL)
    weekly, daily = load_reports(path, UTC)
    assert (weekly.name, weekly.every, weekly.tz, weekly.stack) == (
        "team-weekly",
        "weekly",
        PARIS,
        "project",
    )
    assert weekly.filters == {"project": ("web", "api"), "model": ("gpt-4o",)}
    assert weekly.folder == tmp_path / "out" / "reports"  # next to the file, not the cwd
    assert weekly.webhook == Webhook("https://hooks.example/abc")
    assert (daily.tz, daily.folder, daily.stack) == (UTC, None, "model")
    assert daily.webhook == Webhook("http://127.0.0.1:9/x", 2.5, 0, 0.0, html=False)
    gateway = load_config(path)
    assert list(gateway.aliases) == ["fast"]


def test_a_file_without_reports_has_none(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text("models: {}\n")
    assert load_reports(path, UTC) == []


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("reports: {a: 1}", "reports: expected a list of reports"),
        ("reports: [1]", "reports[0]: expected a mapping with name, every and to"),
        (
            "reports: [{name: 'a b', every: daily, to: {folder: x}}]",
            "reports[0].name: expected letters, digits",
        ),
        (
            "reports: [{name: a, every: hourly, to: {folder: x}}]",
            "reports[0].every: expected one of: daily, weekly, got 'hourly'",
        ),
        (
            "reports: [{name: a, every: daily, to: {folder: x}, colour: red}]",
            "reports[0].colour: unknown key (expected one of: name, every, timezone",
        ),
        (
            "reports: [{name: a, every: daily, timezone: Mars/Base, to: {folder: x}}]",
            "reports[0].timezone: expected an IANA zone such as Europe/Paris, got 'Mars/Base'",
        ),
        (
            "reports: [{name: a, every: daily, filters: {colour: [red]}, to: {folder: x}}]",
            "reports[0].filters.colour: unknown dimension (expected one of: project, model",
        ),
        (
            "reports: [{name: a, every: daily, filters: {project: []}, to: {folder: x}}]",
            "reports[0].filters.project: expected a value or a non-empty list of values",
        ),
        (
            "reports: [{name: a, every: daily, stack: colour, to: {folder: x}}]",
            "reports[0].stack: expected one of: model, project",
        ),
        ("reports: [{name: a, every: daily}]", "reports[0].to: expected a mapping with folder"),
        (
            "reports: [{name: a, every: daily, to: {email: me@example.com}}]",
            "reports[0].to.email: unknown key (expected one of: folder, webhook)",
        ),
        (
            "reports: [{name: a, every: daily, to: {webhook: ftp://x}}]",
            "reports[0].to.webhook: expected an http(s) URL, got 'ftp://x'",
        ),
        (
            "reports: [{name: a, every: daily, to: {webhook: {url: 'http://x', retries: 99}}}]",
            "reports[0].to.webhook.retries: expected a whole number from 0 to 10, got 99",
        ),
        (
            "reports: [{name: a, every: daily, to: {webhook: {url: 'http://x', timeout: 0}}}]",
            "reports[0].to.webhook.timeout: expected a positive number of seconds, got 0",
        ),
        (
            "reports: [{name: a, every: daily, to: {webhook: {url: 'http://x', timeout: .nan}}}]",
            "reports[0].to.webhook.timeout: expected a finite number, got nan",
        ),
        (
            "reports: [{name: a, every: daily, to: {webhook: {url: 'http://x', backoff: .inf}}}]",
            "reports[0].to.webhook.backoff: expected a finite number, got inf",
        ),
        (
            "reports:\n - {name: a, every: daily, to: {folder: x}}\n"
            " - {name: a, every: weekly, to: {folder: y}}",
            "reports[1].name: 'a' is used twice; names must be unique",
        ),
    ],
)
def test_a_bad_section_names_the_file_and_the_key(
    tmp_path: Path, section: str, expected: str
) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(section + "\n")
    with pytest.raises(ReportConfigError) as err:
        load_reports(path, UTC)
    assert str(err.value).startswith(f"{path}: {expected}")


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text("reports: [\n")
    with pytest.raises(ReportConfigError, match="not valid YAML"):
        load_reports(path, UTC)
    with pytest.raises(ReportConfigError, match="cannot read"):
        load_reports(tmp_path / "missing.yaml", UTC)
