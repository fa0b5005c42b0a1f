"""A webhook receiver on a free loopback port (the standard library's HTTP server in a
thread): it answers from a script of responses and records every request it took."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering (a server too slow for the timeout)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Hook:
    """Answers in ``script`` order, then ``then`` for every further request."""

    def __init__(self, script: list[Answer], then: Answer) -> None:
        self.script = list(script)
        self.then = then
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.url = ""

    def next_answer(self, request: Received) -> Answer:
        with self.lock:
            self.received.append(request)
            return self.script.pop(0) if self.script else self.then


@contextmanager
def webhook(*script: Answer, then: Answer | None = None) -> Iterator[Hook]:
    hook = Hook(list(script), then or Answer())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = hook.next_answer(Received(self.path, dict(self.headers.items()), body))
            if answer.delay:
                time.sleep(answer.delay)
            # A delayed answer is for a client that gives up first (a timeout test): its
            # connection is gone, which is the point, not a server error to print.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook/T0123/B0456/secret-token-xyz"
    # A short poll: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
