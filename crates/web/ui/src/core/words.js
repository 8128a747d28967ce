// Words the page shows beside the engine's answers. Every symbol comes with a
// word (verdicts are never told by colour or glyph alone), and every glyph
// used is one the page's fonts have (tests/glyphs.test.mjs checks it).
import { state } from "./state.js";

export const LAYER_NAME = ["School student", "University student", "Engineer", "Security architect"];

export function layerName(n) {
  return (state.words && state.words.layers[n - 1]) || LAYER_NAME[n - 1];
}

export const VERDICT = {
  pass: { icon: "→", cls: "v-pass" },
  rewrite: { icon: "✎", cls: "v-rewrite" },
  allow: { icon: "✔", cls: "v-ok" },
  accept: { icon: "✔", cls: "v-ok" },
  drop: { icon: "✖", cls: "v-bad" },
  reject: { icon: "⊘", cls: "v-bad" },
  refuse: { icon: "✖", cls: "v-bad" },
};

export const OUTCOME_WORD = {
  reached: "✔ reached", refused: "✖ refused", dropped: "✖ dropped", rejected: "⊘ rejected",
  no_route: "✖ no route", unresolved: "✖ unresolved", tls_failed: "✖ TLS failed",
  proxy_denied: "✖ proxy denied", proxy_loop: "✖ proxy loop", ttl_exceeded: "✖ TTL exceeded", reply_lost: "✖ reply lost",
};

/** How a journey ends, in a school student's words (for the views that summarise many). */
export const OUTCOME_PLAIN = {
  reached: "gets through", dropped: "is stopped, and nobody answers", rejected: "is turned away at once",
  refused: "finds nobody behind the door", no_route: "finds no road to go on", unresolved: "finds no address for the name",
  tls_failed: "cannot make sure who answers (the seal does not check out)", proxy_denied: "is turned away by the go-between",
  proxy_loop: "goes round between go-betweens", ttl_exceeded: "goes round until it runs out of time",
  reply_lost: "arrives, but the answer never comes back", error: "cannot be traced",
};

export function choiceWords(kind) {
  return (state.words && state.words.choices && state.words.choices[kind]) || kind.replace(/_/g, " ");
}

export function stageWords(stage, layer = state.layer) {
  const w = state.words && state.words.stages[stage];
  return w ? w[layer - 1] : null;
}

export function viewWords(view, layer = state.layer) {
  const w = state.words && state.words.views && state.words.views[view];
  return w ? w[layer - 1] : null;
}

/** `pathproof trace` for a question, as an engineer would type it. */
export function traceCommand(q, variant) {
  const parts = ["pathproof trace", `--from ${q.from}`, `--to ${q.to}`];
  if (q.proto && q.proto !== "tcp") parts.push(`--proto ${q.proto}`);
  if (q.port) parts.push(`--port ${q.port}`);
  if (q.sport) parts.push(`--sport ${q.sport}`);
  if (q.via) parts.push(`--via ${q.via}`);
  if (q.ipv6) parts.push("-6");
  if (q.established) parts.push("--established");
  if (variant) parts.push(`--variant ${variant}`);
  return parts.join(" ");
}
