// What the page knows, in one place, and the events its views listen to:
//   scenario  a new scenario is in use          layer    the layer changed
//   variant   the variants toggled changed       journey  a new trace is on screen
//   step      the hop on screen changed          lesson   a lesson opened or closed
//   analysis  reach/diff/foothold answers came   words    the layer words arrived
export const state = {
  scn: null, // GET /api/scenario
  words: null, // GET /api/words
  lessons: [], // GET /api/lessons
  lesson: null, // GET /api/lessons/{id} of the open lesson
  layer: 1,
  variants: [], // the variants toggled on, in declaration order
  variant: "", // their stack, as the API names it: "", "break", "break+harden"
  prevVariant: "", // what was on screen before the last toggle
  journey: null, // POST /api/journey: { trace, told, mermaid }
  query: null, // the question that produced it (without variant)
  journeyVariant: "", // the variant it was traced under
  step: 0,
  baseline: new Map(), // journey key -> Trace as written
  predictions: new Map(), // "lesson|level|index" -> { choice, result }
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, data) {
  for (const fn of listeners.get(event) || []) fn(data);
}

/** The telling of the journey on screen at the current layer. */
export function told() {
  return state.journey ? state.journey.told[state.layer - 1] : null;
}

// Every field of a trace question, with the value the API takes when it is left out.
const QUESTION = { from: null, to: null, proto: "tcp", port: null, sport: null, via: null, ipv6: false, established: false };

/** Two questions share a key only when they ask for the same journey: every field counts. */
export function journeyKey(q) {
  const norm = { ...QUESTION };
  for (const [k, v] of Object.entries(q)) {
    if (k === "variant") continue;
    norm[k] = v === undefined || v === null || v === "" ? (QUESTION[k] ?? null) : v;
  }
  return JSON.stringify(Object.keys(norm).sort().map((k) => [k, norm[k]]));
}
