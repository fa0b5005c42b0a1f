"""Tokenomy inside your program: ``track(client)`` records the calls of an OpenAI or
Anthropic SDK client; ``Client`` runs the gateway in-process (routing, failover, recording)
and hands out SDK clients that use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported here, not lazily: the function must replace the submodule of the same name as
# the package's ``track`` attribute. It needs neither aiohttp nor the gateway app.
from tokenomy.sdk.track import track

if TYPE_CHECKING:
    from tokenomy.sdk.inprocess import Client

__all__ = ["Client", "track"]


def __getattr__(name: str) -> Any:
    # On first use: Client runs the gateway, which needs aiohttp (slow to import).
    if name == "Client":
        from tokenomy.sdk.inprocess import Client

        return Client
    raise AttributeError(f"module 'tokenomy.sdk' has no attribute {name!r}")
