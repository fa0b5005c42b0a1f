"""The figures of one benchmark run: per-step rows, the overhead against ``direct``, the
highest rate each target held, the soak, the records check and the issue's goals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen import Results

# "Held": the served rate stays within 5% of the offered one and p99 grows by at most this.
HELD_P99_OVERHEAD_MS = 50.0
HELD_SERVED_SHARE = 0.95


@dataclass
class Step:
    """One target under one constant offered rate."""

    target: str
    kind: str  # "chat", "stream" or "soak"
    offered: float
    duration: float
    achieved: float
    sent: int
    ok: int
    errors: int
    error_detail: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    lag_p99_ms: float
    cpu_pct: float
    rss_mb: float
    rss_peak_mb: float
    p50_overhead_ms: float | None = None
    p99_overhead_ms: float | None = None
    held: bool | None = None
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_results(
        cls,
        target: str,
        kind: str,
        res: Results,
        *,
        cpu_s: float,
        wall_s: float,
        rss_end: int,
        rss_peak: int,
    ) -> Step:
        return cls(
            target=target,
            kind=kind,
            offered=res.offered,
            duration=res.duration,
            achieved=res.achieved_rate(),
            sent=res.sent,
            ok=res.ok,
            errors=res.errors,
            error_detail={
                "http": res.http_errors,
                "timeouts": res.timeouts,
                "connect": res.connect_errors,
                "lost": res.conn_errors,
                "dropped": res.dropped,
            },
            p50_ms=res.latency_ms(50),
            p99_ms=res.latency_ms(99),
            max_ms=res.latency_ms(100),
            lag_p99_ms=res.lag_ms(99),
            cpu_pct=100 * cpu_s / wall_s if wall_s > 0 else math.nan,
            rss_mb=rss_end / 2**20,
            rss_peak_mb=rss_peak / 2**20,
        )

    def compare(self, direct: Step | None) -> None:
        """Overheads against the direct run at the same rate, and whether the rate held."""
        served = self.achieved >= HELD_SERVED_SHARE * self.offered
        if direct is None:
            self.held = served
            return
        self.p50_overhead_ms = self.p50_ms - direct.p50_ms
        self.p99_overhead_ms = self.p99_ms - direct.p99_ms
        # NaN (nothing answered) compares False: not held.
        self.held = served and self.p99_overhead_ms <= HELD_P99_OVERHEAD_MS


@dataclass
class Soak:
    target: str
    step: Step

    @property
    def rss_start_mb(self) -> float:
        return self.step.rss_samples[0][1] if self.step.rss_samples else math.nan

    @property
    def rss_end_mb(self) -> float:
        return self.step.rss_samples[-1][1] if self.step.rss_samples else math.nan

    @property
    def growth_pct(self) -> float:
        return 100 * (self.rss_end_mb - self.rss_start_mb) / self.rss_start_mb

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rss_start_mb": self.rss_start_mb,
            "rss_end_mb": self.rss_end_mb,
            "rss_growth_pct": self.growth_pct,
            **asdict(self.step),
        }


@dataclass
class Records:
    """tokenomy's recording check: records in its database against requests it received."""

    by_phase: dict[str, tuple[int, int]]  # phase -> (requests delivered, records written)

    @property
    def delivered(self) -> int:
        return sum(d for d, _ in self.by_phase.values())

    @property
    def written(self) -> int:
        return sum(w for _, w in self.by_phase.values())

    @property
    def match(self) -> bool:
        return all(d == w for d, w in self.by_phase.values())


@dataclass
class Run:
    meta: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    soaks: list[Soak] = field(default_factory=list)
    records: Records | None = None
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def step(self, target: str, kind: str, rate: float) -> Step | None:
        for s in self.steps:
            if s.target == target and s.kind == kind and s.offered == rate:
                return s
        return None

    def goals(self) -> list[tuple[str, bool | None, str]]:
        """The issue's goals: (goal, met or None if not measured, the figures)."""
        out: list[tuple[str, bool | None, str]] = []
        tok, lite = self.step("tokenomy", "chat", 300), self.step("litellm", "chat", 300)
        if tok is not None and tok.p50_overhead_ms is not None:
            p50, p99 = tok.p50_overhead_ms, tok.p99_overhead_ms or math.nan
            out.append(
                (
                    "tokenomy at 300 req/s: p50 overhead <= 1 ms, p99 overhead <= 5 ms",
                    p50 <= 1.0 and p99 <= 5.0 and bool(tok.held),
                    f"p50 {p50:+.2f} ms, p99 {p99:+.2f} ms, served {tok.achieved:.0f} req/s",
                )
            )
            if lite is not None and lite.p99_overhead_ms is not None:
                out.append(
                    (
                        "p99 overhead at 300 req/s <= a tenth of LiteLLM's",
                        p99 <= lite.p99_overhead_ms / 10,
                        f"tokenomy {p99:+.2f} ms, LiteLLM {lite.p99_overhead_ms:+.2f} ms",
                    )
                )
        tok_max = _held_rate(self.held.get("tokenomy"))
        lite_max = _held_rate(self.held.get("litellm"))
        if tok_max is not None and lite_max is not None:
            met: bool | None = tok_max >= 10 * lite_max if lite_max > 0 else tok_max > 0
            figures = f"tokenomy {self.held['tokenomy']}, LiteLLM {self.held['litellm']}"
            if not met and self.held["tokenomy"].startswith(">="):
                # tokenomy held every rate tried: its limit was not reached, so undecided.
                met, figures = None, figures + " (tokenomy's limit not reached: --find-max)"
            out.append(("highest rate held >= 10x LiteLLM's", met, figures))
        for soak in self.soaks:
            if soak.target == "tokenomy":
                out.append(
                    (
                        "tokenomy memory flat over the soak (< 10% growth)",
                        soak.growth_pct < 10,
                        f"{soak.rss_start_mb:.1f} -> {soak.rss_end_mb:.1f} MB "
                        f"({soak.growth_pct:+.1f}%) over {soak.step.duration:.0f} s",
                    )
                )
        if self.records is not None:
            out.append(
                (
                    "tokenomy recorded every request",
                    self.records.match,
                    f"{self.records.written} records for {self.records.delivered} requests",
                )
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.meta,
            "steps": [asdict(s) for s in self.steps],
            "highest_rate_held": self.held,
            "soak": [s.as_dict() for s in self.soaks],
            "records": None
            if self.records is None
            else {
                "delivered": self.records.delivered,
                "written": self.records.written,
                "match": self.records.match,
                "by_phase": {
                    phase: {"delivered": d, "written": w}
                    for phase, (d, w) in self.records.by_phase.items()
                },
            },
            "servers": self.servers,
            "skipped": self.skipped,
            "goals": [{"goal": g, "met": met, "figures": f} for g, met, f in self.goals()],
        }


def _held_rate(text: str | None) -> float | None:
    """The rate in a "held" entry: ">= 3000 req/s" -> 3000, "< 100 req/s" -> 0."""
    if text is None or text == "-":
        return None
    if text.startswith("<"):
        return 0.0
    return float(text.removeprefix(">= ").split()[0])


def _fmt(value: float | None, spec: str = ".1f", signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return format(value, ("+" if signed else "") + spec)


def render(run: Run) -> str:
    """The human-readable report."""
    m = run.meta
    lines = [
        "Gateway overhead: tokenomy serve vs the LiteLLM proxy",
        f"{m['date']} | {m['machine']['cpu']}, {m['machine']['cores']} cores, "
        f"{m['machine']['memory_gb']} GB | {m['machine']['kernel']}",
        f"tokenomy {m['versions']['tokenomy']} ({m['versions']['commit']}), "
        f"LiteLLM {m['versions']['litellm'] or 'not installed'}, "
        f"Python {m['versions']['python']}",
        f"mock upstream answers after {m['settings']['delay_ms']:g} ms; one worker per proxy; "
        f"{m['settings']['duration']:g} s per step after a {m['settings']['warmup']:g} s "
        "warm-up; open-loop constant rate",
        "",
    ]
    header = (
        f"{'target':<10}{'offered':>8}{'achieved':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'+p50 ms':>10}{'+p99 ms':>10}{'errors':>8}{'CPU %':>7}{'RSS MB':>8}"
    )
    kinds = [k for k in ("chat", "stream") if any(s.kind == k for s in run.steps)]
    for kind in kinds:
        rates = sorted({s.offered for s in run.steps if s.kind == kind})
        for rate in rates:
            label = "streaming" if kind == "stream" else "non-streaming"
            lines += [f"{rate:g} req/s offered, {label}", header]
            for s in run.steps:
                if s.kind == kind and s.offered == rate:
                    lines.append(
                        f"{s.target:<10}{s.offered:>8g}{s.achieved:>9.1f}"
                        f"{_fmt(s.p50_ms):>9}{_fmt(s.p99_ms):>9}"
                        f" {_fmt(s.p50_overhead_ms, '.2f', True):>9}"
                        f" {_fmt(s.p99_overhead_ms, '.2f', True):>9}"
                        f"{s.errors:>8}{_fmt(s.cpu_pct, '.0f'):>7}{s.rss_peak_mb:>8.1f}"
                    )
            lines.append("")
    if run.held:
        lines.append(
            f"Highest rate held (served >= {HELD_SERVED_SHARE:.0%} of offered, "
            f"p99 overhead <= {HELD_P99_OVERHEAD_MS:g} ms):"
        )
        lines += [f"  {target:<10}{text}" for target, text in run.held.items()]
        lines.append("")
    for soak in run.soaks:
        s = soak.step
        lines.append(
            f"Soak {soak.target}: {s.offered:g} req/s for {s.duration:g} s, RSS "
            f"{soak.rss_start_mb:.1f} -> {soak.rss_end_mb:.1f} MB ({soak.growth_pct:+.1f}%), "
            f"p50 {_fmt(s.p50_ms)} ms, p99 {_fmt(s.p99_ms)} ms, {s.errors} errors"
        )
    if run.soaks:
        lines.append("")
    if run.records is not None:
        rec = run.records
        verdict = "all recorded" if rec.match else "MISMATCH"
        lines.append(
            f"tokenomy records: {rec.written} written for {rec.delivered} requests received "
            f"({verdict})"
        )
        if not rec.match:
            lines += [
                f"  {phase}: {w} records for {d} requests"
                for phase, (d, w) in rec.by_phase.items()
                if d != w
            ]
        lines.append("")
    for name, info in run.servers.items():
        notes = "".join(f"; {note}" for note in info["notes"])
        lines.append(
            f"{name}: ready in {info['startup_s']:.1f} s, {info['processes']} process(es){notes}"
        )
    for name, why in run.skipped.items():
        lines.append(f"{name}: SKIPPED: {why}")
    goals = run.goals()
    if goals:
        lines += ["", "Goals (issue):"]
        for goal, met, figures in goals:
            mark = "-" if met is None else ("met" if met else "NOT met")
            lines.append(f"  [{mark}] {goal}: {figures}")
    lines += ["", "Columns: achieved = answered 200s per second; +p50/+p99 = minus direct at the"]
    lines += ["same rate; CPU % of one core and peak RSS of the server's process tree."]
    lines += ["", f"Reproduce: {m['command']}"]
    return "\n".join(lines)
