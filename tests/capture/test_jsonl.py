"""Finding the lines worth parsing in a JSONL chunk, and telling a log from other files."""

from __future__ import annotations

from pathlib import Path

from tokenomy.capture.filestate import head_hash, plan_read, state_after_read
from tokenomy.capture.jsonl import Chunk, looks_like_jsonl, object_lines_with, read_new
from tokenomy.capture.problems import Problem


def _chunk(data: bytes) -> Chunk:
    return Chunk(data, 0, len(data), 1, False)


def test_object_lines_with_the_needle_are_found_and_other_lines_reported() -> None:
    data = b"\n".join(
        [
            b'{"usage": 1}',
            b'{"type": "user"}',  # an object without the needle: skipped quietly
            b"",
            b"  \t",  # blank: not a problem
            b'garbage "usage"',  # not an object: reported even though it has the needle
            b'{"a": 2, "usage": 3}',
            b'{"usage": 4}',  # the last line, with no newline after it
        ]
    )
    problems: list[Problem] = []
    found = list(object_lines_with(_chunk(data), b'"usage"', "f.jsonl", problems))
    assert [line for _, line in found] == [
        b'{"usage": 1}',
        b'{"a": 2, "usage": 3}',
        b'{"usage": 4}',
    ]
    assert all(data[offset:].startswith(line) for offset, line in found)
    assert [(p.path, p.line, p.reason) for p in problems] == [
        ("f.jsonl", 5, "not a JSON object line, skipped")
    ]


def test_a_file_is_a_log_if_one_of_its_first_five_lines_is_an_object() -> None:
    assert looks_like_jsonl(_chunk(b'\n\n  {"type": "summary"}\n'))
    assert looks_like_jsonl(_chunk(b"\x00\x00\x00\n" + b"x" * 10 + b'\n{"a": 1}\n'))
    assert looks_like_jsonl(_chunk(b""))  # nothing to judge: read it (it yields nothing)
    assert looks_like_jsonl(_chunk(b"\n \n\x00\x00\n"))  # blank and NUL lines only
    assert not looks_like_jsonl(_chunk(b"\x01binary\x00" * 100))
    assert not looks_like_jsonl(_chunk(b"a\nb\nc\nd\ne\n{}\n"))  # an object only on line six
    # A long NUL run (crashed writers leave them in real logs) is no evidence either way:
    # the file is read, and the line reported, rather than the whole file skipped.
    assert looks_like_jsonl(_chunk(b"\x00" * 5000 + b'{"a": 1}\n'))


def test_a_log_whose_only_line_is_still_being_written_is_still_a_log(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_bytes(b'{"type": "assistant", "message": {"usa')
    chunk = read_new(f, 0)
    assert chunk.data == b"" and chunk.incomplete_tail
    assert looks_like_jsonl(chunk)


def test_the_head_hash_from_bytes_read_equals_the_one_read_again(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_bytes(b'{"n": 1}\n' * 500)
    plan = plan_read(f, "claude-code", None)
    assert plan is not None
    from_read = state_after_read(plan, plan.size, {}, f.read_bytes())
    from_file = state_after_read(plan, plan.size, {})
    assert from_read.head_hash == from_file.head_hash == head_hash(f, 1024) != ""


def test_a_path_string_plans_the_same_read_as_a_path(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_bytes(b'{"n": 1}\n' * 500)
    first = plan_read(str(f), "claude-code", None)
    assert first is not None and first.path == str(f) and first.start == 0
    state = state_after_read(first, first.size, {}, f.read_bytes())
    assert plan_read(str(f), "claude-code", state) is None  # nothing new
    with f.open("ab") as out:
        out.write(b'{"n": 2}\n')
    again, by_path = plan_read(str(f), "claude-code", state), plan_read(f, "claude-code", state)
    assert again is not None and by_path is not None
    assert (again.path, again.start, again.size) == (by_path.path, by_path.start, by_path.size)
    assert again.start == first.size  # only the new line: same file, same head
    assert plan_read(str(tmp_path / "gone.jsonl"), "claude-code", None) is None


def test_a_log_rewritten_in_place_with_the_same_head_is_read_again_from_the_start(
    tmp_path: Path,
) -> None:
    """Same file, same first KiB, rewritten past it and longer: reading on from the old
    offset would skip what changed before it (calls were lost)."""
    f = tmp_path / "s.jsonl"
    head = b'{"n": 0}\n' * 200  # over 1 KiB: the head hash cannot see what follows
    f.write_bytes(head + b'{"n": 1}\n' * 300)
    first = plan_read(f, "claude-code", None)
    assert first is not None
    state = state_after_read(first, first.size, {}, f.read_bytes())
    with f.open("r+b") as out:  # the same inode: rewritten, not replaced
        out.write(head + b'{"n": 2}\n' * 400)
    again = plan_read(f, "claude-code", state)
    assert again is not None and again.start == 0
    with f.open("ab") as out:  # an ordinary append still resumes where it stopped
        out.write(b'{"n": 3}\n')
    state = state_after_read(again, again.size, {}, f.read_bytes()[: again.size])
    resumed = plan_read(f, "claude-code", state)
    assert resumed is not None and resumed.start == again.size
