"""Input tokens without a tokenizer: a count of the pieces a byte-pair encoder splits text
into, instead of characters / 4.

No tokenizer that carries its vocabulary is available offline from the package's
dependencies (``tiktoken`` downloads its BPE files on first use), so every count here is an
estimate, and says so (``exact`` is False) with its stated relative error. BPE vocabularies
of current models hold a whole common English word (with its leading space) as one token,
split long or rare words into pieces of about six characters, digits into groups of up to
three, and give most punctuation and every CJK character a token of its own. Counting those
pieces follows the tokenizer where characters / 4 does not: code and numbers are short on
characters per token, CJK text shorter still.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# 80% of texts land within this relative error of a BPE tokenizer's count (docs/predict.md
# says how the figure was set; it is a stated bound, not a measured one, until a tokenizer
# can be run offline).
RELATIVE_ERROR = 0.15
PER_MESSAGE_TOKENS = 4  # role and separators, as chat formats add them
REPLY_TOKENS = 3  # the assistant turn the provider primes

_PIECES = re.compile(
    r"[A-Za-z]+"  # a Latin word
    r"|\d+"  # a run of digits
    r"|[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"  # one CJK / kana / hangul character
    r"|[^\sA-Za-z\d]"  # one punctuation mark, symbol or other-script letter
    r"|\n"
)
_WORD_PIECE = 6  # characters per token inside a long word
_COMMON_WORD = 8  # words up to this length are usually one token


@dataclass(frozen=True)
class TokenCount:
    """A token count; ``exact`` says whether a tokenizer produced it, ``relative_error`` is
    the 80% bound of an estimate (0 when exact)."""

    tokens: int
    exact: bool
    relative_error: float
    method: str

    @property
    def low(self) -> int:
        return int(self.tokens * (1 - self.relative_error))

    @property
    def high(self) -> int:
        return -int(-self.tokens * (1 + self.relative_error) // 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "exact": self.exact,
            "low": self.low,
            "high": self.high,
            "relative_error": self.relative_error,
            "method": self.method,
        }


def text_tokens(text: str) -> int:
    """Estimated tokens of one text (see the module docstring)."""
    tokens = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isascii() and first.isalpha():
            n = len(piece)
            tokens += 1 if n <= _COMMON_WORD else -(-n // _WORD_PIECE)
        elif first.isdigit():
            tokens += -(-len(piece) // 3)
        else:
            tokens += 1
    return tokens


def _texts(value: Any) -> Iterable[str]:
    """Every string in a JSON value, without recursion (deep nesting must not crash)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Mapping):
            stack.extend(v for k, v in item.items() if k not in ("role", "type", "name"))


def count_messages(messages: Any) -> TokenCount:
    """Estimated prompt tokens of chat messages (a list of ``{role, content}``, content a
    string or a list of parts), or of a plain string."""
    if isinstance(messages, str):
        return TokenCount(text_tokens(messages), False, RELATIVE_ERROR, "pieces")
    items = messages if isinstance(messages, list) else [messages]
    body = sum(text_tokens(t) for t in _texts(items))
    overhead = PER_MESSAGE_TOKENS * len(items) + REPLY_TOKENS
    return TokenCount(body + overhead, False, RELATIVE_ERROR, "pieces")
