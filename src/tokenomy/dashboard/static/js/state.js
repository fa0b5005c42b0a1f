// The view lives in the URL's query string, so a shared link opens the same view:
// page, range (a preset, or custom dates), time zone, filters and page options.

export const FILTERS = ["project", "model", "provider", "user", "key", "org", "source",
  "session", "tool", "status"];
export const PRESETS = {
  "1h": { hours: 1, interval: "minute" },
  "24h": { hours: 24, interval: "hour" },
  "today": { days: 0, interval: "hour" },
  "7d": { days: 6, interval: "day" },
  "30d": { days: 29, interval: "day" },
  "90d": { days: 89, interval: "day" },
};
export const DEFAULT_RANGE = "7d";

export function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
  catch (e) { return "UTC"; }
}

// A filter's values are split at commas, in the URL as in the API: a comma inside a value
// (a project named "a,b") is written "\,", a backslash before a comma or another "\\".
export function escapeValue(value) {
  return String(value).replace(/\\(?=[,\\]|$)/g, "\\\\").replace(/,/g, "\\,");
}

export function splitValues(text) {
  const parts = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && (text[i + 1] === "," || text[i + 1] === "\\")) { current += text[++i]; continue; }
    if (c === ",") { parts.push(current); current = ""; } else current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

export function readState() {
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const dim of FILTERS) {
    const values = q.getAll(dim).flatMap(splitValues);
    if (values.length) filters[dim] = values;
  }
  let range = q.get("range") || (q.get("since") ? "custom" : DEFAULT_RANGE);
  if (range !== "custom" && !PRESETS[range]) range = DEFAULT_RANGE;
  return {
    page: q.get("page") || "overview",
    range,
    since: q.get("since") || "",
    until: q.get("until") || "",
    tz: q.get("tz") || browserZone(),
    filters,
    params: q,
  };
}

// A URL for this view with some parameters changed (null removes one).
export function viewUrl(changes, base = location.search) {
  const q = new URLSearchParams(base);
  for (const [k, v] of Object.entries(changes)) {
    q.delete(k);
    if (v === null || v === undefined || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, FILTERS.includes(k) ? escapeValue(one) : one);
  }
  if (q.get("page") === "overview") q.delete("page");
  const text = q.toString();
  return text ? `/?${text}` : "/";
}

export function go(changes, { replace = false } = {}) {
  const url = viewUrl(changes);
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  window.dispatchEvent(new Event("tokenomy:navigate"));
}

function isoDate(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// Today's date in a time zone (the API reads a date as midnight in `timezone`).
function dateIn(zone, daysBack) {
  const now = new Date(Date.now() - daysBack * 86400000);
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit",
      day: "2-digit" }).format(now);
  } catch (e) { return isoDate(now); }
}

// since / until / timezone / filters as the API takes them, and the bucket size to chart.
export function apiScope(state) {
  const out = new URLSearchParams();
  out.set("timezone", state.tz);
  let interval = "day";
  if (state.range === "custom") {
    if (state.since) out.set("since", state.since);
    if (state.until) out.set("until", state.until);
    // A date as `until` includes its day (as the API reads it).
    const end = state.until ? Date.parse(state.until) + (state.until.length === 10 ? 86400000 : 0)
      : Date.now();
    const days = state.since ? (end - Date.parse(state.since)) / 86400000 : 30;
    interval = days <= 1 ? "hour" : "day";
  } else {
    const preset = PRESETS[state.range];
    if (preset.hours) {
      // Whole minutes, so repeated reads of the same view are the same query.
      const since = Math.floor((Date.now() - preset.hours * 3600000) / 60000) * 60000;
      out.set("since", new Date(since).toISOString());
    } else {
      out.set("since", dateIn(state.tz, preset.days));
    }
    interval = preset.interval;
  }
  for (const [dim, values] of Object.entries(state.filters)) out.set(dim, values.map(escapeValue).join(","));
  return { query: out, interval };
}

export function withParams(scope, extra) {
  const q = new URLSearchParams(scope.query);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) q.set(k, v);
  return q;
}
