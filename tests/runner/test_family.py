"""Command families: particulars replaced, so variants of one job share a family."""

from __future__ import annotations

import hashlib

import pytest

from tokenomy.runner.family import command_hash, family, family_hash

SAME_JOB = [
    ("Fix issue #123 in src/app/main.py", "fix issue #456 in lib/util.py"),
    ("Review commit 3f9a2b1c", "Review commit deadbeef42"),
    ("Summarise https://example.com/a?id=1", "summarise http://example.org/b/c"),
    ('Rename "oldName" to "newName"', "Rename 'x' to 'y'"),
    ("Translate ./docs/intro.md  into\tFrench", "translate ~/notes/a.txt into french"),
    (
        "Close ticket 123e4567-e89b-12d3-a456-426614174000",
        "Close ticket 01HX3Y4Z5ABCDEF6789GHJKMNP",
    ),
    ("Bump version to 1.2.3", "bump version to 10.0"),
]


@pytest.mark.parametrize(("a", "b"), SAME_JOB)
def test_variants_of_one_job_share_a_family(a: str, b: str) -> None:
    assert family(a) == family(b)
    assert family_hash(a) == family_hash(b)
    assert command_hash(a) != command_hash(b)


def test_placeholders_name_what_was_replaced() -> None:
    text = 'Fix #12 in src/a.py, see https://x.io/1, "quoted", commit abcdef12 and main.py'
    assert family(text) == "fix #<n> in <path>, see <url> <str>, commit <id> and <path>"


def test_different_jobs_differ_and_apostrophes_are_not_quotes() -> None:
    assert family("Fix the tests") != family("Write the docs")
    assert family("Don't touch Bob's code") == "don't touch bob's code"


def test_hashes_are_sha256_prefixes_of_the_text_and_of_the_family() -> None:
    text = "Fix issue #7"
    assert command_hash(text) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert family_hash(text) == hashlib.sha256(family(text).encode()).hexdigest()[:16]
    assert len(command_hash(text)) == 16
