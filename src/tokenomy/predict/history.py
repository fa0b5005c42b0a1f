"""What the user's own calls say about output length: per model, and for runner records
per command family (``runner/family.py``), read from the ``calls`` table.

Only successful calls with output count (a failure's length says nothing about an
answer's). The newest ``LIMIT`` calls are read: habits change, and a prediction must stay
one quick query however large the store grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from tokenomy.predict.model import quantile
from tokenomy.pricing._names import undated
from tokenomy.store.db import Database

LIMIT = 2000
RUNNER = "runner"


@dataclass(frozen=True)
class History:
    """Past calls of one kind: how many, their median log1p output tokens, the 10th and
    90th percentiles as offsets from that median, and the median prompt size."""

    calls: int
    median_log: float
    low_offset: float
    high_offset: float
    input_tokens: int


def summarize(outputs: list[int], inputs: list[int]) -> History | None:
    if not outputs:
        return None
    logs = [math.log1p(o) for o in outputs]
    mid = quantile(logs, 0.5)
    return History(
        calls=len(outputs),
        median_log=mid,
        low_offset=quantile(logs, 0.1) - mid,
        high_offset=quantile(logs, 0.9) - mid,
        input_tokens=round(quantile([float(i) for i in inputs], 0.5)),
    )


def load(
    db: Database, model: str, *, runner: bool = False, family_hash: str | None = None
) -> History | None:
    """The history of ``model``'s chat calls, or (``runner``) of its agent runs, narrowed to
    one command family when ``family_hash`` is given."""
    source_test = "source = ?" if runner else "source <> ?"
    # The name asked for, or a dated release of it: logs record claude-haiku-4-5-20251001
    # where a user asks about claude-haiku-4-5.
    dated = model.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"
    rows = db.query(
        "SELECT output_tokens, input_tokens + cache_read_tokens + cache_write_tokens"
        " + cache_write_1h_tokens, attributes, response_model, request_model FROM calls"
        f" WHERE status = 'ok' AND output_tokens > 0 AND {source_test}"
        " AND (response_model = ? OR request_model = ?"
        " OR response_model LIKE ? ESCAPE '\\' OR request_model LIKE ? ESCAPE '\\')"
        " ORDER BY started_at DESC LIMIT ?",
        (RUNNER, model, model, dated, dated, LIMIT),
    )
    outputs: list[int] = []
    inputs: list[int] = []
    for output, prompt, attributes, response_model, request_model in rows:
        if not (_same_model(response_model, model) or _same_model(request_model, model)):
            continue  # a longer name that only starts the same (gpt-4o-mini for gpt-4o)
        if family_hash is not None and _family(attributes) != family_hash:
            continue
        outputs.append(int(output))
        inputs.append(int(prompt))
    return summarize(outputs, inputs)


def _same_model(recorded: str | None, asked: str) -> bool:
    """``recorded`` is ``asked``, or ``asked`` with a release date (-20251001, -2024-08-06)."""
    if recorded is None:
        return False
    return recorded == asked or undated(recorded) == asked


def _family(attributes: str | None) -> str | None:
    # The family is in the attributes (JSON), which the two engines query differently;
    # the rows are few, so Python reads it.
    if not attributes:
        return None
    try:
        value = orjson.loads(attributes)
    except orjson.JSONDecodeError:
        return None
    found = value.get("family_hash") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
