"""Output-length prediction on AlpacaEval answers: tokenomy's model against the per-model
median, split by instruction (an instruction is never in both train and test).

    .venv/bin/python bench/predict.py --data ../shared/data/length --json

Reads every ``*_outputs.json`` in DATA (a list of ``{instruction, output, generator}``),
counts output tokens with tokenomy's estimator (the same count for both methods), assigns
each distinct instruction to test with probability TEST_SHARE by a seeded shuffle, fits on
train, and reports on test: the median absolute percentage error of the predicted output
tokens (MdAPE) and the share of answers inside the 80% interval. The baseline predicts each
model's median train length, with its train 10th-90th percentiles as the interval. The data
is CC BY-NC 4.0: it is read here, and nothing fitted on it is written anywhere.

``--dev`` never reads the test answers: it cross-validates both methods within the train
split (DEV_FOLDS folds grouped by instruction). Model choices are made on its figures; the
test figures are for reporting.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tokenomy.predict.model import Sample, fit, quantile
from tokenomy.predict.tokens import text_tokens

SEED = 20261121
TEST_SHARE = 0.3
DEV_FOLDS = 5


def load(data: Path) -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(data.glob("*_outputs.json")):
        for row in json.loads(path.read_text(encoding="utf-8")):
            samples.append(
                Sample(str(row["instruction"]), str(row["generator"]), text_tokens(row["output"]))
            )
    if not samples:
        raise SystemExit(f"no *_outputs.json files in {data}")
    return samples


def split(samples: Sequence[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    instructions = sorted({s.instruction for s in samples})
    random.Random(seed).shuffle(instructions)
    test_set = set(instructions[: max(1, round(len(instructions) * TEST_SHARE))])
    train = [s for s in samples if s.instruction not in test_set]
    test = [s for s in samples if s.instruction in test_set]
    return train, test


Predictor = Callable[[Sample], tuple[float, float, float]]  # low, point, high


def score(test: Sequence[Sample], predict: Predictor) -> dict[str, float]:
    return _figures([_outcome(s, predict) for s in test])


def _outcome(s: Sample, predict: Predictor) -> tuple[float, bool]:
    low, point, high = predict(s)
    actual = max(s.output_tokens, 1)
    return abs(point - actual) / actual, low <= s.output_tokens <= high


def _figures(outcomes: Sequence[tuple[float, bool]]) -> dict[str, float]:
    return {
        "mdape": round(statistics.median(e for e, _ in outcomes), 4),
        "coverage_80": round(sum(inside for _, inside in outcomes) / len(outcomes), 4),
    }


def cross_validate(
    train: Sequence[Sample], method: Callable[[Sequence[Sample]], Predictor], seed: int
) -> dict[str, float]:
    """Pooled figures over DEV_FOLDS folds of the train split, grouped by instruction."""
    instructions = sorted({s.instruction for s in train})
    random.Random(seed + 1).shuffle(instructions)  # not the test split's own shuffle
    fold = {t: i % DEV_FOLDS for i, t in enumerate(instructions)}
    outcomes: list[tuple[float, bool]] = []
    for k in range(DEV_FOLDS):
        predict = method([s for s in train if fold[s.instruction] != k])
        outcomes += [_outcome(s, predict) for s in train if fold[s.instruction] == k]
    return _figures(outcomes)


def baseline(train: Sequence[Sample]) -> Predictor:
    by_model: dict[str, list[float]] = {}
    for s in train:
        by_model.setdefault(s.model, []).append(float(s.output_tokens))
    everyone = [float(s.output_tokens) for s in train]
    stats = {m: (quantile(v, 0.1), quantile(v, 0.5), quantile(v, 0.9)) for m, v in by_model.items()}
    fallback = (quantile(everyone, 0.1), quantile(everyone, 0.5), quantile(everyone, 0.9))
    return lambda s: stats.get(s.model, fallback)


def ours(train: Sequence[Sample]) -> Predictor:
    model = fit(train)

    def predict(s: Sample) -> tuple[float, float, float]:
        low, point, high = model.predict(s.instruction, s.model).tokens()
        return float(low), float(point), float(high)

    return predict


def write_prior(gsm8k_csv: Path, out: Path) -> None:
    """Fit the shipped prior on RouteLLM's GSM8K responses (Apache-2.0, GSM8K MIT): never on
    the AlpacaEval answers, whose licence allows benchmark use only (docs/predict.md)."""
    import csv

    samples: list[Sample] = []
    with gsm8k_csv.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for name in ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"):
                samples.append(Sample(row["prompt"], name, text_tokens(row[f"{name}_response"])))
    source = "RouteLLM GSM8K responses (lm-sys/RouteLLM, Apache-2.0; GSM8K MIT)"
    model = fit(samples, trained_on=f"{source}: {len(samples)} answers")
    # Compact: thousands of word weights; sorted keys keep a refit's diff readable.
    out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out} from {len(samples)} answers")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/length"))
    parser.add_argument("--seed", type=int, default=SEED, help=f"split seed (default {SEED})")
    parser.add_argument("--json", action="store_true", help="end with the figures as JSON")
    parser.add_argument(
        "--dev",
        action="store_true",
        help=f"cross-validate within the train split ({DEV_FOLDS} folds); the test is not read",
    )
    parser.add_argument(
        "--write-prior",
        type=Path,
        metavar="FILE",
        help="instead, fit the shipped prior on ../shared/data/routing's GSM8K answers",
    )
    args = parser.parse_args(argv)
    if args.write_prior is not None:
        write_prior(args.data.parent / "routing" / "routellm_gsm8k_responses.csv", args.write_prior)
        return 0
    samples = load(args.data)
    train, test = split(samples, args.seed)
    started = time.perf_counter()
    if args.dev:
        result = {
            "tokenomy": cross_validate(train, ours, args.seed),
            "baseline": cross_validate(train, baseline, args.seed),
        }
        print(f"{len(train)} train answers, {DEV_FOLDS}-fold CV by instruction (test not read)")
    else:
        result = {"tokenomy": score(test, ours(train)), "baseline": score(test, baseline(train))}
        n_instr = len({s.instruction for s in test})
        print(f"{len(train)} train answers, {len(test)} test answers ({n_instr} test instructions)")
    elapsed = time.perf_counter() - started
    print(f"{'method':<10} {'MdAPE':>8} {'80% coverage':>13}")
    for name, figures in result.items():
        print(f"{name:<10} {figures['mdape']:>8.1%} {figures['coverage_80']:>13.1%}")
    gain = 1 - result["tokenomy"]["mdape"] / result["baseline"]["mdape"]
    print(f"MdAPE {gain:.1%} lower than the baseline; fit and scoring took {elapsed:.1f} s")
    dev = " --dev" if args.dev else ""
    print(
        f"reproduce: .venv/bin/python bench/predict.py --data {args.data} --seed {args.seed}{dev}"
    )
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
