"""The dashboard queries `bench/analytics.py` times, and how: against `tokenomy serve`,
cold and warm, each answer checked.

Ranges end where the generated data ends (not "now"), so a run is reproducible; half of the
queries ask for days in Europe/Paris so local-day bucketing (and the October DST change) is
exercised. Endpoints that are not written yet are listed too: a 404 is reported as missing.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PARIS = "Europe/Paris"
GOAL_P95_MS = 100.0
TOKENOMY = Path(sys.executable).parent / "tokenomy"


@dataclass(frozen=True, slots=True)
class Query:
    """One request of a dashboard: ``cursor_from`` names an earlier query whose answer's
    ``next_cursor`` this one pages on from."""

    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    cursor_from: str | None = None

    def url(self, cursor: str | None = None) -> str:
        from urllib.parse import urlencode

        params = dict(self.params)
        if cursor is not None:
            params["cursor"] = cursor
        return f"/api/v1{self.path}?{urlencode(params)}" if params else f"/api/v1{self.path}"


def _instant(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _last(end: datetime, delta: timedelta, tz: str | None = None) -> dict[str, str]:
    """The range ``delta`` before ``end``: instants in UTC, or whole local days (``until``
    as a date includes that day) in ``tz``."""
    if tz is None:
        return {"since": _instant(end - delta), "until": _instant(end)}
    first = (end - delta).date().isoformat()
    last = (end - timedelta(days=1)).date().isoformat()
    return {"since": first, "until": last, "timezone": tz}


def dashboard_queries(end: datetime, project: str, user: str) -> list[Query]:
    """The standard dashboard requests over data that ends at ``end`` (UTC)."""
    d1, d7, d30, d90 = (timedelta(days=n) for n in (1, 7, 30, 90))
    return [
        Query("summary 24 h", "/summary", _last(end, d1)),
        Query("summary 7 d (Paris)", "/summary", _last(end, d7, PARIS)),
        Query("summary 30 d", "/summary", _last(end, d30)),
        Query("summary 90 d (Paris)", "/summary", _last(end, d90, PARIS)),
        Query(
            f"summary 30 d project={project}", "/summary", {**_last(end, d30), "project": project}
        ),
        Query(
            f"summary 30 d user={user} (Paris)",
            "/summary",
            {**_last(end, d30, PARIS), "user": user},
        ),
        Query("timeseries cost/day 30 d", "/timeseries", {**_last(end, d30), "metric": "cost"}),
        Query(
            "timeseries cost/day 90 d (Paris)",
            "/timeseries",
            {**_last(end, d90, PARIS), "metric": "cost", "interval": "day"},
        ),
        Query(
            "timeseries cost/day 30 d by model (Paris)",
            "/timeseries",
            {**_last(end, d30, PARIS), "metric": "cost", "interval": "day", "group_by": "model"},
        ),
        Query(
            "timeseries cost/day 90 d by project",
            "/timeseries",
            {**_last(end, d90), "metric": "cost", "interval": "day", "group_by": "project"},
        ),
        Query(
            "timeseries calls/hour 7 d (Paris)",
            "/timeseries",
            {**_last(end, d7, PARIS), "metric": "calls", "interval": "hour"},
        ),
        Query(
            "timeseries calls/minute 1 h",
            "/timeseries",
            {**_last(end, timedelta(hours=1)), "metric": "calls", "interval": "minute"},
        ),
        Query("breakdown by model 30 d", "/breakdown", {**_last(end, d30), "by": "model"}),
        Query(
            "breakdown by project 30 d (Paris)",
            "/breakdown",
            {**_last(end, d30, PARIS), "by": "project"},
        ),
        Query("breakdown by user 30 d", "/breakdown", {**_last(end, d30), "by": "user"}),
        Query("top sessions 30 d (Paris)", "/top", {**_last(end, d30, PARIS), "what": "sessions"}),
        Query("top prompts 30 d", "/top", {**_last(end, d30), "what": "prompts"}),
        Query("failures 7 d (Paris)", "/failures", _last(end, d7, PARIS)),
        Query("cache 30 d", "/cache", _last(end, d30)),
        Query("calls limit=50 (Paris)", "/calls", {**_last(end, d30, PARIS), "limit": "50"}),
        Query(
            "calls limit=50 next page (Paris)",
            "/calls",
            {**_last(end, d30, PARIS), "limit": "50"},
            cursor_from="calls limit=50 (Paris)",
        ),
    ]


def has_data(value: Any) -> bool:
    """Whether an answer holds something: a non-empty list or a non-zero number somewhere."""
    if isinstance(value, dict):
        return any(has_data(v) for v in value.values())
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return False


def next_cursor(value: Any) -> str | None:
    """The cursor of the next page, wherever the answer puts it (``next_cursor`` at the top
    or under a ``page``/``pagination`` object)."""
    if not isinstance(value, dict):
        return None
    for holder in (value, value.get("page"), value.get("pagination")):
        if isinstance(holder, dict):
            for key in ("next_cursor", "cursor", "next"):
                cursor = holder.get(key)
                if isinstance(cursor, str) and cursor:
                    return cursor
    return None


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(q * n))."""
    ordered = sorted(samples)
    rank = max(1, -(-int(q * len(ordered) * 1000) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


# -- timing them against `tokenomy serve` -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`tokenomy serve` on a free port, run in ``home`` (no tokenomy.yaml there: it serves
    the analytics API and no models)."""

    def __init__(self, env: Mapping[str, str], home: Path) -> None:
        self.port = _free_port()
        self.conn: http.client.HTTPConnection | None = None
        log = (home / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [str(TOKENOMY), "serve", "--port", str(self.port)],
            cwd=home,
            env=dict(env),
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"tokenomy serve exited; see {home / 'serve.log'}")
            try:
                if self._get("/api/v1/openapi.json") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("tokenomy serve did not answer /api/v1/openapi.json in 60 s")
            time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port)

    def _get(self, url: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", url)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def timed(self, url: str, timeout: float) -> tuple[float, int, bytes]:
        """One request on the kept-alive connection: (ms, status, body)."""
        assert self.conn is not None
        self.conn.timeout = timeout
        if self.conn.sock is not None:
            self.conn.sock.settimeout(timeout)
        started = time.perf_counter()
        self.conn.request("GET", url)
        resp = self.conn.getresponse()
        body = resp.read()
        return (time.perf_counter() - started) * 1000, resp.status, body

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # still busy with a query that timed out
                self.proc.kill()
                self.proc.wait()


def judge(status: int, body: bytes) -> tuple[str, Any]:
    """(what is wrong, or "" if nothing; the parsed answer)."""
    if status == 404:
        return "missing", None
    if status != 200:
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:200].decode(errors="replace")
        return f"HTTP {status}: {message}", None
    try:
        value = json.loads(body)
    except ValueError:
        return "not JSON", None
    return ("" if has_data(value) else "empty answer"), value


def measure(
    queries: list[Query],
    env: Mapping[str, str],
    home: Path,
    *,
    repeat: int,
    max_seconds: float,
    timeout: float,
    on_result: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Each query: cold (the first request of a freshly started server) and warm (up to
    ``repeat`` more, stopping after ``max_seconds`` once there are 3)."""
    results: list[dict[str, Any]] = []
    cursors: dict[str, str | None] = {}
    missing: set[str] = set()
    for q in queries:
        result = _measure_one(q, cursors, missing, env, home, repeat, max_seconds, timeout)
        results.append(result)
        on_result(result)
    return results


def _measure_one(
    q: Query,
    cursors: dict[str, str | None],
    missing: set[str],
    env: Mapping[str, str],
    home: Path,
    repeat: int,
    max_seconds: float,
    timeout: float,
) -> dict[str, Any]:
    cursor: str | None = None
    result: dict[str, Any] = {"name": q.name, "url": q.url()}
    if q.cursor_from is not None:
        cursor = cursors.get(q.cursor_from)
        if cursor is None:
            result["problem"] = (
                "missing"
                if q.cursor_from in missing
                else f"no next_cursor in the answer of {q.cursor_from!r}"
            )
            return result
    url = q.url(cursor)
    result["url"] = url
    server = Server(env, home)
    try:
        cold, status, body = server.timed(url, timeout)
        problem, value = judge(status, body)
        result["cold_ms"] = round(cold, 1)
        cursors[q.name] = next_cursor(value)
        if problem == "missing":
            missing.add(q.name)
        warm: list[float] = []
        if not problem:
            budget = time.perf_counter() + max_seconds
            while len(warm) < repeat and (len(warm) < 3 or time.perf_counter() < budget):
                ms, status, body = server.timed(url, timeout)
                again, _ = judge(status, body)
                if again:
                    problem = f"repeat: {again}"
                    break
                warm.append(ms)
        if warm:
            result.update(
                warm_n=len(warm),
                p50_ms=round(percentile(warm, 0.5), 1),
                p95_ms=round(percentile(warm, 0.95), 1),
            )
        result["problem"] = problem
        result["bytes"] = len(body)
    except (TimeoutError, OSError) as exc:
        result["problem"] = f"no answer within {timeout:.0f} s ({exc.__class__.__name__})"
    finally:
        server.stop()
    return result


def verdict(result: Mapping[str, Any]) -> str:
    problem = result.get("problem")
    if problem == "missing":
        return "missing"
    if problem:
        return "FAIL (error)"
    return "pass" if result["p95_ms"] <= GOAL_P95_MS else "FAIL (slow)"
