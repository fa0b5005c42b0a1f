"""The OpenAPI 3.1 description of ``/api/v1``, built from the same lists the handlers check."""

from __future__ import annotations

from typing import Any

from tokenomy.advise.recommend.base import KINDS as ADVICE_KINDS
from tokenomy.api.params import DIMENSIONS, FILTERS
from tokenomy.api.timeseries import INTERVALS, METRICS
from tokenomy.api.top import TOP_KINDS

_ERROR = {
    "description": "a parameter the endpoint cannot use; the message names it and what it allows",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "message": {"type": "string"},
                            "param": {"type": ["string", "null"]},
                        },
                    }
                },
            }
        }
    },
}


def _param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _common(*, csv: bool = True) -> list[dict[str, Any]]:
    """The range, zone, format and filters every endpoint takes; ``csv``: whether the
    answer is a list that format=csv writes as a table (else a 422)."""
    formats = ["json", "csv"] if csv else ["json"]
    params = [
        _param("since", "first instant (ISO 8601 time) or day (YYYY-MM-DD, from its midnight)"),
        _param("until", "end: an ISO 8601 time (exclusive) or a day (inclusive)"),
        _param("timezone", "IANA zone for days and zone-less times (default UTC)"),
        _param(
            "format",
            "json (default) or csv" if csv else "json only (not a list)",
            {"type": "string", "enum": formats},
        ),
    ]
    params += [_param(f, f"only calls with this {f} (repeat, or a,b)") for f in FILTERS]
    return params


def _get(summary: str, params: list[dict[str, Any]], answer: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": {"description": answer}, "422": _ERROR},
        }
    }


def _extra_paths() -> dict[str, Any]:
    """The list endpoints: calls, a call, and the ranked views."""
    detail = _get("One call: every field, its tools, its stored content if any", [], "the call")
    detail["get"]["parameters"] = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    detail["get"]["responses"]["404"] = {"description": "no call with this id"}
    return {
        "/api/v1/calls": _get(
            "Calls, newest first (or order=asc), by keyset pages: pass next_cursor as cursor",
            [
                *_common(),
                _param("limit", "calls per page (1-500, default 50)", {"type": "integer"}),
                _param("cursor", "next_cursor of the previous page"),
                _param(
                    "q", "search ids, sessions, traces, prompt hashes, errors, models, projects"
                ),
                _param(
                    "order", "desc (default) or asc", {"type": "string", "enum": ["desc", "asc"]}
                ),
                _param(
                    "error_type",
                    "only failed calls of this error type, as /failures groups them (repeat, "
                    "or a,b)",
                ),
            ],
            "rows and next_cursor (null on the last page)",
        ),
        "/api/v1/calls/{id}": detail,
        "/api/v1/top": _get(
            "The most expensive sessions, projects, users, prompts (by prompt hash) or "
            "commands (runner records by command family), with the calls as evidence",
            [
                *_common(),
                _param("what", "default sessions", {"type": "string", "enum": list(TOP_KINDS)}),
                _param("limit", "rows (1-200, default 20)", {"type": "integer"}),
            ],
            "rows, most expensive first",
        ),
        "/api/v1/failures": _get(
            "Failed calls grouped by error type, provider and model, with counts per "
            "bucket and example calls",
            [
                *_common(),
                _param(
                    "interval",
                    "bucket of the counts (default day)",
                    {"type": "string", "enum": list(INTERVALS)},
                ),
                _param("limit", "groups (1-200, default 20)", {"type": "integer"}),
            ],
            "total, buckets and rows",
        ),
        "/api/v1/live": {
            "get": {
                "summary": "Server-sent events for the dashboard: a `tick` every interval "
                "(changed: whether calls arrived; with gateway=1, the gateway's live state); "
                "the stream ends after 15 s and the client reconnects",
                "parameters": [
                    _param("interval", "seconds between ticks (0.2-30, default 2)"),
                    _param("gateway", "1 to add the gateway's state to every tick"),
                ],
                "responses": {"200": {"description": "text/event-stream"}},
            }
        },
        "/api/v1/gateway": {
            "get": {
                "summary": "This gateway worker's deployments (circuit, in flight, rpm/tpm "
                "windows), its calls in the last 5 minutes and its latest calls",
                "parameters": [],
                "responses": {"200": {"description": "worker, models, window, recent"}},
            }
        },
        "/api/v1/cache": _get(
            "Prompt-cache efficiency (read share, savings, per model), sessions and prefixes "
            "with poor reuse, and duplicate prompts with what an exact cache would save",
            [*_common(), _param("limit", "rows per list (1-200, default 20)", {"type": "integer"})],
            "summary, models, poor_reuse_sessions, poor_reuse_prefixes, duplicate_prompts",
        ),
        "/api/v1/advise": _get(
            "Ranked recommendations that cut cost, each with its monthly saving, the evidence "
            "and the calls behind it: exact and semantic caching, prompt caching, batch APIs, "
            "cheaper models on your evaluation results, retry storms, long contexts, cost growth",
            [
                *_common(),
                _param("limit", "rows (1-200, default 20)", {"type": "integer"}),
                _param(
                    "kind",
                    "only these kinds (repeatable or comma-separated)",
                    {"type": "string", "enum": list(ADVICE_KINDS)},
                ),
            ],
            "range, summary (spend, savings per kind), rows largest saving first, not_assessed",
        ),
        "/api/v1/advise/cache": _get(
            "Prompt-caching advice: prefixes sent again uncached or evicted before reuse, "
            "what Anthropic breakpoints (5-minute or 1-hour TTL) or OpenAI's automatic "
            "caching would have cost, and the monthly savings, with the calls as evidence",
            [*_common(), _param("limit", "rows (1-200, default 20)", {"type": "integer"})],
            "range, summary (per strategy), assumptions and rows, largest saving first",
        ),
    }


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tokenomy analytics API", "version": "1"},
        "paths": {
            "/api/v1/summary": {
                "get": {
                    "summary": "Cost, calls, failures, tokens per category, latency p50/p95, "
                    "cache savings and unknown-cost calls",
                    "parameters": _common(csv=False),
                    "responses": {"200": {"description": "the summary"}, "422": _ERROR},
                }
            },
            "/api/v1/timeseries": {
                "get": {
                    "summary": "One metric per local minute, hour or day, every bucket present; "
                    "optionally one series per value of a dimension (top N + other)",
                    "parameters": [
                        *_common(),
                        _param(
                            "interval",
                            "bucket (default day)",
                            {"type": "string", "enum": list(INTERVALS)},
                        ),
                        _param(
                            "metric",
                            "what to sum (default cost)",
                            {"type": "string", "enum": list(METRICS)},
                        ),
                        _param(
                            "group_by",
                            "one series per value of this dimension",
                            {"type": "string", "enum": list(DIMENSIONS)},
                        ),
                        _param(
                            "top",
                            "series kept (1-50, default 5); the rest is other",
                            {"type": "integer"},
                        ),
                    ],
                    "responses": {"200": {"description": "buckets and series"}, "422": _ERROR},
                }
            },
            "/api/v1/breakdown": {
                "get": {
                    "summary": "Totals per value of one dimension, sorted; the values past "
                    "`limit` summed as `other`",
                    "parameters": [
                        *_common(),
                        _param(
                            "by",
                            "dimension (default model)",
                            {"type": "string", "enum": [*DIMENSIONS, "tool"]},
                        ),
                        _param(
                            "sort",
                            "measure to sort by (default cost)",
                            {
                                "type": "string",
                                "enum": ["cost", "calls", "tokens", "failed", "key"],
                            },
                        ),
                        _param(
                            "order",
                            "desc (default) or asc",
                            {"type": "string", "enum": ["desc", "asc"]},
                        ),
                        _param("limit", "rows (1-1000, default 50)", {"type": "integer"}),
                    ],
                    "responses": {"200": {"description": "rows and other"}, "422": _ERROR},
                }
            },
            **_extra_paths(),
            "/api/v1/predict": _predict_path(),
            "/api/v1/forecast": _forecast_path(),
        },
    }


def _forecast_path() -> dict[str, Any]:
    return _get(
        "Spend forecast: daily history, the next days with 80% intervals (low, expected, "
        "high), and 7- and 30-day totals, in total and per project (docs/forecast.md)",
        [
            *_common(csv=False),
            _param("days", "days to forecast (1-90, default 30)", {"type": "integer"}),
            _param("history", "days of history used (14-365, default 84)", {"type": "integer"}),
            _param(
                "top", "projects kept (1-50, default 10); the rest is other", {"type": "integer"}
            ),
        ],
        "history buckets, forecast buckets, totals; `until` sets the last day of history "
        "(default: yesterday, so the forecast starts today)",
    )


def _predict_path() -> dict[str, Any]:
    """``POST /api/v1/predict`` (docs/predict.md): the one route that takes a JSON body."""
    text = {"type": "string"}
    body = {
        "type": "object",
        "required": ["model"],
        "properties": {
            "model": text,
            "messages": {"description": "chat messages [{role, content}] or a prompt string"},
            "command": {**text, "description": "a runner prompt, instead of messages"},
            "provider": text,
            "history": {"type": "boolean", "description": "learn from stored calls (default)"},
        },
    }
    return {
        "post": {
            "summary": "Estimate a call before sending it: input tokens, output tokens and "
            "cost, each with an 80% interval",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {"description": "input_tokens, output_tokens, cost_usd"},
                "400": _ERROR,
                "422": _ERROR,
            },
        }
    }
