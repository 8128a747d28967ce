// The "Traffic over time" tab: runs the current scenario's `traffic:` section
// (GET /api/simulate, the JSON of `pathproof simulate --format json`) and
// plays it as charts over time, with the hop view of one connection of a
// chosen flow at a chosen second.
//
// A module of its own: it needs nothing from app.js. `mount({ tablist,
// container })` adds its tab to a tablist and its panel to a container; on
// its own it mounts into the page's "Every journey" tabs (#analysis). The
// page's tab switching is generic (every [role=tab] shows its aria-controls
// panel), so the page's tabs hide this panel and this tab hides theirs.
// Text from the server is always set as text, never parsed as HTML.

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6100", "#56b4e9", "#5a5a5a", "#e69f00"];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}


function fmt(n) {
  return Number(n).toLocaleString("en-US");
}

// One chart: lines per series over the run's seconds, a cursor at `second`.
function chart(title, series, { top = null, percent = false, seconds, second }) {
  const W = 460, H = 150, L = 48, R = 8, T = 8, B = 22;
  const max = Math.max(0, ...series.flatMap((x) => x.values.filter((v) => Number.isFinite(v))));
  let ceil = top ?? (max <= 0 ? 1 : Math.pow(10, Math.floor(Math.log10(max))));
  if (top === null) for (const m of [1, 2, 5, 10]) if (max <= m * ceil) { ceil = m * ceil; break; }
  const x = (i) => L + ((W - L - R) * (i + 0.5)) / seconds;
  const y = (v) => T + (H - T - B) * (1 - Math.min(1, Math.max(0, v / ceil)));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": title });
  for (let k = 0; k <= 4; k++) {
    const v = (ceil * k) / 4;
    const yy = y(v);
    svg.append(s("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#eee" }));
    svg.append(s("text", { x: L - 4, y: yy + 4, "text-anchor": "end", "font-size": 10 }, percent ? `${Math.round(v * 100)}%` : fmt(Math.round(v))));
  }
  const step = Math.max(1, Math.round(seconds / 6));
  for (let i = 0; i <= seconds; i += step) svg.append(s("text", { x: L + ((W - L - R) * i) / seconds, y: H - 6, "text-anchor": "middle", "font-size": 10 }, `${i} s`));
  series.forEach((ser, i) => {
    let d = "", pen = false;
    ser.values.forEach((v, j) => {
      if (!Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? " L" : " M"}${x(j).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    svg.append(s("path", { d: d.trim() || "M0,0", fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "data-series": ser.name }, s("title", {}, ser.name)));
  });
  const cx = x(second);
  svg.append(s("line", { class: "sim-cursor", x1: cx, x2: cx, y1: T, y2: H - B, stroke: "#cc79a7", "stroke-width": 2, "stroke-dasharray": "4 3" }));
  const legend = h("div", { class: "sim-legend" }, series.map((ser, i) =>
    h("span", {}, s("svg", { width: 10, height: 10, "aria-hidden": "true" }, s("rect", { width: 10, height: 10, fill: COLORS[i % COLORS.length] })), ser.name)));
  return h("figure", { class: "sim-chart", "data-chart": title }, h("h3", {}, title), svg, legend);
}

export function mount({ tablist, container }) {
  // Its own sheet, beside this module (the page allows styles from itself only).
  if (!document.getElementById("sim-style")) {
    document.head.append(h("link", { id: "sim-style", rel: "stylesheet", href: new URL("simulate.css", import.meta.url).pathname }));
  }
  const tab = h("button", { type: "button", role: "tab", id: "tab-traffic", "aria-controls": "panel-traffic", "aria-selected": "false", tabindex: "-1" }, "⏱ Traffic over time");
  const state = { run: null, scenario: null, second: 0, flow: 0, timer: null };
  const variant = h("select", { id: "sim-variant", "aria-label": "Variant" });
  const seconds = h("input", { id: "sim-seconds", type: "number", min: "1", max: "300", placeholder: "from the scenario", inputmode: "numeric" });
  const seed = h("input", { id: "sim-seed", type: "number", min: "0", placeholder: "from the scenario", inputmode: "numeric" });
  const run = h("button", { type: "button", id: "sim-run", class: "primary" }, "Simulate");
  const status = h("p", { id: "sim-status", class: "muted", role: "status", "aria-live": "polite" });
  const charts = h("div", { id: "sim-charts", class: "sim-charts" });
  const slider = h("input", { id: "sim-second", type: "range", min: "0", max: "0", value: "0", "aria-label": "Second" });
  const secondLabel = h("span", { id: "sim-second-label", class: "position" });
  const play = h("button", { type: "button", id: "sim-play" }, "▶ Play");
  const flowSel = h("select", { id: "sim-flow", "aria-label": "Flow" });
  const hops = h("div", { id: "sim-hops", class: "sim-hops", "aria-live": "polite" });
  const player = h("div", { class: "sim-player", hidden: true }, play, slider, secondLabel, h("label", {}, "Flow ", flowSel));
  const panel = h("div", { role: "tabpanel", id: "panel-traffic", "aria-labelledby": "tab-traffic", tabindex: "-1", hidden: true },
    h("p", { class: "view-words" }, "Traffic over time: the scenario's flows (visitors, floods, login attempts) second by second, through links, conntrack tables, limiters and the kernel's listener queues, as `pathproof simulate` runs them. Pick a second and a flow to see one connection's journey at that moment."),
    h("div", { class: "sim-controls" },
      h("label", {}, "Variant", variant),
      h("label", {}, "Seconds", seconds),
      h("label", {}, "Seed", seed),
      run),
    status, charts, player, hops);
  tablist.append(tab);
  container.append(panel);

  function show() {
    for (const t of tablist.querySelectorAll('[role="tab"]')) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      const p = document.getElementById(t.getAttribute("aria-controls"));
      if (p) p.hidden = !on;
    }
    refreshScenario();
  }
  tab.addEventListener("click", show);
  // The page's own tabs (and arrow keys) hide this panel generically; a
  // click on one of them also stops the player.
  tablist.addEventListener("click", (e) => { if (e.target.closest('[role="tab"]') !== tab) stop(); });
  new MutationObserver(() => { if (!panel.hidden && tab.getAttribute("aria-selected") === "true") refreshScenario(); })
    .observe(panel, { attributes: true, attributeFilter: ["hidden"] });

  async function refreshScenario() {
    const r = await fetch("/api/scenario");
    if (!r.ok) return;
    const scn = await r.json();
    const key = `${scn.name}\n${scn.file}\n${(scn.variants || []).map((v) => v.name).join(",")}`;
    if (key === state.scenario) return;
    state.scenario = key;
    state.run = null;
    charts.replaceChildren();
    hops.replaceChildren();
    player.hidden = true;
    variant.replaceChildren(h("option", { value: "" }, "as written"), ...(scn.variants || []).map((v) => h("option", { value: v.name }, v.name)));
    status.textContent = `Scenario ${scn.name}: press Simulate.`;
  }

  async function simulate() {
    stop();
    const q = new URLSearchParams();
    if (variant.value) q.set("variant", variant.value);
    if (seconds.value) q.set("seconds", seconds.value);
    if (seed.value) q.set("seed", seed.value);
    status.textContent = "Simulating…";
    run.disabled = true;
    try {
      const r = await fetch(`/api/simulate${q.toString() ? "?" + q : ""}`);
      const json = await r.json();
      if (!r.ok) {
        state.run = null;
        charts.replaceChildren();
        hops.replaceChildren();
        player.hidden = true;
        status.textContent = `${json.error}${json.help ? ` (${json.help})` : ""}`;
        panel.dataset.state = "error";
        return;
      }
      state.run = json;
      state.second = Math.min(state.second, json.seconds - 1);
      slider.max = String(json.seconds - 1);
      slider.value = String(state.second);
      flowSel.replaceChildren(...json.flows.map((f, i) => h("option", { value: String(i) }, `${f.name} (${f.kind})`)));
      state.flow = Math.min(state.flow, json.flows.length - 1);
      flowSel.value = String(state.flow);
      player.hidden = false;
      const legit = json.flows.filter((f) => f.legitimate);
      status.textContent = `${json.scenario}${json.variant ? `, variant ${json.variant}` : ""}: ${json.seconds} s, seed ${json.seed}. ` +
        legit.map((f) => `${f.name}: ${f.success_rate === null ? "nothing finished" : `${(f.success_rate * 100).toFixed(1)} % served of ${fmt(f.ok + f.failed)} finished`}${f.pending ? `, ${fmt(f.pending)} still under way at the end` : ""}`).join("; ");
      panel.dataset.state = "ready";
      draw();
    } catch (e) {
      status.textContent = `The simulation failed: ${e.message}`;
    } finally {
      run.disabled = false;
    }
  }

  function draw() {
    const R = state.run;
    if (!R) return;
    const opts = { seconds: R.seconds, second: state.second };
    const share = (f) => f.per_second.map((x) => (x.ok + x.failed ? x.ok / (x.ok + x.failed) : NaN));
    const conn = R.flows.filter((f) => ["clients", "http-flood", "credential-stuffing"].includes(f.kind));
    const list = [];
    if (conn.length) list.push(chart("Share of connections that succeed, by the second they start", conn.map((f) => ({ name: f.name, values: share(f) })), { ...opts, top: 1, percent: true }));
    const legit = R.flows.filter((f) => f.legitimate);
    if (legit.length) list.push(chart("Clients: connections started and served per second", legit.flatMap((f) => [
      { name: `${f.name} started`, values: f.per_second.map((x) => x.offered) },
      { name: `${f.name} served`, values: f.per_second.map((x) => x.ok) }]), opts));
    const attacks = R.flows.filter((f) => !f.legitimate);
    if (attacks.length) list.push(chart("Attacks: sent per second", attacks.map((f) => ({ name: f.name, values: f.per_second.map((x) => x.offered) })), opts));
    for (const l of R.listeners) list.push(chart(`Listener ${l.name} (backlog ${l.backlog}, tcp_syncookies ${l.tcp_syncookies})`, [
      { name: "SYN queue (peak)", values: l.per_second.map((x) => x.syn_queue_max) },
      { name: "accept queue", values: l.per_second.map((x) => x.accept_queue) }], opts));
    const links = R.links.filter((l) => l.passed + l.dropped > 0);
    if (links.length) list.push(chart("Links: share of capacity used", links.map((l) => ({ name: l.name, values: l.per_second.map((x) => x.utilization) })), { ...opts, top: 1, percent: true }));
    if (R.conntrack.length) list.push(chart("Conntrack entries", R.conntrack.map((t) => ({ name: t.host, values: t.per_second.map((x) => x.entries) })), opts));
    for (const l of R.limiters) list.push(chart(`Limiter ${l.name} at ${l.at}`, [
      { name: "allowed", values: l.per_second.map((x) => x.allowed) },
      { name: "limited", values: l.per_second.map((x) => x.limited) }], opts));
    charts.replaceChildren(...list);
    drawHops();
  }

  function hopList(trace) {
    return h("ol", { class: "sim-list sim-trace" }, trace.hops.map((hp) =>
      h("li", { "data-stage": hp.stage, class: `sim-verdict-${hp.verdict}` },
        h("strong", {}, `${hp.device} ${hp.stage}`), ` ${hp.verdict}: ${hp.detail}`)));
  }

  function drawHops() {
    const R = state.run;
    const f = R.flows[state.flow];
    const sec = state.second;
    secondLabel.textContent = `second ${sec} of ${R.seconds}`;
    for (const c of charts.querySelectorAll(".sim-cursor")) {
      const svg = c.ownerSVGElement;
      const W = 460, L = 48, Rr = 8;
      const x = L + ((W - L - Rr) * (sec + 0.5)) / R.seconds;
      c.setAttribute("x1", x);
      c.setAttribute("x2", x);
      svg.dataset.second = String(sec);
    }
    const row = f.per_second[sec];
    const outcomes = h("table", { class: "sim-outcomes" }, h("tbody", {}, f.outcomes.map((o, i) => [o, row.outcomes[i] || 0]).filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([o, n]) => h("tr", { "data-key": o.key }, h("td", { class: "n" }, fmt(n)), h("td", { class: o.ok ? "sim-ok" : "sim-bad" }, `${o.what}`), h("td", {}, `at ${o.at}`)))));
    const left = h("section", { id: "sim-second-view" },
      h("h3", {}, `${f.name} at second ${sec}: ${fmt(row.offered)} ${f.kind === "syn-flood" ? "SYNs" : f.kind.startsWith("udp") ? "datagrams" : "connections"} started, ${fmt(row.ok)} ok, ${fmt(row.failed)} failed`),
      row.outcomes.some((n) => n > 0) ? outcomes : h("p", { class: "muted" }, "Nothing ended this second."));
    const story = (f.stories || []).find((x) => x.second === sec);
    let right;
    if (story) {
      const cls = f.classes[story.class] || f.classes[0];
      right = h("section", { id: "sim-connection", "data-end": story.end },
        h("h3", {}, `One connection from ${story.source}${story.account ? ` (account ${story.account})` : ""}: ${story.end}`),
        h("ol", { class: "sim-list sim-story" }, story.events.map((e) => h("li", {}, h("strong", {}, `+${e.ms.toFixed(1)} ms${e.at ? ` ${e.at}` : ""}`), ` ${e.what}`))),
        h("h3", {}, "Its journey, hop by hop (pathproof trace)"),
        hopList(cls.trace));
    } else {
      const cls = [...f.classes].sort((a, b) => b.share - a.share)[0];
      right = h("section", { id: "sim-connection", "data-end": "batch" },
        h("h3", {}, `A packet of ${f.name}: ${cls.sources}`),
        h("p", {}, cls.stations.join(" → ")),
        h("h3", {}, "Its journey, hop by hop (pathproof trace)"),
        hopList(cls.trace),
        cls.answer_trace ? [h("h3", {}, "The reflected answer's journey"), hopList(cls.answer_trace)] : null);
    }
    hops.replaceChildren(left, right);
    panel.dataset.second = String(sec);
    panel.dataset.flow = f.name;
  }

  function stop() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    play.textContent = "▶ Play";
  }

  run.addEventListener("click", simulate);
  slider.addEventListener("input", () => { state.second = Number(slider.value); drawHops(); });
  flowSel.addEventListener("change", () => { state.flow = Number(flowSel.value); drawHops(); });
  play.addEventListener("click", () => {
    if (state.timer) return stop();
    if (!state.run) return;
    play.textContent = "⏸ Pause";
    state.timer = setInterval(() => {
      if (state.second >= state.run.seconds - 1) return stop();
      state.second += 1;
      slider.value = String(state.second);
      drawHops();
    }, 400);
  });
  return { tab, panel };
}

// On its own: into the page's "Every journey" tabs.
function autoMount() {
  const analysis = document.getElementById("analysis");
  const tablist = analysis && analysis.querySelector('[role="tablist"]');
  if (!tablist || document.getElementById("tab-traffic")) return;
  mount({ tablist, container: analysis });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autoMount);
else autoMount();
