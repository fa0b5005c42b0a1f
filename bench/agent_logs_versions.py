"""Before and after: the first `tokenomy report daily` of several git revisions and ccusage,
interleaved on one tree.

A machine whose speed drifts by 10-15% within the hour cannot compare figures from two runs
of `bench/agent_logs.py`. This script times each revision and ccusage in every round, in a
random order, each on a fresh database, so that drift touches all of them alike; it prints
each one's median and the median of its per-round ratio to ccusage.

    .venv/bin/python bench/agent_logs_versions.py --tree bench/out/tree-500 --runs 11 \\
        before=d95e1ef after=HEAD

The tree is the one `bench/agent_logs.py` generates (run it first). Each revision is checked
out into a temporary git worktree and run with this virtual environment's Python and
packages (so a revision must not need packages this one lacks).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
CCUSAGE = ROOT / "node_modules" / ".bin" / "ccusage"


def checkout(rev: str, where: Path) -> Path:
    """A worktree of ``rev`` at ``where``, bytecode compiled as an install would; its src."""
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(where), rev],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    src = where / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    return src


def time_one(cmd: list[str], env: dict[str, str]) -> float:
    subprocess.run(["sync"], check=False)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True, help="a tree from bench/agent_logs.py")
    ap.add_argument("--runs", type=int, default=9, help="rounds (default: 9)")
    ap.add_argument("versions", nargs="+", metavar="NAME=REV", help="git revisions to time")
    args = ap.parse_args(argv)
    projects = (args.tree / "projects").resolve()
    if not projects.is_dir():
        ap.error(f"no {projects}: run bench/agent_logs.py first, it writes the tree")
    if not CCUSAGE.exists():
        ap.error("no ccusage: run `npm install` in bench/ first")
    versions = dict(v.split("=", 1) for v in args.versions)
    times: dict[str, list[float]] = {name: [] for name in [*versions, "ccusage"]}
    with tempfile.TemporaryDirectory(prefix="tokenomy-versions-") as tmp:
        srcs = {name: checkout(rev, Path(tmp) / name) for name, rev in versions.items()}
        try:
            for _ in range(args.runs):
                order = list(times)
                random.shuffle(order)
                for name in order:
                    with tempfile.TemporaryDirectory() as home:
                        env = {**os.environ, "TOKENOMY_HOME": home, "HOME": home}
                        env["CLAUDE_CONFIG_DIR"] = str(projects.parent)
                        env.pop("TOKENOMY_DB", None)
                        if name == "ccusage":
                            cmd = [str(CCUSAGE), "claude", "daily", "--json", "--offline"]
                        else:
                            env["PYTHONPATH"] = str(srcs[name])
                            cmd = [sys.executable, "-m", "tokenomy", "report", "daily"]
                            cmd += ["--json", "--path", str(projects)]
                        times[name].append(time_one([*cmd, "-z", "UTC"], env))
        finally:
            for name in versions:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(REPO),
                        "worktree",
                        "remove",
                        "--force",
                        str(Path(tmp) / name),
                    ],
                    check=False,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
    med = statistics.median
    print(f"{'first report (s)':18s} {'median':>7s} {'min':>7s} {'max':>7s}  per-round ratio")
    for name, t in times.items():
        ratio = (
            ""
            if name == "ccusage"
            else f"{med(a / b for a, b in zip(t, times['ccusage'], strict=True)):.3f}x ccusage"
        )
        print(f"{name:18s} {med(t):7.3f} {min(t):7.3f} {max(t):7.3f}  {ratio}")
    print(
        "reproduce: python bench/agent_logs_versions.py --tree",
        args.tree,
        "--runs",
        args.runs,
        *args.versions,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
