"""A local emulator of Google's Gemini API (AI Studio, ``v1beta``), in the style of
:mod:`tests.gateway.upstreams` and on its :class:`Upstream` (same scripted failures: fail_next
with Retry-After, cut_next_stream, error_next_stream).

* ``POST /v1beta/models/{model}:generateContent`` — one GenerateContentResponse.
* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` — SSE, each event
  ``data: {GenerateContentResponse}\\r\\n\\r\\n`` with the new parts, no end marker; usage in
  full on the last chunk. Without ``alt=sse`` the same chunks come as one JSON array.
* ``GET /v1beta/models``.

Keys come in ``x-goog-api-key`` (or ``?key=``). Errors are Google's shape:
``{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}``.

As the other emulators do, a request with tools is answered with a call of the first
function (no arguments); once the last turn holds function responses, the answer is text,
so a whole tool loop can run. Requests are checked as strictly as Gemini checks them where
translation could go wrong: unknown fields anywhere in the request or in a function's
parameter schema, roles other than user/model, empty parts, object schemas without
properties, are all a 400 INVALID_ARGUMENT, as the real API answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tests.gateway.upstreams import (
    MOCK_CHUNKS,
    MOCK_TEXT,
    Upstream,
    _dumps,
    _json_response,
    _Reply,
    _retry_after_value,
)

__all__ = [
    "GEMINI_MODELS",
    "GEMINI_STREAM_PROMPT_USAGE",
    "GEMINI_USAGE",
    "gemini_error_body",
    "gemini_upstream",
]

GEMINI_USAGE: dict[str, Any] = {
    "promptTokenCount": 11,  # includes the 3 cached ones
    "candidatesTokenCount": 5,  # excludes the 2 thinking ones
    "totalTokenCount": 18,
    "cachedContentTokenCount": 3,
    "thoughtsTokenCount": 2,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
}
# What chunks before the last carry: the prompt is counted, the answer not yet.
GEMINI_STREAM_PROMPT_USAGE: dict[str, Any] = {"promptTokenCount": 11, "totalTokenCount": 11}
GEMINI_MODELS = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
)

_STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

# The fields of the request messages this emulator checks (Gemini rejects any other).
_REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    }
)
_GENERATION_FIELDS = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "candidateCount",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "responseLogprobs",
        "logprobs",
        "thinkingConfig",
    }
)
_PART_FIELDS = frozenset(
    {
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "thought",
        "thoughtSignature",
        "executableCode",
        "codeExecutionResult",
    }
)
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "minItems",
        "maxItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "minimum",
        "maximum",
    }
)


def gemini_error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's error shape for ``status``."""
    name, default = _STATUSES.get(
        status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", f"Error {status}.")
    )
    return {"error": {"code": status, "message": message or default, "status": name}}


class _InvalidRequestError(Exception):
    """A request Gemini would refuse: the message is its 400 answer's."""


def _unknown(fields: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for name in fields:
        if name not in allowed:
            raise _InvalidRequestError(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
                "Cannot find field."
            )


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise _InvalidRequestError(f"{where}: a schema must be an object")
    _unknown(schema, _SCHEMA_FIELDS, where)
    kind = schema.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _InvalidRequestError(f"{where}.type: a single type name is required")
    if kind == "object" and "properties" in schema and not schema["properties"]:
        raise _InvalidRequestError(f"{where}.properties: should be non-empty for OBJECT type")
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"]):
        raise _InvalidRequestError(f"{where}.enum: only strings are allowed")
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf") or []):
        _check_schema(sub, f"{where}.any_of[{i}]")


def _check_request(req: dict[str, Any]) -> None:
    _unknown(req, _REQUEST_FIELDS, "")
    contents = req.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _InvalidRequestError("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            raise _InvalidRequestError(f"Please use a valid role: user, model. ({where})")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _InvalidRequestError(
                f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
            )
        for j, part in enumerate(parts):
            if not isinstance(part, dict) or not part:
                raise _InvalidRequestError(
                    f"* GenerateContentRequest.{where}.parts[{j}].data: required oneof field "
                    "'data' must have one initialized field"
                )
            _unknown(part, _PART_FIELDS, f"{where}.parts[{j}]")
    system = req.get("systemInstruction")
    if system is not None and not (isinstance(system, dict) and system.get("parts")):
        raise _InvalidRequestError(
            "* GenerateContentRequest.system_instruction.parts: must not be empty"
        )
    _unknown(req.get("generationConfig") or {}, _GENERATION_FIELDS, "generation_config")
    for i, tool in enumerate(req.get("tools") or []):
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            _unknown(
                declaration, frozenset({"name", "description", "parameters", "response"}), where
            )
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{where}.parameters")


def _first_function(tools: Any) -> str | None:
    for tool in tools if isinstance(tools, list) else []:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                return str(declaration["name"])
    return None


def _answers_functions(contents: list[dict[str, Any]]) -> bool:
    return any("functionResponse" in part for part in contents[-1]["parts"])


class _GeminiUpstream(Upstream):
    provider = "gemini"

    def __init__(self) -> None:
        super().__init__()
        self._routes = {("GET", "/v1beta/models"): self._models}
        for model, _ in GEMINI_MODELS:
            base = f"/v1beta/models/{model}"
            self._routes[("POST", f"{base}:generateContent")] = self._generate
            self._routes[("POST", f"{base}:streamGenerateContent")] = self._generate

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-goog-api-key", "").strip() or request.query.get("key"):
            return None
        return self._error(
            403,
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )

    def _error(
        self, status: int, message: str | None, *, retry_after: float | None = None
    ) -> web.Response:
        body = gemini_error_body(status, message)
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = _retry_after_value(retry_after)
            delay = f"{_retry_after_value(retry_after)}s"
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
            ]
        return _json_response(status, body, headers)

    def _not_found(self, request: web.Request) -> web.Response:
        name = request.path.removeprefix("/v1beta/").partition(":")[0]
        return self._error(
            404,
            f"{name} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    def _stream_error_event(self, status: int) -> bytes:
        return f"data: {_dumps(gemini_error_body(status))}\r\n\r\n".encode()

    async def _generate(self, request: web.Request, req: dict[str, Any]) -> _Reply:
        try:
            _check_request(req)
        except _InvalidRequestError as exc:
            return self._error(400, str(exc))
        model = request.path.removeprefix("/v1beta/models/").partition(":")[0]
        response_id = f"mockresp{self._next_id():06d}"
        tool = _first_function(req.get("tools"))
        if tool is not None and _answers_functions(req["contents"]):
            tool = None

        def chunk(parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = "STOP"
            return {
                "candidates": [candidate],
                "usageMetadata": GEMINI_USAGE if last else GEMINI_STREAM_PROMPT_USAGE,
                "modelVersion": model,
                "responseId": response_id,
            }

        if tool is not None:
            chunks = [chunk([{"functionCall": {"name": tool, "args": {}}}], last=True)]
        else:
            pieces = MOCK_CHUNKS if request.path.endswith(":streamGenerateContent") else [MOCK_TEXT]
            chunks = [chunk([{"text": p}], last=i == len(pieces) - 1) for i, p in enumerate(pieces)]
        if not request.path.endswith(":streamGenerateContent"):
            return _json_response(200, chunks[0])
        if request.query.get("alt") != "sse":
            return _json_response(200, chunks)  # Gemini's default: one JSON array
        return [f"data: {_dumps(c)}\r\n\r\n".encode() for c in chunks]

    async def _models(self, request: web.Request, req: Any) -> _Reply:
        models = [
            {
                "name": f"models/{model}",
                "version": "001",
                "displayName": name,
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for model, name in GEMINI_MODELS
        ]
        return _json_response(200, {"models": models})


def gemini_upstream() -> Upstream:
    """A Gemini emulator (not started: use ``with gemini_upstream() as up:``)."""
    return _GeminiUpstream()
