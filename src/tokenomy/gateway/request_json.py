"""A request's JSON body, read for forwarding: an object, nested no deeper than it can be
written back, else a 400 ``invalid_json`` in the client's protocol."""

from __future__ import annotations

from typing import Any

import orjson

from tokenomy.gateway.proxy import ClientError


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            400, f"the request body is not valid JSON: {exc}", "invalid_json"
        ) from exc
    if not isinstance(value, dict):
        raise ClientError(400, "the request body must be a JSON object", "invalid_json")
    if deeper_than(value, MAX_JSON_DEPTH):
        # orjson reads 1,024 levels but writes only about 250: a body it read could not be
        # forwarded or keyed for the cache. No provider's request nests anywhere near this.
        raise ClientError(
            400,
            f"the request body nests objects or arrays more than {MAX_JSON_DEPTH} levels deep",
            "invalid_json",
        )
    return value


MAX_JSON_DEPTH = 200


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (visits containers only)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True
