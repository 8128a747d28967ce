// Traffic over time: the scenario's `traffic:` section run by the simulator
// under the variants on screen (GET /api/simulate, the JSON of `pathproof
// simulate --format json`, docs/json.md "simulate"), drawn as lines over the
// run's seconds: what each flow starts and gets served, the listeners'
// queues, the links, the conntrack tables and the limiters. A second and a
// flow picked show what became of that second's connections, the events of
// the one the simulator followed, and the trace of its journey, which plays
// on the map. A scenario without a `traffic:` section says so and offers the
// built-in examples that have one (`traffic` of GET /api/examples).
//
// The run is asked for only while the tab is on screen; the server keeps
// each answer, so coming back to it, or to a variant seen before, is free.
import { $, h, s, fill, plural } from "../core/dom.js";
import { api, apiError } from "../core/api.js";
import { state, on } from "../core/state.js";
import { VERDICT } from "../core/words.js";
import { renderInline } from "../core/markdown.js";
import { registerTab, render as renderTab, selectedTab } from "./tabs.js";
import { fillQuestion, runTrace } from "./journey.js";

// The Okabe–Ito colours, each series with its own dash as well: a line is
// never told by colour alone (its name is in the legend beside its pattern).
const COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6100", "#56b4e9", "#5a5a5a", "#e69f00"];
const DASHES = ["", "7 4", "2 3", "10 3 2 3"];
const MAX_SECONDS = 300; // crates/web/src/simulate.rs
const PLAY_MS = 500;

const sim = {
  scn: 0, // counts scenarios, so that an answer for an older one is dropped
  key: "", // the question of the run on screen (or under way)
  run: null, // GET /api/simulate
  error: "",
  busy: false,
  second: 0,
  flow: 0,
  timer: null,
  examples: null, // GET /api/examples, asked for when a scenario has no traffic
  asking: null, // that request, while it travels
  specs: new Map(), // the charts on screen, by id (their legends follow the second)
  width: 0,
};
let el = {};

const nf = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const num = (n) => nf.format(n);
const pct = (x) => `${(x * 100).toFixed(1)} %`;

registerTab({
  id: "traffic",
  label: "∿ Traffic over time",
  order: 50,
  words: "traffic",
  count: () => {
    const t = state.scn && state.scn.traffic;
    return t ? `(${plural(t.flows.length, "flow")})` : "(none)";
  },
  mount(box) {
    el.form = h("form", { id: "sim-form", class: "sim-controls", autocomplete: "off", onsubmit: (e) => { e.preventDefault(); ask(true); } },
      el.seconds = h("input", { id: "sim-seconds", name: "seconds", type: "number", min: 1, max: MAX_SECONDS, inputmode: "numeric" }),
      el.seed = h("input", { id: "sim-seed", name: "seed", type: "number", min: 0, inputmode: "numeric" }),
      el.go = h("button", { type: "submit", id: "sim-run", class: "primary" }, "Simulate"));
    el.form.prepend(h("label", {}, "Seconds", el.seconds), h("label", {}, "Seed", el.seed));
    el.status = h("p", { id: "sim-status", class: "sim-status", role: "status", "aria-live": "polite" });
    el.none = h("div", { id: "sim-none", class: "sim-none", hidden: true });
    el.summary = h("div", { id: "sim-summary", class: "sim-summary" });
    el.slider = h("input", { id: "sim-second", type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "Second of the run", oninput: () => pick(Number(el.slider.value)) });
    el.flowSel = h("select", { id: "sim-flow", "aria-label": "Flow to follow", onchange: () => { sim.flow = Number(el.flowSel.value); showSecond(); } });
    el.play = h("button", { type: "button", id: "sim-play", "aria-label": "Play the seconds", onclick: togglePlay }, "▶ Play");
    el.secondLabel = h("span", { id: "sim-second-label", class: "position" });
    el.player = h("div", { id: "sim-player", class: "sim-player", role: "toolbar", "aria-label": "Pick a second and a flow", hidden: true },
      h("button", { type: "button", id: "sim-back", "aria-label": "One second back", title: "One second back", onclick: () => { stop(); pick(sim.second - 1); } }, "◀"),
      el.play,
      h("button", { type: "button", id: "sim-next", "aria-label": "One second on", title: "One second on", onclick: () => { stop(); pick(sim.second + 1); } }, "▶|"),
      h("label", { class: "sim-slider" }, h("span", { class: "sr" }, "Second "), el.slider),
      el.secondLabel,
      h("label", {}, "Flow ", el.flowSel));
    el.charts = h("div", { id: "sim-charts", class: "sim-charts" });
    el.detail = h("div", { id: "sim-detail", class: "sim-detail", "aria-live": "polite" });
    el.panel = box.closest("[role=tabpanel]");
    box.append(el.form, el.status, el.none, el.summary, el.player, el.charts, el.detail);
    // Charts are drawn at the width they get (their text stays 12 px).
    new ResizeObserver(() => {
      const w = el.charts.clientWidth;
      if (w && Math.abs(w - sim.width) > 8 && sim.run) drawCharts();
    }).observe(el.charts);
    on("scenario", () => {
      sim.scn++;
      sim.key = "";
      sim.run = null;
      sim.error = "";
      sim.busy = false;
      sim.second = 0;
      sim.flow = 0;
      stop();
      el.go.disabled = false;
      el.panel.removeAttribute("aria-busy");
      el.seconds.value = "";
      el.seed.value = "";
      renderTab("traffic");
    });
    on("variant", () => renderTab("traffic"));
  },
  render() {
    renderTraffic();
  },
});

/** The question for the variants on screen and the form: the query string and its key. */
function question() {
  const q = new URLSearchParams();
  if (state.variant) q.set("variant", state.variant);
  if (el.seconds.value !== "") q.set("seconds", el.seconds.value);
  if (el.seed.value !== "") q.set("seed", el.seed.value);
  const text = q.toString();
  return { text, key: `${sim.scn}?${text}` };
}

function renderTraffic() {
  const t = state.scn.traffic;
  el.form.hidden = !t;
  el.none.hidden = !!t;
  if (!t) {
    stop();
    el.panel.dataset.state = "none";
    fill(el.status);
    fill(el.summary);
    fill(el.charts);
    fill(el.detail);
    el.player.hidden = true;
    renderNone();
    return;
  }
  el.seconds.placeholder = String(t.seconds);
  el.seed.placeholder = String(t.seed);
  // Asked for only when someone looks; the server keeps the answers.
  if (selectedTab() === "traffic" && question().key !== sim.key) ask(false);
  else showRun();
}

function renderNone() {
  const scn = state.scn;
  const head = h("p", { class: "sim-none-head" }, renderInline(state.layer === 1
    ? `${scn.name} says nothing about many visitors at once: it has no \`traffic:\` section, so there is no crowd to watch here.`
    : `${scn.name} has no \`traffic:\` section, so there is nothing to simulate over time: \`pathproof simulate\` needs flows (clients, floods, login attempts), and the listeners, links and limits they meet.`));
  if (!sim.examples) {
    fill(el.none, head, h("p", { class: "muted" }, "Looking for the built-in scenarios that have one…"));
    if (!sim.asking) {
      sim.asking = api("GET", "/api/examples").then((r) => {
        sim.examples = r.ok ? r.json : [];
        renderTab("traffic");
      });
    }
    return;
  }
  const list = sim.examples.filter((e) => e.traffic);
  fill(el.none, head,
    list.length
      ? [h("p", {}, "These built-in scenarios have one; loading one replaces the scenario on screen:"),
        h("ul", { id: "sim-examples", class: "sim-examples" }, list.map((e) => h("li", {},
          h("button", { type: "button", class: "trace-it", "data-example": e.name, onclick: () => loadExample(e.name) }, `Load ${e.name}`),
          " ", h("span", { class: "muted" }, e.teaches))))]
      : h("p", { class: "muted" }, "No built-in scenario has one either; add a `traffic:` section in the YAML editor (docs/scenario.md, \"traffic\")."));
}

/** Loads a built-in as the scenario picker does (the same request, the same status line). */
function loadExample(name) {
  const sel = $("example-select");
  sel.value = name;
  sel.dispatchEvent(new Event("change"));
}

async function ask(again) {
  if (again && !el.form.reportValidity()) return;
  const { text, key } = question();
  if (key === sim.key && (sim.busy || !again)) return;
  stop();
  sim.key = key;
  sim.busy = true;
  sim.error = "";
  el.go.disabled = true;
  el.panel.dataset.state = "running";
  el.panel.setAttribute("aria-busy", "true");
  el.status.classList.remove("error");
  el.status.textContent = `Simulating ${state.scn.name}${state.variant ? ` under ${state.variant}` : ""}…`;
  const r = await api("GET", `/api/simulate${text ? `?${text}` : ""}`);
  if (key !== sim.key) return; // a newer question took its place
  sim.busy = false;
  el.go.disabled = false;
  el.panel.removeAttribute("aria-busy");
  if (r.ok) {
    sim.run = r.json;
    sim.second = Math.min(sim.second, sim.run.seconds - 1);
    sim.flow = Math.min(sim.flow, sim.run.flows.length - 1);
  } else {
    sim.run = null;
    sim.error = apiError(r);
  }
  showRun(true);
}

function showRun(fresh = false) {
  const R = sim.run;
  if (sim.busy) return;
  el.status.classList.toggle("error", !!sim.error);
  if (!R) {
    el.player.hidden = true;
    fill(el.summary);
    fill(el.charts);
    fill(el.detail);
    if (sim.error) {
      el.status.textContent = sim.error;
      el.panel.dataset.state = "error";
    } else {
      el.status.textContent = "Press Simulate to run the scenario's traffic.";
      el.panel.dataset.state = "idle";
    }
    return;
  }
  el.status.textContent = `${R.scenario}${R.variant ? ` under ${R.variant}` : " as written"}: ${R.seconds} s, seed ${R.seed} (pathproof simulate${R.variant ? ` --variant ${R.variant}` : ""} --seconds ${R.seconds} --seed ${R.seed}).`;
  renderSummary(R);
  el.slider.max = String(R.seconds - 1);
  if (fresh || el.flowSel.options.length !== R.flows.length) {
    fill(el.flowSel, R.flows.map((f, i) => h("option", { value: String(i) }, `${f.name} (${f.legitimate ? "" : "attack: "}${f.kind})`)));
  }
  el.flowSel.value = String(sim.flow);
  el.player.hidden = false;
  drawCharts();
  el.panel.dataset.state = "ready";
  el.panel.dataset.variant = R.variant || "";
}

function renderSummary(R) {
  const L = state.layer;
  const legit = R.flows.filter((f) => f.legitimate);
  const line = (f) => {
    const done = f.ok + f.failed;
    const share = f.success_rate === null ? null : pct(f.success_rate);
    const still = f.pending ? `, ${num(f.pending)} still under way at the end` : "";
    if (L === 1) return share === null ? `${f.name}: nobody finished knocking` : `${f.name}: ${share} got in (${num(f.ok)} of ${num(done)})${still}`;
    const lat = L >= 3 && f.latency_ms ? `; served in ${f.latency_ms.p50.toFixed(0)} ms (median), ${f.latency_ms.p99.toFixed(0)} ms (p99)` : "";
    return `${f.name}: ${share === null ? "nothing finished" : `${share} served of ${num(done)} finished`}${still}${lat}`;
  };
  const attacks = R.flows.filter((f) => !f.legitimate);
  fill(el.summary,
    h("ul", { class: "sim-served" }, legit.map((f) => h("li", { "data-flow": f.name, class: f.success_rate !== null && f.success_rate < 0.99 ? "hurt" : "" }, line(f)))),
    attacks.length ? h("p", { class: "muted" }, `${L === 1 ? "The crowd" : "Attacks"}: ${attacks.map((f) => `${f.name} (${f.kind}, ${num(f.offered)} sent)`).join("; ")}.`) : null);
}

// ---- Charts ----------------------------------------------------------------

/** The charts of a run: { title, series: [{ name, values }], top, percent }. */
function chartSpecs(R) {
  const L = state.layer;
  const plain = L === 1;
  const specs = [];
  const share = (f) => f.per_second.map((x) => (x.ok + x.failed ? x.ok / (x.ok + x.failed) : NaN));
  const conn = R.flows.filter((f) => f.stories.length || f.kind === "clients");
  if (conn.length) {
    specs.push({
      id: "share", percent: true, top: 1,
      title: plain ? "How many get in, by the second they knock" : "Share of connections that succeed, by the second they start",
      series: conn.map((f) => ({ name: f.name, values: share(f) })),
    });
  }
  const legit = R.flows.filter((f) => f.legitimate);
  if (legit.length) {
    specs.push({
      id: "clients",
      title: plain ? "Visitors each second: who knocks, who gets in" : "Clients: connections started and served per second",
      series: legit.flatMap((f) => [
        { name: `${f.name} ${plain ? "knock" : "started"}`, values: f.per_second.map((x) => x.offered) },
        { name: `${f.name} ${plain ? "get in" : "served"}`, values: f.per_second.map((x) => x.ok) }]),
    });
  }
  const attacks = R.flows.filter((f) => !f.legitimate);
  if (attacks.length) {
    specs.push({
      id: "attacks",
      title: plain ? "The crowd: fake knocks each second" : "Attacks: sent per second",
      series: attacks.map((f) => ({ name: f.name, values: f.per_second.map((x) => x.offered) })),
    });
  }
  for (const l of R.listeners) {
    specs.push({
      id: `listener ${l.name}`,
      title: plain ? `The waiting rooms of ${l.name} (room for ${num(l.backlog)})`
        : L === 2 ? `Listener ${l.name}: SYN and accept queues (backlog ${num(l.backlog)})`
          : `Listener ${l.name}: queues (backlog ${num(l.backlog)}, tcp_max_syn_backlog ${num(l.tcp_max_syn_backlog)}, tcp_syncookies ${l.tcp_syncookies})`,
      series: [
        { name: plain ? "half-open knocks (SYN queue, peak)" : "SYN queue (peak)", values: l.per_second.map((x) => x.syn_queue_max) },
        { name: plain ? "waiting to be served (accept queue)" : "accept queue", values: l.per_second.map((x) => x.accept_queue) }],
    });
  }
  const links = R.links.filter((l) => l.passed + l.dropped > 0);
  if (links.length) {
    specs.push({
      id: "links", percent: true, top: 1,
      title: plain ? "How full the roads are" : "Links: share of capacity used",
      series: links.map((l) => ({ name: l.name, values: l.per_second.map((x) => x.utilization) })),
    });
  }
  if (R.conntrack.length) {
    specs.push({
      id: "conntrack",
      title: plain ? "How many visitors each guard keeps in mind (conntrack)" : "Conntrack entries",
      series: R.conntrack.map((t) => ({ name: `${t.host}${L >= 2 ? ` (max ${num(t.max)})` : ""}`, values: t.per_second.map((x) => x.entries) })),
    });
  }
  for (const l of R.limiters) {
    specs.push({
      id: `limiter ${l.name}`,
      title: plain ? `The limit ${l.name} at ${l.at}: let through and held back` : `Limiter ${l.name} at ${l.at}${L >= 3 ? ` (${l.algorithm}, per ${l.key})` : ""}`,
      series: [
        { name: plain ? "let through" : "allowed", values: l.per_second.map((x) => x.allowed) },
        { name: plain ? "held back" : "limited", values: l.per_second.map((x) => x.limited) }],
    });
  }
  return specs;
}

function ceiling(max) {
  if (max <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (max <= m * p) return m * p;
  return 10 * p;
}

function drawCharts() {
  const R = sim.run;
  const specs = chartSpecs(R);
  sim.specs = new Map(specs.map((x) => [x.id, x]));
  sim.width = el.charts.clientWidth;
  fill(el.charts, specs.map((spec) => h("figure", { class: "sim-chart", "data-chart": spec.id },
    h("figcaption", {}, spec.title))));
  for (const fig of el.charts.children) {
    const spec = sim.specs.get(fig.dataset.chart);
    fig.append(chart(spec, R.seconds, fig.clientWidth), legend(spec));
  }
  showSecond();
}

/** One chart: a line per series over the run's seconds, at the width it is given. */
function chart(spec, seconds, width) {
  const W = Math.max(240, Math.round((width || 460) - 14)), H = 170, L = 50, Rm = 10, T = 10, B = 26;
  const vals = spec.series.flatMap((x) => x.values.filter(Number.isFinite));
  const top = spec.top ?? ceiling(Math.max(0, ...vals));
  const x = (i) => L + ((W - L - Rm) * (i + 0.5)) / seconds;
  const y = (v) => T + (H - T - B) * (1 - Math.min(1, Math.max(0, v / top)));
  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "sim-svg", role: "img", "aria-label": `${spec.title}: ${spec.series.map((x) => x.name).join(", ")}; the legend gives the values at the second picked` });
  const grid = s("g", { class: "sim-grid", "aria-hidden": "true" });
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    grid.append(s("line", { x1: L, x2: W - Rm, y1: y(v), y2: y(v) }),
      s("text", { x: L - 5, y: y(v) + 4, "text-anchor": "end" }, spec.percent ? `${Math.round(v * 100)}%` : compact.format(v)));
  }
  const ticks = Math.max(2, Math.floor((W - L - Rm) / 60));
  const step = Math.max(1, Math.ceil(seconds / ticks));
  for (let i = 0; i <= seconds; i += step) grid.append(s("text", { x: L + ((W - L - Rm) * i) / seconds, y: H - 8, "text-anchor": "middle" }, `${i} s`));
  svg.append(grid);
  spec.series.forEach((ser, i) => {
    let d = "", pen = false;
    ser.values.forEach((v, j) => {
      if (!Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(j).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    // A lone point (a line broken on both sides) still shows: round caps.
    svg.append(s("path", { d: d || "M0,0", class: "sim-line", stroke: COLORS[i % COLORS.length], "stroke-dasharray": DASHES[i % DASHES.length] || null, "data-series": ser.name }));
  });
  svg.append(s("line", { class: "sim-cursor", y1: T, y2: H - B }));
  // A click (or a tap) on the chart picks that second.
  svg.addEventListener("click", (e) => {
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) * W) / r.width;
    pick(Math.floor(((px - L) * seconds) / (W - L - Rm)));
  });
  svg.dataset.geometry = JSON.stringify({ W, L, Rm, seconds });
  return svg;
}

function legend(spec) {
  return h("ul", { class: "sim-legend" }, spec.series.map((ser, i) => h("li", {},
    s("svg", { width: 26, height: 10, "aria-hidden": "true" }, s("line", { x1: 1, x2: 25, y1: 5, y2: 5, stroke: COLORS[i % COLORS.length], "stroke-width": 3, "stroke-dasharray": DASHES[i % DASHES.length] || null })),
    h("span", {}, ser.name), ": ", h("strong", { class: "sim-value" }))));
}

// ---- The second picked -----------------------------------------------------

function pick(second) {
  if (!sim.run) return;
  sim.second = Math.max(0, Math.min(sim.run.seconds - 1, second));
  showSecond();
}

function showSecond() {
  const R = sim.run;
  if (!R) return;
  const sec = sim.second;
  el.slider.value = String(sec);
  el.slider.setAttribute("aria-valuetext", `second ${sec}`);
  el.secondLabel.textContent = `second ${sec} of ${R.seconds}`;
  for (const fig of el.charts.children) {
    const svg = fig.querySelector(".sim-svg");
    const g = JSON.parse(svg.dataset.geometry);
    const cx = g.L + ((g.W - g.L - g.Rm) * (sec + 0.5)) / g.seconds;
    const c = svg.querySelector(".sim-cursor");
    c.setAttribute("x1", cx);
    c.setAttribute("x2", cx);
    svg.dataset.second = String(sec);
    const spec = sim.specs.get(fig.dataset.chart);
    fig.querySelectorAll(".sim-value").forEach((v, i) => {
      const n = spec.series[i].values[sec];
      v.textContent = !Number.isFinite(n) ? "—" : spec.percent ? pct(n) : num(n);
    });
  }
  renderDetail();
  el.panel.dataset.second = String(sec);
  el.panel.dataset.flow = R.flows[sim.flow].name;
}

function unit(f, n) {
  const one = n === 1;
  const L1 = state.layer === 1;
  if (f.kind === "syn-flood") return L1 ? (one ? "fake knock" : "fake knocks") : (one ? "SYN" : "SYNs");
  if (f.kind.startsWith("udp")) return one ? "datagram" : "datagrams";
  return L1 ? (one ? "visit" : "visits") : (one ? "connection" : "connections");
}

function renderDetail() {
  const R = sim.run;
  const f = R.flows[sim.flow];
  const sec = sim.second;
  const L = state.layer;
  const row = f.per_second[sec];
  const outcomes = f.outcomes.map((o, i) => [o, row.outcomes[i] || 0]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const head = L === 1
    ? `${f.name} in second ${sec}: ${num(row.offered)} ${unit(f, row.offered)}, ${num(row.ok)} got in, ${num(row.failed)} did not`
    : `${f.name} in second ${sec}: ${num(row.offered)} ${unit(f, row.offered)} started, ${num(row.ok)} ok, ${num(row.failed)} failed`;
  const second = h("section", { id: "sim-second-view", class: "sim-second" },
    h("h3", {}, head),
    outcomes.length
      ? h("table", { class: "sim-outcomes" },
        h("thead", { class: L === 1 ? "sr" : null }, h("tr", {}, h("th", { scope: "col" }, "count"), h("th", { scope: "col" }, "what became of them"), h("th", { scope: "col" }, "where"))),
        h("tbody", {}, outcomes.map(([o, n]) => h("tr", { "data-key": o.key, class: o.ok ? "ok" : "bad" },
          h("td", { class: "n" }, num(n)),
          h("td", {}, h("span", { "aria-hidden": "true" }, o.ok ? "✔ " : "✖ "), o.what),
          h("td", {}, o.at)))))
      : h("p", { class: "muted" }, row.offered ? "None of them has ended yet (a connection counts in the second it starts)." : "Nothing of this flow started in this second."),
    L >= 3 ? counters(R, sec) : null);
  fill(el.detail, second, connection(f, sec));
}

/** The kernel's counters of each listener in that second (the ones that moved). */
function counters(R, sec) {
  const rows = R.listeners.flatMap((l) => Object.entries(l.per_second[sec].counters).filter(([, n]) => n).map(([k, n]) => [l.name, k, n]));
  if (!rows.length) return null;
  return h("div", { class: "sim-counters" }, h("h4", {}, `The listeners' counters in second ${sec} (nstat)`),
    h("ul", {}, rows.map(([l, k, n]) => h("li", {}, h("code", {}, k), ` ${num(n)}`, R.listeners.length > 1 ? h("span", { class: "muted" }, ` (${l})`) : null))));
}

function connection(f, sec) {
  const L = state.layer;
  const story = f.stories.find((x) => x.second === sec);
  const traceOf = (cls) => [
    h("h4", {}, L === 1 ? "Its way, checkpoint by checkpoint" : "Its journey, hop by hop (pathproof trace)"),
    hopList(cls.trace),
    playButton(cls.trace),
    cls.answer_trace ? [h("h4", {}, L === 1 ? "The answer sent back to the victim" : "The reflected answer's journey"), hopList(cls.answer_trace), playButton(cls.answer_trace)] : null];
  if (story) {
    const cls = f.classes[story.class] || f.classes[0];
    const end = { served: L === 1 ? "it got in" : "served", failed: L === 1 ? "it did not get in" : "failed", pending: "still under way at the end of the run" }[story.end] || story.end;
    return h("section", { id: "sim-connection", class: `sim-connection end-${story.end}`, "data-end": story.end },
      h("h3", {}, `${L === 1 ? "One visit" : "The first connection"} of second ${sec}, from ${story.source}${story.account ? ` (account ${story.account})` : ""}: `, h("span", { class: story.end === "served" ? "v-ok" : story.end === "failed" ? "v-bad" : "" }, end)),
      h("ol", { class: "sim-events" }, story.events.map((e) => h("li", {},
        h("span", { class: "sim-ms" }, `+${e.ms.toFixed(1)} ms`), " ", e.at ? h("strong", {}, e.at) : null, e.at ? ": " : "", e.what))),
      traceOf(cls));
  }
  const cls = [...f.classes].sort((a, b) => b.share - a.share)[0];
  return h("section", { id: "sim-connection", class: "sim-connection", "data-end": "batch" },
    h("h3", {}, f.stories.length
      ? `No connection of ${f.name} started in second ${sec}; its way:`
      : `${f.name} is followed in bulk, not one ${L === 1 ? "visit" : "connection"} at a time: ${cls.sources}`),
    cls.stations.length ? h("p", {}, L === 1 ? "It meets " : "Places on the way: ", cls.stations.join(" → ")) : null,
    traceOf(cls));
}

function hopList(trace) {
  const L = state.layer;
  return h("ol", { class: "sim-trace" }, trace.hops.map((hp) => {
    const v = VERDICT[hp.verdict] || { icon: "?", cls: "" };
    return h("li", { "data-stage": hp.stage },
      h("span", { class: `badge ${v.cls}` }, h("span", { "aria-hidden": "true" }, `${v.icon} `), hp.verdict), " ",
      h("strong", {}, hp.device), ` ${hp.stage}`, L >= 2 ? [": ", h("span", { class: "sim-hop-detail" }, hp.detail)] : null);
  }), h("li", { class: "sim-outcome" }, h("strong", {}, trace.outcome.text)));
}

/** Plays that journey on the map, under the variants on screen (the run's). */
function playButton(trace) {
  const q = trace.query;
  if (!q || !q.from || !q.to) return null;
  const body = { from: q.from, to: q.to, proto: q.proto || "tcp" };
  if (q.via) body.via = q.via;
  return h("button", { type: "button", class: "trace-it", onclick: () => { fillQuestion(body); runTrace(body); } }, "▶ Play it on the map");
}

// ---- The player --------------------------------------------------------------

function togglePlay() {
  if (sim.timer) { stop(); return; }
  if (!sim.run) return;
  if (sim.second >= sim.run.seconds - 1) pick(0);
  el.play.textContent = "❚❚ Pause";
  el.play.setAttribute("aria-label", "Pause");
  sim.timer = setInterval(() => {
    if (!sim.run || selectedTab() !== "traffic" || sim.second >= sim.run.seconds - 1) { stop(); return; }
    pick(sim.second + 1);
  }, PLAY_MS);
}

function stop() {
  if (sim.timer) clearInterval(sim.timer);
  sim.timer = null;
  if (el.play) {
    el.play.textContent = "▶ Play";
    el.play.setAttribute("aria-label", "Play the seconds");
  }
}
