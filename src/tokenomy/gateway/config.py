"""``tokenomy.yaml``: model aliases and the deployments that serve them.

```yaml
models:
  fast:                          # the alias clients ask for
    - provider: openai           # a registered provider (tokenomy.gateway.providers)
      model: gpt-4o-mini         # the provider's own model id
      api_key_env: OPENAI_API_KEY
      base_url: https://...      # optional: the provider's default otherwise
      timeout: 600               # optional: seconds for the whole call
```

Every error names the file, the key and what is wrong, because the file is edited by hand
and a gateway that starts with a wrong config is worse than one that refuses to start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tokenomy.gateway.providers import Provider, known_providers


class GatewayConfigError(ValueError):
    """A config file that cannot be used, with where and why."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One provider model that can answer for an alias."""

    provider: Provider
    model: str
    base_url: str
    api_key: str | None
    timeout: float = 600.0

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(slots=True)
class GatewayConfig:
    aliases: dict[str, list[Deployment]] = field(default_factory=dict)
    path: Path | None = None

    def deployments(self, alias: str) -> list[Deployment] | None:
        return self.aliases.get(alias)


def load_config(path: Path, env: dict[str, str] | None = None) -> GatewayConfig:
    env = dict(os.environ) if env is None else env
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GatewayConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise GatewayConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(raw, path, env)


def parse_config(raw: Any, path: Path, env: dict[str, str]) -> GatewayConfig:
    def fail(key: str, problem: str) -> GatewayConfigError:
        return GatewayConfigError(f"{path}: {key}: {problem}")

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise fail("(top level)", "expected a mapping with a 'models' key")
    unknown = sorted(set(raw) - {"models"})
    if unknown:
        raise fail(unknown[0], "unknown key (expected: models)")
    models = raw.get("models") or {}
    if not isinstance(models, dict):
        raise fail("models", "expected a mapping of alias -> list of deployments")
    providers = known_providers()
    config = GatewayConfig(path=path)
    for alias, entries in models.items():
        where = f"models.{alias}"
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise fail(where, "expected a list of deployments")
        config.aliases[str(alias)] = [
            _deployment(entry, f"{where}[{i}]", providers, env, fail)
            for i, entry in enumerate(entries)
        ]
    return config


_DEPLOYMENT_KEYS = {"provider", "model", "base_url", "api_key", "api_key_env", "timeout"}


def _deployment(
    entry: Any,
    where: str,
    providers: dict[str, Provider],
    env: dict[str, str],
    fail: Any,
) -> Deployment:
    if not isinstance(entry, dict):
        raise fail(where, "expected a mapping with provider and model")
    unknown = sorted(set(entry) - _DEPLOYMENT_KEYS)
    if unknown:
        raise fail(
            f"{where}.{unknown[0]}", f"unknown key (expected one of {sorted(_DEPLOYMENT_KEYS)})"
        )
    name = entry.get("provider")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.provider", "missing (e.g. openai, anthropic)")
    provider = providers.get(name)
    if provider is None:
        raise fail(
            f"{where}.provider",
            f"unknown provider {name!r} (known: {', '.join(sorted(providers))})",
        )
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise fail(f"{where}.model", "missing: the provider's model id")
    base_url = entry.get("base_url", provider.default_base_url)
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise fail(f"{where}.base_url", f"expected an http(s) URL, got {base_url!r}")
    key = entry.get("api_key")
    key_env = entry.get("api_key_env")
    if key is not None and not isinstance(key, str):
        raise fail(f"{where}.api_key", "expected a string")
    if key_env is not None:
        if not isinstance(key_env, str):
            raise fail(f"{where}.api_key_env", "expected the name of an environment variable")
        key = env.get(key_env)
        if not key:
            raise fail(f"{where}.api_key_env", f"environment variable {key_env} is not set")
    timeout = entry.get("timeout", 600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise fail(f"{where}.timeout", f"expected a positive number of seconds, got {timeout!r}")
    return Deployment(provider, model, base_url.rstrip("/"), key, float(timeout))
