// The reachability matrix: every source against every host that listens,
// the ports reached in each cell, and the journeys the last toggle added (+)
// or removed (−). Arrow keys move; Enter traces an example journey.
//
// The answer comes as classes (docs/api.md, /api/reach schema 2): a class is
// a rectangle of rows (as ranges) × (column, socket) pairs, so a flat network
// of 5,000 alike hosts is a handful of classes, not 25 million cells. A cell
// is derived from the classes of its row when it is drawn; its detail (paths,
// packets, traces) is the narrowed question ?from=ROW&to=COLUMN&cells=true.
// Past FULL cells the matrix is drawn a window at a time, under an overview
// of network × network blocks.
import { $, h, fill } from "../core/dom.js";
import { api, apiError } from "../core/api.js";
import { state, on } from "../core/state.js";
import { stageWords, layerName } from "../core/words.js";
import { renderInline } from "../core/markdown.js";
import { registerTab, render as renderTab } from "./tabs.js";
import { answers, reach, diffLabel } from "./analysis.js";
import { runTrace, fillQuestion } from "./journey.js";
import { showLine } from "./editor.js";

const cellKey = (source, host) => `${source}\u0000${host}`;
let pos = { r: 0, c: 0 };
let detail = null;
/** The most cells drawn at once; a larger matrix is shown in windows. */
export const FULL = 40000;
const WINDOW = { rows: 50, cols: 24 };
let win = { r0: 0, c0: 0 };

export function socketPort(text) {
  const m = /^(tcp|udp)\/(\d+)/.exec(text || "");
  return m ? `${m[1]} ${m[2]}` : text;
}

export function portsOf(changes) {
  const by = new Map();
  for (const g of changes) {
    const [proto, port] = socketPort(g.socket).split(" ");
    if (!by.has(proto)) by.set(proto, new Set());
    if (port) by.get(proto).add(Number(port));
  }
  return [...by].map(([proto, ports]) => `${proto} ${[...ports].sort((a, b) => a - b).join(", ")}`.trim()).join("; ");
}

export function diffByCell() {
  const out = new Map();
  const d = answers.diff;
  if (!d) return out;
  for (const [kind, list] of [["gained", d.gained], ["lost", d.lost]]) {
    for (const c of list) {
      const k = cellKey(c.source, c.host);
      if (!out.has(k)) out.set(k, { gained: [], lost: [] });
      out.get(k)[kind].push(c);
    }
  }
  return out;
}

export function exampleLine(e) {
  if (!e) return "";
  const a = (x) => (x.includes(":") ? `[${x}]` : x);
  return e.proto === "icmp" ? `icmp ${e.src} → ${e.dst}` : `${e.proto} ${a(e.src)}:${e.sport} → ${a(e.dst)}:${e.dport}`;
}

export function packetsLine(p, fromHost = false) {
  if (!p) return "";
  const list = (v, n = 4) => (v.length > n ? `${v.slice(0, n).join(", ")} … (${v.length} in all)` : v.join(", "));
  return `${p.protocols.join(",")}${fromHost ? "" : ` from ${list(p.sources)}`} to ${list(p.destinations)}${p.ports.length ? ` port ${list(p.ports, 6)}` : ""}`;
}

/** A journey as a trace body: fill the form and play it. */
export function traceBody(body) {
  const q = { from: body.from, to: body.to, proto: body.proto || "tcp" };
  if (body.sport) q.sport = body.sport;
  if (body.ipv6) q.ipv6 = true;
  fillQuestion(q);
  return runTrace(q);
}

export function traceButton(body, label = "▶ Trace this journey") {
  return h("button", { type: "button", class: "trace-it", onclick: () => traceBody(body) }, label);
}

export function lineButton(line, label) {
  return line ? h("button", { type: "button", class: "link", onclick: () => showLine(line) }, label || `line ${line}`) : null;
}

export function responsibleList(indices) {
  const all = (answers.diff && answers.diff.changes) || [];
  const items = (indices || []).map((i) => all[i]).filter(Boolean);
  const body = items.length
    ? h("ul", { class: "responsible" }, items.map((c) => h("li", { "data-kind": c.kind },
      h("span", { "aria-hidden": "true" }, c.change === "added" ? "+ " : c.change === "removed" ? "− " : "≠ "),
      renderInline(c.summary.replace(/ \(line \d+\)$/, "")), " ", lineButton(c.line, `(line ${c.line})`))))
    : h("span", { class: "muted" }, "no single changed declaration is cited on the way; see the declarations the toggle changes.");
  return h("div", { class: "resp" }, h("strong", {}, "Responsible: "), body);
}


/** `tcp 22, 443, 8000-8002; udp 53`: as the server's port_text. */
export function portText(list) {
  const out = [];
  for (const proto of ["tcp", "udp", "sctp", "icmp"]) {
    const ports = [...new Set(list.filter((x) => x.proto === proto).map((x) => x.port))].sort((a, b) => a - b);
    if (!ports.length) continue;
    if (proto === "icmp") { out.push("icmp"); continue; }
    const ranges = [];
    for (const p of ports) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] + 1 === p) last[1] = p;
      else ranges.push([p, p]);
    }
    out.push(`${proto} ${ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ")}`);
  }
  return out.join("; ");
}

// The classes of each row, built once per answer; a row's cells once per draw.
let index = null;
// The blocks of the overview of the answer on screen, counted once.
let overviewOf = null;

function indexOf(m) {
  if (index && index.m === m) return index;
  const byRow = Array.from({ length: m.sources.length }, () => []);
  m.classes.forEach((k, i) => {
    for (let x = 0; x < k.rows.length; x += 2) for (let r = k.rows[x]; r <= k.rows[x + 1]; r++) byRow[r].push(i);
  });
  index = { m, byRow, rows: new Map() };
  return index;
}

/** The sockets row `r` reaches, per column: Map(column → Set of socket indices). */
export function rowCells(m, r) {
  const ix = indexOf(m);
  let got = ix.rows.get(r);
  if (got) return got;
  got = new Map();
  const src = m.sources[r];
  for (const ci of ix.byRow[r]) {
    const s = m.classes[ci].sockets;
    for (let x = 0; x < s.length; x += 2) {
      const c = s[x];
      // A host never makes a journey to itself.
      if (src.kind === "host" && m.targets[c].host === src.name) continue;
      if (!got.has(c)) got.set(c, new Set());
      got.get(c).add(s[x + 1]);
    }
  }
  if (ix.rows.size > 4000) ix.rows.clear();
  ix.rows.set(r, got);
  return got;
}

/** The ports text of a cell, or "" when nothing connects. */
export function cellPorts(m, r, c) {
  const socks = rowCells(m, r).get(c);
  if (!socks) return "";
  const t = m.targets[c];
  return portText([...socks].map((i) => t.sockets[i]));
}

function inRanges(ranges, r) {
  for (let x = 0; x < ranges.length; x += 2) if (r >= ranges[x] && r <= ranges[x + 1]) return true;
  return false;
}

/**
 * Pairs that connect per (row network, column network), from the classes
 * alone: a class's row ranges are cut at the networks' bounds (rows are
 * grouped by network), never walked row by row.
 */
export function blocks(m) {
  if (overviewOf && overviewOf.m === m) return overviewOf.blocks;
  const rowGroups = spans(m.sources.map((s) => s.group));
  const colGroups = spans(m.targets.map((t) => t.group));
  const rowG = new Int32Array(m.sources.length), colG = new Int32Array(m.targets.length);
  rowGroups.forEach((g, i) => rowG.fill(i, g.start, g.end));
  colGroups.forEach((g, i) => colG.fill(i, g.start, g.end));
  // The row of each column's host, as a source (-1: none).
  const rowOfHost = new Map();
  m.sources.forEach((s, r) => { if (s.kind === "host") rowOfHost.set(s.name, r); });
  const selfRow = Int32Array.from(m.targets, (t) => rowOfHost.get(t.host) ?? -1);
  const pairs = rowGroups.map(() => new Float64Array(colGroups.length));
  const inRows = [], inCount = [];
  for (const k of m.classes) {
    inRows.length = 0; inCount.length = 0;
    for (let x = 0; x < k.rows.length; x += 2) {
      const a = k.rows[x], b = k.rows[x + 1];
      for (let g = rowG[a]; g <= rowG[b]; g++) {
        const n = Math.min(b + 1, rowGroups[g].end) - Math.max(a, rowGroups[g].start);
        if (inRows.length && inRows[inRows.length - 1] === g) inCount[inCount.length - 1] += n;
        else { inRows.push(g); inCount.push(n); }
      }
    }
    for (let x = 0; x < k.sockets.length; x += 2) {
      const c = k.sockets[x], g = colG[c];
      for (let i = 0; i < inRows.length; i++) pairs[inRows[i]][g] += inCount[i];
      // A host never makes a journey to itself.
      const self = selfRow[c];
      if (self >= 0 && inRanges(k.rows, self)) pairs[rowG[self]][g] -= 1;
    }
  }
  const b = { rowGroups, colGroups, pairs };
  overviewOf = { m, blocks: b };
  return b;
}

function spans(groups) {
  const out = [];
  groups.forEach((g, i) => {
    const last = out[out.length - 1];
    if (last && last.name === g) last.end = i + 1;
    else out.push({ name: g, start: i, end: i + 1 });
  });
  return out;
}

function hostKindLabel(name) {
  const host = state.scn.hosts.find((x) => x.name === name);
  return host ? ({ host: "", router: "router", firewall: "firewall" }[host.kind] || "") : "";
}

registerTab({
  id: "matrix",
  label: "▦ Reachability matrix",
  order: 10,
  words: "matrix",
  count: () => "",
  mount(box) {
    box.append(
      h("p", { id: "matrix-caption", class: "muted" }),
      h("div", { id: "matrix-overview", class: "matrix-overview" }),
      h("div", { id: "matrix-window", class: "matrix-window" }),
      h("div", { class: "matrix-wrap" }, h("table", { id: "matrix", class: "matrix", "aria-describedby": "matrix-caption", onkeydown: keys })),
      h("p", { class: "muted matrix-keys" }, "Arrow keys move between cells (Page Up/Down by ten rows); Enter traces an example journey (or, for an empty cell, shows where it is stopped)."),
      h("div", { id: "matrix-detail", class: "matrix-detail", "aria-live": "polite" }));
    on("analysis", () => renderTab("matrix"));
    on("scenario", () => { pos = { r: 0, c: 0 }; win = { r0: 0, c0: 0 }; detail = null; details.clear(); });
  },
  render() {
    renderMatrix();
    if (detail) renderDetail(detail.r, detail.c);
  },
});

/** Whether the matrix is drawn a window at a time. */
function windowed(m) {
  return m.sources.length * m.targets.length > FULL;
}

function shown(m) {
  if (!windowed(m)) return { r0: 0, r1: m.sources.length, c0: 0, c1: m.targets.length };
  return { r0: win.r0, r1: Math.min(m.sources.length, win.r0 + WINDOW.rows), c0: win.c0, c1: Math.min(m.targets.length, win.c0 + WINDOW.cols) };
}

function moveWindow(m, r0, c0) {
  const clamp = (x, n, w) => Math.max(0, Math.min(x, Math.max(0, n - w)));
  win = { r0: clamp(r0, m.sources.length, WINDOW.rows), c0: clamp(c0, m.targets.length, WINDOW.cols) };
}

/**
 * The blocks of the overview drawn at once: past them (a scenario of 200
 * networks has 40,000 blocks, as many cells as FULL), the overview shows the
 * networks around the window, and follows it.
 */
export const OVERVIEW = { rows: 24, cols: 12 };

/** The first of `n` groups shown, `w` at a time, so that group `g` is the third shown. */
function sliceAt(g, n, w) {
  return Math.max(0, Math.min(g - 2, n - w));
}

function renderOverview(m) {
  const box = $("matrix-overview");
  const nav = $("matrix-window");
  if (!windowed(m)) { box.replaceChildren(); nav.replaceChildren(); return; }
  const b = blocks(m);
  const w = shown(m);
  const groupOf = (list, x) => list.findIndex((g) => x >= g.start && x < g.end);
  const gi0 = sliceAt(groupOf(b.rowGroups, w.r0), b.rowGroups.length, OVERVIEW.rows);
  const gj0 = sliceAt(groupOf(b.colGroups, w.c0), b.colGroups.length, OVERVIEW.cols);
  const rowGroups = b.rowGroups.slice(gi0, gi0 + OVERVIEW.rows);
  const colGroups = b.colGroups.slice(gj0, gj0 + OVERVIEW.cols);
  const part = rowGroups.length < b.rowGroups.length || colGroups.length < b.colGroups.length;
  box.replaceChildren(
    part ? h("p", { class: "muted", id: "matrix-overview-range" }, `Networks ${gi0 + 1}–${gi0 + rowGroups.length} of ${b.rowGroups.length} (sources) × ${gj0 + 1}–${gj0 + colGroups.length} of ${b.colGroups.length} (hosts), around the window; the overview follows it.`) : null,
    h("table", { class: "matrix overview", "aria-label": "Journeys per network: pick a block to show it below" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "corner" }, h("span", {}, "from ↓"), h("span", {}, "to →")),
        colGroups.map((g) => h("th", { scope: "col", class: "col-group" }, `${g.name || "(no network)"}`, h("span", { class: "kind" }, ` ${g.end - g.start} hosts`))))),
      h("tbody", {}, rowGroups.map((rg, ii) => h("tr", {},
        h("th", { scope: "row", class: "row-head" }, rg.name || "no network", h("span", { class: "kind" }, `${rg.end - rg.start} sources`)),
        colGroups.map((cg, jj) => {
          const i = gi0 + ii, j = gj0 + jj;
          const n = b.pairs[i][j];
          const here = w.r0 < rg.end && w.r1 > rg.start && w.c0 < cg.end && w.c1 > cg.start;
          return h("td", { class: `cell ${n ? "allow" : "none"}${here ? " here" : ""}`, "data-block": `${i},${j}` },
            h("button", { type: "button", class: "link", onclick: () => { moveWindow(m, rg.start, cg.start); pos = { r: rg.start, c: cg.start }; renderMatrix(); focusCell(rg.start, cg.start); } },
              n ? `✔ ${n.toLocaleString("en")} pairs` : "· none"));
        }))))));
  const step = (dr, dc) => () => { moveWindow(m, win.r0 + dr, win.c0 + dc); pos = { r: win.r0, c: win.c0 }; renderMatrix(); };
  fill(nav,
    h("span", { class: "muted", id: "matrix-range" }, `Rows ${w.r0 + 1}–${w.r1} of ${m.sources.length}, columns ${w.c0 + 1}–${w.c1} of ${m.targets.length}. `),
    h("button", { type: "button", "aria-label": "previous rows", onclick: step(-WINDOW.rows, 0), disabled: w.r0 === 0 }, "▲ rows"),
    h("button", { type: "button", "aria-label": "next rows", onclick: step(WINDOW.rows, 0), disabled: w.r1 >= m.sources.length }, "▼ rows"),
    h("button", { type: "button", "aria-label": "previous columns", onclick: step(0, -WINDOW.cols), disabled: w.c0 === 0 }, "◀ columns"),
    h("button", { type: "button", "aria-label": "next columns", onclick: step(0, WINDOW.cols), disabled: w.c1 >= m.targets.length }, "▶ columns"));
}

function renderMatrix() {
  const m = reach();
  const table = $("matrix");
  table.replaceChildren();
  $("matrix-detail").replaceChildren();
  if (!m) { $("matrix-caption").textContent = "The matrix is being computed…"; $("matrix-overview").replaceChildren(); $("matrix-window").replaceChildren(); return; }
  const changes = diffByCell();
  const v = state.variant;
  const d = answers.diff;
  const big = windowed(m);
  $("matrix-caption").textContent =
    `${m.sources.length} sources × ${m.targets.length} hosts with a listening socket: ${m.pairs.toLocaleString("en")} (source, socket) pairs connect, in ${m.classes.length.toLocaleString("en")} classes` +
    (v ? ` under ${v}` : " as written") + ". A cell lists the sockets reached, as ports per protocol; · means no journey." +
    (big ? ` The matrix has ${(m.sources.length * m.targets.length).toLocaleString("en")} cells: the overview counts the pairs per network, and the table shows ${WINDOW.rows} rows × ${WINDOW.cols} columns at a time.` : "") +
    (d ? ` + marks journeys that appear with the last toggle (${diffLabel()}: ${d.gained.length}), − those that disappear (${d.lost.length}).` : "");
  renderOverview(m);
  const w = shown(m);
  const cols = m.targets.slice(w.c0, w.c1);
  const groups = [];
  for (const t of cols) {
    const last = groups[groups.length - 1];
    if (last && last.name === t.group) last.n++;
    else groups.push({ name: t.group, n: 1 });
  }
  table.append(h("thead", {},
    h("tr", {}, h("th", { rowspan: 2, scope: "col", class: "corner" }, h("span", {}, "from ↓"), h("span", {}, "to →")),
      groups.map((g) => h("th", { colspan: g.n, scope: "colgroup", class: "col-group" }, g.name || "(no network)"))),
    h("tr", {}, cols.map((t) => h("th", { scope: "col", class: "col-host" + (t.sensitive ? " sensitive" : ""), "data-host": t.host },
      h("span", { class: "host" }, (t.sensitive ? "★ " : "") + t.host),
      h("span", { class: "socks" }, t.sockets.map((x) => socketPort(x.text)).join(" · ")))))));
  const ncols = cols.length;
  let body = null, group;
  for (let r = w.r0; r < w.r1; r++) {
    const src = m.sources[r];
    if (!body || src.group !== group) {
      group = src.group;
      body = h("tbody", {}, h("tr", { class: "row-group" }, h("th", { colspan: ncols + 1, scope: "rowgroup" }, `from ${group || "no network"}`)));
      table.append(body);
    }
    const label = src.kind === "network" ? `anyone else on ${src.name}` : hostKindLabel(src.name);
    const row = h("tr", { "data-source": src.name }, h("th", { scope: "row", class: "row-head" }, src.name, label ? h("span", { class: "kind" }, label) : null));
    for (let c = w.c0; c < w.c1; c++) {
      const t = m.targets[c];
      const ports = cellPorts(m, r, c);
      const ch = changes.get(cellKey(src.name, t.host));
      const parts = [];
      let cls = "cell";
      if (ports) {
        cls += " allow";
        parts.push(h("span", { class: "sr" }, "allowed: "), h("span", { class: "mk", "aria-hidden": "true" }, "✔ "), ports);
      } else {
        cls += " none";
        parts.push(h("span", { class: "sr" }, "no journey"), h("span", { class: "mk", "aria-hidden": "true" }, "·"));
      }
      if (ch && ch.gained.length) {
        cls += " gained";
        parts.push(h("span", { class: "delta plus" }, `+ ${portsOf(ch.gained)}${ch.gained.some((g) => !g.whole) ? " (in part)" : ""}`));
      }
      if (ch && ch.lost.length) {
        cls += " lost";
        parts.push(h("span", { class: "delta minus" }, "− ", h("s", {}, portsOf(ch.lost)), ch.lost.some((g) => !g.whole) ? " (in part)" : ""));
      }
      const rr = r, cc = c;
      row.append(h("td", { class: cls, "data-r": r, "data-c": c, "data-host": t.host, tabindex: -1, onclick: () => { focusCell(rr, cc); activate(rr, cc); } }, parts));
    }
    body.append(row);
  }
  const start = table.querySelector(`td[data-r="${pos.r}"][data-c="${pos.c}"]`) || table.querySelector("td[data-r]");
  if (start) start.tabIndex = 0;
}

function focusCell(r, c) {
  const m = reach();
  if (m && windowed(m)) {
    const w = shown(m);
    if (r < w.r0 || r >= w.r1 || c < w.c0 || c >= w.c1) {
      const r0 = r < w.r0 ? r : r >= w.r1 ? r - WINDOW.rows + 1 : w.r0;
      const c0 = c < w.c0 ? c : c >= w.c1 ? c - WINDOW.cols + 1 : w.c0;
      moveWindow(m, r0, c0);
      pos = { r, c };
      renderMatrix();
    }
  }
  const table = $("matrix");
  const td = table.querySelector(`td[data-r="${r}"][data-c="${c}"]`);
  if (!td) return;
  for (const x of table.querySelectorAll('td[tabindex="0"]')) x.tabIndex = -1;
  td.tabIndex = 0;
  td.focus();
  pos = { r, c };
}

function keys(e) {
  const td = e.target.closest && e.target.closest("td[data-r]");
  if (!td) return;
  const m = reach();
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
    activate(r, c);
  }
}

async function activate(r, c) {
  const body = await renderDetail(r, c);
  return body && traceBody(body);
}

// The detail of a cell: the narrowed question, asked once per (variant, row, column).
const details = new Map();

async function cellDetail(src, t) {
  const v = state.variant;
  const key = `${v}\u0000${src.name}\u0000${t.host}`;
  if (details.size > 200) details.clear();
  if (!details.has(key)) {
    const enc = encodeURIComponent;
    details.set(key, api("GET", `/api/reach?from=${enc(src.name)}&to=${enc(t.host)}&cells=true${v ? `&variant=${enc(v)}` : ""}`).then((a) => {
      if (!a.ok) { details.delete(key); throw new Error(apiError(a)); }
      return a.json.cells.find((x) => x.source === src.name && x.host === t.host) || null;
    }));
  }
  return details.get(key);
}

async function renderDetail(r, c) {
  const m = reach();
  const src = m.sources[r], t = m.targets[c];
  const box = $("matrix-detail");
  const mine = `${src.name} -> ${t.host}`;
  box.dataset.pending = mine;
  let cell = null, problem = null;
  if (cellPorts(m, r, c)) {
    try { cell = await cellDetail(src, t); } catch (e) { problem = String(e.message || e); }
  }
  if (box.dataset.pending !== mine || reach() !== m) return null;
  delete box.dataset.pending;
  const ch = diffByCell().get(cellKey(src.name, t.host));
  const v = state.variant;
  const ports = cellPorts(m, r, c);
  const sw = stageWords(ports ? "socket" : "filter");
  const parts = [h("h3", {}, `${src.kind === "network" ? `anyone else on ${src.name}` : src.name} → ${t.host}`, " ",
    ports ? h("span", { class: "badge v-ok" }, "✔ ", ports) : h("span", { class: "badge v-bad" }, "✖ no journey")),
  sw ? h("p", { class: "stage-words" }, h("span", { class: "layer-tag" }, layerName(state.layer)), " ", sw) : null];
  if (problem) parts.push(h("p", { class: "muted" }, `The detail of this cell could not be fetched: ${problem}`));
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
        h("p", {}, h("strong", {}, `${sign} ${g.socket} ${word} (${diffLabel()})${g.whole ? "" : " (in part)"}`),
          `: before ${g.as_written || "?"}, now ${g.under_variant || "?"}. Example ${exampleLine(g.example)}.`),
        responsibleList(g.responsible),
        traceButton(g.trace, "▶ Trace it")));
      if (!first && kind === "lost") first = g.trace;
    }
  }
  let body = first;
  if (!body) {
    const sock = t.sockets[0];
    body = { from: src.name, to: `${t.host}:${sock.port}`, proto: sock.proto };
    parts.push(h("p", { class: "muted" }, `No packet from ${src.name} reaches a socket of ${t.host}${v ? ` under ${v}` : ""}. The trace to ${sock.text} shows where it stops.`),
      traceButton(body, `▶ Trace ${src.name} → ${t.host}:${sock.port}`));
  }
  fill(box, parts);
  box.dataset.cell = mine;
  box.dataset.layer = String(state.layer);
  detail = { r, c };
  return body;
}
