// Break / harden: each declared variant is a toggle. Two can be on at once
// and stack in declaration order (`break+harden`: harden on top of break);
// turning on a third replaces the one turned on first. Every toggle keeps
// what was on screen before it (`prevVariant`) for the changes view.
import { $, h, fill } from "../core/dom.js";
import { state, on, emit } from "../core/state.js";

const toggledAt = new Map();
let clock = 0;

export function initVariants() {
  on("scenario", () => {
    state.variants = [];
    state.variant = "";
    state.prevVariant = "";
    toggledAt.clear();
    render();
  });
}

function glyph(name) {
  return name === "break" ? "⚡ " : name === "harden" ? "▲ " : "";
}

/** The stack of the variants on, as the API names it. */
function stackOf(names) {
  const order = state.scn.variants.map((v) => v.name);
  return names.slice().sort((a, b) => order.indexOf(a) - order.indexOf(b)).join("+");
}

export function setVariants(names) {
  const next = stackOf(names);
  if (next === state.variant) return;
  state.prevVariant = state.variant;
  state.variants = next ? next.split("+") : [];
  state.variant = next;
  render();
  emit("variant");
}

/** Makes the stack `variant` (`""`, `break`, `break+harden`) the one on screen. */
export function setVariant(variant) {
  const names = variant ? variant.split("+") : [];
  for (const n of names) toggledAt.set(n, ++clock);
  setVariants(names);
}

function toggle(name) {
  let on = state.variants.slice();
  if (on.includes(name)) {
    on = on.filter((n) => n !== name);
  } else {
    on.push(name);
    toggledAt.set(name, ++clock);
    if (on.length > 2) {
      on.sort((a, b) => (toggledAt.get(a) || 0) - (toggledAt.get(b) || 0));
      on.shift();
    }
  }
  setVariants(on);
}

function render() {
  const box = $("variants");
  const scn = state.scn;
  fill(box,
    h("button", { type: "button", class: "variant", "aria-pressed": String(!state.variant), "data-variant": "", onclick: () => setVariants([]) }, "as written"),
    scn.variants.map((v) => h("button", {
      type: "button", class: `variant variant-${v.name}`, "data-variant": v.name,
      "aria-pressed": String(state.variants.includes(v.name)), title: v.why,
      onclick: () => toggle(v.name),
    }, glyph(v.name) + v.name)));
  const on = scn.variants.filter((v) => state.variants.includes(v.name));
  fill($("variant-why"),
    on.length
      ? h("span", {}, on.map((v, i) => [i ? h("br") : null, h("strong", {}, `${v.name}: `), v.why]), on.length > 1 ? h("span", { class: "muted" }, ` (${state.variant}: ${on[1].name} on top of ${on[0].name})`) : null)
      : scn.variants.length ? "Toggle a variant to see which journeys appear or disappear; break and harden can be on together." : "This scenario has no variants.");
  box.dataset.variant = state.variant;
}
