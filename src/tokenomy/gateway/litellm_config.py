"""A LiteLLM proxy ``config.yaml`` read as a gateway config, so a LiteLLM user can switch
with the file they have:

```yaml
model_list:
  - model_name: gpt-4o                       # the alias
    litellm_params:
      model: azure/my-gpt4o                  # provider/model
      api_base: https://me.openai.azure.com
      api_key: os.environ/AZURE_API_KEY      # an environment variable (in any value)
      api_version: "2024-10-21"
      rpm: 600
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  fallbacks: [{gpt-4o: [claude]}]
  timeout: 30
```

Settings that only make sense inside LiteLLM (callbacks, its database, its master key) are
not errors: the file is the user's and works with LiteLLM too. They are listed in
``GatewayConfig.warnings`` so ``tokenomy serve`` can say what it ignored. Tokenomy's own
sections (``cache``, ``budgets``, ``alerts``, ``reports``) are read beside LiteLLM's as they
are in tokenomy.yaml: ``tokenomy budgets`` reads them from any file, so the gateway must
enforce them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from tokenomy.config import LITELLM_SECTIONS, OWN_SECTIONS, check_finite, check_sections
from tokenomy.gateway.config import (
    STRATEGIES,
    Deployment,
    Fail,
    GatewayConfig,
    GatewayConfigError,
    RouterSettings,
    Strategy,
    deployment,
    failer,
    is_number,
    parse_fallbacks,
    parse_own_sections,
)
from tokenomy.gateway.providers import known_providers

# LiteLLM's provider prefixes that are ours under another name.
_PROVIDER_NAMES = {
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "hosted_vllm": "openai-compatible",
    "vllm": "openai-compatible",
    "ollama": "openai-compatible",
    "ollama_chat": "openai-compatible",
    "lm_studio": "openai-compatible",
    "llamafile": "openai-compatible",
}
# Ollama's OpenAI-compatible API lives under /v1 of the address LiteLLM is given.
_NEEDS_V1 = {"ollama", "ollama_chat"}
_STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": "weighted",
    "shuffle": "weighted",
    "least-busy": "least-busy",
    "ordered": "ordered",
}
_USED_PARAMS = {
    "model",
    "api_base",
    "base_url",
    "api_key",
    "api_version",
    "rpm",
    "tpm",
    "timeout",
    "stream_timeout",
    "weight",
}
# Tokenomy's own sections (cache, budgets, alerts, reports) are read in this format too.
_TOP_KEYS = set(LITELLM_SECTIONS) | set(OWN_SECTIONS)


def parse_litellm_config(raw: dict[str, Any], path: Path, env: dict[str, str]) -> GatewayConfig:
    fail = failer(path)
    check_sections(raw, path, GatewayConfigError, "model_list")
    config = GatewayConfig(path=path)
    for key in sorted(set(raw) - _TOP_KEYS):
        config.warnings.append(
            f"{path}: {key}: not a LiteLLM proxy setting tokenomy knows; ignored"
        )
    variables = raw.get("environment_variables") or {}
    if not isinstance(variables, dict):
        fail("environment_variables", "expected a mapping of NAME: value")
    # LiteLLM sets these in its environment; the process's own environment still wins.
    env = {**{str(k): str(v) for k, v in variables.items()}, **env}
    entries = raw.get("model_list")
    if not isinstance(entries, list) or not entries:
        fail("model_list", "expected a list of {model_name, litellm_params} entries")
    providers = known_providers()
    for i, entry in enumerate(entries):
        where = f"model_list[{i}]"
        if not isinstance(entry, dict):
            fail(where, "expected a mapping with model_name and litellm_params")
        alias = entry.get("model_name")
        if not isinstance(alias, str) or not alias:
            fail(f"{where}.model_name", "missing: the name clients ask for")
        params = entry.get("litellm_params")
        if not isinstance(params, dict):
            fail(f"{where}.litellm_params", "missing: a mapping with at least 'model'")
        here = f"{where}.litellm_params"
        ours = _translate_params(params, entry, here, env, fail, config)
        config.aliases.setdefault(alias, []).append(
            deployment(ours, here, providers, env, _as_written(params, entry, where, fail))
        )
    router = raw.get("router_settings") or {}
    settings = raw.get("litellm_settings") or {}
    for name, section in (("router_settings", router), ("litellm_settings", settings)):
        if not isinstance(section, dict):
            fail(name, "expected a mapping")
    config.router, fallbacks_where, fallbacks = _router(router, settings, fail, config, path)
    config.fallbacks = _fallbacks(fallbacks, fallbacks_where, config.aliases, fail)
    timeout = router.get("timeout", settings.get("request_timeout"))
    if timeout is not None:
        # A proxy-wide timeout applies to each deployment that did not set its own.
        check_finite(timeout, "router_settings.timeout", fail)
        if not is_number(timeout) or timeout <= 0:
            fail("router_settings.timeout", f"expected a positive number of seconds: {timeout!r}")
        for alias, deployments in config.aliases.items():
            config.aliases[alias] = [
                d if d.timeout != 600.0 else _with_timeout(d, float(timeout)) for d in deployments
            ]
    general = raw.get("general_settings") or {}
    for key in sorted(general) if isinstance(general, dict) else ():
        # LiteLLM's own database, alerting, UI...: nothing here reads them; say so.
        hint = (
            "create keys with `tokenomy keys create`"
            if key == "master_key"
            else "a LiteLLM proxy setting; Tokenomy keeps its data in TOKENOMY_DB"
            if key in ("database_url", "store_model_in_db", "database_connection_pool_limit")
            else "a LiteLLM proxy setting"
        )
        config.warnings.append(f"{path}: general_settings.{key}: ignored; {hint}")
    parse_own_sections(raw, config, fail, env)
    return config


def _translate_params(
    params: dict[str, Any],
    entry: dict[str, Any],
    where: str,
    env: dict[str, str],
    fail: Fail,
    config: GatewayConfig,
) -> dict[str, Any]:
    params = _from_environment(params, where, env, fail)
    model = params.get("model")
    if not isinstance(model, str) or not model:
        fail(f"{where}.model", "missing: provider/model, e.g. openai/gpt-4o")
    prefix, sep, rest = model.partition("/")
    if sep and (prefix in known_providers() or prefix in _PROVIDER_NAMES):
        provider, model_id = _PROVIDER_NAMES.get(prefix, prefix), rest
    else:
        # LiteLLM infers the provider from a bare model name the same way.
        provider, model_id = _infer_provider(model), model
        prefix = provider
    ours: dict[str, Any] = {"provider": provider, "model": model_id}
    base_key = "api_base" if "api_base" in params else "base_url"
    base = params.get(base_key)
    if base is not None:
        if not isinstance(base, str):
            fail(f"{where}.{base_key}", "expected a URL")
        base = base.rstrip("/")
        ours["base_url"] = (
            base + "/v1" if prefix in _NEEDS_V1 and not base.endswith("/v1") else base
        )
    if params.get("api_key") is not None:
        ours["api_key"] = params["api_key"]
    if params.get("api_version") is not None:
        ours["api_version"] = str(params["api_version"])
    for name in ("rpm", "tpm", "weight"):
        value = params.get(name, entry.get(name))
        if value is not None:
            ours[name] = value
    timeout = params.get("timeout", params.get("stream_timeout"))
    if timeout is not None:
        ours["timeout"] = timeout
    for name in sorted(set(params) - _USED_PARAMS):
        config.warnings.append(f"{config.path}: {where}.{name}: not used by tokenomy; ignored")
    return ours


_ENVIRON = "os.environ/"


def _from_environment(
    params: dict[str, Any], where: str, env: dict[str, str], fail: Fail
) -> dict[str, Any]:
    """``params`` with each ``os.environ/NAME`` replaced by the variable's value. LiteLLM
    reads it in any value (its docs write ``api_base: os.environ/AZURE_API_BASE``), so
    only reading it in ``api_key`` refused some files and sent Azure a literal
    ``api-version=os.environ/...`` from others. Only the values used here are read: a
    variable for a LiteLLM-only setting need not be set for tokenomy."""
    out = dict(params)
    for name in sorted(_USED_PARAMS & set(params)):
        value = params[name]
        if isinstance(value, str) and value.startswith(_ENVIRON):
            variable = value.removeprefix(_ENVIRON)
            resolved = env.get(variable)
            if not resolved:
                fail(f"{where}.{name}", f"environment variable {variable} is not set")
            out[name] = resolved
    return out


def _as_written(params: dict[str, Any], entry: dict[str, Any], where: str, fail: Fail) -> Fail:
    """``fail`` for :func:`deployment`, which names our keys: an error names the key the
    user wrote (``api_base``, not ``base_url``), where they wrote it."""
    here = f"{where}.litellm_params"
    written = {
        "provider": "model",
        "base_url": "api_base" if "api_base" in params else "base_url",
        "timeout": "timeout" if "timeout" in params else "stream_timeout",
    }
    renamed = {f"{here}.{ours}": f"{here}.{theirs}" for ours, theirs in written.items()}
    for name in ("rpm", "tpm", "weight"):
        if name not in params and name in entry:
            renamed[f"{here}.{name}"] = f"{where}.{name}"

    def fail_as_written(key: str, problem: str) -> NoReturn:
        fail(renamed.get(key, key), problem)

    return fail_as_written


def _infer_provider(model: str) -> str:
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gemini"):
        return "gemini"
    return "openai"


def _router(
    router: dict[str, Any],
    settings: dict[str, Any],
    fail: Fail,
    config: GatewayConfig,
    path: Path,
) -> tuple[RouterSettings, str, Any]:
    defaults = RouterSettings()
    strategy_name = router.get("routing_strategy", "simple-shuffle")
    strategy = _STRATEGIES.get(strategy_name)
    if strategy is None:
        # Usage-, latency- and cost-based routing need state LiteLLM keeps in Redis.
        config.warnings.append(
            f"{path}: router_settings.routing_strategy: {strategy_name!r} is not supported; "
            f"using weighted (supported: {', '.join(STRATEGIES)})"
        )
        strategy = "weighted"
    retries = router.get("num_retries", settings.get("num_retries", defaults.retries))
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        fail("router_settings.num_retries", f"expected a whole number >= 0, got {retries!r}")
    allowed_fails = router.get("allowed_fails", defaults.failure_threshold)
    if isinstance(allowed_fails, bool) or not isinstance(allowed_fails, int) or allowed_fails < 0:
        fail("router_settings.allowed_fails", f"expected a whole number, got {allowed_fails!r}")
    cooldown = router.get("cooldown_time", defaults.cooldown)
    check_finite(cooldown, "router_settings.cooldown_time", fail)
    if not is_number(cooldown) or cooldown < 0:
        fail("router_settings.cooldown_time", f"expected seconds, got {cooldown!r}")
    known = {"routing_strategy", "num_retries", "allowed_fails", "cooldown_time", "timeout"}
    known |= {"fallbacks"}
    for name in sorted(set(router) - known):
        config.warnings.append(f"{path}: router_settings.{name}: not used by tokenomy; ignored")
    if "fallbacks" in router:
        fallbacks_where, fallbacks = "router_settings.fallbacks", router["fallbacks"]
    else:
        fallbacks_where, fallbacks = "litellm_settings.fallbacks", settings.get("fallbacks")
    settings_used = {"num_retries", "fallbacks", "request_timeout"}
    for name in sorted(set(settings) - settings_used):
        config.warnings.append(f"{path}: litellm_settings.{name}: not used by tokenomy; ignored")
    return (
        RouterSettings(
            strategy=strategy,
            retries=retries,
            # LiteLLM's allowed_fails counts failures *allowed* before cooldown.
            failure_threshold=allowed_fails + 1,
            cooldown=float(cooldown) or defaults.cooldown,
        ),
        fallbacks_where,
        fallbacks,
    )


def _fallbacks(
    raw: Any, where: str, aliases: dict[str, list[Deployment]], fail: Fail
) -> dict[str, list[str]]:
    """LiteLLM writes fallbacks as a list of one-key mappings: ``[{a: [b, c]}, ...]``."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return parse_fallbacks(raw, where, aliases, fail)
    if not isinstance(raw, list):
        fail(where, "expected a list of {alias: [fallback aliases]}")
    merged: dict[str, Any] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            fail(f"{where}[{i}]", "expected a mapping {alias: [fallback aliases]}")
        merged.update(item)
    return parse_fallbacks(merged, where, aliases, fail)


def _with_timeout(d: Deployment, timeout: float) -> Deployment:
    from dataclasses import replace

    return replace(d, timeout=timeout)
