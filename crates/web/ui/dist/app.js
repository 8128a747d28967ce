// pathproof serve: the page. Plain modern JS, no framework, no network beyond
// this server's /api/. Every verdict shown here comes from the engine's Trace
// JSON (docs/json.md); the page only lays it out.

import { renderMarkdown, renderInline } from "./markdown.js";

const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  scn: null, // GET /api/scenario
  layer: 2,
  variant: null, // the variant toggled on, or null
  trace: null, // the Trace JSON on screen
  query: null, // the body that produced it (without variant)
  step: 0, // index into trace.hops
  playing: false,
  timer: null,
  pick: "from",
  positions: new Map(), // device name -> {x, y}
  baseline: new Map(), // journey key -> Trace under no variant
  expectToken: 0,
  mermaid: "",
  words: null, // GET /api/words: each layer's words for every stage and fact
  lessons: [], // GET /api/lessons
  lesson: null, // the lesson open, GET /api/lessons/{id}
  reachBase: null, // GET /api/reach as written
  reachUnder: null, // GET /api/reach?variant=V while a variant is on
  diff: null, // GET /api/diff?variant=V while a variant is on
  analysisToken: 0,
  matrixPos: { r: 0, c: 0 }, // the matrix cell that takes the focus
  foot: null, // GET /api/foothold for the chosen foothold
  footFrom: null,
  footDepth: 1, // hops of the attack shown
  matrixCell: null, // the matrix cell whose detail is shown, {r, c}
  predictions: new Map(), // "lesson|level|index" -> { choice, result } of predict-then-see
};

// ---------- small helpers ----------

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
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(method, path, body, type = "application/json") {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = type;
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  if ((r.headers.get("content-type") || "").startsWith("application/json")) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  return { ok: r.ok, status: r.status, json, text };
}

// Replaces an element's children, skipping null/false and flattening lists.
function fill(box, ...items) {
  box.replaceChildren(...items.flat(3).filter((x) => x !== null && x !== undefined && x !== false));
}

function status(msg) {
  $("status").textContent = msg;
}

// Verdicts: an icon and a word, never colour alone.
const VERDICT = {
  pass: { icon: "→", word: "passes", cls: "v-pass" },
  rewrite: { icon: "✎", word: "rewritten", cls: "v-rewrite" },
  allow: { icon: "✔", word: "allowed", cls: "v-ok" },
  accept: { icon: "✔", word: "accepted", cls: "v-ok" },
  drop: { icon: "✖", word: "dropped", cls: "v-bad" },
  reject: { icon: "⊘", word: "rejected", cls: "v-bad" },
  refuse: { icon: "✖", word: "refused", cls: "v-bad" },
};

const OUTCOME_WORD = {
  reached: "✔ reached", refused: "✖ refused", dropped: "✖ dropped", rejected: "⊘ rejected",
  no_route: "✖ no route", unresolved: "✖ unresolved", tls_failed: "✖ TLS failed",
  proxy_denied: "✖ proxy denied", ttl_exceeded: "✖ TTL exceeded", reply_lost: "✖ reply lost",
};

function outcomeBadge(kind) {
  const ok = kind === "reached";
  return h("span", { class: "badge " + (ok ? "v-ok" : "v-bad") }, OUTCOME_WORD[kind] || kind);
}

function verdictBadge(v) {
  const d = VERDICT[v] || { icon: "?", word: v, cls: "" };
  return h("span", { class: "badge " + d.cls }, h("span", { "aria-hidden": "true" }, d.icon + " "), d.word);
}

const STAGE_TITLE = {
  resolve: "Name lookup (DNS)", send: "Send", conntrack: "Connection tracking", dnat: "Destination NAT",
  martian: "Martian source check", reverse_path: "Reverse-path check", route: "Routing", filter: "Filter", snat: "Source NAT",
  link: "Link (neighbour)", socket: "Socket", tls: "TLS handshake", proxy: "Proxy", receive: "Client receives",
};

const LAYER_NAME = { 1: "Picture", 2: "Packets", 3: "Rules", 4: "Trust" };

function layerName(n) {
  return (state.words && state.words.layers[n - 1]) || LAYER_NAME[n];
}

// ---------- scenario and topology ----------

async function loadExamples() {
  const r = await api("GET", "/api/examples");
  const sel = $("example-select");
  sel.replaceChildren(h("option", { value: "" }, "(current)"));
  for (const e of r.json || []) sel.append(h("option", { value: e.name, title: e.teaches }, e.name));
}

async function loadScenario() {
  const r = await api("GET", "/api/scenario");
  setScenario(r.json);
}

function setScenario(scn) {
  state.scn = scn;
  state.baseline.clear();
  state.trace = null;
  state.variant = null;
  state.query = null; // a question about the previous scenario's names
  state.reachBase = null;
  state.reachUnder = null;
  state.diff = null;
  state.foot = null;
  state.footFrom = null;
  state.matrixPos = { r: 0, c: 0 };
  stop();
  $("scenario-about").textContent = `${scn.name} (${scn.file}): ${scn.about}`;
  $("editor-file").textContent = scn.file;
  $("yaml").value = scn.source;
  renderGutter([]);
  $("problems").replaceChildren();
  fillForm();
  renderVariants();
  drawTopology();
  renderTrace();
  refreshExpectations();
  fillFoothold();
  renderAttacker();
  refreshAnalysis();
  renderLesson();
  const first = defaultJourney();
  if (first) fillQuestion(first);
}

function defaultJourney() {
  for (const e of state.scn.expectations) {
    if (e.kind === "allow" && e.journeys.length) return e.journeys[0];
  }
  for (const e of state.scn.expectations) if (e.journeys.length) return e.journeys[0];
  return null;
}

function fillForm() {
  const scn = state.scn;
  const from = $("from");
  from.replaceChildren();
  const hosts = h("optgroup", { label: "hosts" });
  for (const x of scn.hosts) hosts.append(h("option", { value: x.name }, x.name));
  const nets = h("optgroup", { label: "networks (any address in it)" });
  for (const n of scn.networks) nets.append(h("option", { value: n.name }, n.name));
  from.append(hosts, nets);
  const dl = $("to-list");
  dl.replaceChildren();
  const seen = new Set();
  const add = (v, label) => {
    if (seen.has(v)) return;
    seen.add(v);
    dl.append(h("option", { value: v }, label || ""));
  };
  for (const x of scn.hosts) for (const sk of x.sockets) add(`${x.name}:${sk.port}`, `${sk.proto} ${sk.app || ""}`);
  for (const v of scn.dns) for (const r of v.records) add(r.name, `${r.type} in ${v.name}`);
  for (const x of scn.hosts) add(x.name);
  const via = $("via");
  via.replaceChildren(h("option", { value: "" }, "(none)"));
  for (const x of scn.hosts) if (x.proxy && x.proxy.mode === "forward") via.append(h("option", { value: x.name }, x.name));
}

// Layout: networks are boxes holding their single-homed hosts; routers and
// firewalls (and any host on several networks) sit between rows of boxes,
// joined to each network they are on. Rows come from a breadth-first walk
// starting at the untrusted networks, so the internet is on top.
function layout(scn) {
  const netIdx = new Map(scn.networks.map((n, i) => [n.name, i]));
  const connectors = [];
  const members = scn.networks.map(() => []);
  const loose = [];
  for (const host of scn.hosts) {
    const nets = [...new Set(host.interfaces.map((i) => i.network))];
    if (nets.length > 1 || host.kind !== "host") connectors.push({ host, nets });
    else if (nets.length === 1) members[netIdx.get(nets[0])].push(host);
    else loose.push(host);
  }
  const netLayer = new Array(scn.networks.length).fill(-1);
  const conLayer = new Array(connectors.length).fill(-1);
  const order = [...scn.networks.keys()].sort((a, b) => {
    const ua = scn.networks[a].trust === "untrusted" ? 0 : 1;
    const ub = scn.networks[b].trust === "untrusted" ? 0 : 1;
    return ua - ub || a - b;
  });
  let base = 0;
  for (const start of order) {
    if (netLayer[start] >= 0) continue;
    let frontier = [start];
    netLayer[start] = base;
    let depth = base;
    while (frontier.length) {
      const nextNets = [];
      for (const ni of frontier) {
        connectors.forEach((c, ci) => {
          if (conLayer[ci] >= 0 || !c.nets.includes(scn.networks[ni].name)) return;
          conLayer[ci] = netLayer[ni] + 1;
          for (const other of c.nets) {
            const oi = netIdx.get(other);
            if (netLayer[oi] < 0) {
              netLayer[oi] = netLayer[ni] + 2;
              nextNets.push(oi);
            }
          }
        });
      }
      depth = Math.max(depth, ...nextNets.map((i) => netLayer[i]));
      frontier = nextNets;
    }
    base = depth + 2;
  }
  connectors.forEach((c, ci) => { if (conLayer[ci] < 0) conLayer[ci] = base + 1; });

  const CELL_W = 118, CELL_H = 58, PAD = 14, HEAD = 34, MAXW = 1100, GAP = 26;
  const rows = new Map();
  const push = (layer, item) => { if (!rows.has(layer)) rows.set(layer, []); rows.get(layer).push(item); };
  scn.networks.forEach((n, i) => {
    const list = members[i];
    const cols = Math.max(1, Math.min(4, list.length));
    const nrows = Math.max(1, Math.ceil(list.length / cols));
    const w = Math.max(170, cols * CELL_W + PAD * 2);
    const hgt = HEAD + nrows * CELL_H + PAD;
    push(netLayer[i], { type: "net", net: n, hosts: list, cols, w, h: hgt });
  });
  connectors.forEach((c, ci) => push(conLayer[ci], { type: "con", host: c.host, nets: c.nets, w: 120, h: 64 }));
  if (loose.length) push(base + 4, { type: "net", net: { name: "(no network)", prefixes: [], trust: "trusted" }, hosts: loose, cols: Math.min(4, loose.length), w: Math.min(4, loose.length) * CELL_W + PAD * 2, h: HEAD + Math.ceil(loose.length / 4) * CELL_H + PAD });

  const placed = [];
  let y = 10;
  let width = 0;
  for (const layer of [...rows.keys()].sort((a, b) => a - b)) {
    // wrap a long row into several
    const items = rows.get(layer);
    let line = [];
    let lineW = 0;
    const flush = () => {
      if (!line.length) return;
      const hmax = Math.max(...line.map((i) => i.h));
      let x = 0;
      for (const it of line) {
        it.x = x;
        it.y = y + (hmax - it.h) / 2;
        x += it.w + GAP;
      }
      placed.push({ items: line, w: x - GAP });
      width = Math.max(width, x - GAP);
      y += hmax + (line[0].type === "con" ? 40 : 46);
      line = [];
      lineW = 0;
    };
    for (const it of items) {
      if (lineW + it.w > MAXW && line.length) flush();
      line.push(it);
      lineW += it.w + GAP;
    }
    flush();
  }
  // centre each row
  for (const row of placed) {
    const off = (width - row.w) / 2;
    for (const it of row.items) it.x += off + 10;
  }
  return { items: placed.flatMap((r) => r.items), width: width + 20, height: y, CELL_W, CELL_H, PAD, HEAD };
}

function hostTitle(host) {
  const addrs = host.interfaces.map((i) => `${i.network} ${i.addrs.join(", ")}`).join("; ");
  const socks = host.sockets.map((x) => x.text).join(", ");
  const filt = [host.forward && `forward ${host.forward}`, host.input && `input ${host.input}`, host.output && `output ${host.output}`].filter(Boolean).join(", ");
  return `${host.name} (${host.kind}${host.sensitive ? ", sensitive" : ""}): ${addrs}` + (socks ? `; listens ${socks}` : "") + (filt ? `; filters ${filt}` : "") + (host.about ? `. ${host.about}` : "");
}

function drawTopology() {
  const scn = state.scn;
  const svg = $("topology");
  svg.replaceChildren();
  state.positions.clear();
  const L = layout(scn);
  svg.setAttribute("viewBox", `0 0 ${L.width} ${L.height}`);
  svg.style.minWidth = Math.min(L.width, 900) * 0.7 + "px";
  const gEdges = s("g", { class: "edges" });
  const gNets = s("g", { class: "nets" });
  const gHosts = s("g", { class: "hosts" });
  const gPath = s("g", { class: "journey-path", id: "journey-path" });
  const gNetLabels = s("g", { class: "net-labels" });
  const boxes = new Map();
  for (const it of L.items) {
    if (it.type !== "net") continue;
    const n = it.net;
    boxes.set(n.name, it);
    const g = s("g", { class: "net" + (n.trust === "untrusted" ? " untrusted" : ""), "data-net": n.name });
    g.append(s("rect", { x: it.x, y: it.y, width: it.w, height: it.h, rx: 10 }));
    // The names go in a layer above the overlays' arrows, so that they stay readable.
    gNetLabels.append(s("g", { class: "net-label" + (n.trust === "untrusted" ? " untrusted" : ""), "aria-hidden": "true" },
      s("text", { x: it.x + 10, y: it.y + 20, class: "net-name" }, n.name + (n.trust === "untrusted" ? " ⚠ untrusted" : "")),
      s("text", { x: it.x + 10, y: it.y + 31, class: "net-cidr" }, n.prefixes.join(" "))));
    g.append(s("title", {}, `${n.name} ${n.prefixes.join(" ")}${n.trust === "untrusted" ? " (untrusted)" : ""}`));
    gNets.append(g);
    state.positions.set(n.name, { x: it.x + it.w - 16, y: it.y + 16 });
    it.hosts.forEach((host, k) => {
      const col = k % it.cols, row = Math.floor(k / it.cols);
      const x = it.x + L.PAD + col * L.CELL_W;
      const y = it.y + L.HEAD + row * L.CELL_H;
      gHosts.append(hostNode(host, x, y, L.CELL_W - 10, L.CELL_H - 12));
    });
  }
  for (const it of L.items) {
    if (it.type !== "con") continue;
    const cx = it.x + it.w / 2, cy = it.y + it.h / 2;
    for (const name of it.nets) {
      const b = boxes.get(name);
      if (!b) continue;
      const tx = Math.max(b.x + 12, Math.min(b.x + b.w - 12, cx));
      const ty = b.y + b.h / 2 < cy ? b.y + b.h : b.y;
      gEdges.append(s("line", { x1: cx, y1: cy, x2: tx, y2: ty, class: "edge", "data-edge": `${it.host.name}|${name}` }));
    }
    gHosts.append(hostNode(it.host, it.x, it.y + 6, it.w, it.h - 12));
  }
  const packet = s("g", { id: "packet", class: "packet", "aria-hidden": "true" },
    s("circle", { r: 9 }), s("text", { y: 4, "text-anchor": "middle" }, "✉"));
  packet.style.opacity = 0;
  const defs = s("defs", {});
  for (const kind of ["gained", "lost", "attack-arrow", "jewel"]) {
    defs.append(s("marker", { id: `mk-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", class: `mk mk-${kind}` },
      s("path", { d: "M0 0L10 5L0 10z" })));
  }
  const gDiff = s("g", { class: "diff-layer", id: "diff-layer" });
  const gAttack = s("g", { class: "attack-layer", id: "attack-layer" });
  svg.append(defs, gEdges, gNets, gDiff, gAttack, gNetLabels, gPath, gHosts, packet);
  highlightPath();
  drawDiffOverlay();
  drawAttackOverlay();
}

function hostNode(host, x, y, w, hgt) {
  const kindLabel = { host: "", router: "⟲ router", firewall: "▦ firewall" }[host.kind];
  const addr = host.interfaces.flatMap((i) => i.addrs)[0] || "";
  const g = s("g", {
    class: `node kind-${host.kind}` + (host.sensitive ? " sensitive" : ""),
    tabindex: 0, role: "button", "data-host": host.name,
    "aria-label": hostTitle(host),
  }, s("title", {}, hostTitle(host)));
  if (host.kind === "router") {
    g.append(s("rect", { x, y, width: w, height: hgt, rx: hgt / 2 }));
  } else if (host.kind === "firewall") {
    g.append(s("rect", { x, y, width: w, height: hgt, rx: 2 }));
    g.append(s("path", { class: "brick", d: `M${x} ${y + hgt / 2}h${w}M${x + w / 3} ${y}v${hgt / 2}M${x + (2 * w) / 3} ${y + hgt / 2}v${hgt / 2}` }));
  } else {
    g.append(s("rect", { x, y, width: w, height: hgt, rx: 6 }));
  }
  g.append(s("text", { x: x + w / 2, y: y + 17, "text-anchor": "middle", class: "host-name" }, (host.sensitive ? "★ " : "") + host.name));
  g.append(s("text", { x: x + w / 2, y: y + 31, "text-anchor": "middle", class: "host-sub" }, kindLabel || addr));
  g.addEventListener("click", () => pickHost(host));
  g.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pickHost(host); }
  });
  state.positions.set(host.name, { x: x + w / 2, y: y + hgt / 2 });
  return g;
}

function pickHost(host) {
  if (state.pick === "foothold") {
    state.pick = "from";
    $("foothold-pick").setAttribute("aria-pressed", "false");
    $("pick-hint").textContent = `foothold: ${host.name}`;
    selectTab("tab-attacker");
    runFoothold(host.name);
    return;
  }
  if (state.pick === "from") {
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

function devicePos(device) {
  if (state.positions.has(device)) return state.positions.get(device);
  const at = device.indexOf("@");
  if (at > 0 && state.positions.has(device.slice(0, at))) return state.positions.get(device.slice(0, at));
  return null;
}

// ---------- variants ----------

function renderVariants() {
  const box = $("variants");
  box.replaceChildren();
  const mk = (name, label) => {
    const b = h("button", {
      type: "button", role: "radio", "aria-checked": String(state.variant === name),
      class: "variant" + (name ? ` variant-${name}` : ""), "data-variant": name || "",
      onclick: () => setVariant(name),
    }, label);
    box.append(b);
  };
  mk(null, "as written");
  for (const v of state.scn.variants) mk(v.name, (v.name === "break" ? "⚡ " : v.name === "harden" ? "▲ " : "") + v.name);
  const v = state.scn.variants.find((x) => x.name === state.variant);
  $("variant-why").textContent = v ? `${v.name}: ${v.why}` : state.scn.variants.length ? "Toggle a variant to see which journeys appear or disappear." : "This scenario has no variants.";
}

function setVariant(name) {
  state.variant = name;
  renderVariants();
  if (state.query) runTrace(state.query);
  refreshExpectations();
  refreshAnalysis();
}

// ---------- tracing ----------

function formQuery() {
  const q = { from: $("from").value, to: $("to").value.trim(), proto: $("proto").value };
  const port = $("port").value;
  if (port !== "") q.port = Number(port);
  const sport = $("sport").value;
  if (sport !== "") q.sport = Number(sport);
  if ($("via").value) q.via = $("via").value;
  if ($("ipv6").checked) q.ipv6 = true;
  if ($("established").checked) q.established = true;
  return q;
}

// Shows the question `q` in the form, every field of it, so that Trace asks
// again exactly the journey on screen.
function fillQuestion(q) {
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

async function traceOnce(q, variant) {
  const body = { ...q };
  if (variant) body.variant = variant;
  return api("POST", "/api/trace", JSON.stringify(body));
}

// Every field of a trace question (POST /api/trace but `variant`), with the
// value the API takes when it is left out.
const QUESTION = { from: null, to: null, proto: "tcp", port: null, sport: null, via: null, ipv6: false, established: false };

// Two questions share a key only when they ask for the same journey: every
// field counts (a source port decides what a stateless rule or a stale
// conntrack entry lets through). A field the page does not know yet counts too.
function journeyKey(q) {
  const norm = { ...QUESTION };
  for (const [k, v] of Object.entries(q)) {
    if (k === "variant") continue;
    norm[k] = v === undefined || v === null || v === "" ? (QUESTION[k] ?? null) : v;
  }
  return JSON.stringify(Object.keys(norm).sort().map((k) => [k, norm[k]]));
}

async function runTrace(q) {
  q = q || formQuery();
  $("trace-error").textContent = "";
  const r = await traceOnce(q, state.variant);
  if (!r.ok) {
    const j = r.json || {};
    $("trace-error").textContent = (j.error || r.text) + (j.help ? ` — ${j.help}` : "");
    return null;
  }
  state.query = q;
  state.trace = r.json;
  state.step = 0;
  if (state.variant) {
    const key = journeyKey(q);
    if (!state.baseline.has(key)) {
      const b = await traceOnce(q, null);
      if (b.ok) state.baseline.set(key, b.json);
    }
  }
  const m = await api("POST", "/api/trace?format=mermaid", JSON.stringify({ ...q, variant: state.variant || undefined }));
  state.mermaid = m.ok ? m.text : "";
  $("mermaid-text").textContent = state.mermaid;
  stop();
  renderTrace();
  status(`Traced ${q.from} → ${q.to}${state.variant ? ` under ${state.variant}` : ""}: ${r.json.outcome.text}`);
  return r.json;
}

function renderTrace() {
  const t = state.trace;
  const show = !!t;
  $("player").hidden = !show;
  $("hop-card").hidden = !show;
  $("outcome").hidden = !show;
  $("hop-list").hidden = !show;
  if (!t) {
    highlightPath();
    return;
  }
  const list = $("hop-list");
  list.replaceChildren();
  t.hops.forEach((hop, i) => {
    list.append(h("li", { "data-step": hop.step },
      h("button", { type: "button", class: "hop-item", onclick: () => goTo(i), "aria-label": `hop ${hop.step}: ${hop.device} ${hop.stage} ${hop.verdict}` },
        h("span", { class: "hop-n" }, hop.step),
        h("span", { class: "hop-dir", "aria-hidden": "true" }, hop.direction === "reply" ? "↩" : "↪"),
        ` ${hop.device} · ${STAGE_TITLE[hop.stage] || hop.stage} `,
        verdictBadge(hop.verdict))));
  });
  renderOutcome();
  goTo(0, true);
}

function renderOutcome() {
  const t = state.trace;
  const box = $("outcome");
  box.dataset.kind = t.outcome.kind;
  box.dataset.step = String(t.hops.length);
  box.replaceChildren(
    h("h2", {}, "Outcome ", outcomeBadge(t.outcome.kind)),
    h("p", {}, t.outcome.text),
    h("p", {}, h("strong", {}, "The client sees: "), t.outcome.client_sees),
  );
  const base = state.variant && state.baseline.get(journeyKey(state.query));
  if (base && base.outcome.kind !== t.outcome.kind) {
    box.append(h("p", { class: "changed" }, h("strong", {}, `⚠ Changed by ${state.variant}: `), `as written this journey ends `, outcomeBadge(base.outcome.kind), ` (${base.outcome.text}).`));
  } else if (base) {
    box.append(h("p", { class: "muted" }, `Same outcome as without ${state.variant}.`));
  }
  if (t.outcome.kind === "reached") {
    box.append(h("h3", {}, "What the service can believe"), claimList(t.summary.believes, "✔"));
    box.append(h("h3", {}, "What it must take on trust"), claimList(t.summary.trusts, "⚖"));
  }
}

function factWords(fact) {
  const w = state.words && state.words.facts[fact];
  return w ? w[state.layer - 1] : null;
}

function stageWords(stage) {
  const w = state.words && state.words.stages[stage];
  return w ? w[state.layer - 1] : null;
}

// A claim: at layers 1 and 2 the kind of fact in that layer's words; from
// layer 3 on, also the engine's own sentence about this journey.
function claimList(claims, icon) {
  if (!claims.length) return h("p", { class: "muted" }, "nothing");
  return h("ul", { class: "claims" }, claims.map((c) => {
    const words = factWords(c.fact);
    return h("li", {}, h("span", { "aria-hidden": "true" }, icon + " "), h("span", { class: "fact" }, c.fact.replace(/_/g, " ")),
      state.layer >= 3 ? [": ", c.text] : null,
      words ? h("div", { class: "words" }, words) : state.layer < 3 ? [": ", c.text] : null);
  }));
}

function packetText(p) {
  const port = (x) => (x === null || x === undefined ? "" : `:${x}`);
  const a = (x) => (x.includes(":") ? `[${x}]` : x);
  return `${p.proto} ${a(p.src)}${port(p.sport)} → ${a(p.dst)}${port(p.dport)} ttl ${p.ttl}`;
}

// The packet in a school student's words: an envelope with two addresses.
function envelopeText(p) {
  const door = (x) => (x === null || x === undefined ? "" : `, door ${x}`);
  return `from ${p.src}${door(p.sport)} to ${p.dst}${door(p.dport)} (${p.proto})`;
}

// The declaration that decided a hop, and where it is written, in the words
// of the layer: every layer shows the rule and its line.
function ruleBlock(hop, file, L) {
  const r = hop.rule;
  if (!r) {
    return h("div", { class: "rule none" }, h("h3", {}, L === 1 ? "Who decided" : "Decided by"),
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

function renderHopCard() {
  const t = state.trace;
  const hop = t.hops[state.step];
  const card = $("hop-card");
  const L = state.layer;
  const parts = [
    h("h2", {}, h("span", { class: "hop-n" }, `${hop.step}/${t.hops.length}`), " ", STAGE_TITLE[hop.stage] || hop.stage, " at ", h("strong", {}, hop.device), " ", verdictBadge(hop.verdict)),
    stageWords(hop.stage) ? h("p", { class: "stage-words" }, h("span", { class: "layer-tag" }, layerName(L)), " ", stageWords(hop.stage)) : null,
    h("p", { class: "detail" }, hop.detail),
  ];
  if (L === 1) {
    parts.push(h("p", { class: "envelope" }, h("strong", {}, hop.direction === "reply" ? "↩ The answer's envelope here: " : "↪ The envelope here: "),
      h("span", { class: "packet-text" }, envelopeText(hop.packet))));
  } else {
    parts.push(h("dl", { class: "facts" },
      h("dt", {}, "direction"), h("dd", {}, hop.direction === "reply" ? "↩ reply" : "↪ request"),
      h("dt", {}, "stage"), h("dd", {}, h("code", {}, hop.stage)),
      hop.interface ? [h("dt", {}, "interface"), h("dd", {}, hop.interface)] : null,
      h("dt", {}, "packet here"), h("dd", {}, h("code", { class: "packet-text" }, packetText(hop.packet)))));
  }
  parts.push(ruleBlock(hop, t.file, L));
  if (L >= 3 && hop.state) parts.push(h("p", {}, h("strong", {}, "State: "), hop.state));
  parts.push(h("h3", {}, "Proves"), claimList(hop.proves, "✔"));
  parts.push(h("h3", {}, "Takes on trust"), claimList(hop.trusts, "⚖"));
  if (L >= 2 || hop.hides.length) parts.push(h("h3", {}, "Hides from everyone after it"), claimList(hop.hides, "◐"));
  parts.push(h("p", { class: "muted layer-note" }, `Told for layer ${L}, ${layerName(L)}` + (L < 3 ? "; layer 3 adds the engine's own sentence for each claim and the connection-tracking state." : ".")));
  card.replaceChildren(...parts);
  card.dataset.step = hop.step;
  card.dataset.layer = String(L);
}

function goTo(i, instant = false) {
  const t = state.trace;
  if (!t) return;
  i = Math.max(0, Math.min(t.hops.length - 1, i));
  const prev = state.step;
  state.step = i;
  renderHopCard();
  for (const li of $("hop-list").children) {
    const on = Number(li.dataset.step) === t.hops[i].step;
    li.classList.toggle("current", on);
    li.firstChild.setAttribute("aria-current", on ? "step" : "false");
    li.classList.toggle("done", Number(li.dataset.step) < t.hops[i].step);
  }
  $("position").textContent = `hop ${i + 1} of ${t.hops.length}`;
  $("back").disabled = i === 0;
  $("first").disabled = i === 0;
  $("step").disabled = i === t.hops.length - 1;
  $("last").disabled = i === t.hops.length - 1;
  movePacket(prev, i, instant);
  highlightPath();
  const cur = $("hop-list").children[i];
  if (cur && !instant) cur.scrollIntoView({ block: "nearest" });
}

function movePacket(from, to, instant) {
  const t = state.trace;
  const pk = $("packet");
  if (!pk) return;
  const hop = t.hops[to];
  const p = devicePos(hop.device);
  if (!p) { pk.style.opacity = 0; return; }
  const speed = Number($("speed").value) || 1;
  pk.style.transition = instant ? "none" : `transform ${Math.round(500 / speed)}ms ease-in-out`;
  const off = hop.direction === "reply" ? 10 : -10;
  pk.style.transform = `translate(${p.x + off}px, ${p.y - 22}px)`;
  pk.style.opacity = 1;
  const bad = ["drop", "reject", "refuse"].includes(hop.verdict);
  pk.classList.toggle("bad", bad);
  pk.querySelector("text").textContent = bad ? "✖" : hop.direction === "reply" ? "↩" : "✉";
}

function highlightPath() {
  const svg = $("topology");
  for (const n of svg.querySelectorAll(".node")) n.classList.remove("on-path", "current", "stop");
  const g = $("journey-path");
  if (!g) return;
  g.replaceChildren();
  const t = state.trace;
  if (!t) return;
  const seen = [];
  t.hops.forEach((hop, i) => {
    const node = svg.querySelector(`.node[data-host="${CSS.escape(hop.device)}"]`);
    if (node) node.classList.add("on-path");
    if (i > 0) {
      const a = devicePos(t.hops[i - 1].device), b = devicePos(hop.device);
      // The packet crosses a wire only after a link hop; other changes of
      // device (the TLS hop recorded after the reply) are not a wire.
      if (a && b && t.hops[i - 1].device !== hop.device && t.hops[i - 1].stage === "link") {
        const key = `${t.hops[i - 1].device}>${hop.device}`;
        if (!seen.includes(key)) {
          seen.push(key);
          g.append(s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "path-seg" + (hop.direction === "reply" ? " reply" : "") + (i <= state.step ? " walked" : "") }));
        }
      }
    }
  });
  const cur = t.hops[state.step];
  const node = svg.querySelector(`.node[data-host="${CSS.escape(cur.device)}"]`);
  if (node) node.classList.add("current");
  const last = t.hops[t.hops.length - 1];
  const end = svg.querySelector(`.node[data-host="${CSS.escape(last.device)}"]`);
  if (end && t.outcome.kind !== "reached") end.classList.add("stop");
}

function play() {
  if (!state.trace) return;
  if (state.step >= state.trace.hops.length - 1) goTo(0, true);
  state.playing = true;
  $("play").textContent = "⏸ Pause";
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
    if (!state.playing || !state.trace) return;
    if (state.step >= state.trace.hops.length - 1) { stop(); return; }
    goTo(state.step + 1);
    tick();
  }, interval);
}

function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $("play").textContent = "▶ Play";
  $("play").setAttribute("aria-label", "Play");
  $("player").dataset.playing = "false";
}

// ---------- expectations under a variant ----------

async function refreshExpectations() {
  const token = ++state.expectToken;
  const scn = state.scn;
  $("expectations").dataset.busy = "true";
  $("variant-col").textContent = state.variant ? `under ${state.variant}` : "variant";
  $("expect-variant").textContent = state.variant ? `— as written vs ${state.variant}` : "— toggle a variant to compare";
  const failed = (r) => ({ outcome: { kind: "error", text: (r.json && r.json.error) || r.text }, query: {}, hops: [] });
  // Every journey is traced at once (as written, and under the variant); the
  // rows keep the order of the expectations.
  const variant = state.variant;
  const traced = await Promise.all(scn.expectations.map((e) => Promise.all(e.journeys.map(async (j) => {
    const key = journeyKey(j);
    const [b, u] = await Promise.all([
      state.baseline.has(key) ? null : traceOnce(j, null),
      variant ? traceOnce(j, variant) : null,
    ]);
    if (b) state.baseline.set(key, b.ok ? b.json : failed(b));
    return { base: state.baseline.get(key), under: u ? (u.ok ? u.json : failed(u)) : null };
  }))));
  if (token !== state.expectToken) return;
  // Kept so that a layer switch retells the rows without tracing again.
  state.expect = { scn, variant, traced };
  renderExpectations();
  $("expectations").dataset.variant = variant || "";
  $("expectations").dataset.ready = String(token);
  delete $("expectations").dataset.busy;
  markOnce("pathproof-expectations");
}

// How a journey ends, in a school student's words.
const OUTCOME_PLAIN = {
  reached: "gets through", dropped: "is stopped, and nobody answers", rejected: "is turned away at once",
  refused: "finds nobody behind the door", no_route: "finds no road to go on", unresolved: "finds no address for the name",
  tls_failed: "cannot make sure who answers (the seal does not check out)", proxy_denied: "is turned away by the go-between",
  ttl_exceeded: "goes round until it runs out of time", reply_lost: "arrives, but the answer never comes back", error: "cannot be traced",
};

// The hop that decided a traced journey, as the engineer reads it: where,
// which stage, and the declaration with its line; for a journey that gets
// through, the filter rules that let it.
function deciderLine(t) {
  if (t.outcome.kind === "reached") {
    const allowed = (t.hops || []).filter((x) => x.direction !== "reply" && x.verdict === "allow" && x.rule);
    return `reaches ${t.outcome.at || "the service"}, let through by ` +
      (allowed.length ? allowed.map((x) => `${x.rule.text} (${x.device}, ${t.file} line ${x.rule.line})`).join("; ") : "no filter rule on the way");
  }
  const hop = t.outcome.step ? (t.hops || []).find((x) => x.step === t.outcome.step) : null;
  if (!hop) return `${t.outcome.kind}: ${t.outcome.text}`;
  const r = hop.rule;
  return `${t.outcome.kind.replace(/_/g, " ")} at ${hop.device} step ${hop.step} (${hop.stage})` +
    (r ? ` by ${r.text} — ${t.file} line ${r.line}` : `, no declaration: the stage's own behaviour`);
}

// `pathproof trace` for a trace question, as an engineer would type it.
function traceCommand(q, variant) {
  const parts = ["pathproof trace", `--from ${q.from}`, `--to ${q.to}`];
  if (q.proto && q.proto !== "tcp") parts.push(`--proto ${q.proto}`);
  if (q.port) parts.push(`--port ${q.port}`);
  if (q.sport) parts.push(`--sport ${q.sport}`);
  if (q.via) parts.push(`--via ${q.via}`);
  if (q.ipv6) parts.push("-6");
  if (q.established) parts.push("--established");
  if (variant) parts.push(`--variant ${variant}`);
  return parts.join(" ");
}

// What an expected journey means, and how it ends, in the words of the layer.
function expectationWords(e, j, base, under, variant) {
  const L = state.layer;
  const to = j.to, from = j.from;
  const ends = (t) => t.outcome.kind === "error" ? t.outcome.text : null;
  if (L === 1) {
    const ask = {
      allow: `${from} should get through to ${to}`,
      deny: `${from} should never get through to ${to}`,
      only: `only the senders on the list may get through to ${to}; this row follows ${from}`,
      authenticated: `${from} → ${to} must come in a sealed envelope that proves who is talking`,
    }[e.kind] || e.text;
    const plain = (t) => OUTCOME_PLAIN[t.outcome.kind] || t.outcome.kind;
    return `The rule of the scenario: ${ask}. As written, the packet ${plain(base)}${under ? `; with ${variant} it ${plain(under)}` : ""}.`;
  }
  if (L === 2) {
    const dest = (under || base).query && (under || base).query.destination_address;
    const conn = `a ${j.proto || "tcp"} ${j.proto === "icmp" ? "echo request" : "connection"} from ${from} to ${to}${dest ? ` (${dest})` : ""}`;
    const ask = {
      allow: `${conn} must complete`,
      deny: `${conn} must not complete`,
      only: `only the listed sources may reach ${to}; this row traces ${conn}`,
      authenticated: `${conn} must be authenticated, not just delivered`,
    }[e.kind] || e.text;
    return `Packets: ${ask}. As written: ${base.outcome.text}${under ? `. Under ${variant}: ${under.outcome.text}` : ""}.`;
  }
  if (L === 3) {
    const decided = (t) => ends(t) || deciderLine(t);
    return `As written: ${decided(base)}${under ? `; under ${variant}: ${decided(under)}` : ""}. \`pathproof check\` tests this line; reproduce with \`${traceCommand(j, variant)}\`.`;
  }
  const net = state.scn && state.scn.networks.some((n) => n.name === from);
  const claim = {
    allow: `${from} is meant to reach ${to}: a hardening that cuts it is an outage, so this line stands beside the deny lines`,
    deny: `${from} must hold no way into ${to}: ${net ? `anyone on ${from} could use it` : `if it ever gets one, so does whoever controls ${from}`}`,
    only: `${to} trusts only the sources named in the line; any other source that reaches it is outside the boundary`,
    authenticated: `${to} must not take ${from}'s address as its identity: the proof has to come from the handshake`,
  }[e.kind] || e.text;
  const connects = (t) => (t.outcome.kind === "reached" ? "connects" : "does not connect");
  return `Trust boundary: ${claim}. Checked on every change (\`pathproof check\` in CI), the line is evidence, not a diagram` +
    (under ? `; this journey ${connects(base)} as written and ${connects(under)} under ${variant}.` : ".");
}

function renderExpectations() {
  const x = state.expect;
  const rows = $("expect-rows");
  if (!x || x.scn !== state.scn) return;
  const { scn, variant, traced } = x;
  const out = [];
  scn.expectations.forEach((e, ei) => {
    if (!e.journeys.length) {
      out.push(h("tr", {}, h("td", {}, e.text), h("td", { colspan: 4, class: "muted" }, "about whole networks (use check)")));
      return;
    }
    e.journeys.forEach((j, ji) => {
      const { base, under } = traced[ei][ji];
      const reachedBase = base.outcome.kind === "reached";
      const reachedUnder = under && under.outcome.kind === "reached";
      let change = h("span", { class: "muted" }, "—");
      let cls = "";
      if (under && reachedUnder && !reachedBase) { change = h("span", { class: "badge v-bad appear" }, "+ appears"); cls = "appears"; }
      else if (under && !reachedUnder && reachedBase) { change = h("span", { class: "badge v-rewrite" }, "− disappears"); cls = "disappears"; }
      else if (under && under.outcome.kind !== base.outcome.kind) { change = h("span", { class: "badge v-rewrite" }, "≠ ends differently"); cls = "differs"; }
      else if (under) change = h("span", { class: "muted" }, "= same");
      const dest = (under || base).query.destination_address;
      out.push(h("tr", { class: cls, "data-journey": `${j.from} -> ${j.to}` },
        h("td", {}, h("code", {}, e.text)),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => loadJourney(j) }, `${j.from} → ${j.to}`), dest ? h("span", { class: "muted" }, ` (${dest})`) : null,
          h("div", { class: "row-words", "data-layer": String(state.layer) }, renderInline(expectationWords(e, j, base, under, variant)))),
        h("td", { title: base.outcome.text }, base.outcome.kind === "error" ? base.outcome.text : outcomeBadge(base.outcome.kind)),
        h("td", { title: under ? under.outcome.text : "" }, under ? (under.outcome.kind === "error" ? under.outcome.text : outcomeBadge(under.outcome.kind)) : h("span", { class: "muted" }, "—")),
        h("td", {}, change)));
    });
  });
  rows.replaceChildren(...out);
  if (!out.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "This scenario has no expect: journeys.")));
  rows.dataset.layer = String(state.layer);
}

function loadJourney(j) {
  fillQuestion(j);
  runTrace();
  $("journey").focus();
}

// ---------- YAML editor ----------

function renderGutter(problemLines) {
  const n = $("yaml").value.split("\n").length;
  const bad = new Set(problemLines);
  const g = $("gutter");
  g.replaceChildren();
  for (let i = 1; i <= n; i++) {
    g.append(h("span", { class: bad.has(i) ? "bad-line" : "", "data-line": i }, bad.has(i) ? `⚠${i}` : String(i)), "\n");
  }
}

function openEditor(open) {
  $("editor").hidden = !open;
  $("edit-btn").setAttribute("aria-expanded", String(open));
  if (open) renderGutter([...$("problems").querySelectorAll("li")].map((li) => Number(li.dataset.line)));
}

function showLine(line, column = 1) {
  openEditor(true);
  const ta = $("yaml");
  const lines = ta.value.split("\n");
  let start = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const len = (lines[line - 1] || "").length;
  ta.focus();
  ta.setSelectionRange(start + Math.max(0, column - 1), start + len);
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (line - 4) * lh);
}

async function loadYaml(text, file) {
  const r = await api("POST", `/api/scenario?file=${encodeURIComponent(file || "scenario.yaml")}`, text, "text/yaml");
  if (r.ok) {
    setScenario(r.json);
    $("example-select").value = "";
    status(`Loaded ${r.json.name} from ${r.json.file}.`);
    return true;
  }
  const j = r.json || { error: r.text, problems: [] };
  $("yaml").value = text;
  $("editor-file").textContent = file || "scenario.yaml";
  const list = $("problems");
  list.replaceChildren();
  for (const p of j.problems || []) {
    list.append(h("li", { "data-line": p.line, class: "problem" },
      h("button", { type: "button", class: "link", onclick: () => showLine(p.line, p.column) }, `line ${p.line}, column ${p.column}`),
      ": ", h("strong", {}, p.message),
      p.label ? h("span", { class: "label" }, ` (${p.label})`) : null,
      p.help ? h("div", { class: "help" }, `help: ${p.help}`) : null));
  }
  if (!(j.problems || []).length) list.append(h("li", { class: "problem" }, j.error || r.text));
  openEditor(true);
  renderGutter((j.problems || []).map((p) => p.line));
  status(`${j.error || "The scenario does not load"}; the scenario in use is unchanged.`);
  return false;
}

// ---------- export ----------

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function traceFileName(ext) {
  const q = state.query;
  const clean = (x) => x.replace(/[^A-Za-z0-9._-]+/g, "_");
  return `trace-${clean(q.from)}-${clean(q.to)}${state.variant ? "-" + state.variant : ""}.${ext}`;
}

// ---------- layers ----------

function setLayer(n) {
  state.layer = n;
  for (const r of document.querySelectorAll('input[name="layer"]')) r.checked = Number(r.value) === n;
  document.body.dataset.layer = n;
  try { localStorage.setItem("pathproof.layer", String(n)); } catch { /* private mode */ }
  // Every view that has words of its own for a layer is told again (nothing is traced again).
  if (state.trace) { renderHopCard(); renderOutcome(); }
  renderViewWords();
  if (state.matrixCell && state.scn) renderCellDetail(state.matrixCell.r, state.matrixCell.c);
  if (state.scn) { renderAttacker(); renderChanges(); }
  renderExpectations();
  renderLesson();
}

// The one-line explanation at the top of each view, in the words of the layer.
const VIEW_BOX = { matrix: "matrix-words", changes: "changes-words", attacker: "attacker-words", expectations: "expect-words" };

function viewWords(v) {
  const w = state.words && state.words.views && state.words.views[v];
  return w ? w[state.layer - 1] : null;
}

function renderViewWords() {
  for (const [v, id] of Object.entries(VIEW_BOX)) {
    const box = $(id);
    const w = viewWords(v);
    box.hidden = !w;
    box.dataset.layer = String(state.layer);
    if (w) box.replaceChildren(h("span", { class: "layer-tag" }, layerName(state.layer)), " ", renderInline(w));
  }
}

// ---------- lessons ----------

function renderLessons() {
  const box = $("lesson-list");
  box.replaceChildren();
  for (const l of state.lessons) {
    const layer = l.layers.find((x) => x.level === state.layer);
    box.append(h("li", {}, h("button", { type: "button", class: "link", "data-lesson": l.id, title: layer ? layer.takeaway : l.summary, onclick: () => openLesson(l.id) }, l.title)));
  }
  $("lessons").hidden = !state.lessons.length;
}

async function openLesson(id) {
  const r = await api("GET", `/api/lessons/${encodeURIComponent(id)}`);
  if (!r.ok) { status((r.json && r.json.error) || r.text); return; }
  const lesson = r.json;
  const loaded = await useLessonScenario(lesson);
  if (loaded === null) return;
  state.lesson = lesson;
  renderLesson();
  status(`Lesson: ${lesson.title}`);
}

// Whether the scenario in use is the lesson's own: the same file, and the
// same text (an edited copy under the same name is not).
function onLessonScenario(lesson) {
  return !!state.scn && state.scn.file === lesson.scenario_file &&
    (lesson.scenario_source == null || state.scn.source === lesson.scenario_source);
}

// Makes the lesson's scenario the one in use, unless it already is: true if
// it was loaded, false if it was there, null (with the error said) if it
// could not be loaded.
async function useLessonScenario(lesson) {
  if (onLessonScenario(lesson)) return false;
  const e = await api("POST", `/api/lessons/${encodeURIComponent(lesson.id)}/scenario`);
  if (!e.ok) { status(apiError(e)); return null; }
  setScenario(e.json);
  $("example-select").value = lesson.builtin_scenario ? lesson.scenario : "";
  return true;
}

function renderLesson() {
  renderLessons();
  const box = $("lesson");
  const l = state.lesson;
  box.hidden = !l;
  if (!l) return;
  const layer = l.layers.find((x) => x.level === state.layer) || l.layers[0];
  const section = (title, text) => (text ? [h("dt", {}, title), h("dd", {}, renderInline(text))] : null);
  // A lesson is about its own scenario: when another one is in use, say so;
  // its questions load the lesson's scenario again before they run.
  const own = onLessonScenario(l);
  box.dataset.ownScenario = String(own);
  const elsewhere = own ? null : h("p", { class: "lesson-scenario changed" },
    h("strong", {}, "⚠ Another scenario is in use. "),
    `This lesson is about ${l.scenario_file}; the page now shows ${state.scn ? state.scn.file : "another scenario"}${state.scn && state.scn.file === l.scenario_file ? " as edited" : ""}. Its questions run on ${l.scenario_file}, and load it again when you see one. `,
    h("button", { type: "button", class: "link", onclick: async () => { if (await useLessonScenario(l)) status(`Loaded ${l.scenario_file}, the scenario of ${l.title}.`); } }, `Load ${l.scenario_file} now`));
  fill(box,
    h("h2", {}, l.title, " ", h("span", { class: "layer-tag" }, layer.name)),
    elsewhere,
    h("p", { class: "takeaway" }, h("strong", {}, "Takeaway: "), renderInline(layer.takeaway)),
    h("div", { class: "lesson-body" }, renderMarkdown(layer.body)),
    h("dl", { class: "lesson-facets" },
      section("Mental model", layer.mental_model),
      section("The attacker's goal", layer.attacker_goal),
      section("The trust question", layer.trust_question),
      section("How it fails", layer.failure_mode)),
    layer.misconceptions && layer.misconceptions.length ? [h("h3", {}, "Common misconceptions"), h("ul", { class: "misconceptions" }, layer.misconceptions.map((m) => h("li", {}, renderInline(m))))] : null,
    layer.predict.length ? [h("h3", {}, "Predict, then see"), h("p", { class: "muted" }, "Choose what you expect, then run it: the engine traces the journey live.")] : null,
    h("ol", { class: "predictions" }, layer.predict.map((p, i) => predictionItem(l, layer, p, i))),
    layer.hands_on && layer.hands_on.length ? [h("h3", {}, "Hands on"), h("ol", { class: "hands-on" }, layer.hands_on.map((x) => h("li", {}, renderInline(x))))] : null,
    h("button", { type: "button", onclick: () => { state.lesson = null; renderLesson(); } }, "Close lesson"),
  );
}

// What each outcome means, as a prediction a learner can choose.
const OUTCOME_CHOICE = {
  reached: "it gets through",
  dropped: "it is dropped: no answer, the client waits",
  refused: "it is refused: nothing listens there",
  rejected: "a rule rejects it: an error at once",
  no_route: "it cannot be sent: there is no route",
  unresolved: "the name does not resolve",
  tls_failed: "the TLS handshake fails",
  proxy_denied: "the proxy refuses it",
  ttl_exceeded: "its time to live runs out",
  reply_lost: "the request arrives, but the reply never comes back",
};

// The answers the lesson's data implies: every outcome its questions use,
// and always "reached" and at least one way of not getting through.
function predictionChoices(lesson) {
  const used = new Set(["reached"]);
  for (const l of lesson.layers) for (const p of l.predict) used.add(p.answer);
  if (used.size === 1) used.add("dropped");
  const order = (state.words && state.words.outcomes) || Object.keys(OUTCOME_CHOICE);
  return order.filter((k) => used.has(k));
}

const predictionKey = (lesson, layer, i) => `${lesson.id}|${layer.level}|${i}`;

function predictionItem(lesson, layer, p, i) {
  const key = predictionKey(lesson, layer, i);
  const saved = state.predictions.get(key) || {};
  const reveal = h("div", { class: "reveal", "aria-live": "polite" });
  const li = h("li", { class: "prediction", "data-index": i, "data-level": layer.level, "data-verdict": saved.result ? verdictOf(saved.choice, saved.result.kind) : "" });
  const choose = (k) => {
    state.predictions.set(key, { choice: k });
    li.dataset.verdict = "";
    reveal.replaceChildren();
    delete reveal.dataset.verdict;
  };
  const name = `predict-${lesson.id}-${layer.level}-${i}`;
  li.append(
    h("p", { class: "question" }, renderInline(p.question), p.variant ? h("span", { class: "muted" }, ` (with ${p.variant})`) : null),
    h("fieldset", { class: "choices" }, h("legend", {}, "Your prediction"),
      predictionChoices(lesson).map((k) => h("label", {},
        h("input", { type: "radio", name, value: k, checked: saved.choice === k, onchange: () => choose(k) }),
        " ", h("span", { class: "choice-word" }, (OUTCOME_WORD[k] || k) + ": "), OUTCOME_CHOICE[k] || k))),
    h("button", { type: "button", class: "see", onclick: () => seePrediction(lesson, layer, p, i, li, reveal) },
      `See: run ${p.established ? "a packet of an earlier connection " : ""}${p.from} → ${p.to}${p.sport ? ` from port ${p.sport}` : ""}${p.via ? ` via ${p.via}` : ""}${p.variant ? ` with ${p.variant}` : ""}`),
    reveal);
  if (saved.result) fillReveal(reveal, saved, p, li);
  return li;
}

function verdictOf(choice, kind) {
  if (choice === kind) return "right";
  return choice !== "reached" && kind !== "reached" ? "partly" : "wrong";
}

function fillReveal(reveal, entry, p, li) {
  const { choice, result } = entry;
  const v = verdictOf(choice, result.kind);
  const lessonAgrees = p.answer === result.kind && (!p.at || p.at === result.at);
  li.dataset.verdict = v;
  reveal.dataset.verdict = v;
  fill(reveal,
    h("p", { class: `verdict ${v}` },
      v === "right" ? "✔ You were right." : v === "partly" ? "≈ Half right: it does not get through, but it ends another way than you said." : "✖ Not this time."),
    h("dl", { class: "compare" },
      h("dt", {}, "You predicted"), h("dd", { "data-what": "choice" }, outcomeBadge(choice)),
      h("dt", {}, "The lesson's answer"), h("dd", { "data-what": "lesson" }, outcomeBadge(p.answer), p.at ? ` at ${p.at}` : ""),
      h("dt", {}, "The engine, live"), h("dd", { "data-what": "engine" }, outcomeBadge(result.kind), result.at ? ` at ${result.at}` : "", ` — ${result.text}`)),
    lessonAgrees ? null : h("p", { class: "error" }, "The lesson and the engine disagree: the trace shows what the network does."),
    h("p", { class: "explain" }, renderInline(p.explain)),
    h("p", { class: "muted" }, "The journey is in the player below: step through it to see where, and which rule decided."));
}

async function seePrediction(lesson, layer, p, i, li, reveal) {
  const key = predictionKey(lesson, layer, i);
  const saved = state.predictions.get(key) || {};
  if (!saved.choice) {
    reveal.replaceChildren(h("p", { class: "error" }, "Choose what you expect first, then see."));
    reveal.dataset.verdict = "none";
    const first = li.querySelector('input[type="radio"]');
    if (first) first.focus();
    return;
  }
  // The question is about the lesson's scenario: trace it there, whatever
  // was loaded since the lesson was opened.
  const reloaded = await useLessonScenario(lesson);
  if (reloaded === null) {
    reveal.replaceChildren(h("p", { class: "error" }, `The lesson's scenario ${lesson.scenario_file} could not be loaded: ${$("status").textContent}`));
    return;
  }
  if ((p.variant || null) !== state.variant) {
    state.variant = p.variant || null;
    renderVariants();
    refreshExpectations();
    refreshAnalysis();
  }
  const q = { from: p.from, to: p.to, proto: p.proto };
  if (p.via) q.via = p.via;
  if (p.ipv6) q.ipv6 = true;
  if (p.sport) q.sport = p.sport;
  if (p.established) q.established = true;
  fillQuestion(q);
  const t = await runTrace(q);
  // Loading the scenario again drew the lesson anew: find this question there.
  const here = li.isConnected ? { li, reveal } : currentPrediction(layer, i);
  if (!t) {
    if (here) here.reveal.replaceChildren(h("p", { class: "error" }, `The engine could not trace it: ${$("trace-error").textContent}`));
    return;
  }
  const entry = { choice: saved.choice, result: { kind: t.outcome.kind, at: t.outcome.at, text: t.outcome.text } };
  state.predictions.set(key, entry);
  if (here) fillReveal(here.reveal, entry, p, here.li);
  status(`${reloaded ? `Loaded ${lesson.scenario_file} again, the lesson's scenario. ` : ""}You predicted ${saved.choice}; the engine says ${t.outcome.kind}.`);
}

// The question `i` of `layer` as the open lesson shows it now, if it does.
function currentPrediction(layer, i) {
  const li = document.querySelector(`#lesson li.prediction[data-level="${layer.level}"][data-index="${i}"]`);
  return li ? { li, reveal: li.querySelector(".reveal") } : null;
}

// ---------- every journey: the matrix, the changes of a variant, the attacker ----------

function apiError(r) {
  const j = r.json || {};
  return (j.error || r.text || `HTTP ${r.status}`) + (j.help ? ` — ${j.help}` : "");
}

const cellKey = (source, host) => `${source}\u0000${host}`;

// `tcp/22 ssh` → `tcp 22`: the port of a socket as the matrix writes it.
function socketPort(text) {
  const m = /^(tcp|udp)\/(\d+)/.exec(text || "");
  return m ? `${m[1]} ${m[2]}` : text;
}

// The sockets of journey changes as the matrix writes ports: `tcp 8080, 9100`.
function portsOf(changes) {
  const by = new Map();
  for (const g of changes) {
    const [proto, port] = socketPort(g.socket).split(" ");
    if (!by.has(proto)) by.set(proto, new Set());
    if (port) by.get(proto).add(Number(port));
  }
  return [...by].map(([proto, ports]) => `${proto} ${[...ports].sort((a, b) => a - b).join(", ")}`.trim()).join("; ");
}

function changeSummaries(indices) {
  const all = (state.diff && state.diff.changes) || [];
  return (indices || []).map((i) => all[i]).filter(Boolean);
}

async function refreshAnalysis() {
  const token = ++state.analysisToken;
  const v = state.variant;
  const box = $("analysis");
  box.dataset.busy = "true";
  const q = v ? `?variant=${encodeURIComponent(v)}` : "";
  const [base, under, diff] = await Promise.all([
    state.reachBase ? null : api("GET", "/api/reach"),
    v ? api("GET", `/api/reach${q}`) : null,
    v ? api("GET", `/api/diff${q}`) : null,
  ]);
  if (token !== state.analysisToken) return;
  const problems = [];
  if (base) {
    if (base.ok) state.reachBase = base.json;
    else problems.push(apiError(base));
  }
  state.reachUnder = under && under.ok ? under.json : null;
  if (under && !under.ok) problems.push(apiError(under));
  state.diff = diff && diff.ok ? diff.json : null;
  if (diff && !diff.ok) problems.push(apiError(diff));
  if (problems.length) status(problems.join("; "));
  renderMatrix();
  renderChanges();
  drawDiffOverlay();
  if (state.footFrom) await runFoothold(state.footFrom, token);
  if (token !== state.analysisToken) return;
  box.dataset.variant = v || "";
  box.dataset.ready = String(token);
  delete box.dataset.busy;
  markOnce("pathproof-matrix");
}

// A performance mark, the first time only: when the page first has its
// matrix (and its expected journeys) filled in.
function markOnce(name) {
  if (!performance.getEntriesByName(name).length) performance.mark(name);
}

// The journeys of the diff, by matrix cell.
function diffByCell() {
  const out = new Map();
  if (!state.diff) return out;
  for (const [kind, list] of [["gained", state.diff.gained], ["lost", state.diff.lost]]) {
    for (const c of list) {
      const k = cellKey(c.source, c.host);
      if (!out.has(k)) out.set(k, { gained: [], lost: [] });
      out.get(k)[kind].push(c);
    }
  }
  return out;
}

function hostKindLabel(name) {
  const host = state.scn.hosts.find((x) => x.name === name);
  return host ? ({ host: "", router: "⟲ router", firewall: "▦ firewall" }[host.kind] || "") : "";
}

function renderMatrix() {
  const m = state.reachUnder || state.reachBase;
  const table = $("matrix");
  table.replaceChildren();
  $("matrix-detail").replaceChildren();
  state.matrixCell = null;
  if (!m) { $("matrix-caption").textContent = "The matrix is being computed…"; return; }
  const cells = new Map(m.cells.map((c) => [cellKey(c.source, c.host), c]));
  const changes = diffByCell();
  const v = state.variant;
  const gainedN = state.diff ? state.diff.gained.length : 0, lostN = state.diff ? state.diff.lost.length : 0;
  $("matrix-caption").textContent =
    `${m.sources.length} sources × ${m.targets.length} hosts with a listening socket: ${m.cells.length} pairs connect` +
    (v ? ` under ${v}` : " as written") + ". A cell lists the sockets reached, as ports per protocol; · means no journey." +
    (v && state.diff ? ` + marks journeys that appear under ${v} (${gainedN}), − those that disappear (${lostN}).` : "");
  // Column groups: runs of hosts on the same network.
  const groups = [];
  for (const t of m.targets) {
    const last = groups[groups.length - 1];
    if (last && last.name === t.group) last.n++;
    else groups.push({ name: t.group, n: 1 });
  }
  const head1 = h("tr", {}, h("th", { rowspan: 2, scope: "col", class: "corner" }, h("span", {}, "from ↓"), h("span", {}, "to →")),
    groups.map((g) => h("th", { colspan: g.n, scope: "colgroup", class: "col-group" }, g.name || "(no network)")));
  const head2 = h("tr", {}, m.targets.map((t) => h("th", { scope: "col", class: "col-host" + (t.sensitive ? " sensitive" : ""), "data-host": t.host },
    h("span", { class: "host" }, (t.sensitive ? "★ " : "") + t.host),
    h("span", { class: "socks" }, t.sockets.map((x) => socketPort(x.text)).join(" · ")))));
  table.append(h("thead", {}, head1, head2));
  const ncols = m.targets.length;
  let body = null, group;
  m.sources.forEach((src, r) => {
    if (!body || src.group !== group) {
      group = src.group;
      body = h("tbody", {}, h("tr", { class: "row-group" }, h("th", { colspan: ncols + 1, scope: "rowgroup" }, `from ${group || "no network"}`)));
      table.append(body);
    }
    const label = src.kind === "network" ? `anyone else on ${src.name}` : hostKindLabel(src.name);
    const row = h("tr", { "data-source": src.name }, h("th", { scope: "row", class: "row-head" }, src.name, label ? h("span", { class: "kind" }, label) : null));
    m.targets.forEach((t, c) => {
      const cell = cells.get(cellKey(src.name, t.host));
      const ch = changes.get(cellKey(src.name, t.host));
      const parts = [];
      let cls = "cell";
      if (cell) {
        cls += " allow";
        parts.push(h("span", { class: "sr" }, "allowed: "), h("span", { class: "mk", "aria-hidden": "true" }, "✔ "), cell.ports);
      } else {
        cls += " none";
        parts.push(h("span", { class: "sr" }, "no journey"), h("span", { class: "mk", "aria-hidden": "true" }, "·"));
      }
      if (ch && ch.gained.length) {
        cls += " gained";
        const part = ch.gained.some((g) => !g.whole) ? " (in part)" : "";
        parts.push(h("span", { class: "delta plus" }, `+ ${portsOf(ch.gained)}${part}`));
      }
      if (ch && ch.lost.length) {
        cls += " lost";
        const part = ch.lost.some((g) => !g.whole) ? " (in part)" : "";
        parts.push(h("span", { class: "delta minus" }, "− ", h("s", {}, portsOf(ch.lost)), part));
      }
      row.append(h("td", { class: cls, "data-r": r, "data-c": c, "data-host": t.host, tabindex: -1,
        onclick: () => { focusCell(r, c); activateCell(r, c); } }, parts));
    });
    body.append(row);
  });
  const pos = state.matrixPos;
  const start = table.querySelector(`td[data-r="${pos.r}"][data-c="${pos.c}"]`) || table.querySelector("td[data-r]");
  if (start) start.tabIndex = 0;
}

function focusCell(r, c) {
  const table = $("matrix");
  const td = table.querySelector(`td[data-r="${r}"][data-c="${c}"]`);
  if (!td) return;
  for (const x of table.querySelectorAll('td[tabindex="0"]')) x.tabIndex = -1;
  td.tabIndex = 0;
  td.focus();
  state.matrixPos = { r, c };
}

function matrixKeys(e) {
  const td = e.target.closest && e.target.closest("td[data-r]");
  if (!td) return;
  const m = state.reachUnder || state.reachBase;
  const r = Number(td.dataset.r), c = Number(td.dataset.c);
  const last = { r: m.sources.length - 1, c: m.targets.length - 1 };
  const moves = {
    ArrowRight: [r, Math.min(last.c, c + 1)], ArrowLeft: [r, Math.max(0, c - 1)],
    ArrowDown: [Math.min(last.r, r + 1), c], ArrowUp: [Math.max(0, r - 1), c],
    Home: [e.ctrlKey ? 0 : r, 0], End: [e.ctrlKey ? last.r : r, last.c],
    PageDown: [Math.min(last.r, r + 10), c], PageUp: [Math.max(0, r - 10), c],
  };
  if (moves[e.key]) {
    e.preventDefault();
    e.stopPropagation();
    focusCell(...moves[e.key]);
  } else if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    e.stopPropagation();
    activateCell(r, c);
  }
}

// `fromHost`: a host row, whose sources may cover its whole class of hosts: not shown.
function packetsLine(p, fromHost = false) {
  if (!p) return "";
  const list = (v, n = 4) => (v.length > n ? `${v.slice(0, n).join(", ")} … (${v.length} in all)` : v.join(", "));
  return `${p.protocols.join(",")}${fromHost ? "" : ` from ${list(p.sources)}`} to ${list(p.destinations)}${p.ports.length ? ` port ${list(p.ports, 6)}` : ""}`;
}

function exampleLine(e) {
  if (!e) return "";
  const a = (x) => (x.includes(":") ? `[${x}]` : x);
  return e.proto === "icmp" ? `icmp ${e.src} → ${e.dst}` : `${e.proto} ${a(e.src)}:${e.sport} → ${a(e.dst)}:${e.dport}`;
}

function lineButton(line, label) {
  return line ? h("button", { type: "button", class: "link", onclick: () => showLine(line) }, label || `line ${line}`) : null;
}

function responsibleList(indices) {
  const items = changeSummaries(indices);
  const body = items.length
    ? h("ul", { class: "responsible" }, items.map((c) => h("li", { "data-kind": c.kind },
      h("span", { "aria-hidden": "true" }, c.change === "added" ? "+ " : c.change === "removed" ? "− " : "≠ "),
      renderInline(c.summary.replace(/ \(line \d+\)$/, "")), " ", lineButton(c.line, `(line ${c.line})`))))
    : h("span", { class: "muted" }, "no single changed declaration is cited on the way; see what the variant changes above.");
  return h("div", { class: "resp" }, h("strong", {}, "Responsible: "), body);
}

// A journey as a trace body: fill the form and play it.
function traceBody(body) {
  const q = { from: body.from, to: body.to, proto: body.proto || "tcp" };
  if (body.sport) q.sport = body.sport;
  if (body.ipv6) q.ipv6 = true;
  fillQuestion(q);
  return runTrace(q);
}

function traceButton(body, label = "▶ Trace this journey") {
  return h("button", { type: "button", class: "trace-it", onclick: () => traceBody(body) }, label);
}

function activateCell(r, c) {
  return traceBody(renderCellDetail(r, c));
}

// The detail of a matrix cell; returns the journey that illustrates it.
function renderCellDetail(r, c) {
  const m = state.reachUnder || state.reachBase;
  const src = m.sources[r], t = m.targets[c];
  const cell = m.cells.find((x) => x.source === src.name && x.host === t.host);
  const ch = diffByCell().get(cellKey(src.name, t.host));
  const box = $("matrix-detail");
  const v = state.variant;
  const sw = stageWords(cell ? "socket" : "filter");
  const parts = [h("h3", {}, `${src.kind === "network" ? `anyone else on ${src.name}` : src.name} → ${t.host}`, " ",
    cell ? h("span", { class: "badge v-ok" }, "✔ ", cell.ports) : h("span", { class: "badge v-bad" }, "✖ no journey")),
  sw ? h("p", { class: "stage-words" }, h("span", { class: "layer-tag" }, layerName(state.layer)), " ", sw) : null];
  let first = null;
  if (cell) {
    for (const sk of cell.sockets) {
      parts.push(h("h4", {}, h("code", {}, sk.text)), h("p", {}, "Packets: ", packetsLine(sk.packets, src.kind === "host")));
      parts.push(h("ol", { class: "paths" }, sk.paths.map((p) => {
        first = first || p.trace;
        return h("li", {}, h("span", {}, p.devices.join(" → ")), " · ",
          h("span", { class: "muted" }, p.rules.length ? p.rules.join(", ") : "no filter on the way"),
          h("div", { class: "muted" }, `e.g. ${exampleLine(p.example)}`),
          p.trace ? traceButton(p.trace) : null);
      })));
    }
  }
  for (const [kind, sign, word] of [["gained", "+", "appears"], ["lost", "−", "disappears"]]) {
    for (const g of (ch && ch[kind]) || []) {
      parts.push(h("div", { class: `change ${kind}` },
        h("p", {}, h("strong", {}, `${sign} ${g.socket} ${word} under ${v}${g.whole ? "" : " (in part)"}`),
          `: as written ${g.as_written || "?"}, under ${v} ${g.under_variant || "?"}. Example ${exampleLine(g.example)}.`),
        responsibleList(g.responsible),
        traceButton(g.trace, `▶ Trace it under ${v}`)));
      if (!first && kind === "lost") first = g.trace;
    }
  }
  let body = first;
  if (!body) {
    const s = t.sockets[0];
    body = { from: src.name, to: `${t.host}:${s.port}`, proto: s.proto };
    parts.push(h("p", { class: "muted" }, `No packet from ${src.name} reaches a socket of ${t.host}${v ? ` under ${v}` : ""}. The trace to ${s.text} shows where it stops.`),
      traceButton(body, `▶ Trace ${src.name} → ${t.host}:${s.port}`));
  }
  parts.push(h("p", {}, h("a", { href: "#journey" }, "Go to the trace ↓")));
  box.replaceChildren(...parts.filter(Boolean));
  box.dataset.cell = `${src.name} -> ${t.host}`;
  box.dataset.layer = String(state.layer);
  state.matrixCell = { r, c };
  return body;
}

function renderChanges() {
  const box = $("changes");
  const v = state.variant;
  const d = state.diff;
  $("changes-count").textContent = d ? `(+${d.gained.length} −${d.lost.length})` : "";
  if (!v) {
    box.replaceChildren(
      h("p", {}, state.scn.variants.length ? "Toggle a variant to see the journeys it adds or removes, and the change in the YAML responsible for each:" : "This scenario has no variants."),
      h("div", { class: "variants" }, state.scn.variants.map((x) => h("button", { type: "button", onclick: () => setVariant(x.name) }, (x.name === "break" ? "⚡ " : x.name === "harden" ? "▲ " : "") + x.name))));
    box.dataset.variant = "";
    return;
  }
  if (!d) { box.replaceChildren(h("p", { class: "muted" }, `Comparing with ${v}…`)); return; }
  const L = state.layer;
  const info = state.scn.variants.find((x) => x.name === v);
  const journey = (g, kind) => h("li", { class: `change ${kind}`, "data-journey": `${g.source} -> ${g.host} ${g.socket}` },
    h("p", {}, h("strong", {}, `${kind === "gained" ? "+" : "−"} ${g.source} → ${g.host} `, h("code", {}, g.socket)), g.whole ? "" : " (in part)",
      L >= 2 ? h("span", { class: "muted" }, ` — ${packetsLine(g.packets)}`) : null),
    h("p", { class: "change-words", "data-layer": String(L) }, renderInline(journeyChangeWords(g, kind, v))),
    responsibleList(g.responsible),
    traceButton(g.trace, `▶ Trace it under ${v}`));
  const heads = {
    1: [`The lines of ${state.scn.file} that ${v} changes`, "New roads that open", "Roads that close"],
    2: [`What ${v} changes in ${state.scn.file}`, "Journeys that appear", "Journeys that disappear"],
    3: [`Declarations ${v} changes in ${state.scn.file}`, "Journeys that appear, and the rules that let them through", "Journeys that disappear, and what stops them now"],
    4: [`What ${v} changes in ${state.scn.file}: the decisions to review`, "Authority granted: journeys that appear", "Authority withdrawn: journeys that disappear"],
  }[L];
  const footer = {
    1: `Every other road stays as it was (${d.unchanged}).`,
    2: `${d.unchanged} journeys are the same; ${d.old.journeys} as written, ${d.new.journeys} under ${v}.`,
    3: `${d.unchanged} journeys are the same; ${d.old.journeys} as written, ${d.new.journeys} under ${v}. The same list on the command line: \`pathproof diff ${state.scn.file} --variant ${v}\`.`,
    4: `${d.unchanged} journeys are the same; ${d.old.journeys} as written, ${d.new.journeys} under ${v}. Every journey that appears is authority someone now holds: review it before the change ships, and pin what must never change with an \`expect:\` line.`,
  }[L];
  fill(box,
    h("h3", {}, `As written → ${v}`), info ? h("p", { class: "muted" }, info.why) : null,
    h("h4", {}, `${heads[0]} (${d.changes.length})`),
    d.changes.length ? h("ul", { class: "decl-changes" }, d.changes.map((c) => h("li", { "data-kind": c.kind },
      h("span", { "aria-hidden": "true" }, c.change === "added" ? "+ " : c.change === "removed" ? "− " : "≠ "), renderInline(c.summary.replace(/ \(line \d+\)$/, "")), " ", lineButton(c.line)))) : h("p", { class: "muted" }, "nothing"),
    h("h4", {}, `${heads[1]} (${d.gained.length})`),
    d.gained.length ? h("ul", { class: "journey-changes" }, d.gained.map((g) => journey(g, "gained"))) : h("p", { class: "muted" }, "none"),
    h("h4", {}, `${heads[2]} (${d.lost.length})`),
    d.lost.length ? h("ul", { class: "journey-changes" }, d.lost.map((g) => journey(g, "lost"))) : h("p", { class: "muted" }, "none"),
    h("p", { class: "muted" }, renderInline(footer)));
  box.dataset.variant = v;
  box.dataset.layer = String(L);
}

// An `expect:` line about one journey of a diff: `deny web -> metadata:80`.
function expectLine(verb, g) {
  const m = /^(tcp|udp|icmp)(?:\/(\d+))?/.exec(g.socket || "");
  const proto = m ? m[1] : "tcp";
  const port = m && m[2] ? `:${m[2]}` : "";
  return `${verb} ${proto === "tcp" ? "" : `${proto} `}${g.source} -> ${g.host}${port}`;
}

// A journey a variant adds (`gained`) or removes (`lost`), told for the layer.
function journeyChangeWords(g, kind, v) {
  const L = state.layer;
  const host = state.scn.hosts.find((x) => x.name === g.host);
  const star = host && host.sensitive;
  const who = g.source_kind === "network" ? `anyone else on ${g.source}` : g.source;
  const door = /^(?:tcp|udp)\/(\d+)/.exec(g.socket || "");
  const rules = g.rules.length ? g.rules.join(", ") : "no filter";
  if (L === 1) {
    const where = `${door ? `door ${door[1]} of ` : ""}${g.host}${star ? " (★ a house with something precious inside)" : ""}`;
    const plain = (k) => (k ? OUTCOME_PLAIN[k] || k : "?");
    return kind === "gained"
      ? `A new road opens: with ${v}, ${who} can get through to ${where}. As written, the packet ${plain(g.as_written)}.`
      : `A road closes: with ${v}, ${who} can no longer get through to ${where}; now the packet ${plain(g.under_variant)}.`;
  }
  if (L === 2) {
    return `As written: ${g.as_written || "?"}; under ${v}: ${g.under_variant || "?"}.` +
      (g.example ? ` Example packet: ${exampleLine(g.example)}.` : "") +
      (g.other_side ? ` ${kind === "gained" ? "Before" : "Now"} it stops at ${g.other_side.at || "?"} (${g.other_side.stage || g.other_side.outcome}).` : "");
  }
  if (L === 3) {
    return `As written: ${g.as_written || "?"}; under ${v}: ${g.under_variant || "?"}. ` +
      (g.other_side ? `${kind === "gained" ? "Before" : "Now"}: ${deciderText(g.other_side)}. ` : "") +
      (kind === "gained" ? `Let through by ${rules}.` : `Was let through by ${rules}.`) +
      (g.trace ? ` Check it: \`${traceCommand(g.trace, v)}\`.` : "");
  }
  const reach = `${g.socket} on ${g.host}${star ? " (★ sensitive)" : ""}`;
  const m = /^(tcp|udp)\/(\d+)/.exec(g.socket || "");
  const target = m ? `${m[1] === "tcp" ? "" : `${m[1]} `}${g.host}:${m[2]}` : g.host;
  // A line about a network covers its hosts too, which may rightly connect:
  // for anyone else on a network, only an `only` line says it without them.
  const pin = g.source_kind === "network"
    ? ` A \`deny ${g.source} -> …\` line would cover the hosts on ${g.source} as well; \`only … may reach ${target}\`, naming who should, pins this one.`
    : g.whole
    ? kind === "gained"
      ? ` If it is not meant, \`${expectLine("deny", g)}\` in \`expect:\` fails on it, here and in every later change.`
      : ` \`${expectLine("deny", g)}\` in \`expect:\` keeps it withdrawn (or \`${expectLine("allow", g)}\`, if something depended on it).`
    : " Only part of its packets changed, so an `expect:` line about the whole journey reads the same before and after: the packets above are what changed.";
  return (kind === "gained"
    ? `Authority granted by ${v}: whoever controls ${who} can now talk to ${reach}, through ${rules}.`
    : `Authority withdrawn by ${v}: ${who} can no longer talk to ${reach}; it was let through by ${rules}.`) + pin;
}

function deciderText(o) {
  if (o.note) return o.note;
  return `${o.outcome}${o.at ? ` at ${o.at}` : ""}${o.stage ? ` (${o.stage})` : ""}${o.rule ? ` by ${o.rule}` : ""}${o.line ? ` (line ${o.line})` : ""}`;
}

// An arrow between two devices of the topology: a curve (so that arrows
// between hosts of one row do not run through the hosts between them),
// stopping short of the nodes.
function arrow(a, b, cls, title) {
  const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
  const cut = Math.min(28, len / 3);
  const x1 = a.x + (dx / len) * cut, y1 = a.y + (dy / len) * cut;
  const x2 = b.x - (dx / len) * cut, y2 = b.y - (dy / len) * cut;
  // Bow to the left of the direction of travel, more for longer arrows.
  const bow = Math.min(90, 18 + len * 0.18);
  const cx = (x1 + x2) / 2 + (dy / len) * bow, cy = (y1 + y2) / 2 - (dx / len) * bow;
  return s("path", { d: `M${x1.toFixed(1)} ${y1.toFixed(1)}Q${cx.toFixed(1)} ${cy.toFixed(1)} ${x2.toFixed(1)} ${y2.toFixed(1)}`, class: cls, "marker-end": `url(#mk-${cls.split(" ").pop()})` }, s("title", {}, title));
}

// A small label straddling the bottom-right corner of a node.
function badge(layer, name, text, cls) {
  const p = devicePos(name);
  if (!p) return;
  const w = 10 + [...text].length * 7;
  const node = $("topology").querySelector(`.node[data-host="${CSS.escape(name)}"] rect`);
  const box = node ? { x: Number(node.getAttribute("x")), y: Number(node.getAttribute("y")), w: Number(node.getAttribute("width")), h: Number(node.getAttribute("height")) } : { x: p.x - 50, y: p.y - 20, w: 100, h: 40 };
  const x = box.x + box.w - w + 6, y = box.y + box.h - 8;
  layer.append(s("g", { class: `badge-g ${cls}`, "data-badge": name },
    s("rect", { x, y, width: w, height: 16, rx: 8 }),
    s("text", { x: x + w / 2, y: y + 12, "text-anchor": "middle" }, text)));
}

function drawDiffOverlay() {
  const layer = $("diff-layer");
  if (!layer) return;
  layer.replaceChildren();
  for (const n of $("topology").querySelectorAll(".node")) n.classList.remove("diff-gained", "diff-lost");
  const d = state.diff;
  $("legend-diff").hidden = !d || (!d.gained.length && !d.lost.length);
  if (!d) return;
  const pairs = new Map();
  for (const [kind, list] of [["gained", d.gained], ["lost", d.lost]]) {
    for (const g of list) {
      const k = `${kind}\u0000${g.source}\u0000${g.host}`;
      if (!pairs.has(k)) pairs.set(k, { kind, source: g.source, host: g.host, sockets: [] });
      pairs.get(k).sockets.push(g.socket);
    }
  }
  const perHost = new Map();
  for (const p of pairs.values()) {
    const a = devicePos(p.source), b = devicePos(p.host);
    if (a && b && p.source !== p.host) {
      layer.append(arrow(a, b, `diff-arrow ${p.kind}`, `${p.kind === "gained" ? "appears" : "disappears"} under ${state.variant}: ${p.source} → ${p.host} ${p.sockets.join(", ")}`));
    }
    const node = $("topology").querySelector(`.node[data-host="${CSS.escape(p.host)}"]`);
    if (node) node.classList.add(p.kind === "gained" ? "diff-gained" : "diff-lost");
    const e = perHost.get(p.host) || { gained: 0, lost: 0 };
    e[p.kind]++;
    perHost.set(p.host, e);
  }
  for (const [host, e] of perHost) {
    const text = [e.gained ? `+${e.gained}` : "", e.lost ? `−${e.lost}` : ""].filter(Boolean).join(" ");
    badge(layer, host, text, e.gained ? "gained" : "lost");
  }
}

// ---------- attacker view ----------

function fillFoothold() {
  const sel = $("foothold");
  sel.replaceChildren(h("option", { value: "" }, "(choose a host)"));
  for (const x of state.scn.hosts) sel.append(h("option", { value: x.name }, (x.sensitive ? "★ " : "") + x.name));
}

async function runFoothold(name, token) {
  const v = state.variant;
  const r = await api("GET", `/api/foothold?from=${encodeURIComponent(name)}${v ? `&variant=${encodeURIComponent(v)}` : ""}`);
  if (token && token !== state.analysisToken) return;
  if (!r.ok) {
    state.foot = null;
    $("attacker").replaceChildren(h("p", { class: "error" }, apiError(r)));
    drawAttackOverlay();
    return;
  }
  const keep = state.foot && state.foot.from === name;
  state.foot = r.json;
  state.footFrom = name;
  state.footDepth = keep ? Math.min(state.footDepth, r.json.depth) : Math.min(1, r.json.depth);
  $("foothold").value = name;
  renderAttacker();
  drawAttackOverlay();
}

// The edge that took `host` over: the last step of its shortest path.
function takeoverEdge(f, r) {
  if (r.path.length < 2) return null;
  const from = r.path[r.path.length - 2];
  return f.edges.find((e) => e.from === from && e.to === r.host) || null;
}

function edgeLine(e) {
  return [h("code", {}, e.foothold || e.sockets.join(", ")), " from ", e.from,
    h("span", { class: "muted" }, ` — e.g. ${exampleLine(e.example)} via ${e.rules.length ? e.rules.join(", ") : "no filter"}`)];
}

function renderAttacker() {
  const f = state.foot;
  const box = $("attacker");
  const steps = $("attacker-steps");
  steps.hidden = !f;
  if (!f) { box.replaceChildren(h("p", { class: "muted" }, "Pick a host to assume compromised: the page shows what it reaches, hop after hop, and the shortest attack path to each sensitive host.")); return; }
  const D = state.footDepth;
  $("atk-depth").textContent = f.depth ? `hop ${D} of ${f.depth}` : "no hop: nothing to take over";
  $("atk-less").disabled = D <= 1;
  $("atk-more").disabled = D >= f.depth;
  const taken = f.compromised.filter((r) => r.depth > 0);
  const jewelsIn = f.jewels.filter((j) => j.path && j.path.length > 1);
  const plural = (n, w) => `${n} ${w}${n === 1 ? "" : "s"}`;
  const radius = state.layer === 1
    ? `If a burglar takes over ${f.from}, they can get into ${plural(taken.length, "more house")}, in at most ${plural(f.depth, "step")}; ${jewelsIn.length} of the ${plural(f.jewels.length, "star house")} (★) ${jewelsIn.length === 1 ? "is" : "are"} in reach. A door with someone answering behind it (a TCP service) lets them in; a door that only answers back (UDP, ICMP) does not.`
    : `Blast radius: ${plural(taken.length, "host")} can be taken over, in at most ${plural(f.depth, "hop")}; ${jewelsIn.length} of ${plural(f.jewels.length, "sensitive host")} in reach. A TCP service reached gives a foothold (code an attacker can talk to); UDP and ICMP are reached but give none.` +
      (state.layer === 3 ? " Each step names the rules that allow it: those are the lines to narrow." : state.layer === 4 ? " Every step is authority the network grants to whoever holds the host before it." : "");
  const parts = [
    h("h3", {}, `If ${f.from} is compromised${f.variant ? ` (under ${f.variant})` : ""}`),
    h("p", { class: "radius" }, radius),
  ];
  for (let d = 1; d <= D; d++) {
    const at = taken.filter((r) => r.depth === d);
    parts.push(h("h4", {}, `Hop ${d}`), h("ol", { class: "hops", "data-depth": d }, at.map((r) => {
      const e = takeoverEdge(f, r);
      return h("li", { "data-host": r.host }, h("span", { "aria-hidden": "true" }, "☠ "), h("strong", {}, (r.sensitive ? "★ " : "") + r.host), " through ",
        e ? edgeLine(e) : "?", " ", e && e.trace ? traceButton(e.trace, "▶ Trace") : null);
    })));
  }
  const noFoot = f.direct.filter((e) => !e.foothold);
  if (noFoot.length) {
    parts.push(h("h4", {}, "Reached directly, without a foothold"), h("ul", {}, noFoot.map((e) => h("li", {}, e.to, ": ", e.sockets.join(", ")))));
  }
  parts.push(h("h4", {}, "Shortest attack path to each sensitive host"));
  if (!f.jewels.length) parts.push(h("p", { class: "muted" }, "No host is marked sensitive: true."));
  parts.push(h("ul", { class: "jewels" }, f.jewels.map((j) => {
    if (!j.path) return h("li", { "data-jewel": j.host, class: "safe" }, h("span", { "aria-hidden": "true" }, "🛡 "), h("strong", {}, `★ ${j.host}`), ": out of reach from ", f.from, ".");
    if (j.path.length === 1) return h("li", { "data-jewel": j.host }, h("strong", {}, `★ ${j.host}`), " is the compromised host itself.");
    const hops = j.path.length - 1;
    return h("li", { "data-jewel": j.host, class: "exposed" }, h("span", { "aria-hidden": "true" }, "⚠ "), h("strong", {}, `★ ${j.host}`),
      `: ${hops} hop${hops === 1 ? "" : "s"}: `, h("span", { class: "attack-path" }, j.path.join(" → ")),
      hops > D ? h("span", { class: "muted" }, ` (beyond the ${D} hop${D === 1 ? "" : "s"} shown)`) : null,
      h("ol", {}, j.edges.map((e) => h("li", {}, `${e.from} → ${e.to}: `, edgeLine(e), " ", e.trace ? traceButton(e.trace, "▶ Trace") : null))));
  })));
  box.replaceChildren(...parts);
  box.dataset.from = f.from;
  box.dataset.depth = String(D);
  box.dataset.layer = String(state.layer);
}

function drawAttackOverlay() {
  const layer = $("attack-layer");
  if (!layer) return;
  layer.replaceChildren();
  for (const n of $("topology").querySelectorAll(".node")) n.classList.remove("owned", "foothold-start", "jewel-path");
  const f = state.foot;
  $("legend-attack").hidden = !f;
  if (!f) return;
  const D = state.footDepth;
  const onJewelPath = new Set();
  for (const j of f.jewels) for (const e of j.edges) if (f.compromised.some((r) => r.host === e.to && r.depth <= D)) onJewelPath.add(`${e.from}>${e.to}`);
  for (const r of f.compromised) {
    if (r.depth > D) continue;
    const node = $("topology").querySelector(`.node[data-host="${CSS.escape(r.host)}"]`);
    if (node) node.classList.add(r.depth === 0 ? "foothold-start" : "owned");
    badge(layer, r.host, r.depth === 0 ? "☠ start" : `☠${r.depth}`, "attack");
    const e = takeoverEdge(f, r);
    if (e) {
      const a = devicePos(e.from), b = devicePos(e.to);
      const jewel = onJewelPath.has(`${e.from}>${e.to}`);
      if (a && b) layer.append(arrow(a, b, `attack-arrow${jewel ? " jewel" : ""}`, `hop ${r.depth}: ${e.from} takes over ${e.to} through ${e.foothold}`));
    }
  }
}

// ---------- tabs ----------

function selectTab(id, focus = false) {
  for (const t of document.querySelectorAll('#analysis [role="tab"]')) {
    const on = t.id === id;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) t.focus();
  }
}

function tabKeys(e) {
  const tabs = [...document.querySelectorAll('#analysis [role="tab"]')];
  const i = tabs.indexOf(e.target);
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

// ---------- wiring ----------

function wire() {
  $("trace-form").addEventListener("submit", (e) => { e.preventDefault(); runTrace(); });
  $("first").addEventListener("click", () => { stop(); goTo(0); });
  $("back").addEventListener("click", () => { stop(); goTo(state.step - 1); });
  $("step").addEventListener("click", () => { stop(); goTo(state.step + 1); });
  $("last").addEventListener("click", () => { stop(); goTo(state.trace.hops.length - 1); });
  $("play").addEventListener("click", () => (state.playing ? stop() : play()));
  $("speed").addEventListener("change", () => state.playing && tick());
  for (const r of document.querySelectorAll('input[name="layer"]')) r.addEventListener("change", () => setLayer(Number(r.value)));
  $("example-select").addEventListener("change", async (e) => {
    const name = e.target.value;
    if (!name) return;
    const r = await api("POST", `/api/scenario/example/${encodeURIComponent(name)}`);
    if (r.ok) { setScenario(r.json); status(`Loaded the built-in ${name}.`); }
    else status((r.json && r.json.error) || r.text);
  });
  $("open-file-btn").addEventListener("click", () => $("open-file").click());
  $("open-file").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    await loadYaml(await f.text(), f.name);
    e.target.value = "";
  });
  $("edit-btn").addEventListener("click", () => openEditor($("editor").hidden));
  $("editor-close").addEventListener("click", () => openEditor(false));
  $("editor-load").addEventListener("click", () => loadYaml($("yaml").value, $("editor-file").textContent || "scenario.yaml"));
  $("yaml").addEventListener("input", () => renderGutter([]));
  $("yaml").addEventListener("scroll", () => { $("gutter").scrollTop = $("yaml").scrollTop; });
  $("export-json").addEventListener("click", () => state.trace && download(traceFileName("json"), JSON.stringify(state.trace, null, 2) + "\n", "application/json"));
  $("export-mermaid").addEventListener("click", () => state.mermaid && download(traceFileName("mmd"), state.mermaid, "text/plain"));
  $("copy-mermaid").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(state.mermaid); status("Mermaid copied."); }
    catch { status("The browser did not allow copying; the Mermaid text is under ‘Mermaid of this trace’."); }
  });
  for (const t of document.querySelectorAll('#analysis [role="tab"]')) t.addEventListener("click", () => selectTab(t.id));
  $("analysis").querySelector('[role="tablist"]').addEventListener("keydown", tabKeys);
  $("matrix").addEventListener("keydown", matrixKeys);
  $("attacker-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("foothold").value;
    if (name) runFoothold(name);
    else status("Choose a host to assume compromised.");
  });
  $("foothold").addEventListener("change", () => { if ($("foothold").value) runFoothold($("foothold").value); });
  $("foothold-pick").addEventListener("click", () => {
    const on = state.pick !== "foothold";
    state.pick = on ? "foothold" : "from";
    $("foothold-pick").setAttribute("aria-pressed", String(on));
    $("pick-hint").textContent = on ? "click (or press Enter on) the host an attacker holds" : "click a host: first the source, then the destination";
  });
  $("foothold-clear").addEventListener("click", () => {
    state.foot = null;
    state.footFrom = null;
    $("foothold").value = "";
    renderAttacker();
    drawAttackOverlay();
  });
  $("atk-less").addEventListener("click", () => { state.footDepth = Math.max(1, state.footDepth - 1); renderAttacker(); drawAttackOverlay(); });
  $("atk-more").addEventListener("click", () => { state.footDepth = Math.min(state.foot.depth, state.footDepth + 1); renderAttacker(); drawAttackOverlay(); });
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (["1", "2", "3", "4"].includes(e.key)) setLayer(Number(e.key));
    else if (!state.trace) return;
    else if (e.key === "ArrowRight") { stop(); goTo(state.step + 1); }
    else if (e.key === "ArrowLeft") { stop(); goTo(state.step - 1); }
    else if (e.key === "Home") { stop(); goTo(0); }
    else if (e.key === "End") { stop(); goTo(state.trace.hops.length - 1); }
    else if (e.key === "p") state.playing ? stop() : play();
  });
}

async function main() {
  // Ask for everything first: the requests travel while the page wires itself up.
  const loading = Promise.all([api("GET", "/api/words"), api("GET", "/api/lessons"), loadExamples(), loadScenario()]);
  wire();
  let layer = 2;
  try { layer = Number(localStorage.getItem("pathproof.layer")) || 2; } catch { /* private mode */ }
  setLayer(layer);
  $("pick-hint").textContent = "click a host: first the source, then the destination";
  const [words, lessons] = await loading;
  if (words.ok) state.words = words.json;
  if (lessons.ok) state.lessons = lessons.json;
  for (const label of document.querySelectorAll(".layers label")) {
    const n = Number(label.querySelector("input").value);
    label.querySelector("span").textContent = `${n} ${layerName(n)}`;
  }
  setLayer(state.layer);
  document.body.dataset.ready = "true";
  performance.mark("pathproof-ready");
  // A cue for an embedding page or a test: every view is filled in.
  const filled = () => performance.getEntriesByName("pathproof-matrix").length && performance.getEntriesByName("pathproof-expectations").length;
  const watch = () => (filled() ? (document.body.dataset.complete = "true") : setTimeout(watch, 20));
  watch();
}

main().catch((e) => status(`The page failed to start: ${e.message}`));
