"""`tokenomy serve` as a real process on a free loopback port, for the tests that need
one or several (a CLI's own start-up, replicas sharing Redis and PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    config: Path, port: int, env: dict[str, str], log: Path, *more: str
) -> subprocess.Popen[bytes]:
    """`tokenomy serve` (with ``more`` options) in its own process, once it answers /health."""
    cmd = [sys.executable, "-c", "from tokenomy.cli.main import run; run()"]
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*cmd, "serve", "--config", str(config), "--port", str(port), *more],
            env={**os.environ, **env},
            stderr=err,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"serve did not start: {log.read_text()}") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """A graceful stop: every call recorded so far reaches the database."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
