"""Top sessions and top prompts chosen from their rollups (api/threshold.py) are exactly
what grouping every call returns: the same rows in the same order with the same measures,
models, tools and evidence, for random ranges that cut sessions and prompts, zones,
filters on project, user, model, status and the rest, cost ties, unknown and negative
costs, calls written after the last refresh and calls that moved to another session; on
SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tokenomy.api import threshold, top
from tokenomy.api.params import Scope
from tokenomy.api.threshold import Leader
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage, ToolUse
from tokenomy.store import Database, key_rollups, write_records

T0 = 1_793_059_200_000  # 2026-10-27T00:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR
SPAN = 6 * DAY
PROJECTS = ["web", "api", "etl", None]
USERS = ["ann", "bob", "cy"]
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o"]
ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata"]


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[Leader] | None]]:
    """Walk even the small scopes of these tests, in small pages, with keys of a few dozen
    calls copied as heavy; record what the rollups answered (None: grouping the calls)."""
    monkeypatch.setattr(threshold, "RAW_CALLS_MAX", 0)
    monkeypatch.setattr(threshold, "FIRST_PAGE_MIN", 1)
    monkeypatch.setattr(key_rollups, "HEAVY_CALLS", 25)
    real = threshold.leaders
    seen: list[list[Leader] | None] = []

    def spy(*args: Any) -> list[Leader] | None:
        out = real(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(threshold, "leaders", spy)
    yield seen


def _raw(db: Database, scope: Scope, what: str, limit: int) -> dict[str, Any]:
    """The answer from grouping every call of the scope, as before the rollups existed."""
    saved = threshold.leaders
    threshold.leaders = lambda *_args: None  # type: ignore[assignment]
    try:
        return top.top(db, scope, what, limit)
    finally:
        threshold.leaders = saved  # type: ignore[method-assign]


def _session(rng: random.Random, n: int) -> dict[str, Any]:
    """A session: mostly one project, user and model, sometimes several; short or spanning
    days."""
    mixed = rng.random() < 0.3
    start = T0 + rng.randrange(-DAY, SPAN)
    return {
        "id": f"s{n:03d}",
        "start": start,
        "length": rng.choice([10 * 60_000, 3 * HOUR, 2 * DAY]),
        "source": rng.choice(["sdk", "sdk", "gateway"]),
        "project": None if mixed else rng.choice(PROJECTS),
        "user": None if mixed else rng.choice(USERS),
        "model": None if mixed else rng.choice(MODELS),
    }


def _prompt(rng: random.Random, s: dict[str, Any], unique: str) -> str | None:
    """None now and then; a prompt many sessions send, one its own session repeats (its
    calls then share the session's dimensions), or one sent once."""
    x = rng.random()
    if x < 0.05:
        return None
    if x < 0.3:
        return f"p{rng.randrange(30):02d}"
    if x < 0.6:
        return f"{s['id']}-p{rng.randrange(3)}"
    return unique


def _records(n: int, seed: int, prefix: str) -> list[CallRecord]:
    rng = random.Random(seed)
    sessions = [_session(rng, i) for i in range(60)]
    out = []
    for i in range(n):
        s = rng.choice(sessions)
        # Ties: the same cost on many calls, the highest of all among them.
        cost = rng.choice(
            [None, 0, -200, 1_000, 5_000, 2 * 10**6, *(rng.randrange(1, 10**6) for _ in range(5))]
        )
        at = s["start"] + rng.randrange(s["length"])
        out.append(
            CallRecord(
                # A session has one source, but for the runner records of its agent runs.
                source="runner" if rng.random() < 0.05 else s["source"],
                dedupe_key=f"{prefix}{i}",
                # Some on the hour, where ranges of whole hours and days begin and end.
                started_at_ms=at - at % HOUR if rng.random() < 0.2 else at,
                usage=TokenUsage(
                    input_tokens=rng.randrange(0, 900), output_tokens=rng.randrange(9)
                ),
                provider="anthropic",
                request_model=s["model"] or rng.choice(MODELS),
                project=s["project"] if s["project"] is not None else rng.choice(PROJECTS),
                user=s["user"] or rng.choice(USERS),
                api_key_id=rng.choice(["k1", "k2"]),
                org=rng.choice(["acme", None]),
                session_id=None if rng.random() < 0.05 else s["id"],
                prompt_hash=_prompt(rng, s, f"u{prefix}{i}"),
                cost_nanos=cost,
                cost_source=CostSource.UNKNOWN if cost is None else CostSource.COMPUTED,
                status=Status.ERROR if rng.random() < 0.15 else Status.OK,
                tools=[ToolUse(rng.choice(["Bash", "Read"]), f"t{prefix}{i}")]
                if rng.random() < 0.3
                else [],
            )
        )
    return out


def _moved(records: list[CallRecord], rng: random.Random) -> list[CallRecord]:
    """Newer versions of a few calls (more tokens: they replace the stored ones) in
    another session and with another prompt."""
    out = []
    for r in rng.sample(records, 10):
        out.append(
            CallRecord(
                r.source,
                r.dedupe_key,
                r.started_at_ms,
                TokenUsage(input_tokens=r.usage.input_tokens + 1000),
                provider=r.provider,
                request_model=r.request_model,
                project=r.project,
                user=r.user,
                session_id=rng.choice(["s001", "s002", "moved"]),
                prompt_hash=rng.choice(["p01", "moved"]),
                cost_nanos=rng.randrange(10**6),
                cost_source=CostSource.COMPUTED,
            )
        )
    return out


def _scope(rng: random.Random) -> Scope:
    tz = ZoneInfo(rng.choice(ZONES))
    kind = rng.random()
    if kind < 0.15:
        start, end = None, None
    elif kind < 0.5:  # whole local days
        first = datetime.fromtimestamp(T0 / 1000, tz).date() + timedelta(days=rng.randrange(6))
        days = rng.randrange(1, 5)
        start = _midnight(first, tz)
        end = _midnight(first + timedelta(days=days), tz)
    else:
        start = T0 + rng.randrange(-DAY, SPAN)
        end = start + rng.randrange(60_000, SPAN)
    filters: dict[str, tuple[str, ...]] = {}
    for name, values in (
        ("project", ["web", "api", "etl"]),
        ("user", USERS),
        ("model", MODELS),
        ("status", ["ok", "error"]),
        ("org", ["acme"]),
        ("key", ["k1"]),
        ("source", ["sdk", "runner", "gateway"]),
    ):
        if rng.random() < 0.15:
            filters[name] = tuple(rng.sample(values, rng.randrange(1, len(values) + 1)))
    return Scope(tz, start, end, filters)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time.min, tz).timestamp() * 1000)


def test_ranked_from_rollups_equals_ranked_from_calls(
    db: Database, used: list[list[Leader] | None], caplog: pytest.LogCaptureFixture
) -> None:
    records = _records(1500, 1, "a")
    write_records(db, records)
    rng = random.Random(2)
    for round_ in range(3):
        if round_ == 1:  # written after the rollups were refreshed: marked, not yet read
            write_records(db, _records(300, 3, "b"))
        if round_ == 2:  # calls that change session and prompt
            write_records(db, _moved(records, rng))
        for _ in range(25):
            scope = _scope(rng)
            for what in ("sessions", "prompts"):
                limit = rng.choice([1, 3, 10, 40])
                expected = _raw(db, scope, what, limit)
                assert top.top(db, scope, what, limit) == expected, (what, limit, scope)
    # Most answers came from the rollups (none can when the scope has no calls), with
    # groups read from the calls and from the copies of heavy ones, and the calls never
    # contradicted them (else top.py would have ranked from the calls).
    answered = [leaders for leaders in used if leaders is not None]
    assert len(answered) > 0.8 * len(used)
    assert {leader.heavy for leaders in answered for leader in leaders} == {False, True}
    assert not [r for r in caplog.records if "disagree" in r.getMessage()]


def test_a_tool_or_session_filter_groups_the_calls(
    db: Database, used: list[list[Leader] | None]
) -> None:
    write_records(db, _records(400, 4, "c"))
    for filters in ({"tool": ("Bash",)}, {"session": ("s001", "s002")}):
        scope = Scope(ZoneInfo("UTC"), None, None, filters)
        for what in ("sessions", "prompts"):
            assert top.top(db, scope, what, 5) == _raw(db, scope, what, 5)
    assert used == [None] * len(used)


def test_rollups_that_disagree_with_the_calls_are_not_believed(
    db: Database, used: list[list[Leader] | None], caplog: pytest.LogCaptureFixture
) -> None:
    write_records(db, _records(600, 5, "d"))
    scope = Scope(ZoneInfo("UTC"), None, None, {})
    assert top.top(db, scope, "sessions", 5) == _raw(db, scope, "sessions", 5)
    # The cheapest session whose calls share a source (so its stored cost would be taken as
    # it is) made the most expensive, as if calls had been changed behind the rollups' back.
    cheap = db.query(
        "SELECT session_id FROM rollup_session WHERE (mixed & 1) = 0 "
        "ORDER BY cost_bound, session_id LIMIT 1"
    )[0][0]
    with db.transaction() as cur:
        cur.execute(
            db.sql(
                "UPDATE rollup_session SET cost_nanos = cost_nanos + 10000000000, "
                "cost_bound = cost_bound + 10000000000 WHERE session_id = ?"
            ),
            (cheap,),
        )
    answer = top.top(db, scope, "sessions", 5)
    assert cheap not in [r["key"] for r in answer["rows"]]
    assert answer == _raw(db, scope, "sessions", 5)
    assert [r for r in caplog.records if "disagree" in r.getMessage()]


def _pair(name: str, at: int, cost: int) -> CallRecord:
    """A call of session and prompt ``name``."""
    return CallRecord(
        "sdk",
        f"{name}@{at}",
        at,
        TokenUsage(input_tokens=10),
        provider="anthropic",
        request_model=MODELS[0],
        session_id=name,
        prompt_hash=name,
        cost_nanos=cost,
        cost_source=CostSource.COMPUTED,
    )


def test_calls_on_the_edges_of_the_range(
    db: Database, used: list[list[Leader] | None], caplog: pytest.LogCaptureFixture
) -> None:
    """A range [start, end) takes a call at ``start`` and leaves one at ``end``; a key
    with a call just before ``start`` is cut, not whole."""
    start, end = T0 + 10 * HOUR, T0 + 20 * HOUR
    write_records(
        db,
        [
            _pair("ends-at-start", start - HOUR, 1),
            _pair("ends-at-start", start, 9_000),
            _pair("has-one-at-end", end - HOUR, 8_000),
            _pair("has-one-at-end", end, 5_000),
            _pair("starts-before", start - 500, 100_000),
            _pair("starts-before", start + HOUR, 6_000),
            _pair("inside", start, 7_000),
            _pair("inside", end - 1, 1),
        ],
    )
    scope = Scope(ZoneInfo("UTC"), start, end, {})
    for what in ("sessions", "prompts"):
        answer = top.top(db, scope, what, 10)
        assert answer == _raw(db, scope, what, 10)
        assert [(r["key"], r["cost_usd"]) for r in answer["rows"]] == [
            ("ends-at-start", 9e-6),
            ("has-one-at-end", 8e-6),
            ("inside", 7.001e-6),
            ("starts-before", 6e-6),
        ]
    assert None not in used
    assert not [r for r in caplog.records if "disagree" in r.getMessage()]
