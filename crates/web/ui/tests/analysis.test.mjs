// Browser tests of the views over every journey: the reachability matrix,
// the break/harden highlighting with the change responsible, the attacker
// view, and lessons rendered as Markdown. Same rig as browser.test.mjs: starts
// `pathproof serve --port 0` (PATHPROOF_BIN) and drives /usr/bin/chromium.
//
//   PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const BIN = process.env.PATHPROOF_BIN || join(root, "target/debug/pathproof");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || join(root, "target/web-screenshots");
const CI = process.env.CI === "true";

let missing = null;
if (!existsSync(BIN)) missing = `the pathproof binary is not at ${BIN} (set PATHPROOF_BIN)`;
else if (!existsSync(CHROMIUM)) missing = `no browser at ${CHROMIUM} (apt-get install -y chromium)`;
if (missing && CI) throw new Error(`browser tests cannot run under CI=true: ${missing}`);
const skip = missing ? `skipped: ${missing}` : false;

let server, url, browser, page;
const problems = [];

async function startServer() {
  server = spawn(BIN, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  server.stderr.on("data", (d) => { err += d; });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start: ${err}`)), 15000);
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    server.on("exit", (code) => { clearTimeout(timer); fail(new Error(`the server exited (${code}): ${err}`)); });
  });
}

async function shot(name) {
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const apiGet = (path) => page.evaluate(async (p) => (await fetch(p)).json(), path);

// The analysis views have caught up with the variant toggled (or none).
async function analysed(variant = "") {
  await page.waitForSelector(`#analysis[data-variant="${variant}"]:not([data-busy])`);
}

async function useExample(name) {
  await page.selectOption("#example-select", name);
  await page.waitForFunction((n) => document.querySelector("#scenario-about").textContent.startsWith(n), name);
  await analysed("");
  await page.waitForSelector("#expectations:not([data-busy])");
}

function td(source, host) {
  return page.locator(`#matrix tr[data-source="${source}"] td[data-host="${host}"]`);
}

before(async () => {
  if (skip) return;
  mkdirSync(SHOTS, { recursive: true });
  url = await startServer();
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  await page.route((u) => !u.href.startsWith(url), (r) => { problems.push(`off-site request: ${r.request().url()}`); r.abort(); });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  await analysed("");
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGINT");
});

test("the matrix shows every journey of the engine, ports as text", { skip }, async () => {
  const api = await apiGet("/api/reach");
  assert.equal(await page.locator("#matrix tbody tr[data-source]").count(), api.sources.length);
  assert.equal(await page.locator("#matrix thead th.col-host").count(), api.targets.length);
  assert.equal(await page.locator("#matrix td.allow").count(), api.cells.length);
  for (const c of api.cells) {
    const cell = td(c.source, c.host);
    assert.match(await cell.getAttribute("class"), /\ballow\b/);
    // Words, not colour alone: the ports, and "allowed" for screen readers.
    assert.equal((await cell.textContent()).replace(/\s+/g, " ").trim(), `allowed: ✔ ${c.ports}`);
  }
  assert.equal(await td("proxy", "web").textContent(), "allowed: ✔ tcp 22, 443");
  const none = td("client", "db");
  assert.match(await none.getAttribute("class"), /\bnone\b/);
  assert.match(await none.textContent(), /no journey/);
  assert.doesNotMatch(await none.textContent(), /tcp/);
  // Grouped: a row group per network, a column group per network.
  const groups = await page.locator("#matrix .row-group th").allTextContents();
  assert.deepEqual(groups, ["from internet", "from dmz", "from app", "from data", "from link-local"]);
  assert.deepEqual(await page.locator("#matrix .col-group").allTextContents(), ["dmz", "app", "data", "link-local"]);
  assert.match(await page.textContent("#matrix-caption"), /12 sources × 5 hosts/);
  await page.locator("#analysis").screenshot({ path: join(SHOTS, "10-matrix.png") });
});

test("the matrix is keyboard navigable and a cell traces its journey", { skip }, async () => {
  await td("client", "web").click();
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  assert.equal(await page.inputValue("#from"), "client");
  assert.match(await page.textContent("#matrix-detail"), /client → web/);
  const position = await page.textContent("#position");
  // Arrows move the focus between cells and do not step the player.
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.host), "db");
  assert.equal(await page.textContent("#position"), position);
  assert.equal(await page.locator('#matrix td[tabindex="0"]').count(), 1);
  // Enter on an empty cell shows where the journey stops.
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "client -> db");
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind && document.querySelector("#outcome").dataset.kind !== "reached");
  assert.equal(await page.inputValue("#to"), "db:5432");
  assert.match(await page.textContent("#matrix-detail"), /No packet from client reaches a socket of db/);
  // Down into the dmz rows, and Enter on an allowed cell.
  await page.keyboard.press("ArrowDown"); // edge
  await page.keyboard.press("ArrowDown"); // internet
  await page.keyboard.press("ArrowDown"); // web
  await page.keyboard.press("ArrowLeft"); // web -> api
  assert.equal(await page.evaluate(() => `${document.activeElement.closest("tr").dataset.source}>${document.activeElement.dataset.host}`), "web>api");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "web -> api");
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  assert.equal(await page.inputValue("#from"), "web");
  assert.match(await page.textContent("#matrix-detail"), /edge-fw rule 2/);
  // The tabs are keyboard navigable too.
  await page.focus("#tab-matrix");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.id), "tab-changes");
  assert.equal(await page.isVisible("#panel-changes"), true);
  assert.equal(await page.isVisible("#panel-matrix"), false);
  await page.keyboard.press("ArrowLeft");
  assert.equal(await page.isVisible("#panel-matrix"), true);
});

test("break highlights the journeys that appear, with the rule responsible", { skip }, async () => {
  await page.click('button[data-variant="break"]');
  await analysed("break");
  const diff = await apiGet("/api/diff?variant=break");
  const rule = diff.changes[0];
  assert.equal(rule.text, "allow from dmz to any");
  // On the matrix: the cell that appears says so in words.
  const cell = td("web", "metadata");
  assert.match(await cell.getAttribute("class"), /\bgained\b/);
  assert.match(await cell.textContent(), /\+ tcp 80/);
  assert.equal(await page.locator("#matrix td.gained").count(), new Set(diff.gained.map((g) => `${g.source}>${g.host}`)).size);
  assert.match(await page.textContent("#changes-count"), new RegExp(`\\+${diff.gained.length} −0`));
  // On the topology: an arrow per pair that appears, a badge on each target.
  const pairs = new Set(diff.gained.map((g) => `${g.source}>${g.host}`));
  assert.equal(await page.locator("#diff-layer path.diff-arrow.gained").count(), pairs.size);
  assert.equal(await page.locator("#diff-layer path.diff-arrow.lost").count(), 0);
  assert.match(await page.locator('.node[data-host="metadata"]').getAttribute("class"), /diff-gained/);
  assert.equal(await page.textContent('#diff-layer [data-badge="metadata"] text'), "+3");
  assert.equal(await page.isVisible("#legend-diff"), true);
  await page.locator(".topology").screenshot({ path: join(SHOTS, "11-break-topology.png") });
  // The cell's detail names the responsible rule and its line.
  await cell.click();
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "web -> metadata");
  const detail = await page.textContent("#matrix-detail");
  assert.match(detail, /tcp\/80 http appears under break/);
  assert.match(detail, /Responsible: \+ edge-fw: rule allow from dmz to any added \(line \d+\)/);
  assert.ok(detail.includes(`line ${rule.line}`));
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  // The changes tab lists every journey that appears and the declaration that changed.
  await page.click("#tab-changes");
  const items = page.locator("#changes .journey-changes > li.gained");
  assert.equal(await items.count(), diff.gained.length);
  const web = page.locator('#changes li[data-journey="web -> metadata tcp/80 http"]');
  assert.match(await web.textContent(), /As written: dropped; under break: reached/);
  assert.match(await web.textContent(), /allow from dmz to any/);
  await shot("12-break-changes");
  // Its line opens the YAML at the rule.
  await page.locator("#changes .decl-changes button").first().click();
  const selected = await page.evaluate(() => { const t = document.querySelector("#yaml"); return t.value.slice(t.selectionStart, t.selectionEnd); });
  assert.match(selected, /allow from dmz to any/);
  await page.click("#editor-close");
  // Trace it from the list: it reaches metadata under break.
  await web.locator("button.trace-it").click();
  await page.waitForFunction(() => document.querySelector("#to").value === "169.254.169.254:80" && document.querySelector("#outcome").dataset.kind === "reached");
  // Back to as written: no highlight left.
  await page.click('button[data-variant=""]');
  await analysed("");
  assert.equal(await page.locator("#matrix td.gained, #matrix td.lost").count(), 0);
  assert.equal(await page.locator("#diff-layer path").count(), 0);
  assert.equal(await page.isVisible("#legend-diff"), false);
  await page.click("#tab-matrix");
});

const TINY = `name: tiny
about: a lan, a gateway with a filter, a server with ssh and three app ports
networks:
  lan: { cidr: 10.0.0.0/24, gateway: gw }
  srv: { cidr: 10.0.1.0/24, gateway: gw }
hosts:
  gw: { router: true, at: [lan 10.0.0.1, srv 10.0.1.1], filter: fw }
  pc: { at: lan 10.0.0.10 }
  app: { at: srv 10.0.1.10, sensitive: true, listen: ["tcp/22 ssh", "tcp/8000", "tcp/8001", "tcp/8002"] }
filters:
  fw:
    default: drop
    rules:
      - allow tcp from lan to app port 22
      - allow tcp from lan to app port 8000-8002
variants:
  tighten:
    why: no more ssh from the lan
    filters:
      fw:
        remove: ["allow tcp from lan to app port 22"]
`;

test("a variant that removes a rule highlights the journeys that disappear", { skip }, async () => {
  await page.setInputFiles("#open-file", { name: "tiny.yaml", mimeType: "text/yaml", buffer: Buffer.from(TINY) });
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("tiny"));
  await analysed("");
  assert.equal(await td("pc", "app").textContent(), "allowed: ✔ tcp 22, 8000-8002");
  await page.click('button[data-variant="tighten"]');
  await analysed("tighten");
  const cell = td("pc", "app");
  assert.match(await cell.getAttribute("class"), /\blost\b/);
  assert.match(await cell.textContent(), /✔ tcp 8000-8002/);
  assert.equal(await cell.locator(".delta.minus s").textContent(), "tcp 22");
  assert.ok(await page.locator("#diff-layer path.diff-arrow.lost").count() >= 1);
  assert.match(await page.locator('.node[data-host="app"]').getAttribute("class"), /diff-lost/);
  await page.click("#tab-changes");
  const lost = page.locator('#changes li[data-journey="pc -> app tcp/22 ssh"]');
  assert.match(await lost.textContent(), /As written: reached; under tighten: dropped/);
  assert.match(await lost.textContent(), /− fw: rule allow tcp from lan to app port 22 removed/);
  await shot("13-tighten-lost");
  await page.click('button[data-variant=""]');
  await analysed("");
  await page.click("#tab-matrix");
  await useExample("mini-lab");
});

test("the attacker view: hop after hop, and the shortest path to each sensitive host", { skip }, async () => {
  await page.click("#tab-attacker");
  await page.selectOption("#foothold", "web");
  await page.waitForSelector('#attacker[data-from="web"]');
  const f = await apiGet("/api/foothold?from=web");
  assert.equal(f.depth, 2);
  assert.equal(await page.textContent("#atk-depth"), "hop 1 of 2");
  const hop1 = (await page.locator('#attacker ol.hops[data-depth="1"] > li').evaluateAll((l) => l.map((x) => x.dataset.host))).sort();
  assert.deepEqual(hop1, f.compromised.filter((r) => r.depth === 1).map((r) => r.host).sort());
  const db = page.locator('#attacker li[data-jewel="db"]');
  assert.match(await db.textContent(), /2 hops: web → api → db/);
  assert.match(await db.textContent(), /beyond the 1 hop shown/);
  assert.match(await page.textContent('#attacker li[data-jewel="metadata"]'), /out of reach from web/);
  // The topology marks the start, the hosts taken over so far and how.
  assert.match(await page.locator('.node[data-host="web"]').getAttribute("class"), /foothold-start/);
  assert.match(await page.locator('.node[data-host="api"]').getAttribute("class"), /\bowned\b/);
  assert.doesNotMatch(await page.locator('.node[data-host="db"]').getAttribute("class"), /\bowned\b/);
  assert.equal(await page.textContent('#attack-layer [data-badge="api"] text'), "☠1");
  // One more hop: db falls, through api.
  await page.click("#atk-more");
  assert.equal(await page.textContent("#atk-depth"), "hop 2 of 2");
  assert.ok(await page.isDisabled("#atk-more"));
  assert.match(await page.locator('.node[data-host="db"]').getAttribute("class"), /\bowned\b/);
  assert.equal(await page.textContent('#attack-layer [data-badge="db"] text'), "☠2");
  assert.equal(await page.locator("#attack-layer path.attack-arrow").count(), f.compromised.length - 1);
  assert.equal(await page.locator("#attack-layer path.attack-arrow.jewel").count(), 2); // web→api, api→db
  assert.match(await page.textContent('#attacker ol.hops[data-depth="2"]'), /db through tcp\/5432 postgres from api/);
  await page.locator(".topology").screenshot({ path: join(SHOTS, "14-attacker-topology.png") });
  await shot("15-attacker");
  // Each step of the path replays as a trace.
  await db.locator("ol > li").nth(1).locator("button.trace-it").click();
  await page.waitForFunction(() => document.querySelector("#from").value === "api" && document.querySelector("#outcome").dataset.kind === "reached");
  // Under break the database is one hop away.
  await page.click('button[data-variant="break"]');
  await analysed("break");
  await page.waitForFunction(() => document.querySelector("#attacker h3").textContent.includes("under break"));
  assert.match(await page.textContent('#attacker li[data-jewel="db"]'), /1 hop: web → db/);
  assert.match(await page.textContent('#attacker li[data-jewel="metadata"]'), /1 hop: web → metadata/);
  await page.click('button[data-variant=""]');
  await analysed("");
  // Pick the foothold on the map, with the keyboard.
  await page.click("#foothold-pick");
  assert.equal(await page.getAttribute("#foothold-pick", "aria-pressed"), "true");
  await page.focus('.node[data-host="api"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('#attacker[data-from="api"]');
  assert.equal(await page.inputValue("#foothold"), "api");
  assert.match(await page.textContent('#attacker li[data-jewel="db"]'), /1 hop: api → db/);
  await page.click("#foothold-clear");
  assert.equal(await page.locator("#attack-layer *").count(), 0);
  await page.click("#tab-matrix");
});

test("lessons are rendered as Markdown, never as raw HTML", { skip }, async () => {
  const lessons = await apiGet("/api/lessons");
  await page.click(`button[data-lesson="${lessons[0].id}"]`);
  await page.waitForSelector("#lesson:not([hidden])");
  const body = page.locator("#lesson .lesson-body");
  assert.ok(await body.locator("p").count() >= 2);
  assert.ok(await body.locator("strong, code").count() >= 1);
  assert.doesNotMatch(await page.textContent("#lesson"), /\*\*|`/);
  assert.ok(await page.locator("#lesson .hands-on code").count() >= 1);
  await page.locator("#lesson").screenshot({ path: join(SHOTS, "16-lesson-markdown.png") });
  await page.click("#lesson button:text('Close lesson')");
  // The renderer itself, on hostile and complete input.
  const out = await page.evaluate(async () => {
    const { renderMarkdown } = await import("/markdown.js");
    const box = document.createElement("div");
    box.append(renderMarkdown([
      "# Title <b>x</b>",
      "",
      "A **bold** and *em* and _em2_ word, a `code <i>` span, snake_case_name and 2 * 3 * 4.",
      "<img src=x onerror=\"window.pwned=1\"> <script>window.pwned=2</script>",
      "",
      "- one [link](https://example.org/a)",
      "- two [bad](javascript:window.pwned=3) and [data](data:text/html,x)",
      "",
      "1. first",
      "2. second",
      "",
      "```",
      "<b>kept</b> **as text**",
      "```",
      "",
      "> quoted",
    ].join("\n")));
    document.body.append(box);
    await new Promise((r) => setTimeout(r, 50));
    const r = {
      html: box.innerHTML,
      h3: box.querySelector("h3") && box.querySelector("h3").textContent,
      strong: [...box.querySelectorAll("p strong")].map((x) => x.textContent),
      em: [...box.querySelectorAll("p em")].map((x) => x.textContent),
      code: [...box.querySelectorAll("p code")].map((x) => x.textContent),
      links: [...box.querySelectorAll("a")].map((a) => [a.textContent, a.getAttribute("href"), a.getAttribute("rel")]),
      ul: box.querySelectorAll("ul > li").length,
      ol: box.querySelectorAll("ol > li").length,
      pre: box.querySelector("pre code") && box.querySelector("pre code").textContent,
      quote: box.querySelector("blockquote") && box.querySelector("blockquote").textContent.trim(),
      elements: [...new Set([...box.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()))].sort(),
      pwned: window.pwned || null,
    };
    box.remove();
    return r;
  });
  assert.equal(out.pwned, null);
  assert.equal(out.h3, "Title <b>x</b>");
  assert.deepEqual(out.strong, ["bold"]);
  assert.deepEqual(out.em, ["em", "em2"]);
  assert.deepEqual(out.code, ["code <i>"]);
  assert.match(out.html, /snake_case_name and 2 \* 3 \* 4\./);
  assert.match(out.html, /&lt;img src=x onerror=/);
  assert.deepEqual(out.links, [["link", "https://example.org/a", "noopener noreferrer"]]);
  assert.equal(out.ul, 2);
  assert.equal(out.ol, 2);
  assert.equal(out.pre, "<b>kept</b> **as text**");
  assert.equal(out.quote, "quoted");
  assert.deepEqual(out.elements, ["a", "blockquote", "code", "em", "h3", "li", "ol", "p", "pre", "strong", "ul"]);
});

test("the new views fit 360 px without the page scrolling sideways", { skip }, async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  try {
    await page.click('button[data-variant="break"]');
    await analysed("break");
    await page.click("#tab-attacker");
    await page.selectOption("#foothold", "web");
    await page.waitForSelector('#attacker[data-from="web"]');
    for (const tab of ["tab-matrix", "tab-changes", "tab-attacker"]) {
      await page.click(`#${tab}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${tab}: the page scrolls sideways by ${overflow}px`);
    }
    await page.click("#tab-matrix");
    // The matrix scrolls inside its own box.
    const wrap = await page.evaluate(() => { const w = document.querySelector("#matrix-wrap"); return [w.scrollWidth, w.clientWidth]; });
    assert.ok(wrap[0] > wrap[1], `the matrix ${wrap[0]}px in a ${wrap[1]}px box`);
    await shot("17-narrow-matrix");
    await page.click('button[data-variant=""]');
    await analysed("");
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test("the layer switch retells every view", { skip }, async () => {
  const words = await apiGet("/api/words");
  const plain = (t) => t.replace(/`/g, "").replace(/\s+/g, " ").trim();
  const text = async (sel) => plain(await page.textContent(sel));
  // Open every view with something in it: a matrix cell, a variant's
  // changes, a foothold, the expected journeys.
  await td("web", "api").click();
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "web -> api");
  await page.click("#tab-attacker");
  await page.selectOption("#foothold", "web");
  await page.waitForSelector('#attacker[data-from="web"]');
  await page.click("#tab-matrix");
  await page.waitForSelector("#expectations:not([data-busy])");
  const seen = { matrix: new Set(), detail: new Set(), changes: new Set(), attacker: new Set(), "attacker view": new Set(), radius: new Set(), expectations: new Set(), "expected journeys": new Set(), hop: new Set() };
  for (const layer of [1, 2, 3, 4]) {
    await page.check(`input[name="layer"][value="${layer}"]`);
    const tag = words.layers[layer - 1];
    for (const [view, id] of [["matrix", "#matrix-words"], ["changes", "#changes-words"], ["attacker", "#attacker-words"], ["expectations", "#expect-words"]]) {
      assert.equal(await page.getAttribute(id, "data-layer"), String(layer));
      const t = await text(id);
      assert.ok(t.includes(plain(words.views[view][layer - 1])), `${view} at layer ${layer}: ${t}`);
      assert.ok(t.toLowerCase().startsWith(tag.toLowerCase()), t);
      seen[view].add(t);
    }
    // The cell's detail is retold, not recomputed: the same cell, the layer's words.
    assert.equal(await page.getAttribute("#matrix-detail", "data-cell"), "web -> api");
    assert.equal(await page.getAttribute("#matrix-detail", "data-layer"), String(layer));
    const detail = await text("#matrix-detail");
    assert.ok(detail.includes(plain(words.stages.socket[layer - 1])), detail);
    seen.detail.add(detail);
    assert.equal(await page.getAttribute("#attacker", "data-layer"), String(layer));
    seen.radius.add(await text("#attacker .radius"));
    seen["attacker view"].add(await text("#attacker"));
    seen.hop.add(await text("#hop-card"));
    // The rows of the expected journeys, not only their view's header.
    assert.equal(await page.getAttribute("#expect-rows", "data-layer"), String(layer));
    seen["expected journeys"].add(await text("#expect-rows"));
  }
  for (const [view, set] of Object.entries(seen)) {
    if (view === "radius") assert.ok(set.size >= 3, `${view}: ${[...set].join(" | ")}`);
    else assert.equal(set.size, 4, `${view} reads the same at two layers`);
  }
  // Under a variant: the changes list and the expected journeys, compared
  // as written and under break, are retold at each layer too.
  await page.click('button[data-variant="break"]');
  await analysed("break");
  await page.waitForSelector('#expectations[data-variant="break"]:not([data-busy])');
  await page.click("#tab-changes");
  assert.equal(await page.isVisible("#changes-words"), true);
  const changes = new Map(), rows = new Map(), metadata = new Map(), row = new Map();
  for (const layer of [1, 2, 3, 4]) {
    await page.check(`input[name="layer"][value="${layer}"]`);
    assert.ok((await text("#changes-words")).includes(plain(words.views.changes[layer - 1])));
    assert.equal(await page.getAttribute("#changes", "data-layer"), String(layer));
    assert.equal(await page.getAttribute("#expect-rows", "data-layer"), String(layer));
    changes.set(layer, await text("#changes"));
    rows.set(layer, await text("#expect-rows"));
    metadata.set(layer, await text('#changes li[data-journey="web -> metadata tcp/80 http"]'));
    row.set(layer, await text('#expect-rows tr[data-journey="web -> metadata:80"]'));
    if (layer === 1) await shot("18-layer-1-changes");
  }
  for (const [what, m] of [["the changes list", changes], ["the expected journeys", rows], ["web -> metadata in the changes", metadata], ["the row of web -> metadata:80", row]]) {
    assert.equal(new Set(m.values()).size, 4, `${what} reads the same at two layers`);
    assert.notEqual(m.get(1), m.get(4), what);
  }
  // What each layer says of the journey that appears under break.
  assert.match(metadata.get(1), /A new road opens: with break, web can get through to door 80 of metadata/);
  assert.doesNotMatch(metadata.get(1), /169\.254\.169\.254/); // no addresses in the picture
  assert.match(metadata.get(2), /As written: dropped; under break: reached/);
  assert.match(metadata.get(3), /pathproof trace --from web --to 169\.254\.169\.254:80 --sport \d+ --variant break/);
  assert.match(metadata.get(4), /Authority granted by break: whoever controls web can now talk to tcp\/80 http on metadata/);
  assert.match(metadata.get(4), /deny web -> metadata:80 in expect: fails on it/);
  // A network's stand-in is not pinned with a deny line that would catch its hosts too.
  const dmzApi = await text('#changes li[data-journey="dmz -> api tcp/8080 http"]');
  assert.match(dmzApi, /only … may reach api:8080/);
  assert.doesNotMatch(dmzApi, /deny dmz -> api:8080 in expect/);
  // Every layer still names the declaration responsible and its line.
  for (const t of metadata.values()) assert.match(t, /Responsible: \+ edge-fw: rule allow from dmz to any added \(line \d+\)/);
  // And of the expectation `deny web -> metadata:80`.
  assert.match(row.get(1), /web should never get through to metadata:80\. As written, the packet is stopped, and nobody answers; with break it gets through/);
  assert.match(row.get(2), /a tcp connection from web to metadata:80 \(169\.254\.169\.254\) must not complete/);
  assert.match(row.get(3), /As written: dropped at edge step \d+ \(filter\) by default drop — mini-lab\.yaml line \d+; under break: reaches metadata, let through by allow from dmz to any \(edge, mini-lab\.yaml line \d+\)/);
  assert.match(row.get(4), /Trust boundary: web must hold no way into metadata:80/);
  await page.check('input[name="layer"][value="2"]');
  await page.click('button[data-variant=""]');
  await analysed("");
  await page.click("#tab-attacker");
  await page.click("#foothold-clear");
  await page.click("#tab-matrix");
});

test("no console errors and no failed requests", { skip }, async () => {
  assert.deepEqual(problems, []);
});
