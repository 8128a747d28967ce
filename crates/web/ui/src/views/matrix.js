// The reachability matrix: every source against every host that listens,
// the ports reached in each cell, and the journeys the last toggle added (+)
// or removed (−). Arrow keys move; Enter traces an example journey.
import { $, h, fill } from "../core/dom.js";
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
      h("div", { class: "matrix-wrap" }, h("table", { id: "matrix", class: "matrix", "aria-describedby": "matrix-caption", onkeydown: keys })),
      h("p", { class: "muted matrix-keys" }, "Arrow keys move between cells; Enter traces an example journey (or, for an empty cell, shows where it is stopped)."),
      h("div", { id: "matrix-detail", class: "matrix-detail", "aria-live": "polite" }));
    on("analysis", () => renderTab("matrix"));
    on("scenario", () => { pos = { r: 0, c: 0 }; detail = null; });
  },
  render() {
    renderMatrix();
    if (detail) renderDetail(detail.r, detail.c);
  },
});

function renderMatrix() {
  const m = reach();
  const table = $("matrix");
  table.replaceChildren();
  $("matrix-detail").replaceChildren();
  if (!m) { $("matrix-caption").textContent = "The matrix is being computed…"; return; }
  const cells = new Map(m.cells.map((c) => [cellKey(c.source, c.host), c]));
  const changes = diffByCell();
  const v = state.variant;
  const d = answers.diff;
  $("matrix-caption").textContent =
    `${m.sources.length} sources × ${m.targets.length} hosts with a listening socket: ${m.cells.length} pairs connect` +
    (v ? ` under ${v}` : " as written") + ". A cell lists the sockets reached, as ports per protocol; · means no journey." +
    (d ? ` + marks journeys that appear with the last toggle (${diffLabel()}: ${d.gained.length}), − those that disappear (${d.lost.length}).` : "");
  const groups = [];
  for (const t of m.targets) {
    const last = groups[groups.length - 1];
    if (last && last.name === t.group) last.n++;
    else groups.push({ name: t.group, n: 1 });
  }
  table.append(h("thead", {},
    h("tr", {}, h("th", { rowspan: 2, scope: "col", class: "corner" }, h("span", {}, "from ↓"), h("span", {}, "to →")),
      groups.map((g) => h("th", { colspan: g.n, scope: "colgroup", class: "col-group" }, g.name || "(no network)"))),
    h("tr", {}, m.targets.map((t) => h("th", { scope: "col", class: "col-host" + (t.sensitive ? " sensitive" : ""), "data-host": t.host },
      h("span", { class: "host" }, (t.sensitive ? "★ " : "") + t.host),
      h("span", { class: "socks" }, t.sockets.map((x) => socketPort(x.text)).join(" · ")))))));
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
        parts.push(h("span", { class: "delta plus" }, `+ ${portsOf(ch.gained)}${ch.gained.some((g) => !g.whole) ? " (in part)" : ""}`));
      }
      if (ch && ch.lost.length) {
        cls += " lost";
        parts.push(h("span", { class: "delta minus" }, "− ", h("s", {}, portsOf(ch.lost)), ch.lost.some((g) => !g.whole) ? " (in part)" : ""));
      }
      row.append(h("td", { class: cls, "data-r": r, "data-c": c, "data-host": t.host, tabindex: -1, onclick: () => { focusCell(r, c); activate(r, c); } }, parts));
    });
    body.append(row);
  });
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

function activate(r, c) {
  return traceBody(renderDetail(r, c));
}

function renderDetail(r, c) {
  const m = reach();
  const src = m.sources[r], t = m.targets[c];
  const cell = m.cells.find((x) => x.source === src.name && x.host === t.host);
  const ch = diffByCell().get(cellKey(src.name, t.host));
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
  const box = $("matrix-detail");
  fill(box, parts);
  box.dataset.cell = `${src.name} -> ${t.host}`;
  box.dataset.layer = String(state.layer);
  detail = { r, c };
  return body;
}
