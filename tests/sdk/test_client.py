"""``tokenomy.Client``: the gateway in-process. The official SDK clients it hands out go
through the aliases and failover of a real ``tokenomy.yaml`` to emulated providers, with no
server in between, and every call lands in a real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml
from tests.gateway.upstreams import Upstream, openai_upstream
from tests.sdk.conftest import stored, tokens

import tokenomy
from tokenomy.gateway.config import GatewayConfigError
from tokenomy.gateway.recorder import Recorder
from tokenomy.store import Database, open_database

HI: Any = [{"role": "user", "content": "hi"}]
OPENAI_TOKENS = (8, 4, 0, 0, 5, 2)
ANTHROPIC_TOKENS = (10, 20, 1, 2, 5, 0)
UPSTREAM_KEY = "upstream-secret"


def openai_deployment(up: Upstream) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": up.base_url + "/v1",
        "api_key": UPSTREAM_KEY,
    }


def anthropic_deployment(up: Upstream) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "base_url": up.base_url,
        "api_key": UPSTREAM_KEY,
    }


@pytest.fixture
def flaky() -> Iterator[Upstream]:
    """An OpenAI emulator whose next answer is a 503."""
    with openai_upstream() as up:
        up.fail_next(503)
        yield up


@pytest.fixture
def yaml_file(tmp_path: Path, oai: Upstream, ant: Upstream, flaky: Upstream) -> Path:
    """A tokenomy.yaml whose `fast` fails over from `flaky` to `oai`. No retry rounds: a
    provider's error must reach the client, not be retried away."""
    path = tmp_path / "tokenomy.yaml"
    models = {
        "fast": [openai_deployment(flaky), openai_deployment(oai)],
        "solo": [openai_deployment(oai)],
        "claude": [anthropic_deployment(ant)],
    }
    path.write_text(yaml.safe_dump({"models": models, "router": {"retries": 0}}))
    return path


def test_failover_and_streams_through_the_sync_sdks(
    yaml_file: Path, oai: Upstream, flaky: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    with tokenomy.Client(yaml_file, project="web", user="ann", tags=["a"], recorder=recorder) as tc:
        with tc.openai(max_retries=0) as client:
            reply = client.chat.completions.create(model="fast", messages=HI)
            chunks = list(client.chat.completions.create(model="fast", messages=HI, stream=True))
        with tc.anthropic(max_retries=0) as claude:
            message = claude.messages.create(model="claude", max_tokens=10, messages=HI)
            with claude.messages.stream(model="claude", max_tokens=10, messages=HI) as stream:
                final = stream.get_final_message()
    assert reply.choices[0].message.content == "Hello from mock"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from mock"
    # The gateway asked for usage and hid the extra chunk from a client that did not.
    assert all(c.choices for c in chunks)
    assert message.content[0].type == "text" and final.stop_reason == "end_turn"
    # The first deployment failed once (the second answered), then served the stream; the
    # provider got the deployment's key.
    assert (len(flaky.seen), len(oai.seen)) == (2, 1)
    assert oai.seen[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not any(k.startswith("x-tokenomy-") for k in oai.seen[0].headers)

    recs = stored(sqlite_db, recorder)
    openai_recs = [r for r in recs if r["provider"] == "openai"]
    anthropic_recs = [r for r in recs if r["provider"] == "anthropic"]
    assert len(openai_recs) == len(anthropic_recs) == 2
    for rec in recs:
        assert (rec["source"], rec["status"], rec["project"], rec["user"]) == (
            "sdk",
            "ok",
            "web",
            "ann",
        )
        assert rec["attributes"]["tags"] == ["a"]
    assert sorted(r["attributes"].get("attempts", 1) for r in openai_recs) == [1, 2]
    assert sorted(r["attributes"].get("stream", False) for r in openai_recs) == [False, True]
    for rec in openai_recs:
        assert (rec["request_model"], rec["response_model"]) == ("fast", "gpt-4o-mini")
        assert tokens(rec) == OPENAI_TOKENS
    for rec in anthropic_recs:
        assert tokens(rec) == ANTHROPIC_TOKENS and rec["cost_nanos"] > 0


def test_failover_and_streams_through_the_async_sdks(
    yaml_file: Path, flaky: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    async def calls(tc: tokenomy.Client) -> list[str]:
        async with tc.async_openai(max_retries=0) as client, tc.async_anthropic() as claude:
            reply = await client.chat.completions.create(model="fast", messages=HI)
            stream = await client.chat.completions.create(model="fast", messages=HI, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            async with claude.messages.stream(model="claude", max_tokens=10, messages=HI) as events:
                final = await events.get_final_message()
        return [reply.choices[0].message.content or "", text, final.stop_reason or ""]

    with tokenomy.Client(yaml_file, recorder=recorder) as tc:
        assert asyncio.run(calls(tc)) == ["Hello from mock", "Hello from mock", "end_turn"]
    assert len(flaky.seen) == 2  # failed once, then served the stream
    recs = stored(sqlite_db, recorder)
    assert sorted((r["provider"], tokens(r), r["status"]) for r in recs) == [
        ("anthropic", ANTHROPIC_TOKENS, "ok"),
        ("openai", OPENAI_TOKENS, "ok"),
        ("openai", OPENAI_TOKENS, "ok"),
    ]
    assert sorted(r["attributes"].get("attempts", 1) for r in recs) == [1, 1, 2]


def test_errors_come_as_the_sdk_exceptions_and_are_recorded(
    yaml_file: Path, oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    oai.fail_next(429, retry_after=7)
    with tokenomy.Client(yaml_file, recorder=recorder) as tc, tc.openai(max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="solo", messages=HI)
        with pytest.raises(openai.NotFoundError, match="unknown model 'nope'"):
            client.chat.completions.create(model="nope", messages=HI)
    assert caught.value.response.headers["retry-after"] == "7"
    # The unknown alias never reached a provider: only the rate-limited call is recorded.
    [rec] = stored(sqlite_db, recorder)
    assert (rec["status"], rec["http_status"], rec["error_type"]) == ("error", 429, "http_429")
    assert rec["cost_nanos"] == 0


def test_a_closed_client_refuses_calls(yaml_file: Path, recorder: Recorder) -> None:
    tc = tokenomy.Client(yaml_file, recorder=recorder)
    client = tc.openai(max_retries=0)
    tc.close()
    tc.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        client.chat.completions.create(model="solo", messages=HI)
    client.close()


def test_the_sdk_options_that_belong_to_the_client_are_refused(
    yaml_file: Path, recorder: Recorder
) -> None:
    with tokenomy.Client(yaml_file, recorder=recorder) as tc:
        with pytest.raises(TypeError, match="base_url"):
            tc.openai(base_url="https://api.openai.com/v1")
        with pytest.raises(TypeError, match="http_client"):
            tc.anthropic(http_client=None)


def test_the_config_is_found_like_tokenomy_serve_finds_it(
    yaml_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    monkeypatch.delenv("TOKENOMY_GATEWAY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with tokenomy.Client(recorder=recorder) as tc:
        assert sorted(tc.config.aliases) == ["claude", "fast", "solo"]
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    with pytest.raises(GatewayConfigError, match=r"tokenomy\.yaml"):
        tokenomy.Client(recorder=recorder)
    monkeypatch.setenv("TOKENOMY_GATEWAY_CONFIG", str(yaml_file))
    with tokenomy.Client(recorder=recorder) as tc:
        assert "fast" in tc.config.aliases


def test_without_a_recorder_calls_go_to_tokenomy_db(
    yaml_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOKENOMY_DB", str(tmp_path / "own.db"))
    with tokenomy.Client(yaml_file, session="s9") as tc, tc.openai(max_retries=0) as client:
        client.chat.completions.create(model="solo", messages=HI)
    db = open_database(f"sqlite:///{tmp_path / 'own.db'}")
    [rec] = stored(db)
    db.close()
    assert rec["session_id"] == "s9" and tokens(rec) == OPENAI_TOKENS


def test_anthropic_errors_keep_their_shape_and_protocols_are_translated(
    yaml_file: Path, ant: Upstream, oai: Upstream, recorder: Recorder, sqlite_db: Database
) -> None:
    ant.fail_next(529)
    with tokenomy.Client(yaml_file, recorder=recorder) as tc, tc.anthropic(max_retries=0) as c:
        with pytest.raises(anthropic.InternalServerError, match="Overloaded"):
            c.messages.create(model="claude", max_tokens=5, messages=HI)
        # An Anthropic client, an OpenAI deployment: the gateway translates, in-process too.
        message = c.messages.create(model="solo", max_tokens=5, messages=HI)
    assert message.content[0].type == "text" and message.content[0].text == "Hello from mock"
    assert oai.seen[0].path == "/v1/chat/completions"
    failed, translated = sorted(stored(sqlite_db, recorder), key=lambda r: r["status"])
    assert (failed["provider"], failed["http_status"], failed["error_type"]) == (
        "anthropic",
        529,
        "http_529",
    )
    assert (translated["provider"], translated["status"]) == ("openai", "ok")
    assert tokens(translated) == OPENAI_TOKENS


def test_closing_the_client_ends_calls_left_open_and_records_them(
    yaml_file: Path, recorder: Recorder, sqlite_db: Database
) -> None:
    tc = tokenomy.Client(yaml_file, recorder=recorder)
    client = tc.openai(max_retries=0)
    stream = client.chat.completions.create(model="solo", messages=HI, stream=True)
    tc.close()  # the stream was never read, nor closed
    stream.close()
    client.close()
    [rec] = stored(sqlite_db, recorder)
    # Whether the gateway had relayed it all or was cut short, the call is on record.
    assert rec["request_model"] == "solo" and rec["attributes"]["stream"] is True


def test_a_client_left_open_is_closed_at_exit_and_its_calls_are_recorded(
    oai: Upstream, tmp_path: Path
) -> None:
    """No close(): the interpreter's exit closes it (threads can no longer be started
    then; the last calls used to be lost with a traceback)."""
    config = tmp_path / "tokenomy.yaml"
    config.write_text(yaml.safe_dump({"models": {"fast": [openai_deployment(oai)]}}))
    script = textwrap.dedent(
        f"""
        import tokenomy
        tc = tokenomy.Client({str(config)!r}, project="atexit")
        tc.openai().chat.completions.create(model="fast", messages={HI!r})
        """
    )
    env = {**os.environ, "TOKENOMY_HOME": str(tmp_path), "TOKENOMY_DB": str(tmp_path / "t.db")}
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and "Error" not in run.stderr, run.stderr
    db = open_database(f"sqlite:///{tmp_path / 't.db'}")
    try:
        assert db.query("SELECT project FROM calls") == [("atexit",)]
    finally:
        db.close()
