// The card of the hop on screen, told at the current layer (the engine's
// sentences from layer 3): what happens here, the packet, the rule that
// decided with its line, and what this checkpoint proves, takes on trust and
// hides.
import { $, h, fill } from "../core/dom.js";
import { state, on, told } from "../core/state.js";
import { VERDICT, layerName } from "../core/words.js";
import { renderInline } from "../core/markdown.js";
import { showLine } from "./editor.js";

export function initHopCard() {
  on("journey", render);
  on("step", render);
  on("layer", render);
  on("scenario", render);
  render();
}

function verdictBadge(hop, th) {
  const v = VERDICT[hop.verdict] || { icon: "?", cls: "" };
  return h("span", { class: `badge ${v.cls}` }, h("span", { "aria-hidden": "true" }, `${v.icon} `), th.verdict);
}

function ruleBlock(hop, file, L) {
  const r = hop.rule;
  if (!r) {
    return h("div", { class: "rule none" },
      h("h3", {}, L === 1 ? "Who decided" : "Decided by"),
      h("p", { class: "muted" }, L === 1 ? "No written rule: this step is simply how the network works." : "No declaration decided this hop: it is the stage's own behaviour."));
  }
  const where = L === 1 ? `line ${r.line} of ${file}` : L === 2 ? `${file} line ${r.line}` : `${file} line ${r.line}, column ${r.column}`;
  const owner = `${r.kind}${r.owner ? ` of ${r.owner}` : ""}${r.index ? ` #${r.index}` : ""}`;
  return h("div", { class: "rule" },
    h("h3", {}, L === 1 ? "Who decided" : "Decided by"),
    h("p", {}, L === 1 ? "The rule written on " : `${owner}, written on `,
      h("button", { type: "button", class: "link rule-line", onclick: () => showLine(r.line, r.column) }, where), ": ",
      h("code", {}, r.text)));
}

function claims(list, glyph, cls, empty) {
  if (!list.length) return h("p", { class: "muted claims-none" }, empty);
  return h("ul", { class: `claims ${cls}` }, list.map((c) =>
    h("li", { "data-fact": c.fact },
      h("span", { class: "claim-glyph", "aria-hidden": "true" }, glyph), " ",
      h("strong", { class: "claim-short" }, c.short), ": ",
      h("span", { class: "claim-text" }, renderInline(c.text)))));
}

function render() {
  const card = $("hop-card");
  const t = state.journey && state.journey.trace;
  const tl = told();
  if (!t || !tl) {
    const first = !state.lesson;
    fill(card,
      h("h2", {}, "The journey, hop by hop"),
      h("p", {}, first
        ? "Pick a source and a destination on the map (or in the Journey form), or open a lesson: the packet moves on the map and this card tells what each checkpoint decides, proves and takes on trust."
        : "Answer a question of the lesson, then press See: the journey plays on the map and this card explains each hop."));
    card.dataset.step = "";
    return;
  }
  const hop = t.hops[state.step];
  const th = tl.hops[state.step];
  const L = state.layer;
  const decides = t.outcome.step === hop.step;
  fill(card,
    h("h2", {},
      h("span", { class: "hop-n" }, `${hop.step}/${t.hops.length}`), " ",
      h("span", { class: "hop-title" }, th.title), " at ", h("strong", {}, hop.device), " ",
      verdictBadge(hop, th),
      hop.direction === "reply" ? h("span", { class: "dir" }, "↩ the answer") : null),
    decides ? h("p", { class: "decider" }, t.outcome.kind === "reached" ? "This is the hop that completes the journey." : "This is the hop that stops the journey.") : null,
    h("p", { class: "says" }, renderInline(th.says)),
    th.packet ? h("p", { class: "packet-line" }, L === 1 ? null : h("strong", {}, "Packet: "), h("span", { class: "packet-text" }, L === 1 ? th.packet[0].toUpperCase() + th.packet.slice(1) : th.packet))
      : hop.stage === "resolve" ? h("p", { class: "packet-line muted" }, L === 1 ? "No envelope travels yet: the name is looked up first." : "No packet on the wire here: the question goes to the view's resolver, which the model places at no address.") : null,
    ruleBlock(hop, t.file, L),
    L >= 3 && th.state ? h("p", { class: "state" }, h("strong", {}, "State: "), renderInline(th.state)) : null,
    h("div", { class: "claim-cols" },
      h("section", { class: "claim-col proves" }, h("h3", {}, L === 1 ? "Checked here" : "Proves"), claims(th.proves, "✔", "proves", L === 1 ? "Nothing is checked at this step." : "nothing")),
      h("section", { class: "claim-col trusts" }, h("h3", {}, L === 1 ? "Believed without checking" : "Takes on trust"), claims(th.trusts, "?", "trusts", L === 1 ? "Nothing is simply believed here." : "nothing"))),
    th.hides.length ? [h("h3", {}, L === 1 ? "Hidden from everyone after this" : "Hides from everyone after it"), claims(th.hides, "◐", "hides", "")] : null,
    h("details", { class: "notes", open: L >= 3 ? true : null },
      h("summary", {}, L <= 2 ? "What this step is" : L === 3 ? "How to check it" : "Where trust enters"),
      h("ul", {}, th.notes.map((n) => h("li", {}, renderInline(n))))),
    h("p", { class: "muted layer-note" }, `Told for layer ${L}, ${layerName(L)}` + (L < 3 ? ". Layer 3 shows the engine's own sentence for each claim." : ".")),
  );
  card.dataset.step = String(hop.step);
  card.dataset.layer = String(L);
  card.dataset.device = hop.device;
  card.scrollTop = 0;
}
