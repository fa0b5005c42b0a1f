"""Codex CLI session logs ("rollouts"): ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``.

Each line is ``{"timestamp", "type", "payload"}``. What matters here (openai/codex,
``codex-rs/protocol/src/protocol.rs``, ``codex-rs/protocol/src/models.rs``):

- ``session_meta``: ``payload.id`` (the session), ``cwd``, ``cli_version``, ``originator``.
- ``turn_context``: ``payload.model`` and ``cwd`` for the turns that follow.
- ``response_item`` of type ``function_call`` / ``custom_tool_call`` / ``local_shell_call`` /
  ``web_search_call``: the tools the model called.
- ``event_msg`` of type ``token_count``: ``info.total_token_usage`` is the session's running
  total. ``info.last_token_usage`` is absent in some versions and the same event is
  re-emitted with unchanged totals, so each call's usage is the *difference* between
  consecutive totals, which also makes the dedupe key (the running total) stable.

A forked session (``session_meta.forked_from_id``, Codex Desktop) starts its rollout with its
parent's ``token_count`` history replayed, then goes on from the parent's totals. Its calls are
keyed by the parent's id and the running total, ranked below the parent's own copy: the
replayed ones are the parent's calls (counted once, on the parent's session and day, in
whatever order the files are read); the fork's own turns, past the parent's totals, are its
own. (A fork of a fork is keyed by its direct parent only.) Totals that go down in one file
start a new count; the calls after each such reset are keyed apart, so a running total
seen before the reset cannot hide one after it.

``TokenUsage.non_cached_input()`` is ``input_tokens - cached_input_tokens``: cached input is
part of ``input_tokens``. ``cache_write_input_tokens`` (in rollouts from 0.146 on, always 0 in
the samples seen) is taken to be part of it too; ``reasoning_output_tokens`` is part of
``output_tokens``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenomy.capture.base import FileResult
from tokenomy.capture.fields import BadLineError, parse_timestamp_ms, project_name
from tokenomy.capture.filestate import ReadPlan, list_files, state_after_read
from tokenomy.capture.jsonl import count_lines, looks_like_jsonl, parse_object, read_new, scan_lines
from tokenomy.capture.problems import Problem
from tokenomy.capture.sniff import named_like_claude_code, named_like_codex, starts_a_codex_session
from tokenomy.record import MAX_TOKENS, CallRecord, Source, TokenUsage, ToolUse

# Some rollouts (Codex Desktop's, for one) have no turn_context and so name no model: they
# are priced as Codex's default model and flagged ``model_assumed``.
DEFAULT_MODEL = "gpt-5"

# Only these lines can change what is recorded; the rest (messages, tool output, reasoning
# text) is most of a rollout's bytes and is never parsed.
_NEEDLES = (b'"token_count"', b'"turn_context"', b'"session_meta"', b'_call"')

# Order of the running totals kept in the saved state.
_TOTAL_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
_INPUT, _CACHED, _WRITE, _OUTPUT, _REASONING, _TOTAL = range(6)

# Tool-call item types; the value names calls whose item carries no ``name``.
_TOOL_ITEMS: dict[str, str | None] = {
    "function_call": None,
    "custom_tool_call": None,
    "local_shell_call": "local_shell",
    "web_search_call": "web_search",
}

_UUID_TAIL = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I)

Totals = tuple[int, int, int, int, int, int]


@dataclass(slots=True)
class SessionMemory:
    """What one rollout has told us so far; saved so an incremental read continues exactly."""

    session_id: str | None = None
    model: str | None = None
    cwd: str | None = None
    cli_version: str | None = None
    originator: str | None = None
    totals: Totals | None = None
    # Tool calls seen since the last recorded call: they belong to the next one.
    pending_tools: list[ToolUse] = field(default_factory=list)
    forked_from: str | None = None  # the parent session of a fork (its history replayed)
    resets: int = 0  # how many times the running totals started again in this file

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> SessionMemory:
        def text(key: str) -> str | None:
            value = state.get(key)
            return value if isinstance(value, str) else None

        raw_totals = state.get("totals")
        totals: Totals | None = None
        if isinstance(raw_totals, list) and len(raw_totals) == len(_TOTAL_FIELDS):
            t = [int(v) for v in raw_totals]
            totals = (t[0], t[1], t[2], t[3], t[4], t[5])
        tools = [
            ToolUse(str(item[0]), str(item[1]))
            for item in state.get("pending_tools") or ()
            if isinstance(item, list) and len(item) == 2
        ]
        resets = state.get("resets")
        return cls(
            text("session_id"),
            text("model"),
            text("cwd"),
            text("cli_version"),
            text("originator"),
            totals,
            tools,
            text("forked_from"),
            resets if isinstance(resets, int) else 0,
        )

    def dump(self, lines: int) -> dict[str, Any]:
        return {
            "lines": lines,
            "session_id": self.session_id,
            "model": self.model,
            "cwd": self.cwd,
            "cli_version": self.cli_version,
            "originator": self.originator,
            "totals": list(self.totals) if self.totals is not None else None,
            "pending_tools": [[t.name, t.use_id] for t in self.pending_tools],
            "forked_from": self.forked_from,
            "resets": self.resets,
        }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _totals(usage: object) -> Totals:
    if not isinstance(usage, Mapping):
        raise BadLineError(f"info.total_token_usage is {type(usage).__name__}, expected an object")
    values: list[int] = []
    for key in _TOTAL_FIELDS:
        value = usage.get(key, 0)
        if value is None:
            value = 0
        if type(value) is not int or value < 0:
            raise BadLineError(
                f"info.total_token_usage.{key} is {value!r}, expected a non-negative integer"
            )
        if value > MAX_TOKENS:
            raise BadLineError(
                f"info.total_token_usage.{key} is {value}, more than {MAX_TOKENS:,} tokens"
            )
        values.append(value)
    if "total_tokens" not in usage:
        values[_TOTAL] = values[_INPUT] + values[_OUTPUT]
    return (values[0], values[1], values[2], values[3], values[4], values[5])


def _delta(previous: Totals | None, current: Totals) -> Totals:
    """This call's share of the running totals.

    Totals that went down mean a new context in the same file (a resumed or reset session
    starts counting again): the new totals are then the usage since zero.
    """
    if previous is None or any(c < p for c, p in zip(current, previous, strict=True)):
        return current
    d = [c - p for c, p in zip(current, previous, strict=True)]
    return (d[0], d[1], d[2], d[3], d[4], d[5])


def usage_from_delta(d: Totals) -> TokenUsage:
    """Codex counts cache reads and writes inside input: split them out, never below zero."""
    cached = min(d[_CACHED], d[_INPUT])
    written = min(d[_WRITE], d[_INPUT] - cached)
    return TokenUsage(
        input_tokens=d[_INPUT] - cached - written,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=d[_OUTPUT],
        reasoning_tokens=min(d[_REASONING], d[_OUTPUT]),
    )


def _session_from_name(path: Path) -> str:
    match = _UUID_TAIL.search(path.stem)
    return match.group(1) if match else path.stem


class CodexImporter:
    name = "codex"
    source: str = Source.CODEX

    def default_roots(self, env: Mapping[str, str], home: Path) -> list[Path]:
        configured = env.get("CODEX_HOME", "").strip()
        base = Path(configured).expanduser() if configured else home / ".codex"
        roots = [base / "sessions", base / "archived_sessions"]
        return [r for r in roots if r.is_dir()]

    def discover(self, roots: list[Path]) -> list[Path]:
        # Codex names every session file rollout-<time>-<id>.jsonl. A renamed copy (moved
        # from another machine, a fixture) is known by its first line; files named like
        # Claude Code's (a tree given with --path, thousands of them) are not even opened.
        found = []
        for p in list_files(roots):
            if not p.endswith(".jsonl"):
                continue
            name = p.rpartition(os.sep)[2]
            if named_like_codex(name) or (
                not named_like_claude_code(name) and starts_a_codex_session(p)
            ):
                found.append(Path(p))
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
        # A read from the start (new or rewritten file) must not inherit old running totals.
        resuming = plan.prior is not None and plan.start > 0
        memory = (
            SessionMemory.load(plan.prior.state) if plan.prior and resuming else SessionMemory()
        )
        lines = prior_lines + count_lines(chunk)
        state = state_after_read(plan, chunk.end, memory.dump(lines), chunk.data)
        result.state = state
        if plan.start == 0 and not looks_like_jsonl(chunk):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Codex rollout, skipped"))
            return result
        fallback_session = _session_from_name(path)
        for lineno, line in scan_lines(chunk, plan.path, _NEEDLES, result.problems):
            entry, problem = parse_object(plan.path, lineno, line)
            if problem is not None:
                result.problems.append(problem)
                continue
            assert entry is not None
            try:
                rec = self._apply(entry, memory, fallback_session)
            except BadLineError as exc:
                result.problems.append(Problem(plan.path, lineno, str(exc)))
                continue
            if rec is not None:
                result.records.append(rec)
        if chunk.incomplete_tail:
            result.problems.append(
                Problem(plan.path, lines + 1, "incomplete last line, will be read when complete")
            )
        state.state.update(memory.dump(lines))
        return result

    def _apply(
        self, entry: Mapping[str, Any], memory: SessionMemory, fallback_session: str
    ) -> CallRecord | None:
        """Fold one line into ``memory``; the call record if the line completes a call."""
        payload = entry.get("payload")
        if not isinstance(payload, Mapping):
            return None
        kind = entry.get("type")
        if kind == "session_meta":
            meta_id = _text(payload.get("id")) or _text(payload.get("session_id"))
            if memory.forked_from is not None and meta_id == memory.forked_from:
                return None  # the parent's meta, copied into the fork: still the fork
            memory.session_id = meta_id
            memory.forked_from = _text(payload.get("forked_from_id")) or memory.forked_from
            memory.cwd = _text(payload.get("cwd")) or memory.cwd
            memory.cli_version = _text(payload.get("cli_version")) or memory.cli_version
            memory.originator = _text(payload.get("originator")) or memory.originator
        elif kind == "turn_context":
            model = _text(payload.get("model"))
            mode = payload.get("collaboration_mode")
            if model is None and isinstance(mode, Mapping):
                settings = mode.get("settings")
                if isinstance(settings, Mapping):
                    model = _text(settings.get("model"))
            memory.model = model or memory.model
            memory.cwd = _text(payload.get("cwd")) or memory.cwd
        elif kind == "response_item" and payload.get("type") in _TOOL_ITEMS:
            self._note_tool(payload, entry, memory)
        elif kind == "event_msg" and payload.get("type") == "token_count":
            return self._call(payload, entry, memory, fallback_session)
        return None

    def _note_tool(
        self, payload: Mapping[str, Any], entry: Mapping[str, Any], memory: SessionMemory
    ) -> None:
        item_type = str(payload.get("type"))
        name = _text(payload.get("name")) or _TOOL_ITEMS[item_type]
        if name is None:
            return
        # Older rollouts drop the item ``id``; the timestamp keeps the use id stable on re-read.
        use_id = (
            _text(payload.get("call_id"))
            or _text(payload.get("id"))
            or f"{item_type}@{entry.get('timestamp')}#{len(memory.pending_tools)}"
        )
        memory.pending_tools.append(ToolUse(name, use_id))

    def _call(
        self,
        payload: Mapping[str, Any],
        entry: Mapping[str, Any],
        memory: SessionMemory,
        fallback_session: str,
    ) -> CallRecord | None:
        info = payload.get("info")
        if info is None:
            return None  # a rate-limit-only update: no tokens were spent
        if not isinstance(info, Mapping):
            raise BadLineError(f"info is {type(info).__name__}, expected an object")
        if "total_token_usage" not in info:
            raise BadLineError("token_count without info.total_token_usage")
        current = _totals(info.get("total_token_usage"))
        started = parse_timestamp_ms(entry.get("timestamp"))
        # Only a fully valid event moves the running totals: a bad one's tokens then land
        # in the next call instead of being lost.
        previous = memory.totals
        delta = _delta(previous, current)
        if previous is not None and any(c < p for c, p in zip(current, previous, strict=True)):
            memory.resets += 1  # the totals went down: a new count (see _delta)
        memory.totals = current
        if not any(delta):
            return None  # the same totals emitted again
        session = memory.session_id or fallback_session
        attributes: dict[str, Any] = {}
        for key in ("cwd", "cli_version", "originator"):
            value = getattr(memory, key)
            if value:
                attributes[key] = value
        model = memory.model
        if model is None:
            model = DEFAULT_MODEL
            attributes["model_assumed"] = True
        tools, memory.pending_tools = memory.pending_tools, []
        # A fork's calls under its parent's key: its replayed history is the parent's.
        lineage = memory.forked_from or session
        epoch = f"r{memory.resets}:" if memory.resets else ""
        return CallRecord(
            source=Source.CODEX,
            dedupe_key=f"{lineage}:{epoch}{current[_TOTAL]}",
            # Below the parent's own copy, which wins a replayed call in any order.
            dedupe_rank=-1 if memory.forked_from else 0,
            started_at_ms=started,
            usage=usage_from_delta(delta),
            operation="chat",
            provider="openai",
            request_model=model,
            response_model=model,
            project=project_name(memory.cwd, "") or None,
            project_path=memory.cwd,
            session_id=session,
            tools=tools,
            attributes=attributes,
        )
