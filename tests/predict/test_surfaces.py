"""The CLI with --json, POST /api/v1/predict over real HTTP (4xx naming the field), and the
bench's JSON on a tiny synthetic data directory."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.running import RunningGateway

from tokenomy.api.app import MAX_POST_BYTES, AnalyticsApi
from tokenomy.cli.main import main
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database

CATALOG = PriceCatalog.load(None)
ROOT = Path(__file__).resolve().parents[2]


def test_cli_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKENOMY_HOME", str(tmp_path))
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    assert main(["predict", "-m", "gpt-4o", "--json", "Explain how rain forms"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "gpt-4o"
    assert out["input_tokens"]["exact"] is False
    o = out["output_tokens"]
    assert o["low"] <= o["median"] <= o["high"] and o["interval"] == 0.8
    assert out["cost_usd"]["low"] <= out["cost_usd"]["high"]
    messages = tmp_path / "chat.json"
    messages.write_text(json.dumps([{"role": "user", "content": "hi"}]))
    assert main(["predict", "-m", "gpt-4o", "--messages", str(messages)]) == 0
    assert "output tokens" in capsys.readouterr().out
    assert main(["predict", "-m", "gpt-4o"]) == 2  # nothing to estimate
    assert "give what to estimate: the prompt" in capsys.readouterr().err


@pytest.fixture
def gateway(db: Database) -> Iterator[RunningGateway]:
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG)) as gw:
        yield gw


def _post(gw: RunningGateway, body: bytes, method: str = "POST") -> tuple[int, Any]:
    request = urllib.request.Request(
        gw.url + "/api/v1/predict",
        data=body if method == "POST" else None,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_api_predicts_and_refuses_bad_bodies(gateway: RunningGateway) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "List 3 tips"}]}
    status, answer = _post(gateway, json.dumps(body).encode())
    assert status == 200
    assert answer["output_tokens"]["basis"] == "prior"
    assert answer["cost_usd"]["median"] > 0
    cases = [
        (b"{not json", 400, "body"),
        (b"[1]", 400, "body"),
        (json.dumps({"messages": "hi"}).encode(), 422, "model"),
        (json.dumps({"model": "gpt-4o"}).encode(), 422, "messages"),
        (json.dumps({"model": 3, "messages": "hi"}).encode(), 422, "model"),
        (json.dumps({"model": "m", "messages": "hi", "colour": 1}).encode(), 422, "colour"),
        (json.dumps({"model": "m", "messages": "hi", "history": "yes"}).encode(), 422, "history"),
        (b" " * (MAX_POST_BYTES + 1), 413, "body"),
    ]
    for raw, code, field in cases:
        status, answer = _post(gateway, raw)
        assert (status, answer["error"]["param"]) == (code, field), raw
    status, answer = _post(gateway, b"", method="GET")
    assert status == 405
    assert "POST" in answer["error"]["message"]


def test_openapi_lists_the_post() -> None:
    from tokenomy.api.openapi import openapi

    spec = openapi()["paths"]["/api/v1/predict"]
    assert "post" in spec and "requestBody" in spec["post"]


def _answers(model: str, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        if i % 2:
            rows.append({"instruction": f"In one word, name colour {i}", "output": "Red."})
        else:
            text = " ".join(["word"] * (50 + i))
            rows.append({"instruction": f"Write an essay about topic {i}", "output": text})
        rows[-1].update({"generator": model, "dataset": "synthetic"})
    return rows


def test_bench_prints_the_json_last(tmp_path: Path) -> None:
    for model in ("a", "b"):
        (tmp_path / f"alpacaeval_{model}_outputs.json").write_text(json.dumps(_answers(model, 60)))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "predict.py"), "--data", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(last) == {"tokenomy", "baseline"}
    for figures in last.values():
        assert set(figures) == {"mdape", "coverage_80"}
        assert 0 <= figures["coverage_80"] <= 1
    # Essays and one-word answers: the instruction says which, the per-model median cannot.
    assert last["tokenomy"]["mdape"] < last["baseline"]["mdape"]
    assert "reproduce:" in done.stdout


def test_bench_dev_mode_never_reads_the_test_split(tmp_path: Path) -> None:
    rows = _answers("a", 60)
    spec = importlib.util.spec_from_file_location("bench_predict", ROOT / "bench" / "predict.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "alpacaeval_a_outputs.json").write_text(json.dumps(rows))
    train, test = bench.split(bench.load(tmp_path), bench.SEED)
    test_instructions = {s.instruction for s in test}
    seen: list[str] = []

    def method(fold_train: object) -> object:
        seen.extend(s.instruction for s in fold_train)  # type: ignore[attr-defined]
        return lambda s: (0.0, 1.0, 2.0)

    figures = bench.cross_validate(train, method, bench.SEED)
    assert set(figures) == {"mdape", "coverage_80"}
    assert seen and not test_instructions & set(seen)
