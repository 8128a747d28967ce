// pathproof serve: the page. ES modules, one per view; every verdict shown
// comes from the engine (docs/api.md), the page only lays it out.
//
//   core/   the API, the shared state and its events, words, Markdown, diagrams
//   views/  the map and its layout, the journey (form, player, outcome), the
//           hop card, variants, lessons, the YAML editor, and the tabs under
//           the map (matrix, changes, attacker, expected journeys, traffic
//           over time)
//
// A new view under the map is a module that calls `registerTab` and is
// imported below; nothing else needs to know about it.
import { $, h, fill, status } from "./core/dom.js";
import { api } from "./core/api.js";
import { state, emit, on } from "./core/state.js";
import { layerName } from "./core/words.js";
import { renderMarkdown, renderInline } from "./core/markdown.js";
import { initMap } from "./views/map.js";
import { initHopCard } from "./views/hopcard.js";
import { initJourney, goTo, stop, play } from "./views/journey.js";
import { initVariants } from "./views/variants.js";
import { initEditor } from "./views/editor.js";
import { initLessons, openLesson, renderList } from "./views/lessons.js";
import { initAnalysis } from "./views/analysis.js";
import { initTabs } from "./views/tabs.js";
// The views under the map register themselves as tabs.
import "./views/matrix.js";
import "./views/changes.js";
import "./views/attacker.js";
import "./views/expectations.js";
import "./views/simulate.js";

state.pick = "from";

// The Markdown renderer, for the console and the browser tests.
window.pathproof = { renderMarkdown, renderInline };

function setScenario(scn) {
  state.scn = scn;
  state.baseline.clear();
  $("scenario-about").textContent = `${scn.name} (${scn.file}): ${scn.about}`;
  // The picker names what is on screen: a built-in by its name, else the file.
  const sel = $("example-select");
  const builtIn = [...sel.options].some((o) => o.value && o.value === scn.name);
  sel.value = builtIn ? scn.name : "";
  if (sel.options[0]) sel.options[0].textContent = builtIn ? "(a file)" : `${scn.name} (${scn.file})`;
  emit("scenario");
}

function setLayer(n) {
  state.layer = n;
  for (const r of document.querySelectorAll('input[name="layer"]')) r.checked = Number(r.value) === n;
  document.body.dataset.layer = String(n);
  try { localStorage.setItem("pathproof.layer", String(n)); } catch { /* private mode */ }
  emit("layer");
}

async function loadExamples() {
  const r = await api("GET", "/api/examples");
  const sel = $("example-select");
  fill(sel, h("option", { value: "" }, "(a file)"), (r.json || []).map((e) => h("option", { value: e.name, title: e.teaches }, e.name)));
}

function wire() {
  for (const r of document.querySelectorAll('input[name="layer"]')) r.addEventListener("change", () => setLayer(Number(r.value)));
  $("example-select").addEventListener("change", async (e) => {
    const name = e.target.value;
    if (!name) return;
    const r = await api("POST", `/api/scenario/example/${encodeURIComponent(name)}`);
    if (r.ok) { setScenario(r.json); status(`Loaded the built-in ${name}.`); }
    else status((r.json && r.json.error) || r.text);
  });
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest && e.target.closest("#matrix, [role=tablist]")) return;
    if (["1", "2", "3", "4"].includes(e.key)) { setLayer(Number(e.key)); return; }
    if (!state.journey) return;
    const n = state.journey.trace.hops.length;
    if (e.key === "ArrowRight") { e.preventDefault(); stop(); goTo(state.step + 1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); stop(); goTo(state.step - 1); }
    else if (e.key === "Home") { stop(); goTo(0); }
    else if (e.key === "End") { stop(); goTo(n - 1); }
    else if (e.key === "p") (state.playing ? stop() : play());
  });
}

function firstVisit() {
  try {
    if (localStorage.getItem("pathproof.visited")) return false;
    localStorage.setItem("pathproof.visited", "1");
  } catch { /* private mode: every visit is a first one */ }
  return true;
}

async function main() {
  // Ask for everything first: the requests travel while the page wires itself up.
  const loading = Promise.all([api("GET", "/api/words"), api("GET", "/api/lessons"), loadExamples(), api("GET", "/api/scenario")]);
  initMap();
  initHopCard();
  initJourney();
  initVariants();
  initEditor(setScenario);
  initLessons(setScenario);
  initAnalysis();
  initTabs();
  wire();
  let layer = 1;
  try { layer = Number(localStorage.getItem("pathproof.layer")) || 1; } catch { /* private mode */ }
  const [words, lessons, , scn] = await loading;
  if (words.ok) state.words = words.json;
  if (lessons.ok) state.lessons = lessons.json;
  for (const label of document.querySelectorAll(".layers label")) {
    const n = Number(label.querySelector("input").value);
    label.querySelector("span").textContent = `${n} ${layerName(n)}`;
  }
  setLayer(layer);
  emit("words");
  renderList();
  setScenario(scn.json);
  const mapDrawn = new Promise((ok) => on("map-drawn", ok));
  if (firstVisit() && state.lessons.length) await openLesson(state.lessons[0].id, { first: true });
  await mapDrawn;
  document.body.dataset.ready = "true";
  performance.mark("pathproof-ready");
  const filled = () => performance.getEntriesByName("pathproof-matrix").length && performance.getEntriesByName("pathproof-expectations").length;
  const watch = () => (filled() ? (document.body.dataset.complete = "true") : setTimeout(watch, 20));
  watch();
}

main().catch((e) => status(`The page failed to start: ${e.message}`));
