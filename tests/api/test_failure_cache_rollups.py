"""``/failures`` and ``/cache`` answered from their rollups are exactly what grouping every
call of the range gave (tests/api/raw_answers.py): the same rows in the same order with the
same measures and evidence, for random ranges (whole UTC and local days, cut days, open
ends), zones, intervals and filters; after the first build, after calls written later
(earlier and later ones, prompts then sent on more days, sessions growing), after calls
replaced into another session, prompt, prefix and status, and after `tokenomy rollups
rebuild`; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from tests.api.raw_answers import cache_from_calls, failures_from_calls

from tokenomy.api import cache_report, duplicates, reuse
from tokenomy.api.failures import failures
from tokenomy.api.params import ApiError, Scope
from tokenomy.cli.main import main
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, Status, TokenUsage
from tokenomy.store import Database, dup_rollups, key_rollups, write_records

CATALOG = PriceCatalog.load(None)
T0 = 1_793_059_200_000  # 2026-10-27T00:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR
SPAN = 6 * DAY
# Priced models of three providers (different cache-read discounts), one the catalog does
# not know, and none at all.
MODELS = [
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("google", "gemini-2.5-flash"),
    ("acme", "house-model"),
    (None, None),
]
ERRORS = [("rate_limit", 429), ("overloaded", 529), ("timeout", None), (None, 500), (None, None)]
ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "America/Los_Angeles"]
MIN_CALLS, MIN_PROMPT = 3, 30_000


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[bool]]]:
    """Small pages, lists and batches, so the walks page and stop early and days' lists run
    short; some keys heavy; and a record of whether the rollups answered."""
    monkeypatch.setattr(reuse, "FIRST_PAGE", 1)
    monkeypatch.setattr(reuse, "PAGE", 4)
    monkeypatch.setattr(reuse, "NAMED_KEYS_MAX", 2)
    monkeypatch.setattr(reuse, "BATCH", 3)
    monkeypatch.setattr(dup_rollups, "TOP_PER_DAY", 3)
    monkeypatch.setattr(key_rollups, "HEAVY_CALLS", 40)
    seen: dict[str, list[bool]] = {"reuse": [], "duplicates": []}
    walk, days = reuse._walk, duplicates._from_rollups

    def spy_walk(*args: Any) -> Any:
        out = walk(*args)
        seen["reuse"].append(out is not None)
        return out

    def spy_days(*args: Any) -> Any:
        out = days(*args)
        seen["duplicates"].append(out is not None)
        return out

    monkeypatch.setattr(reuse, "_walk", spy_walk)
    monkeypatch.setattr(duplicates, "_from_rollups", spy_days)
    yield seen


def _session(rng: random.Random, n: int) -> dict[str, Any]:
    """A session: mostly one model, sometimes several; reusing the cache well or not;
    short or spanning days; with a prompt prefix or not."""
    return {
        "id": f"s{n:03d}",
        "start": T0 + rng.randrange(-DAY, SPAN),
        "length": rng.choice([20 * 60_000, 5 * HOUR, 2 * DAY]),
        "source": rng.choice(["sdk", "sdk", "gateway"]),
        "models": rng.sample(MODELS, 2) if rng.random() < 0.2 else [rng.choice(MODELS)],
        "reads": rng.choice([0.0, 0.1, 0.45, 0.5, 0.9]),
        "project": rng.choice(["web", "api", None]),
        "prefix": rng.choice([None, f"x{n % 7}", f"own{n}"]),
    }


def _prompt(rng: random.Random, s: dict[str, Any], unique: str) -> str | None:
    """None now and then; a template many sessions send on many days, one its session
    repeats, or one sent once."""
    x = rng.random()
    if x < 0.08:
        return None
    if x < 0.3:
        return f"t{rng.randrange(12):02d}"
    if x < 0.55:
        return f"{s['id']}-p{rng.randrange(4)}"
    return unique


def _records(n: int, seed: int, prefix: str) -> list[CallRecord]:
    rng = random.Random(seed)
    sessions = [_session(rng, i) for i in range(45)]
    out = []
    for i in range(n):
        s = rng.choice(sessions)
        provider, model = rng.choice(s["models"])
        prompt = rng.randrange(1_000, 25_000)
        read = int(prompt * s["reads"] * rng.uniform(0.8, 1.2))
        write = rng.choice([0, 0, rng.randrange(0, 3_000)])
        failed = rng.random() < 0.15
        error, http = rng.choice(ERRORS) if failed else (None, 200)
        # Ties at the top (the evidence is then ordered by tokens, then id); credits.
        cost = rng.choice([None, 0, -5_000, 2_000, 50_000, 50_000, rng.randrange(1, 50_000)])
        at = s["start"] + rng.randrange(s["length"])
        out.append(
            CallRecord(
                source="runner" if rng.random() < 0.05 else s["source"],
                dedupe_key=f"{prefix}{i}",
                # Some on the hour and at midnight, where ranges of hours and days begin.
                started_at_ms=at - at % (DAY if rng.random() < 0.05 else HOUR)
                if rng.random() < 0.2
                else at,
                usage=TokenUsage(
                    input_tokens=max(0, prompt - read - write),
                    cache_read_tokens=min(read, prompt),
                    cache_write_tokens=write,
                    output_tokens=rng.randrange(0, 900),
                ),
                provider=provider,
                request_model=model,
                project=s["project"] or rng.choice(["web", "etl"]),
                user=rng.choice(["ann", "bob", "cy"]),
                api_key_id=rng.choice(["k1", "k2"]),
                org=rng.choice(["acme", None]),
                session_id=None if rng.random() < 0.05 else s["id"],
                prompt_hash=_prompt(rng, s, f"u{prefix}{i}"),
                prefix_hash=s["prefix"] if rng.random() < 0.9 else None,
                cache_hit=rng.choice(["none", "none", "none", "exact", "semantic"]),
                cost_nanos=cost,
                cost_source=CostSource.UNKNOWN if cost is None else CostSource.COMPUTED,
                status=Status.ERROR if failed else Status.OK,
                error_type=error,
                http_status=http,
            )
        )
    return out


def _moved(records: list[CallRecord], rng: random.Random) -> list[CallRecord]:
    """Newer versions of some calls (more tokens: they replace the stored ones) in another
    session, prompt and prefix, some failing now, some no longer."""
    out = []
    for r in rng.sample(records, 25):
        out.append(
            CallRecord(
                r.source,
                r.dedupe_key,
                r.started_at_ms,
                TokenUsage(
                    input_tokens=r.usage.input_tokens + 50_000,
                    cache_read_tokens=r.usage.cache_read_tokens,
                ),
                provider=r.provider,
                request_model=r.request_model,
                project=r.project,
                session_id=rng.choice(["s001", "s002", "moved"]),
                prompt_hash=rng.choice(["t01", "moved", None]),
                prefix_hash=rng.choice(["x1", "moved", None]),
                cache_hit=rng.choice(["none", "exact"]),
                cost_nanos=rng.randrange(10**6),
                cost_source=CostSource.COMPUTED,
                status=Status.OK if r.status == Status.ERROR else rng.choice(list(Status)),
                error_type="moved" if r.status == Status.OK else None,
            )
        )
    return out


def _scope(rng: random.Random) -> Scope:
    tz = ZoneInfo(rng.choice(ZONES))
    kind = rng.random()
    if kind < 0.1:
        start, end = None, None
    elif kind < 0.2:
        start, end = (T0 + rng.randrange(SPAN), None) if rng.random() < 0.5 else (None, T0)
    elif kind < 0.6:  # whole local days (UTC days in UTC)
        first = datetime.fromtimestamp(T0 / 1000, tz).date() + timedelta(days=rng.randrange(6))
        start = _midnight(first, tz)
        end = _midnight(first + timedelta(days=rng.randrange(1, 5)), tz)
    else:
        start = T0 + rng.randrange(-DAY, SPAN)
        end = start + rng.randrange(60_000, SPAN)
    filters: dict[str, tuple[str, ...]] = {}
    if rng.random() < 0.3:
        for name, values in (
            ("project", ["web", "api", "etl"]),
            ("model", ["claude-sonnet-4-5", "gpt-4o", "house-model"]),
            ("status", ["ok", "error"]),
            ("source", ["sdk", "runner", "gateway"]),
            ("user", ["ann", "bob"]),
            ("session", ["s001", "s002"]),
        ):
            if rng.random() < 0.3:
                filters[name] = tuple(rng.sample(values, rng.randrange(1, len(values) + 1)))
    return Scope(tz, start, end, filters)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time.min, tz).timestamp() * 1000)


def _same_answers(db: Database, rng: random.Random, rounds: int) -> None:
    for _ in range(rounds):
        scope = _scope(rng)
        limit = rng.choice([1, 2, 3])
        got = cache_report.cache(
            db, scope, CATALOG, limit, min_calls=MIN_CALLS, min_prompt_tokens=MIN_PROMPT
        )
        want = cache_from_calls(
            db, scope, CATALOG, limit, min_calls=MIN_CALLS, min_prompt_tokens=MIN_PROMPT
        )
        assert got == want, (scope, limit)
        interval = rng.choice(["day", "hour", "minute"])
        try:
            expected = failures_from_calls(db, scope, limit, interval)
        except ApiError as exc:  # too many buckets: refused alike
            with pytest.raises(ApiError) as err:
                failures(db, scope, limit, interval)
            assert (err.value.status, err.value.param) == (exc.status, exc.param)
            continue
        assert failures(db, scope, limit, interval) == expected, (scope, limit, interval)


def test_answers_from_rollups_equal_grouping_every_call(
    db: Database,
    used: dict[str, list[bool]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = _records(1400, 1, "a")
    write_records(db, records)
    rng = random.Random(2)
    _same_answers(db, rng, 25)
    # Written after the last refresh: earlier and later calls, templates on more days.
    write_records(db, _records(400, 3, "b"))
    _same_answers(db, rng, 20)
    write_records(db, _moved(records, rng))  # calls changing session, prompt and status
    _same_answers(db, rng, 20)
    # Rebuilt by the command, from the stored calls.
    monkeypatch.setenv("TOKENOMY_DB", db.url)
    assert main(["rollups", "rebuild", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["rebuilt_hours"] > 100
    _same_answers(db, rng, 20)
    # The rollups answered most questions (the others: filters, short ranges, too few
    # keys with anything to save).
    for name, answers in used.items():
        assert sum(answers) > 0.5 * len(answers), name


def test_duplicates_of_a_range_within_one_day_come_from_the_copy(
    db: Database, used: dict[str, list[bool]]
) -> None:
    write_records(db, _records(600, 4, "c"))
    for start in (T0 + 3 * HOUR, T0 + DAY + 25 * 60_000):
        scope = Scope(ZoneInfo("UTC"), start, start + 20 * HOUR, {})
        got = cache_report.cache(db, scope, CATALOG, 3, min_calls=MIN_CALLS)
        assert got == cache_from_calls(db, scope, CATALOG, 3, min_calls=MIN_CALLS)
    assert used["duplicates"] == [False, False]


def test_a_prompt_sent_again_on_another_day_leaves_the_days_lists(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day lists its two costliest repeated prompts (of three); one of them is sent again
    the next day, for a credit: it is combined over both days now, and the third prompt of
    the first day, never listed, must come back into the answer."""
    monkeypatch.setattr(dup_rollups, "TOP_PER_DAY", 2)

    def sent(prompt: str, at: int, cost: int, name: str) -> CallRecord:
        return CallRecord(
            "sdk",
            name,
            at,
            TokenUsage(input_tokens=10),
            provider="anthropic",
            request_model="claude-haiku-4-5",
            prompt_hash=prompt,
            cost_nanos=cost,
            cost_source=CostSource.COMPUTED,
        )

    day = T0 + 2 * DAY
    write_records(
        db,
        [
            sent(p, day + i * HOUR + j, cost, f"{p}{j}")
            for i, (p, cost) in enumerate([("a", 100), ("b", 50), ("c", 40)])
            for j in range(2)
        ],
    )
    scope = Scope(ZoneInfo("UTC"), day, day + 2 * DAY, {})
    assert cache_report.cache(db, scope, CATALOG, 2) == cache_from_calls(db, scope, CATALOG, 2)
    write_records(db, [sent("a", day + DAY + HOUR, -1_000, "a-later")])
    got = cache_report.cache(db, scope, CATALOG, 2)
    assert [r["key"] for r in got["duplicate_prompts"]] == ["b", "c"]
    assert got == cache_from_calls(db, scope, CATALOG, 2)
