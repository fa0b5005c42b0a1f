"""Running agent commands: subprocesses under a concurrency limit, rate limits retried with
backoff, every attempt recorded in the store as it finishes.

    with Runner.open() as runner:  # the user's store and prices
        results = runner.run_batch(["fix the failing test", "update the changelog"],
                                   concurrency=4)

In async code, ``await runner.run_many(commands)`` instead (``run_batch`` starts its own
event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from tokenomy.config import Paths
from tokenomy.pricing import PriceCatalog
from tokenomy.runner.claude_result import parse_claude_result
from tokenomy.runner.codex_events import parse_codex_events
from tokenomy.runner.command import Agent, Command
from tokenomy.runner.executables import find_executable
from tokenomy.runner.outcome import AgentOutput, AgentOutputError
from tokenomy.runner.record import attempt_record
from tokenomy.runner.results import (
    RATE_LIMITED,
    SPAWN_FAILED,
    TIMEOUT,
    Attempt,
    RunResult,
    judge,
)
from tokenomy.runner.retry import Backoff
from tokenomy.store import Database, open_database, write_records

Sleep = Callable[[float], Awaitable[None]]
OnDone = Callable[[int, RunResult], None]

# How long a timed-out agent gets to exit after SIGTERM before it is killed.
_TERM_GRACE_S = 3.0
_STDERR_KEPT = 4000
# After the agent exits, what it wrote is in its pipes: read for this long, no longer
# (a process it left behind may hold them open).
_PIPE_GRACE_S = 0.5
_EXIT_POLL_S = 0.1  # how often an agent whose output is still open is checked for exit


class Runner:
    """Runs commands and records them. With no ``db`` nothing is written (the results still
    carry their priced records); ``catalog`` defaults to the packaged prices.

    ``sleep`` and ``rng`` are what backoff waits with and draws jitter from: tests pass
    their own so retries are checked without waiting.
    """

    def __init__(
        self,
        *,
        db: Database | None = None,
        catalog: PriceCatalog | None = None,
        executables: Mapping[Agent, str] | None = None,
        retries: int = 3,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.db = db
        self.catalog = catalog if catalog is not None else PriceCatalog.load()
        self.retries = retries
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self._explicit = dict(executables or {})
        self._resolved: dict[Agent, str] = {}
        self._env = dict(env) if env is not None else None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._owned: tuple[Database | None, PriceCatalog | None] = (None, None)

    @classmethod
    def open(cls, paths: Paths | None = None, **options: Any) -> Runner:
        """A runner that records into the store at ``paths`` (default: ``TOKENOMY_HOME`` /
        ``TOKENOMY_DB``) with the user's prices; :meth:`close` (or ``with``) closes it."""
        paths = paths or Paths.from_env()
        db = open_database(paths.database_url)
        catalog = PriceCatalog.load(paths.prices_file, cache_dir=paths.cache_dir)
        runner = cls(db=db, catalog=catalog, **options)
        runner._owned = (db, catalog)
        return runner

    def close(self) -> None:
        db, catalog = self._owned
        if catalog is not None:
            catalog.save()
        if db is not None:
            db.close()
        self._owned = (None, None)

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def executable(self, agent: Agent) -> str:
        """The agent's executable; :class:`ExecutableNotFoundError` says how to get it."""
        if agent not in self._resolved:
            env = self._env if self._env is not None else os.environ
            self._resolved[agent] = find_executable(agent, self._explicit.get(agent), env)
        return self._resolved[agent]

    def run_batch(
        self,
        commands: Iterable[Command | str],
        *,
        concurrency: int = 4,
        on_done: OnDone | None = None,
    ) -> list[RunResult]:
        """Run every command, at most ``concurrency`` at a time; results in input order."""
        return asyncio.run(self.run_many(commands, concurrency=concurrency, on_done=on_done))

    async def run_many(
        self,
        commands: Iterable[Command | str],
        *,
        concurrency: int = 4,
        on_done: OnDone | None = None,
    ) -> list[RunResult]:
        """:meth:`run_batch` for async code. ``on_done(index, result)`` is called as each
        command finishes (for progress)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        items = [c if isinstance(c, Command) else Command(c) for c in commands]
        for agent in {c.agent for c in items}:
            self.executable(agent)  # fail before starting anything, not half-way through
        slots = asyncio.Semaphore(concurrency)

        async def one(index: int, command: Command) -> RunResult:
            result = await self._run(command, slots)
            if on_done is not None:
                on_done(index, result)
            return result

        tasks = [asyncio.ensure_future(one(i, c)) for i, c in enumerate(items)]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:  # one failed (the store?): stop the others and their agents
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, command: Command | str) -> RunResult:
        """Run one command (retrying rate limits) and record every attempt."""
        if isinstance(command, str):
            command = Command(command)
        return await self._run(command, asyncio.Semaphore(1))

    async def _run(self, command: Command, slots: asyncio.Semaphore) -> RunResult:
        result = RunResult(command)
        executable = self.executable(command.agent)
        for number in range(1, self.retries + 2):
            # The slot is held only while the agent runs, not during backoff, so other
            # commands use the wait.
            async with slots:
                attempt = await self._attempt(command, executable, number)
            attempt.record = attempt_record(command, attempt, self.catalog)
            if self.db is not None:
                write_records(self.db, [attempt.record])
            result.attempts.append(attempt)
            if attempt.error_type != RATE_LIMITED or number > self.retries:
                break
            await self._sleep(self.backoff.delay(number, self._rng))
        return result

    async def _attempt(self, command: Command, executable: str, number: int) -> Attempt:
        started_ms = int(time.time() * 1000)
        t0 = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - t0) * 1000)

        try:
            proc = await asyncio.create_subprocess_exec(
                *command.argv(executable),
                cwd=command.cwd,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                # Its own process group, so a timeout or Ctrl-C also stops what it started.
                start_new_session=sys.platform != "win32",
            )
        except OSError as exc:
            return Attempt(number, started_ms, elapsed(), None, None, SPAWN_FAILED, str(exc))
        assert proc.stdout is not None and proc.stderr is not None
        out, err = bytearray(), bytearray()
        readers = [
            asyncio.ensure_future(_drain(proc.stdout, out)),
            asyncio.ensure_future(_drain(proc.stderr, err)),
        ]
        try:
            await asyncio.wait_for(_ended(proc, readers), self.timeout)
        except TimeoutError:
            await _stop(proc)
            stopped = f"no result after {self.timeout:g} s; stopped"
            return Attempt(number, started_ms, elapsed(), None, None, TIMEOUT, stopped)
        except BaseException:  # cancelled (Ctrl-C, a failed batch): leave no agent behind
            await _stop_despite_cancellation(proc)
            raise
        finally:
            for reader in readers:
                reader.cancel()
            _close_pipes(proc)
        _signal(proc, signal.SIGTERM)  # what it left running in its group stops with it
        stdout = out.decode("utf-8", errors="replace")
        stderr = err.decode("utf-8", errors="replace")[-_STDERR_KEPT:]
        output, problem = _parse(command, stdout)
        error_type, message = judge(proc.returncode, output, problem, stderr)
        return Attempt(
            number, started_ms, elapsed(), proc.returncode, output, error_type, message, stderr
        )


def _parse(command: Command, stdout: str) -> tuple[AgentOutput | None, str | None]:
    try:
        if command.agent == "claude":
            return parse_claude_result(stdout), None
        return parse_codex_events(stdout, command.requested_model), None
    except AgentOutputError as exc:
        return None, str(exc)


async def _ended(proc: asyncio.subprocess.Process, readers: Sequence[asyncio.Future[None]]) -> None:
    """Until the agent has exited and its output is read. The run ends when the agent
    exits, not when its output closes: a process it left in the background can hold the
    pipes open for as long as it lives (and on Python 3.11 ``wait()`` waits for the pipes
    too, so the exit is watched through ``returncode``)."""
    pipes = asyncio.gather(*readers)
    while not pipes.done():
        if proc.returncode is not None:  # exited; what it wrote is in the pipes
            await asyncio.wait([pipes], timeout=_PIPE_GRACE_S)
            return
        await asyncio.wait([pipes], timeout=_EXIT_POLL_S)
    await proc.wait()


def _close_pipes(proc: asyncio.subprocess.Process) -> None:
    """Close the agent's pipes now. A run can end before they reach their end (something
    the agent left in the background holds them): left to the garbage collector, they are
    closed later with a ResourceWarning. asyncio has no public way to do this."""
    transport = getattr(proc, "_transport", None)
    if transport is not None and proc.returncode is not None:
        transport.close()


async def _drain(stream: asyncio.StreamReader, into: bytearray) -> None:
    """Read a pipe to its end into ``into``: what was read stays if this is cancelled."""
    while chunk := await stream.read(65_536):
        into.extend(chunk)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the agent's process group, then SIGKILL if the agent lingers. The group
    is signalled even when the agent itself has exited: what it started may still run."""
    _signal(proc, signal.SIGTERM)
    if proc.returncode is not None:
        return
    try:
        await asyncio.wait_for(proc.wait(), _TERM_GRACE_S)
    except TimeoutError:
        _signal(proc, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
        await proc.wait()


async def _stop_despite_cancellation(proc: asyncio.subprocess.Process) -> None:
    """:func:`_stop`, waited for even if the caller is cancelled again meanwhile (a batch
    cancels its commands twice): otherwise the agent could outlive us, unreaped."""
    stopping = asyncio.ensure_future(_stop(proc))
    while not stopping.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(stopping)


def _signal(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if sys.platform == "win32":
            proc.send_signal(sig)
        else:
            os.killpg(proc.pid, sig)
