"""Claude Code usage reports, side by side with ccusage: correctness and speed.

    .venv/bin/python bench/agent_logs.py --tree bench/out/tree-500 --size-mb 500 [--runs 3] [--json]

1. Writes (once) a generated Claude Code tree with its ground truth (bench/gen_claude_tree.py's
   generator: split lines, streaming partials, sidechains, progress copies, resumed sessions,
   API errors, malformed lines), and copies it to a scratch directory for each run.
2. Correctness: per-day (UTC) and per-session totals of `tokenomy report` and of
   `ccusage claude daily|session --offline`, each compared with the ground truth.
3. Speed: the first report (import included, fresh database) and a repeat after appending
   one new session, both tools on the same tree in the same run; the median of --runs, and
   the peak resident memory of the whole process tree (workers included).

ccusage is the pinned npm package in bench/package.json (`cd bench && npm install`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokenomy.sample import GroundTruth, TreeSpec, append_session, generate_tree

ROOT = Path(__file__).resolve().parent
CCUSAGE = ROOT / "node_modules" / ".bin" / "ccusage"
TOKENOMY = Path(sys.executable).parent / "tokenomy"
FIELDS = ("calls", "input", "output", "cache_read", "cache_write")


@dataclass
class Run:
    seconds: float
    peak_mb: float
    stdout: str


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            proc = Path(f"/proc/{p}")
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in (proc / "task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: list[str], env: dict[str, str], *, memory: bool = False) -> Run:
    """Run ``cmd``; wall time, and with ``memory`` the peak RSS of its process tree
    (sampled every 5 ms: the sampler takes CPU too, so timings come from runs without it)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory:
        sampler.start()
    out, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    if memory:
        sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}")
    return Run(elapsed, peak / 1024, out.decode())


def tokenomy_cmd(kind: str, tree: Path, *extra: str) -> list[str]:
    return [
        str(TOKENOMY),
        "report",
        kind,
        "--json",
        "-z",
        "UTC",
        "--path",
        str(tree / "projects"),
        *extra,
    ]


def ccusage_cmd(kind: str) -> list[str]:
    return [str(CCUSAGE), "claude", kind, "--json", "--offline", "-z", "UTC"]


def truth_view(truth: GroundTruth, what: str) -> dict[str, dict[str, int]]:
    table = truth.per_day_utc if what == "day" else truth.per_session
    return {
        k: {
            "calls": t.calls,
            "input": t.input_tokens,
            "output": t.output_tokens,
            "cache_read": t.cache_read_tokens,
            "cache_write": t.cache_write_tokens + t.cache_write_1h_tokens,
        }
        for k, t in table.items()
    }


def tokenomy_view(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        r["key"]: {
            "calls": r["calls"],
            "input": r["input_tokens"],
            "output": r["output_tokens"],
            "cache_read": r["cache_read_tokens"],
            "cache_write": r["cache_write_tokens"] + r["cache_write_1h_tokens"],
        }
        for r in report["rows"]
    }


def ccusage_view(report: dict[str, Any], what: str) -> dict[str, dict[str, int]]:
    rows = report["daily"] if what == "day" else report["sessions"]
    key = "date" if what == "day" else "sessionId"
    return {
        r[key]: {
            "calls": -1,  # ccusage reports no call counts
            "input": r["inputTokens"],
            "output": r["outputTokens"],
            "cache_read": r["cacheReadTokens"],
            "cache_write": r["cacheCreationTokens"],
        }
        for r in rows
    }


def compare(got: dict[str, dict[str, int]], want: dict[str, dict[str, int]]) -> dict[str, Any]:
    """How many keys agree on every token field (and calls, where the tool reports them)."""
    keys = set(got) | set(want)
    wrong = []
    for k in sorted(keys):
        g, w = got.get(k), want.get(k)
        if g is None or w is None:
            wrong.append(k)
            continue
        fields = [f for f in FIELDS if not (f == "calls" and g["calls"] == -1)]
        if any(g[f] != w[f] for f in fields):
            wrong.append(k)
    return {
        "keys": len(want),
        "equal": len(keys) - len(wrong),
        "differ": len(wrong),
        "examples": wrong[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT / "out" / "tree-500")
    parser.add_argument("--size-mb", type=float, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not CCUSAGE.exists():
        raise SystemExit("ccusage is not installed: cd bench && npm install")
    if not (args.tree / "ground_truth.json").exists():
        print(f"generating {args.size_mb:.0f} MB tree in {args.tree} ...", file=sys.stderr)
        spec = TreeSpec(
            root=args.tree,
            seed=args.seed,
            start=datetime(2026, 8, 1, tzinfo=UTC),
            days=30,
            projects=8,
            target_bytes=int(args.size_mb * 1_000_000),
        )
        (args.tree / "ground_truth.json").write_bytes(generate_tree(spec).to_json())
    truth = GroundTruth.from_json((args.tree / "ground_truth.json").read_bytes())

    # As a regular install does (pip compiles bytecode; an editable one compiles on first
    # use): without it, every run would compile tokenomy's modules, and with
    # PYTHONDONTWRITEBYTECODE set (some CI images) never keep them.
    import tokenomy

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(tokenomy.__file__).parent)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    first_t, first_c, repeat_t, repeat_c, peak_t, peak_c = [], [], [], [], [], []
    correctness: dict[str, Any] = {}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tokenomy-bench-") as tmp:
            work = Path(tmp) / "claude"
            shutil.copytree(args.tree / "projects", work / "projects")
            env = {
                **os.environ,
                "TOKENOMY_HOME": str(Path(tmp) / "home"),
                "CLAUDE_CONFIG_DIR": str(work),
            }
            env.pop("TOKENOMY_DB", None)
            subprocess.run(
                ["cat", *map(str, (work / "projects").rglob("*.jsonl"))],
                stdout=subprocess.DEVNULL,
                check=False,
            )
            if run == 0:  # memory, in runs of their own (a fresh database for tokenomy)
                peak_c.append(timed(ccusage_cmd("daily"), env, memory=True).peak_mb)
                mem_env = {**env, "TOKENOMY_HOME": str(Path(tmp) / "home-memory")}
                peak_t.append(timed(tokenomy_cmd("daily", work), mem_env, memory=True).peak_mb)
            cc = timed(ccusage_cmd("daily"), env)
            tk = timed(tokenomy_cmd("daily", work), env)
            first_c.append(cc.seconds)
            first_t.append(tk.seconds)
            if run == 0:
                sess_tk = json.loads(
                    timed(tokenomy_cmd("session", work, "--no-import"), env).stdout
                )
                sess_cc = json.loads(timed(ccusage_cmd("session"), env).stdout)
                correctness = {
                    "tokenomy_days": compare(
                        tokenomy_view(json.loads(tk.stdout)), truth_view(truth, "day")
                    ),
                    "ccusage_days": compare(
                        ccusage_view(json.loads(cc.stdout), "day"), truth_view(truth, "day")
                    ),
                    "tokenomy_sessions": compare(
                        tokenomy_view(sess_tk), truth_view(truth, "session")
                    ),
                    "ccusage_sessions": compare(
                        ccusage_view(sess_cc, "session"), truth_view(truth, "session")
                    ),
                }
            append_session(work, seed=10_000 + run)
            repeat_c.append(timed(ccusage_cmd("daily"), env).seconds)
            repeat_t.append(timed(tokenomy_cmd("daily", work), env).seconds)

    med = statistics.median
    size_mb = truth.size_bytes / 1e6
    out = {
        "tree_mb": round(size_mb, 1),
        "calls": truth.totals.calls,
        "correctness": correctness,
        "first_report_s": {"tokenomy": round(med(first_t), 2), "ccusage": round(med(first_c), 2)},
        "repeat_after_append_s": {
            "tokenomy": round(med(repeat_t), 2),
            "ccusage": round(med(repeat_c), 2),
        },
        "repeat_ratio": round(med(repeat_t) / med(repeat_c), 3),
        # The machine's speed drifts between runs (shared cores): the ratio of each run's
        # pair, timed back to back, is steadier than a ratio of medians.
        "first_ratio_paired": round(med([t / c for t, c in zip(first_t, first_c, strict=True)]), 3),
        "peak_rss_mb": {"tokenomy": round(max(peak_t)), "ccusage": round(max(peak_c))},
        "runs": args.runs,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "command": "python bench/agent_logs.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"tree: {out['tree_mb']} MB; {args.runs} runs; {out['machine']}")
    print(f"{'':28}{'tokenomy':>12}{'ccusage':>12}")
    rows = [
        ("first report (s, median)", out["first_report_s"]),
        ("repeat after append (s)", out["repeat_after_append_s"]),
        ("peak memory, all procs (MB)", out["peak_rss_mb"]),
    ]
    for label, pair in rows:
        print(f"{label:28}{pair['tokenomy']:>12.2f}{pair['ccusage']:>12.2f}")
    print(f"{'first, tokenomy / ccusage':28}{out['first_ratio_paired']:>12.2f}  (median per run)")
    print(f"{'repeat, tokenomy / ccusage':28}{out['repeat_ratio']:>12.2f}")
    for name, c in correctness.items():
        print(f"{name:28} {c['equal']}/{c['keys']} equal to ground truth; differ: {c['examples']}")
    print(f"reproduce: {out['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
