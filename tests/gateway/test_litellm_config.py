"""A LiteLLM proxy config.yaml works as it is: aliases, providers, keys, limits, routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.gateway.config import GatewayConfigError, load_config

LITELLM = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/prod-gpt4o
      api_base: https://me.openai.azure.com/
      api_key: os.environ/AZURE_KEY
      api_version: "2024-10-21"
      rpm: 600
      tpm: 100000
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-literal
      timeout: 30
    model_info:
      id: second
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_KEY
      max_retries: 4
  - model_name: local
    litellm_params:
      model: ollama/llama3
      api_base: http://127.0.0.1:11434
  - model_name: router
    litellm_params:
      model: openrouter/anthropic/claude-3.5-haiku
      api_key: x
  - model_name: bare
    litellm_params:
      model: gemini-2.5-pro
      api_key: g
router_settings:
  routing_strategy: least-busy
  num_retries: 3
  allowed_fails: 2
  cooldown_time: 12
  timeout: 45
  fallbacks: [{"gpt-4o": ["claude"]}, {"claude": ["local"]}]
  redis_host: localhost
litellm_settings:
  drop_params: true
  success_callback: ["langfuse"]
general_settings:
  master_key: sk-1234
  database_url: postgresql://litellm@db/litellm
  alerting: [slack]
environment_variables:
  ANTHROPIC_KEY: from-file
"""


def test_a_litellm_config_maps_to_aliases_and_routing(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM)
    config = load_config(path, {"AZURE_KEY": "az-secret"})
    azure, openai = config.aliases["gpt-4o"]
    assert (azure.provider.name, azure.model, azure.base_url) == (
        "azure",
        "prod-gpt4o",
        "https://me.openai.azure.com",
    )
    assert (azure.api_key, azure.api_version, azure.rpm, azure.tpm) == (
        "az-secret",
        "2024-10-21",
        600,
        100000,
    )
    assert azure.timeout == 45.0  # the proxy-wide timeout
    assert (openai.provider.name, openai.api_key, openai.timeout) == ("openai", "sk-literal", 30.0)
    claude = config.aliases["claude"][0]
    assert (claude.provider.name, claude.api_key) == ("anthropic", "from-file")
    local = config.aliases["local"][0]
    assert (local.provider.name, local.base_url) == (
        "openai-compatible",
        "http://127.0.0.1:11434/v1",
    )
    routed = config.aliases["router"][0]
    assert (routed.provider.name, routed.model) == ("openrouter", "anthropic/claude-3.5-haiku")
    assert config.aliases["bare"][0].provider.name == "gemini"
    assert config.fallbacks == {"gpt-4o": ["claude"], "claude": ["local"]}
    router = config.router
    assert (router.strategy, router.retries, router.failure_threshold, router.cooldown) == (
        "least-busy",
        3,
        3,
        12.0,
    )
    ignored = "\n".join(config.warnings)
    for name in (
        "router_settings.redis_host",
        "litellm_settings.drop_params",
        "litellm_settings.success_callback",
        "general_settings.master_key",
        "general_settings.database_url",
        "general_settings.alerting",
        "model_list[2].litellm_params.max_retries",
    ):
        assert name in ignored


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_list: []", "model_list: expected a list"),
        ("model_list:\n  - litellm_params: {model: openai/x}", "model_list[0].model_name: missing"),
        ("model_list:\n  - model_name: a", "model_list[0].litellm_params: missing"),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, "
            "api_key: os.environ/NOPE}",
            "model_list[0].litellm_params.api_key: environment variable NOPE is not set",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: azure/x, "
            "api_base: os.environ/NOPE}",
            "model_list[0].litellm_params.api_base: environment variable NOPE is not set",
        ),
        # The key the user wrote, not the one it becomes (base_url, timeout).
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, "
            "api_base: ftp://h}",
            "model_list[0].litellm_params.api_base: expected an http(s) URL, got 'ftp://h'",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, "
            "stream_timeout: -1}",
            "model_list[0].litellm_params.stream_timeout: expected a positive number",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n    weight: 0",
            "model_list[0].weight: expected a positive number",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, rpm: lots}",
            "model_list[0].litellm_params.rpm: expected a positive whole number",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n"
            "router_settings:\n  fallbacks: [{a: [b]}]",
            "router_settings.fallbacks.a: unknown fallback alias 'b'",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n"
            "router_settings:\n  num_retries: many",
            "router_settings.num_retries: expected a whole number",
        ),
    ],
)
def test_litellm_config_errors_name_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_os_environ_is_read_in_every_litellm_param(tmp_path: Path) -> None:
    """LiteLLM's Azure examples read api_base and api_version from the environment too."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n"
        "      model: os.environ/AZURE_MODEL\n"
        "      api_base: os.environ/AZURE_API_BASE\n"
        "      api_key: os.environ/AZURE_API_KEY\n"
        "      api_version: os.environ/AZURE_API_VERSION\n"
        "      timeout: 30\n"
        # A LiteLLM-only setting's variable need not be set for tokenomy.
        "      aws_secret_access_key: os.environ/UNSET_AWS_SECRET\n"
        "environment_variables:\n  AZURE_API_VERSION: 2024-10-21\n"
    )
    env = {
        "AZURE_MODEL": "azure/chatgpt-v-2",
        "AZURE_API_BASE": "http://127.0.0.1:18123/",
        "AZURE_API_KEY": "k",
    }
    (azure,) = load_config(path, env).aliases["gpt-4o"]
    assert (azure.provider.name, azure.model, azure.base_url, azure.api_key) == (
        "azure",
        "chatgpt-v-2",
        "http://127.0.0.1:18123",
        "k",
    )
    assert azure.api_version == "2024-10-21"


_OWN_SECTIONS = """
model_list:
  - model_name: fast
    litellm_params: {model: openai/gpt-4o-mini, api_key: k}
cache:
  aliases: {fast: exact}
budgets:
  rules:
    - {name: zero, limit_usd: 0, mode: hard}
alerts:
  rules:
    - {name: at-zero, kind: budget, budget: zero, at: [1.0]}
"""


def test_tokenomys_own_sections_are_enforced_in_a_litellm_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tokenomy budgets` and alerts read budgets: from any file; the gateway ignored it
    in this format with a one-line warning, so the hard limit was listed but never held."""
    from tokenomy.alerts import load_alerts
    from tokenomy.cli.main import main

    path = tmp_path / "config.yaml"
    path.write_text(_OWN_SECTIONS)
    config = load_config(path, {})
    assert [(b.name, b.limit_nanos, b.mode) for b in config.budgets.rules] == [("zero", 0, "hard")]
    assert config.cache.aliases == {"fast": "exact"}
    assert not [w for w in config.warnings if "budgets:" in w or "cache:" in w]
    assert [r.budget for r in load_alerts(path).rules] == ["zero"]
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    assert main(["budgets", "status", "--config", str(path), "--json"]) == 0
    assert '"name": "zero"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("budget:\n  rules: []\n", "budget: unknown key; did you mean budgets?"),
        ("cache:\n  aliases: {slow: exact}\n", "cache.aliases.slow: no such model alias"),
    ],
)
def test_a_mistake_in_our_sections_of_a_litellm_file_is_refused(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n  - model_name: fast\n    litellm_params: {model: openai/x, api_key: k}\n"
        + extra
    )
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}: {expected}")
