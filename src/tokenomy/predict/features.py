"""What an instruction says about the length of its answer, without asking an LLM.

Each feature is a number read from the text: its length, and whether it asks for a list,
an explanation, an essay, code, a one-word answer, a rewrite of given text (whose answer is
about as long as the text), and how many items it names ("3 examples"). The names are kept
with the coefficients, so a model file says which feature each number weighs.
"""

from __future__ import annotations

import math
import re

from tokenomy.predict.tokens import text_tokens

_WORD_NUMBERS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twenty": 20,
}


def _any(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


# (name, pattern) for the yes/no features, tested on the lower-cased instruction.
_FLAGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("question_word", re.compile(r"^\s*(?:what|who|whom|when|where|which|is|are|do|does|can)\b")),
    ("how_why", _any("how", "why")),
    ("question_mark", re.compile(r"\?\s*$")),
    ("list", _any("list", "lists", "examples", "ideas", "tips", "ways", "steps", "suggest")),
    ("explain", _any("explain", "describe", "discuss", "elaborate", "analy[sz]e", "compare")),
    ("long_form", _any("essay", "article", "blog", "story", "report", "speech", "script")),
    ("letter", _any("letter", "email", "e-mail", "message", "cover letter", "proposal")),
    ("verse", _any("poem", "poetry", "haiku", "song", "lyrics", "rap", "limerick")),
    ("detail", _any("detailed", "comprehensive", "in depth", "step by step", "thorough")),
    ("code", _any("code", "function", "python", "javascript", "sql", "program", "implement")),
    (
        "brief",
        _any(
            "one word",
            "single word",
            "one sentence",
            "briefly",
            "brief",
            "short",
            "concise",
            "yes or no",
            "true or false",
            "in a few words",
        ),
    ),
    ("choose", _any("classify", "categorize", "which of", "choose", "select", "identify")),
    ("rewrite", _any("rewrite", "paraphrase", "translate", "correct", "rephrase", "fix", "edit")),
    ("summarize", _any("summarize", "summarise", "summary", "tl;dr")),
    ("calculate", _any("calculate", "solve", "compute", "how many", "how much")),
    ("name", re.compile(r"^\s*(?:name|give me|what is the name|who is|who was)\b")),
    ("define", _any("define", "definition", "meaning of", "what does")),
    ("write", _any("write", "create", "generate", "compose", "draft")),
    ("plan", _any("plan", "itinerary", "schedule", "recipe", "guide")),
    ("chat", re.compile(r"^\s*(?:hi|hello|hey|thanks|thank you)\b")),
)
_COUNT = re.compile(
    r"\b(\d{1,3}|" + "|".join(_WORD_NUMBERS) + r")\s+(?:\w+\s+){0,2}?"
    r"(?:examples|ideas|ways|tips|reasons|steps|sentences|paragraphs|words|questions|"
    r"items|points|names|things|options|facts|bullet|lines|jokes)\b"
)
_QUOTED = re.compile(r"[\"“].{40,}?[\"”]|:\s*\n", re.S)

NAMES: tuple[str, ...] = (
    "log_instruction_tokens",
    *(name for name, _ in _FLAGS),
    "log_count",
    "has_text",
    "log_text_if_rewrite",
)


def features(instruction: str) -> list[float]:
    """The instruction's features, in the order of :data:`NAMES`."""
    low = instruction.lower()
    size = math.log1p(text_tokens(instruction))
    out = [size]
    flags = [1.0 if pattern.search(low) else 0.0 for _, pattern in _FLAGS]
    out.extend(flags)
    count = 0
    match = _COUNT.search(low)
    if match is not None:
        word = match.group(1)
        count = int(word) if word.isdigit() else _WORD_NUMBERS[word]
    out.append(math.log1p(min(count, 200)))
    # A text given to work on ("Rewrite: ...", a quoted paragraph): answers to rewrites and
    # summaries scale with it, so its size counts again when the instruction rewrites.
    has_text = 1.0 if _QUOTED.search(instruction) or "\n" in instruction.strip() else 0.0
    out.append(has_text)
    rewrite = flags[[n for n, _ in _FLAGS].index("rewrite")]
    out.append(size * rewrite)
    return out
