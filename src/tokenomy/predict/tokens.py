"""Input tokens without a tokenizer: a count of the pieces a byte-pair encoder splits text
into, instead of characters / 4.

No tokenizer that carries its vocabulary is available offline from the package's
dependencies (``tiktoken`` downloads its BPE files on first use), so every count here is an
estimate, and says so (``exact`` is False) with its stated relative error. BPE vocabularies
of current models hold a whole common English word (with its leading space) as one token,
split long or rare words into pieces of about six characters, digits into groups of up to
three, and give most punctuation and every CJK character a token of its own; words of
other alphabets take about a token per three letters. Counting those pieces follows the
tokenizer where characters / 4 does not: code and numbers are short on characters per
token, CJK text shorter still. Images are counted as images, never as their base64.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# 80% of texts land within this relative error of a BPE tokenizer's count (docs/predict.md
# says how the figure was set; it is a stated bound, not a measured one, until a tokenizer
# can be run offline).
RELATIVE_ERROR = 0.15
PER_MESSAGE_TOKENS = 4  # role and separators, as chat formats add them
REPLY_TOKENS = 3  # the assistant turn the provider primes

_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_PIECES = re.compile(
    rf"[{_CJK}]"  # one CJK / kana / hangul character
    rf"|[^\W\d_{_CJK}]+"  # a word, in any other script
    r"|\d+"  # a run of digits
    r"|[^\s\w]|_"  # one punctuation mark or symbol
    r"|\n"
)
_WORD_PIECE = 6  # characters per token inside a long word
_COMMON_WORD = 8  # words up to this length are usually one token
_LATIN_END = 0x250  # Latin letters with accents end here (Latin Extended-B)
# Cyrillic, Greek, Arabic, Hebrew, Indic...: current vocabularies hold fewer whole words of
# these, about one token per three letters.
_OTHER_SCRIPT_PIECE = 3
# An image part, counted at a typical size (its pixels are not known without decoding it):
# OpenAI bills a low-detail image 85 tokens and a 1024x1024 high-detail one 765; Anthropic
# about width x height / 750, 1,600 at the largest size it keeps.
_IMAGE_TOKENS = {"low": 85, "openai": 765, "anthropic": 1600}


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
        if first.isalpha():
            tokens += _word_tokens(piece)
        elif first.isdigit():
            tokens += -(-len(piece) // 3)
        else:
            tokens += 1
    return tokens


def _word_tokens(word: str) -> int:
    n = len(word)
    if all(ord(c) < _LATIN_END for c in word):
        latin = 1 if n <= _COMMON_WORD else -(-n // _WORD_PIECE)
        return latin + (not word.isascii())  # an accented letter splits the word once more
    return -(-n // _OTHER_SCRIPT_PIECE)


def _image_tokens(part: Mapping[str, Any]) -> int | None:
    """The tokens of an image part (OpenAI ``image_url`` / ``input_image``, Anthropic
    ``image``), or None if the part is not an image."""
    kind = part.get("type")
    if kind in ("image_url", "input_image"):
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, Mapping) else part.get("detail")
        return _IMAGE_TOKENS["low" if detail == "low" else "openai"]
    if kind == "image":
        return _IMAGE_TOKENS["anthropic"]
    return None


def _content_tokens(value: Any) -> int:
    """The tokens of every string in a JSON value, images counted as images (their base64
    is not text), without recursion (deep nesting must not crash)."""
    tokens = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            # A data URL outside a known image part: an image or file, not words.
            is_data = item.startswith("data:") and ";base64," in item[:100]
            tokens += _IMAGE_TOKENS["openai"] if is_data else text_tokens(item)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Mapping):
            image = _image_tokens(item)
            if image is not None:
                tokens += image
            elif item.get("type") in _BINARY_PARTS:
                stack.extend(_readable(item))
            else:
                stack.extend(v for k, v in item.items() if k not in ("role", "type", "name"))
    return tokens


# Parts that carry a file: a PDF (Anthropic ``document``), audio (OpenAI ``input_audio``),
# any file (``file``, ``input_file``). Their base64 is not words, and their tokens (a PDF
# is billed by page, audio by its length) cannot be told from their size: only what they
# hold as text is counted (docs/predict.md).
_BINARY_PARTS = frozenset({"document", "input_audio", "audio", "file", "input_file"})


def _readable(part: Mapping[str, Any]) -> list[Any]:
    """What a file part holds as text: a plain-text document's data or content blocks, a
    title or context; never base64."""
    out: list[Any] = [part[k] for k in ("title", "context") if isinstance(part.get(k), str)]
    source = part.get("source")
    if isinstance(source, Mapping):
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            out.append(source["data"])
        elif source.get("type") == "content":
            out.append(source.get("content"))
    return out


def count_messages(messages: Any) -> TokenCount:
    """Estimated prompt tokens of chat messages (a list of ``{role, content}``, content a
    string or a list of parts), or of a plain string (one user message)."""
    items = messages if isinstance(messages, list) else [messages]
    overhead = PER_MESSAGE_TOKENS * len(items) + REPLY_TOKENS
    return TokenCount(_content_tokens(items) + overhead, False, RELATIVE_ERROR, "pieces")
