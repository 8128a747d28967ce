// The map: networks and hosts (laid out by layout.js), the packet moving hop
// by hop, and beside the device that decides the current hop its verdict and
// what it proves and takes on trust (the short forms; the card has the full
// ones). Overlays: the journeys a variant adds or removes, and an attacker's
// steps drawn along the devices they cross.
import { $, s, h } from "../core/dom.js";
import { state, on, emit, told } from "../core/state.js";
import { VERDICT } from "../core/words.js";
import { layout, subLabel, HOST_H } from "./layout.js";
import { answered } from "./analysis.js";

// How long a scenario's layout waits for its matrix (see `answered`).
const MATRIX_FIRST_MS = 4000;

let L = null; // the layout on screen
let drawing = 0;
const view = { scale: 1 };

/** The box of a device on the map (a host, or `NETWORK@ADDRESS`'s network). */
export function boxOf(device) {
  if (!L || !device) return null;
  if (L.nodes.has(device)) return L.nodes.get(device);
  const at = device.indexOf("@");
  if (at > 0) {
    const net = L.nets.find((n) => n.name === device.slice(0, at));
    if (net) return { x: net.x + 6, y: net.y + 4, w: Math.min(110, net.w - 12), h: 26, net: net.name, stand: true };
  }
  return null;
}

function centre(b) {
  return { x: b.x + b.w / 2, y: b.y + b.h / 2 };
}

function hostTitle(host) {
  const addrs = host.interfaces.map((i) => `${i.network} ${i.addrs.join(", ")}`).join("; ");
  const socks = host.sockets.map((x) => x.text).join(", ");
  const filt = [host.forward && `forward ${host.forward}`, host.input && `input ${host.input}`, host.output && `output ${host.output}`].filter(Boolean).join(", ");
  return `${host.name} (${host.kind}${host.sensitive ? ", sensitive" : ""}): ${addrs}` + (socks ? `; listens ${socks}` : "") + (filt ? `; filters ${filt}` : "") + (host.about ? `. ${host.about}` : "");
}

export function initMap() {
  on("scenario", draw);
  on("journey", () => { drawPath(); moveTo(state.step, true); });
  on("step", ({ instant } = {}) => moveTo(state.step, instant));
  on("layer", () => drawCallout());
  on("diff", drawDiff);
  on("attack", drawAttack);
  addEventListener("resize", fit);
  drawLegend();
}

function drawLegend() {
  const sw = (cls, shape) => s("svg", { width: 22, height: 14, "aria-hidden": "true" }, shape(cls));
  $("legend").replaceChildren(
    h("span", {}, sw("lg-host", (c) => s("rect", { class: c, x: 1, y: 1, width: 20, height: 12, rx: 3 })), " host"),
    h("span", {}, sw("lg-router", (c) => s("rect", { class: c, x: 1, y: 1, width: 20, height: 12, rx: 6 })), " router"),
    h("span", {}, sw("lg-firewall", (c) => s("rect", { class: c, x: 1, y: 1, width: 20, height: 12, rx: 1 })), " firewall"),
    h("span", {}, "★ sensitive"),
    h("span", { class: "lg-extra", id: "legend-diff", hidden: true }, sw("diff-arrow gained", (c) => s("line", { class: c, x1: 1, y1: 7, x2: 21, y2: 7 })), " appears ", sw("diff-arrow lost", (c) => s("line", { class: c, x1: 1, y1: 7, x2: 21, y2: 7 })), " disappears"),
    h("span", { class: "lg-extra", id: "legend-attack", hidden: true }, sw("attack-arrow", (c) => s("line", { class: c, x1: 1, y1: 7, x2: 21, y2: 7 })), " attack step, along the devices it crosses"),
  );
}

async function draw() {
  const token = ++drawing;
  const scn = state.scn;
  const svg = $("map");
  svg.dataset.ready = "false";
  // The matrix first: every listener of "scenario" has run when this
  // resumes, so the matrix of this scenario is being asked for by now.
  await Promise.resolve();
  await answered(MATRIX_FIRST_MS);
  if (token !== drawing || scn !== state.scn) return;
  const next = await layout(scn);
  if (token !== drawing || scn !== state.scn) return;
  L = next;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${L.width} ${L.height}`);
  const defs = s("defs", {});
  for (const kind of ["gained", "lost", "attack", "jewel"]) {
    defs.append(s("marker", { id: `mk-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", class: `mk mk-${kind}` },
      s("path", { d: "M0 0L10 5L0 10z" })));
  }
  const gNets = s("g", { class: "nets" });
  const gEdges = s("g", { class: "edges" });
  const gDiff = s("g", { id: "diff-layer", class: "diff-layer" });
  const gAttack = s("g", { id: "attack-layer", class: "attack-layer" });
  const gPath = s("g", { id: "journey-path", class: "journey-path" });
  const gLabels = s("g", { class: "net-labels", "aria-hidden": "true" });
  const gHosts = s("g", { class: "hosts" });
  const gBadges = s("g", { id: "badge-layer", class: "badge-layer" });
  const gPacket = s("g", { id: "packet", class: "packet", "aria-hidden": "true" },
    s("circle", { r: 10 }),
    s("path", { class: "envelope", d: "M-5.5 -3.5h11v7h-11z M-5.5 -3.5l5.5 4 5.5 -4" }));
  gPacket.style.opacity = 0;
  const gCallout = s("g", { id: "callout", class: "callout", "aria-hidden": "true" });
  for (const n of L.nets) {
    const untrusted = n.net.trust === "untrusted";
    gNets.append(s("g", { class: "net" + (untrusted ? " untrusted" : ""), "data-net": n.name },
      s("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 10 }),
      s("title", {}, `${n.name} ${(n.net.prefixes || []).join(" ")}${untrusted ? " (untrusted)" : ""}`)));
    gLabels.append(s("text", { x: n.x + 10, y: n.y + 20, class: "net-name" + (untrusted ? " untrusted" : "") }, n.name + (untrusted ? "  ⚠ untrusted" : "")));
  }
  // Wires from each router to the networks it is on.
  for (const [name, b] of L.nodes) {
    if (b.net) continue;
    for (const iface of b.host.interfaces) {
      const n = L.nets.find((x) => x.name === iface.network);
      if (!n) continue;
      const c = centre(b);
      const tx = Math.max(n.x + 14, Math.min(n.x + n.w - 14, c.x));
      const ty = n.y + n.h / 2 < c.y ? n.y + n.h : n.y;
      gEdges.append(s("line", { x1: c.x, y1: c.y, x2: tx, y2: ty, class: "wire", "data-wire": `${name}|${n.name}` }));
    }
  }
  // Hosts in reading order (top to bottom, left to right), so that the tab
  // order follows the map.
  const order = [...L.nodes.entries()].sort((a, b) => (a[1].y - b[1].y) || (a[1].x - b[1].x));
  for (const [, b] of order) gHosts.append(hostNode(b));
  svg.append(defs, gNets, gEdges, gDiff, gAttack, gPath, gLabels, gHosts, gBadges, gPacket, gCallout);
  fit();
  svg.dataset.ready = "true";
  emit("map-drawn");
  drawPath();
  moveTo(state.step, true);
  drawDiff();
  drawAttack();
}

function hostNode(b) {
  const host = b.host;
  const g = s("g", {
    class: `node kind-${host.kind}` + (host.sensitive ? " sensitive" : ""),
    tabindex: 0, role: "button", "data-host": host.name,
    "aria-label": hostTitle(host),
  }, s("title", {}, hostTitle(host)));
  const rx = host.kind === "router" ? 14 : host.kind === "firewall" ? 2 : 6;
  g.append(s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx }));
  if (host.kind === "firewall") {
    g.append(s("path", { class: "brick", d: `M${b.x} ${b.y + b.h - 8}h${b.w}M${b.x + b.w / 3} ${b.y + b.h - 8}v8M${b.x + (2 * b.w) / 3} ${b.y + b.h - 8}v8` }));
  }
  g.append(s("text", { x: b.x + b.w / 2, y: b.y + 19, "text-anchor": "middle", class: "host-name" }, (host.sensitive ? "★ " : "") + host.name));
  g.append(s("text", { x: b.x + b.w / 2, y: b.y + 35, "text-anchor": "middle", class: "host-sub" }, subLabel(host)));
  const pick = () => emit("pick-host", host);
  g.addEventListener("click", pick);
  g.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); }
  });
  return g;
}

/**
 * Sizes the drawing: as large as fits the frame (up to 1.3×), never so
 * small that its text drops below 12 px; what does not fit scrolls.
 */
function fit() {
  if (!L) return;
  const wrap = $("map-wrap");
  const svg = $("map");
  const cw = wrap.clientWidth - 2, ch = wrap.clientHeight - 2;
  const narrow = innerWidth < 700;
  // Host names are 13 px and the smallest labels 12 px at scale 1.
  const min = narrow ? 1 : 0.93;
  let scale = Math.min(1.3, cw / L.width, ch > 60 ? ch / L.height : Infinity);
  scale = Math.max(min, scale);
  view.scale = scale;
  svg.setAttribute("width", Math.round(L.width * scale));
  svg.setAttribute("height", Math.round(L.height * scale));
  svg.dataset.scale = scale.toFixed(3);
  reveal();
}

/**
 * Scrolls the map frame so that the current device is in view, and its
 * callout too where both fit.
 */
function reveal() {
  const t = state.journey && state.journey.trace;
  if (!t || !L) return;
  const b = boxOf(t.hops[state.step] && t.hops[state.step].device);
  if (!b) return;
  const wrap = $("map-wrap");
  const k = view.scale;
  let area = { x1: b.x, y1: b.y, x2: b.x + b.w, y2: b.y + b.h };
  const co = $("callout");
  if (co && co.dataset.w) {
    const cx = Number(co.dataset.x), cy = Number(co.dataset.y);
    const both = { x1: Math.min(area.x1, cx), y1: Math.min(area.y1, cy), x2: Math.max(area.x2, cx + Number(co.dataset.w)), y2: Math.max(area.y2, cy + Number(co.dataset.h)) };
    if ((both.x2 - both.x1) * k <= wrap.clientWidth && (both.y2 - both.y1) * k <= wrap.clientHeight) area = both;
  }
  const [left, right, top, bottom] = [area.x1 * k, area.x2 * k, area.y1 * k, area.y2 * k];
  if (left < wrap.scrollLeft || right > wrap.scrollLeft + wrap.clientWidth) {
    wrap.scrollLeft = Math.max(0, (left + right) / 2 - wrap.clientWidth / 2);
  }
  if (top < wrap.scrollTop || bottom > wrap.scrollTop + wrap.clientHeight) {
    wrap.scrollTop = Math.max(0, (top + bottom) / 2 - wrap.clientHeight / 2);
  }
}

function nodeEl(device) {
  return $("map").querySelector(`.node[data-host="${CSS.escape(device)}"]`);
}

/** The wires the journey crosses: one segment per link hop that changes device. */
function drawPath() {
  const svg = $("map");
  for (const n of svg.querySelectorAll(".node")) n.classList.remove("on-path", "stop", "current", "decided");
  const g = $("journey-path");
  if (!g) return;
  g.replaceChildren();
  const t = state.journey && state.journey.trace;
  if (!t || !L) return;
  const seen = new Set();
  t.hops.forEach((hop, i) => {
    const node = nodeEl(hop.device);
    if (node) node.classList.add("on-path");
    if (i === 0) return;
    const prev = t.hops[i - 1];
    if (prev.device === hop.device || prev.stage !== "link") return;
    const a = boxOf(prev.device), b = boxOf(hop.device);
    if (!a || !b) return;
    const key = `${prev.device}>${hop.device}>${hop.direction}`;
    if (seen.has(key)) return;
    seen.add(key);
    const ca = centre(a), cb = centre(b);
    const off = hop.direction === "reply" ? 5 : -5;
    g.append(s("line", { x1: ca.x + off, y1: ca.y + off, x2: cb.x + off, y2: cb.y + off, class: "path-seg" + (hop.direction === "reply" ? " reply" : ""), "data-step": hop.step }));
  });
  const end = t.outcome.step ? t.hops.find((x) => x.step === t.outcome.step) : null;
  if (end && t.outcome.kind !== "reached") {
    const n = nodeEl(end.device);
    if (n) n.classList.add("stop");
  }
}

function moveTo(i, instant) {
  const t = state.journey && state.journey.trace;
  const pk = $("packet");
  if (!pk || !L) return;
  const svg = $("map");
  for (const n of svg.querySelectorAll(".node.current")) n.classList.remove("current", "v-bad-node", "v-ok-node");
  if (!t) { pk.style.opacity = 0; $("callout").replaceChildren(); return; }
  const hop = t.hops[i];
  for (const seg of $("journey-path").querySelectorAll(".path-seg")) {
    seg.classList.toggle("walked", Number(seg.dataset.step) <= hop.step);
  }
  const b = boxOf(hop.device);
  if (!b) { pk.style.opacity = 0; drawCallout(); return; }
  const bad = ["drop", "reject", "refuse"].includes(hop.verdict);
  const node = nodeEl(hop.device);
  if (node) {
    node.classList.add("current", bad ? "v-bad-node" : "v-ok-node");
  }
  const speed = Number($("speed").value) || 1;
  pk.style.transition = instant ? "none" : `transform ${Math.round(450 / speed)}ms ease-in-out`;
  // The packet sits on the node's left edge, clear of its labels.
  const x = b.x - 2, y = b.y + b.h / 2;
  pk.style.transform = `translate(${x}px, ${y}px)`;
  pk.style.opacity = 1;
  pk.classList.toggle("bad", bad);
  pk.classList.toggle("reply", hop.direction === "reply");
  drawCallout();
  reveal();
}

function measure(textEl) {
  try { return textEl.getComputedTextLength(); } catch { return textEl.textContent.length * 7; }
}

/**
 * Beside the device of the current hop: its verdict, and the short forms of
 * what it proves and takes on trust, in the words of the layer.
 */
function drawCallout() {
  const g = $("callout");
  if (!g) return;
  g.replaceChildren();
  const t = state.journey && state.journey.trace;
  const tl = told();
  if (!t || !tl || !L) return;
  const hop = t.hops[state.step];
  const th = tl.hops[state.step];
  const b = boxOf(hop.device);
  if (!b) return;
  const v = VERDICT[hop.verdict] || { icon: "?", cls: "" };
  const decides = t.outcome.step === hop.step;
  const lines = [{ cls: `co-verdict ${v.cls}`, text: `${v.icon} ${hop.device}: ${th.verdict}${decides ? (t.outcome.kind === "reached" ? " — the journey is through" : " — the journey stops here") : ""}` }];
  const list = (label, claims) => {
    if (!claims.length) return;
    const shorts = [...new Set(claims.map((c) => c.short))];
    const shown = shorts.slice(0, 3).join(", ") + (shorts.length > 3 ? ` +${shorts.length - 3}` : "");
    lines.push({ cls: `co-${label.split(" ")[0]}`, text: `${label}: ${shown}` });
  };
  list("proves", th.proves);
  list("trusts", th.trusts);
  list("hides", th.hides);
  const gText = s("g", {});
  g.append(s("rect", { class: `co-box ${v.cls}`, rx: 8 }), gText);
  const lineH = 17, padX = 9, padY = 7;
  const texts = lines.map((l, k) => {
    const el = s("text", { class: l.cls, x: 0, y: padY + 13 + k * lineH }, l.text);
    gText.append(el);
    return el;
  });
  const w = Math.max(...texts.map(measure)) + padX * 2;
  const hgt = padY * 2 + lines.length * lineH - 2;
  // Beside the node, on the side where it covers the fewest other hosts;
  // never off the drawing.
  const clampX = (x) => Math.max(2, Math.min(L.width - w - 2, x));
  const clampY = (y) => Math.max(2, Math.min(L.height - hgt - 2, y));
  const mid = b.y + b.h / 2 - hgt / 2;
  const beside = [[b.x + b.w + 12, mid], [b.x - w - 12, mid], [b.x + b.w + 12, b.y - hgt / 2], [b.x - w - 12, b.y + b.h - hgt / 2]];
  const over = [[b.x + b.w / 2 - w / 2, b.y - hgt - 10], [b.x + b.w / 2 - w / 2, b.y + b.h + 10]];
  // In a frame narrower than node and callout side by side, above or below reads better.
  const narrow = $("map-wrap").clientWidth < (b.w + w + 30) * view.scale;
  const candidates = (narrow ? [...over, ...beside] : [...beside, ...over]).map(([x, y]) => [clampX(x), clampY(y)]);
  const overlap = (x, y) => {
    let area = 0;
    for (const [name, o] of L.nodes) {
      const self = name === hop.device;
      const ox = Math.max(0, Math.min(x + w, o.x + o.w) - Math.max(x, o.x));
      const oy = Math.max(0, Math.min(y + hgt, o.y + o.h) - Math.max(y, o.y));
      area += ox * oy * (self ? 4 : 1);
    }
    return area;
  };
  let [x, y] = candidates[0];
  let best = Infinity;
  for (const [cx, cy] of candidates) {
    const o = overlap(cx, cy);
    if (o < best - 1) { best = o; x = cx; y = cy; }
  }
  const box = g.querySelector("rect");
  box.setAttribute("x", 0);
  box.setAttribute("y", 0);
  box.setAttribute("width", w);
  box.setAttribute("height", hgt);
  for (const el of texts) el.setAttribute("x", padX);
  g.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
  Object.assign(g.dataset, { x: x.toFixed(1), y: y.toFixed(1), w: w.toFixed(1), h: hgt.toFixed(1) });
  g.dataset.device = hop.device;
  g.dataset.step = String(hop.step);
}

/** A curve between two points, stopping short of the nodes. */
function curve(a, b, cls, title, bowSign = 1) {
  const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
  const cut = Math.min(26, len / 3);
  const x1 = a.x + (dx / len) * cut, y1 = a.y + (dy / len) * cut;
  const x2 = b.x - (dx / len) * cut, y2 = b.y - (dy / len) * cut;
  const bow = bowSign * Math.min(60, 14 + len * 0.12);
  const cx = (x1 + x2) / 2 + (dy / len) * bow, cy = (y1 + y2) / 2 - (dx / len) * bow;
  return s("path", { d: `M${x1.toFixed(1)} ${y1.toFixed(1)}Q${cx.toFixed(1)} ${cy.toFixed(1)} ${x2.toFixed(1)} ${y2.toFixed(1)}`, class: cls, "marker-end": `url(#mk-${cls.split(" ").pop()})` }, s("title", {}, title));
}

/** A small label on a node's top border, at its right end (the name stays readable). */
function badge(layer, name, text, cls) {
  const b = boxOf(name);
  if (!b) return;
  const el = s("text", { class: "badge-text" }, text);
  const g = s("g", { class: `badge-g ${cls}`, "data-badge": name }, s("rect", { rx: 7, height: 16 }), el);
  layer.append(g);
  const w = measure(el) + 10;
  const x = b.x + b.w - w - 4, y = b.y - 10;
  g.querySelector("rect").setAttribute("x", x);
  g.querySelector("rect").setAttribute("y", y);
  g.querySelector("rect").setAttribute("width", w);
  el.setAttribute("x", x + 5);
  el.setAttribute("y", y + 12);
}

let diffShown = null;
function drawDiff(d = diffShown) {
  diffShown = d;
  const layer = $("diff-layer");
  if (!layer || !L) return;
  layer.replaceChildren();
  const badges = $("badge-layer");
  for (const b of badges.querySelectorAll(".badge-g.gained, .badge-g.lost")) b.remove();
  for (const n of $("map").querySelectorAll(".node")) n.classList.remove("diff-gained", "diff-lost");
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
    // A network as source ("anyone else on dmz") starts at its name's corner.
    const a = boxOf(p.source) || boxOf(`${p.source}@any`), b = boxOf(p.host);
    if (a && b && p.source !== p.host) {
      layer.append(curve(centre(a), centre(b), `diff-arrow ${p.kind}`, `${p.kind === "gained" ? "appears" : "disappears"}: ${p.source} → ${p.host} ${p.sockets.join(", ")}`, p.kind === "gained" ? 1 : -1));
    }
    const node = nodeEl(p.host);
    if (node) node.classList.add(p.kind === "gained" ? "diff-gained" : "diff-lost");
    const e = perHost.get(p.host) || { gained: 0, lost: 0 };
    e[p.kind]++;
    perHost.set(p.host, e);
  }
  for (const [host, e] of perHost) {
    const text = [e.gained ? `+${e.gained}` : "", e.lost ? `−${e.lost}` : ""].filter(Boolean).join(" ");
    badge(badges, host, text, e.gained ? "gained" : "lost");
  }
}

let attackShown = null;
/**
 * An attacker's steps up to the depth shown, each drawn through the devices
 * its request crosses (the routers and firewalls on the way), not across them.
 */
function drawAttack(a = attackShown) {
  attackShown = a;
  const layer = $("attack-layer");
  if (!layer || !L) return;
  layer.replaceChildren();
  const badges = $("badge-layer");
  for (const b of badges.querySelectorAll(".badge-g.attack")) b.remove();
  for (const n of $("map").querySelectorAll(".node")) n.classList.remove("owned", "foothold-start");
  $("legend-attack").hidden = !a;
  if (!a) return;
  const { f, depth } = a;
  const jewelEdges = new Set();
  for (const j of f.jewels) for (const e of j.edges || []) jewelEdges.add(`${e.from}>${e.to}`);
  let k = 0;
  for (const r of f.compromised) {
    if (r.depth > depth) continue;
    const node = nodeEl(r.host);
    if (node) node.classList.add(r.depth === 0 ? "foothold-start" : "owned");
    badge(badges, r.host, r.depth === 0 ? "start" : `step ${r.depth}`, "attack");
    if (r.path.length < 2) continue;
    const from = r.path[r.path.length - 2];
    const e = f.edges.find((x) => x.from === from && x.to === r.host);
    if (!e) continue;
    const devices = (e.devices && e.devices.length >= 2 ? e.devices : [e.from, e.to]).map(boxOf);
    if (devices.some((b) => !b)) continue;
    // Offset each step a little so that steps sharing a wire stay apart.
    const off = ((k++ % 5) - 2) * 4;
    const pts = devices.map((b) => ({ x: b.x + b.w / 2 + off, y: b.y + b.h / 2 + off }));
    let d = `M${pts[0].x.toFixed(1)} ${pts[0].y.toFixed(1)}`;
    for (let i = 1; i < pts.length; i++) {
      const last = i === pts.length - 1;
      const p = pts[i], q = pts[i - 1];
      const len = Math.hypot(p.x - q.x, p.y - q.y) || 1;
      const cut = last ? Math.min(24, len / 3) : 0;
      d += `L${(p.x - ((p.x - q.x) / len) * cut).toFixed(1)} ${(p.y - ((p.y - q.y) / len) * cut).toFixed(1)}`;
    }
    const jewel = jewelEdges.has(`${e.from}>${e.to}`);
    layer.append(s("path", { d, class: `attack-arrow${jewel ? " jewel" : ""}`, "marker-end": `url(#mk-${jewel ? "jewel" : "attack"})`, "data-step": `${e.from}>${e.to}`, "data-via": (e.devices || [e.from, e.to]).join(" ") },
      s("title", {}, `step ${r.depth}: ${e.from} takes over ${e.to} through ${e.foothold}, via ${(e.devices || []).join(" → ")}`)));
  }
}

/** The map's height in the layout, for views that size themselves around it. */
export function mapReady() {
  return !!L;
}

export { HOST_H };
