"""Every call the gateway records carries ``prompt_hash`` and ``prefix_hash``: the official
SDKs as clients, both protocols, plain and streamed, cache hits included; hashes only,
never the prompt's text."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest
from tests.gateway.running import RunningGateway
from tests.gateway.test_gateway import (
    anthropic_client,
    anthropic_deployment,
    openai_client,
    openai_deployment,
)
from tests.gateway.upstreams import Upstream

from tokenomy.store import Database

HEX32 = re.compile(r"[0-9a-f]{32}")
SYSTEM = {"role": "system", "content": "You are terse. Secret word: pineapple."}
Q1 = {"role": "user", "content": "What is 2 + 2?"}
A1 = {"role": "assistant", "content": "4"}
Q2 = {"role": "user", "content": "And times 3?"}


def hashes(db: Database) -> dict[str, dict[str, Any]]:
    """The gateway's records by session (each call below names its own), with the hashes."""
    rows = db.query(
        "SELECT session_id, prompt_hash, prefix_hash, cache_hit, operation FROM calls "
        "WHERE source = 'gateway'"
    )
    out = {r[0]: {"prompt": r[1], "prefix": r[2], "cache_hit": r[3], "op": r[4]} for r in rows}
    assert len(out) == len(rows), "one call per session"
    return out


def session(name: str) -> dict[str, Any]:
    return {"extra_headers": {"x-tokenomy-session": name}}


def test_openai_calls_carry_both_hashes(oai: Upstream, db: Database) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        c = openai_client(gw)

        def ask(name: str, messages: list[Any], **kw: Any) -> None:
            c.chat.completions.create(model="fast", messages=messages, **kw, **session(name))

        ask("first", [SYSTEM, Q1], temperature=0)
        ask("again", [SYSTEM, Q1], temperature=0)
        ask("attributed", [SYSTEM, Q1], temperature=0, user="ann", metadata={"team": "a"})
        ask("warmer", [SYSTEM, Q1], temperature=0.7)
        ask("other", [SYSTEM, {"role": "user", "content": "Who are you?"}], temperature=0)
        ask("turn2", [SYSTEM, Q1, A1, Q2], temperature=0)
        stream = c.chat.completions.create(
            model="fast", messages=[SYSTEM, Q1], temperature=0, stream=True, **session("stream")
        )
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        c.embeddings.create(model="fast", input=["a", "b"], **session("embed"))
        c.embeddings.create(model="fast", input=["a", "b"], **session("embed-again"))
    got = hashes(db)
    first = got["first"]
    assert HEX32.fullmatch(first["prompt"]) and HEX32.fullmatch(first["prefix"])
    # The same request, with or without attribution: one prompt.
    assert got["again"]["prompt"] == got["attributed"]["prompt"] == first["prompt"]
    # Another temperature or another question: another prompt.
    assert len({got[n]["prompt"] for n in ("first", "warmer", "other", "turn2")}) == 4
    # One conversation shares its prefix across turns and settings; another does not.
    for name in ("again", "warmer", "turn2", "stream"):
        assert got[name]["prefix"] == first["prefix"], name
    assert got["other"]["prefix"] != first["prefix"]
    # A stream is recorded with both; its prompt differs, as its cache entry would.
    assert HEX32.fullmatch(got["stream"]["prompt"]) and got["stream"]["prompt"] != first["prompt"]
    # Embeddings: a prompt hash (a repeat is a repeat), no conversation prefix.
    assert got["embed"]["op"] == "embeddings" and got["embed"]["prefix"] is None
    assert got["embed"]["prompt"] == got["embed-again"]["prompt"] != first["prompt"]
    # Hashes only: the prompt's text is stored nowhere (no content capture).
    assert not any("pineapple" in str(row) for row in db.query("SELECT * FROM calls"))
    assert db.query("SELECT COUNT(*) FROM call_content") == [(0,)]


def test_anthropic_calls_carry_both_hashes(ant: Upstream, db: Database) -> None:
    mark: Any = {"type": "ephemeral"}
    system: Any = [{"type": "text", "text": "You are terse.", "cache_control": mark}]
    q1: Any = {
        "role": "user",
        "content": [{"type": "text", "text": "2 + 2?", "cache_control": mark}],
    }
    # Turn two moves the breakpoint to its newest message, as clients do.
    turn2: Any = [
        {"role": "user", "content": "2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": [{"type": "text", "text": "Times 3?", "cache_control": mark}]},
    ]
    with RunningGateway({"fast": [anthropic_deployment(ant)]}, db) as gw:
        c = anthropic_client(gw)

        def ask(name: str, messages: list[Any], **kw: Any) -> None:
            settings = {"max_tokens": 50, **kw}
            c.messages.create(
                model="fast", system=system, messages=messages, **settings, **session(name)
            )

        ask("first", [q1])
        ask("tagged", [q1], metadata={"user_id": "ann"})
        ask("shorter", [q1], max_tokens=10)
        ask("turn2", turn2)
        ask("other", [{"role": "user", "content": "3 + 3?"}])
        with c.messages.stream(
            model="fast", max_tokens=50, system=system, messages=[q1], **session("stream")
        ) as s:
            assert "".join(s.text_stream)
    got = hashes(db)
    first = got["first"]
    assert HEX32.fullmatch(first["prompt"]) and HEX32.fullmatch(first["prefix"])
    assert got["tagged"]["prompt"] == first["prompt"]
    assert len({got[n]["prompt"] for n in ("first", "shorter", "turn2", "other", "stream")}) == 5
    for name in ("shorter", "turn2", "stream"):
        assert got[name]["prefix"] == first["prefix"], name
    assert got["other"]["prefix"] != first["prefix"]


def test_the_protocol_is_part_of_the_prompt_hash(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    """The same alias and words through each protocol are two requests: an answer in one
    protocol's shape cannot be replayed to the other."""
    models = {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}
    with RunningGateway(models, db) as gw:
        openai_client(gw).chat.completions.create(
            model="fast", messages=[Q1], max_tokens=10, **session("openai")
        )
        anthropic_client(gw).messages.create(
            model="fast", messages=[Q1], max_tokens=10, **session("anthropic")
        )
    got = hashes(db)
    assert got["openai"]["prompt"] != got["anthropic"]["prompt"]
    assert got["openai"]["prefix"] != got["anthropic"]["prefix"]


def test_cache_hits_carry_the_hashes_of_the_call_they_repeat(
    oai: Upstream, ant: Upstream, db: Database
) -> None:
    models = {"fast": [openai_deployment(oai)], "claude": [anthropic_deployment(ant)]}
    cache = {"aliases": {"fast": "exact", "claude": "exact"}, "namespace": "key"}
    with RunningGateway(models, db, cache=cache) as gw:
        for name in ("miss", "hit"):
            # Read the stream to its end: a client that hangs up early leaves nothing to cache.
            list(
                openai_client(gw).chat.completions.create(
                    model="fast", messages=[SYSTEM, Q1], stream=True, **session(f"oai-{name}")
                )
            )
            anthropic_client(gw).messages.create(
                model="claude", max_tokens=10, messages=[Q1], **session(f"ant-{name}")
            )
        # Another tenant misses the cache (namespaces stay apart) yet sends the same prompt.
        list(
            openai_client(gw, **{"x-tokenomy-project": "other"}).chat.completions.create(
                model="fast", messages=[SYSTEM, Q1], stream=True, **session("oai-tenant")
            )
        )
    got = hashes(db)
    for proto in ("oai", "ant"):
        miss, hit = got[f"{proto}-miss"], got[f"{proto}-hit"]
        assert (miss["cache_hit"], hit["cache_hit"]) == ("none", "exact")
        assert HEX32.fullmatch(hit["prompt"]) and HEX32.fullmatch(hit["prefix"])
        assert (hit["prompt"], hit["prefix"]) == (miss["prompt"], miss["prefix"])
    assert got["oai-tenant"]["prompt"] == got["oai-miss"]["prompt"]


def test_a_request_that_is_not_an_object_is_refused_and_nothing_breaks(
    oai: Upstream, sqlite_db: Database
) -> None:
    with RunningGateway({"fast": [openai_deployment(oai)]}, sqlite_db) as gw:
        c = openai_client(gw)
        with pytest.raises(openai.BadRequestError):
            c.post("/chat/completions", body=["fast"], cast_to=object)
        c.chat.completions.create(model="fast", messages=[Q1], **session("after"))
    assert HEX32.fullmatch(hashes(sqlite_db)["after"]["prompt"])
