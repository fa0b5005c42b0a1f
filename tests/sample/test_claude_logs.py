"""The Claude Code tree generator: deterministic, writes every quirk, and its ground truth
equals a straightforward recount of the files it wrote."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tokenomy.sample import (
    GroundTruth,
    QuirkRates,
    Totals,
    TreeSpec,
    append_session,
    encode_project,
    generate_tree,
)

FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared/data/agent-logs/claude-code/session-basic.jsonl"
)
ZONES = ("America/Los_Angeles", "Asia/Tokyo")
HEAVY = QuirkRates(
    split_lines=0.9,
    streaming_partials=0.5,
    sidechain=0.4,
    progress_copies=1.0,
    resumed=0.4,
    api_error=0.1,
    malformed=0.6,
    mcp_tools=0.4,
    compaction=0.2,
    cwd_mismatch=0.6,
)


# -- a reference reader: the counting rules, written as plainly as possible ------------


@dataclass
class _Occurrence:
    path: Path
    session: str
    at_ms: int
    model: str
    failed: bool
    usage: tuple[int, int, int, int, int]  # input, output, read, write 5m, write 1h
    tools: dict[str, str] = field(default_factory=dict)  # tool_use id -> name


def _ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def _usage(u: Any) -> tuple[int, int, int, int, int] | None:
    if not isinstance(u, dict):
        return None
    names = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    values = [u.get(n) for n in names]
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(ints) != len(names):
        return None
    inp, out, read, write = ints
    cc = u.get("cache_creation")
    if isinstance(cc, dict):
        w5, w1h = (
            int(cc.get("ephemeral_5m_input_tokens", 0)),
            int(cc.get("ephemeral_1h_input_tokens", 0)),
        )
    else:
        w5, w1h = write, 0
    return inp, out, read, w5, w1h


def recount(root: Path) -> tuple[dict[str, Any], int]:
    """Re-read every transcript; returns the ground truth's dict form and malformed lines."""
    projects = root / "projects"
    occurrences: dict[tuple[str, str | None], list[_Occurrence]] = defaultdict(list)
    file_end: dict[Path, int] = {}
    malformed = 0
    for path in sorted(projects.rglob("*.jsonl")):
        end = 0
        for raw in path.read_bytes().split(b"\n"):
            if not raw:
                continue
            try:
                line = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                malformed += 1
                continue
            if isinstance(line.get("timestamp"), str):
                end = max(end, _ms(line["timestamp"]))
            if line.get("type") != "assistant":
                continue  # progress lines mirror subagent lines: never counted
            msg = line["message"]
            usage = _usage(msg.get("usage"))
            if usage is None:
                malformed += 1
                continue
            occ = _Occurrence(
                path,
                line["sessionId"],
                _ms(line["timestamp"]),
                msg["model"],
                line.get("isApiErrorMessage") is True,
                usage,
            )
            for block in msg["content"]:
                if block.get("type") == "tool_use":
                    occ.tools[block["id"]] = block["name"]
            occurrences[(msg["id"], line.get("requestId"))].append(occ)
        file_end[path] = end

    truth = GroundTruth()
    zones = {z: ZoneInfo(z) for z in ZONES}
    for occs in occurrences.values():
        # A response copied into a resumed session belongs to the session it came from:
        # the file that ends first.
        origin = min(occs, key=lambda o: (file_end[o.path], str(o.path))).path
        mine = [o for o in occs if o.path == origin]
        best = max((o.usage for o in occs), key=sum)
        tools: dict[str, str] = {}
        for o in mine:
            tools.update(o.tools)
        first = min(mine, key=lambda o: o.at_ms)
        t = Totals(1, 1 if first.failed else 0, best[0], best[1], best[2], best[3], best[4])
        folder = origin.relative_to(projects).parts[0]
        at = datetime.fromtimestamp(first.at_ms / 1000, tz=UTC)
        truth.totals.add(t)
        truth.per_day_utc.setdefault(at.date().isoformat(), Totals()).add(t)
        for z, info in zones.items():
            day = at.astimezone(info).date().isoformat()
            truth.per_day_local[z].setdefault(day, Totals()).add(t)
        truth.per_session.setdefault(first.session, Totals()).add(t)
        truth.per_model.setdefault(first.model, Totals()).add(t)
        truth.per_project.setdefault(folder, Totals()).add(t)
        for name in tools.values():
            truth.tool_uses[name] = truth.tool_uses.get(name, 0) + 1
    return truth.to_dict(), malformed


def _counted(d: dict[str, Any]) -> dict[str, Any]:
    """The parts of a ground truth the reader can recount (sessions with no call dropped)."""
    keep = ("totals", "per_day_utc", "per_day_local", "per_model", "per_project", "tool_uses")
    out = {k: d[k] for k in keep}
    out["per_session"] = {s: t for s, t in d["per_session"].items() if t["calls"]}
    return out


def _malformed_written(truth: GroundTruth) -> int:
    return sum(n for q, n in truth.quirks.items() if q.startswith("malformed_"))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- tests ------------------------------------------------------------------------------


def test_same_seed_same_tree_and_truth(tmp_path: Path) -> None:
    a = generate_tree(TreeSpec(root=tmp_path / "a", sessions=12, seed=7, quirks=HEAVY))
    b = generate_tree(TreeSpec(root=tmp_path / "b", sessions=12, seed=7, quirks=HEAVY))
    c = generate_tree(TreeSpec(root=tmp_path / "c", sessions=12, seed=8, quirks=HEAVY))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert a.to_json() == b.to_json()
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert a.to_json() != c.to_json()


@pytest.mark.parametrize(("seed", "rates"), [(1, QuirkRates()), (2, HEAVY), (3, HEAVY)])
def test_truth_equals_independent_recount(tmp_path: Path, seed: int, rates: QuirkRates) -> None:
    truth = generate_tree(TreeSpec(root=tmp_path, sessions=30, seed=seed, quirks=rates))
    counted, malformed = recount(tmp_path)
    assert _counted(counted) == _counted(truth.to_dict())
    # Torn last lines, garbage, bad UTF-8 and wrong types are all skipped, and only they are.
    assert malformed == _malformed_written(truth)
    assert truth.totals.calls > 100


def test_truth_round_trips_through_json(tmp_path: Path) -> None:
    truth = generate_tree(TreeSpec(root=tmp_path, sessions=5, seed=4, quirks=HEAVY))
    again = GroundTruth.from_json(truth.to_json())
    assert again.to_dict() == truth.to_dict()
    assert again.per_day("Asia/Tokyo") == truth.per_day_local["Asia/Tokyo"]


def test_target_bytes_stops_near_the_size(tmp_path: Path) -> None:
    seen: list[int] = []
    truth = generate_tree(TreeSpec(root=tmp_path, seed=5, target_bytes=2_000_000), seen.append)
    on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert truth.size_bytes == on_disk
    assert 2_000_000 <= on_disk < 6_000_000
    assert seen == sorted(seen) and seen[-1] == on_disk


def _lines(root: Path, pattern: str = "*.jsonl") -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted((root / "projects").rglob(pattern)):
        for raw in path.read_bytes().split(b"\n"):
            try:
                out.append((path, json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, ValueError):
                continue
    return out


def test_writes_each_quirk(tmp_path: Path) -> None:
    truth = generate_tree(TreeSpec(root=tmp_path, sessions=60, seed=11, quirks=HEAVY))
    for quirk in (
        "split_responses",
        "partial_lines",
        "subagent_files",
        "progress_lines",
        "resumed_sessions",
        "resumed_copy_lines",
        "api_errors",
        "malformed_garbage",
        "malformed_invalid_utf8",
        "malformed_wrong_type",
        "malformed_torn",
        "mcp_tool_uses",
        "compactions",
    ):
        assert truth.quirks.get(quirk, 0) > 0, quirk
    lines = _lines(tmp_path)
    assistants = [(p, d) for p, d in lines if d.get("type") == "assistant"]
    by_key: dict[tuple[str, str | None], list[tuple[Path, dict[str, Any]]]] = defaultdict(list)
    for p, d in assistants:
        by_key[(d["message"]["id"], d.get("requestId"))].append((p, d))

    # (a) several lines per response repeating usage; (b) partials with smaller output.
    outs = [{d["message"]["usage"]["output_tokens"] for _, d in v} for v in by_key.values()]
    assert any(len(v) >= 3 for v in by_key.values())
    assert any(len(o) > 1 for o in outs)
    # (c) subagent files: isSidechain, agentId, the parent's sessionId, under <session>/subagents.
    subs = [(p, d) for p, d in lines if "subagents" in p.parts]
    assert subs and all(d["isSidechain"] is True and d["agentId"] for _, d in subs)
    assert all(d["sessionId"] == p.parent.parent.name for p, d in subs)
    assert all(p.name == f"agent-{d['agentId']}.jsonl" for p, d in subs)
    # (d) progress lines mirror subagent responses with the same message.id and requestId.
    sub_keys = {
        (d["message"]["id"], d.get("requestId")) for _, d in subs if d["type"] == "assistant"
    }
    mirrored = {
        (d["data"]["message"]["message"].get("id"), d["data"]["message"].get("requestId"))
        for _, d in lines
        if d.get("type") == "progress" and d["data"]["type"] == "agent_progress"
    }
    assert mirrored and {k for k in mirrored if k[1]} <= sub_keys
    # (e) resumed sessions: the same response, same timestamp, in two main transcripts.
    main_files = {p for p, _ in assistants if "subagents" not in p.parts}
    copied = [v for v in by_key.values() if len({p for p, _ in v if p in main_files}) > 1]
    assert copied
    assert all(
        len({d["timestamp"] for _, d in v if d["uuid"] == v[0][1]["uuid"]}) == 1 for v in copied
    )
    assert all(d["sessionId"] == p.stem for v in copied for p, d in v)  # rewritten sessionId
    # (f) synthetic API errors.
    errors = [d for _, d in assistants if d.get("isApiErrorMessage")]
    assert errors and all(d["message"]["model"] == "<synthetic>" for d in errors)
    assert all(d["message"]["usage"]["output_tokens"] == 0 for d in errors)
    # (h) all hours of the day, UTC 'Z' stamps; per-day views differ by time zone.
    hours = {d["timestamp"][11:13] for _, d in assistants}
    assert len(hours) == 24 and all(d["timestamp"].endswith("Z") for _, d in assistants)
    assert truth.per_day_utc != truth.per_day_local["Asia/Tokyo"]
    assert truth.per_day_utc != truth.per_day_local["America/Los_Angeles"]
    # (i) models and MCP tools.
    assert set(truth.per_model) >= {
        "claude-opus-4-7",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5-20251001",
        "<synthetic>",
    }
    assert any(n.startswith("mcp__") and n.count("__") == 2 for n in truth.tool_uses)
    # (j) 1-hour only, 5-minute only, and both cache writes.
    modes: dict[str, set[str]] = defaultdict(set)
    for _, d in assistants:
        cc = d["message"]["usage"]["cache_creation"]
        if cc["ephemeral_5m_input_tokens"]:
            modes[d["sessionId"] + d.get("agentId", "")].add("5m")
        if cc["ephemeral_1h_input_tokens"]:
            modes[d["sessionId"] + d.get("agentId", "")].add("1h")
    kinds = {frozenset(m) for m in modes.values()}
    assert {frozenset({"5m"}), frozenset({"1h"}), frozenset({"5m", "1h"})} <= kinds
    # (k) a cwd that does not encode to its folder; gitBranch present.
    folders = {(p.relative_to(tmp_path / "projects").parts[0], d["cwd"]) for p, d in assistants}
    assert any(encode_project(cwd) != folder for folder, cwd in folders)
    assert all(d["gitBranch"] for _, d in assistants)
    assert {"queue-operation", "last-prompt", "user", "progress", "system"} <= {
        d.get("type") for _, d in lines
    }


def test_line_shapes_follow_the_real_log(tmp_path: Path) -> None:
    real = [json.loads(x) for x in FIXTURE.read_text().splitlines()]
    generate_tree(TreeSpec(root=tmp_path, sessions=6, seed=12, quirks=QuirkRates(api_error=0)))
    ours = [d for _, d in _lines(tmp_path) if "agentId" not in d]

    def shape(d: dict[str, Any]) -> tuple[str, bool]:
        content = d.get("message", {}).get("content")
        return d["type"], isinstance(content, list) and content[0].get("type") == "tool_result"

    for want in real:
        got = next(d for d in ours if shape(d) == shape(want))
        assert set(want) <= set(got), (shape(want), set(want) - set(got))
        if want["type"] == "assistant":
            assert set(want["message"]) == set(got["message"])
            assert set(want["message"]["usage"]) == set(got["message"]["usage"])


def test_append_session_adds_one_session_with_its_truth(tmp_path: Path) -> None:
    truth = generate_tree(TreeSpec(root=tmp_path, sessions=8, seed=21, quirks=HEAVY))
    before = set((tmp_path / "projects").rglob("*.jsonl"))
    folder = sorted(truth.per_project)[0]
    original = next(s for s, p in truth.session_project.items() if p == folder)
    added = append_session(tmp_path, seed=99, project=folder, resume=original, quirks=HEAVY)
    new_mains = [
        p
        for p in set((tmp_path / "projects").rglob("*.jsonl")) - before
        if "subagents" not in p.parts
    ]
    assert len(new_mains) == 1 and new_mains[0].parent.name == folder
    assert set(added.per_session) == {new_mains[0].stem}
    assert added.quirks["resumed_sessions"] == 1
    truth.merge(added)
    counted, malformed = recount(tmp_path)
    assert _counted(counted) == _counted(truth.to_dict())
    assert malformed == _malformed_written(truth)
    again = append_session(tmp_path / "other", seed=99)
    assert again.totals.calls > 0 and again.per_session
