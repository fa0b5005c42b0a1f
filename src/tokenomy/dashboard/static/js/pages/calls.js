// The call explorer: filter, search, page through (keyset: pages never shift while calls
// arrive), and one call in detail.

import { api } from "../api.js";
import { card, exportButtons, h, table } from "../dom.js";
import { count, ms, short, usd, when } from "../format.js";
import { withParams } from "../state.js";
import { noCalls } from "./spend.js";

const PAGE = 50;

function statusBadge(r) {
  if (r.status === "ok") return h("span", { class: "badge ok" }, "ok");
  return h("span", { class: "badge bad" }, r.error_type || r.status || "error");
}

function columns(ctx) {
  return [
    { label: "Time", value: (r) => when(r.started_at, ctx.state.tz) },
    { label: "Model", value: (r) => r.model || "–" },
    { label: "Project", value: (r) => r.project || "–" },
    { label: "User", value: (r) => r.user || "–" },
    { label: "Session", value: (r) => (r.session_id ? h("span", { class: "mono" }, r.session_id.slice(0, 12)) : "–") },
    { label: "Tokens", num: true, tip: "tokens", value: (r) => short(r.tokens.total) },
    { label: "Cost", num: true, tip: "cost", value: (r) => usd(r.cost_usd) },
    { label: "Duration", num: true, tip: "duration", value: (r) => ms(r.duration_ms) },
    { label: "Status", value: statusBadge },
    { label: "Source", value: (r) => r.source },
  ];
}

export async function calls(ctx) {
  const callId = ctx.state.params.get("call");
  if (callId) return detail(ctx, callId);
  const q = ctx.state.params.get("q") || "";
  const order = ctx.state.params.get("order") === "asc" ? "asc" : "desc";
  // A failure group's calls (from the Failures page): not a dimension, so a page option.
  const errorType = ctx.state.params.get("error_type") || "";
  const params = withParams(ctx.scope, { limit: PAGE, order, ...(q ? { q } : {}),
    ...(errorType ? { error_type: errorType } : {}) });
  const search = h("form", { class: "toolbar", role: "search", onsubmit: (e) => {
    e.preventDefault();
    ctx.navigate(ctx.url({ q: e.target.elements.q.value.trim() || null }));
  } },
  h("label", { for: "calls-q", class: "visually-hidden" }, "Search calls"),
  h("input", { id: "calls-q", name: "q", type: "search", value: q,
    placeholder: "Search id, session, prompt hash, model, project, error…" }),
  h("button", { type: "submit" }, "Search"),
  h("label", {}, "Order ", h("select", { "aria-label": "Order",
    onchange: (e) => ctx.navigate(ctx.url({ order: e.target.value })) },
  h("option", { value: "desc", selected: order === "desc" }, "newest first"),
  h("option", { value: "asc", selected: order === "asc" }, "oldest first"))),
  errorType ? h("span", { class: "chip", "data-testid": "error-type" }, `error: ${errorType}`,
    h("button", { type: "button", "aria-label": `Remove filter error ${errorType}`,
      onclick: () => ctx.navigate(ctx.url({ error_type: null })) }, "×")) : null);
  const first = await api("calls", params);
  if (!first.rows.length) {
    const what = [q && `“${q}”`, errorType && `error ${errorType}`].filter(Boolean).join(" and ");
    return [search, what ? h("div", { class: "empty", "data-testid": "empty" },
      h("h2", {}, "No calls match"), h("p", {}, `Nothing in this range matches ${what}.`)) : noCalls(ctx)];
  }
  const cols = columns(ctx);
  const link = (r) => ctx.callUrl(r.id);
  const holder = h("div", {}, table(cols, first.rows, { caption: "Calls", link }));
  const status = h("p", { class: "muted", "aria-live": "polite" }, `${count(first.rows.length)} calls shown`);
  let cursor = first.next_cursor;
  let shown = first.rows.length;
  const more = h("button", { type: "button", class: "primary", hidden: !cursor, onclick: async () => {
    // aria-disabled, not disabled: a disabled button drops the keyboard's focus to <body>.
    if (more.getAttribute("aria-disabled") === "true") return;
    more.setAttribute("aria-disabled", "true");
    try {
      const page = await api("calls", withParams(params, { cursor }));
      holder.append(table(cols, page.rows, { caption: "More calls", link }));
      shown += page.rows.length;
      status.textContent = `${count(shown)} calls shown`;
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (e) {
      status.textContent = `Could not load more: ${e.message}`;
    } finally {
      more.removeAttribute("aria-disabled");
      if (more.hidden && document.activeElement === document.body) holder.lastChild.querySelector("a")?.focus();
    }
  } }, "Load more");
  return [search, card("Calls", h("div", {}, holder, h("div", { class: "toolbar" }, more, status)),
    { actions: exportButtons("calls", withParams(params, { limit: 500 }), "calls") })];
}

async function detail(ctx, id) {
  const c = await api(`calls/${encodeURIComponent(id)}`);
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value ?? "–")];
  const filterLink = (dim, value) => (value ? h("a", { href: ctx.callsUrl({ [dim]: value }), "data-nav": "1" }, value) : "–");
  const t = c.tokens;
  const facts = h("dl", {},
    row("Id", h("span", { class: "mono" }, c.id)),
    row("Started", when(c.started_at, ctx.state.tz)),
    row("Status", statusBadge(c)),
    row("Model", filterLink("model", c.model)),
    row("Provider", filterLink("provider", c.provider)),
    row("Project", filterLink("project", c.project)),
    row("User", filterLink("user", c.user)),
    row("Session", filterLink("session", c.session_id)),
    row("Source", c.source),
    row("Cost", `${usd(c.cost_usd)} (${c.cost_source})`),
    row("Duration", `${ms(c.duration_ms)}${c.ttft_ms ? `, first byte after ${ms(c.ttft_ms)}` : ""}`),
    row("HTTP status", c.http_status),
    row("Error", c.error_type),
    row("Finish reason", c.finish_reason),
    row("Response cache", c.cache_hit),
    row("Prompt hash", c.prompt_hash ? h("span", { class: "mono" }, c.prompt_hash) : null));
  const tokens = table([
    { label: "Category", value: (r) => r[0] }, { label: "Tokens", num: true, value: (r) => count(r[1]) },
  ], [["Input", t.input_tokens], ["Cache reads", t.cache_read_tokens],
    ["Cache writes (5 min)", t.cache_write_tokens], ["Cache writes (1 h)", t.cache_write_1h_tokens],
    ["Output", t.output_tokens], ["of which reasoning", t.reasoning_tokens], ["Total", t.total]],
  { caption: "Tokens by category" });
  const parts = [
    h("p", {}, h("a", { href: ctx.url({ call: null }), "data-nav": "1" }, "← Back to the calls")),
    h("div", { class: "grid" },
      card("Call", h("div", { class: "detail" }, facts), { span: 6 }),
      card("Tokens", tokens, { span: 6 })),
  ];
  if (c.tools && c.tools.length) {
    parts.push(card("Tools used", table([
      { label: "Tool", value: (r) => r.name }, { label: "MCP server", value: (r) => r.mcp_server || "–" },
    ], c.tools, { caption: "Tools used" })));
  }
  if (c.attributes && Object.keys(c.attributes).length) {
    parts.push(card("Attributes", h("div", { class: "detail" }, h("pre", {}, JSON.stringify(c.attributes, null, 2)))));
  }
  if (c.content) {
    parts.push(card("Prompt and response", h("div", { class: "detail" },
      h("h3", {}, "Request"), h("pre", {}, c.content.request || "–"),
      h("h3", {}, "Response"), h("pre", {}, c.content.response || "–"))));
  }
  return parts;
}
