// Lessons, in the side panel beside the map: the course's sections at the
// layer on screen, the diagram (drawn by mermaid), predict-then-see questions
// run live on the lesson's own scenario, and hands-on steps with a "Run
// this" button for the journeys they name.
import { $, h, fill, status } from "../core/dom.js";
import { api, apiError } from "../core/api.js";
import { state, on } from "../core/state.js";
import { OUTCOME_WORD, choiceWords, layerName, traceCommand } from "../core/words.js";
import { renderMarkdown, renderInline } from "../core/markdown.js";
import { drawDiagram } from "../core/diagram.js";
import { setVariant } from "./variants.js";
import { fillQuestion, runTrace } from "./journey.js";

let setScenario = null;
let welcome = false;

export function initLessons(onScenario) {
  setScenario = onScenario;
  for (const t of document.querySelectorAll(".side-tabs [role=tab]")) {
    t.addEventListener("click", () => openSide(t.id === "side-tab-lesson" ? "lesson" : "trace"));
  }
  document.querySelector(".side-tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    e.preventDefault();
    openSide($("side-tab-lesson").getAttribute("aria-selected") === "true" ? "trace" : "lesson", true);
  });
  on("layer", render);
  on("scenario", render);
  on("words", render);
  renderList();
}

/** Shows one of the side panel's tabs: `trace` (the journey) or `lesson`. */
export function openSide(which, focus = false) {
  for (const [id, panel, name] of [["side-tab-trace", "side-trace", "trace"], ["side-tab-lesson", "side-lesson", "lesson"]]) {
    const on = name === which;
    $(id).setAttribute("aria-selected", String(on));
    $(id).tabIndex = on ? 0 : -1;
    $(panel).hidden = !on;
    if (on && focus) $(id).focus();
  }
}

export function renderList() {
  const box = $("lesson-list");
  fill(box, state.lessons.map((l) => {
    const layer = l.layers.find((x) => x.level === state.layer);
    return h("li", {}, h("button", {
      type: "button", class: "link" + (state.lesson && state.lesson.id === l.id ? " open" : ""), "data-lesson": l.id,
      title: layer ? layer.takeaway : l.summary, onclick: () => openLesson(l.id),
    }, l.title), h("span", { class: "muted" }, ` · ${l.scenario}`));
  }));
}

function onLessonScenario(lesson) {
  return !!state.scn && state.scn.file === lesson.scenario_file &&
    (lesson.scenario_source == null || state.scn.source === lesson.scenario_source);
}

/** Makes the lesson's scenario the one in use: true if loaded, false if it was there, null on an error. */
async function useLessonScenario(lesson) {
  if (onLessonScenario(lesson)) return false;
  const r = await api("POST", `/api/lessons/${encodeURIComponent(lesson.id)}/scenario`);
  if (!r.ok) { status(apiError(r)); return null; }
  setScenario(r.json);
  $("example-select").value = lesson.builtin_scenario ? lesson.scenario : "";
  return true;
}

/** Opens a lesson in the side panel, in view; `first` greets a first visit. */
export async function openLesson(id, { first = false } = {}) {
  const r = await api("GET", `/api/lessons/${encodeURIComponent(id)}`);
  if (!r.ok) { status(apiError(r)); return; }
  const lesson = r.json;
  if (await useLessonScenario(lesson) === null) return;
  state.lesson = lesson;
  welcome = first;
  openSide("lesson");
  render();
  const box = $("lesson");
  const side = document.querySelector(".side");
  const stacked = getComputedStyle(side).overflowY !== "auto";
  if (stacked) {
    // The side panel is below the map: bring the lesson's top into view.
    const top = box.getBoundingClientRect().top;
    if (top < 0 || top > innerHeight * 0.4) scrollTo({ top: scrollY + top - 8, behavior: "instant" });
  } else {
    // Beside the map: the side panel scrolls to the lesson's top, the page stays.
    side.scrollTop = box.offsetTop - side.offsetTop - 6;
  }
  box.focus({ preventScroll: true });
  status(`Lesson: ${lesson.title}`);
}

function closeLesson() {
  state.lesson = null;
  welcome = false;
  render();
}

const predictionKey = (lesson, layer, i) => `${lesson.id}|${layer.level}|${i}`;

function verdictOf(choice, kind) {
  if (choice === kind) return "right";
  return choice !== "reached" && kind !== "reached" ? "partly" : "wrong";
}

function outcomeBadge(kind) {
  return h("span", { class: "badge " + (kind === "reached" ? "v-ok" : "v-bad") }, OUTCOME_WORD[kind] || kind);
}

function render() {
  renderList();
  const box = $("lesson");
  const l = state.lesson;
  box.hidden = !l;
  if (!l) return;
  const layer = l.layers.find((x) => x.level === state.layer) || l.layers[0];
  const own = onLessonScenario(l);
  box.dataset.ownScenario = String(own);
  box.dataset.lesson = l.id;
  box.dataset.layer = String(layer.level);
  const section = (title, text, cls) => (text ? [h("dt", { class: cls }, title), h("dd", { class: cls }, renderInline(text))] : null);
  const diagram = h("figure", { class: "diagram", "data-state": "waiting" }, h("pre", { class: "diagram-text" }, layer.diagram));
  fill(box,
    h("header", { class: "lesson-head" },
      h("h2", {}, l.title, " ", h("span", { class: "layer-tag" }, layerName(layer.level))),
      h("button", { type: "button", class: "close-lesson", onclick: closeLesson }, "Close lesson")),
    welcome ? h("div", { class: "welcome" },
      h("p", {}, h("strong", {}, "Welcome. "), "This lesson is told for a school student (layer 1); the layer switch at the top tells it again for a university student, an engineer and a security architect."),
      h("ol", {},
        h("li", {}, "Read the picture below, then choose what you expect in the first question and press See."),
        h("li", {}, "Watch the letter move on the map: press Step ▶ (or →) and read the card under the map at each checkpoint."),
        h("li", {}, "Then try the hands-on steps: each has a Run this button."))) : null,
    own ? null : h("p", { class: "lesson-scenario changed" },
      h("strong", {}, "⚠ Another scenario is in use. "),
      `This lesson is about ${l.scenario_file}; the page now shows ${state.scn ? state.scn.file : "another scenario"}${state.scn && state.scn.file === l.scenario_file ? " as edited" : ""}. Its questions run on ${l.scenario_file}, and load it again when you run one. `,
      h("button", { type: "button", class: "link", onclick: async () => { if (await useLessonScenario(l)) status(`Loaded ${l.scenario_file}, the scenario of ${l.title}.`); } }, `Load ${l.scenario_file} now`)),
    h("p", { class: "takeaway" }, h("strong", {}, "Key takeaway: "), renderInline(layer.takeaway)),
    h("dl", { class: "lesson-facets" },
      section("Security lens", layer.security_lens, "security-lens"),
      section("Trust question", layer.trust_question, "trust-question"),
      section("Failure mode", layer.failure_mode, "failure-mode")),
    h("div", { class: "lesson-body" }, renderMarkdown(layer.body)),
    h("h3", {}, "Diagram"), diagram,
    h("h3", {}, "Predict, then see"),
    h("p", { class: "muted" }, "Choose what you expect, then See: the engine traces the journey live and the map plays it."),
    h("ol", { class: "predictions" }, layer.predict.map((p, i) => predictionItem(l, layer, p, i))),
    h("h3", {}, "Hands on"),
    h("ol", { class: "hands-on" }, layer.hands_on.map((step, i) => h("li", { "data-index": i },
      renderInline(step.text),
      step.run ? h("div", { class: "run-step" },
        h("button", { type: "button", class: "run-this", onclick: () => runStep(l, step.run) }, "▶ Run this"),
        layer.level >= 2 ? h("code", { class: "run-command" }, traceCommand(step.run, step.run.variant)) : h("span", { class: "muted" }, ` ${step.run.from} → ${step.run.to}${step.run.variant ? `, with ${step.run.variant}` : ""}`)) : null))),
    h("div", { class: "regression" },
      h("h4", {}, layer.level === 1 ? "The promise that keeps it safe" : "Regression check"),
      h("p", {}, h("code", {}, layer.regression), " ",
        h("span", { class: "muted" }, layer.level === 1
          ? `is written in ${l.scenario_file}'s rule book: the break would have broken it, the hardening keeps it.`
          : `is an \`expect:\` line of ${l.scenario_file}: it fails under break and holds under harden (checked when the lesson was loaded).`))),
    h("dl", { class: "lesson-facets" },
      section("Attacker's goal", layer.attacker_goal, "attacker-goal"),
      section("Mental model", layer.mental_model, "mental-model"),
      section("Why this matters in real systems", layer.why_it_matters, "why-it-matters"),
      section("How engineers get this wrong", layer.engineers_get_wrong, "engineers-get-wrong")),
    h("h3", {}, "Common misconceptions"),
    h("ul", { class: "misconceptions" }, layer.misconceptions.map((m) => h("li", {}, renderInline(m)))),
    h("div", { class: "incident" },
      h("h3", {}, "A real incident: ", layer.incident.name),
      h("p", {}, renderInline(layer.incident.text)),
      h("p", {}, h("a", { href: layer.incident.source, target: "_blank", rel: "noopener noreferrer", class: "source" }, "Source: ", layer.incident.source))),
    h("div", { class: "signal" }, h("h3", {}, "One signal to watch on call"), h("p", {}, renderInline(layer.signal))),
  );
  if (state.words) drawDiagram(diagram, layer.diagram);
}

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
      (lesson.choices || []).map((k) => h("label", {},
        h("input", { type: "radio", name, value: k, checked: saved.choice === k, onchange: () => choose(k) }),
        " ", h("span", { class: "choice-word" }, (OUTCOME_WORD[k] || k) + ": "), choiceWords(k)))),
    h("button", { type: "button", class: "see", onclick: () => see(lesson, layer, p, i, li, reveal) },
      `See: run ${p.established ? "a packet of an earlier connection " : ""}${p.from} → ${p.to}${p.sport ? ` from port ${p.sport}` : ""}${p.via ? ` via ${p.via}` : ""}${p.variant ? ` with ${p.variant}` : ""}`),
    reveal);
  if (saved.result) fillReveal(reveal, saved, p, li);
  return li;
}

function fillReveal(reveal, entry, p, li) {
  const { choice, result } = entry;
  const v = verdictOf(choice, result.kind);
  const agrees = p.answer === result.kind && (!p.at || p.at === result.at);
  li.dataset.verdict = v;
  reveal.dataset.verdict = v;
  fill(reveal,
    h("p", { class: `verdict ${v}` }, v === "right" ? "✔ You were right." : v === "partly" ? "≈ Half right: it does not get through, but it ends another way than you said." : "✖ Not this time."),
    h("dl", { class: "compare" },
      h("dt", {}, "You predicted"), h("dd", { "data-what": "choice" }, outcomeBadge(choice)),
      h("dt", {}, "The lesson's answer"), h("dd", { "data-what": "lesson" }, outcomeBadge(p.answer), p.at ? ` at ${p.at}` : ""),
      h("dt", {}, "The engine, live"), h("dd", { "data-what": "engine" }, outcomeBadge(result.kind), result.at ? ` at ${result.at}` : "", " — ", renderInline(result.text))),
    agrees ? null : h("p", { class: "error" }, "The lesson and the engine disagree: the trace shows what the network does."),
    h("p", { class: "explain" }, renderInline(p.explain)),
    h("p", { class: "muted" }, "The journey is on the map: step through it (→) and read the card under the map at each hop."));
}

/** Traces a journey of the lesson on its scenario, under its variant. */
async function traceForLesson(lesson, q, variant) {
  const reloaded = await useLessonScenario(lesson);
  if (reloaded === null) return { error: `The lesson's scenario ${lesson.scenario_file} could not be loaded: ${$("status").textContent}` };
  if ((variant || "") !== state.variant) {
    // The variant listener would trace the previous question again: this one replaces it.
    state.query = null;
    setVariant(variant || "");
  }
  fillQuestion(q);
  const t = await runTrace(q);
  return { t, reloaded };
}

function questionOf(p) {
  const q = { from: p.from, to: p.to, proto: p.proto || "tcp" };
  if (p.via) q.via = p.via;
  if (p.ipv6) q.ipv6 = true;
  if (p.sport) q.sport = p.sport;
  if (p.established) q.established = true;
  return q;
}

async function see(lesson, layer, p, i, li, reveal) {
  const key = predictionKey(lesson, layer, i);
  const saved = state.predictions.get(key) || {};
  if (!saved.choice) {
    reveal.replaceChildren(h("p", { class: "error" }, "Choose what you expect first, then see."));
    reveal.dataset.verdict = "none";
    const first = li.querySelector('input[type="radio"]');
    if (first) first.focus();
    return;
  }
  const { t, error, reloaded } = await traceForLesson(lesson, questionOf(p), p.variant);
  const here = li.isConnected ? { li, reveal } : current(layer, i);
  if (error || !t) {
    if (here) here.reveal.replaceChildren(h("p", { class: "error" }, error || `The engine could not trace it: ${$("trace-error").textContent}`));
    return;
  }
  // The engine's answer in the words of the question's layer.
  const tl = state.journey && state.journey.told ? state.journey.told[layer.level - 1] : null;
  const entry = { choice: saved.choice, result: { kind: t.outcome.kind, at: t.outcome.at, text: tl ? tl.outcome.headline : t.outcome.text } };
  state.predictions.set(key, entry);
  if (here) fillReveal(here.reveal, entry, p, here.li);
  status(`${reloaded ? `Loaded ${lesson.scenario_file} again, the lesson's scenario. ` : ""}You predicted ${saved.choice}; the engine says ${t.outcome.kind}.`);
}

async function runStep(lesson, run) {
  const { t, error } = await traceForLesson(lesson, questionOf(run), run.variant);
  if (error) status(error);
  else if (t) status(`Ran ${run.from} → ${run.to}${run.variant ? ` with ${run.variant}` : ""}: ${t.outcome.text}. Step through it on the map.`);
}

function current(layer, i) {
  const li = document.querySelector(`#lesson li.prediction[data-level="${layer.level}"][data-index="${i}"]`);
  return li ? { li, reveal: li.querySelector(".reveal") } : null;
}
