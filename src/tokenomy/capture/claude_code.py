"""Claude Code session logs: ``<config>/projects/<encoded cwd>/<session>.jsonl``.

One API response is written as several lines (one per content block) that share
``message.id`` + ``requestId`` and repeat the usage; it counts once, at its largest usage.
Subagent files (``<session>/subagents/agent-*.jsonl``, ``isSidechain``) are real calls of
the parent session. Copies of a response (a resumed session's replay, a ``progress`` entry
that embeds a subagent's message) share the key and so count once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenomy.capture.base import FileResult
from tokenomy.capture.fields import BadLineError, parse_timestamp_ms, project_name, token_count
from tokenomy.capture.filestate import ReadPlan, find_files, state_after_read
from tokenomy.capture.jsonl import (
    find_lines,
    looks_like_jsonl,
    parse_object,
    read_new,
    report_non_object_lines,
)
from tokenomy.capture.problems import Problem
from tokenomy.record import CallRecord, CostSource, Source, Status, TokenUsage, ToolUse

# Preference among copies of one response (higher wins, then the larger token total).
RANK_MAIN = 2
RANK_SIDECHAIN = 1
RANK_PROGRESS_COPY = 0

SYNTHETIC_MODEL = "<synthetic>"
_HTTP_STATUS = re.compile(r"\b([45]\d\d)\b")
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def anthropic_usage(usage: Mapping[str, Any]) -> TokenUsage:
    """Anthropic usage -> disjoint categories (cache writes split into 5-minute and 1-hour)."""
    g = usage.get
    inp, out = g("input_tokens", 0), g("output_tokens", 0)
    read, written = g("cache_read_input_tokens", 0), g("cache_creation_input_tokens", 0)
    if (
        not (type(inp) is int and type(out) is int and type(read) is int and type(written) is int)
        or min(inp, out, read, written) < 0
    ):
        # The slow path: null counts are 0, anything else is named in the error.
        inp, out = (
            token_count(usage, "input_tokens", "usage"),
            token_count(usage, "output_tokens", "usage"),
        )
        read = token_count(usage, "cache_read_input_tokens", "usage")
        written = token_count(usage, "cache_creation_input_tokens", "usage")
    write_1h = 0
    detail = g("cache_creation")
    if type(detail) is dict and detail.get("ephemeral_1h_input_tokens"):
        write_1h = min(token_count(detail, "ephemeral_1h_input_tokens", "usage"), written)
    reasoning = 0
    out_detail = g("output_tokens_details")
    if type(out_detail) is dict and out_detail.get("thinking_tokens"):
        reasoning = token_count(out_detail, "thinking_tokens", "usage")
    return TokenUsage(inp, read, written - write_1h, write_1h, out, reasoning)


def _project_folder(path: Path, root_hint: str | None) -> str:
    # <projects>/<folder>/<session>.jsonl or <projects>/<folder>/<session>/subagents/x.jsonl
    parts = path.parts
    if "subagents" in parts:
        i = len(parts) - 1 - parts[::-1].index("subagents")
        return parts[i - 2] if i >= 2 else path.parent.name
    return root_hint or path.parent.name


def _error_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                return str(block["text"])
    return content if isinstance(content, str) else ""


@dataclass(slots=True)
class Candidate:
    """One version of a response, as cheap as possible: most lines are duplicates (one per
    content block, streaming partials, copies), and only the best version becomes a record."""

    key: str
    rank: int
    usage: TokenUsage
    entry: Mapping[str, Any]
    message: Mapping[str, Any]
    offset: int  # where the line starts in the chunk, to name it if it turns out bad


def candidate(entry: Mapping[str, Any], rank: int, offset: int) -> Candidate | None:
    """The response an assistant entry belongs to, with its usage; None if it is no call."""
    message = entry.get("message")
    if type(message) is not dict:
        return None
    usage_raw = message.get("usage")
    if type(usage_raw) is not dict:
        if usage_raw is not None:
            raise BadLineError(f"message.usage is {type(usage_raw).__name__}, expected an object")
        if entry.get("isApiErrorMessage") is not True:
            return None
        usage_raw = {}
    msg_id = message.get("id")
    request_id = entry.get("requestId")
    if isinstance(msg_id, str) and isinstance(request_id, str):
        key = f"{msg_id}:{request_id}"
    elif isinstance(msg_id, str):
        key = msg_id  # API error lines carry no requestId
    elif isinstance(entry.get("uuid"), str):
        key = f"uuid:{entry['uuid']}"
    else:
        return None
    return Candidate(key, rank, anthropic_usage(usage_raw), entry, message, offset)


def tool_uses(message: Mapping[str, Any], key: str) -> list[ToolUse]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [
        ToolUse(b["name"], str(b.get("id") or f"{key}#{i}"))
        for i, b in enumerate(content)
        if isinstance(b, Mapping) and b.get("type") == "tool_use" and isinstance(b.get("name"), str)
    ]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def build_record(c: Candidate, project: str, file_session: str, tools: list[ToolUse]) -> CallRecord:
    """The call record for the best version of a response."""
    entry, message = c.entry, c.message
    model = _text(message.get("model"))
    is_error = entry.get("isApiErrorMessage") is True or model == SYNTHETIC_MODEL
    if is_error:
        model = None
    attributes: dict[str, Any] = {}
    for src, dst in (("cwd", "cwd"), ("gitBranch", "git_branch"), ("agentId", "agent_id")):
        value = _text(entry.get(src))
        if value:
            attributes[dst] = value
    if entry.get("isSidechain") is True:
        attributes["sidechain"] = True
    record = CallRecord(
        source=Source.CLAUDE_CODE,
        dedupe_key=c.key,
        started_at_ms=parse_timestamp_ms(entry.get("timestamp")),
        usage=c.usage,
        operation="chat",
        provider="anthropic",
        request_model=model,
        response_model=model,
        project=project,
        session_id=_text(entry.get("sessionId")) or file_session,
        finish_reason=_text(message.get("stop_reason")),
        tools=tools,
        attributes=attributes,
        dedupe_rank=c.rank,
    )
    if is_error:
        text = _error_text(message)
        record.status = Status.ERROR
        record.error_type = "api_error"
        match = _HTTP_STATUS.search(text)
        if match:
            record.http_status = int(match.group(1))
        record.usage = TokenUsage()
        record.cost_nanos = 0  # a failed call with no tokens costs nothing, knowingly
        record.cost_source = CostSource.COMPUTED
        if text:
            attributes["error"] = text[:300]
        return record
    cost = entry.get("costUSD")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        record.cost_nanos = round(cost * 1_000_000_000)
        record.cost_source = CostSource.REPORTED
    return record


class ClaudeCodeImporter:
    name = "claude-code"
    source: str = Source.CLAUDE_CODE

    def __init__(self) -> None:
        # Project names by (cwd, folder): thousands of lines share a handful of them.
        self._projects: dict[tuple[str, str], str] = {}

    def default_roots(self, env: Mapping[str, str], home: Path) -> list[Path]:
        configured = env.get("CLAUDE_CONFIG_DIR", "").strip()
        if configured:
            dirs = [Path(p.strip()).expanduser() for p in configured.split(",") if p.strip()]
        else:
            dirs = [home / ".claude", home / ".config" / "claude"]
        roots = []
        for d in dirs:
            # Accept either a config dir containing projects/ or the projects dir itself.
            roots.append(d / "projects" if (d / "projects").is_dir() else d)
        return [r for r in roots if r.is_dir()]

    def discover(self, roots: list[Path]) -> list[Path]:
        return find_files(roots, ".jsonl")

    def parse(self, plan: ReadPlan) -> FileResult:
        path = Path(plan.path)
        result = FileResult(plan.path)
        try:
            # Line numbers are counted only if a problem must be named (see Chunk.line_at).
            chunk = read_new(path, plan.start, 1 if plan.start == 0 else None)
        except OSError as exc:
            result.problems.append(Problem(plan.path, None, f"cannot read: {exc.strerror}"))
            return result
        result.bytes_read = len(chunk.data)
        state = state_after_read(plan, chunk.end, {})
        result.state = state
        if plan.start == 0 and not looks_like_jsonl(chunk):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Claude Code log, skipped"))
            return result
        folder = _project_folder(path, None)
        best: dict[str, Candidate] = {}
        tools: dict[str, dict[str, ToolUse]] = {}
        report_non_object_lines(chunk, plan.path, result.problems)
        for offset, line in find_lines(chunk, b'"usage"'):
            entry, problem = parse_object(plan.path, 0, line)
            if problem is not None:
                result.problems.append(Problem(plan.path, chunk.line_at(offset), problem.reason))
                continue
            assert entry is not None
            try:
                for c in self._candidates(entry, offset):
                    kept = best.get(c.key)
                    if kept is None or (c.rank, c.usage.total) > (kept.rank, kept.usage.total):
                        best[c.key] = c
                    if b'"tool_use"' in line:
                        uses = tools.setdefault(c.key, {})
                        for t in tool_uses(c.message, c.key):
                            uses.setdefault(t.use_id, t)
            except BadLineError as exc:
                result.problems.append(Problem(plan.path, chunk.line_at(offset), str(exc)))
        last_ts = 0
        for c in best.values():
            try:
                project = self._project(c.entry.get("cwd"), folder)
                used = list(tools[c.key].values()) if c.key in tools else []
                rec = build_record(c, project, path.stem, used)
            except BadLineError as exc:
                result.problems.append(Problem(plan.path, chunk.line_at(c.offset), str(exc)))
                continue
            result.records.append(rec)
            last_ts = max(last_ts, rec.started_at_ms)
        # Copies of a response in two files tie on rank and tokens: the file that ended
        # first (the original session, not a resumed copy) wins, in this run and later ones.
        for rec in result.records:
            rec.dedupe_order = last_ts
        if chunk.incomplete_tail:
            result.problems.append(
                Problem(
                    plan.path,
                    chunk.line_at(len(chunk.data)),
                    "incomplete last line, will be read when complete",
                )
            )
        result.problems.sort(key=lambda p: p.line or 0)
        return result

    def _project(self, cwd: object, folder: str) -> str:
        key = (cwd if isinstance(cwd, str) else "", folder)
        name = self._projects.get(key)
        if name is None:
            name = self._projects[key] = project_name(cwd, folder)
        return name

    def _candidates(self, entry: Mapping[str, Any], offset: int) -> list[Candidate]:
        kind = entry.get("type")
        if kind == "assistant" or entry.get("isApiErrorMessage") is True:
            rank = RANK_SIDECHAIN if entry.get("isSidechain") is True else RANK_MAIN
            c = candidate(entry, rank, offset)
            return [c] if c else []
        if kind == "progress":
            return [
                c
                for inner in _embedded_entries(entry)
                if (c := candidate(inner, RANK_PROGRESS_COPY, offset))
            ]
        return []


def _embedded_entries(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Assistant entries nested in a ``progress`` line (a subagent's messages, copied)."""
    data = entry.get("data")
    found: list[Mapping[str, Any]] = []
    if isinstance(data, Mapping):
        inner = data.get("message")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), Mapping):
            merged = dict(inner)
            merged.setdefault("sessionId", entry.get("sessionId"))
            merged.setdefault("cwd", entry.get("cwd"))
            merged.setdefault("timestamp", entry.get("timestamp"))
            found.append(merged)
    return found
