"""The report page's stylesheet: system fonts (nothing to fetch), light and dark colours
from ``prefers-color-scheme``, light again on paper, and a layout that fits a phone."""

from __future__ import annotations

LIGHT = {
    "bg": "#ffffff",
    "fg": "#1d2330",
    "muted": "#5b6475",
    "line": "#e3e6ec",
    "card": "#f6f7f9",
    "accent": "#2f6fdb",
    "bad": "#b3261e",
    # Series colours, told apart by people with the common colour-vision deficiencies.
    "c0": "#2f6fdb",
    "c1": "#e8833a",
    "c2": "#1e9e8f",
    "c3": "#b4589b",
    "c4": "#7f8f1f",
    "c5": "#c9951a",
    "c6": "#6c5ce7",
    "c7": "#d64550",
    "cother": "#9aa3b2",
}
DARK = {
    "bg": "#14171c",
    "fg": "#e6e9ef",
    "muted": "#9aa3b2",
    "line": "#2b313b",
    "card": "#1c2027",
    "accent": "#6ea1ff",
    "bad": "#ff8a80",
    "c0": "#6ea1ff",
    "c1": "#ffa75e",
    "c2": "#4fd1c0",
    "c3": "#e08cc8",
    "c4": "#b5c94a",
    "c5": "#f2c14e",
    "c6": "#a99cff",
    "c7": "#ff7b86",
    "cother": "#6b7382",
}


def _vars(colours: dict[str, str]) -> str:
    return ":root{" + ";".join(f"--{k}:{v}" for k, v in colours.items()) + "}"


_SERIES = "".join(f".s{i}{{fill:var(--c{i})}}" for i in range(8)) + ".sother{fill:var(--cother)}"

CSS = (
    ":root{color-scheme:light dark}"
    + _vars(LIGHT)
    + "@media (prefers-color-scheme:dark){"
    + _vars(DARK)
    + "}"
    + "@media print{:root{color-scheme:light}"
    + _vars(LIGHT)
    + "}"
    + _SERIES
    + """
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:980px;margin:0 auto;padding:0 16px}
h1{font-size:1.5rem;margin:24px 0 2px}
h2{font-size:1.1rem;margin:30px 0 8px}
p{margin:4px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.muted{color:var(--muted)}
.bad{color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px;
 margin-top:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card h3{margin:0;font-size:.75rem;font-weight:600;color:var(--muted);text-transform:uppercase;
 letter-spacing:.04em}
.card .big{font-size:1.45rem;font-weight:650;margin:2px 0;font-variant-numeric:tabular-nums}
.card .sub{font-size:.82rem;color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.9rem}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;
 vertical-align:top}
th{font-size:.75rem;color:var(--muted);font-weight:600}
.n{text-align:right}
td.name{white-space:normal;overflow-wrap:anywhere;min-width:8em}
header{overflow-wrap:anywhere}
.cut{white-space:normal;overflow-wrap:anywhere}
.hbar{width:110px;height:10px;display:block;margin-top:5px}
.hbar .track{fill:var(--line)}
.hbar .fill{fill:var(--accent)}
svg.chart{width:100%;min-width:460px;height:auto;display:block}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .base{stroke:var(--muted);stroke-width:1}
.chart .axis{fill:var(--muted);font-size:11px;font-family:inherit}
.chart .axis.x{font-size:10px}
.legend{list-style:none;padding:0;margin:8px 0;display:flex;flex-wrap:wrap;gap:4px 16px;
 font-size:.85rem}
.legend li{min-width:0;max-width:100%;overflow-wrap:anywhere}
.legend svg{width:10px;height:10px;margin-right:6px;vertical-align:-1px}
details{margin-top:8px}
summary{cursor:pointer;color:var(--muted);font-size:.85rem}
.empty{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:20px;
 margin-top:20px}
footer{color:var(--muted);font-size:.8rem;margin-top:36px;margin-bottom:28px}
@media (max-width:600px){body{font-size:14px}th,td{padding:4px 5px}.hbar{width:56px}
 .card .big{font-size:1.2rem}}
@media print{body{font-size:10pt}.card,tr,svg{break-inside:avoid}details{display:none}}
"""
)
