"""`tokenomy import csv`: tables of calls in the record's own columns or mapped from traces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson
import pytest

from tokenomy.capture.import_table import import_table
from tokenomy.capture.table_rows import TableSpec, TableSpecError, TimeFormat, parse_assignments
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage
from tokenomy.store import Database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
CATALOG = PriceCatalog.load(None)

HEADER = (
    "started_at,provider,request_model,project,user,session_id,"
    "input_tokens,output_tokens,cache_read_tokens,status,duration_ms\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _calls(db: Database) -> list[dict[str, object]]:
    cols = (
        'dedupe_key, started_at, provider, request_model, response_model, project, "user", '
        "session_id, input_tokens, output_tokens, cache_read_tokens, total_tokens, status, "
        "duration_ms, cost_nanos, cost_source, source, http_status"
    )
    names = [c.strip().strip('"') for c in cols.split(",")]
    rows = db.query(f"SELECT {cols} FROM calls ORDER BY started_at, dedupe_key")
    return [dict(zip(names, r, strict=True)) for r in rows]


def test_columns_named_like_the_record_fill_it_and_cost_is_computed(
    db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "calls.csv",
        HEADER
        + "2026-11-01T10:00:00Z,anthropic,claude-sonnet-4-5,web,ann,s1,1200,300,5000,ok,850\n"
        + "2026-11-01T10:00:01.5+01:00,openai,gpt-4o,api,bob,s2,10,5,,error,\n",
    )
    summary = import_table(db, CATALOG, path, TableSpec())
    assert (summary.rows, summary.stored, summary.problems) == (2, 2, [])
    # 10:00:01.5+01:00 is 09:00:01.5Z: earlier than the first row.
    first, second = _calls(db)
    assert second["started_at"] == 1_793_527_200_000
    assert first == {
        "dedupe_key": "calls.csv:3",
        "started_at": 1_793_523_601_500,
        "provider": "openai",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o",  # defaults to the request model
        "project": "api",
        "user": "bob",
        "session_id": "s2",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,  # empty: the default
        "total_tokens": 15,
        "status": "error",
        "duration_ms": None,
        "cost_nanos": CATALOG.cost_nanos(
            "openai", "gpt-4o", TokenUsage(input_tokens=10, output_tokens=5), 1_793_523_601_500
        ),
        "cost_source": "computed",
        "source": "csv",
        "http_status": None,
    }
    assert second["dedupe_key"] == "calls.csv:2"
    assert second["cost_nanos"] == CATALOG.cost_nanos(
        "anthropic",
        "claude-sonnet-4-5",
        TokenUsage(input_tokens=1200, cache_read_tokens=5000, output_tokens=300),
        1_793_527_200_000,
    )
    assert (second["total_tokens"], second["duration_ms"]) == (6500, 850)


def test_a_given_cost_is_kept_as_reported_and_an_http_error_marks_the_call_failed(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "c.csv",
        "started_at,request_model,cost_usd,http_status\n"
        "1790000000,my-model,0.0123456789,200\n"
        "1790000001,my-model,,429\n",
    )
    summary = import_table(sqlite_db, CATALOG, path, TableSpec())
    ok, limited = _calls(sqlite_db)
    assert (ok["cost_nanos"], ok["cost_source"], ok["status"]) == (12_345_679, "reported", "ok")
    assert (limited["cost_nanos"], limited["cost_source"]) == (None, "unknown")  # never 0
    assert (limited["status"], limited["http_status"]) == ("error", 429)
    assert summary.unpriced_models == {"?/my-model"}


def test_an_empty_cell_takes_the_default_as_a_missing_column_would(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "e.csv",
        "started_at,provider,request_model,response_model,status,input_tokens,http_status\n"
        "2026-11-01T10:00:00Z,openai,gpt-4o,,,100,500\n"  # empty status: from http_status
        "2026-11-01T10:00:01Z,openai,gpt-4o,gpt-4o-2024-08-06,ok,100,500\n",  # as written
    )
    import_table(sqlite_db, CATALOG, path, TableSpec())
    failed, said_ok = _calls(sqlite_db)
    assert (failed["status"], failed["response_model"]) == ("error", "gpt-4o")
    assert (said_ok["status"], said_ok["response_model"]) == ("ok", "gpt-4o-2024-08-06")
    # --set status=ok is every row's, whatever the HTTP status.
    again = _write(tmp_path, "f.csv", "started_at,request_model,http_status\n1790000000,m,503\n")
    import_table(sqlite_db, CATALOG, again, TableSpec(constants={"status": "ok"}))
    [fixed] = [c for c in _calls(sqlite_db) if c["dedupe_key"] == "f.csv:2"]
    assert (fixed["status"], fixed["http_status"]) == ("ok", 503)


def test_bad_rows_are_named_by_file_and_line_and_the_rest_is_imported(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "bad.csv",
        "started_at,request_model,input_tokens,status,project\n"
        '2026-11-01T10:00:00Z,gpt-4o,10,ok,"a project\nover two lines"\n'  # lines 2-3
        "yesterday,gpt-4o,10,ok,p\n"  # line 4
        "2026-11-01T10:00:02Z,gpt-4o,ten,ok,p\n"  # line 5
        "2026-11-01T10:00:03Z,gpt-4o,-3,ok,p\n"  # line 6
        "2026-11-01T10:00:04Z,gpt-4o,7,maybe,p\n"  # line 7
        ",gpt-4o,7,ok,p\n"  # line 8
        "2026-11-01T10:00:05Z,gpt-4o,12.0,ok,p\n",  # line 9: a spreadsheet's 12
    )
    summary = import_table(sqlite_db, CATALOG, path, TableSpec())
    assert [(p.line, p.reason) for p in summary.problems] == [
        (4, "started_at 'yesterday' is neither ISO 8601 nor a number"),
        (5, "input_tokens 'ten' is not a whole number"),
        (6, "input_tokens is -3, expected 0 or more"),
        (7, "status 'maybe' is not one of: ok, error"),
        (8, "started_at is empty"),
    ]
    assert all(p.path == str(path) for p in summary.problems)
    stored = _calls(sqlite_db)
    assert [(c["dedupe_key"], c["project"], c["input_tokens"]) for c in stored] == [
        ("bad.csv:2", "a project\nover two lines", 10),
        ("bad.csv:9", "p", 12),
    ]
    assert (summary.rows, summary.stored) == (7, 2)


def test_importing_a_file_again_after_it_grew_counts_each_row_once(
    sqlite_db: Database, tmp_path: Path
) -> None:
    row = "2026-11-01T10:00:0{}Z,anthropic,claude-haiku-4-5,p,u,s,10,1,0,ok,5\n"
    path = _write(tmp_path, "grow.csv", HEADER + row.format(1) + row.format(2))
    import_table(sqlite_db, CATALOG, path, TableSpec())
    path.write_text(HEADER + row.format(1) + row.format(2) + row.format(3))
    import_table(sqlite_db, CATALOG, path, TableSpec())
    totals = sqlite_db.query("SELECT COUNT(*), SUM(input_tokens) FROM calls")[0]
    assert tuple(totals) == (3, 30)


def test_the_azure_trace_imports_with_the_documented_map(db: Database) -> None:
    path = FIXTURES / "azure_llm_2023_conv_head20.csv"
    spec = TableSpec(
        mapping=parse_assignments(
            ["started_at=TIMESTAMP", "input_tokens=ContextTokens,output_tokens=GeneratedTokens"],
            "--map",
        ),
        constants=parse_assignments(["provider=openai,request_model=gpt-4o"], "--set"),
    )
    summary = import_table(db, CATALOG, path, spec)
    with path.open(newline="") as f:
        expected = list(csv.DictReader(f))
    assert (summary.rows, summary.stored, summary.problems) == (len(expected), len(expected), [])
    totals = db.query("SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM calls")[0]
    assert tuple(int(t) for t in totals) == (
        len(expected),
        sum(int(r["ContextTokens"]) for r in expected),
        sum(int(r["GeneratedTokens"]) for r in expected),
    )
    first = min(int(r[0]) for r in db.query("SELECT started_at FROM calls"))
    assert first == 1_700_158_546_681  # 2023-11-16 18:15:46.68059, a time without zone: UTC
    unpriced = db.query("SELECT COUNT(*) FROM calls WHERE cost_nanos IS NULL")[0][0]
    assert unpriced == 0


def test_the_mooncake_trace_imports_as_offsets_from_an_origin(sqlite_db: Database) -> None:
    path = FIXTURES / "mooncake_conversation_head20.jsonl"
    spec = TableSpec(
        mapping=parse_assignments(
            ["started_at=timestamp,input_tokens=input_length,output_tokens=output_length"],
            "--map",
        ),
        constants=parse_assignments(["provider=moonshotai,request_model=kimi-k2"], "--set"),
        time=TimeFormat("ms", 1_793_491_200_000),  # 2026-11-01T00:00:00Z
    )
    summary = import_table(sqlite_db, CATALOG, path, spec)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert summary.unused_columns == ["hash_ids"]
    stored = sqlite_db.query("SELECT started_at, input_tokens, output_tokens FROM calls")
    assert sorted(tuple(r) for r in stored) == sorted(
        (1_793_491_200_000 + d["timestamp"], d["input_length"], d["output_length"]) for d in lines
    )


def test_jsonl_lines_that_are_not_objects_are_reported(sqlite_db: Database, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "t.jsonl",
        '{"started_at": "2026-11-01T10:00:00Z", "input_tokens": 3}\n'
        "{torn\n"
        "[1, 2]\n"
        '{"started_at": 1790000000, "input_tokens": 4, "attributes": {"team": "x"}}\n',
    )
    summary = import_table(sqlite_db, CATALOG, path, TableSpec())
    assert [(p.line, p.reason.split(":")[0]) for p in summary.problems] == [
        (2, "invalid JSON"),
        (3, "expected a JSON object"),
    ]
    attrs = sqlite_db.query("SELECT attributes FROM calls ORDER BY input_tokens")
    assert [orjson.loads(a[0]) for a in attrs] == [{}, {"team": "x"}]
    # Every line is a row: read = stored + skipped.
    assert (summary.rows, summary.stored, summary.skipped) == (4, 2, 2)


def test_values_no_call_can_have_are_refused_by_line_and_the_rest_imported(
    db: Database, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "edge.csv",
        "started_at,request_model,input_tokens,duration_ms,cost_usd\n"
        "2026-11-01T10:00:00Z,gpt-4o,10,5,\n"  # 2: good
        "nan,gpt-4o,10,5,\n"  # 3
        "inf,gpt-4o,10,5,\n"  # 4
        "1762000000000000,gpt-4o,10,5,\n"  # 5: microseconds, read as ms: year 57805
        "9999-12-31T23:59:59Z,gpt-4o,10,5,\n"  # 6
        "2026-11-01T10:00:01Z,gpt-4o,99999999999999999999,5,\n"  # 7: past int64
        "2026-11-01T10:00:02Z,gpt-4o,10,99999999999999999999,\n"  # 8
        "2026-11-01T10:00:03Z,gpt-4o,10,5,1e30\n"  # 9
        "2026-11-01T10:00:04Z,gpt-4o,1000000000000,5,999999\n",  # 10: at the limits: good
    )
    summary = import_table(db, CATALOG, path, TableSpec())
    assert [(p.line, p.reason.split(" (")[0]) for p in summary.problems] == [
        (3, "started_at 'nan' is not a time"),
        (4, "started_at 'inf' is not a time"),
        (5, "started_at '1762000000000000' is not between 1970 and 3000"),
        (6, "started_at '9999-12-31T23:59:59Z' is not between 1970 and 3000"),
        (7, "input_tokens is 99999999999999999999, more than 1,000,000,000,000"),
        (8, "duration_ms is 99999999999999999999, more than 1,000,000,000,000"),
        (9, "cost_usd is 1e30, more than $1,000,000 for one call"),
    ]
    assert [c["dedupe_key"] for c in _calls(db)] == ["edge.csv:2", "edge.csv:10"]


def test_a_row_that_is_not_utf8_is_skipped_alone_and_named_by_its_line(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    good = b"".join(b"2026-11-01T10:00:00Z,gpt-4o,p%d,1\n" % i for i in range(5000))
    path.write_bytes(
        b"started_at,request_model,project,input_tokens\n"
        + good  # lines 2-5001, decoded in the same blocks as the bad byte
        + b"2026-11-01T10:00:00Z,gpt-4o,caf\xe9,1\n"  # 5002: Latin-1, not UTF-8
        + "2026-11-01T10:00:00Z,gpt-4o,café,1\n".encode()  # 5003: UTF-8
    )
    summary = import_table(sqlite_db, CATALOG, path, TableSpec())
    assert [(p.line, p.reason) for p in summary.problems] == [
        (5002, "not UTF-8 text (save the file as UTF-8)")
    ]
    assert (summary.rows, summary.stored) == (5002, 5001)
    assert sqlite_db.query("SELECT COUNT(*) FROM calls WHERE project = 'café'")[0][0] == 1


def test_a_header_that_is_not_utf8_refuses_the_file(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"started_at,pr\xffoject\n2026-11-01T10:00:00Z,p\n")
    with pytest.raises(TableSpecError, match="the header is not UTF-8 text"):
        import_table(sqlite_db, CATALOG, path, TableSpec())


def test_a_second_import_of_the_same_rows_says_none_were_stored(
    db: Database, tmp_path: Path
) -> None:
    row = "2026-11-01T10:00:0{}Z,anthropic,claude-haiku-4-5,p,u,s,10,1,0,ok,5\n"
    path = _write(tmp_path, "again.csv", HEADER + row.format(1) + row.format(2))
    first = import_table(db, CATALOG, path, TableSpec())
    path.write_text(HEADER + row.format(1) + row.format(2) + row.format(3))
    second = import_table(db, CATALOG, path, TableSpec())
    assert (first.stored, first.already_stored) == (2, 0)
    assert (second.rows, second.stored, second.already_stored) == (3, 1, 2)


@pytest.mark.parametrize(
    ("spec_args", "message"),
    [
        ({"mapping": {"tokens": "x"}}, "--map: unknown field tokens; fields are: started_at,"),
        ({"mapping": {"input_tokens": "Nope"}}, "no column 'Nope' (columns: when, n)"),
        ({}, "no started_at column; name the time column with --map started_at=COLUMN"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused_before_anything_is_written(
    sqlite_db: Database, tmp_path: Path, spec_args: dict[str, dict[str, str]], message: str
) -> None:
    path = _write(tmp_path, "m.csv", "when,n\n2026-11-01T10:00:00Z,1\n")
    with pytest.raises(TableSpecError) as err:
        import_table(sqlite_db, CATALOG, path, TableSpec(**spec_args))  # type: ignore[arg-type]
    assert message in str(err.value)
    assert sqlite_db.query("SELECT COUNT(*) FROM calls")[0][0] == 0


def test_a_bad_constant_names_the_option(sqlite_db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "started_at\n2026-11-01T10:00:00Z\n")
    spec = TableSpec(constants={"input_tokens": "lots"})
    with pytest.raises(TableSpecError, match=r"--set input_tokens=lots: input_tokens 'lots'"):
        import_table(sqlite_db, CATALOG, path, spec)


def test_a_quote_never_closed_costs_its_own_row_not_every_row_after_it(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A non-strict reader took every line after an unclosed quote as one field: the rows
    after it were stored as a project name and reported as nothing."""
    text = (
        "started_at,project,input_tokens\n"
        "2026-11-01T10:00:00Z,a,1\n"  # 2
        '2026-11-01T10:00:01Z,"a"b,1\n'  # 3: a quote out of place
        '2026-11-01T10:00:02Z,"two\nlines",1\n'  # 4-5: a quoted newline is fine
        '2026-11-01T10:00:03Z,"unterminated,1\n'  # 6
        "2026-11-01T10:00:04Z,c,1\n"  # 7
        "2026-11-01T10:00:05Z,d,1\n"  # 8
    )
    summary = import_table(sqlite_db, CATALOG, _write(tmp_path, "q.csv", text), TableSpec())
    assert [p.line for p in summary.problems] == [3, 6]
    assert "not valid CSV" in summary.problems[0].reason
    assert "never closed" in summary.problems[1].reason
    projects = [r[0] for r in sqlite_db.query("SELECT project FROM calls ORDER BY started_at")]
    assert projects == ["a", "two\nlines", "c", "d"]
    assert (summary.rows, summary.stored) == (6, 4)


def test_rows_whose_fields_do_not_line_up_with_the_header_are_named(
    sqlite_db: Database, tmp_path: Path
) -> None:
    text = (
        "started_at,project,input_tokens,output_tokens\n"
        "2026-11-01T10:00:00Z,a,1,2\n"
        "2026-11-01T10:00:01Z,b,1\n"  # a field short: output would be taken as 0
        "2026-11-01T10:00:02Z,c,1,2,3\n"  # one too many: a value would be dropped
    )
    summary = import_table(sqlite_db, CATALOG, _write(tmp_path, "w.csv", text), TableSpec())
    assert [(p.line, p.reason[:28]) for p in summary.problems] == [
        (3, "has 3 fields, the header has"),
        (4, "has 5 fields, the header has"),
    ]
    assert (summary.rows, summary.stored) == (3, 1)


def test_a_jsonl_map_to_a_key_no_object_has_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    lines = "".join(
        json.dumps({"timestamp": 1000 * i, "input_length": 10, "output_length": 2}) + "\n"
        for i in range(1, 4)
    )
    path = _write(tmp_path, "t.jsonl", "\ufeff" + lines)  # a BOM, as some editors write
    typo = TableSpec(mapping={"started_at": "timestamp", "input_tokens": "input_len"})
    with pytest.raises(TableSpecError, match="no column 'input_len'"):
        import_table(sqlite_db, CATALOG, path, typo)
    right = TableSpec(mapping={"started_at": "timestamp", "input_tokens": "input_length"})
    summary = import_table(sqlite_db, CATALOG, path, right)
    assert (summary.stored, summary.problems) == (3, [])
    assert sqlite_db.query("SELECT SUM(input_tokens) FROM calls")[0][0] == 30


def test_local_times_around_clock_changes_are_read_as_documented() -> None:
    # docs/import-csv.md: an ambiguous time is its first occurrence; a skipped one takes
    # the offset before the change.
    from zoneinfo import ZoneInfo

    berlin = TimeFormat(naive_zone=ZoneInfo("Europe/Berlin"))
    assert berlin.parse("2026-10-25T02:30:00") == berlin.parse("2026-10-25T00:30:00Z")
    assert berlin.parse("2026-03-29T02:30:00") == berlin.parse("2026-03-29T01:30:00Z")
    assert berlin.parse("2026-03-29T02:30:00") == berlin.parse("2026-03-29T03:30:00")
