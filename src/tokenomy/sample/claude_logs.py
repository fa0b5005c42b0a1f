"""Realistic Claude Code project trees with a known ground truth, for tests and benchmarks.

``generate_tree`` writes ``<root>/projects/<encoded-cwd>/<sessionId>.jsonl`` transcripts,
subagent files under ``<sessionId>/subagents/agent-<id>.jsonl``, and every quirk real logs
hold (one line per content block, streaming partials, ``agent_progress`` mirrors, resumed
sessions replaying earlier lines, synthetic API errors, malformed lines), at configurable
rates. It returns the :class:`GroundTruth` a correct importer must report. See
``docs/claude-code-logs.md`` for the facts the line shapes follow.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tokenomy.sample._claude_session import PastSession, Project, QuirkRates, SessionWriter
from tokenomy.sample._claude_truth import GroundTruth

__all__ = [
    "GroundTruth",
    "QuirkRates",
    "TreeSpec",
    "append_session",
    "encode_project",
    "generate_tree",
]

_DAY_MS = 86_400_000
# Past sessions kept per project for later resumes: bounds memory on multi-GB trees.
_RESUMABLE_PER_PROJECT = 3
_PROJECT_NAMES = (
    "api-gateway",
    "billing",
    "web-dashboard",
    "ml-pipeline",
    "infra",
    "mobile-app",
    "docs-site",
    "data-warehouse",
    "auth-service",
    "cli-tools",
    "search",
    "notifications",
)


def encode_project(cwd: str) -> str:
    """The folder name Claude Code uses for a working directory: non-alphanumerics -> '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


@dataclass(slots=True)
class TreeSpec:
    """What to generate.

    With ``target_bytes`` set, sessions are added until the tree reaches about that size and
    ``sessions`` is ignored; otherwise exactly ``sessions`` sessions are written. Sessions
    start uniformly over ``days`` days from ``start`` (so over every hour of the day).
    """

    root: Path
    sessions: int = 20
    seed: int = 0
    start: datetime = field(default_factory=lambda: datetime(2026, 8, 1, tzinfo=UTC))
    days: int = 14
    projects: int = 4
    target_bytes: int | None = None
    quirks: QuirkRates = field(default_factory=QuirkRates)


def _make_projects(rng: random.Random, count: int, rates: QuirkRates) -> list[Project]:
    projects: list[Project] = []
    for i in range(count):
        name = _PROJECT_NAMES[i % len(_PROJECT_NAMES)] + (
            "" if i < len(_PROJECT_NAMES) else f"-{i}"
        )
        if i % 5 == 4:
            base = f"C:\\Users\\dev\\source\\{name}"  # a Windows path, as in the real fixture
            sep = "\\"
        else:
            base = f"/home/dev/{rng.choice(('work', 'code', 'src'))}/{name}"
            sep = "/"
        folder = encode_project(base)
        cwds: tuple[str, ...] = (base,)
        if rng.random() < rates.cwd_mismatch:
            # Launched from a subdirectory or a worktree: lines carry a cwd that does not
            # encode to the folder name.
            cwds = (base + sep + "packages" + sep + "core", base + "-worktree" + sep + "fix")
        branches = ("main", "HEAD", f"feature/{rng.choice(('cache', 'auth', 'ui', 'perf'))}")
        projects.append(Project(folder, cwds, branches))
    return projects


def _file_writer(truth: GroundTruth) -> Callable[[Path, bytes], None]:
    made: set[Path] = set()

    def write(path: Path, data: bytes) -> None:
        parent = path.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        path.write_bytes(data)
        truth.size_bytes += len(data)
        if path.suffix == ".jsonl":
            truth.files += 1

    return write


def generate_tree(spec: TreeSpec, progress: Callable[[int], None] | None = None) -> GroundTruth:
    """Write a Claude Code tree under ``spec.root/projects`` and return its ground truth.

    ``progress`` is called after each session with the bytes written so far.
    """
    rng = random.Random(spec.seed)
    truth = GroundTruth()
    writer = SessionWriter(rng, truth, spec.quirks, spec.root / "projects", _file_writer(truth))
    projects = _make_projects(rng, max(1, spec.projects), spec.quirks)
    past: dict[str, list[PastSession]] = {p.folder: [] for p in projects}
    start_ms = int(spec.start.timestamp() * 1000)
    hours: list[int] = []
    weights = [rng.randint(1, 10) for _ in projects]
    written = 0
    while True:
        if spec.target_bytes is not None:
            if truth.size_bytes >= spec.target_bytes:
                break
        elif written >= spec.sessions:
            break
        project = rng.choices(projects, weights)[0]
        earlier = past[project.folder]
        resume: PastSession | None = None
        if earlier and writer.roll(spec.quirks.resumed):
            resume = rng.choice(earlier)
            begin = resume.end_ms + rng.randint(60_000, 2 * _DAY_MS)
        else:
            # Start hours dealt from a shuffled deck: every hour of the day gets sessions,
            # so day boundaries differ between time zones.
            if not hours:
                hours = list(range(24))
                rng.shuffle(hours)
            day = rng.randrange(max(1, spec.days))
            begin = start_ms + day * _DAY_MS + hours.pop() * 3_600_000 + rng.randrange(3_600_000)
        done = writer.session(project, begin, resume)
        earlier.append(done)
        if len(earlier) > _RESUMABLE_PER_PROJECT:
            earlier.pop(0)
        written += 1
        if progress is not None:
            progress(truth.size_bytes)
    return truth


def _find_cwd(folder: Path) -> str | None:
    for path in sorted(folder.glob("*.jsonl")):
        with path.open("rb") as f:
            for raw in f:
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(line, dict) and isinstance(line.get("cwd"), str):
                    return str(line["cwd"])
    return None


def _latest_ms(folder: Path) -> int | None:
    """Latest timestamp near the end of any transcript in ``folder`` (reads 64 KiB tails)."""
    latest: int | None = None
    for path in folder.glob("*.jsonl"):
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 65_536))
            tail = f.read()
        for found in re.finditer(rb'"timestamp":"([0-9T:.\-]+)Z"', tail):
            at = datetime.fromisoformat(found.group(1).decode()).replace(tzinfo=UTC)
            ms = int(at.timestamp() * 1000)
            latest = ms if latest is None else max(latest, ms)
    return latest


def _read_resumable(path: Path) -> list[bytes]:
    """The conversation lines a resume of the session at ``path`` copies."""
    lines: list[bytes] = []
    for raw in path.read_bytes().split(b"\n"):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(line, dict) or line.get("type") not in ("user", "assistant", "system"):
            continue
        usage = line.get("message", {}).get("usage") if line["type"] == "assistant" else None
        if usage is not None and not all(
            type(v) is int for k, v in usage.items() if k.endswith("tokens")
        ):
            continue  # a malformed line of the original: not replayed
        lines.append(raw)
    return lines


def append_session(
    root: Path,
    seed: int,
    *,
    project: str | None = None,
    start: datetime | None = None,
    resume: str | None = None,
    quirks: QuirkRates | None = None,
) -> GroundTruth:
    """Add one new session (and its subagent files) to the tree at ``root``.

    ``project`` is a folder under ``root/projects`` (default: one picked from those present,
    or a new one). ``start`` defaults to an hour after the project's latest activity.
    ``resume`` names a session id of that project whose conversation the new file replays
    first, as ``claude --resume`` does. Returns the ground truth of the added session only:
    ``GroundTruth.merge`` it into the tree's.
    """
    rng = random.Random(f"append-session:{seed}")
    rates = quirks or QuirkRates()
    truth = GroundTruth()
    projects_dir = root / "projects"
    existing = (
        sorted(p.name for p in projects_dir.iterdir() if p.is_dir())
        if projects_dir.is_dir()
        else []
    )
    folder = project or (rng.choice(existing) if existing else None)
    if folder is None:
        proj = _make_projects(rng, 1, rates)[0]
    else:
        cwd = _find_cwd(projects_dir / folder) or "/" + folder.strip("-").replace("-", "/")
        proj = Project(folder, (cwd,), ("main",))
    writer = SessionWriter(rng, truth, rates, projects_dir, _file_writer(truth))
    past: PastSession | None = None
    if resume is not None:
        src = projects_dir / proj.folder / f"{resume}.jsonl"
        copied = _read_resumable(src)
        leaf = orjson.loads(copied[-1]).get("uuid") if copied else None
        past = PastSession(resume, proj, _latest_ms(src.parent) or 0, copied, leaf)
    if start is not None:
        begin = int(start.timestamp() * 1000)
    else:
        latest = (
            _latest_ms(projects_dir / proj.folder)
            if (projects_dir / proj.folder).is_dir()
            else None
        )
        begin = (latest or int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)) + 3_600_000
    writer.session(proj, begin, past)
    return truth
