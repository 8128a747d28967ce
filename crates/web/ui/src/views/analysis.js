// The engine's answers about every journey, kept for the views that show
// them: the reachability matrix as written and under the variants on screen,
// and the diff between the variants on screen now and those before the last
// toggle (docs/api.md: /api/reach, /api/diff?variant=&base=).
import { $, status } from "../core/dom.js";
import { api, apiError } from "../core/api.js";
import { state, on, emit } from "../core/state.js";

export const answers = { reachBase: null, reachUnder: null, diff: null, diffFrom: "", diffTo: "" };
let token = 0;
// Who waits for the answers being asked for now (see `answered`).
let waiting = [];
let asking = false;

/**
 * Resolves once the answers asked for now have arrived (or failed), or after
 * `limit` ms, whichever is first; at once when none is being asked for. The
 * map lays a scenario out after its matrix: on a large one the layout is
 * seconds of work that would share the machine's cores with the server's walk
 * of the matrix, the answer the page shows first.
 */
export function answered(limit) {
  if (!asking) return Promise.resolve();
  return new Promise((ok) => {
    waiting.push(ok);
    setTimeout(ok, limit);
  });
}

export function initAnalysis() {
  on("scenario", () => {
    answers.reachBase = null;
    answers.reachUnder = null;
    answers.diff = null;
    refresh();
  });
  on("variant", refresh);
}

/** The matrix on screen: under the variants, or as written. */
export function reach() {
  return answers.reachUnder || answers.reachBase;
}

async function refresh() {
  const mine = ++token;
  asking = true;
  try {
    await ask(mine);
  } finally {
    // The newest question's end, however it ended (answered, refused, the
    // server gone), lets those waiting for it go on.
    if (mine === token) {
      asking = false;
      for (const ok of waiting.splice(0)) ok();
    }
  }
}

async function ask(mine) {
  const v = state.variant;
  const prev = state.prevVariant;
  const box = $("analysis");
  box.dataset.busy = "true";
  const enc = encodeURIComponent;
  const [base, under, diff] = await Promise.all([
    answers.reachBase ? null : api("GET", "/api/reach"),
    v ? api("GET", `/api/reach?variant=${enc(v)}`) : null,
    v !== prev ? api("GET", `/api/diff?variant=${enc(v)}${prev ? `&base=${enc(prev)}` : ""}`) : null,
  ]);
  if (mine !== token) return;
  const problems = [];
  if (base) {
    if (base.ok) answers.reachBase = base.json;
    else problems.push(apiError(base));
  }
  answers.reachUnder = under && under.ok ? under.json : null;
  if (under && !under.ok) problems.push(apiError(under));
  answers.diff = diff && diff.ok ? diff.json : null;
  answers.diffFrom = prev;
  answers.diffTo = v;
  if (diff && !diff.ok) problems.push(apiError(diff));
  if (problems.length) status(problems.join("; "));
  emit("analysis");
  emit("diff", answers.diff);
  box.dataset.variant = v;
  box.dataset.ready = String(mine);
  delete box.dataset.busy;
  if (!performance.getEntriesByName("pathproof-matrix").length) performance.mark("pathproof-matrix");
}

/** How the diff on screen is labelled: "break → break+harden". */
export function diffLabel() {
  const name = (v) => v || "as written";
  return `${name(answers.diffFrom)} → ${name(answers.diffTo)}`;
}
