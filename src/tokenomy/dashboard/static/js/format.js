// Numbers, money and times as people read them; what every metric means (the tooltips).

const nf = new Intl.NumberFormat();
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export function usd(value) {
  if (value === null || value === undefined) return "unknown";
  const abs = Math.abs(value);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 4 : abs < 100 ? 2 : 0;
  return "$" + value.toLocaleString(undefined, { minimumFractionDigits: digits,
    maximumFractionDigits: digits });
}

// A name too long to show whole (a project or model name can be any header's value), cut
// in the middle as the terminal does (humanize.fit): names that differ only at the end stay
// told apart.
export const NAME_MAX = 80;
export function cutMiddle(text, max = NAME_MAX) {
  if (text.length <= max) return text;
  const head = Math.floor((max - 1) / 3);
  return `${text.slice(0, head)}…${text.slice(text.length - (max - 1 - head))}`;
}

export const count = (n) => (n === null || n === undefined ? "–" : nf.format(n));
export const short = (n) => (n === null || n === undefined ? "–" : compact.format(n));
export const pct = (x, digits = 1) =>
  (x === null || x === undefined ? "–" : `${(x * 100).toFixed(digits)}%`);

export function ms(n) {
  if (n === null || n === undefined) return "–";
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
}

export function when(iso, zone) {
  if (!iso) return "–";
  const d = new Date(iso);
  try {
    return d.toLocaleString(undefined, { timeZone: zone, year: "numeric", month: "short",
      day: "numeric", hour: "2-digit", minute: "2-digit" });
  } catch (e) { return d.toLocaleString(); }
}

// A bucket label for a chart axis: the API gives each bucket's start with its offset.
export function bucketLabel(iso, interval) {
  const [date, time] = iso.split("T");
  if (interval === "day") return date;
  return interval === "hour" ? `${date.slice(5)} ${time.slice(0, 5)}` : time.slice(0, 5);
}

export const GLOSSARY = {
  cost: "What the calls cost in US dollars, priced per token category at the price in force " +
    "when each call was made (or the cost the provider reported).",
  calls: "API calls made: one per model response, including failed ones.",
  failed: "Calls that ended in an error (HTTP error, rate limit, timeout, cut-off stream).",
  error_rate: "Failed calls divided by all calls in the range.",
  tokens: "All tokens: input, cache reads, cache writes and output (including reasoning).",
  latency: "Time from request to the end of the response. p50: half the calls were faster; " +
    "p95: 95 in 100 were faster. Read from a histogram of durations: close, not exact.",
  savings: "What provider prompt caching saved (cache reads billed at the cached rate instead " +
    "of the full input price) plus what our response cache saved by answering repeats.",
  unknown: "Calls of a model with no known price: their cost is unknown, never counted as $0. " +
    "`tokenomy prices check` lists the models; add a price in ~/.tokenomy/prices.toml.",
  read_share: "Share of prompt tokens read from the provider's prompt cache (higher is cheaper).",
  duplicates: "Prompts sent again with the same hash; an exact response cache would have " +
    "answered the repeats at no provider cost.",
  in_flight: "Requests this gateway worker is waiting on now.",
  groups: "Kinds of failure: failed calls grouped by error type, provider and model.",
  cache_reads: "Input tokens read from the provider's prompt cache, billed at its cached rate.",
  per_call: "Cost divided by calls: what an average call cost.",
  duration: "Time from request to the end of the response, for this call.",
  response_hits: "Calls our response cache answered: no provider call, no provider cost.",
  circuit: "Closed: taking requests. Open: failed repeatedly, skipped until its cool-down " +
    "ends. Half-open: one trial request decides whether it is back.",
  ttft: "Time to the first byte of the answer (streams): what a user waits before text appears.",
  potential: "What the session would have saved if its repeated prompt had been read from the " +
    "provider's cache.",
  advice_savings: "What each recommendation would have saved on the calls in this range, " +
    "scaled to 30 days (saving × 30 ÷ days in the range; a range shorter than a day counts as " +
    "one day). Recommendations can overlap (a repeated prompt can also be a long one), so the " +
    "total is what they claim one by one, not what doing all of them would save together.",
  basis_measured: "Measured: the recorded calls replayed with the change made. Exact for " +
    "these calls; the monthly figure assumes the next 30 days look like this range.",
  basis_estimate: "Estimate: the recorded calls repriced under an assumption the evidence " +
    "states (a discount, a cache's rules). Close, not exact.",
  basis_upper_bound: "Upper bound: the most the change could save. It saves less if only " +
    "part of it applies.",
};
