// The scenario's `expect:` journeys, traced as written and under the
// variants on screen, each told in the words of the layer.
import { $, h, fill } from "../core/dom.js";
import { api, apiError, traceOnce } from "../core/api.js";
import { state, on, journeyKey } from "../core/state.js";
import { OUTCOME_WORD, OUTCOME_PLAIN, traceCommand } from "../core/words.js";
import { renderInline } from "../core/markdown.js";
import { registerTab, render as renderTab } from "./tabs.js";
import { fillQuestion, runTrace } from "./journey.js";

let token = 0;
let traced = null;

registerTab({
  id: "expectations",
  label: "✔ Expected journeys",
  order: 40,
  words: "expectations",
  mount(el) {
    el.append(h("section", { id: "expectations", class: "expectations" },
      h("p", { id: "check-summary", class: "check-summary", "aria-live": "polite" }),
      h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "expectation"), h("th", { scope: "col" }, "check"), h("th", { scope: "col" }, "journey"), h("th", { scope: "col" }, "as written"), h("th", { scope: "col", id: "variant-col" }, "variant"), h("th", { scope: "col" }, "change"))),
        h("tbody", { id: "expect-rows" }))));
    on("scenario", refresh);
    on("variant", refresh);
  },
  render() {
    renderRows();
  },
});

function failed(r) {
  return { outcome: { kind: "error", text: (r.json && r.json.error) || r.text }, query: {}, hops: [] };
}

async function refresh() {
  const mine = ++token;
  const scn = state.scn;
  const variant = state.variant;
  const box = $("expectations");
  box.dataset.busy = "true";
  // `pathproof check` of every line, answered by the server's warm check
  // (docs/api.md: GET /api/check): after a toggle or an edit, only the lines
  // whose journeys meet a changed rule are evaluated again.
  const checked = api("GET", `/api/check${variant ? `?variant=${encodeURIComponent(variant)}` : ""}`);
  const rows = await Promise.all(scn.expectations.map((e) => Promise.all(e.journeys.map(async (j) => {
    const key = journeyKey(j);
    const [b, u] = await Promise.all([
      state.baseline.has(key) ? null : traceOnce(j, null),
      variant ? traceOnce(j, variant) : null,
    ]);
    if (b) state.baseline.set(key, b.ok ? b.json : failed(b));
    return { base: state.baseline.get(key), under: u ? (u.ok ? u.json : failed(u)) : null };
  }))));
  const c = await checked;
  if (mine !== token) return;
  const check = c.ok && c.json
    ? { json: c.json, reevaluated: c.headers.get("x-pathproof-reevaluated"), of: c.headers.get("x-pathproof-expectations"), engine: c.headers.get("x-pathproof-engine") }
    : { error: apiError(c) };
  traced = { scn, variant, rows, check };
  renderTab("expectations");
  box.dataset.variant = variant;
  box.dataset.ready = String(mine);
  delete box.dataset.busy;
  if (!performance.getEntriesByName("pathproof-expectations").length) performance.mark("pathproof-expectations");
}

function words(e, j, base, under, variant) {
  const L = state.layer;
  const plain = (t) => OUTCOME_PLAIN[t.outcome.kind] || t.outcome.kind;
  if (L === 1) {
    const ask = { allow: `${j.from} should get through to ${j.to}`, deny: `${j.from} should never get through to ${j.to}`, only: `only the senders on the list may get through to ${j.to}; this row follows ${j.from}`, authenticated: `${j.from} → ${j.to} must come in a sealed envelope that proves who answers` }[e.kind] || e.text;
    return `The rule of the scenario: ${ask}. As written, the letter ${plain(base)}${under ? `; with ${variant} it ${plain(under)}` : ""}.`;
  }
  if (L === 2) return `As written: ${base.outcome.text}${under ? `. Under ${variant}: ${under.outcome.text}` : ""}.`;
  if (L === 3) return `\`pathproof check\` tests this line; reproduce with \`${traceCommand(j, variant)}\`.`;
  const net = state.scn.networks.some((n) => n.name === j.from);
  const claim = {
    allow: `${j.from} is meant to reach ${j.to}: a hardening that cuts it is an outage, so this line stands beside the deny lines`,
    deny: `${j.from} must hold no way into ${j.to}: ${net ? `anyone on ${j.from} could use it` : `if it ever gets one, so does whoever controls ${j.from}`}`,
    only: `${j.to} trusts only the sources named in the line`,
    authenticated: `${j.to} must not take ${j.from}'s address as its identity: the proof has to come from the handshake`,
  }[e.kind] || e.text;
  return `Trust boundary: ${claim}. Checked on every change, the line is evidence, not a diagram.`;
}

function badge(t) {
  return t.outcome.kind === "error" ? t.outcome.text : h("span", { class: "badge " + (t.outcome.kind === "reached" ? "v-ok" : "v-bad") }, OUTCOME_WORD[t.outcome.kind] || t.outcome.kind);
}

const ENGINE_WORDS = { built: "the engine built from scratch", updated: "the engine updated for the changed filters", kept: "the engine kept" };

function checkSummary(check, variant) {
  if (check.error) return `The check could not be run: ${check.error}`;
  const { json, reevaluated, of, engine } = check;
  const under = variant ? ` under ${variant}` : " as written";
  return `pathproof check${under}: ${json.passed} passed, ${json.failed} failed` +
    (of !== null ? ` — ${reevaluated} of ${of} lines evaluated again for this answer (${ENGINE_WORDS[engine] || engine})` +
      (Number(reevaluated) < Number(of) ? "; the others kept their answer: no rule that changed meets their packets." : ".") : ".");
}

function checkCell(check, e) {
  const r = check.json && check.json.results.find((x) => x.line === e.at.line && x.column === e.at.column);
  if (!r) return h("td", { class: "muted" }, "—");
  return h("td", { title: r.detail, "data-passed": String(r.passed) },
    h("span", { class: "badge " + (r.passed ? "v-ok" : "v-bad") }, r.passed ? "✔ holds" : "✖ fails"),
    h("div", { class: "muted check-detail" }, r.detail));
}

function renderRows() {
  const body = $("expect-rows");
  if (!traced || traced.scn !== state.scn) return;
  const { scn, variant, rows, check } = traced;
  $("variant-col").textContent = variant ? `under ${variant}` : "variant";
  $("check-summary").textContent = checkSummary(check, variant);
  const out = [];
  scn.expectations.forEach((e, ei) => {
    if (!e.journeys.length) {
      out.push(h("tr", {}, h("td", {}, h("code", {}, e.text)), checkCell(check, e), h("td", { colspan: 4, class: "muted" }, "about whole networks: the check column says whether it holds")));
      return;
    }
    e.journeys.forEach((j, ji) => {
      const { base, under } = rows[ei][ji];
      const rb = base.outcome.kind === "reached", ru = under && under.outcome.kind === "reached";
      let change = h("span", { class: "muted" }, "—");
      let cls = "";
      if (under && ru && !rb) { change = h("span", { class: "badge v-bad appear" }, "+ appears"); cls = "appears"; }
      else if (under && !ru && rb) { change = h("span", { class: "badge v-rewrite" }, "− disappears"); cls = "disappears"; }
      else if (under && under.outcome.kind !== base.outcome.kind) { change = h("span", { class: "badge v-rewrite" }, "≠ ends differently"); cls = "differs"; }
      else if (under) change = h("span", { class: "muted" }, "= same");
      const dest = (under || base).query.destination_address;
      out.push(h("tr", { class: cls, "data-journey": `${j.from} -> ${j.to}` },
        h("td", {}, h("code", {}, e.text)),
        ji === 0 ? checkCell(check, e) : h("td", { class: "muted", title: "the line above" }, "↑"),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => { fillQuestion(j); runTrace(j); } }, `${j.from} → ${j.to}`), dest ? h("span", { class: "muted" }, ` (${dest})`) : null,
          h("div", { class: "row-words", "data-layer": String(state.layer) }, renderInline(words(e, j, base, under, variant)))),
        h("td", { title: base.outcome.text }, badge(base)),
        h("td", { title: under ? under.outcome.text : "" }, under ? badge(under) : h("span", { class: "muted" }, "—")),
        h("td", {}, change)));
    });
  });
  fill(body, out.length ? out : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "This scenario has no expect: journeys.")));
  body.dataset.layer = String(state.layer);
}
