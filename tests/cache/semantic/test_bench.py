"""bench/semcache.py --json runs on any pairs file and prints both methods side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")

ROOT = Path(__file__).resolve().parents[3]

# Written for this test: paraphrases (1) and near misses (0).
PAIRS = [
    ("How do I reset my router password?", "How can I reset the password of my router?", 1),
    ("What is the capital of France?", "Which city is the capital of France?", 1),
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?", 1),
    ("How can I lose 5 kg in a month?", "How can I lose 50 kg in a month?", 0),
    ("Is coffee bad for your heart?", "Is coffee not bad for your heart?", 0),
    ("What is the best laptop for students?", "What is the best laptop for gaming?", 0),
    ("Why is the sky blue?", "What makes the sky look blue?", 1),
    ("How do I boil an egg?", "How long should I boil an egg?", 1),
    ("Who wrote Hamlet?", "Who wrote Macbeth?", 0),
    ("How do I make pancakes?", "What is a good pancake recipe?", 1),
    ("What is the population of Japan in 2020?", "What is the population of Japan in 1990?", 0),
    ("How do vaccines work?", "How does a vaccine work in the body?", 1),
    ("What is machine learning?", "What is deep learning?", 0),
    ("How do I change a flat tyre?", "How can I fix a flat tire on my car?", 1),
    ("Can dogs eat chocolate?", "Can cats eat chocolate?", 0),
    ("How do I start running?", "How should a beginner start running?", 1),
    ("What causes earthquakes?", "Why do earthquakes happen?", 1),
    ("Is it safe to swim after eating?", "Is it unsafe to swim after eating?", 0),
    ("How do I save money on groceries?", "What are ways to spend less on groceries?", 1),
    ("What is the tallest mountain in Europe?", "What is the tallest mountain in Africa?", 0),
]


def test_json_output_shape(tmp_path: Path, minilm: Any) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(json.dumps({"text_a": a, "text_b": b, "label": y}) + "\n" for a, b, y in PAIRS)
    )
    env = os.environ | {"TOKENOMY_BENCH_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "semcache.py"),
            "--data",
            str(data),
            "--json",
            "--split",
            "all",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout)
    for method in ("baseline", "tokenomy"):
        part = result[method]
        assert 0.0 <= part["recall_at_precision_95"] <= 1.0
        assert {"precision", "recall", "false_hit_rate", "threshold", "hits"} <= set(
            part["at_precision_95"]
        )
        assert len(part["curve"]) >= 5
        for point in part["curve"]:
            assert 0.0 <= point["precision"] <= 1.0 and 0.0 <= point["false_hit_rate"] <= 1.0
    assert "ratio_recall_at_precision_95" in result
    assert result["data"]["queries"] == len({b for _, b, _ in PAIRS})
    assert result["data"]["pairs"] == len(PAIRS)
    assert result["command"].startswith(".venv/bin/python bench/semcache.py --data ")
    assert (tmp_path / "cache" / "semcache").is_dir()  # embeddings were cached there, not in ~
