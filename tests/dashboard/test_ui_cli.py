"""`tokenomy ui` as users run it: the dashboard and the API of their own calls, nothing
proxied or recorded, and no public address without keys."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.dashboard.seed import seed

from tokenomy.cli.main import main
from tokenomy.store import open_database


def test_refuses_a_public_address_without_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--host", "0.0.0.0"]) == 2
    assert "tokenomy keys create" in capsys.readouterr().err


def test_serves_the_dashboard_and_the_api_and_proxies_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = open_database(f"sqlite:///{home / 'tokenomy.db'}")
    seed(db)
    db.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "TOKENOMY_HOME": str(home)}
    env.pop("TOKENOMY_DB", None)
    cmd = [sys.executable, "-c", "from tokenomy.cli.main import run; run()", "ui"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as resp:
                    assert b"<title>Tokenomy</title>" in resp.read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "ui did not start"
                time.sleep(0.1)
        query = "/api/v1/summary?since=2026-11-01&until=2026-11-02&timezone=UTC"
        with urllib.request.urlopen(url + query, timeout=10) as resp:
            assert json.loads(resp.read())["calls"] == 66
        with urllib.request.urlopen(url + "/api/v1/gateway", timeout=10) as resp:
            assert json.loads(resp.read())["models"] == []
        request = urllib.request.Request(
            url + "/v1/chat/completions", data=b'{"model": "x", "messages": []}', method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 404 and b"none configured" in err.value.read()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert f"dashboard at http://127.0.0.1:{port}/" in stderr.decode()
