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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any

import msgspec
import orjson

from tokenomy.capture.base import FileResult
from tokenomy.capture.fields import BadLineError, parse_timestamp_ms, project_name, token_count
from tokenomy.capture.filestate import ReadPlan, find_files, state_after_read
from tokenomy.capture.jsonl import (
    MAX_LINE_BYTES,
    looks_like_jsonl,
    object_lines_with,
    parse_object,
    read_new,
)
from tokenomy.capture.problems import Problem
from tokenomy.capture.sniff import (
    named_like_claude_code,
    named_like_codex,
    starts_a_codex_session,
    starts_a_gemini_chat,
)
from tokenomy.record import (
    MAX_TOKENS,
    PRICE_VARIANT,
    WEB_SEARCHES,
    CallRecord,
    CostSource,
    Source,
    Status,
    TokenUsage,
    ToolUse,
)

# Preference among copies of one response (higher wins, then the larger token total).
RANK_MAIN = 2
RANK_SIDECHAIN = 1
RANK_PROGRESS_COPY = 0

SYNTHETIC_MODEL = "<synthetic>"
_HTTP_STATUS = re.compile(r"\b([45]\d\d)\b")
_ENCODED = re.compile(r"[^A-Za-z0-9]")  # how Claude Code names a project's folder
# The fields of a log line that matter, as typed structs: msgspec decodes a line straight
# into them, skipping everything else (content text, tool inputs) without building Python
# objects for it. That is about half the cost of a generic JSON parse, and what follows
# needs no type checks. A line that does not fit (wrong types, torn JSON) takes the lenient
# path below, which either names what is wrong or keeps what is usable.
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]


class CacheCreation(msgspec.Struct, gc=False):
    ephemeral_1h_input_tokens: Count | None = None


class OutputDetails(msgspec.Struct, gc=False):
    thinking_tokens: Count | None = None


class ServerToolUse(msgspec.Struct, gc=False):
    web_search_requests: Count | None = None


class Usage(msgspec.Struct, gc=False):
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_creation: CacheCreation | None = None
    output_tokens_details: OutputDetails | None = None
    speed: str | None = None  # "fast": fast mode, billed at its own prices
    server_tool_use: ServerToolUse | None = None  # web searches, billed per search


class Block(msgspec.Struct, gc=False):
    type: str | None = None
    id: str | None = None
    name: str | None = None
    text: msgspec.Raw = msgspec.Raw()  # decoded only for the rare API error message


class Message(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    content: list[Block] | str | None = None
    stop_reason: str | None = None


class ProgressData(msgspec.Struct, gc=False):
    message: Entry | None = None  # a subagent's assistant entry, copied


class Entry(msgspec.Struct, gc=False):
    type: str | None = None
    message: Message | None = None
    data: ProgressData | None = None
    isSidechain: bool | None = None  # noqa: N815 (the log's own names)
    isApiErrorMessage: bool | None = None  # noqa: N815
    requestId: str | None = None  # noqa: N815
    uuid: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None  # noqa: N815
    cwd: str | None = None
    gitBranch: str | None = None  # noqa: N815
    agentId: str | None = None  # noqa: N815
    costUSD: float | None = None  # noqa: N815


_decode_entry = msgspec.json.Decoder(Entry).decode


def _is_call_entry(d: Mapping[str, Any]) -> bool:
    return d.get("type") == "assistant" or d.get("isApiErrorMessage") is True


def lenient_entry(d: Mapping[str, Any]) -> Entry:
    """An entry from a generic parse of a line that did not fit the structs: values of the
    wrong type are dropped, except where they make a call's line wrong, which is named."""

    def text(key: str) -> str | None:
        v = d.get(key)
        return v if isinstance(v, str) else None

    def flag(key: str) -> bool | None:
        v = d.get(key)
        return v if isinstance(v, bool) else None

    stamp = d.get("timestamp")
    if stamp is not None and not isinstance(stamp, str) and _is_call_entry(d):
        raise BadLineError(f"timestamp is {type(stamp).__name__}, expected an ISO 8601 string")
    cost = d.get("costUSD")
    data = d.get("data")
    inner = data.get("message") if isinstance(data, Mapping) else None
    return Entry(
        type=text("type"),
        message=_lenient_message(d.get("message"), strict=_is_call_entry(d)),
        data=ProgressData(lenient_entry(inner)) if isinstance(inner, Mapping) else None,
        isSidechain=flag("isSidechain"),
        isApiErrorMessage=flag("isApiErrorMessage"),
        requestId=text("requestId"),
        uuid=text("uuid"),
        timestamp=text("timestamp"),
        sessionId=text("sessionId"),
        cwd=text("cwd"),
        gitBranch=text("gitBranch"),
        agentId=text("agentId"),
        costUSD=float(cost)
        if isinstance(cost, int | float) and not isinstance(cost, bool)
        else None,
    )


def _lenient_message(m: object, *, strict: bool) -> Message | None:
    if not isinstance(m, Mapping):
        return None
    raw = m.get("usage")
    usage: Usage | None = None
    if isinstance(raw, Mapping):
        usage = _lenient_usage(raw)
    elif raw is not None and strict:
        raise BadLineError(f"message.usage is {type(raw).__name__}, expected an object")
    content = m.get("content")
    blocks: list[Block] | str | None = content if isinstance(content, str) else None
    if isinstance(content, list):
        blocks = []
        for b in content:
            if isinstance(b, Mapping):
                t, i, n, x = b.get("type"), b.get("id"), b.get("name"), b.get("text")
                blocks.append(
                    Block(
                        t if isinstance(t, str) else None,
                        i if isinstance(i, str) else None,
                        n if isinstance(n, str) else None,
                        msgspec.Raw(orjson.dumps(x)) if isinstance(x, str) else msgspec.Raw(),
                    )
                )

    def text(key: str) -> str | None:
        v = m.get(key)
        return v if isinstance(v, str) else None

    return Message(text("id"), text("model"), usage, blocks, text("stop_reason"))


def _lenient_usage(u: Mapping[str, Any]) -> Usage:
    # token_count names a bad count (null is 0, anything else is an error).
    cc, od = u.get("cache_creation"), u.get("output_tokens_details")
    return Usage(
        token_count(u, "input_tokens", "usage"),
        token_count(u, "output_tokens", "usage"),
        token_count(u, "cache_read_input_tokens", "usage"),
        token_count(u, "cache_creation_input_tokens", "usage"),
        CacheCreation(token_count(cc, "ephemeral_1h_input_tokens", "usage"))
        if isinstance(cc, Mapping)
        else None,
        OutputDetails(token_count(od, "thinking_tokens", "usage"))
        if isinstance(od, Mapping)
        else None,
        u["speed"] if isinstance(u.get("speed"), str) else None,
        ServerToolUse(token_count(st, "web_search_requests", "usage.server_tool_use"))
        if isinstance(st := u.get("server_tool_use"), Mapping)
        else None,
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def read_entry(path: str, line: bytes) -> tuple[Entry | None, str | None]:
    """The entry a line holds, or the reason it cannot be read."""
    # msgspec does not check the UTF-8 of strings it skips; orjson (below) names it.
    if len(line) <= MAX_LINE_BYTES and (line.isascii() or _is_utf8(line)):
        try:
            return _decode_entry(line), None
        except msgspec.MsgspecError:
            pass  # the lenient path says why, or keeps what it can
    d, problem = parse_object(path, 0, line)
    if problem is not None:
        return None, problem.reason
    assert d is not None
    try:
        return lenient_entry(d), None
    except BadLineError as exc:
        return None, str(exc)


def anthropic_usage(u: Usage) -> TokenUsage:
    """Anthropic usage -> disjoint categories (cache writes split into 5-minute and 1-hour)."""
    written = u.cache_creation_input_tokens or 0
    write_1h = 0
    if u.cache_creation is not None and u.cache_creation.ephemeral_1h_input_tokens:
        write_1h = min(u.cache_creation.ephemeral_1h_input_tokens, written)
    reasoning = 0
    if u.output_tokens_details is not None:
        reasoning = u.output_tokens_details.thinking_tokens or 0
    return TokenUsage(
        u.input_tokens or 0,
        u.cache_read_input_tokens or 0,
        written - write_1h,
        write_1h,
        u.output_tokens or 0,
        reasoning,
    )


def _project_folder(path: Path, root_hint: str | None) -> str:
    # <projects>/<folder>/<session>.jsonl or <projects>/<folder>/<session>/subagents/x.jsonl
    parts = path.parts
    if "subagents" in parts:
        i = len(parts) - 1 - parts[::-1].index("subagents")
        return parts[i - 2] if i >= 2 else path.parent.name
    return root_hint or path.parent.name


def _error_text(message: Message) -> str:
    content = message.content
    if isinstance(content, list):
        for block in content:
            if block.text:
                value = msgspec.json.decode(block.text)
                if isinstance(value, str):
                    return value
    return content if isinstance(content, str) else ""


@dataclass(slots=True)
class Candidate:
    """The best version so far of one response. Most lines are other versions of a response
    (one per content block, streaming partials, copies), so only the key, rank and token
    total are worked out per line; the record is built once, from the winner."""

    key: str
    rank: int
    total: int
    entry: Entry
    message: Message
    offset: int  # where the line starts in the chunk, to name it if it turns out bad


def response_key(entry: Entry, message: Message) -> str | None:
    """``message.id`` + ``requestId``: the same for every line and copy of one response."""
    msg_id, request_id = message.id, entry.requestId
    if msg_id is not None and request_id is not None:
        return f"{msg_id}:{request_id}"
    if msg_id is not None:
        return msg_id  # API error lines carry no requestId
    if entry.uuid is not None:
        return f"uuid:{entry.uuid}"
    return None


def call_entry(entry: Entry) -> tuple[Entry, int] | None:
    """The assistant entry a line carries (its own, or a subagent's copied into a
    ``progress`` line) and how it ranks among copies; None for any other line."""
    kind = entry.type
    if kind == "assistant" or entry.isApiErrorMessage is True:
        return entry, RANK_SIDECHAIN if entry.isSidechain is True else RANK_MAIN
    if kind == "progress" and entry.data is not None and entry.data.message is not None:
        # The copy carries no session, place or time of its own where the outer line has.
        inner = entry.data.message
        inner.sessionId = inner.sessionId or entry.sessionId
        inner.cwd = inner.cwd or entry.cwd
        inner.timestamp = inner.timestamp or entry.timestamp
        return inner, RANK_PROGRESS_COPY
    return None


def tool_uses(message: Message, key: str) -> list[ToolUse]:
    content = message.content
    if not isinstance(content, list):
        return []
    return [
        ToolUse(b.name, b.id or f"{key}#{i}")
        for i, b in enumerate(content)
        if b.type == "tool_use" and b.name is not None
    ]


def build_record(
    c: Candidate,
    project: str,
    file_session: str,
    tools: list[ToolUse],
    project_path: str | None = None,
) -> CallRecord:
    """The call record for the best version of a response."""
    entry, message = c.entry, c.message
    model = message.model or None
    is_error = entry.isApiErrorMessage is True or model == SYNTHETIC_MODEL
    if is_error:
        model = None
    attributes: dict[str, Any] = {}
    if entry.cwd:
        attributes["cwd"] = entry.cwd
    if entry.gitBranch:
        attributes["git_branch"] = entry.gitBranch
    if entry.agentId:
        attributes["agent_id"] = entry.agentId
    if entry.isSidechain is True:
        attributes["sidechain"] = True
    usage = message.usage
    if usage is not None and usage.speed and usage.speed != "standard":
        attributes[PRICE_VARIANT] = f"speed={usage.speed}"
    if usage is not None and usage.server_tool_use is not None:
        searches = usage.server_tool_use.web_search_requests or 0
        if searches:
            attributes[WEB_SEARCHES] = searches
    record = CallRecord(
        source=Source.CLAUDE_CODE,
        dedupe_key=c.key,
        started_at_ms=parse_timestamp_ms(entry.timestamp),
        usage=anthropic_usage(message.usage) if message.usage is not None else TokenUsage(),
        operation="chat",
        provider="anthropic",
        request_model=model,
        response_model=model,
        project=project,
        project_path=project_path,
        session_id=entry.sessionId or file_session,
        finish_reason=message.stop_reason or None,
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
    cost = entry.costUSD
    if cost is not None and cost >= 0:
        record.cost_nanos = round(cost * 1_000_000_000)
        record.cost_source = CostSource.REPORTED
    return record


def _another_agents(path: str) -> bool:
    """A Codex rollout or a Gemini CLI chat, by its name or its first bytes."""
    name = path.rpartition(os.sep)[2]
    if named_like_claude_code(name):
        return False
    return named_like_codex(name) or starts_a_codex_session(path) or starts_a_gemini_chat(path)


class ClaudeCodeImporter:
    name = "claude-code"
    source: str = Source.CLAUDE_CODE

    def __init__(self) -> None:
        # The project of each folder under projects/ (docs/claude-code-logs.md, section 1):
        # its name and the directory it stands for.
        self._projects: dict[str, tuple[str, str]] = {}

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

    def discover(self, roots: list[Path]) -> list[str]:
        # Every .jsonl but another agent's: Claude Code names its logs <uuid>.jsonl and
        # agent-<id>.jsonl (taken unopened); a tree given with --path may hold Codex
        # rollouts and Gemini CLI chats, which are theirs to count and read.
        return [p for p in find_files(roots, ".jsonl") if not _another_agents(p)]

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
        state = state_after_read(plan, chunk.end, {}, chunk.data)
        result.state = state
        if plan.start == 0 and not looks_like_jsonl(chunk):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Claude Code log, skipped"))
            return result
        folder = _project_folder(path, None)
        best: dict[str, Candidate] = {}
        tools: dict[str, dict[str, ToolUse]] = {}
        # The loop runs once per line that mentions usage (most of a log's responses, each
        # several times over): it does only what picks the winning line of each response.
        decode = _decode_entry
        for offset, line in object_lines_with(chunk, b'"usage"', plan.path, result.problems):
            # read_entry's first step, inline: it runs for every line that mentions usage.
            entry: Entry | None = None
            if line.isascii() and len(line) <= MAX_LINE_BYTES:
                try:
                    entry = decode(line)
                except msgspec.MsgspecError:
                    entry = None  # the lenient path says why, or keeps what it can
            if entry is None:
                entry, reason = read_entry(plan.path, line)
                if entry is None:
                    result.problems.append(Problem(plan.path, chunk.line_at(offset), str(reason)))
                    continue
            if entry.type == "assistant" or entry.isApiErrorMessage is True:
                rank = RANK_SIDECHAIN if entry.isSidechain is True else RANK_MAIN
            else:
                found = call_entry(entry)
                if found is None:
                    continue
                entry, rank = found
            message = entry.message
            if message is None:
                continue
            u = message.usage
            if u is None and entry.isApiErrorMessage is not True:
                continue
            key = response_key(entry, message)
            if key is None:
                continue
            total = (
                0
                if u is None
                else (u.input_tokens or 0)
                + (u.output_tokens or 0)
                + (u.cache_read_input_tokens or 0)
                + (u.cache_creation_input_tokens or 0)
            )
            kept = best.get(key)
            if kept is None or (rank, total) > (kept.rank, kept.total):
                best[key] = Candidate(key, rank, total, entry, message, offset)
            content = message.content
            if type(content) is list:
                for block in content:
                    if block.type == "tool_use":
                        uses = tools.setdefault(key, {})
                        for t in tool_uses(message, key):
                            uses.setdefault(t.use_id, t)
                        break
        file_session = path.stem
        last_ts = 0
        if folder not in self._projects:
            self._name_project(folder, (c.entry.cwd for c in best.values()))
        project, project_path = self._projects.get(folder) or (project_name(None, folder), None)
        for c in best.values():
            try:
                used = list(tools[c.key].values()) if c.key in tools else []
                rec = build_record(c, project, file_session, used, project_path)
            except BadLineError as exc:
                result.problems.append(Problem(plan.path, chunk.line_at(c.offset), str(exc)))
                continue
            result.records.append(rec)
            last_ts = max(last_ts, rec.started_at_ms)
        # Copies of a response in two files tie on rank and tokens: the file that ended
        # first (the original session, not a resumed copy) wins, in this run and later ones.
        # Its end is its last line's time, a user's prompt included: a resumed file read
        # before its first reply holds only the replayed responses, whose times are the
        # original's, and the prompt after them is what tells the copy apart.
        ended = max(last_ts, _last_timestamp(chunk.data))
        for rec in result.records:
            rec.dedupe_order = ended
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

    def _name_project(self, folder: str, cwds: Iterable[object]) -> None:
        """Calls are grouped by their folder, not by each line's ``cwd``: a session may
        ``cd`` elsewhere or run in a worktree (``.../fix`` in two projects must not merge
        them). The folder is the launch directory with every non-alphanumeric character
        made ``-``, so its readable name is the last part of a ``cwd`` (or of a directory
        above it: a worktree or subdirectory of the project) that encodes to it; without
        one, the folder's last ``-``-separated part. Two directories with the same last
        part get unique names when their calls are written (store/project_names.py)."""
        for cwd in sorted({c for c in cwds if isinstance(c, str) and c}):
            pure = PureWindowsPath(cwd) if "\\" in cwd else PurePosixPath(cwd)
            for place in (pure, *pure.parents):
                if _ENCODED.sub("-", str(place)) == folder and place.name:
                    self._projects[folder] = (place.name, str(place))
                    return


_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]{10,40})"')


def _last_timestamp(data: bytes, tail: int = 65_536) -> int:
    """The time of the last line in ``data`` that has one (ms; 0 if none), read from the
    end, so a file's end is found without decoding every line."""
    for line in reversed(data[-tail:].split(b"\n")):
        found = _TIMESTAMP.search(line)
        if found is None:
            continue
        try:
            return parse_timestamp_ms(found.group(1).decode("ascii", "replace"))
        except BadLineError:
            continue
    return 0
