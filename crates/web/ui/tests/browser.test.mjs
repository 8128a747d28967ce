// Browser tests of the page, driving Debian's /usr/bin/chromium through
// playwright-core. Starts `pathproof serve --port 0` itself (the binary is
// PATHPROOF_BIN) and stops it at the end. Screenshots go to
// SCREENSHOT_DIR (default: target/web-screenshots at the repository root).
//
//   PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
//
// Without the binary or the browser the tests say so and skip, except under
// CI=true, where that is a failure.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
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
// The browser logs the 422 of a scenario that does not load; expected while
// that test uploads one (and only from POST /api/scenario), an error anywhere else.
let expect422 = false;
const isScenarioPost = (u) => { try { return new URL(u).pathname === "/api/scenario"; } catch { return false; } };

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
  await page.waitForTimeout(700); // let the packet finish moving
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
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
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expect422 && /status of 422/.test(m.text()) && isScenarioPost(m.location().url)) return;
    problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    const expected = expect422 && r.status() === 422 && r.request().method() === "POST" && isScenarioPost(r.url());
    if (r.status() >= 400 && !expected) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()} ${r.request().postData() || ""}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  // Nothing may be fetched from anywhere but this server.
  await page.route((u) => !u.href.startsWith(url), (r) => { problems.push(`off-site request: ${r.request().url()}`); r.abort(); });
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('body[data-complete="true"]');
  const mark = (name) => page.evaluate((n) => performance.getEntriesByName(n)[0].startTime, name);
  const ready = await mark("pathproof-ready");
  const matrix = await mark("pathproof-matrix");
  const expectations = await mark("pathproof-expectations");
  const interactive = await page.evaluate(() => performance.getEntriesByType("navigation")[0].domInteractive);
  const bytes = await page.evaluate(() => performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation")).filter((e) => !e.name.includes("/api/")).reduce((n, e) => n + (e.encodedBodySize || 0), 0));
  console.log(`page: DOM interactive ${interactive.toFixed(0)} ms, scenario drawn ${ready.toFixed(0)} ms, matrix filled ${matrix.toFixed(0)} ms, expected journeys filled ${expectations.toFixed(0)} ms after navigation start; assets ${bytes} bytes (goto returned after ${Date.now() - t0} ms)`);
  // The target is 1 s on localhost; the guard leaves room for a busy shared machine.
  assert.ok(ready < 3000, `the page took ${ready} ms to become usable`);
  assert.ok(Math.max(matrix, expectations) < 5000, `the page took ${Math.max(matrix, expectations)} ms to fill every view`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGINT");
});

test("the page shows the mini-lab topology", { skip }, async () => {
  await shot("01-topology");
  assert.match(await page.textContent("#scenario-about"), /mini-lab/);
  for (const name of ["client", "edge", "web", "api", "db", "metadata", "proxy"]) {
    assert.equal(await page.locator(`.node[data-host="${name}"]`).count(), 1, name);
  }
  assert.equal(await page.locator('.node.kind-firewall[data-host="edge"]').count(), 1);
  assert.equal(await page.locator(".net").count(), 5);
});

test("trace client -> web:443 and step through every hop", { skip }, async () => {
  await page.selectOption("#from", "client");
  await page.fill("#to", "web:443");
  await page.click("#trace-btn");
  await page.waitForSelector("#hop-card:not([hidden])");
  const total = await page.locator("#hop-list li").count();
  assert.ok(total > 5, `${total} hops`);
  // The page shows the same trace as the API.
  const api = await page.evaluate(async () => (await fetch("/api/trace", { method: "POST", body: JSON.stringify({ from: "client", to: "web:443" }) })).json());
  assert.equal(api.hops.length, total);
  for (let i = 0; i < total; i++) {
    const hop = api.hops[i];
    assert.equal(await page.getAttribute("#hop-card", "data-step"), String(hop.step));
    assert.equal(await page.textContent("#position"), `hop ${i + 1} of ${total}`);
    const card = await page.textContent("#hop-card");
    assert.ok(card.includes(hop.device) && card.includes(hop.detail), `hop ${hop.step}: ${card}`);
    assert.equal(await page.locator(`.node.current[data-host="${hop.device}"]`).count(), hop.device.includes("@") ? 0 : 1);
    if (i === 4) await shot("02-trace-mid");
    if (i < total - 1) await page.click("#step");
  }
  assert.ok(await page.isDisabled("#step"));
  assert.match(await page.textContent("#outcome"), /reached/);
  await page.click("#back");
  assert.equal(await page.textContent("#position"), `hop ${total - 1} of ${total}`);
  // Keyboard: → steps forward again.
  await page.locator("#journey").focus();
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.textContent("#position"), `hop ${total} of ${total}`);
  await shot("03-trace-end");
});

test("the layer switch changes the explanations", { skip }, async () => {
  await page.click("#first");
  const words = await page.evaluate(async () => (await fetch("/api/words")).json());
  // The edge firewall's hop names its rule; compare the layers there.
  const steps = await page.locator("#hop-list li").evaluateAll((lis) => lis.map((li) => li.textContent));
  const filter = steps.findIndex((t) => /edge · Filter/.test(t));
  assert.ok(filter >= 0, `a filter hop on edge in ${steps}`);
  await page.locator("#hop-list li").nth(filter).locator("button").click();
  await page.check('input[name="layer"][value="1"]');
  const one = await page.textContent("#hop-card");
  assert.ok(one.includes(words.stages.filter[0]), one);
  // Every layer shows the packet as seen there and the rule that decided, with its line.
  const api = await page.evaluate(async () => (await fetch("/api/trace", { method: "POST", body: JSON.stringify({ from: "client", to: "web:443" }) })).json());
  const hop = api.hops[filter];
  assert.ok(hop.rule, "the filter hop names its rule");
  assert.ok(one.includes(hop.rule.text), one);
  assert.ok(one.includes(`line ${hop.rule.line} of mini-lab.yaml`), one);
  assert.ok(one.includes(`from ${hop.packet.src}, door ${hop.packet.sport} to ${hop.packet.dst}, door ${hop.packet.dport} (tcp)`), one);
  assert.doesNotMatch(one, /line \d+, column \d+/);
  await page.check('input[name="layer"][value="2"]');
  const two = await page.textContent("#hop-card");
  assert.ok(two.includes(`mini-lab.yaml line ${hop.rule.line}`) && two.includes(hop.rule.text), two);
  assert.match(two, /packet here/);
  await page.check('input[name="layer"][value="1"]');
  const outcomeOne = await page.textContent("#outcome");
  await page.check('input[name="layer"][value="4"]');
  const four = await page.textContent("#hop-card");
  assert.notEqual(four, one);
  assert.ok(four.includes(words.stages.filter[3]), four);
  assert.ok(!four.includes(words.stages.filter[0]));
  assert.match(four, /Takes on trust/);
  assert.match(four, /line \d+, column \d+/);
  assert.match(await page.textContent(".layers"), new RegExp(words.layers[3]));
  // The outcome's explanations change too.
  assert.notEqual(await page.textContent("#outcome"), outcomeOne);
  await shot("04-layer-4");
  await page.locator("#journey").focus();
  await page.keyboard.press("2");
  assert.equal(await page.isChecked('input[name="layer"][value="2"]'), true);
  assert.ok((await page.textContent("#hop-card")).includes(words.stages.filter[1]));
});

test("play and speed move the packet on by themselves", { skip }, async () => {
  await page.selectOption("#from", "client");
  await page.fill("#to", "web:443");
  // The trace on screen is already client -> web:443: wait for this one to be
  // done (it stops the player when it lands), not for the card already shown.
  await page.evaluate(() => { document.querySelector("#status").textContent = ""; });
  await page.click("#trace-btn");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Traced client → web:443"));
  await page.waitForSelector("#hop-card:not([hidden])");
  const total = await page.locator("#hop-list li").count();
  const at = async () => Number((await page.textContent("#position")).match(/hop (\d+)/)[1]);
  // Half speed: a hop every 2.2 s, so nothing moves in the first second.
  await page.selectOption("#speed", "0.5");
  await page.click("#play");
  assert.equal(await page.getAttribute("#player", "data-playing"), "true");
  assert.equal(await page.getAttribute("#player", "data-interval"), "2200");
  assert.match(await page.textContent("#play"), /Pause/);
  await page.waitForTimeout(1000);
  assert.equal(await at(), 1);
  // 4×: a hop every 275 ms; changing the speed while playing takes effect.
  await page.selectOption("#speed", "4");
  await page.waitForFunction(() => document.querySelector("#player").dataset.interval === "275");
  await page.waitForFunction(() => Number(document.querySelector("#position").textContent.match(/hop (\d+)/)[1]) >= 4, null, { timeout: 10000 });
  // Pause holds the packet where it is.
  await page.click("#play");
  assert.equal(await page.getAttribute("#player", "data-playing"), "false");
  const held = await at();
  await page.waitForTimeout(700);
  assert.equal(await at(), held);
  assert.equal(await page.getAttribute("#hop-card", "data-step"), String(held));
  // `p` plays on to the last hop, where it stops by itself.
  await page.locator("#journey").focus();
  await page.keyboard.press("p");
  await page.waitForFunction((n) => document.querySelector("#position").textContent === `hop ${n} of ${n}`, total, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector("#player").dataset.playing === "false");
  assert.match(await page.textContent("#play"), /Play/);
  assert.ok(await page.isDisabled("#step"));
  await page.selectOption("#speed", "1");
});

test("the trace exports as JSON and as Mermaid", { skip }, async () => {
  const api = await page.evaluate(async () => (await fetch("/api/trace", { method: "POST", body: JSON.stringify({ from: "client", to: "web:443", proto: "tcp" }) })).json());
  const [json] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
  assert.equal(json.suggestedFilename(), "trace-client-web_443.json");
  const t = JSON.parse(readFileSync(await json.path(), "utf8"));
  assert.deepEqual(t, api);
  assert.equal(t.schema, 1);
  const [mmd] = await Promise.all([page.waitForEvent("download"), page.click("#export-mermaid")]);
  assert.equal(mmd.suggestedFilename(), "trace-client-web_443.mmd");
  const text = readFileSync(await mmd.path(), "utf8");
  const served = await page.evaluate(async () => (await fetch("/api/trace?format=mermaid", { method: "POST", body: JSON.stringify({ from: "client", to: "web:443", proto: "tcp" }) })).text());
  assert.equal(text, served);
  // The page shows the same text.
  assert.equal(await page.textContent("#mermaid-text"), text);
  // It is a Mermaid sequence diagram: a header, participants, then only
  // messages, notes and their blocks, every participant declared.
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "sequenceDiagram");
  const declared = new Set();
  let messages = 0;
  for (const line of lines.slice(1)) {
    let m;
    if ((m = /^ {4}participant (p\d+) as [^;#\n]+$/.exec(line))) { declared.add(m[1]); continue; }
    if ((m = /^ {4}(p\d+)(->>|-->>|-x|--x)(p\d+): [^;#]+$/.exec(line))) {
      assert.ok(declared.has(m[1]) && declared.has(m[3]), line);
      messages++;
      continue;
    }
    if ((m = /^ {4}Note (?:over|right of|left of) (p\d+)(?:,(p\d+))?: [^;#]+$/.exec(line))) {
      assert.ok(declared.has(m[1]), line);
      continue;
    }
    assert.fail(`not a Mermaid sequence-diagram line: ${JSON.stringify(line)}`);
  }
  const devices = new Set(api.hops.map((h) => h.device));
  assert.equal(declared.size, devices.size);
  assert.equal(messages, api.hops.filter((h) => h.stage === "link" && h.verdict === "pass").length);
});

test("clicking two hosts on the topology traces from the first to the second", { skip }, async () => {
  // With the keyboard: Enter on a host picks it (first the source, then the destination).
  await page.focus('.node[data-host="web"]');
  await page.keyboard.press("Enter");
  assert.match(await page.textContent("#pick-hint"), /source: web/);
  await page.focus('.node[data-host="db"]');
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#to").value === "db:5432" && document.querySelector("#outcome").dataset.kind === "rejected");
  assert.equal(await page.inputValue("#from"), "web");
  // With the mouse.
  await page.click('.node[data-host="client"]');
  assert.match(await page.textContent("#pick-hint"), /source: client — now pick a destination/);
  assert.equal(await page.inputValue("#from"), "client");
  await page.click('.node[data-host="web"]');
  await page.waitForFunction(() => document.querySelector("#to").value === "web:443" && document.querySelector("#outcome").dataset.kind === "reached");
  assert.match(await page.textContent("#pick-hint"), /destination: web:443/);
  assert.equal(await page.getAttribute("#hop-card", "data-step"), "1");
  assert.equal(await page.locator('.node.current[data-host="client"]').count(), 1);
});

test("predict, then see: the learner's guess, the lesson's answer and the engine's", { skip }, async () => {
  await page.check('input[name="layer"][value="2"]');
  const lesson = await page.evaluate(async () => (await fetch("/api/lessons/checkpoint")).json());
  await page.click('button[data-lesson="checkpoint"]');
  await page.waitForSelector("#lesson:not([hidden])");
  const layer = lesson.layers.find((l) => l.level === 2);
  assert.ok((await page.textContent("#lesson")).includes(layer.takeaway));
  const item = (i) => page.locator(`#lesson li.prediction[data-index="${i}"]`);
  const p = layer.predict[0];
  assert.equal(p.answer, "refused");
  // The choices are the outcomes the lesson's questions use.
  const used = new Set(["reached", ...lesson.layers.flatMap((l) => l.predict.map((x) => x.answer))]);
  const values = await item(0).locator('input[type="radio"]').evaluateAll((r) => r.map((x) => x.value));
  assert.deepEqual(new Set(values), used);
  assert.equal(values[0], "reached");
  // Seeing before predicting asks for a prediction, and puts the focus on the choices.
  await item(0).locator("button.see").click();
  assert.match(await item(0).locator(".reveal").textContent(), /Choose what you expect first/);
  assert.equal(await page.evaluate(() => document.activeElement.type), "radio");
  // With the keyboard: Space picks "reached", Tab reaches the button, Enter runs it.
  await page.keyboard.press("Space");
  assert.equal(await page.isChecked(`#lesson li.prediction[data-index="0"] input[value="reached"]`), true);
  await page.keyboard.press("Tab");
  assert.match(await page.evaluate(() => document.activeElement.className), /\bsee\b/);
  await page.keyboard.press("Enter");
  await page.waitForSelector('#lesson li.prediction[data-index="0"] .reveal[data-verdict="wrong"]');
  await page.waitForFunction((kind) => document.querySelector("#outcome").dataset.kind === kind, p.answer);
  const reveal = item(0).locator(".reveal");
  assert.match(await reveal.textContent(), /Not this time/);
  assert.match(await reveal.locator('[data-what="choice"]').textContent(), /reached/);
  assert.match(await reveal.locator('[data-what="lesson"]').textContent(), /refused/);
  const engine = await reveal.locator('[data-what="engine"]').textContent();
  assert.match(engine, /refused/);
  const outcome = await page.evaluate(() => document.querySelector("#outcome p").textContent);
  assert.ok(engine.includes(outcome), `${engine} / ${outcome}`);
  assert.ok((await reveal.textContent()).includes(p.explain.slice(0, 40)));
  // The same trace is in the player.
  assert.equal(await page.inputValue("#to"), p.to);
  // Change the prediction with the arrow keys: the old verdict goes, the right one comes.
  await item(0).locator('input[value="reached"]').focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.isChecked(`#lesson li.prediction[data-index="0"] input[value="refused"]`), true);
  assert.equal(await item(0).getAttribute("data-verdict"), "");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForSelector('#lesson li.prediction[data-index="0"] .reveal[data-verdict="right"]');
  assert.match(await item(0).locator(".reveal").textContent(), /You were right/);
  // "It does not get through" but the wrong way: half right.
  assert.equal(layer.predict[1].answer, "rejected");
  await item(1).locator('input[value="dropped"]').check();
  await item(1).locator("button.see").click();
  await page.waitForSelector('#lesson li.prediction[data-index="1"] .reveal[data-verdict="partly"]');
  assert.match(await item(1).locator(".reveal").textContent(), /Half right/);
  await shot("08-lesson-predict");
  // Another layer and back: the predictions are kept.
  await page.check('input[name="layer"][value="3"]');
  assert.equal(await page.locator('#lesson li.prediction[data-verdict="right"]').count(), 0);
  await page.check('input[name="layer"][value="2"]');
  assert.equal(await item(0).getAttribute("data-verdict"), "right");
  assert.equal(await item(1).getAttribute("data-verdict"), "partly");
  await page.click("#lesson button:text('Close lesson')");
});

test("predict, then see runs on the lesson's own scenario, whatever was loaded since", { skip }, async () => {
  await page.check('input[name="layer"][value="2"]');
  const lesson = await page.evaluate(async () => (await fetch("/api/lessons/checkpoint")).json());
  assert.equal(lesson.scenario_file, "mini-lab.yaml");
  const p = lesson.layers.find((l) => l.level === 2).predict[0];
  await page.click('button[data-lesson="checkpoint"]');
  await page.waitForSelector('#lesson[data-own-scenario="true"]');
  assert.equal(await page.locator("#lesson .lesson-scenario").count(), 0);
  // Another scenario, none of whose hosts the lesson's questions name.
  await page.selectOption("#example-select", "stateless-acl");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("stateless-acl"));
  await page.waitForSelector('#lesson[data-own-scenario="false"]');
  assert.match(await page.textContent("#lesson .lesson-scenario"), /This lesson is about mini-lab\.yaml; the page now shows stateless-acl\.yaml/);
  await page.waitForSelector("#expectations:not([data-busy])");
  // See: the lesson's scenario is loaded again, and the question runs there.
  const item = page.locator('#lesson li.prediction[data-level="2"][data-index="0"]');
  // (A new choice clears what an earlier test saw for this question.)
  await item.locator('input[value="reached"]').check();
  await item.locator(`input[value="${p.answer}"]`).check();
  assert.equal(await item.getAttribute("data-verdict"), "");
  await item.locator("button.see").click();
  await page.waitForSelector('#lesson li.prediction[data-level="2"][data-index="0"] .reveal[data-verdict="right"]');
  assert.match(await page.textContent("#scenario-about"), /^mini-lab \(mini-lab\.yaml\)/);
  await page.waitForFunction((k) => document.querySelector("#outcome").dataset.kind === k, p.answer);
  assert.equal(await page.inputValue("#from"), p.from);
  assert.match(await page.textContent("#status"), /Loaded mini-lab\.yaml again/);
  assert.equal(await page.getAttribute("#lesson", "data-own-scenario"), "true");
  assert.equal(await page.locator("#lesson .lesson-scenario").count(), 0);
  await page.waitForSelector("#expectations:not([data-busy])");
  // An edited copy under the lesson's file name is not the lesson's scenario either.
  await page.click("#edit-btn");
  const yaml = await page.inputValue("#yaml");
  await page.fill("#yaml", yaml.replace("name: mini-lab", "name: mini-lab-edited"));
  await page.click("#editor-load");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab-edited (mini-lab.yaml)"));
  await page.click("#editor-close");
  await page.waitForSelector('#lesson[data-own-scenario="false"]');
  assert.match(await page.textContent("#lesson .lesson-scenario"), /the page now shows mini-lab\.yaml as edited/);
  await page.waitForSelector("#expectations:not([data-busy])");
  // The notice's button loads the lesson's scenario at once.
  await page.click("#lesson .lesson-scenario button");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab (mini-lab.yaml)"));
  await page.waitForSelector('#lesson[data-own-scenario="true"]');
  await page.waitForSelector("#expectations:not([data-busy])");
  await page.click("#lesson button:text('Close lesson')");
});

test("a harden question with a source port is compared with that same journey as written", { skip }, async () => {
  // The stateful lesson, layer 3: "after hardening, can files still reach
  // laptop:3389 from source port 445?" As written the stateless return rule
  // lets port 445 through; without the source port the journey is dropped.
  await page.check('input[name="layer"][value="3"]');
  const lesson = await page.evaluate(async () => (await fetch("/api/lessons/stateful")).json());
  const layer = lesson.layers.find((l) => l.level === 3);
  const i = layer.predict.findIndex((x) => x.variant === "harden" && x.sport);
  assert.ok(i >= 0, "a harden question with a source port");
  const p = layer.predict[i];
  await page.click('button[data-lesson="stateful"]');
  await page.waitForFunction((f) => document.querySelector("#scenario-about").textContent.includes(f), lesson.scenario_file);
  // The expected journeys, traced as written first, include the same
  // journey without a source port (`deny files -> laptop:3389`).
  await page.waitForSelector(`#expect-rows tr[data-journey="${p.from} -> ${p.to}"]`);
  await page.waitForSelector("#expectations:not([data-busy])");
  const trace = (b) => page.evaluate(async (body) => (await fetch("/api/trace", { method: "POST", body: JSON.stringify(body) })).json(), b);
  assert.equal((await trace({ from: p.from, to: p.to, sport: p.sport })).outcome.kind, "reached");
  assert.equal((await trace({ from: p.from, to: p.to })).outcome.kind, "dropped");
  const item = page.locator(`#lesson li.prediction[data-level="3"][data-index="${i}"]`);
  await item.locator(`input[value="${p.answer}"]`).check();
  await item.locator("button.see").click();
  await page.waitForSelector(`#lesson li.prediction[data-level="3"][data-index="${i}"] .reveal[data-verdict="right"]`);
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "dropped");
  const outcome = await page.textContent("#outcome");
  assert.match(outcome, /Changed by harden: as written this journey ends ✔ reached/);
  assert.doesNotMatch(outcome, /Same outcome/);
  // The form holds the whole question, source port included.
  assert.equal(await page.inputValue("#from"), p.from);
  assert.equal(await page.inputValue("#to"), p.to);
  assert.equal(await page.inputValue("#sport"), String(p.sport));
  // Without the source port it is another journey, dropped both ways.
  await page.fill("#sport", "");
  await page.click("#trace-btn");
  await page.waitForFunction(() => /Same outcome as without harden/.test(document.querySelector("#outcome").textContent));
  assert.equal(await page.getAttribute("#outcome", "data-kind"), "dropped");
  await page.click("#lesson button:text('Close lesson')");
  await page.click('button[data-variant=""]');
  await page.waitForSelector('#expectations[data-variant=""]:not([data-busy])');
  await page.check('input[name="layer"][value="2"]');
  await page.selectOption("#example-select", "mini-lab");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab"));
  await page.waitForSelector("#expectations:not([data-busy])");
  assert.equal(await page.inputValue("#sport"), "");
});

test("a stale conntrack entry: an earlier connection survives the hardening", { skip }, async () => {
  // The stateful lesson, layer 3: the RDP session files opened before the
  // change still passes r1 on its conntrack entry; a new one is dropped.
  await page.check('input[name="layer"][value="3"]');
  const lesson = await page.evaluate(async () => (await fetch("/api/lessons/stateful")).json());
  const layer = lesson.layers.find((l) => l.level === 3);
  const i = layer.predict.findIndex((x) => x.established);
  assert.ok(i >= 0, "a question about an earlier connection");
  const p = layer.predict[i];
  assert.equal(p.answer, "reached");
  await page.click('button[data-lesson="stateful"]');
  await page.waitForFunction((f) => document.querySelector("#scenario-about").textContent.includes(f), lesson.scenario_file);
  await page.waitForSelector("#expectations:not([data-busy])");
  const item = page.locator(`#lesson li.prediction[data-level="3"][data-index="${i}"]`);
  assert.match(await item.locator("button.see").textContent(), /earlier connection/);
  await item.locator('input[value="reached"]').check();
  await item.locator("button.see").click();
  await page.waitForSelector(`#lesson li.prediction[data-level="3"][data-index="${i}"] .reveal[data-verdict="right"]`);
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  assert.equal(await page.isChecked("#established"), true);
  assert.equal(await page.inputValue("#sport"), String(p.sport));
  // The same journey as a new connection is dropped by the hardened ACL.
  await page.uncheck("#established");
  await page.click("#trace-btn");
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "dropped");
  await page.click("#lesson button:text('Close lesson')");
  await page.click('button[data-variant=""]');
  await page.waitForSelector('#expectations[data-variant=""]:not([data-busy])');
  await page.check('input[name="layer"][value="2"]');
  await page.fill("#sport", "");
  await page.selectOption("#example-select", "mini-lab");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab"));
  await page.waitForSelector("#expectations:not([data-busy])");
});

test("break makes the metadata journey appear", { skip }, async () => {
  const row = page.locator('#expect-rows tr[data-journey="web -> metadata:80"]');
  await row.waitFor();
  assert.doesNotMatch(await row.textContent(), /appears/);
  await page.click('button[data-variant="break"]');
  await page.waitForSelector('#expectations[data-variant="break"]');
  const text = await row.textContent();
  assert.match(text, /appears/);
  assert.match(text, /169\.254\.169\.254/);
  assert.match(text, /reached/);
  assert.equal(await row.getAttribute("class"), "appears");
  assert.match(await page.textContent("#variant-why"), /DMZ/);
  // Load that journey into the player: it now reaches metadata.
  await row.locator("button").click();
  await page.waitForFunction(() => document.querySelector("#outcome").textContent.includes("Changed by break"));
  assert.match(await page.textContent("#outcome"), /reached/);
  await shot("05-break");
  await page.click('button[data-variant=""]');
  await page.waitForSelector('#expectations[data-variant=""]');
});

test("a malformed scenario shows its problems at their lines", { skip }, async () => {
  const broken = "name: broken\nnetworks:\n  lan: { cidr: 10.0.0.0/24 }\nhosts:\n  a: { at: lann 10.0.0.1 }\n";
  // The 422 of this one upload is expected; whatever happens here, none after it is.
  expect422 = true;
  try {
    await page.setInputFiles("#open-file", { name: "broken.yaml", mimeType: "text/yaml", buffer: Buffer.from(broken) });
    const problem = page.locator("#problems li.problem").first();
    await problem.waitFor();
    const text = await problem.textContent();
    assert.match(text, /line 5, column 12/);
    assert.match(text, /unknown network `lann`/);
    assert.match(text, /did you mean `lan`\?/);
    assert.equal(await page.locator('#gutter .bad-line[data-line="5"]').count(), 1);
    assert.equal(await page.textContent("#editor-file"), "broken.yaml");
  } finally {
    expect422 = false;
  }
  // The scenario in use is unchanged.
  assert.match(await page.textContent("#scenario-about"), /mini-lab/);
  await shot("06-yaml-error");
  // Fix it in the editor and load it.
  await page.fill("#yaml", broken.replace("lann", "lan"));
  await page.click("#editor-load");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("broken"));
  assert.equal(await page.locator('.node[data-host="a"]').count(), 1);
  await page.selectOption("#example-select", "mini-lab");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab"));
  await page.waitForSelector("#expectations:not([data-busy])");
});

test("fifty hosts stay readable: no two nodes overlap", { skip }, async () => {
  const segs = 6, per = 7;
  let y = "name: fifty\nabout: Fifty hosts on eight networks.\nnetworks:\n";
  y += "  internet: { cidr: 0.0.0.0/0, trust: untrusted, gateway: edge }\n  transit: { cidr: 10.255.0.0/24 }\n";
  for (let i = 1; i <= segs; i++) y += `  seg${i}: { cidr: 10.0.${i}.0/24, gateway: core }\n`;
  y += "hosts:\n  edge: { router: true, at: [internet 198.51.100.1, transit 10.255.0.1] }\n";
  y += `  core: { router: true, filter: core-fw, at: [transit 10.255.0.2, ${[...Array(segs).keys()].map((i) => `seg${i + 1} 10.0.${i + 1}.1`).join(", ")}] }\n`;
  for (let k = 1; k <= 6; k++) y += `  user${k}: { at: internet 203.0.113.${k} }\n`;
  for (let i = 1; i <= segs; i++) for (let j = 1; j <= per; j++) y += `  h${i}-${j}: { at: seg${i} 10.0.${i}.${10 + j}, listen: ["tcp/443 https"] }\n`;
  y += "filters:\n  core-fw:\n    default: drop\n    rules:\n      - allow tcp from any to seg1 port 443\n";
  await page.setInputFiles("#open-file", { name: "fifty.yaml", mimeType: "text/yaml", buffer: Buffer.from(y) });
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("fifty"));
  const boxes = await page.locator(".node").evaluateAll((ns) => ns.map((n) => { const r = n.getBoundingClientRect(); return [r.x, r.y, r.right, r.bottom]; }));
  assert.equal(boxes.length, 2 + 6 + segs * per);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const overlap = a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5;
      assert.ok(!overlap, `nodes ${i} and ${j} overlap`);
    }
  }
  const textHeight = await page.locator(".host-name").first().evaluate((t) => t.getBoundingClientRect().height);
  assert.ok(textHeight >= 9, `host names are ${textHeight}px high`);
  await shot("09-fifty-hosts");
  await page.selectOption("#example-select", "mini-lab");
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("mini-lab"));
  await page.waitForSelector("#expectations:not([data-busy])");
});

test("usable at 360 px wide", { skip }, async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  await page.selectOption("#from", "client");
  await page.fill("#to", "www.example.com:443");
  await page.click("#trace-btn");
  await page.waitForSelector("#hop-card:not([hidden])");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
  await shot("07-narrow");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("no console errors", { skip }, async () => {
  assert.deepEqual(problems, []);
});
