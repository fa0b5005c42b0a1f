// The gateway, live: its deployments (circuit breaker, in-flight, rate-limit windows), the
// calls it just finished, and its traffic over the last hour. The live state comes from the
// server's event stream every two seconds; the hour's traffic from the recorded calls.

import { api } from "../api.js";
import { seriesChart } from "../charts.js";
import { card, code, empty, focusKey, h, kpi, restoreFocus, table } from "../dom.js";
import { count, ms, pct, short, when } from "../format.js";

const CIRCUIT = { closed: "ok", "half-open": "warn", open: "bad" };

function limit(used, max) {
  return max ? `${count(used)} / ${count(max)}` : `${count(used)} (no limit)`;
}

function deployments(state) {
  const rows = state.models.flatMap((m) => m.deployments.map((d) => ({ ...d, alias: m.alias,
    fallbacks: m.fallbacks })));
  return table([
    { label: "Alias", value: (r) => r.alias },
    { label: "Deployment", value: (r) => h("span", { class: "mono" }, r.label) },
    { label: "Circuit", tip: "circuit", value: (r) => h("span", { class: `badge ${CIRCUIT[r.circuit]}` },
      r.circuit, r.cooling_seconds ? ` · ${r.cooling_seconds} s` : "") },
    { label: "In flight", num: true, tip: "in_flight", value: (r) => count(r.in_flight) },
    { label: "Requests / min", num: true, value: (r) => limit(r.requests_last_minute, r.rpm) },
    { label: "Tokens / min", num: true, value: (r) => limit(r.tokens_last_minute, r.tpm) },
    { label: "Failures in a row", num: true, value: (r) => count(r.consecutive_failures) },
    { label: "Now", value: (r) => (r.available ? h("span", { class: "badge ok" }, "available")
      : h("span", { class: "badge warn", title: r.refusal }, r.refusal)) },
    { label: "Fallbacks", value: (r) => r.fallbacks.join(", ") || "–" },
  ], rows, { caption: "Deployments" });
}

function recent(ctx, state) {
  if (!state.recent.length) {
    return h("p", { class: "muted" }, "No calls through this gateway since it started.");
  }
  return table([
    { label: "Time", value: (r) => when(r.at, ctx.state.tz) },
    { label: "Alias", value: (r) => r.alias },
    { label: "Served by", value: (r) => (r.provider ? `${r.provider}/${r.model || "?"}` : "–") },
    { label: "Status", value: (r) => h("span", { class: r.failed ? "badge bad" : "badge ok" },
      r.failed ? `${r.status || ""} ${r.error_type || "error"}`.trim() : String(r.status || "ok")) },
    { label: "Latency", num: true, tip: "latency", value: (r) => ms(r.duration_ms) },
    { label: "First byte", num: true, tip: "ttft", value: (r) => ms(r.ttft_ms) },
    { label: "Tokens", num: true, value: (r) => short(r.tokens) },
    { label: "Attempts", num: true, value: (r) => count(r.attempts) },
  ], state.recent, { caption: "Latest calls", link: (r) => (r.id ? ctx.callUrl(r.id) : null) });
}

function windowKpis(state) {
  const w = state.window;
  return h("div", { class: "kpis", "data-testid": "gateway-window" },
    kpi("Calls, last 5 min", "calls", count(w.calls), `worker ${state.worker.pid} of ${state.worker.workers}`),
    kpi("Error rate, last 5 min", "error_rate", pct(w.error_rate), `${count(w.failed_calls)} failed`,
      { bad: w.error_rate >= 0.05 }),
    kpi("Latency p50 / p95", "latency", `${ms(w.latency_ms.p50)} / ${ms(w.latency_ms.p95)}`),
    kpi("First byte p50", "ttft", ms(w.ttft_ms.p50)));
}

function renderLive(ctx, holder, state) {
  if (!state.models.length) {
    holder.replaceChildren(empty("No models configured on this server",
      h("p", {}, "This server shows the dashboard only. To proxy and record calls, run the gateway " +
        "with your model aliases:"),
      h("pre", {}, "tokenomy serve --config tokenomy.yaml"),
      h("p", {}, "then point an SDK at it, e.g. ", code("OPENAI_BASE_URL=http://127.0.0.1:4000/v1"), ".")));
    return;
  }
  const focused = focusKey(holder); // redrawn every 2 s: the keyboard keeps its place
  holder.replaceChildren(windowKpis(state), h("div", { class: "grid" },
    card("Deployments", deployments(state), { subtitle: `State of worker ${state.worker.pid}, started ${when(state.started_at, ctx.state.tz)}.` }),
    card("Latest calls", recent(ctx, state))));
  restoreFocus(holder, focused);
}

export async function gateway(ctx) {
  const [state, traffic] = await Promise.all([
    api("gateway"),
    api("timeseries", new URLSearchParams({ interval: "minute", metric: "calls", group_by: "status",
      source: "gateway", timezone: ctx.state.tz,
      since: new Date(Math.floor(Date.now() / 60000) * 60000 - 3600000).toISOString() })),
  ]);
  const holder = h("div", { "data-testid": "gateway-live" });
  renderLive(ctx, holder, state);
  const chart = card("Gateway calls per minute, last hour", seriesChart(traffic, {
    title: "Gateway calls per minute", short: true,
    pointUrl: (i, s) => ctx.drill(traffic, i, s, { source: "gateway" }), navigate: ctx.navigate }));
  return {
    nodes: [holder, h("div", { class: "grid" }, chart)],
    live: { gateway: true, onTick: (tick) => tick.gateway && renderLive(ctx, holder, tick.gateway) },
  };
}
