"""The prompt-cache advisor against the ground truth of a real trace (Mooncake, FAST25).

    nice -n 10 .venv/bin/python bench/prompt_cache_advisor.py \\
        --trace ../shared/data/traces/mooncake_conversation_trace.jsonl [--json]

Every request of the trace carries ``hash_ids``: one id per 512-token block of its prompt,
equal leading ids meaning an equal prefix. That makes the truth exact: a prefix cache is
simulated block by block (a block is alive if it was used within the TTL; a request reads
its leading run of live blocks, if that reaches the provider's minimum, and writes or pays
for the rest), for each strategy the advisor weighs: Anthropic breakpoints with the
5-minute TTL or 1-hour writes, OpenAI's automatic caching.

The advisor sees what a call record holds instead: time, token counts and a prefix hash.
Each request becomes a record (prompt = ``input_length``, all of it uncached, as the trace
records no caching), its ``prefix_hash`` the hash of its first two blocks (its first 1,024
tokens: the shortest prefix any of these providers caches, and what a gateway can hash
without reading the messages). The records are written to a SQLite file and the advisor
runs on them as ``tokenomy advise cache`` does. Nothing is fitted to the trace; the two
halves (by time) are replayed apart, each from an empty cache, to show the error is steady.

Besides totals, the per-prefix decisions are scored for Anthropic (where there is a choice:
no cache, 5 minutes or 1 hour): what following the advisor's choice for each prefix truly
saves, against an oracle that knows each prefix's true costs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tokenomy.advise import advise_cache, policy_for
from tokenomy.advise.policies import CachePolicy
from tokenomy.advise.prompt_cache import MIN_SPAN_MS, MONTH_MS
from tokenomy.advise.simulate import (
    ANTHROPIC_1H,
    ANTHROPIC_5M,
    NO_CACHE,
    OPENAI_AUTO,
    Strategy,
)
from tokenomy.api.params import Scope
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, TokenUsage
from tokenomy.store import open_database, write_records

BLOCK = 512  # Mooncake: tokens per hash_ids block
ORIGIN = "2026-11-01T00:00:00+00:00"
HALF_MS = 30 * 60_000
UTC = ZoneInfo("UTC")
Who = tuple[str, str]
ANTHROPIC: Who = ("anthropic", "claude-sonnet-4-5")
OPENAI: Who = ("openai", "gpt-5")
STRATEGIES = [(ANTHROPIC, ANTHROPIC_5M), (ANTHROPIC, ANTHROPIC_1H), (OPENAI, OPENAI_AUTO)]
# Larger than the trace's number of prefixes: every advised prefix is listed.
ALL_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class Request:
    at_ms: int
    prompt: int
    output: int
    blocks: tuple[int, ...]

    def prefix_hash(self, blocks: int) -> str:
        head = ",".join(str(b) for b in self.blocks[:blocks])
        return hashlib.blake2b(head.encode(), digest_size=8).hexdigest()


@dataclass(slots=True)
class Truth:
    """Per request: tokens read from the cache and the prompt's cost (pico-dollars)."""

    read: list[int]
    pico: list[int]


def load(path: Path, origin_ms: int) -> list[Request]:
    out = []
    with path.open() as f:
        for line in f:
            r = json.loads(line)
            ids = tuple(int(b) for b in r["hash_ids"])
            at = origin_ms + int(r["timestamp"])
            out.append(Request(at, r["input_length"], r["output_length"], ids))
    return out


def truth(
    requests: list[Request],
    policy: CachePolicy,
    strategy: Strategy,
    catalog: PriceCatalog,
    who: Who,
) -> Truth:
    """The exact block-level replay of ``strategy``, from an empty cache."""
    long_ttl = policy.long_ttl_ms if strategy.long else None
    ttl = long_ttl if long_ttl is not None else policy.ttl_ms
    last_use: dict[int, int] = {}
    out = Truth([], [])
    for r in requests:
        price = catalog.resolve(*who, r.at_ms)
        assert price is not None
        p = price.for_prompt(r.prompt)
        if not strategy.caching or r.prompt < policy.min_tokens:
            out.read.append(0)
            out.pico.append(r.prompt * p.input)
            continue
        k = 0
        while k < len(r.blocks) and r.at_ms - last_use.get(r.blocks[k], -(10**15)) <= ttl:
            k += 1
        live = min(k * BLOCK, r.prompt)
        read = live - live % policy.step if live >= policy.min_tokens else 0
        if policy.automatic:
            rest_price = p.input
        else:
            rest_price = p.cache_write_1h if strategy.long else p.cache_write
        out.read.append(read)
        out.pico.append(read * p.cache_read + (r.prompt - read) * rest_price)
        for b in r.blocks:
            last_use[b] = r.at_ms
    return out


def repeated(requests: list[Request]) -> int:
    """Tokens of each request sent before by any earlier request (leading blocks, no TTL)."""
    seen: set[int] = set()
    total = 0
    for r in requests:
        k = 0
        while k < len(r.blocks) and r.blocks[k] in seen:
            k += 1
        total += min(k * BLOCK, r.prompt)
        seen.update(r.blocks)
    return total


def records(requests: list[Request], who: Who, prefix_blocks: int) -> list[CallRecord]:
    provider, model = who
    return [
        CallRecord(
            "csv",
            f"mooncake:{model}:{i}",
            r.at_ms,
            TokenUsage(input_tokens=r.prompt, output_tokens=r.output),
            provider=provider,
            request_model=model,
            response_model=model,
            project="mooncake",
            prefix_hash=r.prefix_hash(prefix_blocks),
        )
        for i, r in enumerate(requests)
    ]


def _pct(estimate: float, true: float) -> float | None:
    return round(100 * (estimate - true) / true, 2) if true else None


def _advise(db_url: str, start: int, stop: int, model: str) -> tuple[dict[str, Any], float]:
    db = open_database(db_url)
    try:
        began = time.perf_counter()
        scope = Scope(UTC, start, stop, {"model": (model,)})
        result = advise_cache(db, scope, PriceCatalog.load(None), limit=ALL_ROWS, now_ms=stop)
        return result, time.perf_counter() - began
    finally:
        db.close()


def totals(
    db_url: str, requests: list[Request], start: int, stop: int, catalog: PriceCatalog
) -> list[dict[str, Any]]:
    """Estimated against true cached tokens and savings, per strategy, for the requests
    from ``start`` to ``stop``."""
    inside = [r for r in requests if start <= r.at_ms < stop]
    month = MONTH_MS / max(stop - start, MIN_SPAN_MS)  # as the advisor scales
    out = []
    for who, strategy in STRATEGIES:
        policy = policy_for(*who)
        assert policy is not None
        result, seconds = _advise(db_url, start, stop, who[1])
        s = result["summary"]
        est = s["strategies"][strategy.name]
        true = truth(inside, policy, strategy, catalog, who)
        plain = truth(inside, policy, NO_CACHE, catalog, who)
        true_saved = (sum(plain.pico) - sum(true.pico)) / 1e12
        est_saved = s["prompt_cost_usd"] - est["prompt_cost_usd"]
        out.append(
            {
                "strategy": strategy.name,
                "model": who[1],
                "calls": s["calls"],
                "cached_tokens": {
                    "true": sum(true.read),
                    "estimate": est["cache_read_tokens"],
                    "error_pct": _pct(est["cache_read_tokens"], sum(true.read)),
                },
                "savings_usd": {
                    "true": round(true_saved, 4),
                    "estimate": round(est_saved, 4),
                    "error_pct": _pct(est_saved, true_saved),
                },
                "monthly_savings_usd": {
                    "true": round(true_saved * month, 2),
                    "estimate": round(est_saved * month, 2),
                },
                "uncached_cost_usd": round(sum(plain.pico) / 1e12, 4),
                "repeated_tokens": {
                    "true": repeated(inside),
                    "estimate": s["repeated_tokens"],
                    "error_pct": _pct(s["repeated_tokens"], repeated(inside)),
                },
                "advisor_seconds": round(seconds, 3),
            }
        )
    return out


def decisions(
    db_url: str,
    requests: list[Request],
    start: int,
    stop: int,
    catalog: PriceCatalog,
    prefix_blocks: int,
) -> dict[str, Any]:
    """Anthropic, per prefix: the advisor's choice against the true costs of each choice."""
    inside = [r for r in requests if start <= r.at_ms < stop]
    policy = policy_for(*ANTHROPIC)
    assert policy is not None
    choices = (NO_CACHE, ANTHROPIC_5M, ANTHROPIC_1H)
    per_group: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys((c.name for c in choices), 0)
    )
    for strategy in choices:
        true = truth(inside, policy, strategy, catalog, ANTHROPIC)
        for r, pico in zip(inside, true.pico, strict=True):
            per_group[r.prefix_hash(prefix_blocks)][strategy.name] += pico
    result, _ = _advise(db_url, start, stop, ANTHROPIC[1])
    advised = {row["key"]: row["strategy"] for row in result["rows"]}
    plain = oracle = followed = agree = agree_cost = 0
    for key, costs in per_group.items():
        best = min(costs, key=lambda name: costs[name])
        pick = advised.get(key, NO_CACHE.name)
        plain += costs[NO_CACHE.name]
        oracle += costs[best]
        followed += costs[pick]
        if costs[pick] == costs[best]:
            agree += 1
            agree_cost += costs[NO_CACHE.name]
    return {
        "prefixes": len(per_group),
        "advised": len(advised),
        "same_choice_as_oracle_pct": round(100 * agree / len(per_group), 2),
        "same_choice_cost_weighted_pct": round(100 * agree_cost / plain, 2),
        "oracle_savings_usd": round((plain - oracle) / 1e12, 4),
        "advice_savings_usd": round((plain - followed) / 1e12, 4),
        "advice_share_of_oracle_pct": round(100 * (plain - followed) / (plain - oracle), 2),
        # What the advisor itself says its advice saves, and the same scaled to 30 days.
        "advisor_estimate_usd": result["summary"]["savings_usd"],
        "advisor_estimate_monthly_usd": result["summary"]["monthly_savings_usd"],
        # Scaled as the advisor scales (its range, at least an hour).
        "advice_monthly_usd": round(
            (plain - followed) / 1e12 * MONTH_MS / max(stop - start, MIN_SPAN_MS), 2
        ),
    }


def _print(out: dict[str, Any], parts: list[str]) -> None:
    print(
        f"{out['requests']:,} requests over {out['hours']} h; "
        f"prefix_hash = first {out['prefix_blocks']} blocks"
    )
    head = f"  {'strategy':<13} {'cached true':>12} {'estimate':>12} {'err':>8}"
    head += f"  {'saved true':>10} {'estimate':>9} {'err':>8}  {'/30d true':>9} {'estimate':>9}"
    for name in parts:
        print(f"\n{name}\n{head}")
        for row in out[name]["totals"]:
            c, sv, m = row["cached_tokens"], row["savings_usd"], row["monthly_savings_usd"]
            print(
                f"  {row['strategy']:<13} {c['true']:>12,} {c['estimate']:>12,} "
                f"{c['error_pct']:>7}%  ${sv['true']:>9,.2f} ${sv['estimate']:>8,.2f} "
                f"{sv['error_pct']:>7}%  ${m['true']:>8,.0f} ${m['estimate']:>8,.0f}"
            )
        d = out[name]["anthropic_decisions"]
        print(
            f"  per prefix (Anthropic): same choice as the oracle for "
            f"{d['same_choice_as_oracle_pct']}% of {d['prefixes']:,} prefixes "
            f"({d['same_choice_cost_weighted_pct']}% of the cost); following the advice saves "
            f"${d['advice_savings_usd']:,.2f} of the oracle's ${d['oracle_savings_usd']:,.2f} "
            f"({d['advice_share_of_oracle_pct']}%); the advisor estimates "
            f"${d['advisor_estimate_usd']:,.2f} (${d['advisor_estimate_monthly_usd']:,.0f} "
            f"per 30 days; truly ${d['advice_monthly_usd']:,.0f})"
        )
    r = out["whole"]["totals"][0]["repeated_tokens"]
    print(
        f"\nrepeated tokens (no TTL): true {r['true']:,}, estimate {r['estimate']:,} "
        f"({r['error_pct']}%); advisor time per model: "
        f"{out['whole']['totals'][0]['advisor_seconds']} s"
    )
    print(f"reproduce: {out['reproduce']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trace", type=Path, required=True, help="the Mooncake JSONL trace")
    parser.add_argument(
        "--prefix-blocks", type=int, default=2, help="blocks hashed into prefix_hash (default 2)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    origin = int(datetime.fromisoformat(ORIGIN).timestamp() * 1000)
    requests = load(args.trace, origin)
    catalog = PriceCatalog.load(None)
    end = requests[-1].at_ms + 1
    parts = {
        "whole": (origin, end),
        "first_half": (origin, origin + HALF_MS),
        "second_half": (origin + HALF_MS, end),
    }
    cmd = f"nice -n 10 .venv/bin/python bench/prompt_cache_advisor.py --trace {args.trace}"
    if args.prefix_blocks != 2:
        cmd += f" --prefix-blocks {args.prefix_blocks}"
    out: dict[str, Any] = {
        "trace": str(args.trace),
        "requests": len(requests),
        "hours": round((end - origin) / 3_600_000, 3),
        "prefix_blocks": args.prefix_blocks,
        "models": {"anthropic": ANTHROPIC[1], "openai": OPENAI[1]},
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "reproduce": cmd,
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'advise.db'}"
        db = open_database(url)
        for who in (ANTHROPIC, OPENAI):
            write_records(db, records(requests, who, args.prefix_blocks))
        db.close()
        for name, (start, stop) in parts.items():
            out[name] = {
                "totals": totals(url, requests, start, stop, catalog),
                "anthropic_decisions": decisions(
                    url, requests, start, stop, catalog, args.prefix_blocks
                ),
            }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print(out, list(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
