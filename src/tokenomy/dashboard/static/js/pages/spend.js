// Overview, Costs, Models and Projects: where the money and tokens go.

import { api } from "../api.js";
import { barChart, seriesChart } from "../charts.js";
import { card, code, empty, exportButtons, h, kpi, table, withBar } from "../dom.js";
import { count, ms, pct, short, usd } from "../format.js";
import { withParams } from "../state.js";

export const GROUPS = ["model", "project", "provider", "user", "key", "source", "org"];
const TOKEN_METRICS = [
  ["input_tokens", "Input"], ["cache_read_tokens", "Cache reads"],
  ["cache_write_tokens", "Cache writes"], ["output_tokens", "Output"],
];

export function kpis(s) {
  const savings = s.cache.prompt_cache_savings_usd + s.cache.response_cache_savings_usd;
  return h("div", { class: "kpis" },
    kpi("Cost", "cost", usd(s.cost_usd), s.unknown_cost_calls ? `+ ${count(s.unknown_cost_calls)} calls of unknown cost` : null),
    kpi("Calls", "calls", count(s.calls)),
    kpi("Error rate", "error_rate", pct(s.error_rate), `${count(s.failed_calls)} failed`,
      { bad: s.error_rate >= 0.05 }),
    kpi("Tokens", "tokens", short(s.tokens.total),
      `${short(s.tokens.input_tokens)} in · ${short(s.tokens.output_tokens)} out`),
    kpi("Latency p50 / p95", "latency", `${ms(s.latency_ms.p50)} / ${ms(s.latency_ms.p95)}`,
      s.latency_ms.calls_timed ? `${count(s.latency_ms.calls_timed)} calls timed` : "no timings"),
    kpi("Cache savings", "savings", usd(savings),
      `${usd(s.cache.prompt_cache_savings_usd)} prompt cache · ${count(s.cache.response_cache_hits)} response hits`),
    kpi("Unknown cost", "unknown", count(s.unknown_cost_calls), null, { bad: s.unknown_cost_calls > 0 }));
}

// Nothing in range: say what to do next, not just "no data".
export function noCalls(ctx) {
  const filtered = Object.keys(ctx.state.filters).length > 0;
  // Calls may well be stored, only earlier: say so first, with the wider range one click away.
  const wider = ctx.state.range === "90d" ? null
    : h("a", { href: ctx.url({ range: "90d", since: null, until: null }), "data-nav": "1" },
      "the last 90 days");
  return empty("No calls in this range yet",
    h("p", {}, filtered ? "Nothing matches these filters here: widen the range or remove a filter. "
      : "Nothing was recorded in this range. ", wider ? ["Try ", wider, ", or record some calls: "]
      : "Record some calls: ", "they show up here within seconds."),
    h("p", {}, "Import your coding agents' logs (Claude Code, Codex, Gemini CLI):"),
    h("pre", {}, "tokenomy import"),
    h("p", {}, "or point an SDK at the gateway (", code("tokenomy serve"), "):"),
    h("pre", {}, "export OPENAI_BASE_URL=http://127.0.0.1:4000/v1\nexport ANTHROPIC_BASE_URL=http://127.0.0.1:4000"));
}

// A timeseries chart whose bars open the calls behind them.
export async function seriesCard(ctx, title, params, opts = {}) {
  const ts = await api("timeseries", withParams(ctx.scope, { interval: ctx.scope.interval, ...params }));
  const chart = seriesChart(ts, { title, money: params.metric === "cost", ...opts,
    pointUrl: (i, series) => ctx.drill(ts, i, series), navigate: ctx.navigate });
  return card(title, chart, { span: opts.span || 12,
    actions: exportButtons("timeseries", withParams(ctx.scope, { interval: ctx.scope.interval, ...params }), title.toLowerCase().replace(/\W+/g, "-")) });
}

function breakdownColumns(by) {
  return [
    { label: by, value: (r) => (r.key === null ? "(none)" : String(r.key)), key: "key" },
    { label: "Cost", num: true, key: "cost", tip: "cost", value: (r) => r._bar },
    { label: "Calls", num: true, key: "calls", tip: "calls", value: (r) => count(r.calls) },
    { label: "Tokens", num: true, key: "tokens", tip: "tokens", value: (r) => short(r.tokens.total) },
    { label: "Cache reads", num: true, tip: "cache_reads", value: (r) => short(r.tokens.cache_read_tokens) },
    { label: "Failed", num: true, key: "failed", tip: "failed", value: (r) => `${count(r.failed_calls)} (${pct(r.error_rate)})` },
    { label: "$/call", num: true, tip: "per_call", value: (r) => usd(r.calls ? r.cost_usd / r.calls : 0) },
  ];
}

// A breakdown table (sortable, exportable; rows open their calls).
export async function breakdownCard(ctx, by, { title, limit = 50, span = 12, sortable = true } = {}) {
  const sort = ctx.state.params.get("sort") || "cost";
  const order = ctx.state.params.get("order") || "desc";
  const params = withParams(ctx.scope, { by, limit, sort, order });
  const data = await api("breakdown", params);
  const max = Math.max(0, ...data.rows.map((r) => r.cost_usd || 0));
  for (const r of data.rows) r._bar = withBar(usd(r.cost_usd), r.cost_usd || 0, max);
  const rows = data.rows;
  const body = rows.length ? table(breakdownColumns(by), rows, {
    caption: title,
    link: (r) => (r.key === null ? null : ctx.callsUrl({ [by]: String(r.key) })),
    sortable: sortable ? { sort, order, onSort: (key) => ctx.navigate(ctx.url({
      sort: key, order: sort === key && order === "desc" ? "asc" : "desc" })) } : null,
  }) : h("p", { class: "muted" }, "None in this range.");
  const other = data.other ? h("p", { class: "muted" },
    `and ${count(data.other.values)} more ${by} values: ${usd(data.other.cost_usd)}, ${count(data.other.calls)} calls`) : null;
  return card(title || `By ${by}`, h("div", {}, body, other), { span,
    actions: exportButtons("breakdown", params, `breakdown-${by}`) });
}

export async function overview(ctx) {
  const summary = await api("summary", ctx.scope.query);
  if (!summary.calls) return [kpis(summary), noCalls(ctx)];
  const [cost, projects, models] = await Promise.all([
    seriesCard(ctx, "Cost over time by model", { metric: "cost", group_by: "model", top: 6 }),
    breakdownCard(ctx, "project", { title: "Top projects", limit: 8, span: 6, sortable: false }),
    breakdownCard(ctx, "model", { title: "Top models", limit: 8, span: 6, sortable: false }),
  ]);
  return [kpis(summary), h("div", { class: "grid" }, cost, projects, models)];
}

export async function costs(ctx) {
  const group = GROUPS.includes(ctx.state.params.get("group")) ? ctx.state.params.get("group") : "project";
  const picker = h("label", {}, "Split by ", h("select", { "aria-label": "Split by",
    onchange: (e) => ctx.navigate(ctx.url({ group: e.target.value })) },
  GROUPS.map((g) => h("option", { value: g, selected: g === group }, g))));
  const summary = await api("summary", ctx.scope.query);
  if (!summary.calls) return [h("div", { class: "toolbar" }, picker), noCalls(ctx)];
  const tokenSeries = await Promise.all(TOKEN_METRICS.map(([metric]) =>
    api("timeseries", withParams(ctx.scope, { interval: ctx.scope.interval, metric }))));
  const tokens = { interval: ctx.scope.interval, buckets: tokenSeries[0].buckets,
    series: tokenSeries.map((t, i) => ({ key: TOKEN_METRICS[i][1], values: t.series.length ? t.series[0].values : t.buckets.map(() => 0) })) };
  const [cost, table, forecast] = await Promise.all([
    seriesCard(ctx, `Cost over time by ${group}`, { metric: "cost", group_by: group, top: 8 }),
    breakdownCard(ctx, group, { title: `Cost by ${group}` }),
    forecastCard(ctx),
  ]);
  const tokenCard = card("Tokens over time by category",
    seriesChart(tokens, { title: "Tokens by category", pointUrl: (i) => ctx.drill(tokens, i, null),
      navigate: ctx.navigate }));
  return [h("div", { class: "toolbar" }, picker), kpis(summary),
    h("div", { class: "grid" }, cost, forecast, tokenCard, table)];
}

// Spend forecast: the last weeks and the next 30 days (expected, and the 80% interval as
// two more lines), with the 7- and 30-day totals. It ends the history where the range ends.
export async function forecastCard(ctx) {
  const q = new URLSearchParams();
  for (const k of ["timezone", "until", "project"]) if (ctx.scope.query.get(k)) q.set(k, ctx.scope.query.get(k));
  q.set("days", "30");
  const f = await api("forecast", q);
  const title = "Spend forecast";
  if (!f.has_history) {
    return card(title, h("p", { class: "muted" }, "No spend in the last weeks to forecast from."));
  }
  const shown = f.history_buckets.length > 28 ? f.history_buckets.length - 28 : 0;
  const past = f.total.history.slice(shown);
  const gap = past.map(() => null);
  const ahead = f.total.forecast;
  const ts = { interval: "day", buckets: [...f.history_buckets.slice(shown), ...f.forecast_buckets],
    series: [
      { key: "Spent", values: [...past, ...ahead.map(() => null)] },
      { key: "Forecast", values: [...gap, ...ahead.map((b) => b.expected)] },
      { key: "Low (10%)", values: [...gap, ...ahead.map((b) => b.low)] },
      { key: "High (90%)", values: [...gap, ...ahead.map((b) => b.high)] },
    ] };
  const band = (b) => `${usd(b.expected)} (${usd(b.low)} to ${usd(b.high)})`;
  const rows = [{ key: "Total", totals: f.total.totals }, ...f.projects];
  const totals = table([
    { label: "project", value: (r) => String(r.key) },
    { label: "Next 7 days", num: true, value: (r) => band(r.totals["7"]) },
    { label: "Next 30 days", num: true, value: (r) => band(r.totals["30"]) },
  ], rows, { caption: "Forecast totals, 80% intervals" });
  const notes = f.total.notes.map((n) => h("p", { class: "muted" }, n));
  return card(title, h("div", { "data-testid": "forecast" },
    seriesChart(ts, { title, money: true, type: "line", stacked: false }), totals,
    h("p", { class: "muted" }, `From ${f.first_forecast_day}, ${f.total.history_days} days of history; ` +
      "expected spend with its 80% interval, each project forecast on its own."), notes));
}

export async function models(ctx) {
  const data = await api("breakdown", withParams(ctx.scope, { by: "model", limit: 15 }));
  if (!data.rows.length) return noCalls(ctx);
  const labels = data.rows.map((r) => (r.key === null ? "(none)" : String(r.key)));
  const bars = card("Cost per model", barChart(labels, data.rows.map((r) => r.cost_usd || 0), {
    title: "Cost per model", money: true,
    onBar: (i) => data.rows[i].key !== null && ctx.navigate(ctx.callsUrl({ model: String(data.rows[i].key) })) }),
  { span: 6 });
  const [calls, table] = await Promise.all([
    seriesCard(ctx, "Calls over time by model", { metric: "calls", group_by: "model", top: 6 }, { span: 6 }),
    breakdownCard(ctx, "model", { title: "Models" }),
  ]);
  return h("div", { class: "grid" }, bars, calls, table);
}

export async function projects(ctx) {
  const summary = await api("summary", ctx.scope.query);
  if (!summary.calls) return noCalls(ctx);
  const parts = await Promise.all([
    seriesCard(ctx, "Cost over time by project", { metric: "cost", group_by: "project", top: 8 }),
    breakdownCard(ctx, "project", { title: "Projects" }),
    breakdownCard(ctx, "user", { title: "Users", limit: 20, sortable: false }),
  ]);
  return h("div", { class: "grid" }, parts);
}
