"""Claude Code session logs: ``<config>/projects/<encoded cwd>/<session>.jsonl``.

One API response is written as several lines (one per content block) that share
``message.id`` + ``requestId`` and repeat the usage; it counts once, at its largest usage.
Subagent files (``<session>/subagents/agent-*.jsonl``, ``isSidechain``) are real calls of
the parent session. Copies of a response (a resumed session's replay, a ``progress`` entry
that embeds a subagent's message) share the key and so count once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokenomy.capture.base import FileResult
from tokenomy.capture.fields import BadLineError, parse_timestamp_ms, project_name
from tokenomy.capture.filestate import ReadPlan, state_after_read
from tokenomy.capture.jsonl import count_lines, looks_like_jsonl, parse_object, read_new, scan_lines
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


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key, 0)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise BadLineError(f"usage.{key} is {value!r}, expected a non-negative integer")
    return value


def anthropic_usage(usage: Mapping[str, Any]) -> TokenUsage:
    """Anthropic usage -> disjoint categories (cache writes split into 5-minute and 1-hour)."""
    written = _count(usage, "cache_creation_input_tokens")
    detail = usage.get("cache_creation")
    write_1h = 0
    if isinstance(detail, Mapping):
        write_1h = min(_count(detail, "ephemeral_1h_input_tokens"), written)
    reasoning = 0
    out_detail = usage.get("output_tokens_details")
    if isinstance(out_detail, Mapping):
        reasoning = _count(out_detail, "thinking_tokens")
    return TokenUsage(
        input_tokens=_count(usage, "input_tokens"),
        cache_read_tokens=_count(usage, "cache_read_input_tokens"),
        cache_write_tokens=written - write_1h,
        cache_write_1h_tokens=write_1h,
        output_tokens=_count(usage, "output_tokens"),
        reasoning_tokens=reasoning,
    )


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


def record_from_entry(
    entry: Mapping[str, Any], *, rank: int, folder: str, file_session: str
) -> CallRecord | None:
    """The call record for one assistant entry, or None if the entry carries no call."""
    message = entry.get("message")
    if not isinstance(message, Mapping):
        return None
    usage_raw = message.get("usage")
    is_error = entry.get("isApiErrorMessage") is True
    if not isinstance(usage_raw, Mapping):
        if usage_raw is not None:
            raise BadLineError(f"message.usage is {type(usage_raw).__name__}, expected an object")
        if not is_error:
            return None
        usage_raw = {}
    usage = anthropic_usage(usage_raw)
    started = parse_timestamp_ms(entry.get("timestamp"))
    msg_id = message.get("id")
    request_id = entry.get("requestId")
    if isinstance(msg_id, str) and isinstance(request_id, str):
        key = f"{msg_id}:{request_id}"
    elif isinstance(msg_id, str):
        key = msg_id
    elif isinstance(entry.get("uuid"), str):
        key = f"uuid:{entry['uuid']}"
    else:
        return None
    model = message.get("model")
    model = model if isinstance(model, str) else None
    is_error = is_error or model == SYNTHETIC_MODEL
    tools = [
        ToolUse(str(b["name"]), str(b.get("id") or f"{key}#{i}"))
        for i, b in enumerate(message.get("content") or ())
        if isinstance(b, Mapping) and b.get("type") == "tool_use" and isinstance(b.get("name"), str)
    ]
    session = entry.get("sessionId")
    attributes: dict[str, Any] = {}
    for src, dst in (("cwd", "cwd"), ("gitBranch", "git_branch"), ("agentId", "agent_id")):
        value = entry.get(src)
        if isinstance(value, str) and value:
            attributes[dst] = value
    if entry.get("isSidechain") is True:
        attributes["sidechain"] = True
    record = CallRecord(
        source=Source.CLAUDE_CODE,
        dedupe_key=key,
        started_at_ms=started,
        usage=usage,
        operation="chat",
        provider="anthropic",
        request_model=None if model == SYNTHETIC_MODEL else model,
        response_model=None if model == SYNTHETIC_MODEL else model,
        project=project_name(entry.get("cwd"), folder),
        session_id=session if isinstance(session, str) and session else file_session,
        finish_reason=message.get("stop_reason")
        if isinstance(message.get("stop_reason"), str)
        else None,
        tools=tools,
        attributes=attributes,
        dedupe_rank=rank,
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
    cost = entry.get("costUSD")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0 and not is_error:
        record.cost_nanos = round(cost * 1_000_000_000)
        record.cost_source = CostSource.REPORTED
    return record


class ClaudeCodeImporter:
    name = "claude-code"
    source: str = Source.CLAUDE_CODE

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
        found: list[Path] = []
        for root in roots:
            for dirpath, _dirs, files in os.walk(root):
                found.extend(Path(dirpath, f) for f in files if f.endswith(".jsonl"))
        return found

    def parse(self, plan: ReadPlan) -> FileResult:
        path = Path(plan.path)
        result = FileResult(plan.path)
        prior_lines = plan.prior.lines if plan.prior else 0
        try:
            chunk = read_new(path, plan.start, prior_lines + 1)
        except OSError as exc:
            result.problems.append(Problem(plan.path, None, f"cannot read: {exc.strerror}"))
            return result
        result.bytes_read = len(chunk.data)
        state = state_after_read(plan, chunk.end, {"lines": prior_lines + count_lines(chunk)})
        result.state = state
        if plan.start == 0 and not looks_like_jsonl(chunk):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Claude Code log, skipped"))
            return result
        folder = _project_folder(path, None)
        file_session = path.stem
        last_ts = 0
        for lineno, line in scan_lines(chunk, plan.path, b'"usage"', result.problems):
            entry, problem = parse_object(plan.path, lineno, line)
            if problem is not None:
                result.problems.append(problem)
                continue
            assert entry is not None
            try:
                for rec in self._records(entry, folder, file_session):
                    result.records.append(rec)
                    last_ts = max(last_ts, rec.started_at_ms)
            except BadLineError as exc:
                result.problems.append(Problem(plan.path, lineno, str(exc)))
        if chunk.incomplete_tail:
            result.problems.append(
                Problem(
                    plan.path, state.lines + 1, "incomplete last line, will be read when complete"
                )
            )
        result.order_key = last_ts
        return result

    def _records(self, entry: Mapping[str, Any], folder: str, session: str) -> list[CallRecord]:
        kind = entry.get("type")
        if kind == "assistant" or entry.get("isApiErrorMessage") is True:
            rank = RANK_SIDECHAIN if entry.get("isSidechain") is True else RANK_MAIN
            rec = record_from_entry(entry, rank=rank, folder=folder, file_session=session)
            return [rec] if rec else []
        if kind == "progress":
            return [
                rec
                for inner in _embedded_entries(entry)
                if (
                    rec := record_from_entry(
                        inner, rank=RANK_PROGRESS_COPY, folder=folder, file_session=session
                    )
                )
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
