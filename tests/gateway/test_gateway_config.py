"""tokenomy.yaml: aliases to deployments; every error names the file, the key and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.gateway.config import GatewayConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(text)
    return path


def test_aliases_map_to_deployments_with_keys_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  fast:
    - provider: openai
      model: gpt-4o-mini
      api_key_env: MY_KEY
    - provider: groq
      model: llama-3.1-8b-instant
      api_key: literal-key
      timeout: 30
  smart:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: http://127.0.0.1:9999/
""",
    )
    config = load_config(path, {"MY_KEY": "sk-from-env"})
    fast = config.deployments("fast")
    assert fast is not None
    assert [(d.label, d.api_key, d.timeout) for d in fast] == [
        ("openai/gpt-4o-mini", "sk-from-env", 600.0),
        ("groq/llama-3.1-8b-instant", "literal-key", 30.0),
    ]
    assert fast[1].base_url == "https://api.groq.com/openai/v1"
    smart = config.deployments("smart")
    assert smart is not None and smart[0].base_url == "http://127.0.0.1:9999"
    assert config.deployments("other") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "modelz: {}",
            "modelz: unknown key (expected: models, fallbacks, router, cache, budgets, reports, "
            "alerts)",
        ),
        ("models: [1]", "models: expected a mapping of alias -> list of deployments"),
        ("models:\n  a: []", "models.a: expected a list of deployments"),
        ("models:\n  a:\n    - model: x", "models.a[0].provider: missing"),
        (
            "models:\n  a:\n    - provider: nope\n      model: x",
            "models.a[0].provider: unknown provider 'nope'",
        ),
        ("models:\n  a:\n    - provider: openai", "models.a[0].model: missing"),
        (
            "models:\n  a:\n    - {provider: openai, model: x, api_key_env: UNSET_VAR}",
            "models.a[0].api_key_env: environment variable UNSET_VAR is not set",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, timeout: -1}",
            "models.a[0].timeout: expected a positive number of seconds",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, base_url: ftp://h}",
            "models.a[0].base_url: expected an http(s) URL",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, colour: red}",
            "models.a[0].colour: unknown key",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, weight: 0}",
            "models.a[0].weight: expected a positive number",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, rpm: 1.5}",
            "models.a[0].rpm: expected a positive whole number per minute",
        ),
        (
            "models:\n  a:\n    - {provider: openai, model: x, first_byte_timeout: 0}",
            "models.a[0].first_byte_timeout: expected a positive number of seconds",
        ),
        (
            "models:\n  a:\n    - {provider: azure, model: x}",
            "models.a[0].base_url: required for azure",
        ),
        (
            "models:\n  a: [{provider: openai, model: x}]\nfallbacks:\n  a: [b]",
            "fallbacks.a: unknown fallback alias 'b'",
        ),
        (
            "models:\n  a: [{provider: openai, model: x}]\nfallbacks:\n  z: [a]",
            "fallbacks.z: unknown alias 'z'",
        ),
        (
            "models:\n  a: [{provider: openai, model: x}]\nrouter:\n  strategy: random",
            "router.strategy: expected one of ordered, weighted, least-busy",
        ),
        (
            "models:\n  a: [{provider: openai, model: x}]\nrouter:\n  retries: -1",
            "router.retries: expected a whole number >= 0",
        ),
        (
            "models:\n  a: [{provider: openai, model: x}]\nrouter:\n  speed: 11",
            "router.speed: unknown key",
        ),
        ("models: {a: [", "not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml", {})


def test_routing_settings_and_fallbacks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  fast:
    - {provider: openai, model: a, weight: 3, rpm: 60, tpm: 1000, first_byte_timeout: 5}
    - {provider: azure, model: my-deploy, base_url: "https://me.openai.azure.com",
       api_key: k, api_version: "2025-01-01"}
  slow:
    - {provider: gemini, model: gemini-2.5-flash, api_key: g}
fallbacks:
  fast: slow
router:
  strategy: least-busy
  retries: 0
  backoff: 0
  cooldown: 5
""",
    )
    config = load_config(path, {})
    first, azure = config.aliases["fast"]
    assert (first.weight, first.rpm, first.tpm, first.first_byte_timeout) == (3.0, 60, 1000, 5.0)
    assert first.connect_timeout == 10.0 and first.timeout == 600.0
    assert azure.provider.url(
        azure.base_url, "chat", model=azure.model, api_version="2025-01-01"
    ) == (
        "https://me.openai.azure.com/openai/deployments/my-deploy/chat/completions"
        "?api-version=2025-01-01"
    )
    assert azure.provider.auth_headers("k") == {"api-key": "k"}
    gemini = config.aliases["slow"][0]
    assert gemini.provider.url(gemini.base_url, "chat", model=gemini.model, stream=True) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse"
    )
    assert config.fallbacks == {"fast": ["slow"]}
    assert (config.router.strategy, config.router.retries, config.router.backoff) == (
        "least-busy",
        0,
        0.0,
    )
    assert config.router.cooldown == 5.0


_ALIAS = "models:\n  a:\n    - {provider: openai, model: x"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"{_ALIAS}, timeout: .nan}}", "models.a[0].timeout"),
        (f"{_ALIAS}, connect_timeout: .inf}}", "models.a[0].connect_timeout"),
        (f"{_ALIAS}, weight: .nan}}", "models.a[0].weight"),
        (f"{_ALIAS}}}\ncache: {{ttl: .nan}}", "cache.ttl"),
        (f"{_ALIAS}}}\ncache: {{max_mb: .inf}}", "cache.max_mb"),
        (f"{_ALIAS}}}\ncache: {{max_mb: .nan}}", "cache.max_mb"),
        (f"{_ALIAS}}}\nrouter: {{cooldown: .nan}}", "router.cooldown"),
        (f"{_ALIAS}}}\nrouter: {{max_backoff: .nan}}", "router.max_backoff"),
        (f"{_ALIAS}}}\nrouter: {{backoff: .inf}}", "router.backoff"),
        (
            "budgets: {rules: [{name: a, limit_usd: 10, alert_at: [.nan]}]}",
            "budgets.rules[0].alert_at",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
            "router_settings: {timeout: .nan}",
            "router_settings.timeout",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
            "router_settings: {cooldown_time: .nan}",
            "router_settings.cooldown_time",
        ),
    ],
)
def test_nan_and_infinity_are_refused(tmp_path: Path, text: str, key: str) -> None:
    """`nan <= 0` is False: a NaN timeout switched the timeout off, a NaN weight took all
    the traffic, and cache.max_mb: .inf crashed with a traceback."""
    path = write(tmp_path, text)
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}: {key}: expected a finite number, got ")


def test_an_unquoted_api_version_is_read_as_written(tmp_path: Path) -> None:
    """YAML reads `api_version: 2024-10-21` as a date: it was refused."""
    path = write(
        tmp_path,
        "models:\n  azure-4o:\n    - {provider: azure, model: my-gpt4o, "
        "base_url: 'https://me.openai.azure.com', api_key: k, api_version: 2024-10-21}\n",
    )
    (deployment,) = load_config(path, {}).aliases["azure-4o"]
    assert deployment.api_version == "2024-10-21"
