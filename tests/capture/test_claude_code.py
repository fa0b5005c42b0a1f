"""The Claude Code importer: exact counts on the real log, every quirk, bad lines, increments."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from tokenomy.capture.claude_code import ClaudeCodeImporter, _decode_entry, lenient_entry
from tokenomy.capture.run_import import ImportSummary, import_all
from tokenomy.pricing import PriceCatalog
from tokenomy.sample import TreeSpec, generate_tree
from tokenomy.store import Database

CATALOG = PriceCatalog.load(None)
SESSION = "11111111-2222-3333-4444-555555555555"


def assistant(
    msg_id: str,
    req: str,
    *,
    out: int = 100,
    inp: int = 10,
    read: int = 1000,
    write_5m: int = 0,
    write_1h: int = 0,
    ts: str = "2026-08-20T10:00:00.000Z",
    session: str = SESSION,
    block: dict[str, Any] | None = None,
    model: str = "claude-sonnet-4-5-20250929",
    sidechain: bool = False,
    cwd: str = "/home/u/work/webapp",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "parentUuid": None,
        "isSidechain": sidechain,
        "message": {
            "model": model,
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "content": [block or {"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": inp,
                "cache_creation_input_tokens": write_5m + write_1h,
                "cache_read_input_tokens": read,
                "output_tokens": out,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": write_5m,
                    "ephemeral_1h_input_tokens": write_1h,
                },
            },
        },
        "requestId": req,
        "type": "assistant",
        "uuid": f"u-{msg_id}-{out}",
        "timestamp": ts,
        "cwd": cwd,
        "sessionId": session,
        "version": "2.1.233",
        "gitBranch": "main",
        **extra,
    }


def write_jsonl(path: Path, entries: list[dict[str, Any] | bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for e in entries:
            f.write((e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n")


def run(db: Database, root: Path) -> ImportSummary:
    return import_all(db, [ClaudeCodeImporter()], CATALOG, roots=[root], workers=1)


def totals(db: Database) -> dict[str, int]:
    cols = [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
    ]
    row = db.query(f"SELECT COUNT(*), {', '.join(f'SUM({c})' for c in cols)} FROM calls")[0]
    return {"calls": row[0], **{c: int(row[i + 1] or 0) for i, c in enumerate(cols)}}


def test_real_log_counts_each_response_once_with_exact_cost(
    db: Database, tmp_path: Path, claude_fixture: Path
) -> None:
    root = tmp_path / "projects"
    (root / "-C-Users-x-CLEANROOM").mkdir(parents=True)
    shutil.copy(claude_fixture, root / "-C-Users-x-CLEANROOM" / "session-basic.jsonl")
    summary = run(db, root)
    assert not summary.problems.items
    # Two responses of three and two lines each; 1-hour cache writes only.
    assert totals(db) == {
        "calls": 2,
        "input_tokens": 18,
        "output_tokens": 312,
        "cache_read_tokens": 22820 + 32727,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 9907 + 1914,
    }
    rows = db.query("SELECT project, session_id, cost_nanos, reasoning_tokens FROM calls")
    tools = [r[0] for r in db.query("SELECT name FROM call_tools")]
    assert {r[0] for r in rows} == {"CLEANROOM"}  # from the Windows cwd
    assert {r[1] for r in rows} == {"9c42ba52-3bf1-449f-a040-8ee33284a1c8"}
    # Haiku 4.5: $1 in, $5 out, $0.10 cache read, $2 1-hour write, per million tokens.
    assert sum(r[2] for r in rows) == 10 * 1000 + 135 * 5000 + 22820 * 100 + 9907 * 2000 + (
        8 * 1000 + 177 * 5000 + 32727 * 100 + 1914 * 2000
    )
    assert sum(r[3] for r in rows) == 49 + 107
    assert tools == ["Bash"]


def test_streaming_partials_and_repeated_blocks_count_once_at_final_usage(
    db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "p" / "-home-u-work-webapp" / f"{SESSION}.jsonl"
    write_jsonl(
        f,
        [
            assistant("m1", "r1", out=3, block={"type": "thinking", "thinking": ""}),
            assistant("m1", "r1", out=40, block={"type": "text", "text": "hi"}),
            assistant(
                "m1",
                "r1",
                out=95,
                block={"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}},
            ),
            assistant(
                "m1",
                "r1",
                out=95,
                block={
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "mcp__github__get_issue",
                    "input": {},
                },
            ),
        ],
    )
    run(db, tmp_path / "p")
    assert totals(db)["calls"] == 1
    assert totals(db)["output_tokens"] == 95
    rows = sorted(db.query("SELECT name, mcp_server FROM call_tools"))
    assert [tuple(r) for r in rows] == [("Read", None), ("mcp__github__get_issue", "github")]


def test_resumed_session_copy_counts_once_for_the_original(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "p"
    original = assistant("m1", "r1", out=50, ts="2026-08-20T10:00:00.000Z", session="orig")
    write_jsonl(root / "-w" / "orig.jsonl", [original])
    copy = dict(original, sessionId="resumed")
    later = assistant("m2", "r2", out=7, ts="2026-08-21T09:00:00.000Z", session="resumed")
    write_jsonl(root / "-w" / "resumed.jsonl", [copy, later])
    run(db, root)
    rows = dict(db.query("SELECT dedupe_key, session_id FROM calls"))
    assert rows == {"m1:r1": "orig", "m2:r2": "resumed"}


def test_a_resumed_copy_read_before_its_first_reply_still_loses_to_the_original(
    db: Database, tmp_path: Path
) -> None:
    """Imported while the resumed session waits for its first reply, its file holds only
    the replayed response and the user's prompt: the copy tied with the original and
    whichever was read first kept the call, for good."""
    root = tmp_path / "p"
    original = assistant("m1", "r1", out=50, ts="2026-08-20T10:00:00.000Z", session="orig")
    copy = dict(original, sessionId="resumed")
    prompt = {
        "type": "user",
        "sessionId": "resumed",
        "timestamp": "2026-08-21T09:00:00.000Z",
        "message": {"role": "user", "content": "go on"},
    }
    write_jsonl(root / "-w" / "resumed.jsonl", [copy, prompt])  # read first, alone
    run(db, root)
    write_jsonl(root / "-w" / "orig.jsonl", [original])
    run(db, root)
    rows = dict(db.query("SELECT dedupe_key, session_id FROM calls"))
    assert rows == {"m1:r1": "orig"}


def test_subagent_files_count_for_the_parent_and_progress_copies_do_not(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    sub = assistant("sub1", "rs1", out=30, sidechain=True, agentId="a1")
    parent = assistant("m1", "r1", out=10)
    progress = {
        "type": "progress",
        "sessionId": SESSION,
        "timestamp": "2026-08-20T10:00:01.000Z",
        "data": {"type": "agent_progress", "message": sub},
    }
    write_jsonl(root / "-home-u-work-webapp" / f"{SESSION}.jsonl", [parent, progress])
    write_jsonl(root / "-home-u-work-webapp" / SESSION / "subagents" / "agent-a1.jsonl", [sub])
    run(db, root)
    rows = db.query("SELECT dedupe_key, session_id, dedupe_rank, project FROM calls")
    assert sorted(tuple(r) for r in rows) == [
        ("m1:r1", SESSION, 2, "webapp"),
        ("sub1:rs1", SESSION, 1, "webapp"),
    ]


def test_progress_copy_counts_when_the_subagent_file_is_missing(
    db: Database, tmp_path: Path
) -> None:
    sub = assistant("sub1", "rs1", out=30, sidechain=True)
    progress = {"type": "progress", "sessionId": SESSION, "data": {"message": sub}}
    write_jsonl(tmp_path / "p" / "-w" / f"{SESSION}.jsonl", [progress])
    run(db, tmp_path / "p")
    assert totals(db)["output_tokens"] == 30


def test_api_errors_are_failed_calls_with_no_tokens(db: Database, tmp_path: Path) -> None:
    err = assistant("e1", "re1", out=0, inp=0, read=0, model="<synthetic>", isApiErrorMessage=True)
    err["message"]["content"] = [{"type": "text", "text": "API Error: 529 Overloaded"}]
    write_jsonl(tmp_path / "p" / "-w" / "s.jsonl", [err, assistant("m1", "r1")])
    run(db, tmp_path / "p")
    row = db.query(
        "SELECT status, http_status, total_tokens, cost_nanos, request_model FROM calls "
        "WHERE dedupe_key = ?",
        ("e1:re1",),
    )[0]
    assert tuple(row) == ("error", 529, 0, 0, None)


def test_reported_cost_is_kept_as_reported(db: Database, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "p" / "-w" / "s.jsonl", [assistant("m1", "r1", costUSD=0.0123)])
    run(db, tmp_path / "p")
    row = db.query("SELECT cost_nanos, cost_source FROM calls")[0]
    assert tuple(row) == (12_300_000, "reported")


def test_unknown_model_cost_is_unknown_not_zero(db: Database, tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "p" / "-w" / "s.jsonl", [assistant("m1", "r1", model="claude-nonexistent-9")]
    )
    summary = run(db, tmp_path / "p")
    row = db.query("SELECT cost_nanos, cost_source FROM calls")[0]
    assert tuple(row) == (None, "unknown")
    assert summary.unpriced_models == {"anthropic/claude-nonexistent-9"}


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_imports(
    db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "p" / "-w" / "s.jsonl"
    bad_types = assistant("m3", "r3")
    bad_types["message"]["usage"]["input_tokens"] = "12"
    write_jsonl(
        f,
        [
            assistant("m1", "r1"),
            b'{"type": "assistant", "message": {"usage": {"input_tokens": 1',  # torn JSON
            b"garbage that is not json",
            b'{"type":"assistant","usage":1,"x":"\xff\xfe"}',  # invalid UTF-8
            bad_types,
            assistant("m2", "r2"),
        ],
    )
    summary = run(db, tmp_path / "p")
    assert totals(db)["calls"] == 2
    found = {(p.line, p.reason.split(":")[0]) for p in summary.problems.items}
    assert found == {
        (2, "invalid JSON"),
        (3, "not a JSON object line, skipped"),
        (4, "invalid UTF-8"),
        (5, "usage.input_tokens is '12', expected a non-negative integer"),
    }
    assert all(p.path == str(f) for p in summary.problems.items)


def test_values_no_call_can_have_skip_their_line_and_the_rest_imports(
    db: Database, tmp_path: Path
) -> None:
    # Past int64 the store would refuse the whole batch; year 9999 breaks every report.
    huge = assistant("m2", "r2")
    huge["message"]["usage"]["input_tokens"] = 2**62
    far = assistant("m3", "r3")
    far["timestamp"] = "9999-12-31T23:59:59Z"
    f = tmp_path / "p" / "-w" / "s.jsonl"
    write_jsonl(f, [assistant("m1", "r1"), huge, far, assistant("m4", "r4")])
    summary = run(db, tmp_path / "p")
    assert totals(db)["calls"] == 2
    assert [(p.line, p.reason) for p in summary.problems.items] == [
        (2, f"usage.input_tokens is {2**62}, more than 1,000,000,000,000 tokens"),
        (3, "timestamp '9999-12-31T23:59:59Z' is not between 1970 and 3000"),
    ]


def test_a_file_that_is_not_a_log_is_named_and_skipped(db: Database, tmp_path: Path) -> None:
    (tmp_path / "p" / "-w").mkdir(parents=True)
    (tmp_path / "p" / "-w" / "notes.jsonl").write_bytes(b"\x00\x01binary\x00" * 100)
    write_jsonl(tmp_path / "p" / "-w" / "s.jsonl", [assistant("m1", "r1")])
    summary = run(db, tmp_path / "p")
    assert totals(db)["calls"] == 1
    assert [(p.line, p.reason) for p in summary.problems.items] == [
        (None, "not a Claude Code log, skipped")
    ]


def test_incremental_reads_only_new_bytes_and_finishes_torn_lines(
    db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "p" / "-w" / "s.jsonl"
    write_jsonl(f, [assistant("m1", "r1", out=10)])
    first = run(db, tmp_path / "p")
    size_after_first = f.stat().st_size
    assert first.sources["claude-code"].bytes_read == size_after_first
    # Nothing new: nothing read.
    assert run(db, tmp_path / "p").sources["claude-code"].files_read == 0
    # A line being written (no newline yet) is left for later, not reported as broken forever.
    line2 = orjson.dumps(assistant("m2", "r2", out=20))
    with f.open("ab") as fh:
        fh.write(line2[:30])
    partial = run(db, tmp_path / "p")
    assert totals(db)["calls"] == 1
    assert [(p.line, p.reason) for p in partial.problems.items] == [
        (2, "incomplete last line, will be read when complete")
    ]
    with f.open("ab") as fh:
        fh.write(line2[30:] + b"\n")
    third = run(db, tmp_path / "p")
    assert third.sources["claude-code"].bytes_read == len(line2) + 1
    assert totals(db)["output_tokens"] == 30
    assert not third.problems.items


def test_rewritten_or_truncated_files_are_reread_without_double_counting(
    db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "p" / "-w" / "s.jsonl"
    write_jsonl(f, [assistant("m1", "r1", out=10), assistant("m2", "r2", out=20)])
    run(db, tmp_path / "p")
    write_jsonl(f, [assistant("m1", "r1", out=10)])  # truncated (rewritten shorter)
    summary = run(db, tmp_path / "p")
    assert summary.sources["claude-code"].bytes_read == f.stat().st_size  # from the start
    write_jsonl(
        f,
        [
            assistant("m9", "r9", out=5),
            assistant("m2", "r2", out=20),
            assistant("m1", "r1", out=10),
        ],
    )
    run(db, tmp_path / "p")
    assert totals(db) | {} == totals(db)
    assert totals(db)["calls"] == 3
    assert totals(db)["output_tokens"] == 35


def test_parallel_and_serial_parsing_agree(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokenomy.capture.run_import as run_import

    root = tmp_path / "p"
    for s in range(6):
        write_jsonl(
            root / f"-w{s % 2}" / f"s{s}.jsonl",
            [assistant(f"m{s}-{i}", f"r{s}-{i}", out=i, session=f"s{s}") for i in range(50)],
        )
    monkeypatch.setattr(run_import, "PARALLEL_MIN_BYTES", 0)
    # Tiny flush sizes: each worker writes many times, often while the other one writes.
    monkeypatch.setattr(run_import, "FLUSH_ROWS", 7)
    monkeypatch.setattr(run_import, "FLUSH_ROWS_MAX", 20)
    import_all(db, [ClaudeCodeImporter()], CATALOG, roots=[root], workers=2)
    assert totals(db)["calls"] == 300
    assert totals(db)["output_tokens"] == 6 * sum(range(50))


def test_a_worker_that_fails_fails_the_import_and_leaves_no_worker_behind(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    import tokenomy.capture.run_import as run_import

    root = tmp_path / "p"
    for s in range(4):
        write_jsonl(root / "-w" / f"s{s}.jsonl", [assistant(f"m{s}", f"r{s}", session=f"s{s}")])
    monkeypatch.setattr(run_import, "PARALLEL_MIN_BYTES", 0)

    def broken(self: ClaudeCodeImporter, plan: object) -> None:
        raise RuntimeError("a bug in a parser")

    monkeypatch.setattr(ClaudeCodeImporter, "parse", broken)  # forked workers inherit it
    with pytest.raises(RuntimeError, match="a bug in a parser"):
        import_all(db, [ClaudeCodeImporter()], CATALOG, roots=[root], workers=2)
    assert multiprocessing.active_children() == []  # joined, not left running


def test_default_roots_follow_claude_config_dir(tmp_path: Path) -> None:
    a = tmp_path / "a"
    (a / "projects").mkdir(parents=True)
    b = tmp_path / "b-projects"
    b.mkdir()
    roots = ClaudeCodeImporter().default_roots({"CLAUDE_CONFIG_DIR": f"{a}, {b}"}, tmp_path)
    assert roots == [a / "projects", b]
    home = tmp_path / "home"
    (home / ".config" / "claude" / "projects").mkdir(parents=True)
    assert ClaudeCodeImporter().default_roots({}, home) == [
        home / ".config" / "claude" / "projects"
    ]


def test_a_nul_run_inside_a_real_log_is_reported_not_fatal(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "p" / "-w" / "s.jsonl"
    write_jsonl(f, [assistant("m1", "r1"), b"\x00\x00\x00\x00", assistant("m2", "r2")])
    summary = run(db, tmp_path / "p")
    assert totals(db)["calls"] == 2
    assert [(p.line, p.reason) for p in summary.problems.items] == [
        (2, "not a JSON object line, skipped")
    ]


def test_problems_in_an_incremental_read_carry_absolute_line_numbers(
    db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "p" / "-w" / "s.jsonl"
    write_jsonl(f, [assistant(f"m{i}", f"r{i}") for i in range(5)])
    run(db, tmp_path / "p")
    with f.open("ab") as fh:
        fh.write(orjson.dumps(assistant("m9", "r9")) + b"\n")
        fh.write(b'{"type":"assistant","message":{"usage":{"input_tokens":\n')
        fh.write(b"plain text\n")
    summary = run(db, tmp_path / "p")
    assert [(p.line, p.reason.split(":")[0]) for p in summary.problems.items] == [
        (7, "invalid JSON"),
        (8, "not a JSON object line, skipped"),
    ]
    assert totals(db)["calls"] == 6


def test_every_importer_over_one_tree_reads_nothing_the_second_time(
    db: Database, tmp_path: Path
) -> None:
    from tokenomy.capture.registry import get_importer, importer_names

    write_jsonl(tmp_path / "p" / "-w" / "s.jsonl", [assistant("m1", "r1")])
    importers = [get_importer(n) for n in importer_names()]
    first = import_all(db, importers, CATALOG, roots=[tmp_path / "p"], workers=1)
    assert first.records == 1
    again = import_all(db, importers, CATALOG, roots=[tmp_path / "p"], workers=1)
    assert again.files_read == 0


def _plain(value: Any) -> Any:
    """A decoded entry as plain data, with raw JSON texts decoded, for comparison."""
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value) if len(value) else None
    if isinstance(value, msgspec.Struct):
        return {k: _plain(v) for k, v in msgspec.structs.asdict(value).items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_typed_and_lenient_decoding_read_every_line_alike(
    claude_fixture: Path, tmp_path: Path
) -> None:
    # The fast path (msgspec structs) and the fallback for odd lines (a generic parse, then
    # field by field) must agree on every well-formed line, real and generated.
    generate_tree(TreeSpec(root=tmp_path / "tree", sessions=8, seed=3))
    files = [claude_fixture, *sorted((tmp_path / "tree").rglob("*.jsonl"))]
    lines = [ln for f in files for ln in f.read_bytes().splitlines() if b'"usage"' in ln]
    compared = 0
    for line in lines:
        try:
            line.decode()
            typed = _decode_entry(line)
        except (UnicodeDecodeError, msgspec.MsgspecError):
            continue  # a malformed line the generator wrote on purpose
        assert _plain(lenient_entry(orjson.loads(line))) == _plain(typed)
        compared += 1
    assert compared > 100


def test_projects_are_the_folders_not_each_lines_cwd(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "p"
    # Two projects whose sessions both ran in a worktree named "fix": still two projects.
    write_jsonl(
        root / "-home-dev-code-billing" / "a.jsonl",
        [
            assistant("m1", "r1", cwd="/home/dev/code/billing"),
            assistant("m2", "r2", cwd="/home/dev/code/billing/.worktrees/fix"),
        ],
    )
    # Only a worktree inside the project: the project's directory is above it.
    write_jsonl(
        root / "-home-dev-work-data-warehouse" / "b.jsonl",
        [
            assistant("m3", "r3", cwd="/home/dev/work/data-warehouse/.worktrees/fix"),
            assistant("m4", "r4", cwd="/home/dev/work/data-warehouse/.worktrees/fix/src"),
        ],
    )
    # A folder none of whose lines ran in its own directory: named from the folder.
    write_jsonl(root / "-srv-api" / "c.jsonl", [assistant("m5", "r5", cwd="/tmp/scratch")])
    run(db, root)
    got = dict(db.query("SELECT project, COUNT(*) FROM calls GROUP BY project"))
    assert got == {"billing": 2, "data-warehouse": 2, "api": 1}


def test_fast_mode_calls_are_priced_at_fast_mode_prices(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "p"
    lines = []
    for i, speed in enumerate(["fast", "standard", None]):
        line = assistant(
            f"m{i}", f"r{i}", inp=1000, read=100_000, out=2000, model="claude-opus-4-8"
        )
        if speed is not None:
            line["message"]["usage"]["speed"] = speed
        lines.append(line)
    write_jsonl(root / "-home-u-app" / "a.jsonl", lines)
    run(db, root)
    rows = db.query("SELECT dedupe_key, cost_nanos, attributes FROM calls ORDER BY dedupe_key")
    costs = [int(r[1]) for r in rows]
    # $5 / $25 / $0.50 read standard; fast mode twice that (genai-prices' fast variant).
    assert costs == [210_000_000, 105_000_000, 105_000_000]
    assert '"price_variant":"speed=fast"' in str(rows[0][2]).replace(" ", "")
    # A reprice keeps each call's variant.
    from tokenomy.store.costs import reprice

    with db.transaction() as cur:
        cur.execute("UPDATE calls SET cost_nanos = NULL, cost_source = 'unknown'")
    reprice(db, CATALOG)
    again = db.query("SELECT cost_nanos FROM calls ORDER BY dedupe_key")
    assert [int(r[0]) for r in again] == costs


def test_web_searches_are_billed_per_search_beside_tokens(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "p"
    line = assistant("m1", "r1", inp=9000, read=0, out=300)
    line["message"]["usage"]["server_tool_use"] = {"web_search_requests": 3}
    plain = assistant("m2", "r2", inp=9000, read=0, out=300)
    plain["message"]["usage"]["server_tool_use"] = {"web_search_requests": 0}
    write_jsonl(root / "-home-u-app" / "a.jsonl", [line, plain])
    run(db, root)
    costs = [int(c) for (c,) in db.query("SELECT cost_nanos FROM calls ORDER BY dedupe_key")]
    # Sonnet 4.5: 9,000 x $3 + 300 x $15 per million = $0.0315; searches $10 per 1,000.
    assert costs == [31_500_000 + 30_000_000, 31_500_000]
    from tokenomy.store.costs import reprice

    with db.transaction() as cur:
        cur.execute("UPDATE calls SET cost_nanos = NULL, cost_source = 'unknown'")
    reprice(db, CATALOG)
    again = [int(c) for (c,) in db.query("SELECT cost_nanos FROM calls ORDER BY dedupe_key")]
    assert again == costs
