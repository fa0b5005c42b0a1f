"""The OpenAPI 3.1 description of ``/api/v1``, built from the same lists the handlers check."""

from __future__ import annotations

from typing import Any

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


def _common() -> list[dict[str, Any]]:
    params = [
        _param("since", "first instant (ISO 8601 time) or day (YYYY-MM-DD, from its midnight)"),
        _param("until", "end: an ISO 8601 time (exclusive) or a day (inclusive)"),
        _param("timezone", "IANA zone for days and zone-less times (default UTC)"),
        _param("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
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
                _param("q", "search ids, sessions, traces, error types, models, projects"),
                _param(
                    "order", "desc (default) or asc", {"type": "string", "enum": ["desc", "asc"]}
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
        "/api/v1/cache": _get(
            "Prompt-cache efficiency (read share, savings, per model), sessions and prefixes "
            "with poor reuse, and duplicate prompts with what an exact cache would save",
            [*_common(), _param("limit", "rows per list (1-200, default 20)", {"type": "integer"})],
            "summary, models, poor_reuse_sessions, poor_reuse_prefixes, duplicate_prompts",
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
                    "parameters": _common(),
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
        },
    }
