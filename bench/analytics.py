"""Analytics API speed: dashboard queries over HTTP against millions of realistic calls.

    .venv/bin/python bench/analytics.py [--calls 10000000] [--days 90] [--postgres URL]

1. Generates a CSV of calls in the record's own column names, shaped by the shared real
   traces (read in place from ../shared/data/traces): token counts drawn from the Azure 2023
   (ContextTokens, GeneratedTokens) and Mooncake (input_length, output_length) requests;
   prompt-cache reads from Mooncake's hash_ids reuse (512 tokens per leading block seen
   before); arrival bursts within each hour from the traces' inter-arrival gaps, scaled by
   a weekday/diurnal pattern in each org's own time zone. 12 priced models of 4 providers,
   20 projects, 60 users (each with a key, mostly on 1-2 projects), 3 orgs, sessions of 2-50
   calls, ~2% failures that burst during incidents, ~5% repeated prompts (retries and
   duplicates, some answered by the response cache), log-normal durations that grow with
   output tokens. The file is cached in --workdir by a hash of its parameters.
2. Loads it with `tokenomy import csv` into a new SQLite file (and a fresh PostgreSQL
   schema with --postgres), timed.
3. Times every dashboard query (bench/analytics_queries.py) against `tokenomy serve`: cold
   (the first request of a freshly started server, restarted for each query) and warm
   (repeated; p50 and p95), and checks every answer is a 200 with data in it.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analytics_queries import GOAL_P95_MS, dashboard_queries, measure, verdict

ROOT = Path(__file__).resolve().parent.parent
TOKENOMY = Path(sys.executable).parent / "tokenomy"
TRACES = ROOT.parent / "shared" / "data" / "traces"
GENERATOR_VERSION = 1  # bump when the generated data changes: cached files are named by it
HOUR_MS = 3_600_000
BLOCK_TOKENS = 512  # Mooncake hash_ids: one id per 512-token prefix block
COLUMNS = (
    "started_at",
    "provider",
    "request_model",
    "project",
    "user",
    "api_key_id",
    "org",
    "session_id",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "status",
    "error_type",
    "http_status",
    "duration_ms",
    "cache_hit",
    "prompt_hash",
    "cost_usd",
    "dedupe_key",
)
# model: provider, share of sessions, time to first token (ms), ms per output token
MODELS: dict[str, tuple[str, float, float, float]] = {
    "claude-sonnet-4-5": ("anthropic", 20, 900, 14),
    "claude-opus-4-1": ("anthropic", 3, 1500, 25),
    "claude-haiku-4-5": ("anthropic", 10, 500, 7),
    "gpt-4o": ("openai", 8, 600, 11),
    "gpt-4o-mini": ("openai", 14, 400, 8),
    "gpt-5": ("openai", 6, 2500, 16),
    "gpt-5-mini": ("openai", 10, 1500, 9),
    "gemini-2.5-pro": ("google", 5, 2000, 12),
    "gemini-2.5-flash": ("google", 10, 600, 5),
    "gemini-2.5-flash-lite": ("google", 5, 350, 3),
    "mistral-large-latest": ("mistral", 4, 700, 14),
    "mistral-small-latest": ("mistral", 5, 350, 7),
}
# How each provider's prompt cache shows in the counts: 0 none, 1 reads only (OpenAI:
# automatic, 128-token steps), 2 reads and writes (Anthropic: the new prefix is written).
CACHE_STYLE = {"anthropic": 2, "openai": 1, "google": 0, "mistral": 0}
# org: time zone of its working day, users, projects (name, kind of traffic)
ORGS: dict[str, tuple[str, int, tuple[tuple[str, str], ...]]] = {
    "acme": ("Europe/Paris", 30, (
        ("checkout-assistant", "chat"), ("support-bot", "chat"), ("code-review", "code"),
        ("docs-search", "chat"), ("ide-agent", "code"), ("data-pipeline", "code"),
        ("translation", "chat"), ("sales-email", "chat"), ("test-writer", "code"),
    )),
    "globex": ("America/New_York", 20, (
        ("claims-triage", "chat"), ("contract-review", "chat"), ("sql-copilot", "code"),
        ("fraud-notes", "chat"), ("migration-bot", "code"), ("helpdesk", "chat"),
        ("infra-agent", "code"),
    )),
    "initech": ("Asia/Tokyo", 10, (
        ("tps-reports", "chat"), ("legacy-port", "code"), ("meeting-notes", "chat"),
        ("qa-agent", "code"),
    )),
}  # fmt: skip
FIRST_NAMES = (
    "ada", "alan", "alice", "amir", "ana", "aziz", "bea", "ben", "carla", "chen",
    "chloe", "dan", "dara", "diego", "ema", "emil", "eva", "farah", "femi", "gabe",
    "gus", "hana", "ian", "ines", "ivan", "jade", "jon", "jun", "kai", "kemal",
    "lara", "leo", "lin", "luca", "maya", "mei", "milo", "nadia", "nina", "noor",
    "omar", "oscar", "paula", "pia", "quinn", "raj", "rosa", "sami", "sara", "sven",
    "tara", "theo", "uma", "vera", "wei", "yara", "yusuf", "zoe", "aria", "bruno",
)  # fmt: skip
DIURNAL = (  # activity by local hour of a working day; weekends are quieter and flatter
    0.08, 0.05, 0.04, 0.04, 0.05, 0.08, 0.15, 0.30, 0.60, 0.90, 1.00, 1.00,
    0.80, 0.85, 1.00, 1.00, 0.95, 0.80, 0.55, 0.40, 0.30, 0.22, 0.15, 0.10,
)  # fmt: skip
# error_type, http status (None: no answer), weight; overloaded is Anthropic's 529
ERRORS = (
    ("rate_limit", 429, 0.35),
    ("server_error", 500, 0.20),
    ("overloaded", 529, 0.15),
    ("timeout", None, 0.15),
    ("invalid_request", 400, 0.15),
)
INCIDENT_KIND = {  # what a provider's bad hour looks like
    "anthropic": ("overloaded", 529),
    "openai": ("rate_limit", 429),
    "google": ("server_error", 500),
    "mistral": ("timeout", None),
}
BASE_FAILURE = 0.013  # plus load-driven rate limits and incidents: ~2% overall
REPEAT_PROMPT = 0.035  # a prompt sent before (templates, users asking again); retries add ~1.5%
EXACT_HIT_OF_REPEAT = 0.7  # share of repeats the response cache answers
CALLS_PER_SESSION_HOUR = 40  # live sessions in an hour = its calls / this
PEERS = (
    (
        "Langfuse 2.38 self-hosted (PostgreSQL), 1.65M traces in a month",
        "30-day dashboard (model costs, usage, user consumption) spins 5-10 min, then shows "
        "nothing",
        "github.com/langfuse/langfuse/issues/2034",
    ),
    (
        "LiteLLM proxy (PostgreSQL), 300K spend-log rows",
        "GET /spend/logs for one month 20.7 s; monthly spend + top users 30 s; top keys never "
        "loaded",
        "github.com/BerriAI/litellm/issues/2235",
    ),
)


# -- the traces ------------------------------------------------------------------------------


@dataclass(slots=True)
class TraceShapes:
    """What the generator takes from the real traces."""

    chat: list[tuple[int, int, float]]  # (input tokens, output tokens, cached share)
    code: list[tuple[int, int, float]]
    gaps: list[float]  # inter-arrival gaps in trace order, each trace's mean scaled to 1


def _azure(path: Path) -> tuple[list[tuple[int, int]], list[float]]:
    pairs: list[tuple[int, int]] = []
    times: list[float] = []
    with path.open() as f:
        next(f)
        for line in f:
            stamp, ctx, gen = line.rstrip("\n").split(",")
            clock = stamp.split(" ")[1].split(":")
            times.append(int(clock[0]) * 3600 + int(clock[1]) * 60 + float(clock[2]))
            pairs.append((int(ctx), int(gen)))
    return pairs, _scaled_gaps(times)


def _scaled_gaps(times: Sequence[float]) -> list[float]:
    gaps = [max(0.0, b - a) for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    return [g / mean for g in gaps]


def _mooncake(path: Path) -> tuple[list[tuple[int, int, float]], list[float]]:
    """Requests with the share of their input a prefix cache would hold: the leading blocks
    whose hash ids an earlier request had (512 tokens each)."""
    seen: set[int] = set()
    rows: list[tuple[int, int, float]] = []
    times: list[float] = []
    with path.open() as f:
        for line in f:
            r = json.loads(line)
            inp, ids = int(r["input_length"]), r["hash_ids"]
            shared = 0
            for h in ids:
                if h not in seen:
                    break
                shared += 1
            seen.update(ids)
            cached = min(shared * BLOCK_TOKENS, inp)
            rows.append((inp, int(r["output_length"]), cached / inp if inp else 0.0))
            times.append(float(r["timestamp"]))
    return rows, _scaled_gaps(times)


def read_traces(folder: Path, rng: random.Random) -> TraceShapes:
    conv, conv_gaps = _azure(folder / "azure_llm_2023_conv.csv")
    code, code_gaps = _azure(folder / "azure_llm_2023_code.csv")
    moon, moon_gaps = _mooncake(folder / "mooncake_conversation_trace.jsonl")
    shares = [s for _, _, s in moon]  # Azure names no prefixes: Mooncake's reuse stands in
    return TraceShapes(
        chat=[(i, o, rng.choice(shares)) for i, o in conv] + moon,
        code=[(i, o, rng.choice(shares)) for i, o in code],
        gaps=conv_gaps + code_gaps + moon_gaps,
    )


def _token_cells(inp: int, out: int, share: float, style: int) -> str:
    """``input,output,cache_read,cache_write`` of one request as a provider would bill it."""
    if style == 0 or inp < 1024:  # below the providers' minimum cacheable prompt
        return f"{inp},{out},0,0"
    read = int(inp * share)
    if style == 1:
        read -= read % 128
        return f"{inp - read},{out},{read},0"
    fresh = inp - read
    tail = fresh % BLOCK_TOKENS  # the last turn; the new whole blocks are written to the cache
    return f"{tail},{out},{read},{fresh - tail}"


# -- the plan: entities and the volume of every hour -----------------------------------------


@dataclass(slots=True)
class Hour:
    start_ms: int
    calls: int
    org_weights: list[float]  # cumulative, for picking the org of a new session
    failure: float  # chance a call fails outside incidents
    incidents: list[tuple[str, int, int, float, str, int | None]]  # provider, from, to, rate, ..


@dataclass(slots=True)
class Plan:
    """Everything a worker needs to write any day: entities, token pools, arrival gaps."""

    seed: int
    orgs: list[str]
    users: dict[str, list[tuple[str, float]]]  # org -> (user, cumulative activity)
    user_projects: dict[str, list[tuple[str, float]]]  # user -> (project, cumulative share)
    project_models: dict[str, list[tuple[str, float]]]  # project -> (model, cumulative share)
    project_kind: dict[str, str]
    pools: dict[str, tuple[list[int], list[list[str]]]]  # kind -> outputs, cells per style
    gaps: list[float]
    popular: list[str]  # prompt hashes many users send (templates)
    days: list[list[Hour]] = field(default_factory=list)


def _cumulative(items: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    total, out = 0.0, []
    for name, w in items:
        total += w
        out.append((name, total))
    return out


def _pick(rng: random.Random, cum: list[tuple[str, float]]) -> str:
    x = rng.random() * cum[-1][1]
    for name, c in cum:
        if x < c:
            return name
    return cum[-1][0]


def make_plan(calls: int, days: int, end: datetime, seed: int, traces: Path) -> Plan:
    rng = random.Random(f"plan:{seed}")
    shapes = read_traces(traces, rng)
    models = list(MODELS)
    names = iter(FIRST_NAMES)
    users: dict[str, list[tuple[str, float]]] = {}
    user_projects: dict[str, list[tuple[str, float]]] = {}
    project_models: dict[str, list[tuple[str, float]]] = {}
    project_kind: dict[str, str] = {}
    n_project = 0
    for org, (_tz, n_users, projects) in ORGS.items():
        for project, kind in projects:
            project_kind[project] = kind
            # every model in some project's mix: the first 12 projects each start with one
            first = models[n_project % len(models)]
            others = [m for m in models if m != first]
            picked = [first, *rng.sample(others, 2)]
            project_models[project] = _cumulative(
                [(m, MODELS[m][1] * rng.uniform(0.5, 2.0)) for m in picked]
            )
            n_project += 1
        org_users = []
        for _ in range(n_users):
            user = next(names)
            mine = rng.sample([p for p, _ in projects], 1 if rng.random() < 0.6 else 2)
            user_projects[user] = _cumulative(list(zip(mine, (0.75, 0.25), strict=False)))
            org_users.append((user, min(rng.paretovariate(1.3), 30.0)))
        users[org] = _cumulative(org_users)
    pools: dict[str, tuple[list[int], list[list[str]]]] = {}
    for kind, rows in (("chat", shapes.chat), ("code", shapes.code)):
        outs = [o for _, o, _ in rows]
        cells = [[_token_cells(i, o, s, style) for i, o, s in rows] for style in (0, 1, 2)]
        pools[kind] = (outs, cells)
    plan = Plan(
        seed,
        list(ORGS),
        users,
        user_projects,
        project_models,
        project_kind,
        pools,
        shapes.gaps,
        [f"{rng.getrandbits(64):016x}" for _ in range(300)],
    )
    plan.days = _hours(calls, days, end, rng)
    return plan


def _hours(calls: int, days: int, end: datetime, rng: random.Random) -> list[list[Hour]]:
    """Calls per hour: each org's working day in its own zone (weekends quieter), a slow
    growth over the period, day-to-day noise; rounded so the total is exactly ``calls``."""
    start = end - timedelta(days=days)
    n_hours = days * 24
    zones = [ZoneInfo(ORGS[o][0]) for o in ORGS]
    sizes = [float(ORGS[o][1]) for o in ORGS]
    day_noise = [[rng.lognormvariate(0, 0.12) for _ in zones] for _ in range(days + 1)]
    weights: list[list[float]] = []
    for h in range(n_hours):
        at = start + timedelta(hours=h)
        trend = 0.8 + 0.4 * h / n_hours
        row = []
        for z, zone in enumerate(zones):
            local = at.astimezone(zone)
            level = DIURNAL[local.hour]
            if local.weekday() >= 5:
                level = 0.05 + 0.2 * level
            row.append(sizes[z] * level * trend * day_noise[h // 24][z])
        noise = rng.lognormvariate(0, 0.08)
        weights.append([w * noise for w in row])
    totals = [sum(r) for r in weights]
    grand = sum(totals)
    exact = [calls * t / grand for t in totals]
    counts = [int(x) for x in exact]
    short = calls - sum(counts)
    for h in sorted(range(n_hours), key=lambda h: counts[h] - exact[h])[:short]:
        counts[h] += 1
    mean = grand / n_hours
    incidents = _incidents(days, start, rng)
    out: list[list[Hour]] = []
    for h in range(n_hours):
        start_ms = int((start + timedelta(hours=h)).timestamp() * 1000)
        cum = list(itertools.accumulate(weights[h]))
        here = [i for i in incidents if i[1] < start_ms + HOUR_MS and i[2] > start_ms]
        failure = BASE_FAILURE + 0.004 * totals[h] / mean  # rate limits come with load
        if h % 24 == 0:
            out.append([])
        out[-1].append(Hour(start_ms, counts[h], cum, failure, here))
    return out


def _incidents(
    days: int, start: datetime, rng: random.Random
) -> list[tuple[str, int, int, float, str, int | None]]:
    """A provider's bad stretch (30 min to 4 h, a quarter to half of its calls failing)
    about once every nine days."""
    out = []
    base = int(start.timestamp() * 1000)
    for _ in range(max(1, round(days / 9))):
        provider = rng.choice(list(INCIDENT_KIND))
        begin = base + rng.randrange(days * 24 * HOUR_MS)
        length = int(rng.uniform(0.5, 4) * HOUR_MS)
        kind, status = INCIDENT_KIND[provider]
        out.append((provider, begin, begin + length, rng.uniform(0.25, 0.5), kind, status))
    return out


# -- writing one day --------------------------------------------------------------------------

_PLAN: Plan | None = None  # the plan in each worker process, set once by _init_worker


def _init_worker(plan: Plan) -> None:
    global _PLAN
    _PLAN = plan


def _error_cells(rng: random.Random, provider: str) -> tuple[str, int | None, float]:
    x = rng.random() * sum(w for _, _, w in ERRORS)
    for kind, status, w in ERRORS:
        x -= w
        if x < 0:
            if kind == "overloaded" and provider != "anthropic":
                return "server_error", 503, 800
            return kind, status, {"timeout": 60_000, "server_error": 1_500}.get(kind, 150)
    return "rate_limit", 429, 150


def write_day(task: tuple[int, str]) -> tuple[int, int, str]:
    """Writes the calls of one day (UTC) to ``path``: returns (day, rows, path)."""
    day, path = task
    plan = _PLAN
    assert plan is not None
    rng = random.Random(f"day:{plan.seed}:{day}")
    rand, randrange, gauss, exp = rng.random, rng.randrange, rng.gauss, math.exp
    gaps = plan.gaps
    n_gaps = len(gaps)
    recent: list[str] = []
    lines: list[str] = []
    sessions: list[list[Any]] = []
    n_sessions = 0
    row = 0

    def new_session(hour: Hour) -> list[Any]:
        nonlocal n_sessions
        n_sessions += 1
        org_i = bisect.bisect_right(hour.org_weights, rand() * hour.org_weights[-1])
        org = plan.orgs[min(org_i, len(plan.orgs) - 1)]
        user = _pick(rng, plan.users[org])
        project = _pick(rng, plan.user_projects[user])
        model = _pick(rng, plan.project_models[project])
        provider, _, ttft, per_token = MODELS[model]
        outs, cells = plan.pools[plan.project_kind[project]]
        prefix = f"{provider},{model},{project},{user},key_{user},{org},s{day}-{n_sessions},"
        length = int(exp(rng.uniform(math.log(2), math.log(51))))
        # prefix, calls left, provider, outputs, cells by cache style, ttft, ms/token, retry
        return [prefix, length, provider, outs, cells, ttft, per_token, None]

    for hour in plan.days[day]:
        if hour.calls == 0:
            continue
        live = max(1, round(hour.calls / CALLS_PER_SESSION_HOUR))
        del sessions[live:]
        while len(sessions) < live:
            sessions.append(new_session(hour))
        # arrivals: a run of the traces' real gaps, stretched over the hour
        first = randrange(n_gaps)
        run = [gaps[(first + i) % n_gaps] for i in range(hour.calls + 1)]
        span = sum(run) or 1.0
        scale = (HOUR_MS - 1) / span  # the last arrival may end a run of ties: still in the hour
        t0 = hour.start_ms
        incidents = hour.incidents
        failure = hour.failure
        for cum in itertools.accumulate(run[: hour.calls]):
            t = t0 + int(cum * scale)
            i = randrange(live)
            s = sessions[i]
            provider = s[2]
            row += 1
            key = f"c{day}-{row}"
            retry = s[7]
            if retry is not None:
                prompt, s[7] = retry, None
            elif rand() < REPEAT_PROMPT:
                prompt = plan.popular[int(len(plan.popular) * rand() ** 3)]
                if recent and rand() < 0.5:
                    prompt = recent[randrange(len(recent))]
                if rand() < EXACT_HIT_OF_REPEAT:  # answered by our response cache
                    j = randrange(len(s[3]))
                    ms = int(exp(gauss(2.7, 0.5)))
                    lines.append(f"{t},{s[0]}{s[4][0][j]},ok,,200,{ms},exact,{prompt},0,{key}\n")
                    continue
            else:
                prompt = f"{rng.getrandbits(64):016x}"
                if len(recent) < 5000:
                    recent.append(prompt)
                else:
                    recent[randrange(5000)] = prompt
            kind: str | None = None
            status: int | None = None
            base = 0.0
            for p, since, until, rate, ikind, istatus in incidents:
                if p == provider and since <= t < until and rand() < rate:
                    kind, status, base = ikind, istatus, 60_000.0 if ikind == "timeout" else 400.0
                    break
            if kind is None and rand() < failure:
                kind, status, base = _error_cells(rng, provider)
            if kind is not None:
                ms = int(base * exp(gauss(0, 0.4)))
                code = "" if status is None else status
                lines.append(f"{t},{s[0]}0,0,0,0,error,{kind},{code},{ms},none,{prompt},,{key}\n")
                s[7] = prompt  # the client retries it
                continue
            j = randrange(len(s[3]))
            out = s[3][j]
            ms = int((s[5] + out * s[6]) * exp(gauss(0, 0.35)))
            style = CACHE_STYLE[provider]
            lines.append(f"{t},{s[0]}{s[4][style][j]},ok,,200,{ms},none,{prompt},,{key}\n")
            s[1] -= 1
            if s[1] <= 0:
                sessions[i] = new_session(hour)
    with Path(path).open("w") as f:
        f.write("".join(lines))
    return day, len(lines), path


def generate(args: argparse.Namespace, end: datetime) -> tuple[Path, float, bool]:
    """The CSV for these parameters: from the cache, or written now. Returns (path,
    seconds spent, whether it was cached)."""
    traces = Path(args.traces)
    fingerprint = json.dumps(
        {
            "calls": args.calls,
            "days": args.days,
            "end": end.isoformat(),
            "seed": args.seed,
            "version": GENERATOR_VERSION,
            "traces": sorted((p.name, p.stat().st_size) for p in traces.iterdir()),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"calls-{args.calls}-{args.days}d-{digest}.csv"
    if path.exists():
        return path, 0.0, True
    started = time.perf_counter()
    plan = make_plan(args.calls, args.days, end, args.seed, traces)
    parts = Path(tempfile.mkdtemp(prefix="parts-", dir=workdir))
    tmp = path.with_suffix(".csv.tmp")
    done = 0
    try:
        with (
            multiprocessing.Pool(os.cpu_count() or 1, _init_worker, (plan,)) as pool,
            tmp.open("wb") as out,
        ):
            out.write((",".join(COLUMNS) + "\n").encode())
            tasks = [(d, str(parts / f"{d}.csv")) for d in range(len(plan.days))]
            for day, rows, part in pool.imap(write_day, tasks):
                with Path(part).open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
                Path(part).unlink()
                done += rows
                _progress(
                    f"generating: day {day + 1}/{args.days}, {done:,} rows, "
                    f"{time.perf_counter() - started:.0f} s"
                )
        tmp.rename(path)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    _progress("")
    if done != args.calls:
        raise SystemExit(f"generated {done:,} rows, expected {args.calls:,}")
    return path, time.perf_counter() - started, False


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, else a line every few
    seconds (a log stays short)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, text: str, *, force: bool = False) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\033[K{text}")
        elif text and (force or time.monotonic() - self.last >= 5):
            self.last = time.monotonic()
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


_progress = _Progress()


# -- loading ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """One database the calls are loaded into and queried from."""

    engine: str  # sqlite | postgresql
    url: str
    home: Path
    schema: str | None = None
    load_s: float | None = None  # None: reused
    analyze_s: float | None = None
    version: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "TOKENOMY_HOME": str(self.home), "TOKENOMY_DB": self.url}


def count_rows(target: Target) -> int | None:
    """Rows in ``calls``, or None if there is no such database yet."""
    if target.engine == "sqlite":
        path = Path(target.url.removeprefix("sqlite:///"))
        if not path.exists():
            return None
        with sqlite3.connect(path) as conn:
            try:
                return int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
            except sqlite3.OperationalError:
                return None
    import psycopg

    with psycopg.connect(target.url) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return None


def fresh(target: Target, base_url: str | None) -> None:
    """An empty database: the SQLite file removed, or the PostgreSQL schema recreated."""
    if target.engine == "sqlite":
        path = Path(target.url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    assert base_url is not None
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{target.schema}"')


def _read_position(pid: int, path: Path) -> int | None:
    """How far process ``pid`` has read ``path`` (Linux /proc), for the progress line."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        for fd in fds.iterdir():
            if fd.readlink() == path:
                for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines():
                    if line.startswith("pos:"):
                        return int(line.split()[1])
    except OSError:
        return None
    return None


def load(target: Target, csv_path: Path, calls: int) -> float:
    """`tokenomy import csv` into the target, timed; every row must be stored."""
    size = csv_path.stat().st_size
    out_path = target.home / "import.json"
    target.home.mkdir(parents=True, exist_ok=True)
    cmd = [str(TOKENOMY), "import", "csv", str(csv_path.resolve()), "--json"]
    started = time.perf_counter()
    with out_path.open("wb") as out:
        proc = subprocess.Popen(cmd, env=target.env(), stdout=out, stderr=subprocess.PIPE)
        while proc.poll() is None:
            time.sleep(1)
            pos = _read_position(proc.pid, csv_path.resolve())
            elapsed = time.perf_counter() - started
            if pos:
                _progress(
                    f"loading {target.engine}: {pos / size:4.0%} (~{calls * pos / size:,.0f} "
                    f"rows) {elapsed:.0f} s"
                )
        stderr = proc.stderr.read() if proc.stderr else b""
    elapsed = time.perf_counter() - started
    _progress("")
    if proc.returncode != 0:
        raise SystemExit(f"import into {target.engine} failed:\n{stderr.decode()[-2000:]}")
    summary = json.loads(out_path.read_text())
    if summary["stored"] != calls or summary["problems"] or summary["unpriced_models"]:
        raise SystemExit(
            f"{target.engine}: stored {summary['stored']:,} of {calls:,} rows; "
            f"problems {summary['problems'][:3]}; unpriced {summary['unpriced_models']}"
        )
    return elapsed


def analyze_postgres(target: Target) -> float:
    """ANALYZE, as autovacuum does within a minute of a bulk load."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def _report_line(engine: str, r: dict[str, Any]) -> None:
    _progress(
        f"{engine}: {r['name']}: cold {r.get('cold_ms', '-')} ms, "
        f"p95 {r.get('p95_ms', '-')} ms {r.get('problem') or ''}",
        force=True,
    )


# -- report -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_table(target: Target, calls: int) -> None:
    if target.load_s is None:
        print(f"\n{target.engine} {target.version}: reused ({calls:,} calls already loaded)")
    else:
        print(
            f"\n{target.engine} {target.version}: loaded {calls:,} calls in "
            f"{target.load_s:.1f} s = {calls / target.load_s:,.0f} rows/s"
            + (f" (then ANALYZE {target.analyze_s:.1f} s)" if target.analyze_s else "")
        )
    width = max(len(r["name"]) for r in target.results)
    print(f"{'endpoint':<{width}}  {'cold ms':>9}  {'p50 ms':>9}  {'p95 ms':>9}  {'n':>3}  goal")
    for r in target.results:
        print(
            f"{r['name']:<{width}}  {_ms(r.get('cold_ms')):>9}  {_ms(r.get('p50_ms')):>9}  "
            f"{_ms(r.get('p95_ms')):>9}  {r.get('warm_n', 0):>3}  {verdict(r)}"
        )
        problem = r.get("problem")
        if problem and problem != "missing":
            print(f"{'':<{width}}  ^ {problem}")
    verdicts = [verdict(r) for r in target.results]
    print(
        f"{verdicts.count('pass')} of {len(verdicts)} within the goal (warm p95 <= "
        f"{GOAL_P95_MS:.0f} ms); {verdicts.count('missing')} endpoints missing"
    )


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def reproduce(args: argparse.Namespace) -> str:
    cmd = f".venv/bin/python bench/analytics.py --calls {args.calls} --days {args.days}"
    cmd += f" --seed {args.seed} --end {args.end}"
    if args.postgres:
        cmd += f" --postgres {args.postgres}"
    if args.no_sqlite:
        cmd += " --no-sqlite"
    return cmd + f" --repeat {args.repeat}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n", 1)[0],
        epilog="Run from the project root. The CSV and the SQLite file stay in --workdir "
        "(a 10M-call CSV is about 1.3 GB); the PostgreSQL schema is dropped at the end "
        "unless --reuse.",
    )
    parser.add_argument("--calls", type=int, default=10_000_000, help="calls to generate")
    parser.add_argument("--days", type=int, default=90, help="days they span (default 90)")
    parser.add_argument(
        "--end",
        default="2026-11-01T00:00:00Z",
        help="the instant the data ends (UTC; ranges are relative to it)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "tokenomy-analytics-bench"),
        help="where the CSV (cached by its parameters) and the SQLite database live",
    )
    parser.add_argument("--traces", default=str(TRACES), help="folder of the shared traces")
    parser.add_argument("--postgres", metavar="URL", help="also load and query PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep databases that already hold the calls (and keep the PostgreSQL schema)",
    )
    parser.add_argument("--generate-only", action="store_true", help="write the CSV and stop")
    parser.add_argument("--repeat", type=int, default=20, help="warm requests per query")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30,
        help="stop repeating a query after this long (at least 3 warm requests)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds one request may take")
    parser.add_argument(
        "--no-analyze", action="store_true", help="do not ANALYZE PostgreSQL after loading"
    )
    parser.add_argument(
        "--json", action="store_true", help="also print the results as one JSON line at the end"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    end = datetime.fromisoformat(args.end.replace("Z", "+00:00")).astimezone(UTC)
    csv_path, gen_s, cached = generate(args, end)
    size_mb = csv_path.stat().st_size / 1e6
    how = "cached" if cached else f"{gen_s:.1f} s = {args.calls / max(gen_s, 1e-9):,.0f} rows/s"
    print(f"data: {args.calls:,} calls over {args.days} days to {args.end}, seed {args.seed}")
    print(f"csv: {csv_path} ({size_mb:,.0f} MB), generated: {how}")
    if args.generate_only:
        return 0
    workdir = Path(args.workdir)
    stem = csv_path.stem
    targets: list[Target] = []
    if not args.no_sqlite:
        db = workdir / f"{stem}.sqlite"
        targets.append(Target("sqlite", f"sqlite:///{db}", workdir / f"{stem}-home-sqlite"))
        targets[-1].version = sqlite3.sqlite_version
    if args.postgres:
        schema = f"bench_analytics_{stem.rsplit('-', 1)[-1]}"
        if not args.reuse:
            schema += f"_{uuid.uuid4().hex[:6]}"
        sep = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
        targets.append(Target("postgresql", url, workdir / f"{stem}-home-pg", schema))
    queries = dashboard_queries(end, _top_project(), _first_user())
    try:
        for target in targets:
            target.home.mkdir(parents=True, exist_ok=True)
            if target.engine == "postgresql":
                target.version = _pg_version(args.postgres)
            if args.reuse and count_rows(target) == args.calls:
                target.load_s = None
            else:
                fresh(target, args.postgres)
                target.load_s = load(target, csv_path, args.calls)
                if target.engine == "postgresql" and not args.no_analyze:
                    target.analyze_s = analyze_postgres(target)
            print(
                f"{target.engine}: "
                + ("reused" if target.load_s is None else f"loaded in {target.load_s:.1f} s"),
                file=sys.stderr,
            )
            target.results = measure(
                queries,
                target.env(),
                target.home,
                repeat=args.repeat,
                max_seconds=args.max_seconds,
                timeout=args.timeout,
                on_result=partial(_report_line, target.engine),
            )
    finally:
        for target in targets:
            if target.engine == "postgresql" and not args.reuse:
                _drop_schema(args.postgres, target.schema)
    info = machine()
    print(
        f"\nmachine: {info['platform']}, {info['cores']} cores, Python {info['python']}, "
        f"SQLite {info['sqlite']}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for target in targets:
        print_table(target, args.calls)
    print("\npeers (published, not measured here):")
    for who, figure, source in PEERS:
        print(f"  {who}: {figure} [{source}]")
    print(f"\nreproduce: {reproduce(args)}")
    if args.json:
        print(
            json.dumps(
                {
                    "calls": args.calls,
                    "days": args.days,
                    "end": args.end,
                    "seed": args.seed,
                    "csv": str(csv_path),
                    "csv_mb": round(size_mb, 1),
                    "generate_s": None if cached else round(gen_s, 2),
                    "machine": info,
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "goal_p95_ms": GOAL_P95_MS,
                    "databases": [
                        {
                            **{k: v for k, v in asdict(t).items() if k not in ("home", "url")},
                            "load_s": None if t.load_s is None else round(t.load_s, 2),
                            "analyze_s": None if t.analyze_s is None else round(t.analyze_s, 2),
                            "rows_per_s": None if not t.load_s else round(args.calls / t.load_s),
                            "results": [{**r, "verdict": verdict(r)} for r in t.results],
                        }
                        for t in targets
                    ],
                    "peers_published_not_measured": [
                        {"who": w, "figure": f, "source": s} for w, f, s in PEERS
                    ],
                    "reproduce": reproduce(args),
                }
            )
        )
    return 0


def _top_project() -> str:
    return next(iter(ORGS.values()))[2][0][0]


def _first_user() -> str:
    return FIRST_NAMES[0]


def _pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else ""


def _drop_schema(url: str, schema: str | None) -> None:
    import psycopg

    if schema:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    raise SystemExit(main())
