"""HttpEmbedder against a local server that speaks OpenAI's `POST /v1/embeddings`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")


import numpy as np

from tokenomy.cache.semantic import Embedder, EmbeddingError, HttpEmbedder


class _Server:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((dict(self.headers), body))
                if self.path != "/v1/embeddings":
                    self._send(404, {"error": {"message": "not found"}})
                elif outer.status != 200:
                    self._send(outer.status, {"error": {"message": "Incorrect API key"}})
                else:
                    # Unnormalised vectors, listed in reverse order: the client must use
                    # `index` and normalise.
                    data = [
                        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                        for i, t in enumerate(body["input"])
                    ][::-1]
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": data,
                            "model": body["model"],
                            "usage": {"prompt_tokens": 3, "total_tokens": 3},
                        },
                    )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join()


def test_embeds_in_input_order_normalised(server: _Server) -> None:
    emb = HttpEmbedder(server.url, "sk-test", "text-embedding-3-small")
    rows = emb.embed(["a", "abcd", "ab"])
    assert isinstance(emb, Embedder)
    assert rows.dtype == np.float32
    assert rows.shape == (3, 3)
    assert emb.dim == 3
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(rows[:, 0] / rows[:, 1], [1.0, 4.0, 2.0], rtol=1e-6)
    headers, body = server.requests[0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body == {
        "model": "text-embedding-3-small",
        "input": ["a", "abcd", "ab"],
        "encoding_format": "float",
    }


def test_dim_is_probed_once_when_not_given(server: _Server) -> None:
    emb = HttpEmbedder(server.url, None, "m")
    assert emb.dim == 3
    assert emb.dim == 3
    assert len(server.requests) == 1
    assert "Authorization" not in server.requests[0][0]


def test_batches_of_batch_size(server: _Server) -> None:
    emb = HttpEmbedder(server.url, "k", "m", batch_size=2)
    assert emb.embed(["a", "b", "c", "d", "e"]).shape == (5, 3)
    assert [len(body["input"]) for _, body in server.requests] == [2, 2, 1]


def test_http_error_is_an_embedding_error(server: _Server) -> None:
    server.status = 401
    with pytest.raises(EmbeddingError, match=r"HTTP 401.*Incorrect API key"):
        HttpEmbedder(server.url, "bad", "m").embed(["a"])


def test_unreachable_server_is_an_embedding_error(server: _Server) -> None:
    url = server.url
    server.httpd.shutdown()
    server.httpd.server_close()
    with pytest.raises(EmbeddingError):
        HttpEmbedder(url, "k", "m", timeout_s=2).embed(["a"])
