// The "Traffic over time" tab (src/views/simulate.js): the syn-flood's
// traffic as charts, a flow and a second picked with the connection's events
// and its trace, the variants on screen followed, the player, the layers; a
// scenario without a `traffic:` section says so and offers the built-ins that
// have one; and the tab fits 390 px.
//
//   CI=true PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRig, skip, shot, analysed, DESKTOP, PHONE } from "./rig.mjs";

let rig;
before(async () => { if (!skip) rig = await startRig(); });
after(async () => { if (rig) await rig.close(); });

const get = (page, path) => page.evaluate(async (p) => (await fetch(p)).json(), path);
const plain = (t) => t.replace(/`/g, "").replace(/\s+/g, " ").trim();

/** Opens the tab and waits for the run under `variant` to be on screen. */
async function openTraffic(page, variant = "") {
  await page.click("#tab-traffic");
  await ran(page, variant);
}

async function ran(page, variant = "") {
  await page.waitForSelector(`#panel-traffic[data-state="ready"][data-variant="${variant}"]`, { timeout: 30000 });
}

async function pick(page, flow, second) {
  await page.selectOption("#sim-flow", { label: flow });
  await page.fill("#sim-second", String(second));
  await page.dispatchEvent("#sim-second", "input");
  await page.waitForFunction(([f, s]) => {
    const p = document.querySelector("#panel-traffic");
    return p.dataset.second === String(s) && p.dataset.flow === f;
  }, [flow.replace(/ \(.*$/, ""), second]);
}

test("the syn-flood's traffic over time: series, a flow and a second, its events and trace", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: "syn-flood" });
  await page.check('input[name="layer"][value="3"]'); // an engineer's words
  assert.match(await page.textContent("#tab-traffic"), /Traffic over time \(3 flows\)/);
  await openTraffic(page);
  assert.equal(await page.isVisible("#panel-traffic"), true);
  assert.equal(await page.isVisible("#panel-matrix"), false);
  const run = await get(page, "/api/simulate");
  assert.match(await page.textContent("#sim-status"), new RegExp(`syn-flood as written: ${run.seconds} s, seed ${run.seed}`));
  // Every legitimate flow's share served, as the simulator counts it.
  for (const f of run.flows.filter((x) => x.legitimate)) {
    const li = await page.textContent(`#sim-summary li[data-flow="${f.name}"]`);
    assert.ok(li.includes(`${(f.success_rate * 100).toFixed(1)} %`), li);
  }
  // The charts: success share, clients, the attack, the listener, the link, conntrack.
  const charts = await page.$$eval("#sim-charts figure", (l) => l.map((f) => f.dataset.chart));
  for (const c of ["share", "clients", "attacks", "listener web:443", "links", "conntrack"]) assert.ok(charts.includes(c), charts.join(" | "));
  assert.match(await page.textContent('[data-chart="listener web:443"] figcaption'), /backlog 256/);
  for (const f of run.flows) assert.ok(await page.locator(`#sim-charts path[data-series="${f.name}"]`).count() >= 1, f.name);
  // Newcomers at second 8, during the flood: their SYNs are dropped for want
  // of a proven address, and the connection followed says so.
  await pick(page, "newcomers (clients)", 8);
  const newcomers = run.flows.find((f) => f.name === "newcomers");
  const row = newcomers.per_second[8];
  assert.match(await page.textContent("#sim-second-view h3"), new RegExp(`newcomers in second 8: ${row.offered} connections? started, ${row.ok} ok, ${row.failed} failed`));
  const story = newcomers.stories.find((x) => x.second === 8);
  assert.equal(await page.getAttribute("#sim-connection", "data-end"), story.end);
  assert.equal(await page.locator("#sim-connection ol.sim-events li").count(), story.events.length);
  assert.match(await page.textContent("#sim-connection"), /this peer is not proven: SYN dropped/);
  assert.match(await page.textContent("#sim-connection"), /Its journey, hop by hop/);
  assert.equal(await page.locator("#sim-connection ol.sim-trace li[data-stage]").count(), newcomers.classes[story.class].trace.hops.length);
  assert.equal(await page.locator('#sim-charts svg[data-second="8"]').count(), charts.length);
  // The legend gives the values at that second.
  const legend = plain(await page.textContent('[data-chart="clients"] .sim-legend'));
  assert.ok(legend.includes(`newcomers started: ${row.offered}`), legend);
  // The flood at the same second: the kernel's words for what became of its SYNs.
  await pick(page, "flood (attack: syn-flood)", 8);
  assert.match(await page.textContent("#sim-second-view"), /kept for proven peers: SYN dropped \(ListenDrops\)/);
  assert.equal(await page.getAttribute("#sim-connection", "data-end"), "batch");
  // Back to the newcomers; its journey plays on the map.
  await pick(page, "newcomers (clients)", 8);
  await page.click("#sim-connection button.trace-it");
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  assert.equal(await page.inputValue("#from"), newcomers.classes[0].trace.query.from);
  await page.locator("#panel-traffic").scrollIntoViewIfNeeded();
  await shot(page, "40-traffic-syn-flood", { full: true });
  await page.context().close();
});

test("the run follows the variants on screen; the player moves the second", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: "syn-flood" });
  await page.check('input[name="layer"][value="2"]');
  await openTraffic(page);
  await page.click('#variants button[data-variant="harden"]');
  await analysed(page, "harden");
  await ran(page, "harden");
  const run = await get(page, "/api/simulate?variant=harden");
  assert.match(await page.textContent("#sim-status"), /under harden/);
  assert.match(await page.textContent('#sim-summary li[data-flow="newcomers"]'), /100\.0 % served/);
  assert.equal(run.flows.find((f) => f.name === "newcomers").success_rate, 1);
  await pick(page, "flood (attack: syn-flood)", 6);
  assert.match(await page.textContent("#sim-second-view"), /SYN cookie sent/);
  // Seconds and seed from the form.
  await page.fill("#sim-seconds", "12");
  await page.click("#sim-run");
  await page.waitForFunction(() => document.querySelector("#sim-status").textContent.includes(": 12 s,"));
  await ran(page, "harden");
  assert.equal(await page.getAttribute("#sim-second", "max"), "11");
  await page.click("#sim-play");
  await page.waitForFunction(() => Number(document.querySelector("#panel-traffic").dataset.second) >= 8, null, { timeout: 10000 });
  await page.click("#sim-play");
  assert.equal(await page.textContent("#sim-play"), "▶ Play");
  await page.click("#sim-back");
  const s = Number(await page.getAttribute("#panel-traffic", "data-second"));
  await page.click("#sim-next");
  assert.equal(await page.getAttribute("#panel-traffic", "data-second"), String(s + 1));
  // A click on a chart picks the second under it.
  const chart = page.locator('[data-chart="attacks"] svg.sim-svg');
  const b = await chart.boundingBox();
  const g = JSON.parse(await chart.getAttribute("data-geometry"));
  const x = g.L + ((g.W - g.L - g.Rm) * 2.5) / g.seconds;
  await chart.click({ position: { x: (x * b.width) / g.W, y: b.height / 2 } });
  assert.equal(await page.getAttribute("#panel-traffic", "data-second"), "2");
  // Another tab hides the panel; the tab brings it back as it was.
  await page.click("#tab-changes");
  assert.equal(await page.isVisible("#panel-traffic"), false);
  await page.click("#tab-traffic");
  assert.equal(await page.isVisible("#panel-traffic"), true);
  assert.equal(await page.getAttribute("#panel-traffic", "data-second"), "2");
  await page.context().close();
});

test("the layers retell the traffic view", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: "syn-flood" });
  const words = await get(page, "/api/words");
  await openTraffic(page);
  await pick(page, "newcomers (clients)", 8);
  const seen = { words: new Set(), charts: new Set(), second: new Set() };
  for (const layer of [1, 2, 3, 4]) {
    await page.check(`input[name="layer"][value="${layer}"]`);
    assert.equal(await page.getAttribute("#words-traffic", "data-layer"), String(layer));
    const w = plain(await page.textContent("#words-traffic"));
    assert.ok(w.includes(plain(words.views.traffic[layer - 1])), `layer ${layer}: ${w}`);
    seen.words.add(w);
    seen.charts.add(plain(await page.textContent("#sim-charts")));
    seen.second.add(plain(await page.textContent("#sim-detail")));
    assert.equal(await page.getAttribute("#panel-traffic", "data-second"), "8");
  }
  assert.equal(seen.words.size, 4);
  assert.ok(seen.charts.size >= 3, "the charts read the same at most layers");
  assert.ok(seen.second.size >= 3, "the second's view reads the same at most layers");
  assert.match(await page.textContent("#sim-detail"), /TcpExtListenDrops/);
  await page.context().close();
});

test("a scenario without traffic says so and offers the built-ins that have one", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: "mini-lab" });
  await page.check('input[name="layer"][value="2"]');
  await page.click("#tab-traffic");
  await page.waitForSelector('#panel-traffic[data-state="none"]');
  assert.equal(await page.isVisible("#sim-form"), false);
  assert.match(plain(await page.textContent("#sim-none")), /mini-lab has no traffic: section, so there is nothing to simulate over time/);
  const examples = await get(page, "/api/examples");
  const want = examples.filter((e) => e.traffic).map((e) => e.name);
  assert.ok(want.includes("syn-flood"), want.join(" "));
  await page.waitForSelector("#sim-examples");
  assert.deepEqual(await page.$$eval("#sim-examples button", (l) => l.map((b) => b.dataset.example)), want);
  await page.check('input[name="layer"][value="1"]');
  assert.match(plain(await page.textContent("#sim-none")), /no traffic: section/);
  await shot(page, "41-traffic-none");
  // Loading one from here runs it.
  await page.click('#sim-examples button[data-example="syn-flood"]');
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("syn-flood"));
  await ran(page, "");
  assert.equal(await page.isVisible("#sim-none"), false);
  assert.ok(await page.locator("#sim-charts figure").count() >= 5);
  await page.context().close();
});

test("the traffic view fits 390 px without the page scrolling sideways", { skip }, async () => {
  const page = await rig.open(PHONE, { firstVisit: false, scenario: "syn-flood" });
  await openTraffic(page);
  await pick(page, "newcomers (clients)", 8);
  for (const layer of [1, 3]) {
    await page.check(`input[name="layer"][value="${layer}"]`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `layer ${layer}: the page scrolls sideways by ${overflow}px`);
    const wide = await page.$$eval("#panel-traffic *", (l) => l.filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5).map((e) => e.tagName + (e.id ? `#${e.id}` : "")));
    assert.deepEqual(wide, []);
  }
  // The charts' text stays legible: drawn at the width they get, 12 px.
  const sizes = await page.$$eval("#sim-charts .sim-svg", (l) => l.map((svg) => {
    const r = svg.getBoundingClientRect();
    return r.width / Number(svg.getAttribute("width"));
  }));
  for (const k of sizes) assert.ok(k > 0.99, `a chart is drawn ${k}× its size`);
  // No text under 12 px, and every character has a font (as journey.test.mjs
  // checks the rest of the page).
  const small = await page.$$eval("#panel-traffic *", (l) => l.filter((e) => {
    if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) || e.closest(".sr, option, title")) return false;
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) return false;
    let size = parseFloat(getComputedStyle(e).fontSize);
    if (e instanceof SVGElement && e.ownerSVGElement) size *= e.getScreenCTM().a;
    return size < 11.95;
  }).map((e) => `${e.tagName} ${e.textContent.slice(0, 30)}`));
  assert.deepEqual(small, []);
  await page.click("#sim-play");
  const missing = await page.evaluate(() => {
    const chars = new Set([...document.querySelector("#panel-traffic").innerText, ...document.querySelector("#tab-traffic").innerText].filter((c) => c.codePointAt(0) > 127 && !/\s/.test(c)));
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
  await page.click("#sim-play");
  assert.deepEqual(missing, []);
  await page.locator("#sim-player").scrollIntoViewIfNeeded();
  await shot(page, "42-phone-traffic", { full: true });
  await page.context().close();
});

test("nothing failed: no console error, no failed or off-site request", { skip }, async () => {
  assert.deepEqual(rig.problems, []);
});
