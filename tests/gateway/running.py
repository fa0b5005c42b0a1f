"""A gateway served by a real uvicorn on a free loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
import yaml

from tokenomy.gateway.app import Gateway
from tokenomy.gateway.config import parse_config
from tokenomy.gateway.recorder import Recorder
from tokenomy.pricing import PriceCatalog
from tokenomy.store import BatchWriter, Database

# SDK clients the tests' helpers made, closed when the test ends (tests/conftest.py): a
# client left to the garbage collector closes its socket whenever a later test happens to
# collect it, and that test fails on the ResourceWarning.
OPEN_CLIENTS: list[Any] = []
T = TypeVar("T")


def close_after_test(client: T) -> T:
    OPEN_CLIENTS.append(client)
    return client


def close_clients() -> None:
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


CATALOG = PriceCatalog.load(None)


class RunningGateway:
    def __init__(
        self,
        models: dict[str, Any],
        db: Database | None,
        *,
        fallbacks: dict[str, Any] | None = None,
        router: dict[str, Any] | None = None,
        cache: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        raw = {"models": models, "fallbacks": fallbacks, "router": router, "cache": cache}
        config = parse_config(raw, Path("test.yaml"), {})
        recorder = Recorder(BatchWriter(db, flush_interval=0.05), CATALOG) if db else None
        self.app = Gateway(config, recorder, **options)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        cfg = uvicorn.Config(self.app, lifespan="on", log_level="warning", access_log=False)
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> RunningGateway:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut down gracefully: in-flight calls finish and every record is written."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def config_file(tmp_path: Path, models: dict[str, Any]) -> Path:
    path = tmp_path / "tokenomy.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path
