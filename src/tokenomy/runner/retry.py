"""When to run a command again, and how long to wait first.

Only rate limits are retried: the same prompt failing for another reason (max turns, a
crash, a bad argument) would fail again and spend the tokens again. The agents' exit codes
do not tell a rate limit apart, so it is recognised in the error text.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_RATE_LIMITED = re.compile(
    r"\b429\b|\b529\b|rate[ _-]?limit|overloaded|usage limit|too many requests|quota exceeded",
    re.IGNORECASE,
)


def is_rate_limited(text: str | None) -> bool:
    """Whether an error text says the provider refused for load or quota (429, 529,
    ``rate_limit_error``, ``overloaded_error``, "usage limit reached")."""
    return bool(text) and _RATE_LIMITED.search(text or "") is not None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: before retry ``n`` (1-based) wait between half and
    all of ``min(cap, base * 2 ** (n - 1))`` seconds. The random half spreads out commands
    that hit the same limit together, so they do not all come back at the same instant."""

    base: float = 5.0
    cap: float = 120.0

    def delay(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** max(0, retry - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
