"""Tokenomy: every AI operation measured, predicted and made cheaper."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenomy.sdk import Client, track

__all__ = ["Client", "predict", "track"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import tokenomy` (every CLI start) must not pay for the
    # gateway, aiohttp or the SDKs.
    if name == "predict":  # a callable package: tokenomy.predict(messages, model)
        return importlib.import_module("tokenomy.predict")
    if name in __all__:
        from tokenomy import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'tokenomy' has no attribute {name!r}")
