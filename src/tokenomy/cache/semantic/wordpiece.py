"""BERT's uncased WordPiece tokenizer, read from a model's `vocab.txt`.

Written out here (about sixty lines) instead of depending on Hugging Face `tokenizers`, which
pulls in `huggingface_hub` and its network stack for a job this small. It follows BERT's
reference `BasicTokenizer` + `WordpieceTokenizer`: clean, split CJK characters, lower-case,
strip accents, split on whitespace and punctuation, then greedy longest-match word pieces.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

_MAX_WORD_CHARS = 100  # longer "words" become [UNK], as in BERT


class WordPiece:
    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words.pop()
        self.vocab: dict[str, int] = {w: i for i, w in enumerate(words)}
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.unk_id = self.vocab["[UNK]"]
        # Questions repeat words a lot; memoising word -> ids halves tokenising time.
        self._memo: dict[str, list[int]] = {}

    def encode(self, text: str, max_length: int) -> list[int]:
        """[CLS] pieces [SEP], truncated to `max_length` ids in all."""
        ids = [self.cls_id]
        limit = max_length - 1
        for word in _basic_tokens(text):
            pieces = self._memo.get(word)
            if pieces is None:
                pieces = self._word_pieces(word)
                if len(self._memo) < 200_000:
                    self._memo[word] = pieces
            ids.extend(pieces)
            if len(ids) >= limit:
                del ids[limit:]
                break
        ids.append(self.sep_id)
        return ids

    def _word_pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk_id]
        out: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = -1
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece, -1)
                if found >= 0:
                    break
                end -= 1
            if found < 0:
                return [self.unk_id]  # one unmatchable piece makes the whole word unknown
            out.append(found)
            start = end
        return out


def _basic_tokens(text: str) -> list[str]:
    cleaned: list[str] = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            cleaned.append(" ")
        elif _is_cjk(cp):
            cleaned.append(f" {ch} ")
        else:
            cleaned.append(ch)
    tokens: list[str] = []
    for word in "".join(cleaned).split():
        word = _strip_accents(_lower(word))
        current: list[str] = []
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    tokens.append("".join(current))
                    current = []
                tokens.append(ch)
            else:
                current.append(ch)
        if current:
            tokens.append("".join(current))
    return tokens


def _lower(word: str) -> str:
    if word.isascii():
        return word.lower()
    # Character by character, as Hugging Face `tokenizers` does: str.lower() would turn a
    # word-final capital sigma into "ς" where the model's tokenizer gives "σ".
    return "".join(c.lower() for c in word)


def _strip_accents(word: str) -> str:
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT counts all non-alphanumeric ASCII as punctuation, e.g. "^", "$" and "`".
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )
