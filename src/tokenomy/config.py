"""Where Tokenomy keeps its data. Configuration is an object passed in, never module state."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn


@dataclass(frozen=True, slots=True)
class Paths:
    """The data directory and the database URL, from the environment or explicit values."""

    home: Path
    database_url: str

    @property
    def prices_file(self) -> Path:
        return self.home / "prices.toml"

    @property
    def evals_file(self) -> Path:
        # The user's evaluation results, read by the advisor (docs/advise.md).
        return self.home / "evals.jsonl"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def sample_home(self) -> Path:
        # Sample data lives apart from the user's own so the two are never mixed.
        return self.home / "sample"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Paths:
        env = dict(os.environ) if env is None else env
        home = Path(env.get("TOKENOMY_HOME") or Path.home() / ".tokenomy").expanduser()
        return cls(home=home, database_url=database_url(env.get("TOKENOMY_DB"), home))

    def for_sample(self) -> Paths:
        home = self.sample_home
        return Paths(home=home, database_url=database_url(None, home))


def database_url(value: str | None, home: Path) -> str:
    """The database URL from ``TOKENOMY_DB``: a URL as given, a bare path as a SQLite file."""
    if not value:
        return f"sqlite:///{home / 'tokenomy.db'}"
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def check_finite(value: Any, where: str, fail: Callable[[str, str], NoReturn]) -> None:
    """Refuse YAML's ``.nan`` and ``.inf``. Range checks alone let them through (``nan <= 0``
    is False): a NaN timeout switched the timeout off and a NaN weight took all the traffic."""
    if isinstance(value, float) and not math.isfinite(value):
        fail(where, f"expected a finite number, got {value!r}")


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """A YAML file's contents; a file that cannot be read or parsed raises ``error`` with
    the file named (every tokenomy.yaml section reads the file the same way). A key written
    twice in one mapping is refused: YAML would keep the last one, so a second ``budgets:``
    pasted lower down would silently drop the first one's limits."""
    import yaml

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_strict_loader())
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except _DuplicateKeyError as exc:
        raise error(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


# tokenomy.yaml's top-level sections. Each is read by its own module (the gateway, budgets,
# alerts, reports), and each refuses a key none of them reads, so that a misspelt `alert:`
# is an error wherever the file is read, not a section that quietly never runs.
SECTIONS = ("models", "fallbacks", "router", "cache", "budgets", "reports", "alerts")
# A LiteLLM proxy config.yaml (a top-level model_list) has sections of its own, and
# Tokenomy's own sections may sit beside them (the gateway and the commands read them alike).
LITELLM_SECTIONS = (
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "environment_variables",
)
OWN_SECTIONS = ("cache", "budgets", "reports", "alerts")


def read_sections(path: Path, error: type[Exception], section: str) -> dict[str, Any]:
    """The file's top-level mapping, checked by :func:`check_sections`; ``section`` is
    the one the caller reads (named when the file is not a mapping)."""
    return check_sections(read_yaml(path, error), path, error, section)


def check_sections(raw: Any, path: Path, error: type[Exception], section: str) -> dict[str, Any]:
    """``raw`` as a mapping of sections; a list, a scalar or an unknown section raises
    ``error`` naming the file. A LiteLLM proxy file (``model_list``) has its own top-level
    settings: the gateway warns about those it does not read, but a near miss of one of
    Tokenomy's own sections (``budget:``) is refused there too."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        article = "an" if section[0] in "aeiou" else "a"
        raise error(f"{path}: (top level): expected a mapping with {article} {section!r} key")
    if "model_list" in raw:
        import difflib

        for key in sorted(str(k) for k in raw if k not in LITELLM_SECTIONS + OWN_SECTIONS):
            # A high cutoff: LiteLLM has many other top-level settings, all valid.
            close = difflib.get_close_matches(key, OWN_SECTIONS, n=1, cutoff=0.8)
            if close:
                raise error(f"{path}: {key}: unknown key; did you mean {close[0]}?")
        return raw
    unknown = sorted(str(key) for key in raw if key not in SECTIONS)
    if unknown:
        raise error(f"{path}: {unknown[0]}: {unknown_key(unknown[0], SECTIONS)}")
    return raw


def unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    """What is wrong with ``key``, with the closest allowed key when one is close."""
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown key (expected: {', '.join(allowed)}){hint}"


class _DuplicateKeyError(Exception):
    """A mapping that names one key twice (lines are 1-based, as editors show them)."""

    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(f"line {line}: {key}: duplicate key (first at line {first})")


@cache
def _strict_loader() -> type[Any]:
    """yaml.SafeLoader that refuses duplicate keys. Built on first use: importing yaml costs
    every command start-up time, and most commands never read tokenomy.yaml."""
    import yaml

    merge_tag = "tag:yaml.org,2002:merge"

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                first: dict[Any, int] = {}
                for key_node, _ in node.value:
                    # `<<: *base` merges are meant to be overridden by the keys beside them.
                    if key_node.tag == merge_tag:
                        continue
                    key = self.construct_object(key_node, deep=deep)
                    line = key_node.start_mark.line + 1
                    try:
                        if key in first:
                            raise _DuplicateKeyError(key, line, first[key])
                        first[key] = line
                    except TypeError:  # an unhashable key: SafeLoader refuses it itself
                        continue
            return super().construct_mapping(node, deep=deep)

    return StrictLoader
