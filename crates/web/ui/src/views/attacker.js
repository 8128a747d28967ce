// The attacker's view: a host assumed compromised, what it takes over hop
// after hop, and the shortest attack path to each sensitive host. The map
// draws each step along the devices its request crosses.
import { $, h, fill, plural, status } from "../core/dom.js";
import { api, apiError } from "../core/api.js";
import { state, on, emit } from "../core/state.js";
import { registerTab, render as renderTab, selectTab } from "./tabs.js";
import { exampleLine, traceButton } from "./matrix.js";

const atk = { foot: null, from: null, depth: 1 };

registerTab({
  id: "attacker",
  label: "☠ Attacker view",
  order: 30,
  words: "attacker",
  mount(el) {
    el.append(
      h("form", { id: "attacker-form", class: "attacker-form", autocomplete: "off", onsubmit: (e) => { e.preventDefault(); const n = $("foothold").value; if (n) run(n); else status("Choose a host to assume compromised."); } },
        h("label", {}, "Foothold (a host assumed compromised) ", h("select", { id: "foothold", onchange: () => { if ($("foothold").value) run($("foothold").value); } })),
        h("button", { type: "submit", id: "foothold-go", class: "primary" }, "Assume compromised"),
        h("button", { type: "button", id: "foothold-pick", "aria-pressed": "false", onclick: togglePick }, "Pick on the map"),
        h("button", { type: "button", id: "foothold-clear", onclick: clear }, "Clear")),
      h("div", { id: "attacker-steps", class: "attacker-steps", role: "toolbar", "aria-label": "Steps of the attack", hidden: true },
        h("button", { type: "button", id: "atk-less", "aria-label": "One step fewer", onclick: () => { atk.depth = Math.max(1, atk.depth - 1); show(); } }, "◀ Fewer steps"),
        h("span", { id: "atk-depth", class: "position", "aria-live": "polite" }),
        h("button", { type: "button", id: "atk-more", "aria-label": "One step more", onclick: () => { atk.depth = Math.min(atk.foot.depth, atk.depth + 1); show(); } }, "More steps ▶")),
      h("div", { id: "attacker", class: "attacker", "aria-live": "polite" }));
    on("scenario", () => {
      atk.foot = null;
      atk.from = null;
      const sel = $("foothold");
      fill(sel, h("option", { value: "" }, "(choose a host)"), state.scn.hosts.map((x) => h("option", { value: x.name }, (x.sensitive ? "★ " : "") + x.name)));
      show();
    });
    on("variant", () => { if (atk.from) run(atk.from); });
    on("foothold-picked", (host) => {
      $("foothold-pick").setAttribute("aria-pressed", "false");
      selectTab("attacker");
      run(host.name);
    });
  },
  render() {
    renderAttacker();
  },
});

function togglePick() {
  const onNow = state.pick !== "foothold";
  state.pick = onNow ? "foothold" : "from";
  $("foothold-pick").setAttribute("aria-pressed", String(onNow));
  $("pick-hint").textContent = onNow ? "click (or press Enter on) the host an attacker holds" : "click a host: first the source, then the destination";
}

function clear() {
  atk.foot = null;
  atk.from = null;
  $("foothold").value = "";
  show();
}

async function run(name) {
  const v = state.variant;
  const r = await api("GET", `/api/foothold?from=${encodeURIComponent(name)}${v ? `&variant=${encodeURIComponent(v)}` : ""}`);
  if (!r.ok) {
    atk.foot = null;
    $("attacker").replaceChildren(h("p", { class: "error" }, apiError(r)));
    emit("attack", null);
    return;
  }
  const keep = atk.foot && atk.foot.from === name;
  atk.foot = r.json;
  atk.from = name;
  atk.depth = keep ? Math.min(atk.depth, r.json.depth) : Math.min(1, r.json.depth);
  $("foothold").value = name;
  show();
}

function show() {
  renderTab("attacker");
  emit("attack", atk.foot ? { f: atk.foot, depth: atk.depth } : null);
}

function takeoverEdge(f, r) {
  if (r.path.length < 2) return null;
  const from = r.path[r.path.length - 2];
  return f.edges.find((e) => e.from === from && e.to === r.host) || null;
}

function edgeLine(e) {
  const via = e.devices && e.devices.length > 2 ? ` through ${e.devices.slice(1, -1).join(", ")}` : "";
  return [h("code", {}, e.foothold || e.sockets.join(", ")), " from ", e.from, via,
    h("span", { class: "muted" }, ` — e.g. ${exampleLine(e.example)} via ${e.rules.length ? e.rules.join(", ") : "no filter"}`)];
}

function renderAttacker() {
  const f = atk.foot;
  const box = $("attacker");
  $("attacker-steps").hidden = !f;
  if (!f) {
    fill(box, h("p", { class: "muted" }, "Pick a host to assume compromised: the page shows what it reaches, step after step, and the shortest attack path to each sensitive host; the map draws each step along the devices it crosses."));
    box.dataset.from = "";
    return;
  }
  const D = atk.depth;
  $("atk-depth").textContent = f.depth ? `step ${D} of ${f.depth}` : "no step: nothing to take over";
  $("atk-less").disabled = D <= 1;
  $("atk-more").disabled = D >= f.depth;
  const taken = f.compromised.filter((r) => r.depth > 0);
  const jewelsIn = f.jewels.filter((j) => j.path && j.path.length > 1);
  const radius = state.layer === 1
    ? `If a burglar takes over ${f.from}, they can get into ${plural(taken.length, "more house")}, in at most ${plural(f.depth, "step")}; ${jewelsIn.length} of the ${plural(f.jewels.length, "star house")} (★) ${jewelsIn.length === 1 ? "is" : "are"} in reach. A door with someone answering behind it lets them in; a door that only answers back does not.`
    : `Blast radius: ${plural(taken.length, "host")} can be taken over, in at most ${plural(f.depth, "step")}; ${jewelsIn.length} of ${plural(f.jewels.length, "sensitive host")} in reach. A TCP service reached gives a foothold; UDP and ICMP are reached but give none.` +
      (state.layer === 3 ? " Each step names the rules that allow it: those are the lines to narrow." : state.layer === 4 ? " Every step is authority the network grants to whoever holds the host before it." : "");
  const parts = [h("h3", {}, `If ${f.from} is compromised${f.variant ? ` (under ${f.variant})` : ""}`), h("p", { class: "radius" }, radius)];
  for (let d = 1; d <= D; d++) {
    const at = taken.filter((r) => r.depth === d);
    parts.push(h("h4", {}, `Step ${d}`), h("ol", { class: "hops", "data-depth": d }, at.map((r) => {
      const e = takeoverEdge(f, r);
      return h("li", { "data-host": r.host }, h("strong", {}, (r.sensitive ? "★ " : "") + r.host), " taken through ",
        e ? edgeLine(e) : "?", " ", e && e.trace ? traceButton(e.trace, "▶ Trace") : null);
    })));
  }
  const noFoot = f.direct.filter((e) => !e.foothold);
  if (noFoot.length) parts.push(h("h4", {}, "Reached directly, without a foothold"), h("ul", {}, noFoot.map((e) => h("li", {}, e.to, ": ", e.sockets.join(", ")))));
  parts.push(h("h4", {}, "Shortest attack path to each sensitive host"));
  if (!f.jewels.length) parts.push(h("p", { class: "muted" }, "No host is marked sensitive: true."));
  parts.push(h("ul", { class: "jewels" }, f.jewels.map((j) => {
    if (!j.path) return h("li", { "data-jewel": j.host, class: "safe" }, h("strong", {}, `★ ${j.host}`), ": out of reach from ", f.from, ".");
    if (j.path.length === 1) return h("li", { "data-jewel": j.host }, h("strong", {}, `★ ${j.host}`), " is the compromised host itself.");
    const hops = j.path.length - 1;
    return h("li", { "data-jewel": j.host, class: "exposed" }, h("strong", {}, `★ ${j.host}`),
      `: ${plural(hops, "step")}: `, h("span", { class: "attack-path" }, j.path.join(" → ")),
      hops > D ? h("span", { class: "muted" }, ` (beyond the ${plural(D, "step")} shown)`) : null,
      h("ol", {}, j.edges.map((e) => h("li", {}, `${e.from} → ${e.to}: `, edgeLine(e), " ", e.trace ? traceButton(e.trace, "▶ Trace") : null))));
  })));
  fill(box, parts);
  box.dataset.from = f.from;
  box.dataset.depth = String(D);
  box.dataset.layer = String(state.layer);
}
