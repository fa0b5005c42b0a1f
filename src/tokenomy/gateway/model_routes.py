"""Routes about models rather than calls: the model list, one model (``/v1/models/{id}``),
and Anthropic's ``/v1/messages/count_tokens``, which SDKs and Claude Code call before a
request. Nothing here is a billed call, so nothing is recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
import orjson

from tokenomy.gateway.config import Deployment
from tokenomy.gateway.headers import relay_headers, upstream_headers
from tokenomy.gateway.providers import Protocol
from tokenomy.gateway.proxy import ClientError, Request, Send

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
COUNT_TOKENS_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)


def model_entry(name: str, protocol: Protocol) -> dict[str, Any]:
    if protocol == "anthropic":
        return {
            "type": "model",
            "id": name,
            "display_name": name,
            "created_at": "1970-01-01T00:00:00Z",
        }
    return {"id": name, "object": "model", "created": 0, "owned_by": "tokenomy"}


def model_list(aliases: Iterable[str], protocol: Protocol) -> dict[str, Any]:
    """The aliases, in the shape the client's SDK lists models in."""
    names = sorted(aliases)
    data = [model_entry(n, protocol) for n in names]
    if protocol == "anthropic":
        first, last = (names[0], names[-1]) if names else (None, None)
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}
    return {"object": "list", "data": data}


def model_id(path: str) -> str | None:
    """The id of ``/v1/models/{id}`` (or ``/models/{id}``), else None."""
    for prefix in ("/v1/models/", "/models/"):
        if path.startswith(prefix) and len(path) > len(prefix):
            return path[len(prefix) :]
    return None


def anthropic_deployment(alias: str, deployments: Iterable[Deployment]) -> Deployment:
    """The alias's first Anthropic deployment: only Anthropic counts tokens this way."""
    for deployment in deployments:
        if deployment.provider.protocol == "anthropic":
            return deployment
    raise ClientError(
        400,
        f"{alias!r} has no Anthropic deployment, and count_tokens is Anthropic's: "
        "count with a model served by Anthropic, or estimate with `tokenomy predict`",
        "invalid_request_error",
    )


async def relay_count_tokens(
    session: aiohttp.ClientSession, request: Request, deployment: Deployment, send: Send
) -> None:
    """Ask ``deployment`` to count the request's tokens, with its model and key, and relay
    the answer (an error of the provider's included) as it came."""
    body = orjson.dumps({**request.json, "model": deployment.model})
    url = deployment.base_url.rstrip("/") + COUNT_TOKENS_PATH
    try:
        async with session.post(
            url,
            data=body,
            headers=upstream_headers(request, deployment),
            timeout=COUNT_TOKENS_TIMEOUT,
        ) as response:
            answer = await response.read()
            status, headers = response.status, relay_headers(response, len(answer))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ClientError(
            502, f"{deployment.label}: count_tokens failed: {exc}", "connection_error"
        ) from exc
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
