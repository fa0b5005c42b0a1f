"""Added latency of tokenomy's gateway and of the LiteLLM proxy over a 50 ms mock upstream,
same machine, same run, same config file, one worker each.

    .venv/bin/python bench/gateway/run.py [--rates 100,300,1000] [--duration 20]
        [--targets direct,tokenomy,litellm] [--find-max] [--soak 600] [--stream] [--json]

Each target runs alone (started, warmed up, measured at each rate, stopped) while the
others are down; ``direct`` is the mock itself and gives the baseline every overhead is
measured against. See bench/gateway/README.md for setup and what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import resource
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import targets
import uvloop
from loadgen import Load, Results, run_load
from procstats import cpu_seconds, machine, process_tree, rss_bytes
from report import Records, Run, Soak, Step, render
from targets import CHAT_PATH, HERE, REPO, Server, TargetUnavailableError

ALL_TARGETS = ("direct", "tokenomy", "litellm")
# --find-max steps through these (and any --rates) until a target stops holding the rate.
LADDER = (100, 200, 300, 500, 700, 1000, 1500, 2000, 3000)
SETTLE_CPU_PCT = 5.0
SETTLE_MAX_S = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rates", default="100,300,1000", help="offered req/s, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument(
        "--targets", default=",".join(ALL_TARGETS), help=f"any of {', '.join(ALL_TARGETS)}"
    )
    parser.add_argument(
        "--find-max",
        action="store_true",
        help=f"also step through {', '.join(map(str, LADDER))} req/s until a target's p99 "
        "overhead passes 50 ms or it serves under 95%% of the offered rate",
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, help="seconds of soak per proxy (0: none; 600 = 10 min)"
    )
    parser.add_argument("--soak-rate", type=float, default=300.0, help="req/s during the soak")
    parser.add_argument("--stream", action="store_true", help="also measure streaming calls")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before a request counts as failed"
    )
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the mock's answer delay")
    parser.add_argument(
        "--mock-processes", type=int, default=1, help="mock upstream processes (SO_REUSEPORT)"
    )
    parser.add_argument(
        "--port", type=int, default=18432, help="tokenomy's port; LiteLLM gets the next one"
    )
    parser.add_argument("--config", type=Path, default=HERE / "config.yaml", help="LiteLLM format")
    parser.add_argument(
        "--fallback-config",
        type=Path,
        default=HERE / "tokenomy.yaml",
        help="for tokenomy, if it cannot read --config",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, database)")
    args = parser.parse_args(argv)
    args.rates = sorted({float(r) for r in args.rates.split(",") if r.strip()})
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(args.targets) - set(ALL_TARGETS))
    if unknown:
        parser.error(f"unknown target {unknown[0]!r} (known: {', '.join(ALL_TARGETS)})")
    # direct first: every other target's overhead is measured against it.
    args.targets = [t for t in ALL_TARGETS if t in args.targets]
    if not args.rates and not args.find_max and not args.soak:
        parser.error("nothing to measure: give --rates, --find-max or --soak")
    return args


def settle(pids: list[int]) -> None:
    """Wait until the server is idle again: an overloaded one may still be working through
    requests the generator gave up on, which would be charged to the next step."""
    deadline = time.perf_counter() + SETTLE_MAX_S
    while time.perf_counter() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if (cpu_seconds(pids) - before) / 0.5 * 100 < SETTLE_CPU_PCT:
            return
    log(f"  (server still busy after {SETTLE_MAX_S:.0f} s; measuring anyway)")


class Measured(NamedTuple):
    results: Results
    cpu_s: float
    wall_s: float
    rss_end: int
    rss_peak: int
    rss_samples: list[tuple[float, float]]


async def _measure(load: Load, pids: list[int], sample_every: float, label: str) -> Measured:
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    rss0 = rss_bytes(pids)
    samples: list[tuple[float, float]] = [(0.0, rss0 / 2**20)]
    peak = rss0

    async def sample() -> None:
        nonlocal peak
        while True:
            await asyncio.sleep(sample_every)
            rss = rss_bytes(pids)
            peak = max(peak, rss)
            elapsed = time.perf_counter() - t0
            samples.append((round(elapsed, 1), rss / 2**20))
            if load.duration >= 120 and len(samples) % max(1, round(60 / sample_every)) == 1:
                log(f"  {label}: {elapsed:.0f} s, RSS {rss / 2**20:.1f} MB")

    sampler = asyncio.get_running_loop().create_task(sample())
    try:
        results = await run_load(load)
    finally:
        sampler.cancel()
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    rss_end = rss_bytes(pids)
    samples.append((round(wall, 1), rss_end / 2**20))
    return Measured(results, cpu, wall, rss_end, max(peak, rss_end), samples)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, run: Run) -> None:
        self.args = args
        self.workdir = workdir
        self.run = run
        # tokenomy: requests delivered per x-tokenomy-session label, to check its records.
        self.delivered: dict[str, int] = {}

    def load(self, port: int, rate: float, duration: float, phase: str, stream: bool) -> Load:
        return Load(
            host="127.0.0.1",
            port=port,
            path=CHAT_PATH,
            body=targets.chat_body(stream=stream),
            rate=rate,
            duration=duration,
            headers=(("Authorization", "Bearer sk-bench"), ("x-tokenomy-session", phase)),
            timeout=self.args.timeout,
        )

    def measure(
        self,
        server: Server,
        kind: str,
        rate: float,
        duration: float,
        *,
        sample_every: float = 1.0,
    ) -> Step:
        stream = kind == "stream"
        phase = f"bench-{kind}-{rate:g}"
        pids = process_tree(server.pid)
        settle(pids)
        load = self.load(server.port, rate, duration, phase, stream)
        server.processes = len(pids)
        got = uvloop.run(_measure(load, pids, sample_every, f"{server.name} {kind}"))
        self.delivered[phase] = self.delivered.get(phase, 0) + got.results.delivered
        step = Step.from_results(
            server.name,
            kind,
            got.results,
            cpu_s=got.cpu_s,
            wall_s=got.wall_s,
            rss_end=got.rss_end,
            rss_peak=got.rss_peak,
        )
        step.rss_samples = got.rss_samples
        step.compare(self.run.step("direct", kind, rate) if server.name != "direct" else None)
        over = (
            f", +p50 {step.p50_overhead_ms:+.2f} ms, +p99 {step.p99_overhead_ms:+.2f} ms"
            if step.p99_overhead_ms is not None
            else ""
        )
        log(
            f"  {server.name} {kind} {rate:g} req/s: achieved {step.achieved:.1f}, "
            f"p50 {step.p50_ms:.2f} ms, p99 {step.p99_ms:.2f} ms{over}, "
            f"errors {step.errors}, CPU {step.cpu_pct:.0f}%, RSS {step.rss_peak_mb:.1f} MB"
            + (f", generator lag p99 {step.lag_p99_ms:.1f} ms" if step.lag_p99_ms > 5 else "")
        )
        return step

    def start(self, name: str, mock: Server) -> Server:
        args, workdir = self.args, self.workdir
        if name == "direct":
            return mock
        if name == "tokenomy":
            return targets.start_tokenomy(args.port, workdir, args.config, args.fallback_config)
        return targets.start_litellm(args.port + 1, workdir, args.config)

    def target(self, name: str, mock: Server) -> None:
        log(f"{name}: starting")
        try:
            server = self.start(name, mock)
        except TargetUnavailableError as exc:
            log(f"{name}: skipped: {exc}")
            self.run.skipped[name] = str(exc)
            return
        self.delivered = {"bench-probe": 1}
        log(f"{name}: ready in {server.startup_s:.1f} s")
        try:
            self.measure_all(server)
        finally:
            if name != "direct":
                server.stop()
            self.run.servers[name] = {
                "startup_s": round(server.startup_s, 2),
                "processes": server.processes,
                "notes": server.notes,
                "log": str(server.log),
            }
        if server.database is not None:
            self.run.records = count_records(server.database, self.delivered)

    def measure_all(self, server: Server) -> None:
        args = self.args
        name = server.name
        steps = sorted(set(args.rates) | (set(LADDER) if args.find_max else set()))
        if args.warmup > 0 and (steps or args.soak):
            rate = steps[0] if steps else args.soak_rate
            self.measure(server, "warmup", rate, args.warmup)
        holding = True
        highest: float | None = None
        for rate in steps:
            wanted = rate in args.rates
            # Past the rates the mock and the generator held alone, an overhead would not
            # be the proxy's: the ladder stops there (asked-for --rates still run).
            direct = self.run.step("direct", "chat", rate)
            capped = (
                name != "direct"
                and "direct" in args.targets
                and (direct is None or not direct.held)
            )
            if not wanted and (not holding or capped):
                continue
            step = self.measure(server, "chat", rate, args.duration)
            self.run.steps.append(step)
            if holding and step.held:
                highest = rate
            elif holding:
                holding = False
            if args.stream and wanted:
                self.run.steps.append(self.measure(server, "stream", rate, args.duration))
        if args.find_max or args.rates:
            self.run.held[name] = held_text(highest, holding, steps)
        if args.soak > 0 and name != "direct":
            log(f"{name}: soak, {args.soak_rate:g} req/s for {args.soak:g} s")
            step = self.measure(server, "soak", args.soak_rate, args.soak, sample_every=10.0)
            self.run.soaks.append(Soak(name, step))


def held_text(highest: float | None, holding: bool, steps: list[float]) -> str:
    if highest is None:
        return f"< {steps[0]:g} req/s" if steps else "-"
    if holding:  # never failed: its limit is above what was tried
        return f">= {highest:g} req/s"
    return f"{highest:g} req/s"


def count_records(database: Path, delivered: dict[str, int]) -> Records:
    """Records per x-tokenomy-session label, read once the server has stopped (and so has
    flushed everything it held)."""
    rows: dict[str, int] = {}
    if database.exists():
        con = sqlite3.connect(database)
        try:
            rows = dict(con.execute("SELECT session_id, count(*) FROM calls GROUP BY session_id"))
        except sqlite3.Error as exc:
            log(f"tokenomy's database cannot be read: {exc}")
        finally:
            con.close()
    phases = sorted(set(delivered) | {str(k) for k in rows})
    return Records({p: (delivered.get(p, 0), int(rows.get(p, 0))) for p in phases})


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out + ("+changes" if dirty else "")


def reproduce_command(argv: list[str] | None) -> str:
    given = sys.argv[1:] if argv is None else argv
    return shlex.join([".venv/bin/python", "bench/gateway/run.py", *given])


def raise_fd_limit() -> None:
    # One connection per request in flight: an overloaded proxy may hold thousands.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    run = Run(
        meta={
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "versions": {
                "tokenomy": version("tokenomy"),
                "commit": git_commit(),
                "litellm": targets.litellm_version(),
                "python": platform.python_version(),
            },
            "settings": {
                "rates": args.rates,
                "duration": args.duration,
                "warmup": args.warmup,
                "find_max": args.find_max,
                "soak": args.soak,
                "soak_rate": args.soak_rate,
                "stream": args.stream,
                "delay_ms": args.delay_ms,
                "mock_processes": args.mock_processes,
                "timeout": args.timeout,
            },
            "command": reproduce_command(argv),
        }
    )
    workdir = Path(tempfile.mkdtemp(prefix="tokenomy-bench-gateway-"))
    log(f"work dir: {workdir}")
    port = targets.mock_port(args.config)
    try:
        mock = targets.start_mock(port, workdir, args.mock_processes, args.delay_ms)
    except TargetUnavailableError as exc:
        log(f"the mock upstream did not start: {exc}")
        return 1
    mock.name = "direct"
    bench = Bench(args, workdir, run)
    try:
        for name in args.targets:
            bench.target(name, mock)
    finally:
        mock.stop()
    if args.json:
        print(json.dumps(run.as_dict(), indent=2))
    else:
        print(render(run))
    if args.keep:
        log(f"logs and database kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
