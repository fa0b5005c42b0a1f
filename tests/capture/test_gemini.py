"""Gemini CLI chat recordings: both file formats, token split, rewrites, bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.capture.stored import merge_via_store

from tokenomy.capture.base import FileResult
from tokenomy.capture.filestate import plan_read
from tokenomy.capture.gemini import GeminiImporter, gemini_usage
from tokenomy.record import CallRecord, Source, TokenUsage, ToolUse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gemini"
LEGACY = FIXTURES / "session-2025-09-18T10-15-3f2a9c1e.json"
CURRENT = FIXTURES / "session-2026-03-02T09-41-8c4d2e7a.jsonl"
LEGACY_SESSION = "3f2a9c1e-5b7d-4e21-9a0c-6d8e2f1b4a77"
CURRENT_SESSION = "8c4d2e7a-19b3-4f6e-a2d1-5e0c7b9f3a14"


def chats_dir(tmp_path: Path, project: str = "shopfront", root: str = "") -> Path:
    folder = tmp_path / ".gemini" / "tmp" / project
    chats = folder / "chats"
    chats.mkdir(parents=True)
    if root:
        (folder / ".project_root").write_text(root, encoding="utf-8")
    return chats


def parse(path: Path, prior: FileResult | None = None) -> FileResult:
    plan = plan_read(path, Source.GEMINI_CLI, prior.state if prior is not None else None)
    assert plan is not None
    return GeminiImporter().parse(plan)


def total(records: list[CallRecord]) -> TokenUsage:
    acc = TokenUsage()
    for rec in records:
        acc = acc + rec.usage
    return acc


def test_cached_is_part_of_input_and_thoughts_are_output() -> None:
    usage = gemini_usage(
        {"input": 9890, "output": 301, "cached": 8192, "thoughts": 95, "tool": 0, "total": 10286}
    )
    assert usage == TokenUsage(
        input_tokens=9890 - 8192,
        cache_read_tokens=8192,
        output_tokens=301 + 95,
        reasoning_tokens=95,
    )
    assert usage.total == 10286


def test_tool_use_prompt_tokens_are_uncached_input() -> None:
    # totalTokenCount = prompt + candidates + thoughts + toolUsePrompt (cached inside prompt).
    usage = gemini_usage(
        {"input": 1000, "output": 50, "cached": 600, "thoughts": 20, "tool": 300, "total": 1370}
    )
    assert usage.input_tokens == 400 + 300
    assert usage.cache_read_tokens == 600
    assert usage.total == 1370


def test_legacy_json_file(tmp_path: Path) -> None:
    path = chats_dir(tmp_path, root="/home/dev/shopfront") / LEGACY.name
    shutil.copy(LEGACY, path)
    result = parse(path)
    assert result.problems == []
    first, second = result.records  # the user and info messages are no calls
    assert first.usage == TokenUsage(
        input_tokens=8412, output_tokens=38 + 212, reasoning_tokens=212
    )
    assert second.usage == TokenUsage(
        input_tokens=9890 - 8192,
        cache_read_tokens=8192,
        output_tokens=301 + 95,
        reasoning_tokens=95,
    )
    assert total(result.records).total == 8662 + 10286  # the two recorded totals
    assert first.dedupe_key == f"{LEGACY_SESSION}:7e6f5a4b-3c2d-4e1f-a0b9-c8d7e6f5a4b3"
    assert first.tools == [ToolUse("read_file", "read_file-1758190514190-0f3a2b9c8d7e6")]
    assert first.started_at_ms == 1758190514208  # 2025-09-18T10:15:14.208Z
    for rec in result.records:
        assert rec.source == Source.GEMINI_CLI
        assert rec.provider == "google"
        assert rec.request_model == rec.response_model == "gemini-2.5-pro"
        assert rec.session_id == LEGACY_SESSION
        assert rec.project == "shopfront"  # from .project_root
        assert rec.attributes["project_hash"].startswith("9b1e0c6f")


def test_current_jsonl_file_counts_each_message_once(tmp_path: Path) -> None:
    path = chats_dir(tmp_path, project="4be5d3f1a0c27e98") / CURRENT.name
    shutil.copy(CURRENT, path)
    result = parse(path)
    assert result.problems == []
    by_id = {r.dedupe_key.split(":", 1)[1][:8]: r for r in result.records}
    # Four calls; 5b4a3c2d was rewound away but was billed, so it stays.
    assert sorted(by_id) == ["5b4a3c2d", "9a8b7c6d", "a1c9e4b2", "d7e3f5a9"]
    assert by_id["a1c9e4b2"].usage == TokenUsage(
        input_tokens=10240, output_tokens=12 + 187, reasoning_tokens=187
    )
    assert by_id["d7e3f5a9"].usage == TokenUsage(
        input_tokens=12875 - 10112,
        cache_read_tokens=10112,
        output_tokens=25 + 64,
        reasoning_tokens=64,
    )
    assert by_id["5b4a3c2d"].usage.total == 14563
    assert by_id["9a8b7c6d"].usage == TokenUsage(
        input_tokens=14105 - 12544, cache_read_tokens=12544, output_tokens=356
    )
    assert total(result.records).total == 10439 + 12964 + 14563 + 14461
    # The tool call's first version (no tokens yet) and last version (result) are one use.
    assert by_id["a1c9e4b2"].tools == [
        ToolUse("run_shell_command", "run_shell_command-1772444483120-4f1e9a0c3b7d2")
    ]
    assert all(r.session_id == CURRENT_SESSION for r in result.records)
    assert all(r.project == "4be5d3f1a0c27e98" for r in result.records)  # no .project_root
    assert result.state is not None and result.state.lines == 17


def test_jsonl_read_in_two_halves_equals_one_read(tmp_path: Path) -> None:
    chats = chats_dir(tmp_path)
    whole = parse(Path(shutil.copy(CURRENT, chats / CURRENT.name)))
    data = CURRENT.read_bytes()
    path = chats / "session-2026-03-02T09-41-8c4d2e7b.jsonl"
    cut = data.index(b'"$rewindTo"') - 1  # mid-file, at a line start
    path.write_bytes(data[:cut] + data[cut : cut + 20])  # plus a torn line
    part1 = parse(path)
    with path.open("ab") as f:
        f.write(data[cut + 20 :])
    part2 = parse(path, part1)
    assert part1.records and part2.records
    merged = merge_via_store(tmp_path, [part1, part2])
    assert sorted((r.dedupe_key, r.usage, tuple(r.tools)) for r in merged) == sorted(
        (r.dedupe_key, r.usage, tuple(r.tools)) for r in whole.records
    )
    # The session id was on the first line, read the first time.
    assert all(r.session_id == CURRENT_SESSION for r in part2.records)


def test_rewritten_json_file_is_reread_and_dedupes(tmp_path: Path) -> None:
    doc: dict[str, Any] = json.loads(LEGACY.read_text(encoding="utf-8"))
    messages = doc["messages"]
    path = chats_dir(tmp_path) / LEGACY.name
    doc["messages"] = messages[:2]
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    first = parse(path)
    assert len(first.records) == 1
    # Gemini CLI rewrites the whole file: new lastUpdated, one more message.
    doc["messages"] = messages
    doc["lastUpdated"] = "2025-09-18T10:16:41.003Z"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    second = parse(path, first)
    assert len(second.records) == 2  # read whole again
    merged = merge_via_store(tmp_path, [first, second])
    assert len(merged) == 2
    assert total(merged).total == 8662 + 10286


def test_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = chats_dir(tmp_path) / LEGACY.name
    shutil.copy(LEGACY, path)
    result = parse(path)
    assert plan_read(path, Source.GEMINI_CLI, result.state) is None


def test_invalid_json_file_is_one_problem_and_loses_nothing_else(tmp_path: Path) -> None:
    chats = chats_dir(tmp_path)
    bad = chats / "session-2025-09-18T11-00-deadbeef.json"
    bad.write_text(LEGACY.read_text(encoding="utf-8")[:700], encoding="utf-8")  # torn write
    good = chats / LEGACY.name
    shutil.copy(LEGACY, good)
    importer = GeminiImporter()
    files = importer.discover(importer.default_roots({}, tmp_path))
    assert sorted(files) == sorted([bad, good])
    results = [parse(f) for f in files]
    by_path = {r.path: r for r in results}
    broken = by_path[str(bad)]
    assert len(broken.problems) == 1
    assert broken.problems[0].line is None
    assert broken.problems[0].reason.startswith("invalid JSON")
    assert broken.records == []
    assert len(by_path[str(good)].records) == 2
    assert by_path[str(good)].problems == []


def test_wrong_types_are_reported_and_the_rest_imports(tmp_path: Path) -> None:
    path = chats_dir(tmp_path) / "session-2026-03-03T08-00-11111111.jsonl"
    meta = {"sessionId": "11111111-aaaa", "projectHash": "ab", "startTime": "2026-03-03T08:00:00Z"}
    ok: dict[str, Any] = {
        "id": "m-ok",
        "timestamp": "2026-03-03T08:00:05.000Z",
        "type": "gemini",
        "content": "ok",
        "model": "gemini-2.5-flash",
        "tokens": {"input": 100, "output": 10, "cached": 0, "thoughts": 0, "tool": 0, "total": 110},
    }
    bad_count = dict(ok, id="m-bad", tokens=dict(ok["tokens"], input="100"))
    bad_time = dict(ok, id="m-time", timestamp=12)
    pending = dict(ok, id="m-pending", tokens=None)
    bad_tools = dict(ok, id="m-tools", toolCalls=5)  # used to stop the whole import
    lines = [meta, ok, bad_count, bad_time, pending, bad_tools]
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"id": "m-torn", "tokens": \n'
    path.write_text(text, encoding="utf-8")
    result = parse(path)
    assert [r.dedupe_key for r in result.records] == ["11111111-aaaa:m-ok"]
    by_line = {p.line or 0: p.reason for p in result.problems}
    assert sorted(by_line) == [3, 4, 6, 7]
    assert "tokens.input" in by_line[3]
    assert "timestamp" in by_line[4]
    assert by_line[6] == "toolCalls is int, expected a list"
    assert by_line[7].startswith("invalid JSON")


def test_subagent_calls_belong_to_the_parent_session(tmp_path: Path) -> None:
    parent = "8c4d2e7a-19b3-4f6e-a2d1-5e0c7b9f3a14"
    sub = chats_dir(tmp_path) / parent
    sub.mkdir()
    path = sub / "codebase_investigator-7f3e.jsonl"
    meta = {"sessionId": "codebase_investigator-7f3e", "projectHash": "ab", "kind": "subagent"}
    msg = {
        "id": "s1",
        "timestamp": "2026-03-02T09:43:00.000Z",
        "type": "gemini",
        "content": "",
        "tokens": {"input": 50, "output": 5, "cached": 0, "thoughts": 0, "tool": 0, "total": 55},
    }
    path.write_text(json.dumps(meta) + "\n" + json.dumps(msg) + "\n", encoding="utf-8")
    importer = GeminiImporter()
    assert path in importer.discover([tmp_path / ".gemini" / "tmp"])
    (rec,) = parse(path).records
    assert rec.dedupe_key == "codebase_investigator-7f3e:s1"
    assert rec.session_id == parent
    assert rec.attributes["kind"] == "subagent"
    assert rec.request_model is None  # not recorded: left for pricing to report


def test_roots(tmp_path: Path) -> None:
    importer = GeminiImporter()
    assert importer.default_roots({}, tmp_path) == []
    chats_dir(tmp_path)
    assert importer.default_roots({}, tmp_path) == [tmp_path / ".gemini" / "tmp"]
    other = tmp_path / "profile"
    (other / ".gemini" / "tmp").mkdir(parents=True)
    env = {"GEMINI_CLI_HOME": str(other)}
    assert importer.default_roots(env, tmp_path) == [other / ".gemini" / "tmp"]
    # Logs, checkpoints and the like next to chats/ are not chats.
    (tmp_path / ".gemini" / "tmp" / "shopfront" / "logs.json").write_text("[]")
    assert importer.discover([tmp_path / ".gemini" / "tmp"]) == []


def test_registered_as_an_entry_point() -> None:
    from tokenomy.capture.registry import get_importer

    importer = get_importer("gemini")
    assert isinstance(importer, GeminiImporter)
    assert importer.source == Source.GEMINI_CLI
