// The page as a journey: the map and the card of the current hop on one
// screen at every step (1366×768 and 390×844, checked with bounding boxes),
// the packet and the deciding device's callout on the map, layer 1 by
// default and told in its own words, legibility at 390 px, glyphs, the
// player, exports and picking hosts on the map.
//
//   PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startRig, skip, shot, trace, journeyTab, box, inside, useExample, DESKTOP, PHONE } from "./rig.mjs";

let rig;
before(async () => { if (!skip) rig = await startRig(); });
after(async () => { if (rig) await rig.close(); });

/** Goes to the first hop (the button is disabled when already there). */
async function first(page) {
  if (await page.isEnabled("#first")) await page.click("#first");
  await page.waitForSelector('#hop-card[data-step="1"]');
}

/** Markdown as the page shows it: code spans lose their backticks. */
const plain = (s) => s.replaceAll("`", "");

const api = (page, path, body) => page.evaluate(async ([p, b]) => (await fetch(p, b ? { method: "POST", body: JSON.stringify(b) } : undefined)).json(), [path, body]);

/**
 * Steps through the journey on screen and checks, at each hop, that the map
 * node of the device deciding it and the hop's card are both wholly in the
 * viewport, that the callout beside the node is inside the map's frame, and
 * that the card tells that hop.
 */
async function everyStepInView(page, viewport, name) {
  const total = await page.locator("#hop-list li").count();
  assert.ok(total > 3, `${total} hops`);
  await first(page);
  for (let i = 0; i < total; i++) {
    const step = await page.getAttribute("#hop-card", "data-step");
    assert.equal(step, String(i + 1));
    const device = await page.getAttribute("#hop-card", "data-device");
    await page.waitForTimeout(60);
    const node = page.locator(`.node[data-host="${device}"]`);
    if (await node.count()) {
      const nb = await box(page, `.node[data-host="${device}"]`);
      assert.ok(inside(nb, viewport), `${name} hop ${i + 1}: the node of ${device} is out of view: ${JSON.stringify(nb)}`);
      assert.equal(await node.getAttribute("class").then((c) => c.includes("current")), true);
      const cb = await box(page, "#callout");
      const frame = await box(page, "#map-wrap");
      assert.ok(cb.w > 0, `${name} hop ${i + 1}: no callout`);
      assert.ok(cb.x >= frame.x - 1 && cb.right <= frame.right + 1 && cb.y >= frame.y - 1 && cb.bottom <= frame.bottom + 1,
        `${name} hop ${i + 1}: the callout of ${device} leaves the map's frame: ${JSON.stringify(cb)} in ${JSON.stringify(frame)}`);
      assert.equal(await page.getAttribute("#callout", "data-device"), device);
    }
    const card = await box(page, "#hop-card");
    assert.ok(inside(card, viewport), `${name} hop ${i + 1}: the card is out of view: ${JSON.stringify(card)}`);
    if (i === 6 || i === total - 1) await shot(page, `${name}-hop-${i + 1}`);
    if (i < total - 1) await page.click("#step");
  }

}

test("the default layer is 1, and a first visit starts the first lesson with a clear next step", { skip }, async () => {
  const page = await rig.open(DESKTOP);
  assert.equal(await page.isChecked('input[name="layer"][value="1"]'), true);
  assert.equal(await page.getAttribute("body", "data-layer"), "1");
  await page.waitForSelector("#lesson:not([hidden])");
  const lessons = await api(page, "/api/lessons");
  assert.equal(await page.getAttribute("#lesson", "data-lesson"), lessons[0].id);
  assert.equal(await page.getAttribute("#lesson", "data-layer"), "1");
  assert.match(await page.textContent("#lesson .welcome"), /press See/);
  const head = await box(page, "#lesson .lesson-head");
  assert.ok(inside(head, DESKTOP), `the lesson's heading is out of view: ${JSON.stringify(head)}`);
  // The page itself is not scrolled: the header and the map are in view too.
  assert.ok(inside(await box(page, ".top"), DESKTOP));
  assert.ok(inside(await box(page, "#map-wrap"), DESKTOP));
  await shot(page, "01-first-visit");
  // A second visit does not greet again.
  const again = await rig.open(DESKTOP, { firstVisit: false });
  assert.equal(await again.isHidden("#lesson"), true);
  await again.context().close();
  await page.context().close();
});

test("at 1366×768 the deciding device and its card are in view together at every step", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await trace(page, "client", "www.example.com:443");
  await everyStepInView(page, DESKTOP, "02-desktop");
  // A journey that is stopped: the stop is marked on the map and in the card.
  await trace(page, "client", "web:22");
  await everyStepInView(page, DESKTOP, "03-desktop-dropped");
  assert.match(await page.textContent("#hop-card .decider"), /stops the journey/);
  assert.equal(await page.locator('.node.stop[data-host="edge"]').count(), 1);
  assert.match(await page.textContent("#callout"), /stops here/);
  await page.context().close();
});

test("at 390×844 the map and the card stack, and stay in view together at every step", { skip }, async () => {
  const page = await rig.open(PHONE, { firstVisit: false });
  await trace(page, "client", "www.example.com:443");
  await everyStepInView(page, PHONE, "04-phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
  await page.context().close();
});

test("layer 1 is told in its own words; the engine's sentence appears from layer 3", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await trace(page, "client", "www.example.com:443");
  const j = await api(page, "/api/journey", { from: "client", to: "www.example.com:443" });
  const filter = j.trace.hops.findIndex((x) => x.stage === "filter");
  await page.locator("#hop-list li").nth(filter).locator("button").click();
  const hop = j.trace.hops[filter];
  const one = await page.textContent("#hop-card");
  assert.ok(one.includes(plain(j.told[0].hops[filter].says)), one);
  assert.ok(!one.includes(hop.detail), `layer 1 shows the engine's sentence: ${one}`);
  assert.ok(!one.includes("conntrack"), one);
  assert.ok(one.includes(hop.rule.text) && one.includes(`line ${hop.rule.line} of mini-lab.yaml`), one);
  for (const c of j.told[0].hops[filter].proves) assert.ok(one.includes(plain(c.text)), c.text);
  // The outcome and the summary are told at the layer too, "service" once.
  const outcome = await page.textContent("#outcome");
  assert.ok(outcome.includes(plain(j.told[0].outcome.headline)), outcome);
  assert.equal(await page.locator('#outcome li[data-fact="service"]').count(), 1);
  await page.check('input[name="layer"][value="2"]');
  const two = await page.textContent("#hop-card");
  assert.ok(two.includes(plain(j.told[1].hops[filter].says)) && !two.includes(hop.detail), two);
  await page.check('input[name="layer"][value="3"]');
  const three = await page.textContent("#hop-card");
  assert.ok(three.includes(plain(hop.detail)), three);
  assert.match(three, /line \d+, column \d+/);
  await page.check('input[name="layer"][value="4"]');
  const four = await page.textContent("#hop-card");
  assert.notEqual(four, three);
  assert.ok(four.includes(plain(j.told[3].hops[filter].notes[0])), four);
  await shot(page, "05-layer-4");
  // The keys 1–4 switch layers too.
  await page.locator("#stage").focus();
  await page.keyboard.press("1");
  assert.equal(await page.isChecked('input[name="layer"][value="1"]'), true);
  await page.context().close();
});

test("the name lookup sends no packet to the answer's address", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await trace(page, "client", "www.example.com:443");
  await first(page);
  const card = await page.textContent("#hop-card");
  assert.match(card, /No envelope travels yet/);
  assert.doesNotMatch(card, /198\.51\.100\.1:53|door 53/);
  await page.check('input[name="layer"][value="3"]');
  assert.match(await page.textContent("#hop-card"), /No packet on the wire here/);
  await page.check('input[name="layer"][value="1"]');
  await page.context().close();
});

test("at 390 px no text is smaller than 12 px, the map is not shrunk, and every glyph has a font", { skip }, async () => {
  const page = await rig.open(PHONE);
  await page.waitForSelector("#lesson .diagram[data-state=drawn]");
  await trace(page, "client", "www.example.com:443");
  await page.click("#step");
  const small = await page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const t = walker.currentNode;
      if (!t.textContent.trim()) continue;
      const el = t.parentElement;
      if (!el || el.closest("[hidden], details:not([open]) > :not(summary), .sr, option, title")) continue;
      const style = getComputedStyle(el);
      if (style.display === "none" || style.visibility === "hidden") continue;
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      let size = parseFloat(style.fontSize);
      if (el instanceof SVGElement && el.ownerSVGElement) size *= el.getScreenCTM().a;
      if (size < 11.95) out.push(`${el.tagName}.${el.getAttribute("class") || ""} ${size.toFixed(1)}px: ${t.textContent.trim().slice(0, 40)}`);
    }
    return out;
  });
  assert.deepEqual(small, []);
  assert.ok(Number(await page.getAttribute("#map", "data-scale")) >= 1);
  // Every character outside ASCII that the page shows is drawn by some font:
  // a character no font has is drawn as the same box as a private-use one.
  const missing = await page.evaluate(() => {
    const chars = new Set([...document.body.innerText].filter((c) => c.codePointAt(0) > 127 && !/\s/.test(c)));
    for (const el of document.querySelectorAll("svg text")) for (const c of el.textContent) if (c.codePointAt(0) > 127) chars.add(c);
    const font = getComputedStyle(document.body).fontFamily;
    const draw = (c) => {
      const cv = document.createElement("canvas");
      cv.width = 40; cv.height = 40;
      const g = cv.getContext("2d");
      g.font = `28px ${font}`;
      g.fillText(c, 4, 30);
      return cv.toDataURL();
    };
    const tofu = draw("\uE000");
    return [...chars].filter((c) => draw(c) === tofu);
  });
  assert.deepEqual(missing, []);
  await shot(page, "06-phone-lesson-and-card", { full: true });
  await page.context().close();
});

test("the packet moves on the map; play, speed and keys step through the journey", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await trace(page, "client", "www.example.com:443");
  const where = () => page.evaluate(() => document.querySelector("#packet").style.transform);
  const at1 = await where();
  await page.click("#step");
  await page.click("#step");
  await page.click("#step");
  await page.click("#step");
  assert.notEqual(await where(), at1, "the packet moved to edge");
  const total = await page.locator("#hop-list li").count();
  const at = async () => Number((await page.textContent("#position")).match(/hop (\d+)/)[1]);
  await first(page);
  await page.selectOption("#speed", "0.5");
  await page.click("#play");
  assert.equal(await page.getAttribute("#player", "data-interval"), "2200");
  await page.waitForTimeout(900);
  assert.equal(await at(), 1);
  await page.selectOption("#speed", "4");
  await page.waitForFunction(() => document.querySelector("#player").dataset.interval === "275");
  await page.waitForFunction(() => Number(document.querySelector("#position").textContent.match(/hop (\d+)/)[1]) >= 4, null, { timeout: 10000 });
  await page.click("#play");
  const held = await at();
  await page.waitForTimeout(600);
  assert.equal(await at(), held);
  await page.locator("#stage").focus();
  await page.keyboard.press("End");
  assert.equal(await at(), total);
  await page.keyboard.press("ArrowLeft");
  assert.equal(await at(), total - 1);
  await page.keyboard.press("p");
  await page.waitForFunction((n) => document.querySelector("#position").textContent === `hop ${n} of ${n}`, total, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector("#player").dataset.playing === "false");
  await page.selectOption("#speed", "1");
  await page.context().close();
});

test("the trace exports as JSON and as Mermaid", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await trace(page, "client", "web:443");
  const body = { from: "client", to: "web:443", proto: "tcp" };
  const t = await api(page, "/api/trace", body);
  const [json] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
  assert.equal(json.suggestedFilename(), "trace-client-web_443.json");
  assert.deepEqual(JSON.parse(readFileSync(await json.path(), "utf8")), t);
  const [mmd] = await Promise.all([page.waitForEvent("download"), page.click("#export-mermaid")]);
  const text = readFileSync(await mmd.path(), "utf8");
  const served = await page.evaluate(async (b) => (await fetch("/api/trace?format=mermaid", { method: "POST", body: JSON.stringify(b) })).text(), body);
  assert.equal(text, served);
  assert.equal(await page.textContent("#mermaid-text"), text);
  assert.match(text, /^sequenceDiagram\n/);
  await page.context().close();
});

test("two hosts picked on the map trace from the first to the second; the tab order follows the map", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await journeyTab(page);
  await page.focus('.node[data-host="web"]');
  await page.keyboard.press("Enter");
  assert.match(await page.textContent("#pick-hint"), /source: web/);
  await page.focus('.node[data-host="db"]');
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#to").value === "db:5432" && document.querySelector("#outcome").dataset.kind === "rejected");
  await page.click('.node[data-host="client"]');
  await page.click('.node[data-host="web"]');
  await page.waitForFunction(() => document.querySelector("#to").value === "web:443" && document.querySelector("#outcome").dataset.kind === "reached");
  // The hosts come in reading order: the internet, then edge, then the tiers.
  const order = await page.locator(".node").evaluateAll((ns) => ns.map((n) => n.dataset.host));
  assert.ok(order.indexOf("client") < order.indexOf("edge") && order.indexOf("edge") < order.indexOf("web"), order.join(" "));
  await page.context().close();
});

test("the destination field suggests every socket, name and host once it is used", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const destinations = (scn) => {
    const want = new Set();
    for (const x of scn.hosts) for (const sk of x.sockets) want.add(`${x.name}:${sk.port}`);
    for (const v of scn.dns) for (const r of v.records) want.add(r.name);
    for (const x of scn.hosts) want.add(x.name);
    return want;
  };
  const suggested = async () => {
    await journeyTab(page);
    await page.focus("#to");
    const got = await page.locator("#to-list option").evaluateAll((os) => os.map((o) => o.value));
    assert.equal(new Set(got).size, got.length, "each suggestion once");
    return new Set(got);
  };
  assert.deepEqual(await suggested(), destinations(await api(page, "/api/scenario")));
  // Another scenario: its own destinations, when the field is used again.
  await page.evaluate(() => document.activeElement.blur());
  await useExample(page, "segmentation");
  assert.deepEqual(await suggested(), destinations(await api(page, "/api/scenario")));
  await useExample(page, "mini-lab");
  await page.context().close();
});

test("the favicon is served, and nothing failed", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  // Asked from outside the page: Chromium refuses a script's fetch of
  // /favicon.ico itself while it handles the icon.
  for (const f of ["/favicon.ico", "/favicon.svg"]) {
    const r = await page.request.get(rig.url + f);
    assert.equal(r.status(), 200, f);
    assert.ok((await r.body()).length > 100, f);
  }
  await page.context().close();
  assert.deepEqual(rig.problems, []);
});
