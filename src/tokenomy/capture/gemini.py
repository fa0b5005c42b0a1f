"""Gemini CLI chat recordings: ``~/.gemini/tmp/<project>/chats/session-*.json[l]``.

Format, from google-gemini/gemini-cli ``packages/core/src/services/chatRecordingService.ts``
and ``chatRecordingTypes.ts``:

- A conversation is ``{sessionId, projectHash, startTime, lastUpdated, messages, summary?,
  directories?, kind?}``; a message is ``{id, timestamp, type, content, ...}`` and a
  ``type: "gemini"`` message adds ``toolCalls: [{id, name, ...}]``, ``thoughts``, ``model``
  and ``tokens: {input, output, cached, thoughts, tool, total}``, copied from the API's
  ``usageMetadata`` (prompt, candidates, cachedContent, thoughts, toolUsePrompt, total
  token counts) by ``recordMessageTokens``.
- Older versions rewrite one pretty-printed JSON file (``.json``) on every update; it is
  read whole whenever it changes, and the dedupe key (session + message id) absorbs the
  repeats.
- Current versions append JSON lines (``.jsonl``): a metadata line, then each message again
  every time it changes (tokens and tool calls arrive after the text), ``{"$set": {...}}``
  metadata updates (possibly the whole ``messages`` list) and ``{"$rewindTo": id}``.
  A rewound message was still billed, so it is kept. Subagents write
  ``chats/<parent session>/<session>.jsonl``.
- ``<project>`` is a hash of the project path in older versions and a slug in newer ones,
  with the path itself in ``tmp/<project>/.project_root`` (``config/projectRegistry.ts``).
- ``GEMINI_CLI_HOME`` replaces the home directory (``utils/paths.ts``: ``homedir()``).

Token arithmetic (Gemini API ``UsageMetadata``): ``promptTokenCount`` includes
``cachedContentTokenCount``; ``thoughtsTokenCount`` and ``toolUsePromptTokenCount`` are
outside both prompt and candidates, and ``totalTokenCount`` is the sum of prompt,
candidates, thoughts and tool-use prompt. Thoughts are billed as output; tool-use prompt
tokens (results of server-side tools fed back to the model) are billed as input, uncached.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from tokenomy.capture.base import FileResult
from tokenomy.capture.fields import BadLineError, parse_timestamp_ms, token_count
from tokenomy.capture.filestate import ReadPlan, list_files, state_after_read
from tokenomy.capture.jsonl import count_lines, looks_like_jsonl, parse_object, read_new, scan_lines
from tokenomy.capture.problems import Problem
from tokenomy.capture.sniff import starts_a_gemini_chat
from tokenomy.record import CallRecord, Source, TokenUsage, ToolUse

PROJECT_ROOT_FILE = ".project_root"
_NAMING = ("project", "project_path")  # the record's own fields, not attributes
# A line can matter only if it carries tokens or names the session.
_NEEDLES = (b'"tokens"', b'"sessionId"')
_TOKEN_FIELDS = ("input", "output", "cached", "thoughts", "tool")


def gemini_usage(tokens: Mapping[str, Any]) -> TokenUsage:
    """A recorded ``tokens`` summary -> disjoint categories."""
    prompt, output, cached, thoughts, tool = (
        token_count(tokens, k, "tokens") for k in _TOKEN_FIELDS
    )
    cached = min(cached, prompt)
    return TokenUsage(
        input_tokens=prompt - cached + tool,
        cache_read_tokens=cached,
        output_tokens=output + thoughts,
        reasoning_tokens=thoughts,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _chats_dir(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.name == "chats":
            return parent
    return None


def _project(path: Path) -> tuple[str, str | None]:
    """The project's folder name, or better the last part of the path it stands for, and
    that path if known."""
    chats = _chats_dir(path)
    folder = chats.parent if chats else path.parent
    try:
        root = (folder / PROJECT_ROOT_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        root = ""
    name = root.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return (name, root) if name else (folder.name, None)


def record_from_message(
    message: Mapping[str, Any], *, session: str, context: Mapping[str, Any]
) -> CallRecord | None:
    """The call record for one ``gemini`` message that carries tokens, else None."""
    if message.get("type") != "gemini":
        return None
    tokens = message.get("tokens")
    if tokens is None:
        return None  # tokens not yet recorded; a later version of the message has them
    if not isinstance(tokens, Mapping):
        raise BadLineError(f"tokens is {type(tokens).__name__}, expected an object")
    msg_id = _text(message.get("id"))
    if msg_id is None:
        raise BadLineError("gemini message without an id")
    usage = gemini_usage(tokens)
    started = parse_timestamp_ms(message.get("timestamp"))
    model = _text(message.get("model"))
    calls = message.get("toolCalls") or ()
    if not isinstance(calls, list | tuple):
        raise BadLineError(f"toolCalls is {type(calls).__name__}, expected a list")
    tools = [
        ToolUse(str(call["name"]), _text(call.get("id")) or f"{msg_id}#{i}")
        for i, call in enumerate(calls)
        if isinstance(call, Mapping) and isinstance(call.get("name"), str)
    ]
    attributes = {k: v for k, v in context.items() if k not in _NAMING and v}
    return CallRecord(
        source=Source.GEMINI_CLI,
        dedupe_key=f"{session}:{msg_id}",
        started_at_ms=started,
        usage=usage,
        operation="chat",
        provider="google",
        request_model=model,
        response_model=model,
        project=context.get("project"),
        project_path=context.get("project_path"),
        session_id=context.get("parent_session_id") or session,
        tools=tools,
        attributes=attributes,
    )


class _Collector:
    """Keeps one record per message: the last version written that carries tokens."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.records: dict[str, CallRecord] = {}

    def add(
        self,
        messages: Iterable[object],
        *,
        session: str,
        context: Mapping[str, Any],
        line: int | None,
        where: str = "",
    ) -> None:
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping):
                continue
            try:
                rec = record_from_message(message, session=session, context=context)
            except BadLineError as exc:
                prefix = f"{where}[{i}]: " if where else ""
                self.problems.append(Problem(self.path, line, f"{prefix}{exc}"))
                continue
            if rec is not None:
                # Each version repeats the message whole, tool calls included: the last wins.
                self.records[rec.dedupe_key] = rec


class GeminiImporter:
    name = "gemini"
    source: str = Source.GEMINI_CLI

    def default_roots(self, env: Mapping[str, str], home: Path) -> list[Path]:
        configured = env.get("GEMINI_CLI_HOME", "").strip()
        base = Path(configured).expanduser() if configured else home
        # GEMINI_CLI_HOME is a home directory; also accept it pointing at .gemini itself.
        roots = (
            [base / ".gemini" / "tmp", base / "tmp"] if configured else [base / ".gemini" / "tmp"]
        )
        return [r for r in roots if r.is_dir()]

    def discover(self, roots: list[Path]) -> list[Path]:
        # A chat file is a .json/.jsonl under a "chats" folder (Gemini CLI's own layout),
        # or one named session-* that starts as a chat does: Codex rollouts and Claude Code
        # logs copied under such names (a tree given with --path) are not Gemini's.
        chats = f"{os.sep}chats{os.sep}"
        return [
            Path(p)
            for p in list_files(roots)
            if p.endswith((".json", ".jsonl"))
            and (
                chats in p
                or (p.rpartition(os.sep)[2].startswith("session-") and starts_a_gemini_chat(p))
            )
        ]

    def parse(self, plan: ReadPlan) -> FileResult:
        path = Path(plan.path)
        result = FileResult(plan.path)
        if path.suffix == ".json":
            self._parse_whole(plan, path, result)
        else:
            self._parse_lines(plan, path, result)
        return result

    def _context(
        self, path: Path, project: tuple[str, str | None], data: Mapping[str, Any]
    ) -> dict[str, Any]:
        context: dict[str, Any] = {
            "project": project[0],
            "project_path": project[1],
            "project_hash": _text(data.get("projectHash")),
        }
        chats = _chats_dir(path)
        if data.get("kind") == "subagent" or (chats is not None and path.parent != chats):
            context["kind"] = "subagent"
            # Subagent calls are the parent session's calls, as with Claude Code.
            if chats is not None and path.parent != chats:
                context["parent_session_id"] = path.parent.name
        return context

    def _parse_whole(self, plan: ReadPlan, path: Path, result: FileResult) -> None:
        """An older version's file, rewritten whole on each update: always read it all."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.problems.append(Problem(plan.path, None, f"cannot read: {exc.strerror}"))
            return
        result.bytes_read = len(data)
        result.state = state_after_read(plan, len(data), {"lines": data.count(b"\n")}, data)
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            result.problems.append(Problem(plan.path, None, f"invalid JSON: {exc}"))
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Gemini CLI chat, skipped"))
            return
        session = _text(doc.get("sessionId")) or path.stem
        collector = _Collector(plan.path, result.problems)
        collector.add(
            doc["messages"],
            session=session,
            context=self._context(path, _project(path), doc),
            line=None,
            where="messages",
        )
        result.records.extend(collector.records.values())

    def _parse_lines(self, plan: ReadPlan, path: Path, result: FileResult) -> None:
        prior_lines = plan.prior.lines if plan.prior else 0
        try:
            chunk = read_new(path, plan.start, prior_lines + 1)
        except OSError as exc:
            result.problems.append(Problem(plan.path, None, f"cannot read: {exc.strerror}"))
            return
        result.bytes_read = len(chunk.data)
        lines = prior_lines + count_lines(chunk)
        state = state_after_read(plan, chunk.end, {"lines": lines}, chunk.data)
        result.state = state
        if plan.start == 0 and not looks_like_jsonl(chunk):
            result.not_a_log = True
            result.problems.append(Problem(plan.path, None, "not a Gemini CLI chat, skipped"))
            return
        project = _project(path)
        # The session is named once, on the first line: remember it for later reads.
        meta: dict[str, Any] = {}
        if plan.prior is not None and plan.start > 0:
            for key in ("sessionId", "projectHash", "kind"):
                if isinstance(plan.prior.state.get(key), str):
                    meta[key] = plan.prior.state[key]
        collector = _Collector(plan.path, result.problems)
        for lineno, line in scan_lines(chunk, plan.path, _NEEDLES, result.problems):
            entry, problem = parse_object(plan.path, lineno, line)
            if problem is not None:
                result.problems.append(problem)
                continue
            assert entry is not None
            update = entry.get("$set")
            where = ""
            if isinstance(update, Mapping):
                meta.update({k: v for k, v in update.items() if k != "messages"})
                # A history sync rewrites the whole list; its messages dedupe by id.
                messages = update.get("messages")
                batch: list[object] = messages if isinstance(messages, list) else []
                where = "$set.messages"
            elif "id" in entry:
                batch = [entry]
            elif "sessionId" in entry:
                meta.update(entry)  # the metadata line
                continue
            else:
                continue
            session = _text(meta.get("sessionId")) or path.stem
            context = self._context(path, project, meta)
            collector.add(batch, session=session, context=context, line=lineno, where=where)
        if chunk.incomplete_tail:
            result.problems.append(
                Problem(plan.path, lines + 1, "incomplete last line, will be read when complete")
            )
        for key in ("sessionId", "projectHash", "kind"):
            if isinstance(meta.get(key), str):
                state.state[key] = meta[key]
        result.records.extend(collector.records.values())
