"""Where embeddings come from: the `Embedder` contract and an OpenAI-compatible HTTP client.

An embedder is synchronous: the semantic cache calls it from a worker thread (the gateway
wraps `lookup`/`insert` in `asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float32 rows of length `dim`, each L2-normalised."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class EmbeddingError(RuntimeError):
    """The embeddings provider failed or answered in an unexpected shape."""


def normalise_rows(rows: NDArray[np.floating]) -> NDArray[np.float32]:
    out = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, np.float32(1e-12))  # type: ignore[no-any-return]


class HttpEmbedder:
    """Any server that speaks OpenAI's `POST /v1/embeddings` (OpenAI, vLLM, Ollama, a Tokenomy
    gateway...). `base_url` is the part before `/embeddings`, e.g. `https://api.openai.com/v1`.

    The dimension is read from the first answer unless given (so reading `dim` first, as
    SemanticCache does, makes one request). Rows are normalised here, because not every
    provider returns unit vectors.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        dim: int | None = None,
        timeout_s: float = 10.0,
        batch_size: int = 256,
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = model
        self._api_key = api_key
        self._dim = dim
        self._timeout_s = timeout_s
        self._batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        parts = [
            self._request(list(texts[i : i + self._batch_size]))
            for i in range(0, len(texts), self._batch_size)
        ]
        rows = np.concatenate(parts)
        with self._lock:
            if self._dim is None:
                self._dim = int(rows.shape[1])
        if rows.shape[1] != self._dim:
            raise EmbeddingError(
                f"{self.url}: got {rows.shape[1]} dimensions, expected {self._dim}"
            )
        return normalise_rows(rows)

    def _request(self, texts: list[str]) -> NDArray[np.float32]:
        body = json.dumps({"model": self.model, "input": texts, "encoding_format": "float"})
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:
                payload = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise EmbeddingError(f"{self.url}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EmbeddingError(f"{self.url}: {exc}") from exc
        except ValueError as exc:
            raise EmbeddingError(f"{self.url}: the answer is not JSON") from exc
        return _parse(payload, len(texts), self.url)


def _parse(payload: object, expected: int, url: str) -> NDArray[np.float32]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise EmbeddingError(f"{url}: expected {expected} embeddings in `data`")
    # The spec gives each item an `index`; order by it rather than trusting list order.
    try:
        items = sorted(data, key=lambda item: int(item["index"]))
        rows = np.array([item["embedding"] for item in items], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingError(f"{url}: malformed embedding item ({exc})") from exc
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise EmbeddingError(f"{url}: embeddings are not equal-length float lists")
    return rows
