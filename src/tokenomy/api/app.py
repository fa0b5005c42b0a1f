"""The analytics API under ``/api/v1``, as a plain ASGI handler the gateway mounts.

Queries run in a worker thread (the database drivers block) on a connection of the API's
own. Every answer is JSON, or CSV with ``format=csv``; every refusal is a JSON error naming
the parameter (``{"error": {"type", "message", "param"}}``), never a stack trace.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from tokenomy.api import cache_report, calls, failures, queries, top
from tokenomy.api.metrics import CONTENT_TYPE, exposition
from tokenomy.api.openapi import openapi
from tokenomy.api.params import (
    DIMENSIONS,
    ApiError,
    check_known,
    choice,
    integer,
    many,
    one,
    parse_scope,
)
from tokenomy.api.timeseries import INTERVALS, METRICS, timeseries
from tokenomy.asgi_body import BodyTooLargeError, read_body
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

log = logging.getLogger("tokenomy.api")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
Params = Mapping[str, Sequence[str]]
PREFIX = "/api/v1"
BREAKDOWN_BY = (*DIMENSIONS, "tool")
# Ranked lists (top, failures, cache) return at most this many groups.
LIST_LIMIT = 200
MAX_POST_BYTES = 1 << 20  # a JSON body for POST routes: an estimate's messages, not files


class AnalyticsApi:
    def __init__(
        self, db: Database, catalog: PriceCatalog, *, evals_path: Path | None = None
    ) -> None:
        self._db = db
        self._catalog = catalog
        # The user's evaluation results, read on each `/advise` so edits show at once.
        self._evals_path = evals_path
        self._routes: dict[str, Callable[[Params], Any]] = {
            "/summary": self._summary,
            "/breakdown": self._breakdown,
            "/timeseries": self._timeseries,
            "/calls": self._calls,
            "/top": self._top,
            "/failures": self._failures,
            "/cache": self._cache,
            "/advise": self._advise,
            "/advise/cache": self._advise_cache,
            "/forecast": self._forecast,
            "/openapi.json": lambda _params: openapi(),
        }
        # The few routes that take a JSON body (POST); everything else is a GET query.
        self._posts: dict[str, Callable[[Any], Any]] = {"/predict": self._predict}

    @property
    def db(self) -> Database:
        return self._db

    @property
    def routes(self) -> list[str]:
        return [*self._routes, *self._posts]

    async def handle(
        self,
        scope: MutableMapping[str, Any],
        send: Send,
        receive: Receive | None = None,
        reads: Mapping[str, str] | None = None,
    ) -> None:
        """Answer one API request. ``reads`` limits it to calls with these values (a
        virtual key's project and user): a filter on another value is refused."""
        path = scope["path"][len(PREFIX) :] or "/"
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        try:
            _refuse_nul(path, params)
            if reads:
                params = limited(params, reads)
            post = self._posts.get(path)
            if post is not None and scope["method"] == "POST" and receive is not None:
                body = await _json_body(receive)
                answer = await asyncio.to_thread(post, body)
                await _send(send, 200, orjson.dumps(answer), b"application/json")
                return
            if post is not None:
                raise ApiError(405, f"{scope['path']} takes POST, not {scope['method']}")
            if scope["method"] != "GET":
                raise ApiError(405, f"{scope['path']} takes GET, not {scope['method']}")
            route = self._routes.get(path)
            if route is None and path.startswith("/calls/") and path.count("/") == 2:
                call_id = unquote(path[len("/calls/") :])
                route = lambda p: self._call(p, call_id, reads)  # noqa: E731
            if route is None:
                raise ApiError(
                    404,
                    f"no such endpoint: {scope['path']}; see {PREFIX}/openapi.json",
                )
            result = await asyncio.to_thread(route, params)
            fmt = params.get("format", ["json"])[0]
            if fmt == "csv" and isinstance(result, dict) and "rows" in result:
                rows = result["rows"]
                if isinstance(result.get("other"), dict):  # a breakdown's values past limit
                    rows = [*rows, {"key": "(rest)", **result["other"]}]
                await _send(send, 200, _csv(rows), b"text/csv; charset=utf-8")
            elif fmt == "csv":  # not a list: answering JSON instead would surprise a script
                raise ApiError(
                    422,
                    f"format=csv is for lists and breakdowns; {scope['path']} answers JSON "
                    "only (leave format out)",
                    "format",
                )
            elif fmt == "json":
                await _send(send, 200, orjson.dumps(result), b"application/json")
            else:
                raise ApiError(422, f"format must be json or csv (got {fmt!r})", "format")
        except ApiError as exc:
            await _send(send, exc.status, orjson.dumps(exc.to_json()), b"application/json")
        except Exception:  # a bug or a database failure: logged, and a readable answer
            log.exception("analytics request failed: %s", scope["path"])
            body = {
                "error": {
                    "type": "internal",
                    "message": "the query failed; the server log has the details",
                    "param": None,
                }
            }
            await _send(send, 500, orjson.dumps(body), b"application/json")

    async def metrics(self, send: Send) -> None:
        """``GET /metrics`` in Prometheus's text format (see api/metrics.py)."""
        try:
            text = await asyncio.to_thread(exposition, self._db)
        except Exception:
            log.exception("metrics failed")
            await _send(
                send, 500, b"# the metrics query failed; see the server log\n", CONTENT_TYPE
            )
            return
        await _send(send, 200, text.encode(), CONTENT_TYPE)

    def _summary(self, params: Params) -> dict[str, Any]:
        check_known(params, ())
        scope = parse_scope(params)
        return queries.summary(self._db, scope, self._catalog)

    def _timeseries(self, params: Params) -> dict[str, Any]:
        check_known(params, ("interval", "metric", "group_by", "top"))
        interval = choice(params, "interval", tuple(INTERVALS), "day")
        metric = choice(params, "metric", tuple(METRICS), "cost")
        group_by = one(params, "group_by")
        if group_by is not None and group_by not in DIMENSIONS:
            raise ApiError(
                422,
                f"group_by must be one of: {', '.join(DIMENSIONS)} (got {group_by!r})",
                "group_by",
            )
        top_n = integer(params, "top", 5, 1, 50)
        result = timeseries(self._db, parse_scope(params), interval, metric, group_by, top_n)
        if params.get("format") == ["csv"]:
            result["rows"] = _series_rows(result)  # a row per bucket, a column per series
        return result

    def _top(self, params: Params) -> dict[str, Any]:
        check_known(params, ("what", "limit"))
        what = choice(params, "what", top.TOP_KINDS, "sessions")
        limit = integer(params, "limit", 20, 1, LIST_LIMIT)
        return top.top(self._db, parse_scope(params), what, limit)

    def _failures(self, params: Params) -> dict[str, Any]:
        check_known(params, ("limit", "interval"))
        interval = choice(params, "interval", tuple(INTERVALS), "day")
        limit = integer(params, "limit", 20, 1, LIST_LIMIT)
        return failures.failures(self._db, parse_scope(params), limit, interval)

    def _cache(self, params: Params) -> dict[str, Any]:
        check_known(params, ("limit",))
        limit = integer(params, "limit", 20, 1, LIST_LIMIT)
        return cache_report.cache(self._db, parse_scope(params), self._catalog, limit)

    def _advise_cache(self, params: Params) -> dict[str, Any]:
        from tokenomy.advise import advise_cache  # loaded on first use, not at start-up

        check_known(params, ("limit",))
        limit = integer(params, "limit", 20, 1, LIST_LIMIT)
        return advise_cache(self._db, parse_scope(params), self._catalog, limit=limit)

    def _advise(self, params: Params) -> dict[str, Any]:
        from tokenomy.advise.recommend import KINDS, EvalFileError, load_evals, recommend

        check_known(params, ("limit", "kind"))
        limit = integer(params, "limit", 20, 1, LIST_LIMIT)
        kinds = many(params, "kind") or KINDS
        if unknown := [k for k in kinds if k not in KINDS]:
            raise ApiError(
                422, f"kind must be among: {', '.join(KINDS)} (got {unknown[0]!r})", "kind"
            )
        evals, problem = None, None
        if self._evals_path is not None and self._evals_path.is_file():
            try:
                evals = load_evals(self._evals_path)
            except EvalFileError as exc:
                problem = str(exc)
        result = recommend(
            self._db, parse_scope(params), self._catalog, evals=evals, limit=limit, kinds=kinds
        )
        if problem is not None:
            result["not_assessed"] = [
                {"kind": "cheaper_model", "reason": problem} if n["kind"] == "cheaper_model" else n
                for n in result["not_assessed"]
            ]
        return result

    def _calls(self, params: Params) -> dict[str, Any]:
        check_known(params, ("limit", "cursor", "q", "order", "error_type"))
        return calls.list_calls(
            self._db,
            parse_scope(params),
            limit=integer(params, "limit", 50, 1, calls.MAX_LIMIT),
            cursor=one(params, "cursor"),
            search=one(params, "q"),
            oldest_first=choice(params, "order", ("desc", "asc"), "desc") == "asc",
            error_types=many(params, "error_type"),
        )

    def _call(
        self, params: Params, call_id: str, reads: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        check_known(params, ())
        call = calls.get_call(self._db, call_id)
        if reads and any(call.get(dim) != value for dim, value in reads.items()):
            # As if it did not exist: a key must not learn which ids other teams have.
            raise ApiError(404, f"no call with id {call_id!r}", "id")
        return call

    def _predict(self, body: Any) -> dict[str, Any]:
        from tokenomy.predict.api import predict_body  # loaded on first use

        return predict_body(body, self._db, self._catalog)

    def _forecast(self, params: Params) -> dict[str, Any]:
        from tokenomy.forecast import spend_forecast  # loaded on first use

        check_known(params, ("days", "history", "top"))
        return spend_forecast(
            self._db,
            parse_scope(params),
            integer(params, "days", 30, 1, 90),
            history=integer(params, "history", 84, 14, 365),
            top=integer(params, "top", 10, 1, 50),
        )

    def _breakdown(self, params: Params) -> dict[str, Any]:
        check_known(params, ("by", "sort", "order", "limit"))
        by = choice(params, "by", BREAKDOWN_BY, "model")
        sort = choice(params, "sort", queries.SORTS, "cost")
        order = choice(params, "order", ("desc", "asc"), "desc")
        limit = integer(params, "limit", 50, 1, 1000)
        scope = parse_scope(params)
        return queries.breakdown(self._db, scope, by, sort, order == "desc", limit)


def limited(params: Params, reads: Mapping[str, str]) -> dict[str, list[str]]:
    """``params`` with each dimension of ``reads`` fixed to its value; a 403 naming the
    parameter when the request asks for another value of it."""
    out = {name: list(values) for name, values in params.items()}
    for dim, value in reads.items():
        asked = many(params, dim)
        if any(v != value for v in asked):
            raise ApiError(
                403,
                f"this key reads the calls of {dim} {value!r} only; ask without {dim} "
                "or with that value (an unscoped key reads everything: docs/keys.md)",
                dim,
            )
        out[dim] = [value.replace("\\", "\\\\").replace(",", "\\,")]
    return out


def _refuse_nul(path: str, params: Params) -> None:
    """A NUL matches nothing (PostgreSQL cannot even compare text with one): say which
    parameter holds it instead of failing the query."""
    for name, values in params.items():
        if "\x00" in name or any("\x00" in v for v in values):
            raise ApiError(422, f"{name.replace(chr(0), '%00')} holds a NUL character (%00)", name)
    if "\x00" in unquote(path):
        raise ApiError(422, "the path holds a NUL character (%00)", "path")


def _series_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A timeseries as rows (one per bucket, a column per series) for CSV. The remainder's
    column is "(rest)", apart from a real value named "other"; no value's is "(none)"."""

    def column(s: dict[str, Any]) -> str:
        return "(rest)" if s.get("rest") else "(none)" if s["key"] is None else str(s["key"])

    return [
        {"bucket": b, **{column(s): s["values"][i] for s in result["series"]}}
        for i, b in enumerate(result["buckets"])
    ]


# A text cell starting with one of these is run as a formula by Excel, LibreOffice and
# Google Sheets (OWASP "CSV Injection"); names come from anyone who can send a header to the
# gateway or write a log, so such a cell gets a leading ' and shows as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as it is: text is never read as a formula; numbers
    (negative ones too) stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows as CSV, nested objects flattened (``tokens.input_tokens``), text cells and
    column names (a timeseries' columns are names) safe from formula injection."""
    flat = [{_cell(k): _cell(v) for k, v in _flatten(r).items()} for r in rows]
    columns: list[str] = []
    for r in flat:
        columns.extend(k for k in r if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue().encode()


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list):  # evidence ids, models...: one cell, as JSON
            out[f"{prefix}{k}"] = orjson.dumps(v).decode()
        else:
            out[f"{prefix}{k}"] = v
    return out


async def _json_body(receive: Receive) -> Any:
    """The request's JSON body, bounded; a 413 or 400 naming the body when it is not one."""
    try:
        body = await read_body(receive, MAX_POST_BYTES)
    except BodyTooLargeError as exc:
        raise ApiError(413, str(exc), "body") from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}", "body") from exc


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
