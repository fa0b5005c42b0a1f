"""Project names: one per project directory, unique, stable across imports and agents."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.capture.test_claude_code import assistant, write_jsonl

from tokenomy.capture.claude_code import ClaudeCodeImporter
from tokenomy.capture.codex import CodexImporter
from tokenomy.capture.run_import import import_all
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord
from tokenomy.store import Database
from tokenomy.store.project_names import candidates, normalised, unique_names
from tokenomy.store.writer import write_records

CATALOG = PriceCatalog.load()


def _projects(db: Database) -> dict[str, int]:
    return {str(p): int(n) for p, n in db.query("SELECT project, COUNT(*) FROM calls GROUP BY 1")}


def _claude(db: Database, root: Path) -> None:
    import_all(db, [ClaudeCodeImporter()], CATALOG, roots=[root], workers=1)


def test_two_directories_with_the_same_last_part_stay_two_projects(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "projects"
    write_jsonl(
        root / "-home-u-work-app" / "a.jsonl", [assistant("m1", "r1", cwd="/home/u/work/app")]
    )
    _claude(db, root)
    # A second "app" appears later: the first keeps its name, the new one is told apart.
    write_jsonl(
        root / "-home-u-personal-app" / "b.jsonl",
        [assistant("m2", "r2", cwd="/home/u/personal/app", session="s2")],
    )
    write_jsonl(
        root / "-home-u-work-app" / "c.jsonl",
        [assistant("m3", "r3", cwd="/home/u/work/app", session="s3")],
    )
    _claude(db, root)
    assert _projects(db) == {"app": 2, "personal/app": 1}
    # Names never move: more lines for both, a new run, the same names.
    with (root / "-home-u-personal-app" / "b.jsonl").open("a") as f:
        f.write(json.dumps(assistant("m4", "r4", cwd="/home/u/personal/app", session="s2")) + "\n")
    _claude(db, root)
    assert _projects(db) == {"app": 2, "personal/app": 2}


def test_one_directory_is_one_project_whatever_agent_recorded_it(
    db: Database, tmp_path: Path
) -> None:
    claude = tmp_path / "claude"
    write_jsonl(claude / "-srv-x-api" / "a.jsonl", [assistant("m1", "r1", cwd="/srv/x/api")])
    write_jsonl(claude / "-srv-y-api" / "b.jsonl", [assistant("m2", "r2", cwd="/srv/y/api")])
    _claude(db, claude)
    day = tmp_path / "codex" / "sessions" / "2026" / "01" / "05"
    day.mkdir(parents=True)
    lines = [
        {
            "timestamp": "2026-01-05T09:00:00.000Z",
            "type": "session_meta",
            "payload": {"id": "sess-1", "cwd": "/srv/y/api/", "cli_version": "0.150.0"},
        },
        {
            "timestamp": "2026-01-05T09:00:00.100Z",
            "type": "turn_context",
            "payload": {"cwd": "/srv/y/api/", "model": "gpt-5.1-codex"},
        },
        {
            "timestamp": "2026-01-05T09:00:01.000Z",
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {"total_token_usage": {"input_tokens": 100, "output_tokens": 10}},
            },
        },
    ]
    (day / "rollout-2026-01-05T09-00-00-a.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8"
    )
    import_all(db, [CodexImporter()], CATALOG, roots=[tmp_path / "codex" / "sessions"], workers=1)
    got = {(str(s), str(p)) for s, p in db.query("SELECT DISTINCT source, project FROM calls")}
    # The trailing "/" of Codex's cwd is the same directory as Claude Code's.
    assert got == {("claude-code", "api"), ("claude-code", "y/api"), ("codex", "y/api")}


def test_names_by_shortest_unique_suffix(db: Database) -> None:
    assert candidates("/a/b/c") == ["c", "b/c", "a/b/c"]
    assert candidates(r"C:\Users\me\app") == ["app", "me/app", "Users/me/app", "C:/Users/me/app"]
    assert normalised("/a//b/") == "/a/b"
    with db.transaction() as cur:
        first = unique_names(db, cur, ["/x/a/b/app", "/y/a/b/app", "/z/b/app", "/"])
    # Claimed in path order: /x/... takes "app"; /y/... needs a part /x/... does not end
    # with; /z/... too ("b/app" ends /x/... as well).
    assert first == {"/x/a/b/app": "app", "/y/a/b/app": "y/a/b/app", "/z/b/app": "z/b/app"}
    with db.transaction() as cur:
        again = unique_names(db, cur, ["/z/b/app/", "/w/app"])
    assert again == {"/z/b/app/": "z/b/app", "/w/app": "w/app"}


def test_records_written_directly_get_unique_names_too(db: Database) -> None:
    recs = [
        CallRecord("runner", f"k{i}", 1_000 + i, project="app", project_path=path)
        for i, path in enumerate(["/home/a/app", "/home/b/app", "/home/a/app"])
    ]
    recs.append(CallRecord("runner", "named", 2_000, project="app"))  # given by name: as is
    write_records(db, recs)
    assert _projects(db) == {"app": 3, "b/app": 1}


def test_concurrent_claims_of_one_name_give_two_names(postgres_db: Database) -> None:
    # Two writers (import workers, replicas) claim "app" at once for two directories.
    results: dict[str, dict[str, str]] = {}
    barrier = threading.Barrier(2)

    def claim(path: str) -> None:
        db = Database(postgres_db.url)
        try:
            with db.transaction() as cur:
                barrier.wait()
                results[path] = unique_names(db, cur, [path])
        finally:
            db.close()

    threads = [threading.Thread(target=claim, args=(p,)) for p in ("/one/app", "/two/app")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    names = sorted(n for r in results.values() for n in r.values())
    assert len(names) == 2 and "app" in names and len(set(names)) == 2, results
