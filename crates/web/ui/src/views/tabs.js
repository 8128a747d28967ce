// The views of every journey under the map, as tabs. A view registers itself
// with `registerTab` and is drawn when its tab is chosen and when the page
// asks every view to tell itself again (a new layer, new answers). A new view
// is one more module that registers (simulate.js, traffic over time, is one).
import { $, h, fill } from "../core/dom.js";
import { state, on } from "../core/state.js";
import { viewWords, layerName } from "../core/words.js";
import { renderInline } from "../core/markdown.js";

const tabs = [];
let selected = null;

/**
 * `tab`: { id, label, order, words (a view of GET /api/words, optional),
 * mount(panel) once, render(panel) whenever the view should show itself again,
 * count() optional: a short text after the label }.
 */
export function registerTab(tab) {
  tabs.push(tab);
  tabs.sort((a, b) => (a.order ?? 99) - (b.order ?? 99));
}

export function initTabs() {
  const list = $("analysis-tabs");
  const panels = $("analysis-panels");
  list.replaceChildren();
  panels.replaceChildren();
  for (const t of tabs) {
    const btn = h("button", { type: "button", role: "tab", id: `tab-${t.id}`, "aria-controls": `panel-${t.id}`, "aria-selected": "false", tabindex: -1, onclick: () => selectTab(t.id) },
      t.label, " ", h("span", { class: "count", id: `count-${t.id}` }));
    list.append(btn);
    const panel = h("div", { role: "tabpanel", id: `panel-${t.id}`, "aria-labelledby": `tab-${t.id}`, tabindex: -1, hidden: true },
      h("p", { class: "view-words", id: `words-${t.id}`, hidden: true }),
      h("div", { class: "view-body" }));
    panels.append(panel);
    t.mount(panel.querySelector(".view-body"));
  }
  list.addEventListener("keydown", tabKeys);
  selectTab(tabs[0].id);
  on("layer", renderAll);
  on("words", renderAll);
}

export function selectTab(id, focus = false) {
  selected = id;
  for (const t of tabs) {
    const on = t.id === id;
    const btn = $(`tab-${t.id}`);
    btn.setAttribute("aria-selected", String(on));
    btn.tabIndex = on ? 0 : -1;
    $(`panel-${t.id}`).hidden = !on;
    if (on && focus) btn.focus();
  }
  render(id);
}

/** Tells view `id` again (words of the layer, counts, body). */
export function render(id) {
  const t = tabs.find((x) => x.id === id);
  if (!t || !state.scn) return;
  const words = t.words ? viewWords(t.words) : null;
  const box = $(`words-${t.id}`);
  box.hidden = !words;
  box.dataset.layer = String(state.layer);
  if (words) fill(box, h("span", { class: "layer-tag" }, layerName(state.layer)), " ", renderInline(words));
  $(`count-${t.id}`).textContent = t.count ? t.count() : "";
  t.render($(`panel-${t.id}`).querySelector(".view-body"));
}

export function renderAll() {
  for (const t of tabs) render(t.id);
}

function tabKeys(e) {
  const i = tabs.findIndex((t) => `tab-${t.id}` === e.target.id);
  if (i < 0) return;
  let j = null;
  if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
  else if (e.key === "ArrowLeft") j = (i + tabs.length - 1) % tabs.length;
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = tabs.length - 1;
  if (j === null) return;
  e.preventDefault();
  e.stopPropagation();
  selectTab(tabs[j].id, true);
}

export const selectedTab = () => selected;
