"""The shipped output-length model (``data/prior.json``), used where the user has no
history. Its provenance is in the file's ``trained_on`` and in docs/predict.md."""

from __future__ import annotations

from functools import cache
from importlib import resources

import orjson

from tokenomy.predict.model import LengthModel


@cache  # read-only after loading: one parse per process, never changed at runtime
def shipped_model() -> LengthModel:
    text = resources.files("tokenomy.predict").joinpath("data/prior.json").read_bytes()
    return LengthModel.from_json(orjson.loads(text))
