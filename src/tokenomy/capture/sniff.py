"""Whose log a file is, from its name or its first bytes.

`tokenomy import --path DIR` hands the same tree to every importer, and each must take
only its own logs: a Codex rollout copied as ``session-basic.jsonl`` was also counted, and
read, by Claude Code (every ``.jsonl``) and Gemini CLI (every ``session-*``). A file in an
agent's own layout is known by its name and not opened (trees hold thousands of logs);
one named otherwise is known by its first bytes.
"""

from __future__ import annotations

import re

# The first keys of a log's first line, or of a Gemini CLI chat file, fit in this.
SNIFF_BYTES = 256
# A Codex rollout's first line is its session_meta, its type among the first keys.
_CODEX_SESSION_META = re.compile(rb'"type"\s*:\s*"session_meta"')
# A Gemini CLI chat (a .json file, or a .jsonl file's metadata line) starts with
# {"sessionId": ..., "projectHash": ...}; Claude Code and Codex lines have no projectHash.
_GEMINI_PROJECT_HASH = re.compile(rb'"projectHash"\s*:')


def named_like_claude_code(name: str) -> bool:
    """``<session uuid>.jsonl`` or a subagent's ``agent-<id>.jsonl``."""
    return name.startswith("agent-") or (
        len(name) == 42 and name[8] == name[13] == name[18] == name[23] == "-"
    )


def named_like_codex(name: str) -> bool:
    """Codex names every session file ``rollout-<time>-<id>.jsonl``."""
    return name.startswith("rollout-")


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:  # noqa: PTH123 (a path string: no Path object per file)
            return f.read(SNIFF_BYTES)
    except OSError:
        return b""


def starts_a_codex_session(path: str) -> bool:
    first = _head(path).split(b"\n", 1)[0]
    return first.startswith(b"{") and _CODEX_SESSION_META.search(first) is not None


def starts_a_gemini_chat(path: str) -> bool:
    head = _head(path)
    return head.lstrip().startswith(b"{") and _GEMINI_PROJECT_HASH.search(head) is not None
