// Lessons on the page: a lesson opens in view (1366×768 and 390×844), every
// lesson shows every section of the course at every layer with its diagram
// drawn by mermaid, every predict-then-see answer is what the engine computes
// live, hands-on steps run their journey, and a lesson's questions run on its
// own scenario whatever was loaded since.
//
//   PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRig, skip, shot, useExample, box, inside, DESKTOP, PHONE } from "./rig.mjs";

let rig;
before(async () => { if (!skip) rig = await startRig(); });
after(async () => { if (rig) await rig.close(); });

const get = (page, path) => page.evaluate(async (p) => (await fetch(p)).json(), path);
const clean = (t) => t.replace(/\s+/g, " ").trim();

/** What the page shows for a line of lesson Markdown: its rendered text. */
const shown = (page, md) => page.evaluate((m) => {
  const d = document.createElement("div");
  d.append(window.pathproof.renderInline(m));
  return d.textContent;
}, md).then(clean);

async function openLesson(page, id) {
  await page.click("#side-tab-lesson");
  await page.click(`#lesson-list button[data-lesson="${id}"]`);
  await page.waitForSelector(`#lesson[data-lesson="${id}"]:not([hidden])`);
  await page.waitForSelector('#map[data-ready="true"]');
}

async function layer(page, n) {
  await page.check(`input[name="layer"][value="${n}"]`);
  await page.waitForSelector(`#lesson[data-layer="${n}"]`);
}

for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
  test(`a lesson opens in view at ${viewport.width}×${viewport.height}`, { skip }, async () => {
    const page = await rig.open(viewport, { firstVisit: false });
    const lessons = await get(page, "/api/lessons");
    // One far down the list, on a scenario other than the one on screen.
    const l = lessons.find((x) => x.id === "tls-mitm");
    await openLesson(page, l.id);
    assert.match(await page.textContent("#scenario-about"), /^tls-mitm/);
    const head = await box(page, "#lesson .lesson-head");
    assert.ok(inside(head, viewport), `the lesson's heading is out of view: ${JSON.stringify(head)}`);
    assert.ok(inside(await box(page, "#lesson .takeaway"), viewport, 1) || viewport === PHONE, "the key takeaway is out of view");
    if (viewport === DESKTOP) {
      // Beside the map: the page itself does not scroll, the map stays in view.
      assert.equal(await page.evaluate(() => scrollY), 0);
      assert.ok(inside(await box(page, "#map-wrap"), viewport));
    }
    await page.waitForSelector("#lesson .diagram[data-state=drawn]");
    await shot(page, `20-lesson-opens-${name}`);
    await page.context().close();
  });
}

test("every lesson shows every section of the course at every layer, its diagram drawn", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const lessons = await get(page, "/api/lessons");
  assert.ok(lessons.length >= 16, `${lessons.length} lessons`);
  for (const { id } of lessons) {
    const l = await get(page, `/api/lessons/${id}`);
    await openLesson(page, id);
    for (const x of l.layers) {
      await layer(page, x.level);
      const where = `${id} at layer ${x.level}`;
      const text = async (sel) => clean(await page.locator(`#lesson ${sel}`).first().textContent());
      assert.ok((await text(".takeaway")).includes(await shown(page, x.takeaway)), `${where}: key takeaway`);
      for (const [cls, field] of [["security-lens", "security_lens"], ["trust-question", "trust_question"], ["failure-mode", "failure_mode"], ["attacker-goal", "attacker_goal"], ["why-it-matters", "why_it_matters"], ["engineers-get-wrong", "engineers_get_wrong"], ["mental-model", "mental_model"]]) {
        assert.ok(x[field], `${where}: no ${field} in the API`);
        assert.equal(await text(`dd.${cls}`), await shown(page, x[field]), `${where}: ${field}`);
      }
      assert.equal(await page.locator("#lesson .misconceptions li").count(), x.misconceptions.length, `${where}: misconceptions`);
      assert.ok(x.misconceptions.length >= 1);
      assert.ok((await text(".incident h3")).includes(x.incident.name), `${where}: incident`);
      const href = await page.getAttribute("#lesson .incident a.source", "href");
      assert.equal(href, x.incident.source);
      assert.match(href, /^https:\/\//);
      assert.equal(await text(".signal p"), await shown(page, x.signal), `${where}: on-call signal`);
      assert.equal(await text(".regression code"), x.regression, `${where}: regression`);
      assert.equal(await page.locator("#lesson .hands-on > li").count(), x.hands_on.length, `${where}: hands on`);
      assert.equal(await page.locator("#lesson .run-this").count(), x.hands_on.filter((s) => s.run).length, `${where}: Run this`);
      if (x.level === 1) assert.ok(x.hands_on.some((s) => s.run), `${where}: layer 1 needs a step that runs`);
      assert.equal(await page.locator("#lesson li.prediction").count(), x.predict.length, `${where}: questions`);
      // The diagram: drawn by mermaid, not left as text or an error.
      await page.waitForSelector("#lesson .diagram:is([data-state=drawn], [data-state=error])");
      assert.equal(await page.getAttribute("#lesson .diagram", "data-state"), "drawn", `${where}: ${await page.textContent("#lesson .diagram")}`);
      const size = await box(page, "#lesson .diagram svg");
      assert.ok(size.w > 80 && size.h > 40, `${where}: the diagram is ${JSON.stringify(size)}`);
    }
    await layer(page, 1);
  }
  await page.context().close();
});

test("every predict-then-see answer is what the engine computes, at every layer", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const lessons = await get(page, "/api/lessons");
  let asked = 0;
  for (const { id } of lessons) {
    const l = await get(page, `/api/lessons/${id}`);
    await openLesson(page, id);
    for (const x of l.layers) {
      await layer(page, x.level);
      for (let i = 0; i < x.predict.length; i++) {
        const p = x.predict[i];
        const li = page.locator(`#lesson li.prediction[data-level="${x.level}"][data-index="${i}"]`);
        await li.locator(`input[value="${p.answer}"]`).check();
        await li.locator("button.see").click();
        await li.locator(".reveal[data-verdict]").waitFor();
        const where = `${id} layer ${x.level} question ${i + 1} (${p.from} → ${p.to}${p.variant ? ` with ${p.variant}` : ""})`;
        assert.equal(await li.getAttribute("data-verdict"), "right", `${where}: ${clean(await li.textContent())}`);
        assert.equal(await li.locator(".reveal .error").count(), 0, `${where}: ${clean(await li.textContent())}`);
        // The journey on the map is that question's, under its variant.
        await page.waitForFunction(([from, variant]) => document.querySelector("#from").value === from && (document.querySelector("#variants").dataset.variant || "") === variant, [p.from, p.variant || ""]);
        assert.equal(await page.getAttribute("#outcome", "data-kind"), p.answer, where);
        asked++;
      }
    }
    await layer(page, 1);
  }
  assert.ok(asked >= 130, `${asked} questions`);
  await page.context().close();
});

test("a wrong guess is told so, beside the lesson's answer and the engine's", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await openLesson(page, "checkpoint");
  const l = await get(page, "/api/lessons/checkpoint");
  const p = l.layers[0].predict[0];
  const li = page.locator('#lesson li.prediction[data-level="1"][data-index="0"]');
  // See before choosing asks for a choice first.
  await li.locator("button.see").click();
  assert.match(await li.locator(".reveal").textContent(), /Choose what you expect first/);
  const wrong = l.choices.find((k) => k !== p.answer && (k === "reached") !== (p.answer === "reached"));
  await li.locator(`input[value="${wrong}"]`).check();
  await li.locator("button.see").click();
  await li.locator('.reveal[data-verdict="wrong"]').waitFor();
  assert.match(await li.textContent(), /Not this time/);
  assert.equal(await li.getAttribute("data-verdict"), "wrong");
  // The card under the map tells the journey of the question, in view.
  assert.ok(inside(await box(page, "#hop-card"), DESKTOP));
  await shot(page, "21-predict-wrong");
  await page.context().close();
});

test("Run this plays a hands-on journey on the map, under its variant", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  // A lesson with a step that runs under a variant at layer 1 and another from layer 2.
  const all = await get(page, "/api/lessons");
  let l = null, picks = null;
  for (const { id } of all) {
    const c = await get(page, `/api/lessons/${id}`);
    const one = c.layers[0];
    const two = c.layers.find((x) => x.level >= 2 && x.hands_on.some((s) => s.run));
    if (!one.hands_on.some((s) => s.run && s.run.variant)) continue;
    if (!l || (two && picks.length < 2)) { l = c; picks = two ? [one, two] : [one]; }
  }
  assert.ok(l, "no lesson runs a variant at layer 1");
  await openLesson(page, l.id);
  for (const x of picks) {
    await layer(page, x.level);
    const withVariant = x.hands_on.findIndex((s) => s.run && s.run.variant);
    const i = withVariant >= 0 ? withVariant : x.hands_on.findIndex((s) => s.run);
    const run = x.hands_on[i].run;
    await page.evaluate(() => { document.querySelector("#status").textContent = ""; });
    await page.locator(`#lesson .hands-on > li[data-index="${i}"] .run-this`).click();
    await page.waitForFunction(() => /^Ran /.test(document.querySelector("#status").textContent));
    assert.equal(await page.inputValue("#from"), run.from);
    assert.equal(await page.inputValue("#to"), run.to);
    assert.equal(await page.getAttribute("#variants", "data-variant"), run.variant || "");
    assert.equal(await page.getAttribute("#hop-card", "data-step"), "1");
    // From layer 2 the step shows its command line.
    if (x.level >= 2) assert.match(await page.textContent(`#lesson .hands-on > li[data-index="${i}"] .run-command`), /^pathproof trace /);
    else assert.equal(await page.locator(`#lesson .hands-on > li[data-index="${i}"] .run-command`).count(), 0);
  }
  await page.context().close();
});

test("a lesson's question runs on its own scenario, whatever was loaded since", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await openLesson(page, "dns-spoofing");
  assert.match(await page.textContent("#scenario-about"), /^dns-spoofing/);
  assert.equal(await page.getAttribute("#lesson", "data-own-scenario"), "true");
  await useExample(page, "mini-lab");
  assert.equal(await page.getAttribute("#lesson", "data-own-scenario"), "false");
  assert.match(await page.textContent("#lesson .lesson-scenario"), /Another scenario is in use/);
  const l = await get(page, "/api/lessons/dns-spoofing");
  const p = l.layers[0].predict[0];
  const li = page.locator('#lesson li.prediction[data-level="1"][data-index="0"]');
  await li.locator(`input[value="${p.answer}"]`).check();
  await li.locator("button.see").click();
  await li.locator('.reveal[data-verdict="right"]').waitFor();
  assert.match(await page.textContent("#scenario-about"), /^dns-spoofing/);
  assert.match(await page.textContent("#status"), /Loaded dns-spoofing\.yaml again/);
  assert.equal(await page.getAttribute("#lesson", "data-own-scenario"), "true");
  await page.context().close();
});

test("nothing failed: no console error, no failed or off-site request", { skip }, async () => {
  assert.deepEqual(rig.problems, []);
});
