"""The runner against stand-in agents: records in the real store, retries, concurrency."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.runner.conftest import FakeAgents
from tests.runner.fake_claude import HAIKU, MODEL_USAGE, SONNET, TOTAL_COST_USD, UNPRICED
from tests.runner.fake_codex import USAGE

from tokenomy.config import Paths
from tokenomy.pricing import PriceCatalog
from tokenomy.record import NANOS_PER_USD, TokenUsage
from tokenomy.runner import Backoff, Command, ExecutableNotFoundError, Runner
from tokenomy.runner.family import command_hash, family, family_hash
from tokenomy.store import Database, open_database

CALL_FIELDS = (
    "source, operation, provider, request_model, response_model, project, session_id, status, "
    "error_type, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, "
    "output_tokens, cost_nanos, cost_source, attributes, prompt_hash, finish_reason"
)


def stored(db: Database) -> list[dict[str, Any]]:
    rows = db.query(f"SELECT {CALL_FIELDS} FROM calls ORDER BY started_at, id")
    names = [n.strip() for n in CALL_FIELDS.split(",")]
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for row in out:
        row["attributes"] = json.loads(row["attributes"])
    return out


def model_usage(model: str) -> TokenUsage:
    m = MODEL_USAGE[model]
    return TokenUsage(
        input_tokens=m["inputTokens"],
        cache_read_tokens=m["cacheReadInputTokens"],
        cache_write_tokens=m["cacheCreationInputTokens"],
        output_tokens=m["outputTokens"],
    )


class Sleeps:
    """Backoff waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def catalog() -> PriceCatalog:
    return PriceCatalog.load()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_runner(
    fakes: FakeAgents, db: Database | None, catalog: PriceCatalog, sleeps: Sleeps, **kw: Any
) -> Runner:
    return Runner(
        db=db,
        catalog=catalog,
        executables={"claude": str(fakes.claude), "codex": str(fakes.codex)},
        sleep=sleeps,
        rng=random.Random(1),
        **kw,
    )


def check_claude_success(db: Database, catalog: PriceCatalog, fakes: FakeAgents) -> None:
    runner = make_runner(fakes, db, catalog, Sleeps())
    work = fakes.log.parent / "my-project"
    work.mkdir()
    prompt = "Fix issue #42 in src/app.py"
    [result] = runner.run_batch([Command(prompt, cwd=work)])
    assert result.ok and result.output is not None
    [row] = stored(db)
    want = model_usage(SONNET) + model_usage(HAIKU)
    at = result.records[0].started_at_ms
    cost = catalog.cost_nanos("anthropic", SONNET, model_usage(SONNET), at)
    haiku = catalog.cost_nanos("anthropic", HAIKU, model_usage(HAIKU), at)
    assert cost is not None and haiku is not None
    assert row == {
        "source": "runner",
        "operation": "agent_run",
        "provider": "anthropic",
        "request_model": SONNET,
        "response_model": SONNET,
        "project": "my-project",
        "session_id": result.output.session_id,
        "status": "ok",
        "error_type": None,
        "input_tokens": want.input_tokens,
        "cache_read_tokens": want.cache_read_tokens,
        "cache_write_tokens": want.cache_write_tokens,
        "cache_write_1h_tokens": 0,
        "output_tokens": want.output_tokens,
        "cost_nanos": cost + haiku,
        "cost_source": "computed",
        "attributes": row["attributes"],
        "prompt_hash": command_hash(prompt),
        "finish_reason": "success",
    }
    attrs = row["attributes"]
    assert attrs["turns"] == 4
    assert attrs["command_hash"] == command_hash(prompt)
    assert attrs["family"] == family(prompt) and attrs["family_hash"] == family_hash(prompt)
    assert attrs["cwd"] == str(work.resolve())
    assert attrs["reported_cost_usd"] == TOTAL_COST_USD
    assert attrs["models"][HAIKU]["output_tokens"] == MODEL_USAGE[HAIKU]["outputTokens"]
    assert Decimal(attrs["models"][HAIKU]["cost_usd"]) == Decimal(haiku) / NANOS_PER_USD
    assert attrs["models"][SONNET]["reported_cost_usd"] == str(MODEL_USAGE[SONNET]["costUSD"])
    assert result.cost_usd == Decimal(cost + haiku) / NANOS_PER_USD


def test_a_claude_run_is_recorded_with_exact_tokens_and_cost(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents
) -> None:
    check_claude_success(sqlite_db, catalog, fakes)


@pytest.mark.postgres
def test_a_claude_run_is_recorded_on_postgres(
    postgres_db: Database, catalog: PriceCatalog, fakes: FakeAgents
) -> None:
    check_claude_success(postgres_db, catalog, fakes)


def test_an_unpriced_model_takes_the_reported_cost(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    runner = make_runner(fakes, sqlite_db, catalog, sleeps)
    [result] = runner.run_batch(["Explain the code [unpriced]"])
    [row] = stored(sqlite_db)
    assert row["response_model"] == UNPRICED
    assert row["cost_source"] == "reported"
    assert row["cost_nanos"] == int(Decimal(TOTAL_COST_USD) * NANOS_PER_USD)
    assert row["attributes"]["models"][UNPRICED]["cost_usd"] is None
    assert result.cost_complete


def test_one_hour_cache_writes_are_recorded_apart(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    from tests.runner.fake_claude import ONE_HOUR_WRITES

    make_runner(fakes, sqlite_db, catalog, sleeps).run_batch(["Refactor [one-hour]"])
    [row] = stored(sqlite_db)
    written = MODEL_USAGE[SONNET]["cacheCreationInputTokens"]
    assert row["cache_write_1h_tokens"] == ONE_HOUR_WRITES
    assert row["cache_write_tokens"] == written - ONE_HOUR_WRITES


def test_rate_limits_are_retried_with_backoff_then_succeed(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    runner = make_runner(fakes, sqlite_db, catalog, sleeps, retries=3, backoff=backoff)
    [result] = runner.run_batch(["Update deps [rate-limit 2]"])
    assert result.ok and len(result.attempts) == 3
    assert [a.error_type for a in result.attempts] == ["rate_limited", "rate_limited", None]
    assert len(sleeps.delays) == 2
    for retry, delay in enumerate(sleeps.delays, 1):
        ceiling = backoff.base * 2 ** (retry - 1)
        assert ceiling / 2 <= delay <= ceiling
    rows = stored(sqlite_db)
    assert [(r["status"], r["error_type"]) for r in rows] == [
        ("error", "rate_limited"),
        ("error", "rate_limited"),
        ("ok", None),
    ]
    assert [r["attributes"]["attempt"] for r in rows] == [1, 2, 3]
    assert "429" in rows[0]["attributes"]["error"]
    # The refused attempts used nothing, and Claude Code said so.
    assert (rows[0]["cost_nanos"], rows[0]["cost_source"]) == (0, "reported")
    assert result.usage == model_usage(SONNET) + model_usage(HAIKU)


def test_retries_stop_after_the_limit(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    runner = make_runner(fakes, sqlite_db, catalog, sleeps, retries=2)
    [result] = runner.run_batch(["Update deps [usage-limit]"])
    assert not result.ok and result.error_type == "rate_limited"
    assert len(result.attempts) == 3 and len(sleeps.delays) == 2
    assert result.message is not None and "usage limit reached" in result.message
    assert len(stored(sqlite_db)) == 3


@pytest.mark.parametrize(
    ("prompt", "error_type", "exit_code", "has_tokens"),
    [
        ("Big job [max-turns]", "max_turns", 0, True),
        ("Big job [exec-error]", "execution_error", 0, True),
        ("Big job [api-error]", "agent_error", 0, False),
        ("Big job [garbage]", "bad_output", 0, False),
        ("Big job [crash]", "exit_status", 1, False),
    ],
)
def test_other_failures_are_recorded_and_not_retried(
    sqlite_db: Database,
    catalog: PriceCatalog,
    fakes: FakeAgents,
    sleeps: Sleeps,
    prompt: str,
    error_type: str,
    exit_code: int,
    has_tokens: bool,
) -> None:
    runner = make_runner(fakes, sqlite_db, catalog, sleeps, retries=3)
    [result] = runner.run_batch([prompt])
    assert not result.ok and result.error_type == error_type
    assert len(result.attempts) == 1 and sleeps.delays == []
    assert result.final.exit_code == exit_code
    [row] = stored(sqlite_db)
    assert (row["status"], row["error_type"]) == ("error", error_type)
    assert (row["input_tokens"] > 0) == has_tokens
    if error_type in ("bad_output", "exit_status"):
        # Nothing readable came back: the cost is unknown, never 0.
        assert (row["cost_nanos"], row["cost_source"]) == (None, "unknown")
    if error_type == "exit_status":
        assert "Invalid API key" in row["attributes"]["error"]


def test_concurrency_is_respected(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    # Each run waits until two have started: the batch only finishes if two run at once.
    prompts = [f"Job {n} [rendezvous 2]" for n in range(6)]
    done: list[int] = []
    runner = make_runner(fakes, sqlite_db, catalog, sleeps)
    results = runner.run_batch(prompts, concurrency=2, on_done=lambda i, _r: done.append(i))
    assert all(r.ok for r in results), [r.message for r in results]
    assert [r.command.prompt for r in results] == prompts
    assert sorted(done) == list(range(6))
    assert fakes.events().count("start") == 6
    assert fakes.max_overlap() == 2
    assert len(stored(sqlite_db)) == 6


def test_concurrency_one_runs_one_at_a_time(
    catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    runner = make_runner(fakes, None, catalog, sleeps)
    results = runner.run_batch([f"Job {n}" for n in range(3)], concurrency=1)
    assert all(r.ok for r in results)
    assert fakes.events() == ["start", "end"] * 3


def test_a_timed_out_run_is_stopped(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    # Long enough for the fake agent to start and log its pid on a loaded machine.
    runner = make_runner(fakes, sqlite_db, catalog, sleeps, timeout=2.0)
    [result] = runner.run_batch(["Forever [slow 60]"])
    assert result.error_type == "timeout" and sleeps.delays == []
    [line] = fakes.log.read_text().splitlines()
    pid = int(line.split()[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    [row] = stored(sqlite_db)
    assert (row["error_type"], row["cost_source"]) == ("timeout", "unknown")


def test_a_run_ends_when_the_agent_exits_not_when_what_it_left_closes_its_output(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    """The agent answers and exits at once, leaving a process that holds its output open
    for 30 s: the run took those 30 s (or timed out with its answer lost), and the process
    outlived it."""
    runner = make_runner(fakes, sqlite_db, catalog, sleeps, timeout=10.0)
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        [result] = runner.run_batch(["Quick [background 30]"])
        gc.collect()
    assert result.ok and time.monotonic() - started < 5
    # The pipes the background process held are closed by the run, not left to the garbage
    # collector, which warned in whatever test ran next (a CI error; timing-dependent, so
    # this check does not always catch the old behaviour).
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    [row] = stored(sqlite_db)
    assert row["status"] == "ok" and row["output_tokens"] > 0
    lines = fakes.log.read_text().splitlines()
    [pid] = [int(line.split()[1]) for line in lines if line.startswith("background")]
    deadline = time.monotonic() + 5
    while _alive(pid):  # stopped with the agent's process group
        assert time.monotonic() < deadline, "the process the agent left is still running"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie until its parent (the exited agent's reaper) collects it: not running.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_a_codex_run_uses_the_requested_model(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps, tmp_path: Path
) -> None:
    runner = make_runner(fakes, sqlite_db, catalog, sleeps)
    cmd = Command(
        "Make the tests pass [two-turns]",
        agent="codex",
        cwd=tmp_path,
        extra_args=("-m", "gpt-5", "--skip-git-repo-check"),
        project="api",
    )
    [result] = runner.run_batch([cmd])
    assert result.ok and result.turns == 2
    [call] = [json.loads(line) for line in fakes.calls.read_text().splitlines()]
    assert call["argv"] == ["exec", "--json", *cmd.extra_args, "--", cmd.prompt]
    assert call["cwd"] == str(tmp_path.resolve())
    one_turn = TokenUsage(
        input_tokens=USAGE["input_tokens"] - USAGE["cached_input_tokens"],
        cache_read_tokens=USAGE["cached_input_tokens"],
        output_tokens=USAGE["output_tokens"],
    )
    want = one_turn + one_turn
    [row] = stored(sqlite_db)
    cost = catalog.cost_nanos("openai", "gpt-5", want, result.records[0].started_at_ms)
    assert cost is not None
    assert (row["provider"], row["request_model"], row["project"]) == ("openai", "gpt-5", "api")
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        want.input_tokens,
        want.cache_read_tokens,
        want.output_tokens,
    )
    assert (row["cost_nanos"], row["cost_source"]) == (cost, "computed")
    assert row["attributes"]["items"] == {
        "agent_message": 2,
        "command_execution": 2,
        "reasoning": 2,
    }


def test_a_codex_run_without_a_model_has_an_unknown_cost(
    sqlite_db: Database, catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    runner = make_runner(fakes, sqlite_db, catalog, sleeps)
    [result] = runner.run_batch([Command("Make the tests pass", agent="codex")])
    assert result.ok and not result.cost_complete
    [row] = stored(sqlite_db)
    assert row["request_model"] is None
    assert (row["cost_nanos"], row["cost_source"]) == (None, "unknown")
    assert row["input_tokens"] == USAGE["input_tokens"] - USAGE["cached_input_tokens"]


def test_codex_rate_limits_are_retried_and_failed_turns_are_not(
    catalog: PriceCatalog, fakes: FakeAgents, sleeps: Sleeps
) -> None:
    runner = make_runner(fakes, None, catalog, sleeps)
    limited, failed = runner.run_batch(
        [
            Command("Lint [rate-limit 1]", agent="codex"),
            Command("Write [turn-failed]", agent="codex"),
        ]
    )
    assert limited.ok and len(limited.attempts) == 2
    assert failed.error_type == "turn_failed" and len(failed.attempts) == 1
    assert failed.message == "sandbox denied the write" and failed.final.exit_code == 1


def test_a_missing_executable_says_what_to_install(
    catalog: PriceCatalog, fakes: FakeAgents, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    runner = Runner(catalog=catalog)
    with pytest.raises(ExecutableNotFoundError) as err:
        runner.run_batch(["hello"])
    text = str(err.value)
    assert "@anthropic-ai/claude-code" in text and "TOKENOMY_CLAUDE_BIN" in text
    assert not fakes.log.exists()  # nothing was started
    monkeypatch.setenv("TOKENOMY_CLAUDE_BIN", str(fakes.claude))
    assert Runner(catalog=catalog).executable("claude") == str(fakes.claude)
    monkeypatch.setenv("TOKENOMY_CLAUDE_BIN", str(tmp_path / "nope"))
    with pytest.raises(ExecutableNotFoundError, match="TOKENOMY_CLAUDE_BIN"):
        Runner(catalog=catalog).executable("claude")


def test_runner_open_records_into_the_users_store(fakes: FakeAgents) -> None:
    paths = Paths.from_env()
    with Runner.open(paths, executables={"claude": str(fakes.claude)}) as runner:
        [result] = runner.run_batch(["Hello"])
    db = open_database(paths.database_url)
    try:
        [row] = stored(db)
    finally:
        db.close()
    assert result.ok and row["session_id"] == result.session_id


def test_run_works_inside_an_event_loop(catalog: PriceCatalog, fakes: FakeAgents) -> None:
    async def main() -> bool:
        runner = Runner(catalog=catalog, executables={"claude": str(fakes.claude)})
        result = await runner.run("Hello")
        return result.ok

    assert asyncio.run(main())


def test_cancelling_a_batch_stops_its_agents(catalog: PriceCatalog, fakes: FakeAgents) -> None:
    runner = Runner(catalog=catalog, executables={"claude": str(fakes.claude)})

    async def main() -> list[int]:
        task = asyncio.ensure_future(runner.run_many(["A [slow 60]", "B [slow 60]"]))
        while fakes.events().count("start") < 2:  # both agents are running
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [int(line.split()[1]) for line in fakes.log.read_text().splitlines()]

    pids = asyncio.run(main())
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
