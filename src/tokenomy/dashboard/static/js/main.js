// The dashboard shell: navigation, time range, filters, theme, the key prompt, live
// updates, and rendering the page the URL names. Pages are in pages/*.js.

import { api, onKeyNeeded, saveKey, subscribe } from "./api.js";
import { destroyCharts, drawPending } from "./charts.js";
import { errorBox, focusKey, h, installTooltips, loading, name, restoreFocus } from "./dom.js";
import { advice } from "./pages/advice.js";
import { calls } from "./pages/calls.js";
import { gateway } from "./pages/gateway.js";
import { cache, failures, sessions } from "./pages/insight.js";
import { costs, models, overview, projects } from "./pages/spend.js";
import { apiScope, FILTERS, go, readState, viewUrl } from "./state.js";

const PAGES = [
  ["overview", "Overview", overview], ["costs", "Costs", costs], ["models", "Models", models],
  ["projects", "Projects", projects], ["sessions", "Sessions", sessions],
  ["failures", "Failures", failures], ["cache", "Cache", cache], ["advice", "Advice", advice],
  ["calls", "Calls", calls], ["gateway", "Gateway", gateway],
];
const LIVE_PAGES = new Set(["overview", "gateway"]);
// Re-reading a whole page on new calls at most this often (the gateway's own state is
// redrawn on every tick).
const REFRESH_MS = { overview: 3000, gateway: 15000 };

const main = document.getElementById("main");
const banner = document.getElementById("banner");
let renderSeq = 0;
let stopLive = null;
let livePage = null;
let lastRefresh = 0;

// -- what pages use to link and navigate ---------------------------------------------------

const PAGE_OPTIONS = { call: null, q: null, sort: null, order: null, group: null, error_type: null };

function makeContext(state) {
  const scope = apiScope(state);
  return {
    state,
    scope,
    url: (changes) => viewUrl(changes),
    navigate: (url) => { history.pushState(null, "", url); render(); },
    callUrl: (id) => viewUrl({ page: "calls", call: id, q: null }),
    callsUrl: (filters, extra = {}) => viewUrl({ page: "calls", ...PAGE_OPTIONS, ...filters, ...extra }),
    // The calls behind bucket i of a timeseries (and of one series, when split by a dimension).
    drill: (ts, i, series, filters = {}) => {
      const dim = ts.group_by;
      const pick = {};
      if (dim && series && series.key !== null && !series.rest) pick[dim] = String(series.key);
      for (const [k, v] of Object.entries(filters)) if (v) pick[k] = v;
      return viewUrl({ page: "calls", ...PAGE_OPTIONS, range: "custom", since: ts.buckets[i],
        until: ts.buckets[i + 1] || (state.range === "custom" ? state.until : null), ...pick });
    },
  };
}

// -- rendering -------------------------------------------------------------------------------

let viewFailed = false; // the view on screen is an error message

async function render({ quiet = false } = {}) {
  const seq = ++renderSeq;
  const state = readState();
  const page = PAGES.find((p) => p[0] === state.page) || PAGES[0];
  syncChrome(state, page[0]);
  // A control used by keyboard (a sort, a select) redraws the view: its focus comes back.
  const focused = focusKey(main);
  if (!quiet) {
    destroyCharts();
    main.replaceChildren(loading());
  }
  let result;
  try {
    result = await page[2](makeContext(state));
  } catch (e) {
    if (seq !== renderSeq) return;
    destroyCharts();
    main.replaceChildren(h("h1", {}, page[1]), errorBox(e.message || String(e)));
    viewFailed = true;
    setLive(page[0], null); // a live page tries again when the server answers again
    return;
  }
  viewFailed = false;
  if (seq !== renderSeq) return; // a newer view was asked for meanwhile
  const nodes = result && result.nodes ? result.nodes : result;
  if (quiet) destroyCharts();
  main.replaceChildren(h("h1", {}, page[1]), ...[].concat(nodes));
  restoreFocus(main, focused);
  drawPending();
  lastRefresh = Date.now();
  setLive(page[0], result && result.live);
  if (!quiet) document.title = `${page[1]} · Tokenomy`;
}

function setLive(page, pageLive) {
  const indicator = document.getElementById("live");
  if (!LIVE_PAGES.has(page)) {
    if (stopLive) stopLive();
    stopLive = null;
    livePage = null;
    indicator.hidden = true;
    return;
  }
  livePage = { page, onTick: pageLive && pageLive.onTick };
  if (stopLive && indicator.dataset.page === page) return;
  if (stopLive) stopLive();
  indicator.dataset.page = page;
  indicator.hidden = false;
  const params = new URLSearchParams(pageLive && pageLive.gateway ? { gateway: "1" } : {});
  stopLive = subscribe(params, (tick) => {
    if (!livePage) return;
    if (livePage.onTick) livePage.onTick(tick);
    if (tick.changed) scheduleRefresh(REFRESH_MS[livePage.page]);
  }, (on, why) => {
    if (on && viewFailed) render({ quiet: true }); // the server is back: read the view again
    indicator.className = on ? "live on" : "live off";
    indicator.querySelector(".live-text").textContent = on ? "Live" : "Reconnecting…";
    indicator.title = on ? "Updates as calls arrive" : `Live updates paused: ${why || "no connection"}`;
  });
}

// New calls: re-read the page, but not more often than `every` ms (a busy gateway would
// otherwise redraw it on every tick); a change inside that time is picked up at its end.
let refreshTimer = null;
function scheduleRefresh(every) {
  if (refreshTimer) return;
  const wait = Math.max(0, every - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (livePage) render({ quiet: true });
  }, wait);
}

// -- header: navigation, range, filters ------------------------------------------------------

function syncChrome(state, page) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...PAGES.map(([name, label]) => h("li", {}, h("a", {
    href: viewUrl({ page: name, call: null, q: null, sort: null, order: null, group: null }),
    "data-nav": "1", "aria-current": name === page ? "page" : null }, label))));
  const preset = document.getElementById("range-preset");
  preset.value = state.range;
  document.getElementById("custom-range").hidden = state.range !== "custom";
  document.getElementById("range-since").value = state.since.slice(0, 10);
  document.getElementById("range-until").value = state.until.slice(0, 10);
  const tz = document.getElementById("range-tz");
  if (document.activeElement !== tz) tz.value = state.tz;
  const chips = document.getElementById("chips");
  chips.replaceChildren(...Object.entries(state.filters).flatMap(([dim, values]) =>
    values.map((v) => h("li", { class: "chip" }, `${dim}: `, name(v),
      h("button", { type: "button", "aria-label": `Remove filter ${dim} ${v}`,
        onclick: () => go({ [dim]: values.filter((x) => x !== v) }) }, "×")))));
}

function setupControls() {
  const preset = document.getElementById("range-preset");
  preset.addEventListener("change", () => {
    if (preset.value === "custom") {
      document.getElementById("custom-range").hidden = false;
      document.getElementById("range-since").focus();
      return;
    }
    go({ range: preset.value, since: null, until: null });
  });
  document.getElementById("range").addEventListener("submit", (e) => {
    e.preventDefault();
    const since = document.getElementById("range-since").value;
    const until = document.getElementById("range-until").value;
    if (preset.value === "custom" && since) go({ range: "custom", since, until: until || null });
  });
  const tz = document.getElementById("range-tz");
  tz.addEventListener("change", () => go({ tz: tz.value.trim() || null }));
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  document.getElementById("tz-list").replaceChildren(...zones.map((z) => h("option", { value: z })));

  const dim = document.getElementById("filter-dim");
  dim.replaceChildren(...FILTERS.map((f) => h("option", { value: f }, f)));
  dim.addEventListener("change", () => suggest(dim.value));
  document.getElementById("filter-value").addEventListener("focus", () => suggest(dim.value));
  document.getElementById("add-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("filter-value");
    const value = input.value.trim();
    if (!value) { input.focus(); return; }
    const state = readState();
    go({ [dim.value]: [...(state.filters[dim.value] || []), value] });
    input.value = "";
  });

  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-nav]");
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState(null, "", a.getAttribute("href"));
    render();
    main.focus({ preventScroll: true });
  });
  window.addEventListener("popstate", () => render());
  window.addEventListener("tokenomy:navigate", () => render());
  setupTheme();
  setupKeyDialog();
}

const suggested = new Map();
async function suggest(dim) {
  const list = document.getElementById("filter-values");
  const state = readState();
  if (dim === "status") { list.replaceChildren(h("option", { value: "ok" }), h("option", { value: "error" })); return; }
  const cacheKey = `${dim}|${state.range}|${state.since}|${state.until}`;
  if (!suggested.has(cacheKey)) {
    const q = apiScope({ ...state, filters: {} }).query;
    q.set("by", dim);
    q.set("limit", "100");
    suggested.set(cacheKey, api("breakdown", q).then((d) => d.rows.map((r) => r.key).filter((k) => k !== null),
      () => []));
  }
  const values = await suggested.get(cacheKey);
  list.replaceChildren(...values.map((v) => h("option", { value: String(v) })));
}

function setupTheme() {
  const button = document.getElementById("theme");
  const order = ["auto", "light", "dark"];
  const label = () => {
    const t = document.documentElement.dataset.theme || "auto";
    button.setAttribute("aria-label", `Colour theme: ${t === "auto" ? "automatic" : t}. Change theme`);
    button.title = `Theme: ${t}`;
  };
  label();
  button.addEventListener("click", () => {
    const now = document.documentElement.dataset.theme || "auto";
    const next = order[(order.indexOf(now) + 1) % order.length];
    if (next === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    try { localStorage.setItem("tokenomy.theme", next); } catch (e) { /* not kept */ }
    label();
    render({ quiet: true }); // charts take their colours when drawn
  });
  // On "automatic" the system may switch light and dark while the page is open: the
  // stylesheet follows by itself, the charts only when drawn again.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (!document.documentElement.dataset.theme) render({ quiet: true });
  });
}

function setupKeyDialog() {
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const error = document.getElementById("key-error");
  let waiting = [];
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    saveKey(input.value.trim());
    const give = waiting;
    waiting = [];
    dialog.close("key");
    give.forEach(([resolve]) => resolve());
  });
  // Escape (or the dialog closed without a key): the view says what is needed and how.
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "key") return;
    const give = waiting;
    waiting = [];
    give.forEach(([, reject]) => reject(new Error("This server asks for a key (an API key " +
      "made with `tokenomy keys create`). Reload the page to enter one.")));
  });
  onKeyNeeded((message) => new Promise((resolve, reject) => {
    waiting.push([resolve, reject]);
    error.textContent = message || "";
    dialog.returnValue = "";
    if (!dialog.open) { dialog.showModal(); input.focus(); }
  }));
}

window.addEventListener("error", () => {
  banner.hidden = false;
  banner.textContent = "Something went wrong drawing this page. Reload it; if it happens again, " +
    "the server log and the browser console have the details.";
});

setupControls();
installTooltips();
render();
