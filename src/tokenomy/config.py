"""Where Tokenomy keeps its data. Configuration is an object passed in, never module state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """A YAML file's contents; a file that cannot be read or parsed raises ``error`` with
    the file named (every tokenomy.yaml section reads the file the same way)."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc
