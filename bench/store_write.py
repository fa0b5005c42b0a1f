"""Batch-writer throughput: call records per second into SQLite (and PostgreSQL if given).

    .venv/bin/python bench/store_write.py [--records 300000] [--postgres URL] [--json]

Records are realistic (several models, projects and sessions, one tool use in three, a
JSON attribute); the clock runs from the first ``put`` until ``close`` returns, i.e. until
every record is committed.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tokenomy.record import CallRecord, CostSource, TokenUsage, ToolUse
from tokenomy.store import BatchWriter, open_database

MODELS = ["claude-sonnet-4-5", "claude-opus-4-7", "claude-haiku-4-5", "gpt-5", "gemini-2.5-pro"]


def make_records(n: int, seed: int = 1) -> list[CallRecord]:
    rng = random.Random(seed)
    start = 1_760_000_000_000
    out = []
    for i in range(n):
        tools = [ToolUse("Bash", f"toolu_{i}")] if i % 3 == 0 else []
        out.append(
            CallRecord(
                source="gateway",
                dedupe_key=f"req_{i}",
                started_at_ms=start + i * 50,
                duration_ms=rng.randint(200, 30_000),
                usage=TokenUsage(
                    input_tokens=rng.randint(1, 5000),
                    cache_read_tokens=rng.randint(0, 100_000),
                    cache_write_tokens=rng.randint(0, 5000),
                    output_tokens=rng.randint(1, 4000),
                ),
                provider="anthropic",
                request_model=rng.choice(MODELS),
                project=f"project-{rng.randint(1, 20)}",
                user=f"user-{rng.randint(1, 50)}",
                session_id=f"session-{i // 40}",
                cost_nanos=rng.randint(1000, 10_000_000),
                cost_source=CostSource.COMPUTED,
                tools=tools,
                attributes={"git_branch": "main"},
            )
        )
    return out


def measure(url: str, records: list[CallRecord]) -> float:
    db = open_database(url)
    try:
        t0 = time.perf_counter()
        with BatchWriter(db) as writer:
            for rec in records:
                writer.put(rec)
        elapsed = time.perf_counter() - t0
        if writer.stats.errors:
            raise SystemExit(f"writer errors: {writer.stats.last_error}")
        return len(records) / elapsed
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--postgres", help="also measure this PostgreSQL URL (a scratch database)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    records = make_records(args.records)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite_records_per_s"] = measure(f"sqlite:///{Path(tmp) / 'bench.db'}", records)
    if args.postgres:
        db = open_database(args.postgres)
        with db.transaction() as cur:
            cur.execute("TRUNCATE calls, call_tools")
        db.close()
        results["postgres_records_per_s"] = measure(args.postgres, records)
    out = {
        "records": args.records,
        **{k: round(v) for k, v in results.items()},
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "command": "python bench/store_write.py " + " ".join(argv or sys.argv[1:]),
    }
    if args.json:
        print(orjson.dumps(out).decode())
    else:
        for k, v in out.items():
            print(f"{k:>24}: {v:,}" if isinstance(v, int) else f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
