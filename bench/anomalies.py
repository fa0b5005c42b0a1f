"""Anomaly detection on a replayed production trace, with anomalies injected at known hours.

The Mooncake conversation trace (12,031 real requests over one hour, with their input and
output lengths) is replayed over 35 days: each hour takes the next N requests of the trace
(in order, wrapping round), N following a working-day profile (weekdays busier than
weekends) with Poisson noise, so token mixes and their burstiness are the trace's own.
Per hour: tokens (input + output), cost (input $3/M, output $15/M), error rate (1% of calls
fail, binomial) and p95 latency (300 ms + 20 ms per output token, log-normal noise).
Three project/model groups at 100%, 30% and 5% of the traffic.

Injected (seed 7): one-hour spikes (x3 tokens and cost), level shifts (x1.8 for 6 h),
error bursts (+15 points for 2 h) and latency jumps (x2.5 for 3 h), at random hours from
day 8 on. A point is one (group, metric, hour); precision and recall count points.

No tuning on what is reported: days 8-14 (after a week of history) choose each detector's
threshold by F1; days 15-35 are reported. The baseline is a static 3-sigma rule: mean and
standard deviation of the first week, flag above mean + k sigma (k tuned the same way).
Ours (tokenomy.anomalies) also gets each hour's call count, as find_anomalies does from the
rollups; the 3-sigma rule is unchanged.

Run: .venv/bin/python bench/anomalies.py [--seed 7]  (the reported run)
     .venv/bin/python bench/anomalies.py --dev 101-106  (development: compare ideas here)
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson

from tokenomy.anomalies.check import MIN_CHANGE
from tokenomy.anomalies.detector import DetectorSettings, anomalous, score_series

TRACE = (
    Path(__file__).resolve().parents[1] / "../shared/data/traces/mooncake_conversation_trace.jsonl"
)
DAYS = 35
TUNE = (7 * 24, 14 * 24)  # [start, end) hours: threshold chosen here
TEST = (14 * 24, DAYS * 24)  # reported
METRICS = ("cost", "tokens", "error_rate", "latency_p95")
GROUPS = {"web/sonnet": 1.0, "batch/haiku": 0.3, "lab/opus": 0.05}
# The replay's groups are smaller than a team's traffic: smaller floors than MIN_CHANGE.
BENCH_MIN_CHANGE = {**MIN_CHANGE, "cost": 0.1, "tokens": 30_000.0}
MONDAY = 4 * 24  # hours since 1970-01-01 UTC of a Monday: day 0 of the replay
PEAK_CALLS = 400  # per hour at the weekday peak, for the biggest group


def load_trace() -> list[tuple[int, int]]:
    with TRACE.resolve().open("rb") as f:
        return [(r["input_length"], r["output_length"]) for r in map(orjson.loads, f)]


def profile(h: int) -> float:
    hour, day = h % 24, (h // 24) % 7
    daily = 0.25 + 0.75 * max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.25
    return daily * (0.45 if day >= 5 else 1.0)


def poisson(rng: random.Random, lam: float) -> int:
    return max(0, round(rng.gauss(lam, math.sqrt(lam)))) if lam > 30 else _knuth(rng, lam)


def _knuth(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def simulate(
    trace: list[tuple[int, int]], share: float, rng: random.Random
) -> tuple[dict[str, list[float | None]], list[list[tuple[int, int]]]]:
    pos = rng.randrange(len(trace))
    series: dict[str, list[float | None]] = {m: [] for m in METRICS}
    hours: list[list[tuple[int, int]]] = []
    for h in range(DAYS * 24):
        n = poisson(rng, PEAK_CALLS * share * profile(h))
        reqs = [trace[(pos + i) % len(trace)] for i in range(n)]
        pos += n
        hours.append(reqs)
        tin, tout = sum(r[0] for r in reqs), sum(r[1] for r in reqs)
        series["tokens"].append(float(tin + tout))
        series["cost"].append(tin * 3e-6 + tout * 15e-6)
        fails = sum(rng.random() < 0.01 for _ in reqs)
        series["error_rate"].append(fails / n if n >= 20 else None)
        lat = sorted((300 + 20 * out) * rng.lognormvariate(0, 0.25) for _, out in reqs)
        series["latency_p95"].append(lat[int(0.95 * (n - 1))] if n >= 20 else None)
    return series, hours


def inject(series: dict[str, list[float | None]], rng: random.Random) -> set[tuple[str, int]]:
    """Anomalies at random hours from day 8; the (metric, hour) points they touch."""
    truth: set[tuple[str, int]] = set()

    def scale(metric: str, h: int, factor: float = 1.0, add: float = 0.0) -> None:
        v = series[metric][h]
        if v is not None:
            series[metric][h] = v * factor + add
            truth.add((metric, h))

    for kind in ("spike", "shift", "errors", "latency") * 3:
        h0 = rng.randrange(TUNE[0], DAYS * 24 - 8)
        if kind == "spike":
            for m in ("cost", "tokens"):
                scale(m, h0, 3.0)
        elif kind == "shift":
            for h in range(h0, h0 + 6):
                for m in ("cost", "tokens"):
                    scale(m, h, 1.8)
        elif kind == "errors":
            for h in range(h0, h0 + 2):
                scale("error_rate", h, add=0.15)
        else:
            for h in range(h0, h0 + 3):
                scale("latency_p95", h, 2.5)
    return truth


Flagger = Callable[[float], set[int]]  # threshold k -> flagged hours


def ours(values: list[float | None], metric: str, calls: list[int]) -> Flagger:
    """Given what a rollup has: the values and each hour's call count. Scored once; each
    k keeps the hours ``detect`` would return with that threshold."""
    settings = DetectorSettings(min_change=BENCH_MIN_CHANGE[metric])
    verdicts = score_series(
        values, settings, TUNE[0], MONDAY, calls=calls, rate=metric == "error_rate"
    )
    return lambda k: {v.index for v in verdicts if anomalous(v, replace(settings, threshold=k))}


def three_sigma(values: list[float | None], metric: str, calls: list[int]) -> Flagger:
    """The baseline, as before: uses neither the call counts nor the season."""
    first = [v for v in values[: TUNE[0]] if v is not None]
    mean, sd = statistics.fmean(first), statistics.pstdev(first)
    return lambda k: {
        i for i, v in enumerate(values) if i >= TUNE[0] and v is not None and v > mean + k * sd
    }


DETECTORS: tuple[
    tuple[str, Callable[[list[float | None], str, list[int]], Flagger], list[float]], ...
] = (
    ("seasonal + noise model (ours)", ours, [3.0, 4.0, 5.0, 6.0, 8.0, 10.0]),
    ("static 3-sigma", three_sigma, [2.0, 2.5, 3.0, 3.5, 4.0, 5.0]),
)


def score(
    flags: set[tuple[str, str, int]], truth: set[tuple[str, str, int]], span: tuple[int, int]
) -> dict[str, float]:
    f = {p for p in flags if span[0] <= p[2] < span[1]}
    t = {p for p in truth if span[0] <= p[2] < span[1]}
    hit = len(f & t)
    precision = hit / len(f) if f else 1.0
    recall = hit / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": len(f), "true": len(t)}


Point = tuple[str, str, int]  # group, metric, hour


def build(
    trace: list[tuple[int, int]], seed: int
) -> tuple[dict[str, dict[str, list[float | None]]], dict[str, list[int]], set[Point]]:
    """The replay's series, call counts and injected points for one seed."""
    rng = random.Random(seed)
    data: dict[str, dict[str, list[float | None]]] = {}
    calls: dict[str, list[int]] = {}
    truth: set[Point] = set()
    for group, share in GROUPS.items():
        series, hours = simulate(trace, share, rng)
        truth |= {(group, m, h) for m, h in inject(series, rng)}
        data[group] = series
        calls[group] = [len(reqs) for reqs in hours]
    return data, calls, truth


def evaluate(trace: list[tuple[int, int]], seed: int) -> dict[str, tuple[float, dict[str, float]]]:
    """Per detector: k tuned by F1 on days 8-14, and the scores on days 15-35."""
    data, calls, truth = build(trace, seed)
    results = {}
    for name, method, grid in DETECTORS:
        flaggers = [
            (g, m, method(series[m], m, calls[g])) for g, series in data.items() for m in METRICS
        ]

        def flags(k: float, flaggers: list[tuple[str, str, Flagger]] = flaggers) -> set[Point]:
            return {(g, m, h) for g, m, flag in flaggers for h in flag(k)}

        tuned = max(grid, key=lambda k: (score(flags(k), truth, TUNE)["f1"], -k))
        results[name] = (tuned, score(flags(tuned), truth, TEST))
    return results


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7, help="the reported run")
    parser.add_argument(
        "--dev",
        type=seeds,
        metavar="FIRST-LAST",
        help="development seeds (e.g. 101-106): one line per seed and the means; "
        "ideas are compared here, never on the reported seed",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    trace = load_trace()
    header = (
        f"{'detector':<32}{'k':>6}{'precision':>11}{'recall':>8}{'F1':>7}{'flagged':>9}{'true':>6}"
    )
    if args.dev:
        if 7 in args.dev:
            parser.error("seed 7 is the reported run: keep it out of development")
        totals: dict[str, list[dict[str, float]]] = {}
        print(
            f"development seeds {args.dev[0]}-{args.dev[-1]}; tuned on days 8-14, days 15-{DAYS}\n"
        )
        print(f"{'seed':<6}" + header)
        for seed in args.dev:
            for name, (k, s) in evaluate(trace, seed).items():
                totals.setdefault(name, []).append(s)
                print(f"{seed:<6}" + _row(name, k, s))
        print("\nmean over seeds")
        for name, runs in totals.items():
            mean = {key: statistics.fmean(r[key] for r in runs) for key in runs[0]}
            print(
                f"{name:<32}{'':>6}{mean['precision']:>11.3f}{mean['recall']:>8.3f}{mean['f1']:>7.3f}"
            )
        print(f"\n{time.perf_counter() - started:.1f} s")
        return 0
    results = evaluate(trace, args.seed)
    print(
        f"trace: {TRACE.resolve().name}, {len(trace):,} requests; {DAYS} days x "
        f"{len(GROUPS)} groups; seed {args.seed}"
    )
    print(f"tuned on days 8-14, reported on days 15-{DAYS} (points: group x metric x hour)\n")
    print(header)
    for name, (k, s) in results.items():
        print(_row(name, k, s))
    print(
        f"\n{time.perf_counter() - started:.1f} s; reproduce: "
        f".venv/bin/python bench/anomalies.py --seed {args.seed}"
    )
    return 0


def _row(name: str, k: float, s: dict[str, float]) -> str:
    return (
        f"{name:<32}{k:>6g}{s['precision']:>11.3f}{s['recall']:>8.3f}{s['f1']:>7.3f}"
        f"{s['flagged']:>9.0f}{s['true']:>6.0f}"
    )


if __name__ == "__main__":
    sys.exit(main())
