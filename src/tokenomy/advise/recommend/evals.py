"""The user's own evaluation results: which model scored what on which case.

One result per line, JSON Lines or CSV with a header::

    {"case": "q-17", "model": "gpt-4o", "score": 0.8}
    {"case": "q-17", "model": "gpt-4o-mini", "score": 1, "dataset": "support"}

``case`` (also ``id`` or ``case_id``) and ``model`` are required; ``score`` is a number
(higher is better) or a boolean (pass/fail); ``dataset`` (default ``default``) keeps
cases of different sets apart; ``provider`` is optional. A line that cannot be read is
reported as ``file:line: reason`` and skipped; the rest is used. A case scored more than
once for one model takes the mean of its scores.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

_CASE_FIELDS = ("case", "case_id", "id")


class EvalFileError(ValueError):
    """The results file cannot be read at all (missing, not JSON Lines or CSV)."""


@dataclass(slots=True)
class EvalResults:
    """Mean score per (dataset, case), per model."""

    path: Path | None = None
    scores: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _sums: dict[tuple[str, str, str], tuple[float, int]] = field(default_factory=dict)

    def add(self, model: str, dataset: str, case: str, score: float) -> None:
        total, n = self._sums.get((model, dataset, case), (0.0, 0))
        total, n = total + score, n + 1
        self._sums[(model, dataset, case)] = (total, n)
        self.scores.setdefault(model, {})[(dataset, case)] = total / n

    @property
    def models(self) -> list[str]:
        return sorted(self.scores)


def load_evals(path: Path) -> EvalResults:
    """Results from ``path`` (``.csv``, else JSON Lines); bad lines go to ``problems``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalFileError(f"{path}: cannot read: {exc.strerror}") from exc
    out = EvalResults(path=path)
    if path.suffix.lower() == ".csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EvalFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "model" not in reader.fieldnames:
            raise EvalFileError(
                f"{path}: the first line must be a header naming at least model, case and score"
            )
        for number, row in enumerate(reader, start=2):
            _take(out, path, number, row)
    else:
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                out.problems.append(f"{path}:{number}: not JSON ({exc})")
                continue
            if not isinstance(value, dict):
                out.problems.append(
                    f"{path}:{number}: expected an object, got {type(value).__name__}"
                )
                continue
            _take(out, path, number, value)
    return out


def _take(out: EvalResults, path: Path, number: int, row: dict[str, Any]) -> None:
    where = f"{path}:{number}"
    model = row.get("model")
    case = next((row[k] for k in _CASE_FIELDS if row.get(k) not in (None, "")), None)
    if not isinstance(model, str) or not model.strip():
        out.problems.append(f"{where}: no model")
        return
    if case is None or isinstance(case, (dict, list, bool)):
        out.problems.append(f"{where}: no case (give case, case_id or id)")
        return
    score = _score(row.get("score"))
    if score is None:
        out.problems.append(
            f"{where}: score must be a number or true/false, got {row.get('score')!r}"
        )
        return
    dataset = row.get("dataset")
    dataset = str(dataset) if dataset not in (None, "") else "default"
    out.add(model.strip(), dataset, str(case), score)
    provider = row.get("provider")
    if isinstance(provider, str) and provider.strip():
        out.providers[model.strip()] = provider.strip()


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "pass", "yes"):
            return 1.0
        if text in ("false", "fail", "no"):
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A cheaper model against the one in use, on the cases both were scored on."""

    cases: int
    mean_used: float
    mean_other: float
    # The one-sided 95% lower bound of mean(other - used) over the shared cases.
    lower_bound: float


def compare(results: EvalResults, used: str, other: str) -> Comparison | None:
    """Paired comparison on the shared cases (None when they share none)."""
    a, b = results.scores.get(used, {}), results.scores.get(other, {})
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    diffs = [b[k] - a[k] for k in shared]
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    lower = mean - 1.645 * math.sqrt(var / n)
    return Comparison(
        cases=n,
        mean_used=sum(a[k] for k in shared) / n,
        mean_other=sum(b[k] for k in shared) / n,
        lower_bound=lower,
    )


def matching_names(results: EvalResults, names: Iterable[str]) -> dict[str, str]:
    """Recorded model names -> the name they go by in the results (exact, else the results'
    name as a prefix of a dated recorded name, e.g. gpt-4o for gpt-4o-2024-08-06)."""
    out = {}
    for name in names:
        if name in results.scores:
            out[name] = name
            continue
        prefixed = [m for m in results.scores if name.startswith(m + "-")]
        if prefixed:
            out[name] = max(prefixed, key=len)
    return out
