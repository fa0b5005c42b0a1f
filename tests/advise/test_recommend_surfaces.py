"""`GET /api/v1/advise` over real HTTP and `tokenomy advise` in-process: the same rows as
`recommend`, CSV, the kind filter, evaluation results from the data directory, and errors
that name what is wrong."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import orjson
import pytest
from tests.advise.recommend_records import (
    SINCE,
    UNTIL,
    batch_job,
    duplicates,
    evals_lines,
    model_calls,
    retry_storm,
)
from tests.advise.test_cli import home, seeded  # noqa: F401  (fixtures)
from tests.api.test_api import _get
from tests.gateway.running import RunningGateway

from tokenomy.advise.recommend import load_evals, recommend
from tokenomy.api.app import AnalyticsApi
from tokenomy.api.params import parse_scope
from tokenomy.cli.main import main
from tokenomy.config import Paths
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord
from tokenomy.store import Database, open_database, write_records

CATALOG = PriceCatalog.load(None)
RANGE = urlencode({"since": SINCE, "until": UNTIL, "timezone": "UTC"})


def seed() -> list[CallRecord]:
    calls = [*duplicates(), *batch_job(), *retry_storm(), *model_calls()]
    for r in calls:
        if r.cost_nanos is None:
            r.cost_nanos = CATALOG.cost_nanos(
                r.provider, r.response_model, r.usage, r.started_at_ms
            )
    return calls


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[tuple[RunningGateway, Path]]:
    write_records(db, seed())
    evals = tmp_path / "evals.jsonl"
    with RunningGateway({}, None, api=AnalyticsApi(db, CATALOG, evals_path=evals)) as gw:
        yield gw, evals


def test_the_api_answers_what_recommend_does(
    api: tuple[RunningGateway, Path], db: Database
) -> None:
    gw, evals = api
    status, body, ctype = _get(gw, f"/api/v1/advise?{RANGE}")
    assert (status, ctype) == (200, "application/json")
    params = {"since": [SINCE], "until": [UNTIL], "timezone": ["UTC"]}
    direct = recommend(db, parse_scope(params), CATALOG)
    assert [r["title"] for r in body["rows"]] == [r["title"] for r in direct["rows"]]
    assert {r["kind"] for r in body["rows"]} == {"exact_cache", "batch_api", "retry_storm"}
    assert [n["kind"] for n in body["not_assessed"]] == ["semantic_cache", "cheaper_model"]
    # Evaluation results in the data directory are read on the next request.
    evals.write_bytes(evals_lines())
    _, again, _ = _get(gw, f"/api/v1/advise?{RANGE}&kind=cheaper_model")
    assert [r["title"] for r in again["rows"]] == ["Use gpt-4o-mini instead of gpt-4o"]
    assert again["not_assessed"] == []


def test_the_api_exports_csv_and_refuses_unknown_kinds(api: tuple[RunningGateway, Path]) -> None:
    gw, _ = api
    status, text, ctype = _get(gw, f"/api/v1/advise?{RANGE}&format=csv&kind=exact_cache")
    assert status == 200 and ctype.startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["kind"] == "exact_cache" and row["calls_query.q"] == "h1"
    assert row["monthly_savings_usd"] == "0.03"
    status, err, _ = _get(gw, f"/api/v1/advise?{RANGE}&kind=magic")
    assert status == 422 and err["error"]["param"] == "kind"
    assert "exact_cache" in err["error"]["message"]
    _, spec, _ = _get(gw, "/api/v1/openapi.json")
    assert "/api/v1/advise" in spec["paths"]


def test_a_broken_evaluation_file_is_named_not_fatal(api: tuple[RunningGateway, Path]) -> None:
    gw, evals = api
    evals.write_bytes(b"\xff\xfe not text")
    status, body, _ = _get(gw, f"/api/v1/advise?{RANGE}&kind=cheaper_model")
    assert status == 200 and body["rows"] == []
    # Undecodable lines are reported per line; nothing valid was in the file.
    [note] = body["not_assessed"]
    assert note["kind"] == "cheaper_model" and f"{evals}:1: not JSON" in note["reason"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["advise", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


ARGS = ["--since", SINCE, "--until", UNTIL, "-z", "UTC", "--no-import"]


@pytest.fixture
def advised(home: Path) -> Path:  # noqa: F811
    db = open_database(Paths.from_env().database_url)
    write_records(db, seed())
    db.close()
    return home


def test_the_command_prints_a_ranked_table_with_the_evidence(
    advised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, *ARGS)
    assert code == 0
    assert "Advice, largest saving first" in out
    assert "Cache repeated requests to gpt-4o-mini in faq" in out
    assert "calls: dup-5 dup-3 dup-2" in out
    assert "Not assessed, cheaper_model" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_the_command_reads_evaluation_results_and_prints_json(
    advised: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(evals_lines() + b"{broken\n")
    code, out, _ = _run(capsys, *ARGS, "--evals", str(path), "--kind", "cheaper_model", "--json")
    assert code == 0
    result = orjson.loads(out)
    assert [r["kind"] for r in result["rows"]] == ["cheaper_model"]
    [problem] = result["eval_problems"]
    assert problem.startswith(f"{path}:91: not JSON")
    assert load_evals(path).problems == result["eval_problems"]


def test_the_command_names_bad_options(advised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, *ARGS, "--kind", "magic")
    assert code == 2 and "--kind 'magic' is not one of" in err
    code, _, err = _run(capsys, *ARGS, "--evals", "/no/such/file.jsonl")
    assert code == 2 and "/no/such/file.jsonl: cannot read" in err


def test_the_empty_state_says_what_to_do(home: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    code, out, _ = _run(capsys, *ARGS)
    assert code == 0 and "tokenomy import" in out and "tokenomy serve" in out
