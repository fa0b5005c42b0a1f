"""Report tables in a terminal 80 columns wide: nothing cut that tells rows apart."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from tokenomy.analytics.rows import Report, Row, merge_into
from tokenomy.cli.format import printable, tokens, usd
from tokenomy.cli.render import fit, report_table
from tokenomy.record import NANOS_PER_USD

UTC = ZoneInfo("UTC")


def _row(key: str, calls: int, cost_usd: str, saved_usd: str, **extra: object) -> Row:
    row = Row(key, calls=calls, failed_calls=calls // 50)
    row.cost_nanos = int(float(cost_usd) * NANOS_PER_USD)
    row.cache_savings_nanos = int(float(saved_usd) * NANOS_PER_USD)
    row.tokens["input_tokens"] = calls * 71
    row.tokens["output_tokens"] = calls * 893
    row.tokens["cache_read_tokens"] = calls * 48_123
    row.tokens["cache_write_tokens"] = calls * 5_271
    row.extra.update(extra)
    return row


def _report(kind: str, rows: list[Row]) -> Report:
    totals = Row("total")
    for r in rows:
        merge_into(totals, r)
    return Report(kind, rows, totals, "UTC")


def _render(report: Report, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(report_table(report, UTC, width=width))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 100])
def test_similar_names_stay_apart_and_no_number_is_cut(width: int) -> None:
    rows = [
        _row("mcp__playwright__browser_navigate", 1_140, "69.21", "960.66", mcp_server="x"),
        _row("mcp__playwright__browser_snapshot", 1_143, "68.92", "951.05", mcp_server="x"),
        _row("Read", 8_151, "488.27", "1309", uses=8_852),
    ]
    for r in rows:
        r.extra.setdefault("uses", r.calls + 11)
    report = _report("tools", rows)
    lines = _render(report, width)
    assert max(len(line) for line in lines) <= width
    keys = [line.split("  ")[0].strip() for line in lines if "1,14" in line]
    assert len(keys) == 2 and keys[0] != keys[1], keys
    text = "\n".join(lines)
    for r in rows:  # every number in full, though a row's may be wider than the total's
        for cell in (f"{r.calls:,}", tokens(r.tokens["cache_read_tokens"]), usd(r.cost_usd)):
            assert str(cell) in text


def test_a_saving_wider_than_the_total_is_not_cut() -> None:
    # $960.66 (a row) is wider than $2,221 (the total): columns used to be sized by totals.
    rows = [
        _row("web-dashboard", 6_501, "368.32", "960.66"),
        _row("docs-site", 7_369, "422.61", "951.05"),
        _row("infra", 8_219, "482.21", "309.40"),
    ]
    lines = _render(_report("project", rows))
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for cell in ("$960.66", "$951.05", "$309.40", "$2,221"):
        assert cell in text


def test_a_session_shows_its_whole_id_or_cuts_it_in_the_middle() -> None:
    """Only the id's first 8 characters were shown: UUIDv7 sessions started in the same
    minute (parallel Codex runs) all looked the same."""
    rows = [
        _row("019a01ee-393c-7cb1-8f00-aa0000000001", 16, "0.667", "1.31", project="docs-site"),
        _row(
            "019a01ee-393c-7cb1-8f00-aa0000000002",
            20,
            "1.25",
            "2.94",
            project="a-very-long-project-name",
        ),
    ]
    wide = _render(_report("session", rows), 140)
    for row in rows:
        assert any(line.lstrip().startswith(f"{row.key} {row.extra['project']} ") for line in wide)
    narrow = _render(_report("session", rows))
    assert max(len(line) for line in narrow) <= 80
    keys = [line.split("  ")[0].strip() for line in narrow if line.lstrip().startswith("019")]
    assert len(keys) == 2 and keys[0] != keys[1], keys
    assert keys[0].split()[0].endswith("01") and keys[1].split()[0].endswith("02")
    assert all("…" in key for key in keys)


@pytest.mark.parametrize(
    ("text", "width", "out"),
    [
        ("short", 10, "short"),
        ("playwright__browser_navigate", 13, "play…navigate"),
        ("playwright__browser_click", 13, "play…er_click"),
        ("abc", 1, "a"),
    ],
)
def test_fit_cuts_in_the_middle(text: str, width: int, out: str) -> None:
    assert fit(text, width) == out
    assert len(fit(text, width)) <= width


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("\x1b[31mRED\x1b[0m", "\\x1b[31mRED\\x1b[0m"),
        ("\x1b]0;title\x07Bash", "\\x1b]0;title\\x07Bash"),
        ("two\nlines\r\t", "two\\nlines\\r\\t"),
        (
            "abc\u202egnp.exe \u2066x\u2069 \x9b \x7f",
            "abc\\u202egnp.exe \\u2066x\\u2069 \\x9b \\x7f",
        ),
        ("café 日本 C:\\dir", "café 日本 C:\\dir"),  # printable text is left as it is
    ],
)
def test_control_characters_become_visible_escapes(text: str, out: str) -> None:
    assert printable(text) == out
    assert fit(text, 80) == out  # fit escapes first, so its cut counts what is shown


def test_every_cell_of_a_report_shows_escapes_and_keeps_its_row() -> None:
    rows = [_row("web\n\x1b[2Kclear", 3, "1.5", "0.1"), _row("api", 2, "0.5", "0")]
    lines = _render(_report("project", rows))
    assert any(line.lstrip().startswith("web\\n\\x1b[2Kclear ") for line in lines)
    assert not any("\x1b" in line or line.startswith("clear") for line in lines)


def test_a_block_keeps_its_hour_in_80_columns() -> None:
    rows = [_row("b1", 41_160, "2381", "6237"), _row("b2", 26, "1.82", "3.08", active=True)]
    rows[0].first_ms = 1_788_246_000_000  # 2026-09-01 07:00 UTC
    rows[1].first_ms = 1_788_264_000_000  # 2026-09-01 12:00 UTC
    narrow, wide = _render(_report("blocks", rows)), _render(_report("blocks", rows), 120)
    assert max(len(line) for line in narrow) <= 80
    assert any(line.lstrip().startswith("09-01 07:00 ") for line in narrow)
    assert any(line.lstrip().startswith("09-01 12:00 ●") for line in narrow)
    assert any(line.lstrip().startswith("2026-09-01 12:00 ●") for line in wide)
