"""Codex CLI rollouts: per-call usage from running totals, incremental reads, bad lines."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.capture.stored import merge_via_store

from tokenomy.capture.base import FileResult
from tokenomy.capture.codex import DEFAULT_MODEL, CodexImporter
from tokenomy.capture.filestate import plan_read
from tokenomy.record import CallRecord, Source, TokenUsage, ToolUse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "codex"
BASIC = FIXTURES / "session-basic.jsonl"
REASONING = FIXTURES / "session-reasoning.jsonl"
BASIC_SESSION = "01a01ee3-393c-7cb1-818e-268d8e2ae938"
REASONING_SESSION = "01a01dca-e2fd-74d3-a4ba-848a807be0b4"


def parse(path: Path, prior: FileResult | None = None) -> FileResult:
    state = prior.state if prior is not None else None
    plan = plan_read(path, Source.CODEX, state)
    assert plan is not None
    return CodexImporter().parse(plan)


def total(records: list[CallRecord]) -> TokenUsage:
    acc = TokenUsage()
    for rec in records:
        acc = acc + rec.usage
    return acc


def write_lines(path: Path, entries: list[dict[str, Any] | str]) -> None:
    path.write_text(
        "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries),
        encoding="utf-8",
    )


def token_count(ts: str, **totals: Any) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "type": "event_msg",
        "payload": {"type": "token_count", "info": {"total_token_usage": totals}},
    }


META = {
    "timestamp": "2026-01-05T09:00:00.000Z",
    "type": "session_meta",
    "payload": {"id": "sess-1", "cwd": "/home/dev/shopfront", "cli_version": "0.150.0"},
}
CONTEXT = {
    "timestamp": "2026-01-05T09:00:00.100Z",
    "type": "turn_context",
    "payload": {"cwd": "/home/dev/shopfront", "model": "gpt-5.1-codex"},
}


def test_basic_session_gives_each_call_its_own_usage() -> None:
    result = parse(BASIC)
    assert result.problems == []
    first, second = result.records
    # Line 16: the first totals are the first call's usage.
    assert first.usage == TokenUsage(input_tokens=16007, cache_read_tokens=0, output_tokens=80)
    # Line 18: 32149 - 16007 = 16142 input of which 15104 cached; 126 - 80 = 46 output.
    assert second.usage == TokenUsage(
        input_tokens=16142 - 15104, cache_read_tokens=15104, output_tokens=46
    )
    assert total(result.records).total == 32275  # the session's final total_tokens
    assert [r.dedupe_key for r in result.records] == [
        f"{BASIC_SESSION}:16087",
        f"{BASIC_SESSION}:32275",
    ]
    for rec in result.records:
        assert rec.source == Source.CODEX
        assert rec.provider == "openai"
        assert rec.request_model == rec.response_model == "gpt-5.6-sol"
        assert rec.session_id == BASIC_SESSION
        assert rec.project == "fixture-gen"  # from a Windows cwd
        assert rec.attributes["cli_version"] == "0.146.0"
        assert rec.attributes["originator"] == "codex_exec"
        assert "model_assumed" not in rec.attributes
    assert first.started_at_ms == 1787224611257  # 2026-08-20T11:16:51.257Z
    # The tool call on line 14 was made by the response counted on line 16.
    assert first.tools == [ToolUse("exec", "call_CEDrC607Pk4hXucXu6nZPFbF")]
    assert second.tools == []
    assert result.state is not None and result.state.lines == 19


def test_reasoning_session_deltas_and_totals() -> None:
    result = parse(REASONING)
    assert result.problems == []
    # 61 token_count events, 4 of them repeat the previous totals.
    assert len(result.records) == 57
    assert len({r.dedupe_key for r in result.records}) == 57
    # Per-call values by hand from lines 4, 10 and 11.
    assert result.records[0].usage == TokenUsage(
        input_tokens=24312 - 6912, cache_read_tokens=6912, output_tokens=967, reasoning_tokens=412
    )
    assert result.records[1].usage == TokenUsage(
        input_tokens=(60256 - 24312) - (30208 - 6912),
        cache_read_tokens=30208 - 6912,
        output_tokens=2045 - 967,
        reasoning_tokens=1060 - 412,
    )
    assert result.records[2].usage == TokenUsage(
        input_tokens=(97302 - 60256) - (65792 - 30208),
        cache_read_tokens=65792 - 30208,
        output_tokens=2197 - 2045,
        reasoning_tokens=0,
    )
    # The sum of the calls is the last line's running total (line 155).
    assert total(result.records) == TokenUsage(
        input_tokens=6148794 - 5857024,
        cache_read_tokens=5857024,
        output_tokens=37474,
        reasoning_tokens=15528,
    )
    assert total(result.records).total == 6186268
    assert result.records[-1].dedupe_key == f"{REASONING_SESSION}:6186268"


def test_no_turn_context_means_assumed_model() -> None:
    result = parse(REASONING)
    for rec in result.records:
        assert rec.request_model == DEFAULT_MODEL == "gpt-5"
        assert rec.attributes["model_assumed"] is True
        assert rec.attributes["originator"] == "Codex Desktop"


def test_reemitted_totals_count_once_also_across_reimports(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-01-05T09-00-00-sess-1.jsonl"
    tc = token_count(
        "2026-01-05T09:00:05.000Z", input_tokens=1000, cached_input_tokens=200, output_tokens=50
    )
    write_lines(path, [META, CONTEXT, tc, tc, tc])
    first = parse(path)
    assert len(first.records) == 1
    assert first.records[0].usage == TokenUsage(
        input_tokens=800, cache_read_tokens=200, output_tokens=50
    )
    assert first.records[0].dedupe_key == "sess-1:1050"  # total_tokens absent: input + output
    # An archived copy of the same rollout, and a second import, give the same keys.
    copy = tmp_path / "archived" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    merged = merge_via_store(tmp_path, [first, parse(copy), parse(path)])
    assert len(merged) == 1
    assert total(merged).total == 1050


@pytest.mark.parametrize("source", [BASIC, REASONING])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.8])
def test_incremental_read_equals_one_read(tmp_path: Path, source: Path, fraction: float) -> None:
    data = source.read_bytes()
    # Cut mid-line: the torn line is left for the second read.
    cut = int(len(data) * fraction)
    path = tmp_path / "rollout-x.jsonl"
    path.write_bytes(data[:cut])
    part1 = parse(path)
    with path.open("ab") as f:
        f.write(data[cut:])
    part2 = parse(path, part1)
    whole = parse(source)

    def summary(records: list[CallRecord]) -> list[tuple[Any, ...]]:
        return [
            (r.dedupe_key, r.usage, r.request_model, r.tools, r.attributes, r.started_at_ms)
            for r in records
        ]

    assert summary(part1.records + part2.records) == summary(whole.records)
    assert part2.state is not None and whole.state is not None
    assert part2.state.lines == whole.state.lines
    assert [p for p in part2.problems if "incomplete" not in p.reason] == []


def test_pending_tool_call_survives_an_incremental_read(tmp_path: Path) -> None:
    lines = BASIC.read_bytes().splitlines(keepends=True)
    path = tmp_path / "rollout-basic.jsonl"
    path.write_bytes(b"".join(lines[:14]))  # up to the custom_tool_call, before its token_count
    part1 = parse(path)
    assert part1.records == []
    with path.open("ab") as f:
        f.write(b"".join(lines[14:]))
    part2 = parse(path, part1)
    assert part2.records[0].tools == [ToolUse("exec", "call_CEDrC607Pk4hXucXu6nZPFbF")]
    assert part2.records[0].request_model == "gpt-5.6-sol"
    assert part2.records[0].session_id == BASIC_SESSION


def test_bad_lines_are_reported_with_line_numbers_and_the_rest_imports(tmp_path: Path) -> None:
    path = tmp_path / "rollout-bad.jsonl"
    write_lines(
        path,
        [
            META,
            CONTEXT,
            token_count("2026-01-05T09:00:05.000Z", input_tokens=100, output_tokens=10),
            '{"type": "event_msg", "payload": {"type": "token_count", "info": {',
            "this is not json",
            token_count("2026-01-05T09:00:07.000Z", input_tokens="300", output_tokens=30),
            token_count("2026-01-05T09:00:08.000Z", input_tokens=500, output_tokens=-1),
            token_count("2026-01-05T09:00:09.000Z", input_tokens=600, output_tokens=60),
        ],
    )
    result = parse(path)
    by_line = {p.line or 0: p.reason for p in result.problems}
    assert sorted(by_line) == [4, 5, 6, 7]
    assert by_line[4].startswith("invalid JSON")
    assert "not a JSON object" in by_line[5]
    assert "info.total_token_usage.input_tokens" in by_line[6] and "'300'" in by_line[6]
    assert "info.total_token_usage.output_tokens" in by_line[7]
    assert all(p.path == str(path) for p in result.problems)
    # The good events import; the skipped events' tokens land in the next good one.
    assert [r.usage.total for r in result.records] == [110, 550]
    assert total(result.records).total == 660


def test_totals_that_go_down_start_a_new_count(tmp_path: Path) -> None:
    path = tmp_path / "rollout-reset.jsonl"
    write_lines(
        path,
        [
            META,
            token_count("2026-01-05T09:00:01.000Z", input_tokens=5000, output_tokens=100),
            token_count("2026-01-05T09:00:02.000Z", input_tokens=9000, output_tokens=200),
            META,  # resumed in the same file: the totals start again
            # The same running total as the first call's: it must not hide this one.
            token_count("2026-01-05T10:00:01.000Z", input_tokens=5000, output_tokens=100),
            token_count("2026-01-05T10:00:02.000Z", input_tokens=6500, output_tokens=150),
        ],
    )
    result = parse(path)
    assert [(r.usage.input_tokens, r.usage.output_tokens) for r in result.records] == [
        (5000, 100),
        (4000, 100),
        (5000, 100),
        (1500, 50),
    ]
    assert len(merge_via_store(tmp_path, [result])) == 4


def _fork_files(tmp_path: Path, embed_parent_meta: bool) -> tuple[Path, Path]:
    history = [
        (1, {"input_tokens": 10000, "output_tokens": 500}),
        (2, {"input_tokens": 25000, "cached_input_tokens": 9000, "output_tokens": 900}),
        (3, {"input_tokens": 45000, "cached_input_tokens": 24000, "output_tokens": 1400}),
    ]
    parent_meta = {**META, "payload": {**META["payload"], "id": "parent"}}
    parent = tmp_path / "rollout-2026-01-05T09-00-00-parent.jsonl"
    write_lines(
        parent,
        [parent_meta, CONTEXT]
        + [token_count(f"2026-01-05T09:00:0{i}.000Z", **t) for i, t in history],
    )
    fork_meta = {
        "timestamp": "2026-01-07T09:00:00.000Z",
        "type": "session_meta",
        "payload": {"id": "fork", "forked_from_id": "parent", "cwd": "/home/dev/shopfront"},
    }
    own = {"input_tokens": 70000, "cached_input_tokens": 44000, "output_tokens": 1800}
    fork = tmp_path / "rollout-2026-01-07T09-00-00-fork.jsonl"
    write_lines(
        fork,
        [fork_meta, *([parent_meta] if embed_parent_meta else []), CONTEXT]
        # Codex Desktop replays the parent's history with the fork's time, then goes on.
        + [token_count("2026-01-07T09:00:00.500Z", **t) for _, t in history]
        + [token_count("2026-01-07T09:05:00.000Z", **own)],
    )
    return parent, fork


@pytest.mark.parametrize("embed_parent_meta", [False, True])
@pytest.mark.parametrize("fork_first", [False, True])
def test_a_fork_counts_its_parents_replayed_history_once(
    tmp_path: Path, embed_parent_meta: bool, fork_first: bool
) -> None:
    parent, fork = _fork_files(tmp_path, embed_parent_meta)
    results = [parse(parent), parse(fork)]
    merged = merge_via_store(tmp_path, results[::-1] if fork_first else results)
    by_session: dict[str | None, list[CallRecord]] = {}
    for rec in merged:
        by_session.setdefault(rec.session_id, []).append(rec)
    # The parent's three calls on its own day and session, whatever was read first; the
    # fork's one call (past the parent's totals) on the fork.
    assert sorted(by_session) == ["fork", "parent"]
    assert len(by_session["parent"]) == 3
    assert all(r.started_at_ms < 1_767_700_000_000 for r in by_session["parent"])
    [own] = by_session["fork"]
    assert (own.usage.input_tokens, own.usage.cache_read_tokens) == (5000, 20000)
    assert total(merged).total == 70000 + 1800


def test_cache_writes_and_reasoning_are_split_out(tmp_path: Path) -> None:
    path = tmp_path / "rollout-cache.jsonl"
    write_lines(
        path,
        [
            META,
            CONTEXT,
            token_count(
                "2026-01-05T09:00:01.000Z",
                input_tokens=10000,
                cached_input_tokens=6000,
                cache_write_input_tokens=3000,
                output_tokens=400,
                reasoning_output_tokens=250,
                total_tokens=10400,
            ),
        ],
    )
    (rec,) = parse(path).records
    assert rec.usage == TokenUsage(
        input_tokens=1000,
        cache_read_tokens=6000,
        cache_write_tokens=3000,
        output_tokens=400,
        reasoning_tokens=250,
    )
    assert rec.usage.total == 10400
    assert rec.request_model == "gpt-5.1-codex"
    assert rec.project == "shopfront"


def test_rate_limit_only_events_and_other_tools(tmp_path: Path) -> None:
    path = tmp_path / "rollout-tools.jsonl"
    shell = {"type": "local_shell_call", "call_id": "call_sh", "status": "completed", "action": {}}
    fn = {
        "type": "function_call",
        "name": "mcp__github__search",
        "arguments": "{}",
        "call_id": "c2",
    }
    write_lines(
        path,
        [
            META,
            {"timestamp": "2026-01-05T09:00:01.000Z", "type": "response_item", "payload": shell},
            {"timestamp": "2026-01-05T09:00:01.500Z", "type": "response_item", "payload": fn},
            {
                "timestamp": "2026-01-05T09:00:01.600Z",
                "type": "event_msg",
                "payload": {"type": "token_count", "info": None, "rate_limits": {}},
            },
            token_count("2026-01-05T09:00:02.000Z", input_tokens=100, output_tokens=5),
        ],
    )
    result = parse(path)
    assert result.problems == []
    (rec,) = result.records
    assert rec.tools == [ToolUse("local_shell", "call_sh"), ToolUse("mcp__github__search", "c2")]
    assert rec.attributes["model_assumed"] is True


def test_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "rollout-binary.jsonl"
    path.write_bytes(b"\x00\x01\x02 binary\n")
    result = parse(path)
    assert result.not_a_log
    assert result.records == []


def test_roots_and_discovery(tmp_path: Path) -> None:
    home = tmp_path / "home"
    codex_home = tmp_path / "codex-home"
    day = codex_home / "sessions" / "2026" / "01" / "05"
    day.mkdir(parents=True)
    (codex_home / "archived_sessions").mkdir()
    shutil.copy(BASIC, day / "rollout-2026-01-05T09-00-00-a.jsonl")
    shutil.copy(BASIC, codex_home / "archived_sessions" / "rollout-2026-01-04T09-00-00-b.jsonl")
    (day / "notes.txt").write_text("x")
    importer = CodexImporter()
    assert importer.default_roots({}, home) == []
    roots = importer.default_roots({"CODEX_HOME": str(codex_home)}, home)
    assert roots == [codex_home / "sessions", codex_home / "archived_sessions"]
    assert sorted(p.name for p in importer.discover(roots)) == [
        "rollout-2026-01-04T09-00-00-b.jsonl",
        "rollout-2026-01-05T09-00-00-a.jsonl",
    ]
    default = home / ".codex" / "sessions"
    default.mkdir(parents=True)
    assert importer.default_roots({}, home) == [default]


def test_a_named_pipe_named_like_a_log_is_skipped(tmp_path: Path) -> None:
    # Opening it would wait for a writer for ever (import and report hung).
    fifo = tmp_path / "rollout-2026-01-05T09-00-00-pipe.jsonl"
    os.mkfifo(fifo)
    assert plan_read(fifo, Source.CODEX, None) is None


def test_a_renamed_rollout_is_found_by_its_first_line(tmp_path: Path) -> None:
    # Copies under other names (another machine, the shared fixtures) are still Codex logs;
    # files named like Claude Code's are not opened, other JSONL files are not taken.
    shutil.copy(BASIC, tmp_path / "session-basic.jsonl")
    shutil.copy(BASIC, tmp_path / "0b7c3a5e-1d2f-4a6b-9c8d-7e6f5a4b3c2d.jsonl")
    (tmp_path / "agent-1.jsonl").write_bytes(BASIC.read_bytes())
    (tmp_path / "other.jsonl").write_text('{"type":"user","message":"session_meta"}\n{}\n')
    (tmp_path / "empty.jsonl").write_bytes(b"")
    found = CodexImporter().discover([tmp_path])
    assert [p.name for p in found] == ["session-basic.jsonl"]


def test_registered_as_an_entry_point() -> None:
    from tokenomy.capture.registry import get_importer

    importer = get_importer("codex")
    assert isinstance(importer, CodexImporter)
    assert importer.source == Source.CODEX
