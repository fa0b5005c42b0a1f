"""Where data lives: TOKENOMY_HOME and TOKENOMY_DB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.config import Paths, read_yaml
from tokenomy.store.db import DatabaseError, parse_url


def test_defaults_and_overrides(tmp_path: Path) -> None:
    paths = Paths.from_env({"TOKENOMY_HOME": str(tmp_path)})
    assert paths.database_url == f"sqlite:///{tmp_path / 'tokenomy.db'}"
    assert paths.prices_file == tmp_path / "prices.toml"
    as_file = Paths.from_env(
        {"TOKENOMY_HOME": str(tmp_path), "TOKENOMY_DB": str(tmp_path / "x.db")}
    )
    assert parse_url(as_file.database_url).path == tmp_path / "x.db"
    pg = Paths.from_env({"TOKENOMY_DB": "postgresql://u@h:5432/db"})
    assert parse_url(pg.database_url).dialect == "postgresql"
    # The driver's suffix goes; a socket URL with an empty host survives whole.
    assert parse_url("postgresql+psycopg://u@h/db").conninfo == "postgresql://u@h/db"
    socket_url = "postgresql:///db?host=/var/run/postgresql"
    assert parse_url(socket_url).conninfo == socket_url
    assert paths.for_sample().database_url != paths.database_url


def test_an_unsupported_database_url_names_what_works() -> None:
    with pytest.raises(DatabaseError, match="use a SQLite file path or postgresql://"):
        parse_url("mysql://root:secret@host/db")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A second `budgets:` pasted lower down would drop the first one's limits.
        (
            "budgets:\n  rules: []\nalerts:\n  cooldown: 60\nbudgets:\n  rules: []\n",
            "line 5: budgets: duplicate key (first at line 1)",
        ),
        # Nested: an alias listed twice would keep only its last deployments.
        (
            "models:\n  fast:\n    - {model: a}\n  fast:\n    - {model: b}\n",
            "line 4: fast: duplicate key (first at line 2)",
        ),
        ("router: {retries: 1, retries: 2}\n", "line 1: retries: duplicate key (first at line 1)"),
    ],
)
def test_a_key_written_twice_is_refused_with_both_lines(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        read_yaml(path, ValueError)
    assert str(caught.value) == f"{path}: {expected}"


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.yaml"
    path.write_text("base: &b {timeout: 30, weight: 1}\nover:\n  <<: *b\n  timeout: 5\n")
    assert read_yaml(path, ValueError)["over"] == {"timeout": 5, "weight": 1}
