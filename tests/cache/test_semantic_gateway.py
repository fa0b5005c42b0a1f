"""The semantic cache in the gateway: a paraphrase at temperature 0 is answered from the
cache, after verification; a different question, another conversation or a sampled
request is not."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.gateway.running import RunningGateway
from tests.gateway.test_gateway import openai_deployment
from tests.gateway.upstreams import Upstream, openai_upstream

from tokenomy.store import Database

pytest.importorskip("usearch", reason="the semantic extra is not installed")


@pytest.fixture
def oai() -> Iterator[Upstream]:
    with openai_upstream() as up:
        yield up


@pytest.fixture
def gateway(oai: Upstream, sqlite_db: Database, tmp_path: Path) -> Iterator[RunningGateway]:
    from tokenomy.cache.semantic import EmbedderUnavailableError, LocalEmbedder

    try:
        LocalEmbedder()
    except EmbedderUnavailableError as exc:
        pytest.skip(f"the local embedding model is not installed: {exc}")
    cache = {
        "aliases": {"fast": "semantic"},
        "semantic": {"path": str(tmp_path / "semantic")},
        "path": str(tmp_path / "c.db"),
    }
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db, cache=cache) as gw:
        yield gw


def ask(gw: RunningGateway, question: str, before: list[Any] | None = None, **kw: Any) -> str:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as c:
        messages = [*(before or []), {"role": "user", "content": question}]
        kw.setdefault("temperature", 0)
        reply = c.chat.completions.with_raw_response.create(model="fast", messages=messages, **kw)
        return reply.headers["x-tokenomy-cache"]


def test_a_paraphrase_is_answered_from_the_cache(
    gateway: RunningGateway, oai: Upstream, sqlite_db: Database
) -> None:
    assert ask(gateway, "How do I learn to play the guitar quickly?") == "miss"
    assert ask(gateway, "How can I learn to play guitar quickly?") == "hit-semantic"
    assert len(oai.seen) == 1
    # A different question, the same question in another conversation, and a sampled
    # request (temperature 1) all go to the provider.
    assert ask(gateway, "How do I learn to play the piano quickly?") == "miss"
    earlier = [
        {"role": "user", "content": "I play jazz."},
        {"role": "assistant", "content": "Nice."},
    ]
    assert ask(gateway, "How can I learn to play guitar quickly?", earlier) == "miss"
    assert ask(gateway, "How can I learn to play guitar quickly?", temperature=1) == "miss"
    assert len(oai.seen) == 4
    rows = sqlite_db.query("SELECT cache_hit FROM calls ORDER BY started_at")
    assert [r[0] for r in rows][:2] == ["none", "semantic"]


def test_a_hit_names_its_entry_not_anothers_question_and_opposites_miss(
    gateway: RunningGateway, oai: Upstream, sqlite_db: Database
) -> None:
    """Without content capture no prompt text is stored: a semantic hit's record says which
    entry answered, not the cached question (someone else's prompt). And a question that
    asks the opposite by a prefix ("unsafe") is not served the answer to "safe"."""
    assert ask(gateway, "Is it safe to eat raw eggs?") == "miss"
    assert ask(gateway, "Is it unsafe to eat raw eggs?") == "miss"
    assert ask(gateway, "Is it legal to record a phone call?") == "miss"
    assert ask(gateway, "Is it illegal to record a phone call?") == "miss"
    assert ask(gateway, "How do I learn to play the guitar quickly?") == "miss"
    assert ask(gateway, "How can I learn to play guitar quickly?") == "hit-semantic"
    hit = "SELECT attributes FROM calls WHERE cache_hit = 'semantic'"
    deadline = time.monotonic() + 5
    while not (rows := sqlite_db.query(hit)):  # the batch writer flushes every 50 ms here
        assert time.monotonic() < deadline, "the hit was never recorded"
        time.sleep(0.02)
    [(attributes,)] = rows
    text = attributes if isinstance(attributes, str) else str(attributes)
    assert "matched_entry" in text and "guitar" not in text


def test_an_embeddings_provider_that_is_down_leaves_the_exact_cache_serving(
    oai: Upstream, sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The embedder is asked its dimension at start: a provider that is down stopped the
    gateway from starting at all (a traceback); it now serves with the exact cache and says
    why."""
    cache = {
        "aliases": {"fast": "semantic"},
        "semantic": {"embedder": {"base_url": "http://127.0.0.1:9/v1", "model": "e"}},
    }
    with (
        caplog.at_level(logging.ERROR, logger="tokenomy.gateway"),
        RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db, cache=cache) as gw,
    ):
        assert ask(gw, "How do I learn to play the guitar quickly?") == "miss"
        assert ask(gw, "How do I learn to play the guitar quickly?") == "hit-exact"
    assert any("semantic cache off, exact cache only" in r.getMessage() for r in caplog.records)


def test_the_index_is_saved_when_it_changed_not_only_at_shutdown(tmp_path: Path) -> None:
    from tokenomy.cache.semantic import LocalEmbedder, SemanticCache

    try:
        embedder = LocalEmbedder()
    except Exception as exc:  # the model is an optional extra
        pytest.skip(f"the local embedding model is not installed: {exc}")
    cache = SemanticCache(embedder, tmp_path / "index")
    assert cache.save_if_changed() is False  # nothing to write yet
    cache.insert("ns", "How do I learn to play the guitar?", "ctx", "e1")
    assert cache.save_if_changed() is True and cache.save_if_changed() is False
    reopened = SemanticCache(embedder, tmp_path / "index")
    assert len(reopened) == 1
