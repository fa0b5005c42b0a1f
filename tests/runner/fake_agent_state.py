"""What the stand-in agents share: a log of starts and ends (to check concurrency by the
order of events), per-prompt counters (to fail the first N times), and the
``[directive arg]`` markers in a prompt that choose a behaviour."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

_DIRECTIVE = re.compile(r"\[([a-z0-9-]+)(?: ([^\]]*))?\]")


def directives(prompt: str) -> dict[str, str]:
    """``"fix it [rate-limit 2] [slow 0.5]"`` -> ``{"rate-limit": "2", "slow": "0.5"}``."""
    return {m.group(1): (m.group(2) or "") for m in _DIRECTIVE.finditer(prompt)}


def log_event(kind: str) -> None:
    """Append ``kind pid`` to ``$FAKE_LOG``; one short write with O_APPEND is atomic, so
    the file's order is the order the events happened in."""
    path = os.environ.get("FAKE_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{kind} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def wait_for_starts(count: int, limit_s: float = 30.0) -> bool:
    """Wait until ``count`` runs have started (proof that they run at the same time)."""
    path = Path(os.environ["FAKE_LOG"])
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.read_text().count("start ") >= count:
            return True
        time.sleep(0.02)
    return False


def bump(prompt: str) -> int:
    """How many times this prompt has been run before (a counter file per prompt)."""
    state = Path(os.environ["FAKE_STATE_DIR"])
    counter = state / hashlib.sha256(prompt.encode()).hexdigest()[:16]
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    return seen


def record_call(argv: list[str]) -> None:
    """Append the arguments and working directory to ``$FAKE_CALLS`` (one JSON per line)."""
    import json

    path = os.environ.get("FAKE_CALLS")
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"argv": argv, "cwd": str(Path.cwd())}) + "\n")
