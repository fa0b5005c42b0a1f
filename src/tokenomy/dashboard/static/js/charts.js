// Charts with Chart.js (served from this server: static/vendor). Every chart has a text
// label for screen readers and its numbers in a table beneath; clicking a bar or point
// drills down to the calls behind it.

import { h, table } from "./dom.js";
import { bucketLabel, count, cutMiddle, usd } from "./format.js";

// A name in a legend, on an axis or in a tooltip: a canvas cannot wrap it.
const CHART_NAME_MAX = 40;

// Tableau 10: told apart in both themes and by most colour-blind readers.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
  "#ff9da7", "#9c755f", "#bab0ac"];
const OTHER = "#8c8c8c";
const live = new Set();
let pending = [];

export function destroyCharts() {
  for (const chart of live) chart.destroy();
  live.clear();
}

// Draw the charts built since the last call: Chart.js needs its canvas in the page (it
// sizes to its box), so the page is put in place first, then this is called.
export function drawPending() {
  const ready = pending;
  pending = [];
  for (const [canvas, config] of ready) if (canvas.isConnected) live.add(new Chart(canvas, config));
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function baseOptions(money, stacked, horizontal = false) {
  const text = css("--muted");
  const grid = css("--grid");
  const value = (v) => (money ? usd(v) : count(v));
  const valueAxis = { stacked, beginAtZero: true, ticks: { color: text,
    callback: (v) => (money ? usd(v) : Intl.NumberFormat(undefined, { notation: "compact" }).format(v)) },
    grid: { color: grid } };
  const labelAxis = { stacked, ticks: { color: text, maxRotation: 0, autoSkip: true }, grid: { display: false } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    indexAxis: horizontal ? "y" : "x",
    interaction: { mode: horizontal ? "nearest" : "index", intersect: horizontal },
    plugins: {
      legend: { labels: { color: css("--text"), boxWidth: 12 } },
      tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label || ""}: ${value(ctx.parsed[horizontal ? "x" : "y"])}` } },
    },
    scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
  };
}

function mount(box, config, onClick) {
  const canvas = box.querySelector("canvas");
  if (typeof Chart === "undefined") {
    box.replaceChildren(h("p", { class: "muted" }, "The chart library did not load; the numbers are in the table below."));
    return;
  }
  if (onClick) {
    config.options.onClick = (event, elements, chart) => {
      // In "index" mode every series at the bucket is listed, the first series first: the
      // part under the pointer is the one clicked (else the bucket's first, as before).
      const under = chart.getElementsAtEventForMode(event, "point", { intersect: true }, false);
      const hit = under.length ? under[0] : elements[0];
      if (hit) onClick(hit.index, hit.datasetIndex);
    };
    config.options.onHover = (event, elements) => {
      event.native.target.style.cursor = elements.length ? "pointer" : "default";
    };
  }
  pending.push([canvas, config]);
}

// A timeseries answer from the API as a stacked bar chart (or lines), one dataset per series.
// `pointUrl(i, series)`: the calls behind bucket i (of one series, or of all with null),
// opened by a click on the chart and by the links in its table of numbers (for keyboards).
export function seriesChart(ts, { title, money = false, type = "bar", stacked = true, pointUrl,
  navigate, short = false } = {}) {
  const labels = ts.buckets.map((b) => bucketLabel(b, ts.interval));
  const name = (s) => (s.rest ? "other" : s.key === null ? "(none)" : String(s.key));
  const datasets = ts.series.map((s, i) => {
    const colour = s.rest ? OTHER : PALETTE[i % PALETTE.length];
    return { label: cutMiddle(name(s), CHART_NAME_MAX), data: s.values,
      backgroundColor: colour, borderColor: colour, borderWidth: type === "line" ? 2 : 0,
      pointRadius: type === "line" ? 0 : undefined, fill: false };
  });
  const total = ts.series.reduce((a, s) => a + s.values.reduce((x, y) => x + y, 0), 0);
  const summary = `${title}: ${ts.buckets.length} ${ts.interval}s, ${ts.series.length} series, ` +
    `total ${money ? usd(total) : count(total)}.`;
  const canvas = h("canvas", { role: "img", "aria-label": summary });
  const box = h("div", { class: short ? "chart-box short" : "chart-box" }, canvas);
  const drills = pointUrl && navigate;
  mount(box, { type, data: { labels, datasets }, options: baseOptions(money, stacked) },
    drills ? (i, d) => navigate(pointUrl(i, ts.series[d])) : null);
  const shown = (v) => (money ? usd(v) : count(v));
  const cell = (b, s, v) => {
    const url = drills && v ? pointUrl(b, s) : null;
    return url ? h("a", { href: url, "data-nav": "1" }, shown(v)) : shown(v);
  };
  const columns = [{ label: ts.interval, value: (r) => r.label },
    ...ts.series.map((s, i) => ({ label: name(s), num: true, value: (r) => cell(r.b, s, r.values[i]) }))];
  const rows = labels.map((label, b) => ({ b, label, values: ts.series.map((s) => s.values[b]) }));
  return h("div", { "data-testid": "chart" }, box,
    h("details", { class: "data" }, h("summary", {}, "Show the numbers"),
      table(columns, rows, { caption: title, link: drills ? (r) => pointUrl(r.b, null) : null })));
}

// Horizontal bars: one per labelled value.
export function barChart(labels, values, { title, money = false, onBar } = {}) {
  const canvas = h("canvas", { role: "img", "aria-label": `${title}: ` +
    labels.map((l, i) => `${l} ${money ? usd(values[i]) : count(values[i])}`).join(", ") });
  const height = Math.max(120, 28 * labels.length + 40);
  const box = h("div", { class: "chart-box", style: `height:${height}px` }, canvas);
  const datasets = [{ label: title, data: values, backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]) }];
  const shown = labels.map((l) => cutMiddle(String(l), CHART_NAME_MAX));
  const options = baseOptions(money, false, true);
  options.plugins.legend = { display: false };
  mount(box, { type: "bar", data: { labels: shown, datasets }, options }, onBar ? (i) => onBar(i) : null);
  return h("div", { "data-testid": "chart" }, box);
}
