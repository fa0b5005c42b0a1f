"""Starting and stopping what is measured: the mock upstream (which is also the ``direct``
target), ``tokenomy serve`` and the LiteLLM proxy, each in its own process group with its
output in a log file (never a pipe nobody reads: a full pipe would stall the server)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LITELLM_VENV = REPO / "bench" / ".venv-litellm"
LITELLM_REQUIREMENTS = HERE / "requirements-litellm.txt"
CHAT_PATH = "/v1/chat/completions"
MODEL = "bench"
# The variables the issue gives for running LiteLLM without the network; LITELLM_LOG keeps
# uvicorn at warnings, as tokenomy serve runs it, so neither writes a line per request.
LITELLM_ENV = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    "LITELLM_LOG": "WARNING",
}
STARTUP_TIMEOUT = 120.0


class TargetUnavailableError(RuntimeError):
    """A target that cannot be measured in this run, and why."""


@dataclass
class Server:
    name: str
    port: int
    pid: int
    log: Path
    startup_s: float
    proc: subprocess.Popen[bytes] | None = None  # None: not ours to stop
    notes: list[str] = field(default_factory=list)
    database: Path | None = None
    processes: int = 1  # in its tree while measured (workers, helpers)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGINT, as Ctrl-C: uvicorn drains, tokenomy flushes its records),
        then SIGKILL to the process group we created if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.notes.append(f"did not stop within {timeout:.0f} s of SIGINT: killed")
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def mock_port(config: Path) -> int:
    """The mock's port: the one in config.yaml's api_base, so both proxies reach it."""
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    base = raw["model_list"][0]["litellm_params"]["api_base"]
    port = base.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    return int(port)


def chat_body(*, stream: bool = False) -> bytes:
    """The request every call sends: a short conversation, so that what is measured is the
    proxies' work per call, not the body's size. A streaming client asks for usage, as the
    SDKs' users who count tokens do."""
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the answer?"},
        ],
        "max_tokens": 16,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return json.dumps(body, separators=(",", ":")).encode()


def probe_chat(port: int, session: str = "bench-probe") -> int:
    """One real call through a server; its HTTP status (0 if it cannot be reached)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            CHAT_PATH,
            body=chat_body(),
            headers={"Content-Type": "application/json", "x-tokenomy-session": session},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _probe_health(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _launch(
    name: str,
    cmd: list[str],
    port: int,
    workdir: Path,
    env: dict[str, str],
    *,
    health_only: bool = False,
) -> Server:
    if _port_taken(port):
        # Something else would answer our probes and take our load: refuse, loudly.
        raise TargetUnavailableError(f"{name}: port {port} is already in use")
    log = workdir / f"{name}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=workdir,
            start_new_session=True,
        )
    server = Server(name, port, proc.pid, log, 0.0, proc)
    deadline = started + STARTUP_TIMEOUT
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise TargetUnavailableError(
                f"{name} exited with status {proc.returncode} while starting:\n" + tail(log)
            )
        status = _probe_health(port) if health_only else probe_chat(port)
        if status == 200:
            server.startup_s = time.perf_counter() - started
            return server
        if status not in (0, 404, 502, 503):
            server.stop()
            raise TargetUnavailableError(
                f"{name} answered {status} to a chat request:\n{tail(log)}"
            )
        time.sleep(0.1)
    server.stop()
    raise TargetUnavailableError(f"{name} not ready after {STARTUP_TIMEOUT:.0f} s:\n{tail(log)}")


def _port_taken(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def start_mock(port: int, workdir: Path, processes: int, delay_ms: float) -> Server:
    cmd = [
        sys.executable,
        str(HERE / "mock_upstream.py"),
        "--port",
        str(port),
        "--processes",
        str(processes),
        "--delay-ms",
        str(delay_ms),
    ]
    return _launch("mock", cmd, port, workdir, {}, health_only=True)


def start_tokenomy(port: int, workdir: Path, config: Path, fallback: Path) -> Server:
    """``tokenomy serve`` with recording on, into a SQLite file of its own. LiteLLM's
    config.yaml first; tokenomy.yaml if this tokenomy does not read that format yet."""
    home = workdir / "tokenomy-home"
    home.mkdir(exist_ok=True)
    database = home / "bench.db"
    env = {"TOKENOMY_HOME": str(home), "TOKENOMY_DB": str(database)}
    exe = Path(sys.executable).with_name("tokenomy")
    if not exe.exists():
        raise TargetUnavailableError(f"{exe} not found: run this script with the project's venv")

    def serve(used: Path) -> Server:
        cmd = [str(exe), "serve", "--config", str(used), "--port", str(port), "--workers", "1"]
        server = _launch("tokenomy", cmd, port, workdir, env)
        server.database = database
        server.notes.append(f"config: {used.name}")
        return server

    try:
        return serve(config)
    except TargetUnavailableError as exc:
        reason = str(exc).splitlines()[-1].strip()
    note = f"tokenomy serve --config {config.name} failed ({reason}); using {fallback.name}"
    print(note, file=sys.stderr)
    server = serve(fallback)
    server.notes.insert(0, note)
    return server


def start_litellm(port: int, workdir: Path, config: Path) -> Server:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        raise TargetUnavailableError(
            f"LiteLLM is not installed in {LITELLM_VENV}; skipping it. Create that venv with:\n"
            f"    python3 -m venv {LITELLM_VENV.relative_to(REPO)}\n"
            f"    {(LITELLM_VENV / 'bin' / 'pip').relative_to(REPO)} install "
            f"-r {LITELLM_REQUIREMENTS.relative_to(REPO)}"
        )
    cmd = [
        str(exe),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    return _launch("litellm", cmd, port, workdir, LITELLM_ENV)


def litellm_version() -> str | None:
    for dist in (LITELLM_VENV / "lib").glob("python*/site-packages/litellm-*.dist-info"):
        return dist.name.removeprefix("litellm-").removesuffix(".dist-info")
    return None
