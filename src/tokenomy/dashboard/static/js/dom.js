// Small DOM builders. Text always goes in as text (never as HTML), so a project or model
// name can never inject markup.

import { download } from "./api.js";
import { GLOSSARY, NAME_MAX, cutMiddle } from "./format.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let tipCount = 0;

// An (i) button and the tooltip it shows on hover and on keyboard focus (installTooltips).
export function info(question, text) {
  const id = `tip-${++tipCount}`;
  return [h("button", { type: "button", class: "info", "aria-label": question,
    "aria-describedby": id }, "i"),
  h("span", { role: "tooltip", id, class: "tip" }, text)];
}

// Tooltips placed on the screen, not in the page's flow: beside their (i) wherever it is
// (a table header scrolls, a KPI sits at the right edge of a phone), kept inside the
// viewport, open while the pointer is on the (i) or on the tip itself, closed by Escape.
let openTip = null;
let closing = 0;

function showTip(button) {
  const tip = button.nextElementSibling;
  if (!tip || !tip.classList.contains("tip")) return;
  clearTimeout(closing);
  if (openTip && openTip !== tip) openTip.classList.remove("open");
  openTip = tip;
  tip.classList.add("open");
  const at = button.getBoundingClientRect();
  const size = tip.getBoundingClientRect();
  const margin = 8;
  const left = Math.max(margin, Math.min(at.left, window.innerWidth - size.width - margin));
  const below = at.bottom + 6;
  const top = below + size.height > window.innerHeight - margin ? at.top - size.height - 6 : below;
  tip.style.left = `${left}px`;
  tip.style.top = `${Math.max(margin, top)}px`;
}

function hideTip(later = false) {
  clearTimeout(closing);
  const tip = openTip;
  if (!tip) return;
  const close = () => { tip.classList.remove("open"); if (openTip === tip) openTip = null; };
  if (later) closing = setTimeout(close, 150); else close();
}

export function installTooltips() {
  document.addEventListener("mouseover", (e) => {
    const button = e.target.closest && e.target.closest(".info");
    if (button) showTip(button);
    else if (openTip && e.target.closest && e.target.closest(".tip") === openTip) clearTimeout(closing);
  });
  document.addEventListener("mouseout", (e) => {
    const from = e.target.closest && e.target.closest(".info, .tip");
    if (from && openTip) hideTip(true);
  });
  document.addEventListener("focusin", (e) => {
    if (e.target.classList && e.target.classList.contains("info")) showTip(e.target);
  });
  document.addEventListener("focusout", (e) => {
    if (e.target.classList && e.target.classList.contains("info")) hideTip(true);
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") hideTip(); });
  window.addEventListener("scroll", () => hideTip(), true);
  window.addEventListener("resize", () => hideTip());
}

// A metric's name with an (i) that explains it.
export function term(label, key) {
  const text = GLOSSARY[key];
  if (!text) return h("span", {}, label);
  return h("span", { class: "label" }, label, info(`What is ${label.toLowerCase()}?`, text));
}

export function kpi(label, key, value, note, { bad = false, testid } = {}) {
  return h("div", { class: bad ? "kpi bad" : "kpi", "data-testid": testid || `kpi-${key}` },
    term(label, key), h("div", { class: "value" }, value), note ? h("div", { class: "note" }, note) : null);
}

export function card(title, body, { span = 12, actions = [], subtitle } = {}) {
  return h("section", { class: `card span-${span}`, "aria-label": title },
    h("div", { class: "card-head" }, h("h2", {}, title),
      actions.length ? h("div", { class: "actions" }, actions) : null),
    subtitle ? h("p", { class: "subtitle" }, subtitle) : null,
    body);
}

// A long name cut in the middle, the whole of it in a tooltip (title); a short one as it is.
export function name(text, max = NAME_MAX) {
  return text.length <= max ? text : h("span", { class: "cut", title: text }, cutMiddle(text, max));
}

export function exportButtons(endpoint, params, name) {
  return ["csv", "json"].map((fmt) => h("button", { type: "button",
    onclick: () => download(endpoint, params, fmt, name),
    "aria-label": `Download ${name} as ${fmt.toUpperCase()}` }, fmt.toUpperCase()));
}

// A table. columns: {label, value(row) -> text|Node, num?, key?, tip?, prose?}; link(row)
// makes the first cell a link (keyboard reachable) to the calls behind the row. Text longer
// than a name's NAME_MAX is cut in the middle (dom.js name()) unless its column is prose.
export function table(columns, rows, { link, caption, sortable } = {}) {
  const head = h("tr", {}, columns.map((c) => {
    const th = h("th", { scope: "col", class: c.num ? "num" : null });
    if (sortable && c.key) {
      const active = sortable.sort === c.key;
      th.setAttribute("aria-sort", active ? (sortable.order === "asc" ? "ascending" : "descending") : "none");
      th.append(h("button", { type: "button", class: "sort", "data-focus": `sort-${c.key}`,
        onclick: () => sortable.onSort(c.key) }, c.label, active ? (sortable.order === "asc" ? " ▲" : " ▼") : ""));
      if (c.tip && GLOSSARY[c.tip]) th.append(" ", ...info(`What is ${c.label.toLowerCase()}?`, GLOSSARY[c.tip]));
    } else if (c.tip) {
      th.append(term(c.label, c.tip));
    } else {
      th.append(name(c.label)); // a series' name heads its column in a chart's numbers
    }
    return th;
  }));
  const body = h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c, i) => {
    let content = c.value(row);
    if (typeof content === "string" && !c.num && !c.prose) content = name(content);
    if (i === 0 && link) {
      const href = link(row);
      if (href) content = h("a", { href, "data-nav": "1" }, content);
    }
    return h("td", { class: c.num ? "num" : null }, content);
  }))));
  return h("div", { class: "table-wrap" },
    h("table", {}, caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, head), body));
}

// A number with a bar showing its share of the largest in the column.
export function withBar(text, value, max) {
  const width = max > 0 ? Math.max(1, Math.round((value / max) * 100)) : 0;
  return h("div", {}, text, h("div", { class: "bar", style: `width:${width}%`, "aria-hidden": "true" }));
}

export function empty(title, ...lines) {
  return h("div", { class: "empty", "data-testid": "empty" }, h("h2", {}, title), lines);
}

export function errorBox(message) {
  return h("div", { class: "error-box", role: "alert", "data-testid": "error" },
    h("strong", {}, "Could not load this view. "), message);
}

export const loading = () => h("p", { class: "loading", "aria-busy": "true" }, "Loading…");
export const code = (text) => h("code", {}, text);

// Where the keyboard's focus is inside `container`, as something that survives the container
// being drawn again: the element's tag, its name and which of the same it is.
export function focusKey(container) {
  const active = document.activeElement;
  if (!active || active === document.body || !container.contains(active)) return null;
  const name = (e) => e.dataset.focus || e.getAttribute("aria-label") || e.id ||
    e.textContent.trim().slice(0, 60);
  const same = [...container.querySelectorAll(active.tagName)].filter((e) => name(e) === name(active));
  return { tag: active.tagName, name: name(active), index: same.indexOf(active), of: name };
}

// Put the focus back on the same control after a redraw (a sort, a live update), so a
// keyboard user keeps their place instead of starting again from the top.
export function restoreFocus(container, key) {
  if (!key) return;
  const same = [...container.querySelectorAll(key.tag)].filter((e) => key.of(e) === key.name);
  const target = same[key.index] || same[0];
  if (target) target.focus({ preventScroll: true });
}
