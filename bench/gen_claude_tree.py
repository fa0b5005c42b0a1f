"""Generate a Claude Code project tree with its ground truth, for benchmarks.

    python bench/gen_claude_tree.py --out DIR --size-mb 500 --seed 1

writes DIR/projects/<encoded-cwd>/<session>.jsonl (and subagent files) and
DIR/ground_truth.json. Point a reader at it with CLAUDE_CONFIG_DIR=DIR.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tokenomy.sample import TreeSpec, generate_tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="config dir to write")
    parser.add_argument("--size-mb", type=float, default=None, help="stop at about this size")
    parser.add_argument("--sessions", type=int, default=50, help="sessions, without --size-mb")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--projects", type=int, default=8)
    parser.add_argument("--start", default="2026-08-01", help="first day (UTC), YYYY-MM-DD")
    parser.add_argument("--force", action="store_true", help="replace an existing projects/")
    args = parser.parse_args(argv)

    out: Path = args.out
    if (out / "projects").exists():
        if not args.force:
            print(f"{out / 'projects'} exists (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(out / "projects")
    target = None if args.size_mb is None else int(args.size_mb * 1_000_000)
    spec = TreeSpec(
        root=out,
        sessions=args.sessions,
        seed=args.seed,
        start=datetime.fromisoformat(args.start).replace(tzinfo=UTC),
        days=args.days,
        projects=args.projects,
        target_bytes=target,
    )
    began = time.perf_counter()
    shown = [0.0]

    def progress(written: int) -> None:
        now = time.perf_counter()
        if now - shown[0] < 0.5:
            return
        shown[0] = now
        rate = written / 1e6 / (now - began)
        print(f"\r{written / 1e6:8.1f} MB  {rate:6.1f} MB/s", end="", file=sys.stderr, flush=True)

    truth = generate_tree(spec, progress)
    secs = time.perf_counter() - began
    (out / "ground_truth.json").write_bytes(truth.to_json())
    print(file=sys.stderr)
    print(
        f"wrote {truth.size_bytes / 1e6:.1f} MB in {truth.files} transcripts, "
        f"{truth.totals.calls} calls, {len(truth.per_session)} sessions, "
        f"in {secs:.1f}s ({truth.size_bytes / 1e6 / secs:.1f} MB/s) -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
