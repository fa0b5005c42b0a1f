"""How an import's files are handed to worker processes: groups in path order that the
workers pull one at a time (run_import._groups)."""

from __future__ import annotations

from pathlib import Path

from tokenomy.capture.filestate import ReadPlan
from tokenomy.capture.run_import import GROUPS_PER_WORKER, _groups
from tokenomy.record import Source

_STAT = Path(__file__).stat()  # any stat result: grouping never reads it


def _plan(name: str, size: int, start: int = 0) -> ReadPlan:
    return ReadPlan(f"/logs/{name}", Source.CLAUDE_CODE, start, size, None, _STAT)


def test_every_file_is_in_one_group_in_path_order() -> None:
    sizes = [(i * 7919) % 1000 + 1 for i in range(500)]
    plans = [_plan(f"p{i % 17}/s{i:04d}.jsonl", size) for i, size in enumerate(sizes)]
    groups = _groups(list(reversed(plans)), 2)
    flat = [p.path for g in groups for p in g]
    assert flat == sorted(p.path for p in plans)
    assert all(groups)
    # About GROUPS_PER_WORKER per worker, of similar sizes (new bytes, not file sizes).
    assert GROUPS_PER_WORKER <= len(groups) <= 2 * GROUPS_PER_WORKER + 1
    loads = [sum(p.size - p.start for p in g) for g in groups[:-1]]
    assert max(loads) <= 2 * min(loads)


def test_new_bytes_not_file_sizes_decide_the_groups() -> None:
    # One huge file read from near its end weighs what it has left to read.
    plans = [_plan("a.jsonl", 10_000_000, start=9_999_900)]
    plans += [_plan(f"b{i:03d}.jsonl", 100) for i in range(99)]
    groups = _groups(plans, 2)
    assert len(groups) > 10


def test_fewer_files_than_groups() -> None:
    plans = [_plan("a.jsonl", 5), _plan("b.jsonl", 5)]
    assert _groups(plans, 2) == [[plans[0]], [plans[1]]]
