// One journey: the question (the form, or two hosts picked on the map), the
// player that steps through its hops, the list of hops, the outcome in the
// words of the layer, and the exports.
import { $, h, fill, status } from "../core/dom.js";
import { api, journey as fetchJourney, traceOnce } from "../core/api.js";
import { state, on, emit, told, journeyKey } from "../core/state.js";
import { VERDICT, OUTCOME_WORD } from "../core/words.js";
import { renderInline } from "../core/markdown.js";

export function initJourney() {
  $("trace-form").addEventListener("submit", (e) => { e.preventDefault(); runTrace(); });
  for (const ev of ["focus", "input", "pointerdown"]) $("to").addEventListener(ev, fillToList);
  $("first").addEventListener("click", () => { stop(); goTo(0); });
  $("back").addEventListener("click", () => { stop(); goTo(state.step - 1); });
  $("step").addEventListener("click", () => { stop(); goTo(state.step + 1); });
  $("last").addEventListener("click", () => { stop(); goTo(lastStep()); });
  $("play").addEventListener("click", () => (state.playing ? stop() : play()));
  $("speed").addEventListener("change", () => state.playing && tick());
  $("export-json").addEventListener("click", () => state.journey && download(fileName("json"), JSON.stringify(state.journey.trace, null, 2) + "\n", "application/json"));
  $("export-mermaid").addEventListener("click", () => state.journey && download(fileName("mmd"), state.journey.mermaid, "text/plain"));
  $("copy-mermaid").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(state.journey.mermaid); status("Mermaid copied."); }
    catch { status("The browser did not allow copying; the Mermaid text is under ‘Mermaid of this trace’."); }
  });
  on("scenario", () => {
    state.journey = null;
    state.query = null;
    stop();
    fillForm();
    renderJourney();
    $("pick-hint").textContent = "Or click a host on the map: first the source, then the destination.";
  });
  on("layer", () => { if (state.journey) { renderOutcome(); renderHopList(); } });
  on("variant", () => { if (state.query) runTrace(state.query); });
  on("pick-host", pickHost);
  updateControls();
}

const lastStep = () => (state.journey ? state.journey.trace.hops.length - 1 : 0);

function fillForm() {
  const scn = state.scn;
  const from = $("from");
  from.replaceChildren(
    h("optgroup", { label: "hosts" }, scn.hosts.map((x) => h("option", { value: x.name }, x.name))),
    h("optgroup", { label: "networks (any address in it)" }, scn.networks.map((n) => h("option", { value: n.name }, n.name))));
  // The destinations' suggestions are made when the field is first used.
  $("to-list").replaceChildren();
  toListFor = null;
  const via = $("via");
  via.replaceChildren(h("option", { value: "" }, "(none)"));
  for (const x of scn.hosts) if (x.proxy && x.proxy.mode === "forward") via.append(h("option", { value: x.name }, x.name));
}

// The scenario whose destinations the list suggests (null: none yet).
let toListFor = null;

/** Suggests every destination of the scenario on screen, once per scenario:
 *  sockets, names and hosts (10,000 of them on a large scenario, made only
 *  when the field is used, not for every scenario shown). */
function fillToList() {
  const scn = state.scn;
  if (!scn || toListFor === scn) return;
  toListFor = scn;
  const options = document.createDocumentFragment();
  const seen = new Set();
  const add = (v, label) => {
    if (seen.has(v)) return;
    seen.add(v);
    options.append(h("option", { value: v }, label || ""));
  };
  for (const x of scn.hosts) for (const sk of x.sockets) add(`${x.name}:${sk.port}`, `${sk.proto} ${sk.app || ""}`);
  for (const v of scn.dns) for (const r of v.records) add(r.name, `${r.type} in ${v.name}`);
  for (const x of scn.hosts) add(x.name);
  $("to-list").replaceChildren(options);
}

function formQuery() {
  const q = { from: $("from").value, to: $("to").value.trim(), proto: $("proto").value };
  if ($("port").value !== "") q.port = Number($("port").value);
  if ($("sport").value !== "") q.sport = Number($("sport").value);
  if ($("via").value) q.via = $("via").value;
  if ($("ipv6").checked) q.ipv6 = true;
  if ($("established").checked) q.established = true;
  return q;
}

/** Shows the question `q` in the form, every field of it. */
export function fillQuestion(q) {
  const from = $("from");
  if (![...from.options].some((o) => o.value === q.from)) from.append(h("option", { value: q.from }, q.from));
  from.value = q.from;
  $("to").value = q.to;
  $("proto").value = q.proto || "tcp";
  $("port").value = q.port ?? "";
  $("sport").value = q.sport ?? "";
  $("via").value = q.via || "";
  $("ipv6").checked = !!q.ipv6;
  $("established").checked = !!q.established;
}

function pickHost(host) {
  if (state.pick === "foothold") {
    state.pick = "from";
    emit("foothold-picked", host);
    return;
  }
  if (state.pick !== "to") {
    $("from").value = host.name;
    state.pick = "to";
    $("pick-hint").textContent = `source: ${host.name} — now pick a destination`;
  } else {
    const port = $("port").value || (host.sockets[0] && host.sockets[0].port);
    $("to").value = port ? `${host.name}:${port}` : host.name;
    if (host.sockets[0] && !$("port").value) $("proto").value = host.sockets[0].proto;
    state.pick = "from";
    $("pick-hint").textContent = `destination: ${$("to").value}`;
    runTrace();
  }
}

/**
 * Traces `q` (or the form's question) under the variants on screen, shows it
 * on the map and in the card, and keeps the same journey as written to tell
 * what the variant changed. Resolves to the Trace, or null on an error.
 */
export async function runTrace(q) {
  q = q || formQuery();
  $("trace-error").textContent = "";
  const variant = state.variant;
  const r = await fetchJourney(q, variant);
  if (!r.ok) {
    const j = r.json || {};
    $("trace-error").textContent = (j.error || r.text) + (j.help ? ` — ${j.help}` : "");
    return null;
  }
  if (variant) {
    const key = journeyKey(q);
    if (!state.baseline.has(key)) {
      const b = await traceOnce(q, null);
      if (b.ok) state.baseline.set(key, b.json);
    }
  }
  state.query = q;
  state.journeyVariant = variant;
  state.journey = r.json;
  state.step = 0;
  stop();
  $("mermaid-text").textContent = r.json.mermaid;
  renderJourney();
  emit("journey");
  emit("step", { instant: true });
  showStage();
  status(`Traced ${q.from} → ${q.to}${variant ? ` under ${variant}` : ""}: ${r.json.trace.outcome.text}`);
  return r.json.trace;
}

/** Brings the map and the card into view if the page was scrolled away. */
export function showStage() {
  const stage = $("stage");
  const r = stage.getBoundingClientRect();
  if (r.top < 0 || r.top > innerHeight * 0.5) stage.scrollIntoView({ block: "start", behavior: "instant" });
}

function renderJourney() {
  const show = !!state.journey;
  $("outcome").hidden = !show;
  $("hop-list").hidden = !show;
  $("export").hidden = !show;
  if (show) {
    renderOutcome();
    renderHopList();
  }
  updateControls();
}

function renderHopList() {
  const t = state.journey.trace;
  const tl = told();
  fill($("hop-list"), t.hops.map((hop, i) => {
    const v = VERDICT[hop.verdict] || { icon: "?", cls: "" };
    return h("li", { "data-step": hop.step, class: i === state.step ? "current" : i < state.step ? "done" : "" },
      h("button", { type: "button", class: "hop-item", onclick: () => { stop(); goTo(i); }, "aria-current": i === state.step ? "step" : "false" },
        h("span", { class: "hop-n" }, hop.step),
        h("span", { class: "hop-dir", "aria-hidden": "true" }, hop.direction === "reply" ? "↩" : "→"),
        ` ${hop.device} · ${tl.hops[i].title} `,
        h("span", { class: `badge ${v.cls}` }, `${v.icon} ${tl.hops[i].verdict}`)));
  }));
}

function outcomeBadge(kind) {
  return h("span", { class: "badge " + (kind === "reached" ? "v-ok" : "v-bad") }, OUTCOME_WORD[kind] || kind);
}

function claimList(list, glyph) {
  if (!list.length) return h("p", { class: "muted" }, "nothing");
  return h("ul", { class: "claims" }, list.map((c) => h("li", { "data-fact": c.fact },
    h("span", { "aria-hidden": "true" }, glyph + " "), h("strong", {}, c.short), ": ", renderInline(c.text))));
}

export function renderOutcome() {
  const t = state.journey.trace;
  const o = told().outcome;
  const box = $("outcome");
  box.dataset.kind = t.outcome.kind;
  fill(box,
    h("h2", {}, "Outcome ", outcomeBadge(t.outcome.kind)),
    h("p", { class: "headline" }, o.headline),
    h("p", {}, h("strong", {}, state.layer === 1 ? "The sender notices: " : "The client sees: "), o.client_sees));
  const base = state.journeyVariant && state.baseline.get(journeyKey(state.query));
  if (base && base.outcome.kind !== t.outcome.kind) {
    box.append(h("p", { class: "changed" }, h("strong", {}, `⚠ Changed by ${state.journeyVariant}: `), "as written this journey ends ", outcomeBadge(base.outcome.kind), ` (${base.outcome.text}).`));
  } else if (base) {
    box.append(h("p", { class: "muted" }, `Same outcome as without ${state.journeyVariant}.`));
  }
  if (t.outcome.kind === "reached") {
    box.append(h("h3", {}, state.layer === 1 ? "What the house can be sure of" : "What the service can believe"), claimList(o.believes, "✔"));
    box.append(h("h3", {}, state.layer === 1 ? "What it has to take on trust" : "What it must take on trust"), claimList(o.trusts, "?"));
  }
}

export function goTo(i, instant = false) {
  if (!state.journey) return;
  i = Math.max(0, Math.min(lastStep(), i));
  state.step = i;
  for (const li of $("hop-list").children) {
    const k = [...li.parentNode.children].indexOf(li);
    li.className = k === i ? "current" : k < i ? "done" : "";
    li.firstChild.setAttribute("aria-current", k === i ? "step" : "false");
  }
  // Keep the current hop in view inside the list, without scrolling the page.
  const list = $("hop-list");
  const cur = list.children[i];
  if (cur) {
    const lr = list.getBoundingClientRect(), cr = cur.getBoundingClientRect();
    if (cr.top < lr.top || cr.bottom > lr.bottom) list.scrollTop += cr.top - lr.top - list.clientHeight / 2;
  }
  updateControls();
  emit("step", { instant });
}

function updateControls() {
  const n = state.journey ? state.journey.trace.hops.length : 0;
  const i = state.step;
  $("position").textContent = n ? `hop ${i + 1} of ${n}` : "no journey yet";
  $("back").disabled = !n || i === 0;
  $("first").disabled = !n || i === 0;
  $("step").disabled = !n || i === n - 1;
  $("last").disabled = !n || i === n - 1;
  $("play").disabled = !n;
}

export function play() {
  if (!state.journey) return;
  if (state.step >= lastStep()) goTo(0, true);
  state.playing = true;
  $("play").textContent = "❚❚ Pause";
  $("play").setAttribute("aria-label", "Pause");
  $("player").dataset.playing = "true";
  tick();
}

function tick() {
  clearTimeout(state.timer);
  if (!state.playing) return;
  const speed = Number($("speed").value) || 1;
  const interval = Math.round(1100 / speed);
  $("player").dataset.interval = String(interval);
  state.timer = setTimeout(() => {
    if (!state.playing || !state.journey) return;
    if (state.step >= lastStep()) { stop(); return; }
    goTo(state.step + 1);
    tick();
  }, interval);
}

export function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $("play").textContent = "▶ Play";
  $("play").setAttribute("aria-label", "Play");
  $("player").dataset.playing = "false";
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function fileName(ext) {
  const q = state.query;
  const clean = (x) => x.replace(/[^A-Za-z0-9._-]+/g, "_");
  return `trace-${clean(q.from)}-${clean(q.to)}${state.journeyVariant ? "-" + clean(state.journeyVariant) : ""}.${ext}`;
}

export { api };
