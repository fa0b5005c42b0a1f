"""`tokenomy serve` as users run it: refusals, config errors, and a real process whose
records survive a graceful stop and (older than the flush interval) a kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import yaml
from tests.gateway.running import config_file
from tests.gateway.serve_process import free_port, start_serve, stop
from tests.gateway.upstreams import openai_upstream

from tokenomy.cli.main import main
from tokenomy.keys import KeyStore
from tokenomy.store import open_database


def test_refuses_a_public_address_without_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--insecure" in capsys.readouterr().err


def test_a_bad_config_is_named_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = config_file(tmp_path, {"fast": [{"provider": "openai"}]})
    assert main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err.replace("\n", "") and "models.fast[0].model: missing" in err


def _start(config: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    return start_serve(config, port, {"TOKENOMY_HOME": str(home)}, home.parent / "serve.log")


def _call(port: int) -> None:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0
    ) as client:
        reply = client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == "Hello from mock"


def _stored(home: Path) -> int:
    db = open_database(f"sqlite:///{home / 'tokenomy.db'}")
    try:
        return int(db.query("SELECT COUNT(*) FROM calls WHERE source = 'gateway'")[0][0])
    finally:
        db.close()


def test_records_survive_a_graceful_stop_and_a_kill(tmp_path: Path) -> None:
    with openai_upstream() as up:
        deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "u"}
        config = config_file(tmp_path, {"fast": [{**deployment, "base_url": up.base_url + "/v1"}]})
        home = tmp_path / "home"
        port = free_port()
        proc = _start(config, home, port)
        _call(port)
        proc.send_signal(signal.SIGTERM)  # graceful: the call is flushed before exit
        # uvicorn shuts down, then re-raises the signal it caught: -15 is a clean stop.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        assert _stored(home) == 1

        proc = _start(config, home, port)
        _call(port)
        time.sleep(1.0)  # past the 0.2 s flush interval: already on disk
        proc.kill()
        proc.wait(timeout=20)
        assert _stored(home) == 2


def test_says_once_where_it_listens_what_it_serves_and_whether_keys_are_needed(
    tmp_path: Path,
) -> None:
    """It started in silence: no address, no aliases, nothing on keys, even with workers."""
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "u"}
    config = config_file(tmp_path, {"fast": [deployment], "smart": [deployment]})
    home = tmp_path / "home"
    log = tmp_path / "serve.log"
    port = free_port()
    stop(_start(config, home, port))
    [line] = log.read_text().splitlines()
    assert line == (
        f"gateway at http://127.0.0.1:{port}/ (dashboard at /, API at /api/v1; Ctrl+C to "
        f"stop): 2 model aliases from {config}; no tokenomy key created, so requests need none"
    )

    log.unlink()
    db = open_database(f"sqlite:///{home / 'tokenomy.db'}")
    try:
        _, key = KeyStore(db).create(project="web")
        KeyStore(db).revoke(key.id)  # a revoked key still closes the gateway to keyless calls
    finally:
        db.close()
    proc = start_serve(config, port, {"TOKENOMY_HOME": str(home)}, log, "--workers", "2")
    stop(proc)
    [line] = [line for line in log.read_text().splitlines() if "gateway at" in line]
    assert line.endswith(
        f"2 model aliases from {config}, 2 workers; every request needs a tokenomy key"
    )


def _models(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as reply:
        return [m["id"] for m in json.loads(reply.read())["data"]]


def test_sighup_reloads_the_config_without_dropping_a_call_in_flight(tmp_path: Path) -> None:
    with openai_upstream() as up:
        deployment = {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_key": "u",
            "base_url": up.base_url + "/v1",
        }
        config = config_file(tmp_path, {"fast": [deployment]})
        home = tmp_path / "home"
        port = free_port()
        proc = _start(config, home, port)
        try:
            up.first_byte_delay = 1.5
            with ThreadPoolExecutor(1) as pool:
                in_flight = pool.submit(_call, port)
                time.sleep(0.3)  # the call is now waiting on the upstream
                config.write_text(
                    yaml.safe_dump({"models": {"fast": [deployment], "new": [deployment]}})
                )
                proc.send_signal(signal.SIGHUP)
                in_flight.result(timeout=20)  # finished normally, through the reload
            up.first_byte_delay = 0.0
            deadline = time.monotonic() + 10
            while "new" not in _models(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _models(port) == ["fast", "new"]
            # A config that does not load is reported and the old one kept.
            config.write_text("models: {broken: [")
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert proc.poll() is None and _models(port) == ["fast", "new"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        assert "config not reloaded" in (tmp_path / "serve.log").read_text()
        assert _stored(home) == 1


def test_serves_a_litellm_config_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with openai_upstream() as up:
        config = tmp_path / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: fast\n"
            "    litellm_params:\n"
            "      model: openai/gpt-4o-mini\n"
            f"      api_base: {up.base_url}/v1\n"
            "      api_key: os.environ/BENCH_KEY\n"
            "litellm_settings:\n"
            "  drop_params: true\n"
        )
        home = tmp_path / "home"
        port = free_port()
        monkeypatch.setenv("BENCH_KEY", "sk-from-env")
        proc = _start(config, home, port)
        try:
            _call(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        assert up.seen[0].headers["authorization"] == "Bearer sk-from-env"
        assert (
            "litellm_settings.drop_params: not used by tokenomy"
            in (tmp_path / "serve.log").read_text()
        )


def test_a_reload_refuses_what_a_start_refuses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid alerts: section is refused at start; a SIGHUP took it (and the next
    restart failed). Now the error is logged and the old config kept."""
    import asyncio

    from tokenomy.config import Paths
    from tokenomy.gateway.config import load_config
    from tokenomy.gateway.serve import build_gateway

    deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "u"}
    config = config_file(tmp_path, {"fast": [deployment]})
    paths = Paths(tmp_path / "home", f"sqlite:///{tmp_path / 'home.db'}")
    gateway = build_gateway(load_config(config), paths, record=False, config_path=config)
    bad_alerts = {"rules": [{"name": "x", "kind": "threshold", "metric": "cost", "window": "1w"}]}
    config.write_text(
        yaml.safe_dump(
            {"models": {"fast": [deployment], "new": [deployment]}, "alerts": bad_alerts}
        )
    )
    assert main(["serve", "--config", str(config)]) == 2

    async def reload() -> None:
        try:
            await gateway.reload()
        finally:
            await gateway.shutdown()

    asyncio.run(reload())
    assert list(gateway.config.aliases) == ["fast"]
    assert "config not reloaded, keeping the previous one" in caplog.text
    assert "alerts.rules[0].window: expected a length" in caplog.text
