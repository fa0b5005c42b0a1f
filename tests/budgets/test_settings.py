"""tokenomy.yaml's `budgets:`: what is accepted, and errors that name the file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenomy.budgets import Scope
from tokenomy.gateway.config import GatewayConfigError, load_config, parse_config

MODELS = {"fast": [{"provider": "openai", "model": "gpt-4o-mini", "api_key": "k"}]}


def parse(budgets: Any) -> Any:
    return parse_config({"models": MODELS, "budgets": budgets}, Path("tokenomy.yaml"), {})


def test_the_example_of_the_docs_is_read() -> None:
    config = parse(
        {
            "redis_url": "redis://127.0.0.1:6379/0",
            "on_redis_error": "closed",
            "rules": [
                {"name": "web-daily", "project": "web", "period": "daily", "limit_usd": 10},
                {
                    "name": "ann-monthly",
                    "user": "ann",
                    "period": "monthly",
                    "limit_usd": "100.5",
                    "mode": "soft",
                    "alert_at": [0.8, 0.5, 1.0],
                    "timezone": "Europe/Berlin",
                },
                {"name": "acme", "org": "acme", "limit_usd": 0.1},
            ],
        }
    )
    web, ann, acme = config.budgets.rules
    assert config.budgets.on_redis_error == "closed" and config.warnings == []
    assert (web.scope, web.period, web.limit_nanos, web.mode) == (
        Scope(project="web"),
        "daily",
        10_000_000_000,
        "hard",
    )
    assert web.alert_at == () and web.timezone == "UTC"
    assert ann.alert_at == (Decimal("0.5"), Decimal("0.8"), Decimal("1.0"))
    assert ann.limit_nanos == 100_500_000_000 and ann.zone.key == "Europe/Berlin"
    assert ann.thresholds() == [
        (500, 50_250_000_000),
        (800, 80_400_000_000),
        (1000, ann.limit_nanos),
    ]
    # 0.1 is taken as written, not as the binary float nearest to it.
    assert acme.limit_nanos == 100_000_000 and acme.period == "monthly"


def test_no_budgets_section_is_no_budgets() -> None:
    config = parse_config({"models": MODELS}, Path("tokenomy.yaml"), {})
    assert config.budgets.rules == () and config.budgets.redis_url is None


def test_rules_without_redis_warn_that_they_hold_in_this_process_only() -> None:
    config = parse({"rules": [{"name": "all", "limit_usd": 5}]})
    assert config.warnings and "this process only" in config.warnings[0]


@pytest.mark.parametrize(
    ("budgets", "where", "problem"),
    [
        ([], "budgets", "expected a mapping"),
        ({"redis": "x"}, "budgets.redis", "unknown key"),
        ({"redis_url": "http://x"}, "budgets.redis_url", "redis://host:port/db"),
        ({"on_redis_error": "maybe"}, "budgets.on_redis_error", "open (serve and log) or closed"),
        ({"default_max_tokens": 0}, "budgets.default_max_tokens", "whole number"),
        ({"rules": {"a": 1}}, "budgets.rules", "expected a list"),
        ({"rules": ["x"]}, "budgets.rules[0]", "expected a mapping"),
        ({"rules": [{"limit_usd": 1}]}, "budgets.rules[0].name", "expected a name"),
        ({"rules": [{"name": "a:b", "limit_usd": 1}]}, "budgets.rules[0].name", "letters"),
        ({"rules": [{"name": "a"}]}, "budgets.rules[0].limit_usd", "missing"),
        ({"rules": [{"name": "a", "limit_usd": "ten"}]}, "budgets.rules[0].limit_usd", "USD"),
        ({"rules": [{"name": "a", "limit_usd": -1}]}, "budgets.rules[0].limit_usd", "zero or more"),
        (
            {"rules": [{"name": "a", "limit_usd": "0.0000000001"}]},
            "budgets.rules[0].limit_usd",
            "finer than a billionth",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "period": "weekly"}]},
            "budgets.rules[0].period",
            "daily or monthly",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "mode": "loud"}]},
            "budgets.rules[0].mode",
            "hard",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "alert_at": [0]}]},
            "budgets.rules[0].alert_at",
            "above 0",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "alert_at": ["80%"]}]},
            "budgets.rules[0].alert_at",
            "fractions",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "timezone": "Mars/Base"}]},
            "budgets.rules[0].timezone",
            "IANA",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "project": ""}]},
            "budgets.rules[0].project",
            "project name",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1, "team": "x"}]},
            "budgets.rules[0].team",
            "unknown key",
        ),
        (
            {"rules": [{"name": "a", "limit_usd": 1}, {"name": "a", "limit_usd": 2}]},
            "budgets.rules[1].name",
            "used twice",
        ),
    ],
)
def test_errors_name_the_file_and_the_key(budgets: Any, where: str, problem: str) -> None:
    with pytest.raises(GatewayConfigError) as caught:
        parse(budgets)
    message = str(caught.value)
    assert message.startswith(f"tokenomy.yaml: {where}: "), message
    assert problem in message


def test_a_file_with_a_bad_budget_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(yaml.safe_dump({"models": MODELS, "budgets": {"rules": [{"name": "x"}]}}))
    with pytest.raises(GatewayConfigError, match=rf"^{path}: budgets.rules\[0\].limit_usd"):
        load_config(path)
