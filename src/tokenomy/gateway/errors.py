"""Errors in the client's own protocol, so its SDK raises the right exception with our
message (an OpenAI client gets ``{"error": {...}}``, an Anthropic one ``{"type": "error"}``)."""

from __future__ import annotations

import orjson

from tokenomy.gateway.providers import Protocol

# Anthropic's error types by HTTP status (OpenAI's are looser: a type and a code).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(protocol: Protocol, status: int, message: str, code: str | None = None) -> bytes:
    if protocol == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def stream_error_event(protocol: Protocol, message: str) -> bytes:
    """The event that ends a stream which failed mid-way, as the protocol reports it."""
    if protocol == "anthropic":
        body = error_body("anthropic", 500, message)
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + error_body("openai", 502, message, "upstream_error") + b"\n\n"
