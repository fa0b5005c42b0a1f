"""Command families: prompts that differ only in their particulars (a file, an issue number,
a commit) belong together, so their costs can be compared and predicted as one kind of job.

The family is the prompt, lower-cased, with URLs, quoted strings, paths, hashes and ids, and
numbers replaced by placeholders and whitespace collapsed. The rules are applied in that
order because each later pattern would otherwise match inside an earlier one's text (a
number inside a URL, a hex digit inside a path).
"""

from __future__ import annotations

import hashlib
import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:https?|ftp|file|ssh|git)://\S+|\bwww\.\S+"), "<url>"),
    # Quotes: double, backtick, and single quotes that do not sit inside a word (so the
    # apostrophes of "don't" or "Bob's" are left alone).
    (re.compile(r'"[^"\n]*"|`[^`\n]*`|(?<!\w)\'[^\'\n]*\'(?!\w)'), "<str>"),
    # Paths with a separator (a/b, ./a, ~/a, /a, C:\a) and bare file names with an extension.
    (
        re.compile(
            r"(?:[a-z]:\\|~/|\.{1,2}/|/)?[\w.@+-]+(?:[/\\][\w.@+-]+)+[/\\]?"
            r"|(?:~|\.{1,2})?/[\w.@+-]+"
            r"|(?<![\w/.])[\w-]{2,}\.[a-z][a-z0-9]{0,4}(?![\w/])"
        ),
        "<path>",
    ),
    # UUIDs, hex hashes (a commit, a digest) and long mixed letter-and-digit ids.
    (
        re.compile(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
            r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b"
            r"|\b(?=[\w-]*\d)(?=[\w-]*[a-z])[\w-]{16,}\b"
        ),
        "<id>",
    ),
    (re.compile(r"\d+(?:[.,_]\d+)*"), "<n>"),
)
_SPACE = re.compile(r"\s+")


def family(prompt: str) -> str:
    """The prompt with its particulars replaced by placeholders (see the module docstring)."""
    text = prompt.lower()
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip()


def short_hash(text: str) -> str:
    """The first 16 hex digits of the text's SHA-256: short enough to read, and 64 bits
    keep collisions out of reach for any number of distinct commands one team will run."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def command_hash(prompt: str) -> str:
    """The hash of the exact command text."""
    return short_hash(prompt)


def family_hash(prompt: str) -> str:
    """The hash of the command's family."""
    return short_hash(family(prompt))
