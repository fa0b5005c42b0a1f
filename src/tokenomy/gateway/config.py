"""``tokenomy.yaml``: model aliases, the deployments that serve them, and how to route.

```yaml
models:
  fast:                          # the alias clients ask for
    - provider: openai           # a registered provider (tokenomy.gateway.providers)
      model: gpt-4o-mini         # the provider's own model id
      api_key_env: OPENAI_API_KEY
      base_url: https://...      # optional: the provider's default otherwise
      weight: 2                  # optional: share of traffic under `strategy: weighted`
      rpm: 500                   # optional: requests per minute this deployment may take
      tpm: 200000                # optional: tokens per minute
      timeout: 600               # optional: seconds for the whole call
      connect_timeout: 10        # optional: seconds to connect
      first_byte_timeout: 120    # optional: seconds until the response starts
fallbacks:
  fast: [smart]                  # aliases tried after every deployment of `fast` failed
router:
  strategy: ordered              # ordered | weighted | least-busy
  retries: 2                     # extra rounds over the deployments on retryable failures
```

A LiteLLM proxy ``config.yaml`` (a top-level ``model_list``) is read too: see
:mod:`tokenomy.gateway.litellm_config`.

Every error names the file, the key and what is wrong, because the file is edited by hand
and a gateway that starts with a wrong config is worse than one that refuses to start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from tokenomy.budgets.settings import BudgetSettings, parse_budgets
from tokenomy.cache.settings import CacheSettings, parse_cache
from tokenomy.config import Paths, check_finite, check_sections, read_yaml
from tokenomy.gateway.providers import Provider, known_providers


class GatewayConfigError(ValueError):
    """A config file that cannot be used, with where and why."""


Strategy = Literal["ordered", "weighted", "least-busy"]
STRATEGIES: tuple[Strategy, ...] = ("ordered", "weighted", "least-busy")


@dataclass(frozen=True, slots=True)
class Deployment:
    """One provider model that can answer for an alias."""

    provider: Provider
    model: str
    base_url: str
    api_key: str | None
    timeout: float = 600.0
    connect_timeout: float = 10.0
    first_byte_timeout: float | None = None
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    api_version: str | None = None

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"

    @property
    def key(self) -> str:
        """Identity for health and rate-limit state: two aliases naming the same upstream
        model share its quota and its failures."""
        return f"{self.provider.name}|{self.base_url}|{self.model}"


@dataclass(frozen=True, slots=True)
class RouterSettings:
    strategy: Strategy = "ordered"
    # Extra rounds over an alias's deployments (and its fallbacks) after all failed.
    retries: int = 2
    backoff: float = 0.5  # seconds before the first retry round, doubled each round
    max_backoff: float = 8.0
    # A Retry-After longer than this is not waited for: the next round skips the deployment.
    max_retry_after: float = 30.0
    failure_threshold: int = 5  # consecutive failures that open a deployment's circuit
    cooldown: float = 30.0  # seconds an open circuit stays open before one trial request


@dataclass(slots=True)
class GatewayConfig:
    aliases: dict[str, list[Deployment]] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    router: RouterSettings = field(default_factory=RouterSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    path: Path | None = None
    # Settings in the file that are understood but have no effect here (LiteLLM-only).
    warnings: list[str] = field(default_factory=list)

    def deployments(self, alias: str) -> list[Deployment] | None:
        return self.aliases.get(alias)


Fail = Callable[[str, str], NoReturn]


def load_config(path: Path, env: dict[str, str] | None = None) -> GatewayConfig:
    env = dict(os.environ) if env is None else env
    raw = read_yaml(path, GatewayConfigError)
    if isinstance(raw, dict) and "model_list" in raw:
        from tokenomy.gateway.litellm_config import parse_litellm_config

        return parse_litellm_config(raw, path, env)
    return parse_config(raw, path, env)


def failer(path: Path) -> Fail:
    def fail(key: str, problem: str) -> NoReturn:
        raise GatewayConfigError(f"{path}: {key}: {problem}")

    return fail


def parse_config(raw: Any, path: Path, env: dict[str, str]) -> GatewayConfig:
    fail = failer(path)
    # `reports` and `alerts` are read by tokenomy.reports.config and tokenomy.alerts.config.
    raw = check_sections(raw, path, GatewayConfigError, "models")
    models = raw.get("models") or {}
    if not isinstance(models, dict):
        fail("models", "expected a mapping of alias -> list of deployments")
    providers = known_providers()
    config = GatewayConfig(path=path)
    for alias, entries in models.items():
        where = f"models.{alias}"
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            fail(where, "expected a list of deployments")
        config.aliases[str(alias)] = [
            deployment(entry, f"{where}[{i}]", providers, env, fail)
            for i, entry in enumerate(entries)
        ]
    config.fallbacks = parse_fallbacks(raw.get("fallbacks"), "fallbacks", config.aliases, fail)
    config.router = parse_router(raw.get("router"), "router", fail)
    parse_own_sections(raw, config, fail, env)
    return config


def parse_own_sections(
    raw: dict[str, Any], config: GatewayConfig, fail: Fail, env: dict[str, str]
) -> None:
    """``cache:`` and ``budgets:`` into ``config``, whose aliases are read: the same in
    a LiteLLM file as in ours, so a budget is enforced whichever format holds it."""
    config.cache = parse_cache(raw.get("cache"), "cache", fail, Paths.from_env(env).home)
    for alias in config.cache.aliases:
        if alias not in config.aliases:
            fail(
                f"cache.aliases.{alias}",
                f"no such model alias (known: {', '.join(config.aliases)})",
            )
    config.budgets = parse_budgets(raw.get("budgets"), "budgets", fail)
    if config.budgets.rules and not config.budgets.redis_url:
        config.warnings.append(
            "budgets.redis_url: not set, so budgets are counted in this process only "
            "(one replica, one worker); set it to share them across replicas"
        )


_DEPLOYMENT_KEYS = (
    "provider",
    "model",
    "base_url",
    "api_key",
    "api_key_env",
    "api_version",
    "timeout",
    "connect_timeout",
    "first_byte_timeout",
    "weight",
    "rpm",
    "tpm",
)


def deployment(
    entry: Any,
    where: str,
    providers: dict[str, Provider],
    env: dict[str, str],
    fail: Fail,
) -> Deployment:
    if not isinstance(entry, dict):
        fail(where, "expected a mapping with provider and model")
    unknown = sorted(set(entry) - set(_DEPLOYMENT_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {sorted(_DEPLOYMENT_KEYS)})")
    name = entry.get("provider")
    if not isinstance(name, str) or not name:
        fail(f"{where}.provider", "missing (e.g. openai, anthropic)")
    provider = providers.get(name)
    if provider is None:
        fail(
            f"{where}.provider",
            f"unknown provider {name!r} (known: {', '.join(sorted(providers))})",
        )
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        fail(f"{where}.model", "missing: the provider's model id")
    base_url = entry.get("base_url") or provider.default_base_url
    if not base_url:
        fail(f"{where}.base_url", f"required for {name} (e.g. https://NAME.openai.azure.com)")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        fail(f"{where}.base_url", f"expected an http(s) URL, got {base_url!r}")
    key = entry.get("api_key")
    key_env = entry.get("api_key_env")
    if key is not None and not isinstance(key, str):
        fail(f"{where}.api_key", "expected a string")
    if key_env is not None:
        if not isinstance(key_env, str):
            fail(f"{where}.api_key_env", "expected the name of an environment variable")
        key = env.get(key_env)
        if not key:
            fail(f"{where}.api_key_env", f"environment variable {key_env} is not set")
    api_version = entry.get("api_version")
    # YAML reads an unquoted 2024-10-21 as a date; it is meant as Azure's version string.
    if isinstance(api_version, date) and not isinstance(api_version, datetime):
        api_version = api_version.isoformat()
    if api_version is not None and not isinstance(api_version, str):
        fail(f"{where}.api_version", f"expected a string such as 2024-10-21, got {api_version!r}")
    first_byte = entry.get("first_byte_timeout")
    return Deployment(
        provider,
        model,
        base_url.rstrip("/"),
        key,
        timeout=seconds(entry.get("timeout", 600.0), f"{where}.timeout", fail),
        connect_timeout=seconds(
            entry.get("connect_timeout", 10.0), f"{where}.connect_timeout", fail
        ),
        first_byte_timeout=None
        if first_byte is None
        else seconds(first_byte, f"{where}.first_byte_timeout", fail),
        weight=positive(entry.get("weight", 1.0), f"{where}.weight", fail),
        rpm=limit(entry.get("rpm"), f"{where}.rpm", fail),
        tpm=limit(entry.get("tpm"), f"{where}.tpm", fail),
        api_version=api_version,
    )


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def seconds(value: Any, where: str, fail: Fail) -> float:
    check_finite(value, where, fail)
    if not is_number(value) or value <= 0:
        fail(where, f"expected a positive number of seconds, got {value!r}")
    return float(value)


def non_negative(value: Any, where: str, fail: Fail) -> float:
    check_finite(value, where, fail)
    if not is_number(value) or value < 0:
        fail(where, f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def positive(value: Any, where: str, fail: Fail) -> float:
    check_finite(value, where, fail)
    if not is_number(value) or value <= 0:
        fail(where, f"expected a positive number, got {value!r}")
    return float(value)


def limit(value: Any, where: str, fail: Fail) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        fail(where, f"expected a positive whole number per minute, got {value!r}")
    return value


def parse_fallbacks(
    raw: Any, where: str, aliases: dict[str, list[Deployment]], fail: Fail
) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        fail(where, "expected a mapping of alias -> list of fallback aliases")
    out: dict[str, list[str]] = {}
    for alias, targets in raw.items():
        here = f"{where}.{alias}"
        if str(alias) not in aliases:
            fail(here, f"unknown alias {alias!r} (define it under models)")
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            fail(here, "expected a list of aliases")
        for target in targets:
            if target not in aliases:
                fail(here, f"unknown fallback alias {target!r}")
            if target == alias:
                fail(here, "an alias cannot fall back to itself")
        out[str(alias)] = list(targets)
    return out


_ROUTER_KEYS = (
    "strategy",
    "retries",
    "backoff",
    "max_backoff",
    "max_retry_after",
    "failure_threshold",
    "cooldown",
)


def parse_router(raw: Any, where: str, fail: Fail) -> RouterSettings:
    if raw is None:
        return RouterSettings()
    if not isinstance(raw, dict):
        fail(where, f"expected a mapping with any of {', '.join(_ROUTER_KEYS)}")
    unknown = sorted(set(raw) - set(_ROUTER_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_ROUTER_KEYS)})")
    defaults = RouterSettings()
    strategy = raw.get("strategy", defaults.strategy)
    if strategy not in STRATEGIES:
        fail(f"{where}.strategy", f"expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    retries = raw.get("retries", defaults.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        fail(f"{where}.retries", f"expected a whole number >= 0, got {retries!r}")
    threshold = raw.get("failure_threshold", defaults.failure_threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        fail(f"{where}.failure_threshold", f"expected a whole number >= 1, got {threshold!r}")
    return RouterSettings(
        strategy=strategy,
        retries=retries,
        backoff=non_negative(raw.get("backoff", defaults.backoff), f"{where}.backoff", fail),
        max_backoff=seconds(
            raw.get("max_backoff", defaults.max_backoff), f"{where}.max_backoff", fail
        ),
        max_retry_after=seconds(
            raw.get("max_retry_after", defaults.max_retry_after), f"{where}.max_retry_after", fail
        ),
        failure_threshold=threshold,
        cooldown=seconds(raw.get("cooldown", defaults.cooldown), f"{where}.cooldown", fail),
    )
