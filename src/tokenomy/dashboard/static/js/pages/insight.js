// Sessions, Failures and Cache: the ranked lists, each row with the calls behind it.

import { api } from "../api.js";
import { seriesChart } from "../charts.js";
import { card, exportButtons, h, kpi, table, withBar } from "../dom.js";
import { count, cutMiddle, pct, short, usd, when } from "../format.js";
import { withParams } from "../state.js";
import { breakdownCard, noCalls } from "./spend.js";

const evidence = (ctx, ids) => h("span", { class: "tags" },
  (ids || []).map((id, i) => h("a", { href: ctx.callUrl(id), "data-nav": "1",
    "aria-label": `Example call ${i + 1}` }, `#${i + 1}`)));

function toolTags(tools) {
  if (!tools || !tools.length) return h("span", { class: "muted" }, "–");
  return h("span", { class: "tags" }, tools.slice(0, 8).map((t) => {
    const kind = t.mcp_server ? `MCP server ${t.mcp_server}` : "built-in tool";
    const label = t.mcp_server ? `${t.mcp_server}: ${t.name}` : t.name;
    const shown = cutMiddle(label, 32); // a tag does not wrap: a long name is cut, whole in the title
    return h("span", { class: "badge", title: shown === label ? kind : `${label} (${kind})` },
      shown, ` ×${count(t.uses)}`);
  }));
}

const modelNames = (models) => (models || []).filter((m) => m.model)
  .map((m) => m.model).slice(0, 3).join(", ");

export async function sessions(ctx) {
  const params = withParams(ctx.scope, { what: "sessions", limit: 50 });
  const data = await api("top", params);
  if (!data.rows.length) return noCalls(ctx);
  const max = Math.max(...data.rows.map((r) => r.cost_usd || 0));
  const columns = [
    { label: "Session", value: (r) => h("span", { class: "mono" }, String(r.key).slice(0, 18)) },
    { label: "Project", value: (r) => r.project || "–" },
    { label: "Cost", num: true, tip: "cost", value: (r) => withBar(usd(r.cost_usd), r.cost_usd || 0, max) },
    { label: "Calls", num: true, tip: "calls", value: (r) => count(r.calls) },
    { label: "Tokens", num: true, value: (r) => short(r.tokens.total) },
    { label: "Models", value: (r) => modelNames(r.models) || "–" },
    { label: "Tools and MCP servers", value: (r) => toolTags(r.tools) },
    { label: "Started", value: (r) => when(r.first_at, ctx.state.tz) },
    { label: "Failed", num: true, tip: "failed", value: (r) => count(r.failed_calls) },
    { label: "Costliest calls", value: (r) => evidence(ctx, r.evidence) },
  ];
  const top = card("Most expensive sessions", table(columns, data.rows, {
    caption: "Most expensive sessions", link: (r) => ctx.callsUrl({ session: String(r.key) }) }),
  { actions: exportButtons("top", params, "top-sessions"),
    subtitle: "Agent sessions and SDK sessions in this range, with the tools and MCP servers they used." });
  const tools = await breakdownCard(ctx, "tool", { title: "Cost of calls by tool used", limit: 30, sortable: false });
  return h("div", { class: "grid" }, top, tools);
}

export async function failures(ctx) {
  const params = withParams(ctx.scope, { interval: ctx.scope.interval, limit: 50 });
  const data = await api("failures", params);
  const t = data.total;
  const head = h("div", { class: "kpis" },
    kpi("Failed calls", "failed", count(t.failed_calls), `of ${count(t.calls)} calls`, { bad: t.failed_calls > 0 }),
    kpi("Error rate", "error_rate", pct(t.error_rate), null, { bad: t.error_rate >= 0.05 }),
    kpi("Kinds of failure", "groups", count(t.groups)));
  if (!t.calls) return [head, noCalls(ctx)];
  if (!data.rows.length) {
    return [head, h("div", { class: "empty", "data-testid": "empty" }, h("h2", {}, "No failures in this range"),
      h("p", {}, "Every call in this range succeeded."))];
  }
  const top = data.rows.slice(0, 6);
  const label = (r) => `${r.error_type || "error"} · ${r.model || r.provider || "?"}`;
  const ts = { interval: data.interval, buckets: data.buckets,
    series: top.map((r) => ({ key: label(r), values: r.counts })) };
  const chart = card("Failures over time", seriesChart(ts, { title: "Failures over time",
    navigate: ctx.navigate,
    pointUrl: (i, s) => {
      const row = s ? top[ts.series.indexOf(s)] : null;  // null: the bucket's failures, all kinds
      return ctx.drill(ts, i, null, { status: "error", model: row && row.model ? row.model : null,
        provider: row && row.provider ? row.provider : null,
        error_type: row && row.error_type ? row.error_type : null });
    } }));
  const columns = [
    { label: "Error", value: (r) => r.error_type || "(unnamed)" },
    { label: "Provider", value: (r) => r.provider || "–" },
    { label: "Model", value: (r) => r.model || "–" },
    { label: "Calls", num: true, tip: "failed", value: (r) => count(r.failed_calls) },
    { label: "Share of calls", num: true, tip: "error_rate", value: (r) => pct(r.share, 2) },
    { label: "HTTP", value: (r) => (r.http_statuses || []).join(", ") || "–" },
    { label: "Sessions", num: true, value: (r) => count(r.sessions) },
    { label: "Last seen", value: (r) => when(r.last_at, ctx.state.tz) },
    { label: "Examples", value: (r) => evidence(ctx, r.examples) },
  ];
  const groups = card("Failures by error, provider and model", table(columns, data.rows, {
    caption: "Failure groups",
    link: (r) => ctx.callsUrl({ status: "error", ...(r.model ? { model: r.model } : {}),
      ...(r.provider ? { provider: r.provider } : {}),
      ...(r.error_type ? { error_type: r.error_type } : {}) }) }),
  { actions: exportButtons("failures", params, "failures") });
  return [head, h("div", { class: "grid" }, chart, groups)];
}

export async function cache(ctx) {
  const params = withParams(ctx.scope, { limit: 30 });
  const adviceParams = withParams(ctx.scope, { limit: 20 });
  const [data, advice] = await Promise.all([api("cache", params), api("advise/cache", adviceParams)]);
  const s = data.summary;
  if (!s.calls) return noCalls(ctx);
  const head = h("div", { class: "kpis" },
    kpi("Cache-read share", "read_share", pct(s.read_share), `${count(s.calls_with_cache_reads)} calls read the cache`),
    kpi("Prompt-cache savings", "savings", usd(s.savings_usd), `on ${usd(s.cost_usd)} spent`),
    kpi("Response-cache hits", "response_hits", count(s.response_cache_hits), `saved ${usd(s.response_cache_savings_usd)}`),
    kpi("Repeated prompts", "duplicates", count(s.duplicates.repeats),
      `${usd(s.duplicates.repeat_cost_usd)} paid for repeats`));
  const models = card("Prompt cache by model", table([
    { label: "Model", value: (r) => r.key || "(none)" },
    { label: "Provider", value: (r) => r.provider || "–" },
    { label: "Read share", num: true, tip: "read_share", value: (r) => pct(r.read_share) },
    { label: "Cache reads", num: true, value: (r) => short(r.tokens.cache_read_tokens) },
    { label: "Cache writes", num: true, value: (r) => short(r.tokens.cache_write_tokens + r.tokens.cache_write_1h_tokens) },
    { label: "Cost", num: true, value: (r) => usd(r.cost_usd) },
    { label: "Saved", num: true, tip: "savings", value: (r) => usd(r.savings_usd) },
  ], data.models, { caption: "Prompt cache by model",
    link: (r) => (r.key ? ctx.callsUrl({ model: r.key }) : null) }), { span: 6 });
  const poor = card("Sessions with poor cache reuse", data.poor_reuse_sessions.length ? table([
    { label: "Session", value: (r) => h("span", { class: "mono" }, String(r.key).slice(0, 18)) },
    { label: "Project", value: (r) => r.project || "–" },
    { label: "Read share", num: true, tip: "read_share", value: (r) => pct(r.read_share) },
    { label: "Calls", num: true, tip: "calls", value: (r) => count(r.calls) },
    { label: "Could save", num: true, tip: "potential", value: (r) => usd(r.potential_savings_usd) },
  ], data.poor_reuse_sessions, { caption: "Sessions with poor cache reuse",
    link: (r) => ctx.callsUrl({ session: String(r.key) }) })
    : h("p", { class: "muted" }, "Every session with large repeated prompts reads them from the cache."),
  { span: 6, subtitle: `At least ${count(data.thresholds.min_calls)} calls and ${short(data.thresholds.min_prompt_tokens)} prompt tokens, under ${pct(data.thresholds.max_read_share, 0)} read from cache.` });
  const dups = card("Duplicate prompts", data.duplicate_prompts.length ? table([
    { label: "Prompt hash", value: (r) => h("span", { class: "mono" }, r.key) },
    { label: "Calls", num: true, tip: "calls", value: (r) => count(r.calls) },
    { label: "Repeats", num: true, tip: "duplicates", value: (r) => count(r.repeats) },
    { label: "Paid for repeats", num: true, value: (r) => usd(r.repeat_cost_usd) },
    { label: "Sessions", num: true, value: (r) => count(r.sessions) },
    { label: "Last seen", value: (r) => when(r.last_at, ctx.state.tz) },
    { label: "Examples", value: (r) => evidence(ctx, r.evidence) },
  ], data.duplicate_prompts, { caption: "Duplicate prompts",
    link: (r) => ctx.callsUrl({}, { q: r.key }) })
    : h("p", { class: "muted" }, "No prompt was sent twice in this range."),
  { actions: exportButtons("cache", params, "duplicate-prompts"),
    subtitle: "What an exact response cache would have saved on prompts sent more than once." });
  return [head, h("div", { class: "grid" }, models, poor, dups, adviceCard(ctx, advice, adviceParams))];
}

const STRATEGIES = { anthropic_5m: "5-minute breakpoint", anthropic_1h: "1-hour TTL",
  none: "no breakpoint", openai_auto: "automatic" };

// The calls behind an advice row: the API names them as /calls parameters (a prefix hash
// is not searchable, so its row gives the model and the time from its first call to its last).
// A time given on one side only keeps the view's range on the other.
export function adviceCallsUrl(ctx, query) {
  const { since, until, q, ...filters } = query;
  if (!since && !until) return ctx.callsUrl(filters, { q });
  return ctx.callsUrl(filters, { range: "custom", q,
    since: since || ctx.scope.query.get("since"), until: until || ctx.scope.query.get("until") });
}

function adviceCard(ctx, data, params) {
  const s = data.summary;
  const max = Math.max(0, ...data.rows.map((r) => r.monthly_savings_usd));
  const body = data.rows.length ? table([
    { label: "Prefix", value: (r) => h("span", { class: "mono", title: `${r.kind} ${r.key}` }, String(r.key).slice(0, 18)) },
    { label: "Model", value: (r) => r.model },
    { label: "Project", value: (r) => r.project || "–" },
    { label: "Calls", num: true, tip: "calls", value: (r) => count(r.calls) },
    { label: "Repeated tokens", num: true, value: (r) => short(r.repeated_tokens) },
    { label: "Prompt cost", num: true, value: (r) => usd(r.prompt_cost_usd) },
    { label: "With advice", num: true, value: (r) => usd(r.advised_prompt_cost_usd) },
    { label: "Saves per 30 days", num: true, value: (r) => withBar(usd(r.monthly_savings_usd), r.monthly_savings_usd, max) },
    { label: "Cache", value: (r) => STRATEGIES[r.strategy] || r.strategy },
    { label: "Expired before reuse", num: true, value: (r) => (r.evicted
      ? `${count(r.evicted)} (${count(r.evicted_within_1h)} within 1 h)` : "0") },
    { label: "What to do", prose: true, value: (r) => r.advice },
    { label: "Calls", value: (r) => evidence(ctx, r.evidence) },
  ], data.rows, { caption: "Prompt-caching advice", link: (r) => adviceCallsUrl(ctx, r.calls_query) })
    : h("p", { class: "muted" }, s.groups
      ? `No caching strategy costs less than what the ${count(s.groups)} repeated prefixes in this range paid.`
      : "No calls in this range share a prefix hash, a session or a prompt hash: nothing to simulate.");
  return card("Prompt-caching advice", body, { actions: exportButtons("advise/cache", params, "cache-advice"),
    subtitle: `Each prefix's calls replayed through the provider's cache: ${usd(s.savings_usd)} less on ` +
      `${usd(s.prompt_cost_usd)} of prompt cost in ${data.range.days.toFixed(1)} days, ` +
      `${usd(s.monthly_savings_usd)} per 30 days. Anthropic: 5-minute TTL refreshed by each hit, or ` +
      "1-hour writes at 2x input; OpenAI: automatic from 1,024 tokens, gone after 5 idle minutes." });
}
