"""`tokenomy import csv` throughput: rows per second into a fresh database.

    .venv/bin/python bench/csv_import.py --rows 1000000 [--postgres postgresql://...] [--runs 3]
    .venv/bin/python bench/csv_import.py --csv FILE [--postgres ...] [--no-sqlite]

Writes a CSV of realistic calls in the record's own column names (five models of three
providers, 40 projects, 300 users, sessions of 20 calls, 2% errors, token counts spread
over four orders of magnitude), then times the whole command (start-up, parsing,
pricing, writing, the final checkpoint) into a new SQLite file, and into a fresh
PostgreSQL schema if given. Every run checks that every row was stored.

``--csv`` times a given file instead: `bench/analytics.py --calls 1000000 --days 9
--generate-only` writes one shaped by the shared traces, where each user works on one or
two projects (the generated file here draws user, project and model independently, which
makes almost every call a rollup row of its own: the hard case for the rollups).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TOKENOMY = Path(sys.executable).parent / "tokenomy"
MODELS = {
    "claude-sonnet-4-5": "anthropic",
    "claude-haiku-4-5": "anthropic",
    "gpt-4o": "openai",
    "gpt-5-mini": "openai",
    "gemini-2.5-pro": "google",
}
COLUMNS = [
    "started_at",
    "provider",
    "request_model",
    "project",
    "user",
    "session_id",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "status",
    "duration_ms",
]


def write_csv(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    models = list(MODELS)
    t = 1_780_000_000.0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            model = rng.choice(models)
            t += rng.random() * 7
            w.writerow(
                [
                    f"{t:.3f}",
                    MODELS[model],
                    model,
                    f"proj-{rng.randint(1, 40)}",
                    f"user-{rng.randint(1, 300)}",
                    f"s{i // 20}",
                    int(10 ** rng.uniform(1, 4.7)),
                    int(10 ** rng.uniform(0, 3.6)),
                    int(10 ** rng.uniform(0, 4.5)) if rng.random() < 0.6 else 0,
                    "ok" if rng.random() > 0.02 else "error",
                    rng.randint(200, 30_000),
                ]
            )


def run_once(csv_path: Path, db_url: str, home: Path) -> float:
    env = {**os.environ, "TOKENOMY_HOME": str(home), "TOKENOMY_DB": db_url}
    start = time.perf_counter()
    out = subprocess.run(
        [str(TOKENOMY), "import", "csv", str(csv_path), "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    import orjson

    summary = orjson.loads(out.stdout)
    if summary["stored"] != summary["rows"] or summary["problems"]:
        raise SystemExit(f"not every row was stored: {summary['stored']} of {summary['rows']}")
    return elapsed


def fresh_pg(url: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="also time a fresh PostgreSQL schema")
    parser.add_argument(
        "--csv",
        type=Path,
        help="time this CSV of calls instead of generating one (e.g. bench/analytics.py "
        "--generate-only writes one shaped by the shared traces)",
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="only PostgreSQL (with --postgres)"
    )
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "src"], check=False)
    with tempfile.TemporaryDirectory(prefix="tokenomy-csv-") as tmp:
        if args.csv is not None:
            csv_path = args.csv.resolve()
            with csv_path.open("rb") as f:
                args.rows = sum(1 for _ in f) - 1
        else:
            csv_path = Path(tmp) / "calls.csv"
            write_csv(csv_path, args.rows, args.seed)
        mb = csv_path.stat().st_size / 1e6
        results: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        for run in range(args.runs):
            home = Path(tmp) / f"home{run}"
            if not args.no_sqlite:
                results["sqlite"].append(run_once(csv_path, f"sqlite:///{home}/t.db", home))
            if args.postgres:
                url, schema = fresh_pg(args.postgres)
                try:
                    results["postgresql"].append(run_once(csv_path, url, home))
                finally:
                    drop_pg(args.postgres, schema)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"{args.rows:,} rows ({mb:.0f} MB CSV); {args.runs} runs; {machine}")
    for name, times in results.items():
        if times:
            best, median = min(times), statistics.median(times)
            print(
                f"{name:<11} median {median:6.2f} s = {args.rows / median:>9,.0f} rows/s"
                f"   (best {args.rows / best:,.0f} rows/s)"
            )
    print("goal: >= 50,000 rows/s (issue 4); no peer imports CSV into its store to compare")
    cmd = f"python bench/csv_import.py --rows {args.rows} --runs {args.runs}"
    if args.csv is not None:
        cmd = f"python bench/csv_import.py --csv {args.csv} --runs {args.runs}"
    if args.no_sqlite:
        cmd += " --no-sqlite"
    if args.postgres:
        cmd += f" --postgres {args.postgres}"
    print(f"reproduce: {cmd}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
