"""Writes one Claude Code session (main transcript and subagent files) and records its truth."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tokenomy.sample import _claude_lines as cl
from tokenomy.sample import _claude_tools as _tools
from tokenomy.sample._claude_truth import Call, GroundTruth

MODELS: tuple[str, ...] = (
    "claude-opus-4-7",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-haiku-4-5-20251001",
)
_MAIN_MODEL_WEIGHTS = (35, 15, 40, 10)
_SUB_MODELS = ("claude-haiku-4-5-20251001", "claude-sonnet-4-6")
BUILTIN_TOOLS: tuple[str, ...] = ("Read", "Bash", "Edit", "Grep", "Glob", "Write", "TodoWrite")
_BUILTIN_WEIGHTS = (30, 25, 15, 10, 6, 5, 4)
MCP_TOOLS: tuple[str, ...] = (
    "mcp__github__create_issue",
    "mcp__github__get_pull_request",
    "mcp__playwright__browser_navigate",
    "mcp__playwright__browser_snapshot",
    "mcp__context7__get-library-docs",
    "mcp__sentry__search_issues",
)
_HOUR_MS = 3_600_000


class _Emit(Protocol):
    def __call__(self, line: dict[str, Any], copy: bool = True) -> None: ...


@dataclass(frozen=True, slots=True)
class QuirkRates:
    """How often each quirk is written. Probabilities in [0, 1]."""

    split_lines: float = 0.85  # a response has several blocks, one line each
    streaming_partials: float = 0.15  # earlier lines of a response carry smaller output_tokens
    sidechain: float = 0.12  # a response spawns a subagent (per tool-using response)
    progress_copies: float = 1.0  # a subagent's lines are mirrored as agent_progress lines
    resumed: float = 0.12  # a session resumes an earlier one of its project
    api_error: float = 0.02  # a synthetic API-error line before a response
    malformed: float = 0.05  # per file and per kind: garbage, bad UTF-8, wrong type, torn
    mcp_tools: float = 0.2  # share of tool uses that are MCP tools
    compaction: float = 0.05  # per turn: compact_boundary + summary lines
    cache_1h: float = 0.4  # sessions writing only the 1-hour cache
    cache_both: float = 0.2  # sessions writing both (the rest write the 5-minute cache)
    cwd_mismatch: float = 0.3  # projects whose lines' cwd differs from the folder name
    # Research (anthropics/claude-code#89624, 2.1.245): copied lines get the new sessionId.
    resume_keeps_session_id: bool = False


@dataclass(frozen=True, slots=True)
class Project:
    folder: str  # encoded folder name under projects/
    cwds: tuple[str, ...]  # cwd values lines may carry
    branches: tuple[str, ...]


@dataclass(slots=True)
class PastSession:
    """What a later resume needs: the conversation lines it copies."""

    session_id: str
    project: Project
    end_ms: int
    lines: list[bytes] = field(default_factory=list)
    leaf: str | None = None  # uuid of the last conversation line: the resume's first parent


@dataclass(slots=True)
class _Ctx:
    model: str
    cache_mode: str
    read: int = 0
    first: bool = True
    last_t: int = 0


class SessionWriter:
    """Builds sessions into ``projects_dir`` and adds every counted call to ``truth``."""

    def __init__(
        self,
        rng: random.Random,
        truth: GroundTruth,
        rates: QuirkRates,
        projects_dir: Path,
        write: Callable[[Path, bytes], None],
    ) -> None:
        self.rng = rng
        self.ids = cl.Ids(rng)
        self.clock = cl.Clock()
        self.truth = truth
        self.rates = rates
        self.projects_dir = projects_dir
        self._write = write

    def roll(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    # -- one session -------------------------------------------------------------------

    def session(self, project: Project, start_ms: int, resume: PastSession | None) -> PastSession:
        rng, ids = self.rng, self.ids
        sid = ids.uuid()
        cwd = rng.choice(project.cwds)
        env = cl.Envelope(sid, cwd, rng.choice(project.branches), self._entrypoint(), None)
        self.truth.add_session(sid, project.folder, cwd)
        self.truth.count("sessions")
        lines: list[bytes] = []
        copyable: list[bytes] = []

        def emit(line: dict[str, Any], copy: bool = True) -> None:
            raw = cl.dumps(line)
            lines.append(raw)
            if copy:
                copyable.append(raw)

        t = start_ms
        parent: str | None = None
        if resume is not None:
            old, new = resume.session_id.encode(), sid.encode()
            for raw in resume.lines:
                copied = raw if self.rates.resume_keeps_session_id else raw.replace(old, new)
                lines.append(copied)
                copyable.append(copied)
            self.truth.count("resumed_sessions")
            self.truth.count("resumed_copy_lines", len(resume.lines))
            t = max(start_ms, resume.end_ms + 60_000)
            parent = resume.leaf
        ctx = _Ctx(self._main_model(), self._cache_mode())
        for turn in range(rng.choices((1, 2, 4, 8, 14), (20, 25, 25, 20, 10))[0]):
            prompt = ids.text(20, 500) if rng.random() < 0.85 else ids.text(2000, 16000)
            prompt_id = ids.uuid()
            if turn == 0 or rng.random() < 0.1:
                for q in cl.queue_operation_lines(
                    sid, self.clock.iso(t), self.clock.iso(t + 1), prompt
                ):
                    emit(q, copy=False)
            t += rng.randint(50, 3000)
            uid = ids.uuid()
            emit(cl.user_prompt_line(env, parent, uid, self.clock.iso(t), prompt_id, prompt))
            parent = uid
            steps = rng.choices((1, 2, 3, 5, 8), (25, 25, 20, 20, 10))[0]
            for step in range(steps):
                tools = [] if step == steps - 1 else self._pick_tools(allow_agent=True)
                parent, t = self._step(env, emit, project, sid, ctx, parent, t, prompt_id, tools)
            emit(cl.last_prompt_line(sid, prompt[:200], parent or ""), copy=False)
            if self.roll(self.rates.compaction):
                a, b = ids.uuid(), ids.uuid()
                for c in cl.compact_lines(
                    env,
                    parent or a,
                    (a, b),
                    self.clock.iso(t + 500),
                    self.clock.iso(t + 900),
                    ctx.read,
                    ids.text(400, 3000),
                ):
                    emit(c)
                parent, ctx.read, ctx.first = b, 0, True
                self.truth.count("compactions")
            t += rng.choice((rng.randint(4_000, 90_000), rng.randint(60_000, 1_800_000)))
        self._write_transcript(self.projects_dir / project.folder / f"{sid}.jsonl", env, ctx, lines)
        return PastSession(sid, project, t, copyable, parent)

    def _step(
        self,
        env: cl.Envelope,
        emit: _Emit,
        project: Project,
        attributed: str,
        ctx: _Ctx,
        parent: str | None,
        t: int,
        prompt_id: str,
        tools: list[str],
    ) -> tuple[str | None, int]:
        """One model call (maybe preceded by an API error) and the tool results it asks for."""
        rng, ids = self.rng, self.ids
        if self.roll(self.rates.api_error):
            t = self._hour_safe(t + rng.randint(500, 5000), 0)
            uid = ids.uuid()
            emit(
                cl.api_error_line(
                    env,
                    parent,
                    uid,
                    self.clock.iso(t),
                    ids.uuid(),
                    rng.choice((529, 529, 500, 429, 401)),
                )
            )
            self.truth.add_call(Call(attributed, project.folder, t, "<synthetic>", failed=True))
            self.truth.count("api_errors")
            parent = uid
        parent, t, uses = self._response(env, emit, project, attributed, ctx, parent, t, tools)
        for name, tool_id, tool_uuid, tool_input in uses:
            if name == "Agent":
                t, output, meta = self._subagent(
                    env, emit, project, attributed, t, tool_id, tool_uuid, tool_input
                )
            else:
                t += rng.randint(200, 20_000)
                output, meta = _tools.tool_output(self.ids, name, env.cwd, tool_input)
            is_error = rng.random() < 0.03
            if is_error:
                output = f"<tool_use_error>{ids.text(20, 200)}</tool_use_error>"
            uid = ids.uuid()
            emit(
                cl.tool_result_line(
                    env,
                    tool_uuid,
                    uid,
                    self.clock.iso(t),
                    prompt_id,
                    tool_id,
                    output,
                    is_error,
                    meta,
                )
            )
            parent = uid
        return parent, t

    def _response(
        self,
        env: cl.Envelope,
        emit: _Emit,
        project: Project,
        attributed: str,
        ctx: _Ctx,
        parent: str | None,
        t: int,
        tools: list[str],
    ) -> tuple[str, int, list[tuple[str, str, str, dict[str, Any]]]]:
        """Write one API response as one line per content block; returns tool uses made."""
        rng, ids = self.rng, self.ids
        blocks: list[dict[str, Any]] = []
        thinking = rng.random() < 0.6
        if thinking:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": ids.text(0, 1200) if rng.random() < 0.3 else "",
                    "signature": ids.signature(),
                }
            )
        if not tools or rng.random() < 0.7:
            blocks.append({"type": "text", "text": ids.text(20, 1500)})
        uses: list[tuple[str, str, str, dict[str, Any]]] = []
        for name in tools:
            tool_input = _tools.tool_input(self.ids, name, env.cwd)
            tid = ids.tool_use_id()
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tid,
                    "name": name,
                    "input": tool_input,
                    "caller": {"type": "direct"},
                }
            )
        if len(blocks) > 1 and not self.roll(self.rates.split_lines):
            keep = [b for b in blocks if b["type"] == "tool_use"][:1] or blocks[-1:]
            blocks = keep
        elif len(blocks) > 1:
            self.truth.count("split_responses")
        partial = self.roll(self.rates.streaming_partials)
        if partial and len(blocks) == 1:
            blocks.insert(0, {"type": "text", "text": "\n\n"})
        # Usage: input and cache counts are fixed when the response starts; output grows.
        if ctx.first:
            write, read, inp = (
                rng.randint(8_000, 30_000),
                rng.choice((0, rng.randint(9_000, 24_000))),
                rng.randint(3, 900),
            )
        else:
            write, read, inp = rng.randint(80, 6_000), ctx.read, rng.randint(1, 40)
        ctx.first, ctx.read = False, read + write
        if ctx.cache_mode == "5m":
            w5, w1h = write, 0
        elif ctx.cache_mode == "1h":
            w5, w1h = 0, write
        else:
            w1h = rng.randint(0, write)
            w5 = write - w1h
        out = rng.randint(20, 1800)
        think = rng.randint(5, out // 2) if thinking else 0
        final_use = cl.usage(inp, out, read, w5, w1h, think)
        gaps = [rng.randint(2, 900) for _ in blocks[1:]]
        t0 = self._hour_safe(t + rng.randint(700, 9000), sum(gaps))
        stop = "tool_use" if tools else "end_turn"
        mid, rid = ids.message_id(), ids.request_id()
        partial_outs = (
            sorted(rng.randint(1, max(1, out // 5)) for _ in blocks[1:]) if partial else []
        )
        at, uid = t0, ""
        for i, block in enumerate(blocks):
            if i:
                at += gaps[i - 1]
            last = i == len(blocks) - 1
            use = (
                final_use
                if last or not partial
                else cl.usage(inp, partial_outs[i], read, w5, w1h, 0)
            )
            uid = ids.uuid()
            emit(
                cl.assistant_line(
                    env,
                    parent,
                    uid,
                    self.clock.iso(at),
                    ctx.model,
                    mid,
                    rid,
                    block,
                    stop if last or not partial else None,
                    use,
                )
            )
            if partial and not last:
                self.truth.count("partial_lines")
            if block["type"] == "tool_use":
                uses.append((block["name"], block["id"], uid, block["input"]))
            parent = uid
        ctx.last_t = at
        names = tuple(name for name, _, _, _ in uses)
        self.truth.count("mcp_tool_uses", sum(1 for n in names if n.startswith("mcp__")))
        self.truth.add_call(
            Call(attributed, project.folder, t0, ctx.model, False, inp, out, read, w5, w1h, names)
        )
        return uid, at, uses

    def _subagent(
        self,
        parent_env: cl.Envelope,
        parent_emit: _Emit,
        project: Project,
        parent_sid: str,
        t: int,
        tool_id: str,
        tool_uuid: str,
        tool_input: dict[str, Any],
    ) -> tuple[int, str, dict[str, Any]]:
        """Run a subagent: its own file under <session>/subagents/, counted for the parent."""
        rng, ids = self.rng, self.ids
        agent_id = ids.agent_id()
        env = cl.Envelope(
            parent_sid, parent_env.cwd, parent_env.branch, parent_env.entrypoint, agent_id
        )
        ctx = _Ctx(rng.choice((*_SUB_MODELS, self._main_model())), self._cache_mode())
        prompt = str(tool_input["prompt"])
        mirrored: list[dict[str, Any]] = []
        lines: list[bytes] = []

        def emit(line: dict[str, Any], copy: bool = True) -> None:
            lines.append(cl.dumps(line))
            if line.get("parentUuid") is not None:
                mirrored.append(line)

        t += rng.randint(100, 2000)
        uid = ids.uuid()
        emit(cl.user_prompt_line(env, None, uid, self.clock.iso(t), ids.uuid(), prompt))
        parent: str | None = uid
        steps = rng.randint(1, 6)
        for step in range(steps):
            tools = [] if step == steps - 1 else self._pick_tools(allow_agent=False)
            parent, t = self._step(env, emit, project, parent_sid, ctx, parent, t, uid, tools)
        folder = self.projects_dir / project.folder / parent_sid / "subagents"
        self._write_transcript(folder / f"agent-{agent_id}.jsonl", env, ctx, lines)
        meta = {"agentType": tool_input.get("subagent_type", "general-purpose"), "spawnDepth": 1}
        self._write(folder / f"agent-{agent_id}.meta.json", cl.dumps(meta))
        self.truth.count("subagent_files")
        if self.roll(self.rates.progress_copies):
            for line in mirrored:
                at = line["timestamp"]
                parent_emit(
                    cl.progress_line(
                        parent_env, tool_uuid, ids.uuid(), at, line, prompt, agent_id, tool_id
                    ),
                    False,
                )
            self.truth.count("progress_lines", len(mirrored))
        summary = ids.text(100, 1500)
        output = f"{summary}\nagentId: {agent_id} (for resuming to continue this agent's work)"
        meta_result = {
            "status": "completed",
            "prompt": prompt,
            "agentId": agent_id,
            "content": [{"type": "text", "text": summary}],
            "totalToolUseCount": steps - 1,
            "totalDurationMs": rng.randint(5_000, 300_000),
        }
        return t + rng.randint(50, 500), output, meta_result

    # -- pieces ------------------------------------------------------------------------

    def _hour_safe(self, t0: int, span: int) -> int:
        """Move a response forward so all its lines fall in one UTC hour (one local date)."""
        if t0 // _HOUR_MS != (t0 + span) // _HOUR_MS:
            return (t0 + span) // _HOUR_MS * _HOUR_MS + self.rng.randint(1, 400)
        return t0

    def _entrypoint(self) -> str:
        return "cli" if self.rng.random() < 0.8 else "sdk-cli"

    def _main_model(self) -> str:
        return self.rng.choices(MODELS, _MAIN_MODEL_WEIGHTS)[0]

    def _cache_mode(self) -> str:
        r = self.rng.random()
        if r < self.rates.cache_1h:
            return "1h"
        return "both" if r < self.rates.cache_1h + self.rates.cache_both else "5m"

    def _pick_tools(self, allow_agent: bool) -> list[str]:
        rng = self.rng
        names = [
            rng.choice(MCP_TOOLS)
            if self.roll(self.rates.mcp_tools)
            else rng.choices(BUILTIN_TOOLS, _BUILTIN_WEIGHTS)[0]
            for _ in range(rng.choices((1, 2, 3), (70, 20, 10))[0])
        ]
        if allow_agent and self.roll(self.rates.sidechain):
            names[0] = "Agent"
        return names

    def _write_transcript(
        self, path: Path, env: cl.Envelope, ctx: _Ctx, lines: list[bytes]
    ) -> None:
        """Write a transcript, adding the malformed lines real logs can hold; none of them count."""
        rng, ids = self.rng, self.ids
        for kind in ("garbage", "invalid_utf8", "wrong_type"):
            if not self.roll(self.rates.malformed):
                continue
            if kind == "garbage":
                raw = rng.choice(
                    (
                        b"<<<<<<< HEAD",
                        b"\x00\x00\x00\x00",
                        b"}{ not json ]",
                        b'{"type":"assistant","message":',
                    )
                )
            else:
                text = cl.BAD_BYTES_MARKER if kind == "invalid_utf8" else ids.text(20, 200)
                line = self._orphan_line(env, ctx, text)
                if kind == "wrong_type":
                    line["message"]["usage"]["input_tokens"] = str(rng.randint(1, 99))
                raw = cl.dumps(line)
                if kind == "invalid_utf8":
                    raw = cl.invalid_utf8(raw)
            lines.insert(rng.randint(1, max(1, len(lines))), raw)
            self.truth.count(f"malformed_{kind}")
        data = b"\n".join(lines) + b"\n"
        if self.roll(self.rates.malformed):
            torn = cl.dumps(self._orphan_line(env, ctx, ids.text(20, 400)))
            data += torn[: rng.randint(20, len(torn) - 5)]
            self.truth.count("malformed_torn")
        self._write(path, data)

    def _orphan_line(self, env: cl.Envelope, ctx: _Ctx, text: str) -> dict[str, Any]:
        """An assistant line of a response that appears nowhere else (so it must not count)."""
        ids, rng = self.ids, self.rng
        use = cl.usage(
            rng.randint(1, 50), rng.randint(10, 900), ctx.read, rng.randint(0, 900), 0, 0
        )
        return cl.assistant_line(
            env,
            ids.uuid(),
            ids.uuid(),
            self.clock.iso(ctx.last_t),
            ctx.model,
            ids.message_id(),
            ids.request_id(),
            {"type": "text", "text": text},
            "end_turn",
            use,
        )
