"""The SDK paths record ``prompt_hash`` and ``prefix_hash`` as the gateway does:
``tokenomy.track`` reads them from the request it watches, ``tokenomy.Client`` is the
gateway itself, and one request gets the same hashes either way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml
from tests.gateway.upstreams import Upstream
from tests.sdk.conftest import WiderOpenAI

import tokenomy
from tokenomy.gateway.recorder import Recorder
from tokenomy.store import Database

HEX32 = re.compile(r"[0-9a-f]{32}")
SYSTEM = {"role": "system", "content": "You are terse. Secret word: pineapple."}
Q1 = {"role": "user", "content": "What is 2 + 2?"}
A1 = {"role": "assistant", "content": "4"}
Q2 = {"role": "user", "content": "And times 3?"}
CLAUDE = "claude-sonnet-4-6"


@pytest.fixture
def opened() -> Iterator[list[openai.OpenAI | anthropic.Anthropic]]:
    clients: list[openai.OpenAI | anthropic.Anthropic] = []
    yield clients
    for c in clients:
        c.close()


def hashes(db: Database, recorder: Recorder) -> dict[str, dict[str, Any]]:
    """The records by session (each call below names its own), after flushing."""
    recorder.close()
    rows = db.query("SELECT session_id, prompt_hash, prefix_hash, source, http_status FROM calls")
    out = {r[0]: {"prompt": r[1], "prefix": r[2], "source": r[3], "status": r[4]} for r in rows}
    assert len(out) == len(rows), "one call per session"
    return out


def session(name: str) -> dict[str, Any]:
    return {"extra_headers": {"x-tokenomy-session": name}}


def test_tracked_calls_carry_both_hashes(
    wide: WiderOpenAI,
    ant: Upstream,
    recorder: Recorder,
    sqlite_db: Database,
    opened: list[Any],
) -> None:
    oai = openai.OpenAI(base_url=wide.base_url + "/v1", api_key="k", max_retries=0)
    claude = anthropic.Anthropic(base_url=ant.base_url, api_key="k", max_retries=0)
    opened += [oai, claude]
    oai = tokenomy.track(oai, recorder=recorder)
    claude = tokenomy.track(claude, recorder=recorder)

    def ask(name: str, messages: list[Any], **kw: Any) -> None:
        oai.chat.completions.create(model="gpt-4o-mini", messages=messages, **kw, **session(name))

    ask("first", [SYSTEM, Q1], temperature=0)
    ask("attributed", [SYSTEM, Q1], temperature=0, user="ann", metadata={"team": "a"})
    ask("warmer", [SYSTEM, Q1], temperature=0.7)
    ask("turn2", [SYSTEM, Q1, A1, Q2], temperature=0)
    ask("other", [SYSTEM, {"role": "user", "content": "Who are you?"}], temperature=0)
    list(
        oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[SYSTEM, Q1],
            temperature=0,
            stream=True,
            **session("stream"),
        )
    )
    oai.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="2?", **session("r1"))
    oai.responses.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        input=[{"role": "user", "content": "2?"}, A1, Q2],
        **session("r2"),
    )
    claude.messages.create(model=CLAUDE, max_tokens=10, messages=[Q1], **session("claude"))
    with claude.messages.stream(
        model=CLAUDE, max_tokens=10, messages=[Q1, A1, Q2], **session("claude-turn2")
    ) as s:
        s.get_final_message()

    got = hashes(sqlite_db, recorder)
    first = got["first"]
    assert first["source"] == "sdk"
    assert HEX32.fullmatch(first["prompt"]) and HEX32.fullmatch(first["prefix"])
    assert got["attributed"]["prompt"] == first["prompt"]
    assert len({got[n]["prompt"] for n in ("first", "warmer", "turn2", "other", "stream")}) == 5
    for name in ("warmer", "turn2", "stream"):
        assert got[name]["prefix"] == first["prefix"], name
    assert got["other"]["prefix"] != first["prefix"]
    assert got["r1"]["prefix"] == got["r2"]["prefix"] != first["prefix"]
    assert got["r1"]["prompt"] != got["r2"]["prompt"]
    assert HEX32.fullmatch(got["claude"]["prompt"])
    assert got["claude"]["prefix"] == got["claude-turn2"]["prefix"]
    assert got["claude"]["prompt"] != got["claude-turn2"]["prompt"]
    assert not any("pineapple" in str(row) for row in sqlite_db.query("SELECT * FROM calls"))


def test_a_request_is_one_prompt_through_track_and_through_the_client(
    oai: Upstream, tmp_path: Path, recorder: Recorder, sqlite_db: Database, opened: list[Any]
) -> None:
    """``tokenomy.Client`` is the gateway; ``track`` sees the request on its way to the
    provider. Asked with the same model name (here the alias, which the emulator accepts),
    the request is the same prompt in both records."""
    path = tmp_path / "tokenomy.yaml"
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "base_url": oai.base_url + "/v1"}
    path.write_text(yaml.safe_dump({"models": {"solo": [deployment]}}))
    direct = openai.OpenAI(base_url=oai.base_url + "/v1", api_key="k", max_retries=0)
    opened.append(direct)
    tracked = tokenomy.track(direct, recorder=recorder)
    tracked.chat.completions.create(model="solo", messages=[SYSTEM, Q1], **session("track"))
    with tokenomy.Client(path, recorder=recorder) as tc, tc.openai(max_retries=0) as client:
        client.chat.completions.create(model="solo", messages=[SYSTEM, Q1], **session("client"))
    got = hashes(sqlite_db, recorder)
    assert got["track"]["source"] == got["client"]["source"] == "sdk"
    assert HEX32.fullmatch(got["track"]["prompt"])
    assert (got["track"]["prompt"], got["track"]["prefix"]) == (
        got["client"]["prompt"],
        got["client"]["prefix"],
    )


def test_a_tracked_body_that_is_not_an_object_is_recorded_without_hashes(
    oai: Upstream, recorder: Recorder, sqlite_db: Database, opened: list[Any]
) -> None:
    client = openai.OpenAI(base_url=oai.base_url + "/v1", api_key="k", max_retries=0)
    opened.append(client)
    tracked = tokenomy.track(client, recorder=recorder)
    with pytest.raises(openai.BadRequestError):
        tracked.post(
            "/chat/completions",
            body=["gpt-4o-mini"],
            cast_to=object,
            options={"headers": {"x-tokenomy-session": "odd"}},
        )
    tracked.chat.completions.create(model="gpt-4o-mini", messages=[Q1], **session("fine"))
    got = hashes(sqlite_db, recorder)
    assert (got["odd"]["status"], got["odd"]["prompt"], got["odd"]["prefix"]) == (400, None, None)
    assert HEX32.fullmatch(got["fine"]["prompt"])
