"""Bad input is reported with file and line, and never stops the rest from importing."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# The values inside a reason ("is '21'", "line of 3,000,000 bytes"): a kind of problem is
# its reason without them, so five bad counts are one kind, not five.
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d[\d,._]*\b")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int | None  # None: the whole file
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class ProblemLog:
    items: list[Problem] = field(default_factory=list)

    def add(self, path: str, line: int | None, reason: str) -> None:
        self.items.append(Problem(path, line, reason))

    def extend(self, other: list[Problem]) -> None:
        self.items.extend(other)

    def __len__(self) -> int:
        return len(self.items)

    def by_reason(self) -> Counter[str]:
        """Counts per kind of problem: the text before any detail after a colon, with the
        values it quotes left out."""
        return Counter(_VALUES.sub("…", p.reason.split(":", 1)[0]) for p in self.items)
