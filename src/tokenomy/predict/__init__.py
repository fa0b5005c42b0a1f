"""Pre-execution estimates: tokens in, tokens out with an 80% interval, and cost
(docs/predict.md)."""

from __future__ import annotations

import sys
import types
from typing import Any

from tokenomy.predict.estimate import PredictError, Prediction, predict
from tokenomy.predict.tokens import TokenCount, count_messages, text_tokens

__all__ = ["PredictError", "Prediction", "TokenCount", "count_messages", "predict", "text_tokens"]


class _CallablePackage(types.ModuleType):
    """``tokenomy.predict(messages, model)`` calls :func:`predict`: the SDK's one-call
    spelling, while ``tokenomy.predict`` stays the package its modules live in."""

    def __call__(self, *args: Any, **kwargs: Any) -> Prediction:
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
