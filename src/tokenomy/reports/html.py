"""The report as one self-contained HTML page: inline CSS and SVG, no script, no font,
image or link to fetch, so it opens offline and survives being mailed. A Content Security
Policy forbids loading anything, as a second line behind escaping every value.

Every value that comes from calls (projects, models, sessions, error types) is escaped
with :func:`esc` where it is written, and only there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tokenomy.humanize import fit
from tokenomy.reports._format import add_usd, cost, days, label, percent, tokens, usd
from tokenomy.reports.style import CSS
from tokenomy.reports.svg import Series, bar, esc, series_class, stacked_bars

CSP = "default-src 'none'; style-src 'unsafe-inline'"
EMPTY_MESSAGE = (
    "No calls in this range: import logs with <code>tokenomy import</code> "
    "or point an SDK at the gateway (<code>tokenomy serve</code>)."
)
TOKEN_ROWS = (
    ("input_tokens", "Input (not cached)"),
    ("cache_read_tokens", "Cache reads"),
    ("cache_write_tokens", "Cache writes, 5 minutes"),
    ("cache_write_1h_tokens", "Cache writes, 1 hour"),
    ("output_tokens", "Output"),
)
INTERVAL_WORDS = {"hour": "hour", "day": "day", "week": "week", "month": "month"}
# A name longer than this is cut in the middle, the whole of it in a title (a tooltip).
NAME_WIDTH = 80
BREAKDOWN_TITLES = {"model": "Model", "project": "Project", "source": "Source"}


def render(data: Mapping[str, Any], version: str = "") -> str:
    """The page for ``data`` as :func:`tokenomy.reports.data.collect` returns it."""
    tz = ZoneInfo(data["range"]["timezone"])
    summary = data["summary"]
    parts = [_head(data), "<body>", _header(data), "<main>"]
    if summary["calls"] == 0:
        parts.append(f'<section class="empty"><p>{EMPTY_MESSAGE}</p></section>')
    else:
        parts += [
            _cards(summary),
            _chart(data["chart"], summary),
            _tokens(summary),
            *(_breakdown(by, data["breakdowns"][by], summary) for by in data["breakdowns"]),
            _sessions(data["top_sessions"], tz),
            _failures(data["failures"], tz),
        ]
    parts += ["</main>", _footer(data, tz, version), "</body></html>"]
    return "\n".join(parts) + "\n"


def _name(text: str) -> str:
    """A name as markup, escaped: a long one (any caller picks its project's name) is cut in
    the middle as the terminal cuts it, whole in its title, and wraps anywhere, so one name
    cannot make the page thousands of pixels wide."""
    if len(text) <= NAME_WIDTH:
        return esc(text)
    return f'<span class="cut" title="{esc(text)}">{esc(fit(text, NAME_WIDTH))}</span>'


def _range_text(data: Mapping[str, Any]) -> str:
    return days(data["range"])


def _head(data: Mapping[str, Any]) -> str:
    title = f"{data['title']}: {_range_text(data)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
    )


def _header(data: Mapping[str, Any]) -> str:
    lines = [f"<header><h1>{esc(data['title'])}</h1>"]
    period = f" · {esc(data['period'])}" if data.get("period") else ""
    lines.append(f'<p class="muted">{esc(_range_text(data))}{period}</p>')
    filters = data.get("filters") or {}
    if filters:
        text = " · ".join(f"{k}: {', '.join(v)}" for k, v in filters.items())
        lines.append(f'<p class="muted">Only {esc(text)}</p>')
    lines.append("</header>")
    return "".join(lines)


def _card(title: str, big: str, sub: str = "", *, bad: bool = False) -> str:
    cls = "big bad" if bad else "big"
    sub_html = f'<p class="sub">{sub}</p>' if sub else ""
    return f'<div class="card"><h3>{title}</h3><p class="{cls}">{big}</p>{sub_html}</div>'


def _cards(s: Mapping[str, Any]) -> str:
    cache = s["cache"]
    saved = add_usd([cache["prompt_cache_savings_usd"], cache["response_cache_savings_usd"]])
    unknown = s["unknown_cost_calls"]
    latency = s["latency_ms"]
    cards = [
        _card(
            "Cost",
            esc(cost(s)),
            f"{_calls(unknown)} without a price not included" if unknown else "",
        ),
        _card("Calls", f"{s['calls']:,}"),
        _card(
            "Failed calls",
            f"{s['failed_calls']:,}",
            f"{percent(s['error_rate'])} error rate",
            bad=s["failed_calls"] > 0,
        ),
        _card(
            "Tokens",
            tokens(s["tokens"]["total"]),
            f"{tokens(s['tokens']['output_tokens'])} output",
        ),
        _card(
            "Cache savings",
            esc(usd(saved)),
            f"prompt cache {esc(usd(cache['prompt_cache_savings_usd']))} · response cache "
            f"{esc(usd(cache['response_cache_savings_usd']))} "
            f"({cache['response_cache_hits']:,} hits)",
        ),
        _card(
            "Unknown cost",
            f"{unknown:,}",
            "calls whose model has no price (never counted as $0)",
            bad=unknown > 0,
        ),
    ]
    if latency["calls_timed"]:
        cards.append(
            _card(
                "Latency p50",
                f"{latency['p50']:,} ms",
                f"p95 {latency['p95']:,} ms · {latency['calls_timed']:,} calls timed",
            )
        )
    return '<section class="cards" aria-label="Headline numbers">' + "".join(cards) + "</section>"


def _calls(n: int) -> str:
    return f"{n:,} call" + ("" if n == 1 else "s")


def _tick(bucket: str, interval: str) -> str:
    if interval == "hour":
        return bucket[11:16]
    if interval == "month":
        return bucket
    return bucket[5:10]


def _chart(chart: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    interval, stack = chart["interval"], chart["stack"]
    buckets: Sequence[str] = chart["buckets"]
    rows = chart["series"]
    series = [
        Series(label(r["key"]), r["values"], series_class(i, r["other"]))
        for i, r in enumerate(rows)
    ]
    word = INTERVAL_WORDS[interval]
    title = f"Cost per {word}, by {stack}"
    totals = [add_usd([s.values[i] for s in series]) for i in range(len(buckets))]
    peak = max(range(len(totals)), key=lambda i: totals[i], default=None)
    desc = f"{len(buckets)} bars, total {usd(summary['cost_usd'])}"
    if peak is not None and totals[peak] > 0:
        desc += f"; the highest is {buckets[peak]} at {usd(totals[peak])}"
    names = _bucket_names(buckets, interval)
    svg = stacked_bars(
        "cost-chart",
        title,
        desc + ".",
        names,
        [_tick(b, interval) for b in buckets],
        series,
        usd,
    )
    legend = "".join(
        f'<li><svg viewBox="0 0 10 10" aria-hidden="true"><rect class="{s.css}" width="10" '
        f'height="10" rx="2"/></svg>{_name(s.name)}</li>'
        for s in series
    )
    head = "".join(f'<th class="n">{_name(s.name)}</th>' for s in series)
    body = "".join(
        f"<tr><td>{esc(name)}</td>"
        + "".join(f'<td class="n">{esc(usd(s.values[i]))}</td>' for s in series)
        + f'<td class="n">{esc(usd(totals[i]))}</td></tr>'
        for i, name in enumerate(names)
    )
    table = (
        f'<details><summary>The numbers</summary><div class="scroll"><table><thead><tr>'
        f'<th>{word.capitalize()}</th>{head}<th class="n">Total</th></tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )
    return (
        f'<section><h2>{esc(title)}</h2><div class="scroll">{svg}</div>'
        f'<ul class="legend" aria-label="Legend">{legend}</ul>{table}</section>'
    )


def _bucket_names(buckets: Sequence[str], interval: str) -> list[str]:
    """Each bucket's name; an hour the clock repeated (when it went back) shows twice, so
    each of the two names its UTC offset."""
    names = [_bucket_name(b, interval) for b in buckets]
    twice = {n for n in names if names.count(n) > 1}
    return [f"{n} (UTC{b[19:]})" if n in twice else n for n, b in zip(names, buckets, strict=True)]


def _bucket_name(bucket: str, interval: str) -> str:
    if interval == "hour":
        return bucket[:16].replace("T", " ")
    if interval == "week":
        return f"week of {bucket}"
    return bucket


def _tokens(s: Mapping[str, Any]) -> str:
    t = s["tokens"]
    total = t["total"] or 1
    rows = "".join(
        f"<tr><td>{name}</td><td class='n'>{t[key]:,}</td>"
        f"<td class='n'>{percent(t[key] / total)}</td><td>{bar(t[key] / total)}</td></tr>"
        for key, name in TOKEN_ROWS
    )
    rows += f"<tr><th>Total</th><th class='n'>{t['total']:,}</th><th></th><th></th></tr>"
    return (
        "<section><h2>Tokens per category</h2>"
        '<p class="muted">Each token is counted in one category. Reasoning: '
        f"{t['reasoning_tokens']:,} of the output tokens.</p>"
        '<div class="scroll"><table><thead><tr><th>Category</th><th class="n">Tokens</th>'
        '<th class="n">Share</th><th></th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def _breakdown(by: str, result: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    total = summary["cost_usd"] or 0.0
    name = BREAKDOWN_TITLES.get(by, by.capitalize())
    rows = list(result["rows"])
    other = result.get("other")
    lines = []
    for r in rows:
        lines.append(_measure_row(_name(label(r["key"])), r, total))
    if other:
        lines.append(_measure_row(f"{other['values']:,} more", other, total, muted=True))
    return (
        f"<section><h2>Cost by {name.lower()}</h2>"
        f'<div class="scroll"><table><thead><tr><th>{name}</th><th class="n">Cost</th>'
        '<th>Share</th><th class="n">Calls</th><th class="n">Failed</th>'
        '<th class="n">Tokens</th><th class="n">No price</th></tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div></section>"
    )


def _measure_row(key_html: str, r: Mapping[str, Any], total: float, *, muted: bool = False) -> str:
    share = r["cost_usd"] / total if total else 0.0
    cls = ' class="name muted"' if muted else ' class="name"'
    return (
        f"<tr><td{cls}>{key_html}</td><td class='n'>{esc(cost(r))}</td>"
        f"<td>{bar(share)}</td><td class='n'>{r['calls']:,}</td>"
        f"<td class='n'>{r['failed_calls']:,}</td><td class='n'>{tokens(r['tokens']['total'])}</td>"
        f"<td class='n'>{r['unknown_cost_calls']:,}</td></tr>"
    )


def _local(iso: str | None, tz: ZoneInfo) -> str:
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _sessions(rows: Sequence[Mapping[str, Any]], tz: ZoneInfo) -> str:
    if not rows:
        return (
            "<section><h2>Top sessions</h2>"
            '<p class="muted">No call in this range belongs to a session.</p></section>'
        )
    lines = []
    for r in rows:
        models = ", ".join(label(m["model"]) for m in r["models"])
        lines.append(
            f"<tr><td class='name'><code>{_name(label(r['key']))}</code></td>"
            f"<td class='name'>{_name(label(r.get('project')))}</td>"
            f"<td class='n'>{esc(cost(r))}</td><td class='n'>{r['calls']:,}</td>"
            f"<td class='n'>{tokens(r['tokens']['total'])}</td>"
            f"<td class='name'>{_name(models)}</td><td>{esc(_local(r['last_at'], tz))}</td></tr>"
        )
    return (
        "<section><h2>Top sessions</h2>"
        '<div class="scroll"><table><thead><tr><th>Session</th><th>Project</th>'
        '<th class="n">Cost</th><th class="n">Calls</th><th class="n">Tokens</th>'
        "<th>Models</th><th>Last call</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table></div></section>"
    )


def _failures(result: Mapping[str, Any], tz: ZoneInfo) -> str:
    total = result["total"]
    if not total["failed_calls"]:
        return "<section><h2>Failures</h2><p>No failed calls.</p></section>"
    groups = total["groups"]
    intro = (
        f"<p>{total['failed_calls']:,} of {total['calls']:,} calls failed "
        f"({percent(total['error_rate'])}), in {groups:,} "
        f"{'kind' if groups == 1 else 'kinds'} (error type, provider, model).</p>"
    )
    lines = []
    for r in result["rows"]:
        where = " · ".join(label(v) for v in (r["provider"], r["model"]))
        statuses = ", ".join(str(s) for s in r["http_statuses"])
        lines.append(
            f"<tr><td class='name'>{_name(label(r['error_type']))}</td>"
            f"<td class='name'>{_name(where)}</td><td class='n'>{r['failed_calls']:,}</td>"
            f"<td class='n'>{percent(r['share'])}</td><td>{esc(statuses)}</td>"
            f"<td class='n'>{esc(usd(r['cost_usd']))}</td>"
            f"<td>{esc(_local(r['last_at'], tz))}</td></tr>"
        )
    return (
        f"<section><h2>Failures</h2>{intro}"
        '<div class="scroll"><table><thead><tr><th>Error</th><th>Provider · model</th>'
        '<th class="n">Failed</th><th class="n">Share</th><th>HTTP</th><th class="n">Cost</th>'
        "<th>Last seen</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table></div></section>"
    )


def _footer(data: Mapping[str, Any], tz: ZoneInfo, version: str) -> str:
    made = _local(data["generated_at"], tz)
    by = f"Tokenomy {esc(version)}" if version else "Tokenomy"
    return (
        f"<footer><p>Made by {by} on {esc(made)} ({esc(tz.key)}). Costs are at the price in "
        "force at each call's time; a cost marked + leaves out calls whose model has no "
        "price. Savings: what cache reads would have cost at the input price, minus what "
        "they cost, and what answers from the response cache would have cost.</p></footer>"
    )
