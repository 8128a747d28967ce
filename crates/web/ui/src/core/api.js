// The JSON API of `pathproof serve` (docs/api.md): same origin, nothing else.
export async function api(method, path, body, type = "application/json") {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = type;
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  if ((r.headers.get("content-type") || "").startsWith("application/json")) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  return { ok: r.ok, status: r.status, json, text, headers: r.headers };
}

export function apiError(r) {
  const j = r.json || {};
  return (j.error || r.text || `HTTP ${r.status}`) + (j.help ? ` — ${j.help}` : "");
}

/** A trace question (the body of POST /api/trace) with its variant. */
export function journey(q, variant) {
  const body = { ...q };
  if (variant) body.variant = variant;
  return api("POST", "/api/journey", JSON.stringify(body));
}

export function traceOnce(q, variant) {
  const body = { ...q };
  if (variant) body.variant = variant;
  return api("POST", "/api/trace", JSON.stringify(body));
}
