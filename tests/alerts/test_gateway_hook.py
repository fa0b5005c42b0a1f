"""`tokenomy serve` sends budget alerts itself when `alerts:` has budget rules."""

from __future__ import annotations

from pathlib import Path

import yaml

from tokenomy.config import Paths
from tokenomy.gateway.config import load_config
from tokenomy.gateway.serve import build_gateway

MODELS = {"fast": [{"provider": "openai", "model": "gpt-4o-mini", "api_key": "k"}]}
BUDGETS = {"rules": [{"name": "web-daily", "project": "web", "period": "daily",
                      "limit_usd": 1, "mode": "soft", "alert_at": [0.5]}]}  # fmt: skip


def _gateway(tmp_path: Path, alerts: dict[str, object] | None) -> int:
    raw: dict[str, object] = {"models": MODELS, "budgets": BUDGETS}
    if alerts is not None:
        raw["alerts"] = alerts
    path = tmp_path / "tokenomy.yaml"
    path.write_text(yaml.safe_dump(raw))
    paths = Paths.from_env({"TOKENOMY_HOME": str(tmp_path / "home")})
    gateway = build_gateway(load_config(path, {}), paths, record=False, config_path=path)
    return len(gateway.budgets.alert_hooks)


def test_budget_rules_are_sent_from_the_gateway(tmp_path: Path) -> None:
    alerts = {
        "notify": {"webhook": {"url": "http://127.0.0.1:9/hook"}},
        "rules": [{"name": "web-budget", "kind": "budget", "budget": "web-daily", "at": [0.5]}],
    }
    assert _gateway(tmp_path, alerts) == 1


def test_no_budget_rule_no_hook(tmp_path: Path) -> None:
    assert _gateway(tmp_path, None) == 0
