"""What the verifier looks at besides the cosine: differences an embedding blurs.

Sentence embeddings place "How do I lose 5 kg?" and "How do I lose 50 kg?", "Is X safe?"
and "Is X not safe?", or "Why are X more polite than Y?" and "Why are Y more polite than
X?" very close together; a cached answer to one is wrong for the other. Each feature is a
few microseconds of string work, computed for the few candidates the index returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Capitalised words that do not start a sentence, and acronyms: a rough named-entity finder.
_CAPITALISED = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-zA-Z0-9]+|\b[A-Z]{2,}[a-z]?\b")
_NEGATIONS = _words(
    "not no never none nobody nothing neither nor without cannot cant dont doesnt didnt isnt"
    " arent wasnt werent wont shouldnt wouldnt couldnt hasnt havent hadnt"
)
_AUXILIARIES = _words("do does did is are was were ca wo should would could has have had must need")
_QUESTION_WORDS = _words(
    "what why how when where who whom whose which is are can could should would will do does"
    " did was were has have"
)
# Words whose presence or absence rarely changes what is asked ("How can I..." = "How do
# I..."); differences made only of these are treated as rewording.
_STOPWORDS = _words(
    "a an the of to in on for and or is are was were be been do does did i my me you your it"
    " its this that what why how when where who which can could should would will with from"
    " at by as about some any there if s get someone one we they their our he she his her"
    " have has best good way ways into than so much many more most am us really actually"
    " just also"
)
_SUFFIXES = ("ing", "ed", "es", "s", "ly")

NAMES = (
    "cosine",
    "gap",
    "length_ratio",
    "jaccard",
    "content_overlap_min",
    "content_overlap_max",
    "unshared_content",
    "char3_jaccard",
    "number_mismatch",
    "numbers_one_side",
    "entity_mismatch",
    "negation_mismatch",
    "question_word_differs",
    "same_normalised",
    "bigram_jaccard",
    "order_agreement",
    "diff_is_function_words",
    "unshared_content_max_side",
    "longest_unshared_word",
    "entities_one_side",
    "word_count_diff",
    "unmatched_content",
)

# Features where more similarity can only mean "more likely the same question" (the trainer
# constrains the trees to respect this): +1 increasing, -1 decreasing.
MONOTONE = {
    "cosine": 1,
    "gap": 1,
    "same_normalised": 1,
    "jaccard": 1,
    "char3_jaccard": 1,
    "bigram_jaccard": 1,
    "order_agreement": 1,
    "number_mismatch": -1,
    "negation_mismatch": -1,
    "entity_mismatch": -1,
    "unmatched_content": -1,
}


@dataclass(frozen=True)
class Text:
    """The parts of a question the features compare, computed once per text."""

    words: tuple[str, ...]
    content: frozenset[str]  # stemmed words that are not stopwords
    numbers: frozenset[str]
    entities: frozenset[str]
    negated: bool
    question_word: str
    char3: frozenset[str]
    normalised: str


def analyse(text: str) -> Text:
    lowered = text.lower().replace("’", "'")
    words = tuple(w.replace("'", "") for w in _WORD.findall(lowered))
    numbers = frozenset(n.replace(",", "") for n in _NUMBER.findall(text))
    entities = frozenset(e.lower() for e in _CAPITALISED.findall(text.strip()))
    negated = any(w in _NEGATIONS or (w.endswith("nt") and w[:-2] in _AUXILIARIES) for w in words)
    question_word = next((w for w in words[:4] if w in _QUESTION_WORDS), "")
    normalised = " ".join(words)
    char3 = frozenset(normalised[i : i + 3] for i in range(max(len(normalised) - 2, 0)))
    content = frozenset(_stem(w) for w in words if w not in _STOPWORDS and w not in _NEGATIONS)
    return Text(words, content, numbers, entities, negated, question_word, char3, normalised)


# A prefix that turns a word into its opposite: "safe" / "unsafe", "legal" / "illegal".
_OPPOSITE_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")


def opposite(q: Text, c: Text) -> bool:
    """Whether a word of one question only is a word of the other only with an opposite
    prefix ("Is it safe ...?" / "Is it unsafe ...?"): a negation no negation word shows,
    and MiniLM scores such pairs as near paraphrases."""
    qw, cw = set(q.words), set(c.words)
    q_only, c_only = qw - cw, cw - qw
    for one, other in ((q_only, c_only), (c_only, q_only)):
        for w in one:
            if len(w) >= 3 and any(p + w in other for p in _OPPOSITE_PREFIXES):
                return True
    return False


def pair_features(q: Text, c: Text, cosine: float, runner_up: float) -> list[float]:
    """Features of (query, cached question), in the order of `NAMES`."""
    qw, cw = set(q.words), set(c.words)
    n_q, n_c = len(q.words), len(c.words)
    shared_content = len(q.content & c.content)
    q_only, c_only = q.content - c.content, c.content - q.content
    diff_words = qw ^ cw
    return [
        cosine,
        cosine - runner_up,
        min(n_q, n_c) / max(n_q, n_c, 1),
        _jaccard(qw, cw),
        shared_content / max(min(len(q.content), len(c.content)), 1),
        shared_content / max(len(q.content), len(c.content), 1),
        float(len(q_only) + len(c_only)),
        _jaccard(q.char3, c.char3),
        float(bool(q.numbers and c.numbers and q.numbers != c.numbers)),
        float(bool(q.numbers) != bool(c.numbers)),
        float(len(q.entities ^ c.entities)),
        float(q.negated != c.negated),
        float(q.question_word != c.question_word),
        float(q.normalised == c.normalised),
        _jaccard(_bigrams(q.words), _bigrams(c.words)),
        _order_agreement(q.words, c.words),
        float(bool(diff_words) and not (diff_words - _STOPWORDS)),
        float(max(len(q_only), len(c_only))),
        float(max((len(w) for w in q_only | c_only), default=0)),
        float(bool(q.entities) != bool(c.entities)),
        float(abs(n_q - n_c)),
        float(_unmatched(q_only, c_only) + _unmatched(c_only, q_only)),
    ]


def _stem(word: str) -> str:
    """Strip one common English suffix, so "knees"/"knee" and "learning"/"learn" match."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _unmatched(words: frozenset[str], others: frozenset[str]) -> int:
    """Words with no near-spelling on the other side (typos and variants like "aroumd"/
    "around" or "demonitization"/"demonetization" are matches)."""
    return sum(
        1
        for w in words
        if not any(SequenceMatcher(None, w, o).ratio() >= 0.8 for o in others if o[0] == w[0])
    )


def _bigrams(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(a + " " + b for a, b in pairwise(words))


def _order_agreement(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Share of pairs of shared content words that appear in the same order in both texts:
    a question and its reversal share every word and embed almost alike."""
    pos_b = {w: i for i, w in enumerate(b) if w not in _STOPWORDS}
    seq = [pos_b[w] for w in dict.fromkeys(w for w in a if w in pos_b)]
    if len(seq) < 2:
        return 1.0
    pairs = agree = 0
    for i in range(len(seq)):
        for j in range(i + 1, len(seq)):
            pairs += 1
            agree += seq[i] < seq[j]
    return agree / pairs


def _jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
