// What the last toggle changed, compared with what was on screen before it
// (as written → break, break → break+harden, …): the declarations that
// changed, and the journeys that appear and disappear, each with the
// declaration responsible for it.
import { h, fill } from "../core/dom.js";
import { state, on } from "../core/state.js";
import { OUTCOME_PLAIN } from "../core/words.js";
import { renderInline } from "../core/markdown.js";
import { registerTab, render as renderTab } from "./tabs.js";
import { answers, diffLabel } from "./analysis.js";
import { setVariant } from "./variants.js";
import { exampleLine, packetsLine, responsibleList, traceButton, lineButton } from "./matrix.js";

let box = null;

registerTab({
  id: "changes",
  label: "± Changes",
  order: 20,
  words: "changes",
  count: () => (answers.diff ? `(+${answers.diff.gained.length} −${answers.diff.lost.length})` : ""),
  mount(el) {
    box = h("div", { id: "changes", class: "changes" });
    el.append(box);
    on("analysis", () => renderTab("changes"));
  },
  render() {
    renderChanges();
  },
});

function expectLine(verb, g) {
  const m = /^(tcp|udp|icmp)(?:\/(\d+))?/.exec(g.socket || "");
  const proto = m ? m[1] : "tcp";
  const port = m && m[2] ? `:${m[2]}` : "";
  return `${verb} ${proto === "tcp" ? "" : `${proto} `}${g.source} -> ${g.host}${port}`;
}

function words(g, kind) {
  const L = state.layer;
  const to = answers.diffTo || "as written";
  const host = state.scn.hosts.find((x) => x.name === g.host);
  const star = host && host.sensitive;
  const who = g.source_kind === "network" ? `anyone else on ${g.source}` : g.source;
  const door = /^(?:tcp|udp)\/(\d+)/.exec(g.socket || "");
  const rules = g.rules.length ? g.rules.join(", ") : "no filter";
  if (L === 1) {
    const where = `${door ? `door ${door[1]} of ` : ""}${g.host}${star ? " (★ a house with something precious inside)" : ""}`;
    const plain = (k) => (k ? OUTCOME_PLAIN[k] || k : "?");
    return kind === "gained"
      ? `A new road opens: now ${who} can get through to ${where}. Before, the letter ${plain(g.as_written)}.`
      : `A road closes: now ${who} can no longer get through to ${where}; the letter ${plain(g.under_variant)}.`;
  }
  if (L === 2) {
    return `Before: ${g.as_written || "?"}; now: ${g.under_variant || "?"}.` +
      (g.example ? ` Example packet: ${exampleLine(g.example)}.` : "") +
      (g.other_side ? ` ${kind === "gained" ? "Before" : "Now"} it stops at ${g.other_side.at || "?"} (${g.other_side.stage || g.other_side.outcome}).` : "");
  }
  if (L === 3) {
    const decided = (o) => o.note || `${o.outcome}${o.at ? ` at ${o.at}` : ""}${o.stage ? ` (${o.stage})` : ""}${o.rule ? ` by ${o.rule}` : ""}${o.line ? ` (line ${o.line})` : ""}`;
    return `Before: ${g.as_written || "?"}; now: ${g.under_variant || "?"}. ` +
      (g.other_side ? `${kind === "gained" ? "Before" : "Now"}: ${decided(g.other_side)}. ` : "") +
      (kind === "gained" ? `Let through by ${rules}.` : `Was let through by ${rules}.`);
  }
  const reach = `${g.socket} on ${g.host}${star ? " (★ sensitive)" : ""}`;
  const pin = g.source_kind === "network"
    ? ` A \`deny ${g.source} -> …\` line would cover the hosts on ${g.source} as well; an \`only … may reach\` line naming who should pins this one.`
    : g.whole
      ? kind === "gained" ? ` If it is not meant, \`${expectLine("deny", g)}\` in \`expect:\` fails on it, here and in every later change.` : ` \`${expectLine("deny", g)}\` in \`expect:\` keeps it withdrawn.`
      : " Only part of its packets changed, so an `expect:` line about the whole journey reads the same before and after.";
  return (kind === "gained"
    ? `Authority granted by ${to}: whoever controls ${who} can now talk to ${reach}, through ${rules}.`
    : `Authority withdrawn by ${to}: ${who} can no longer talk to ${reach}; it was let through by ${rules}.`) + pin;
}

function renderChanges() {
  const d = answers.diff;
  box.dataset.variant = state.variant;
  box.dataset.layer = String(state.layer);
  if (!d) {
    fill(box,
      h("p", {}, state.scn.variants.length ? "Toggle a variant (break, harden, or both) to see the journeys the toggle adds or removes, compared with what was on screen before, and the change in the YAML responsible for each:" : "This scenario has no variants."),
      h("div", { class: "variants" }, state.scn.variants.map((x) => h("button", { type: "button", onclick: () => setVariant(x.name) }, x.name))));
    box.dataset.from = "";
    return;
  }
  const L = state.layer;
  const journey = (g, kind) => h("li", { class: `change ${kind}`, "data-journey": `${g.source} -> ${g.host} ${g.socket}` },
    h("p", {}, h("strong", {}, `${kind === "gained" ? "+" : "−"} ${g.source} → ${g.host} `, h("code", {}, g.socket)), g.whole ? "" : " (in part)",
      L >= 2 ? h("span", { class: "muted" }, ` — ${packetsLine(g.packets)}`) : null),
    h("p", { class: "change-words", "data-layer": String(L) }, renderInline(words(g, kind))),
    responsibleList(g.responsible),
    traceButton({ ...g.trace }, "▶ Trace it"));
  const heads = {
    1: ["The lines of the rule book that change", "New roads that open", "Roads that close"],
    2: ["What changes in the scenario", "Journeys that appear", "Journeys that disappear"],
    3: ["Declarations that change", "Journeys that appear, and the rules that let them through", "Journeys that disappear, and what stops them now"],
    4: ["What changes: the decisions to review", "Authority granted: journeys that appear", "Authority withdrawn: journeys that disappear"],
  }[L];
  fill(box,
    h("h3", { class: "diff-label" }, `Compared with what was on screen before: ${diffLabel()}`),
    h("h4", {}, `${heads[0]} (${d.changes.length})`),
    d.changes.length ? h("ul", { class: "decl-changes" }, d.changes.map((c) => h("li", { "data-kind": c.kind },
      h("span", { "aria-hidden": "true" }, c.change === "added" ? "+ " : c.change === "removed" ? "− " : "≠ "), renderInline(c.summary.replace(/ \(line \d+\)$/, "")), " ", lineButton(c.line)))) : h("p", { class: "muted" }, "nothing"),
    h("h4", {}, `${heads[1]} (${d.gained.length})`),
    d.gained.length ? h("ul", { class: "journey-changes gained" }, d.gained.map((g) => journey(g, "gained"))) : h("p", { class: "muted none-gained" }, "none"),
    h("h4", {}, `${heads[2]} (${d.lost.length})`),
    d.lost.length ? h("ul", { class: "journey-changes lost" }, d.lost.map((g) => journey(g, "lost"))) : h("p", { class: "muted none-lost" }, "none"),
    h("p", { class: "muted" }, `${d.unchanged} journeys are the same; ${d.old.journeys} before, ${d.new.journeys} now.`));
  box.dataset.from = answers.diffFrom;
  box.dataset.to = answers.diffTo;
}
