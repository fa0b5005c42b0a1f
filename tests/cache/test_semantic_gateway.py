"""The semantic cache in the gateway: a paraphrase at temperature 0 is answered from the
cache, after verification; a different question, another conversation or a sampled
request is not."""

from __future__ import annotations

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
