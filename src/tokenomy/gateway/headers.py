"""The headers of an exchange: what goes to the provider (the client's, minus what must
not travel, plus the deployment's key) and what comes back to the client."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from tokenomy.gateway.config import Deployment

if TYPE_CHECKING:
    from tokenomy.gateway.proxy import Request

# Not relayed: hop-by-hop headers, and those that described the upstream's encoding (the
# client gets the body decoded, with its own length).
DROP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "date",
        "server",
        "host",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
    }
)
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
# The encodings the gateway asks providers for: the ones its HTTP client can decode. The
# client's own Accept-Encoding is never forwarded: it may list br or zstd, which a
# Cloudflare-fronted provider then uses, and the gateway could not read the answer (a 502
# for an answer the provider billed). The client gets the body decoded in any case.
UPSTREAM_ENCODINGS = "gzip, deflate"


def upstream_headers(request: Request, deployment: Deployment) -> dict[str, str]:
    same = request.protocol == deployment.provider.protocol
    forward_auth = (
        deployment.api_key is None
        and not request.authenticated
        and same
        and request.addressed is not None
        and same_upstream(deployment, request.addressed)
    )
    headers = {
        k: v
        for k, v in request.headers.items()
        if k not in DROP_HEADERS
        and k != "accept-encoding"
        and not k.startswith("x-tokenomy-")
        and (forward_auth or k not in AUTH_HEADERS)
        # Another protocol's version and beta headers mean nothing to this provider.
        and (same or not k.startswith(("anthropic-", "openai-")))
    }
    if not same and deployment.provider.protocol == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    headers["content-type"] = "application/json"
    headers["accept-encoding"] = UPSTREAM_ENCODINGS
    headers.update(deployment.provider.auth_headers(deployment.api_key))
    return headers


def same_upstream(a: Deployment, b: Deployment) -> bool:
    """Same provider at the same host: a key the client sent for one is good for the other,
    and handing it over tells that host nothing it was not meant to see. A fallback to
    another provider, or to a local server, never receives it."""
    return a.provider.name == b.provider.name and _origin(a.base_url) == _origin(b.base_url)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def relay_headers(
    response: aiohttp.ClientResponse, length: int | None, *, translated: bool = False
) -> list[tuple[bytes, bytes]]:
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k.lower() not in DROP_HEADERS
        # A translated body has the client protocol's shape; the provider's ids and
        # content type may not describe it.
        and not (translated and k.lower() == "content-type")
    ]
    if translated:
        stream = response.headers.get("content-type", "").startswith("text/event-stream")
        kind = b"text/event-stream" if stream else b"application/json"
        headers.append((b"content-type", kind))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers
