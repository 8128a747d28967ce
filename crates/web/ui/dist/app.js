// pathproof serve: the page. Plain modern JS, no framework, no network beyond
// this server's /api/. Every verdict shown here comes from the engine's Trace
// JSON (docs/json.md); the page only lays it out.

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
  reverse_path: "Reverse-path check", route: "Routing", filter: "Filter", snat: "Source NAT",
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
  const first = defaultJourney();
  if (first) {
    $("from").value = first.from;
    $("to").value = first.to;
    $("proto").value = first.proto || "tcp";
  }
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
  const boxes = new Map();
  for (const it of L.items) {
    if (it.type !== "net") continue;
    const n = it.net;
    boxes.set(n.name, it);
    const g = s("g", { class: "net" + (n.trust === "untrusted" ? " untrusted" : ""), "data-net": n.name });
    g.append(
      s("rect", { x: it.x, y: it.y, width: it.w, height: it.h, rx: 10 }),
      s("text", { x: it.x + 10, y: it.y + 20, class: "net-name" }, n.name + (n.trust === "untrusted" ? " ⚠ untrusted" : "")),
      s("text", { x: it.x + 10, y: it.y + 31, class: "net-cidr" }, n.prefixes.join(" ")),
    );
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
  svg.append(gEdges, gNets, gPath, gHosts, packet);
  highlightPath();
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
}

// ---------- tracing ----------

function formQuery() {
  const q = { from: $("from").value, to: $("to").value.trim(), proto: $("proto").value };
  const port = $("port").value;
  if (port !== "") q.port = Number(port);
  if ($("via").value) q.via = $("via").value;
  if ($("ipv6").checked) q.ipv6 = true;
  return q;
}

async function traceOnce(q, variant) {
  const body = { ...q };
  if (variant) body.variant = variant;
  return api("POST", "/api/trace", JSON.stringify(body));
}

function journeyKey(q) {
  return JSON.stringify([q.from, q.to, q.proto || "tcp", q.port ?? null, q.via ?? null, !!q.ipv6]);
}

async function runTrace(q) {
  q = q || formQuery();
  $("trace-error").textContent = "";
  const r = await traceOnce(q, state.variant);
  if (!r.ok) {
    const j = r.json || {};
    $("trace-error").textContent = (j.error || r.text) + (j.help ? ` — ${j.help}` : "");
    return;
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
  if (L >= 2) {
    parts.push(h("dl", { class: "facts" },
      h("dt", {}, "direction"), h("dd", {}, hop.direction === "reply" ? "↩ reply" : "↪ request"),
      h("dt", {}, "stage"), h("dd", {}, h("code", {}, hop.stage)),
      hop.interface ? [h("dt", {}, "interface"), h("dd", {}, hop.interface)] : null,
      h("dt", {}, "packet here"), h("dd", {}, h("code", { class: "packet-text" }, packetText(hop.packet)))));
  }
  if (L >= 3) {
    if (hop.rule) {
      const r = hop.rule;
      parts.push(h("div", { class: "rule" },
        h("h3", {}, "Decided by"),
        h("p", {}, `${r.kind}${r.owner ? ` of ${r.owner}` : ""}${r.index ? ` #${r.index}` : ""}: `, h("code", {}, r.text)),
        h("p", {}, h("button", { type: "button", class: "link", onclick: () => showLine(r.line, r.column) }, `${t.file} line ${r.line}, column ${r.column}`))));
    } else {
      parts.push(h("p", { class: "muted" }, "No declaration decided this hop."));
    }
    if (hop.state) parts.push(h("p", {}, h("strong", {}, "State: "), hop.state));
  }
  parts.push(h("h3", {}, "Proves"), claimList(hop.proves, "✔"));
  parts.push(h("h3", {}, "Takes on trust"), claimList(hop.trusts, "⚖"));
  if (L >= 2 || hop.hides.length) parts.push(h("h3", {}, "Hides from everyone after it"), claimList(hop.hides, "◐"));
  parts.push(h("p", { class: "muted layer-note" }, `Told for layer ${L}, ${layerName(L)}` + (L < 3 ? "; layer 3 adds the rule that decided, with its line, and the engine's own sentences." : ".")));
  card.replaceChildren(...parts);
  card.dataset.step = hop.step;
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
  tick();
}

function tick() {
  clearTimeout(state.timer);
  if (!state.playing) return;
  const speed = Number($("speed").value) || 1;
  state.timer = setTimeout(() => {
    if (!state.playing || !state.trace) return;
    if (state.step >= state.trace.hops.length - 1) { stop(); return; }
    goTo(state.step + 1);
    tick();
  }, Math.round(1100 / speed));
}

function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $("play").textContent = "▶ Play";
  $("play").setAttribute("aria-label", "Play");
}

// ---------- expectations under a variant ----------

async function refreshExpectations() {
  const token = ++state.expectToken;
  const scn = state.scn;
  $("expectations").dataset.busy = "true";
  const rows = $("expect-rows");
  $("variant-col").textContent = state.variant ? `under ${state.variant}` : "variant";
  $("expect-variant").textContent = state.variant ? `— as written vs ${state.variant}` : "— toggle a variant to compare";
  const out = [];
  for (const e of scn.expectations) {
    if (!e.journeys.length) {
      out.push(h("tr", {}, h("td", {}, e.text), h("td", { colspan: 4, class: "muted" }, "about whole networks (use check)")));
      continue;
    }
    for (const j of e.journeys) {
      const key = journeyKey(j);
      let base = state.baseline.get(key);
      if (token !== state.expectToken) return;
      if (!base) {
        const r = await traceOnce(j, null);
        if (token !== state.expectToken) return;
        base = r.ok ? r.json : { outcome: { kind: "error", text: (r.json && r.json.error) || r.text }, query: {} };
        state.baseline.set(key, base);
      }
      let under = null;
      if (state.variant && token === state.expectToken) {
        const r = await traceOnce(j, state.variant);
        if (token !== state.expectToken) return;
        under = r.ok ? r.json : { outcome: { kind: "error", text: (r.json && r.json.error) || r.text }, query: {} };
      }
      const reachedBase = base.outcome.kind === "reached";
      const reachedUnder = under && under.outcome.kind === "reached";
      let change = h("span", { class: "muted" }, "—");
      let cls = "";
      if (under && reachedUnder && !reachedBase) { change = h("span", { class: "badge v-bad appear" }, "＋ appears"); cls = "appears"; }
      else if (under && !reachedUnder && reachedBase) { change = h("span", { class: "badge v-rewrite" }, "− disappears"); cls = "disappears"; }
      else if (under && under.outcome.kind !== base.outcome.kind) { change = h("span", { class: "badge v-rewrite" }, "≠ ends differently"); cls = "differs"; }
      else if (under) change = h("span", { class: "muted" }, "= same");
      const dest = (under || base).query.destination_address;
      out.push(h("tr", { class: cls, "data-journey": `${j.from} -> ${j.to}` },
        h("td", {}, h("code", {}, e.text)),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => loadJourney(j) }, `${j.from} → ${j.to}`), dest ? h("span", { class: "muted" }, ` (${dest})`) : null),
        h("td", { title: base.outcome.text }, base.outcome.kind === "error" ? base.outcome.text : outcomeBadge(base.outcome.kind)),
        h("td", { title: under ? under.outcome.text : "" }, under ? (under.outcome.kind === "error" ? under.outcome.text : outcomeBadge(under.outcome.kind)) : h("span", { class: "muted" }, "—")),
        h("td", {}, change)));
    }
  }
  if (token !== state.expectToken) return;
  rows.replaceChildren(...out);
  if (!out.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "This scenario has no expect: journeys.")));
  $("expectations").dataset.variant = state.variant || "";
  $("expectations").dataset.ready = String(token);
  delete $("expectations").dataset.busy;
}

function loadJourney(j) {
  $("from").value = j.from;
  $("to").value = j.to;
  $("proto").value = j.proto || "tcp";
  $("port").value = "";
  $("via").value = "";
  $("ipv6").checked = false;
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
  if (state.trace) { renderHopCard(); renderOutcome(); }
  renderLesson();
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
  if (state.scn.name !== lesson.scenario) {
    const e = await api("POST", `/api/scenario/example/${encodeURIComponent(lesson.scenario)}`);
    if (!e.ok) { status((e.json && e.json.error) || e.text); return; }
    setScenario(e.json);
    $("example-select").value = lesson.scenario;
  }
  state.lesson = lesson;
  renderLesson();
  status(`Lesson: ${lesson.title}`);
}

function renderLesson() {
  renderLessons();
  const box = $("lesson");
  const l = state.lesson;
  box.hidden = !l;
  if (!l) return;
  const layer = l.layers.find((x) => x.level === state.layer) || l.layers[0];
  box.replaceChildren(
    h("h2", {}, l.title, " ", h("span", { class: "layer-tag" }, layer.name)),
    h("p", {}, h("strong", {}, "Takeaway: "), layer.takeaway),
    ...layer.body.split(/\n\s*\n/).map((para) => h("p", { class: "lesson-body" }, para.trim())),
    layer.predict.length ? h("h3", {}, "Predict, then see") : null,
    h("ol", { class: "predictions" }, layer.predict.map((p) => h("li", {},
      p.question, " ",
      h("button", { type: "button", onclick: () => seePrediction(p) }, `See: ${p.from} → ${p.to}${p.variant ? ` (${p.variant})` : ""}`)))),
    h("button", { type: "button", onclick: () => { state.lesson = null; renderLesson(); } }, "Close lesson"),
  );
}

function seePrediction(p) {
  if ((p.variant || null) !== state.variant) {
    state.variant = p.variant || null;
    renderVariants();
    refreshExpectations();
  }
  const q = { from: p.from, to: p.to, proto: p.proto };
  if (p.via) q.via = p.via;
  if (p.ipv6) q.ipv6 = true;
  if (p.sport) q.sport = p.sport;
  $("from").value = p.from;
  $("to").value = p.to;
  $("proto").value = p.proto;
  $("port").value = "";
  $("via").value = p.via || "";
  $("ipv6").checked = !!p.ipv6;
  runTrace(q);
  $("journey").focus();
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
  wire();
  let layer = 2;
  try { layer = Number(localStorage.getItem("pathproof.layer")) || 2; } catch { /* private mode */ }
  setLayer(layer);
  $("pick-hint").textContent = "click a host: first the source, then the destination";
  const [words, lessons] = await Promise.all([api("GET", "/api/words"), api("GET", "/api/lessons"), loadExamples(), loadScenario()]);
  if (words.ok) state.words = words.json;
  if (lessons.ok) state.lessons = lessons.json;
  for (const label of document.querySelectorAll(".layers label")) {
    const n = Number(label.querySelector("input").value);
    label.querySelector("span").textContent = `${n} ${layerName(n)}`;
  }
  setLayer(state.layer);
  document.body.dataset.ready = "true";
  performance.mark("pathproof-ready");
}

main().catch((e) => status(`The page failed to start: ${e.message}`));
