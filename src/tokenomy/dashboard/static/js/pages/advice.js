// Advice: what to change to spend less, the largest monthly saving first (/api/v1/advise).
// Each recommendation says how sure its figure is, why (the evidence) and which calls show
// it. Every name in it is shown as text.

import { api } from "../api.js";
import { card, code, empty, exportButtons, h, info, table, withBar } from "../dom.js";
import { count, GLOSSARY, usd } from "../format.js";
import { withParams } from "../state.js";
import { adviceCallsUrl } from "./insight.js";

const LIMIT = 50;

const KINDS = {
  exact_cache: "Exact response cache",
  semantic_cache: "Semantic cache",
  prompt_cache: "Prompt caching",
  batch_api: "Batch API",
  cheaper_model: "Cheaper model",
  retry_storm: "Retry storms",
  long_context: "Long prompts",
  cost_growth: "Cost growth",
};
const kindName = (kind) => KINDS[kind] || String(kind).replace(/_/g, " ");

const BASES = ["measured", "estimate", "upper bound"];
const BASIS_CLASS = { measured: "ok", estimate: "est", "upper bound": "warn" };
const basisKey = (basis) => `basis_${String(basis).replace(/ /g, "_")}`;

// Savings are often cents: below a dollar, three significant digits (down to $0.0001).
function dollars(value) {
  if (value === null || value === undefined || Math.abs(value) >= 1) return usd(value);
  const digits = value ? Math.min(4, Math.max(2, 2 - Math.floor(Math.log10(Math.abs(value))))) : 2;
  return "$" + value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: digits });
}

const days = (n) => {
  const d = Number(n.toFixed(1));
  return `${d.toLocaleString()} ${d === 1 ? "day" : "days"}`;
};

// Text whose `quoted` parts are commands or settings: those become <code>, all of it text.
function prose(text) {
  return String(text || "").split("`").map((part, i) => (i % 2 ? code(part) : part));
}

function basisBadge(basis) {
  const text = GLOSSARY[basisKey(basis)];
  return h("span", { class: "basis" },
    h("span", { class: `badge ${BASIS_CLASS[basis] || ""}`.trim() }, basis),
    text ? info(`What does ${basis} mean?`, text) : null);
}

function recommendation(ctx, r, i, range) {
  const query = r.calls_query || {};
  // The count is what the advice counted; the link opens the Calls page with the advice's
  // filters, which may list more (a failed first try, a cache hit) or, for a group of
  // prompt prefixes, only the largest: so it does not claim the count.
  const filters = Object.entries(query).filter(([k]) => !["since", "until"].includes(k))
    .map(([k, v]) => `${k} ${v}`).join(", ");
  const callsLink = r.calls ? [h("span", { class: "calls-count" },
    r.calls === 1 ? "1 call" : `${count(r.calls)} calls`), " · ",
  h("a", { href: adviceCallsUrl(ctx, query), "data-nav": "1", class: "calls-link",
    title: `The Calls page filtered by ${filters || "this advice's range"}` },
  "open its calls")] : null;
  const examples = (r.examples || []).map((id) => h("a", { href: ctx.callUrl(id), "data-nav": "1",
    class: "mono", title: id, "aria-label": `Example call ${id}` },
  id.length > 14 ? `${id.slice(0, 12)}…` : id));
  const meta = [kindName(r.kind),
    r.project !== null && r.project !== undefined ? `project ${r.project}` : null,
    r.model ? `model ${r.model}` : null,
    `${dollars(r.savings_usd)} in these ${days(range.days)}`].filter(Boolean).join(" · ");
  return h("li", { class: "rec", "data-testid": "recommendation", "data-kind": r.kind },
    h("div", { class: "rec-head" },
      h("h3", {}, h("span", { class: "rank", "aria-hidden": "true" }, `${i + 1}.`), " ", r.title),
      h("p", { class: "rec-saving" }, h("strong", { class: "saving" }, dollars(r.monthly_savings_usd)),
        " a month")),
    h("div", { class: "rec-meta" }, basisBadge(r.basis), h("span", { class: "muted" }, meta)),
    h("p", { class: "rec-advice" }, prose(r.advice)),
    h("p", { class: "rec-evidence muted" }, prose(r.evidence)),
    callsLink || examples.length ? h("p", { class: "rec-links" }, callsLink,
      examples.length ? h("span", { class: "examples" }, callsLink ? "Examples:" : "Example calls:",
        examples) : null) : null);
}

function headline(data) {
  const s = data.summary;
  return h("section", { class: "headline", "aria-label": "Savings", "data-testid": "advice-headline" },
    h("p", { class: "headline-figure" },
      h("strong", {}, dollars(s.monthly_savings_usd)), " a month of ",
      h("strong", {}, dollars(s.monthly_spend_usd)), " could be saved",
      info("How are these savings worked out?", GLOSSARY.advice_savings)),
    h("p", { class: "muted" }, `${count(s.recommendations)} ` +
      `${s.recommendations === 1 ? "recommendation" : "recommendations"}: ${dollars(s.savings_usd)} ` +
      `of ${dollars(s.spend_usd)} spent in these ${days(data.range.days)}, scaled to 30 days.`));
}

function byKind(data) {
  const rows = Object.entries(data.summary.by_kind || {}).filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]).map(([kind, monthly]) => ({ kind, monthly,
      n: data.rows.filter((r) => r.kind === kind).length }));
  const max = Math.max(0, ...rows.map((r) => r.monthly));
  const body = rows.length ? table([
    { label: "Kind", value: (r) => kindName(r.kind) },
    { label: "A month", num: true, value: (r) => withBar(dollars(r.monthly), r.monthly, max) },
    { label: "Rows", num: true, value: (r) => count(r.n) },
  ], rows, { caption: "Savings a month by kind" })
    : h("p", { class: "muted" }, "None of these recommendations saves money outright.");
  return card("Savings a month by kind", h("div", { "data-testid": "by-kind" }, body));
}

function legend() {
  return card("How sure each figure is", h("dl", { class: "legend" }, BASES.flatMap((b) => [
    h("dt", {}, h("span", { class: `badge ${BASIS_CLASS[b]}` }, b)),
    h("dd", {}, GLOSSARY[basisKey(b)].replace(/^[^:]+: /, ""))])));
}

function notAssessed(notes) {
  if (!notes || !notes.length) return null;
  return h("section", { class: "not-assessed muted", "aria-label": "Not assessed",
    "data-testid": "not-assessed" }, h("h2", {}, "Not assessed"),
  h("ul", {}, notes.map((n) => h("li", {}, h("strong", {}, kindName(n.kind)), ": ", prose(n.reason)))));
}

function noAdvice(ctx, data) {
  const filtered = Object.keys(ctx.state.filters).length > 0;
  const spent = data.summary.spend_usd > 0;
  const wider = ctx.state.range === "90d" ? null
    : h("a", { href: ctx.url({ range: "90d", since: null, until: null }), "data-nav": "1" }, "the last 90 days");
  return empty("No recommendations for this range",
    h("p", {}, spent
      ? `The ${dollars(data.summary.spend_usd)} spent here shows none of the waste the advisor looks for ` +
        "(repeated requests, bulk jobs, retry storms, long prompts, uncached prefixes, growing costs)."
      : "No spend was recorded here, so there is nothing to save yet."),
    h("p", {}, "The more calls it sees, the more it finds: ",
      filtered ? "remove a filter or widen the range" : "widen the range",
      wider ? [" (", wider, ")"] : null, "."),
    h("p", {}, "Import your coding agents' logs (Claude Code, Codex, Gemini CLI):"),
    h("pre", {}, "tokenomy import"),
    h("p", {}, "or point an SDK at the gateway (", code("tokenomy serve"), "):"),
    h("pre", {}, "export OPENAI_BASE_URL=http://127.0.0.1:4000/v1\nexport ANTHROPIC_BASE_URL=http://127.0.0.1:4000"));
}

export async function advice(ctx) {
  const params = withParams(ctx.scope, { limit: LIMIT });
  const data = await api("advise", params);
  if (!data.rows.length) return h("div", { class: "advice" }, noAdvice(ctx, data), notAssessed(data.not_assessed));
  const list = card("Recommendations", h("ol", { class: "recs" },
    data.rows.map((r, i) => recommendation(ctx, r, i, data.range))),
  { span: 8, actions: exportButtons("advise", params, "advice"),
    subtitle: "The largest saving a month first. Each links to the calls that show it." });
  return h("div", { class: "advice" }, headline(data),
    h("div", { class: "grid" }, list, h("div", { class: "side span-4" }, byKind(data), legend())),
    notAssessed(data.not_assessed));
}
