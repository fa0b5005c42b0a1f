"""The instruction's words as a TF-IDF vector: what the handcrafted flags in ``features.py``
cannot list (the topic, the kind of task named in any wording).

Terms are lower-case words, adjacent word pairs (``write_a``) and the first two words
marked as openers (``^name``: "Name three ..." asks for less than "Write ..."). Counts are
damped (``log1p``), weighed by the inverse document frequency the model was fitted with,
and the vector is scaled to unit length so a long instruction does not weigh more for its
length alone (its length is a feature of its own). Pure Python: only the terms the model
knows are kept, a few dozen per instruction.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping

_WORD = re.compile(r"[a-z0-9']+")
OPENERS = 2


def terms(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    pairs = [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    return words + pairs + [f"^{w}" for w in words[:OPENERS]]


def vector(text: str, idf: Mapping[str, float]) -> dict[str, float]:
    """The unit-length TF-IDF vector of ``text`` over the terms in ``idf``."""
    counts = Counter(t for t in terms(text) if t in idf)
    weights = {t: math.log1p(c) * idf[t] for t, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm > 0 else {}
