// The views of every journey under the map: the reachability matrix, the
// changes a toggle makes compared with what was on screen (harden on top of
// break shows the journeys it removes), the attacker view drawn along the
// wire, Markdown rendering, the YAML editor's problems, and the layer
// switch retelling every view.
//
//   PATHPROOF_BIN=target/debug/pathproof node --test crates/web/ui/tests/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRig, skip, shot, analysed, useExample, box, DESKTOP, PHONE, SHOTS } from "./rig.mjs";

let rig;
before(async () => { if (!skip) rig = await startRig(); });
after(async () => { if (rig) await rig.close(); });

const get = (page, path) => page.evaluate(async (p) => (await fetch(p)).json(), path);
const td = (page, source, host) => page.locator(`#matrix tr[data-source="${source}"] td[data-host="${host}"]`);
const plain = (t) => t.replace(/`/g, "").replace(/\s+/g, " ").trim();
const pairs = (list) => new Set(list.map((g) => `${g.source}>${g.host}`));

async function toggle(page, name, stack) {
  await page.click(`#variants button[data-variant="${name}"]`);
  await analysed(page, stack);
}

test("the matrix shows every journey of the engine, and a cell traces its journey", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const api = await get(page, "/api/reach?cells=true");
  const compact = await get(page, "/api/reach");
  assert.equal(compact.schema, 2);
  assert.equal(await page.locator("#matrix-overview table").count(), 0, "a small matrix is drawn whole");
  assert.equal(await page.locator("#matrix tbody tr[data-source]").count(), api.sources.length);
  assert.equal(await page.locator("#matrix thead th.col-host").count(), api.targets.length);
  assert.equal(await page.locator("#matrix td.allow").count(), api.cells.length);
  for (const c of api.cells) {
    const cell = td(page, c.source, c.host);
    assert.equal(plain(await cell.textContent()), `allowed: ✔ ${c.ports}`);
  }
  const none = td(page, "client", "db");
  assert.match(await none.getAttribute("class"), /\bnone\b/);
  assert.match(await none.textContent(), /no journey/);
  await td(page, "client", "web").click();
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  assert.equal(await page.inputValue("#from"), "client");
  assert.match(await page.textContent("#matrix-detail"), /client → web/);
  // Arrows move between cells and do not step the player; Enter traces.
  const position = await page.textContent("#position");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.host), "db");
  assert.equal(await page.textContent("#position"), position);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "client -> db");
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind && document.querySelector("#outcome").dataset.kind !== "reached");
  // The tabs are keyboard navigable, and there is room for more of them.
  await page.focus("#tab-matrix");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.id), "tab-changes");
  assert.equal(await page.isVisible("#panel-changes"), true);
  await page.locator("#analysis").screenshot({ path: join(SHOTS, "10-matrix.png") });
  await page.context().close();
});

test("a large matrix is drawn from its classes, a window at a time under a network overview", { skip }, async () => {
  // 300 alike hosts on lan (one class), and an admin host on a network no route joins.
  let yaml = "name: flat-300\nnetworks:\n  lan: { cidr: 10.1.0.0/16 }\n  ops: { cidr: 10.2.0.0/24 }\nhosts:\n";
  for (let i = 0; i < 300; i++) yaml += `  h${i}: { at: lan 10.1.${Math.floor(i / 250)}.${(i % 250) + 1}, listen: ["tcp/8000 app", "tcp/8001 more", "tcp/8002 more"] }\n`;
  yaml += "  admin: { at: ops 10.2.0.5, listen: [\"tcp/22 ssh\"] }\n";
  const r = await fetch(`${rig.url}/api/scenario?file=flat-300.yaml`, { method: "POST", body: yaml });
  assert.equal(r.status, 200, await r.text());
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: null });
  await analysed(page, "");
  const api = await get(page, "/api/reach");
  assert.equal(api.schema, 2);
  assert.equal(api.pairs, 3 * (300 * 299 + 300) + 1);
  assert.ok(api.classes.length <= 7, `${api.classes.length} classes`);
  // Overview: network × network, the pairs of each block.
  assert.equal(await page.locator("#matrix-overview td[data-block]").count(), 4);
  assert.match(await page.textContent('#matrix-overview td[data-block="0,0"]'), /270,000 pairs/);
  assert.match(await page.textContent('#matrix-overview td[data-block="0,1"]'), /none/);
  assert.match(await page.textContent('#matrix-overview td[data-block="1,1"]'), /✔ 1 pairs/);
  // A window of the cells, each derived from the classes as the cells answer has it.
  assert.equal(await page.locator("#matrix tbody tr[data-source]").count(), 50);
  assert.equal(await page.locator("#matrix thead th.col-host").count(), 24);
  const h0 = await get(page, "/api/reach?from=h0&cells=true");
  const want = new Map(h0.cells.filter((c) => c.source === "h0").map((c) => [c.host, c.ports]));
  const row = await page.locator('#matrix tr[data-source="h0"] td').evaluateAll((l) => l.map((t) => [t.dataset.host, t.className, t.textContent]));
  assert.equal(row.length, 24);
  for (const [host, cls, text] of row) {
    if (want.has(host)) assert.equal(plain(text), `allowed: ✔ ${want.get(host)}`, host);
    else assert.match(cls, /\bnone\b/, host);
  }
  assert.equal(want.get("h1"), "tcp 8000-8002");
  // Keys move the window; the buttons too; a block of the overview jumps there.
  await page.locator('#matrix td[data-r="49"][data-c="0"]').click();
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "h49 -> h0");
  assert.match(await page.textContent("#matrix-detail"), /tcp\/8000 app/);
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind === "reached");
  await page.locator('#matrix td[data-r="49"][data-c="0"]').focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.r), "50");
  assert.match(await page.textContent("#matrix-range"), /Rows 2–51 of 303/);
  await page.click('#matrix-window button[aria-label="next columns"]');
  assert.match(await page.textContent("#matrix-range"), /columns 25–48 of 301/);
  await page.click('#matrix-overview td[data-block="1,1"] button');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.host), "admin");
  assert.deepEqual(await page.locator("#matrix tbody tr[data-source]").evaluateAll((l) => l.slice(-2).map((t) => t.dataset.source)), ["admin", "ops"]);
  assert.deepEqual(rig.problems, []);
  await page.context().close();
});

test("past 24 × 12 networks the overview shows those around the window, and follows it", { skip }, async () => {
  // 30 networks of 10 hosts: 330 rows × 300 columns, 30 × 30 blocks.
  let yaml = "name: nets-30\nnetworks:\n";
  for (let n = 0; n < 30; n++) yaml += `  net${n}: { cidr: 10.${n}.0.0/24 }\n`;
  yaml += "hosts:\n";
  for (let n = 0; n < 30; n++) for (let i = 0; i < 10; i++) yaml += `  h${n}-${i}: { at: net${n} 10.${n}.0.${i + 1}, listen: ["tcp/80 web"] }\n`;
  const r = await fetch(`${rig.url}/api/scenario?file=nets-30.yaml`, { method: "POST", body: yaml });
  assert.equal(r.status, 200, await r.text());
  const page = await rig.open(DESKTOP, { firstVisit: false, scenario: null });
  await analysed(page, "");
  assert.equal(await page.locator("#matrix-overview td[data-block]").count(), 24 * 12);
  assert.match(await page.textContent("#matrix-overview-range"), /Networks 1–24 of 30 \(sources\) × 1–12 of 30 \(hosts\)/);
  // A network's 10 hosts reach each other's socket, and anyone else on it reaches all 10.
  assert.match(await page.textContent('#matrix-overview td[data-block="3,3"]'), /✔ 100 pairs/);
  assert.match(await page.textContent('#matrix-overview td[data-block="3,4"]'), /none/);
  await page.click('#matrix-overview td[data-block="20,11"] button');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.host), "h11-0");
  assert.match(await page.textContent("#matrix-range"), /Rows 221–270 of 330, columns 111–134 of 300/);
  assert.match(await page.textContent("#matrix-overview-range"), /Networks 7–30 of 30 \(sources\) × 10–21 of 30 \(hosts\)/);
  assert.match(await page.getAttribute('#matrix-overview td[data-block="20,11"]', "class"), /\bhere\b/);
  assert.match(await page.textContent('#matrix-overview td[data-block="20,20"]'), /✔ 100 pairs/);
  assert.deepEqual(rig.problems, []);
  await page.context().close();
});

test("the expected journeys carry check's verdicts, re-checked from what a toggle changed", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await page.click("#tab-expectations");
  await page.waitForFunction(() => /passed/.test(document.querySelector("#check-summary").textContent));
  const base = await get(page, "/api/check");
  assert.match(await page.textContent("#check-summary"), new RegExp(`as written: ${base.passed} passed, ${base.failed} failed — \\d+ of ${base.results.length} lines evaluated again`));
  let verdicts = await page.locator("#expect-rows td[data-passed]").evaluateAll((l) => l.map((t) => t.dataset.passed === "true"));
  assert.deepEqual(verdicts, base.results.map((r) => r.passed));
  await toggle(page, "break", "break");
  await page.waitForFunction(() => /under break/.test(document.querySelector("#check-summary").textContent));
  const summary = await page.textContent("#check-summary");
  const m = /(\d+) of (\d+) lines evaluated again for this answer \(([^)]*)\)/.exec(summary);
  assert.ok(m, summary);
  assert.equal(m[3], "the engine updated for the changed filters", summary);
  assert.ok(Number(m[1]) <= Number(m[2]), summary);
  const brk = await get(page, "/api/check?variant=break");
  assert.ok(brk.failed > 0, "break breaks a line of mini-lab");
  assert.match(summary, new RegExp(`under break: ${brk.passed} passed, ${brk.failed} failed`));
  verdicts = await page.locator("#expect-rows td[data-passed]").evaluateAll((l) => l.map((t) => t.dataset.passed === "true"));
  assert.deepEqual(verdicts, brk.results.map((r) => r.passed));
  assert.match(await page.textContent('#expect-rows td[data-passed="false"]'), /✖ fails/);
  await page.context().close();
});

test("break shows the journeys that appear, with the declaration responsible", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await toggle(page, "break", "break");
  const diff = await get(page, "/api/diff?variant=break");
  const rule = diff.changes[0];
  assert.equal(rule.text, "allow from dmz to any");
  const cell = td(page, "web", "metadata");
  assert.match(await cell.getAttribute("class"), /\bgained\b/);
  assert.match(await cell.textContent(), /\+ tcp 80/);
  const shown = await page.locator("#matrix td.gained").evaluateAll((l) => l.map((t) => `${t.closest("tr").dataset.source}>${t.dataset.host}`));
  assert.deepEqual(new Set(shown), pairs(diff.gained));
  assert.equal(await page.locator("#diff-layer path.diff-arrow.gained").count(), pairs(diff.gained).size);
  assert.match(await page.locator('.node[data-host="metadata"]').getAttribute("class"), /diff-gained/);
  assert.equal(await page.textContent('#badge-layer [data-badge="metadata"].gained text'), "+3");
  assert.equal(await page.isVisible("#legend-diff"), true);
  await page.click("#tab-changes");
  assert.match(await page.textContent("#changes .diff-label"), /as written → break/);
  assert.equal(await page.locator("#changes .journey-changes > li.gained").count(), diff.gained.length);
  const web = page.locator('#changes li[data-journey="web -> metadata tcp/80 http"]');
  assert.match(await web.textContent(), /allow from dmz to any/);
  // Its line opens the YAML at the rule.
  await page.locator("#changes .decl-changes button").first().click();
  const selected = await page.evaluate(() => { const t = document.querySelector("#yaml"); return t.value.slice(t.selectionStart, t.selectionEnd); });
  assert.match(selected, /allow from dmz to any/);
  await page.click("#editor-close");
  await web.locator("button.trace-it").click();
  await page.waitForFunction(() => document.querySelector("#to").value === "169.254.169.254:80" && document.querySelector("#outcome").dataset.kind === "reached");
  await shot(page, "11-break-changes", { full: true });
  // Back to as written: compared with break, on screen before, the same journeys disappear.
  await page.click('#variants button[data-variant=""]');
  await analysed(page, "");
  assert.equal(await page.locator("#matrix td.gained").count(), 0);
  assert.equal(await page.locator("#matrix td.lost").count(), pairs(diff.gained).size);
  assert.match(await page.textContent("#changes .diff-label"), /break → as written/);
  await page.context().close();
});

test("harden on top of break shows the journeys the hardening removes, compared with break", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await toggle(page, "break", "break");
  await toggle(page, "harden", "break+harden");
  assert.equal(await page.getAttribute("#variants", "data-variant"), "break+harden");
  assert.equal(await page.getAttribute('#variants button[data-variant="break"]', "aria-pressed"), "true");
  assert.equal(await page.getAttribute('#variants button[data-variant="harden"]', "aria-pressed"), "true");
  assert.match(await page.textContent("#variant-why"), /harden on top of break/);
  const diff = await get(page, "/api/diff?variant=break%2Bharden&base=break");
  assert.ok(diff.lost.length > 0, "harden removes journeys that break opened");
  await page.click("#tab-changes");
  assert.match(await page.textContent("#changes .diff-label"), /break → break\+harden/);
  assert.equal(await page.locator("#changes .journey-changes > li.lost").count(), diff.lost.length);
  for (const g of diff.lost) {
    const li = page.locator(`#changes li.lost[data-journey="${g.source} -> ${g.host} ${g.socket}"]`);
    assert.equal(await li.count(), 1, `${g.source} -> ${g.host} ${g.socket}`);
  }
  // The matrix and the map show the same journeys disappearing.
  assert.equal(await page.locator("#matrix td.lost").count(), pairs(diff.lost).size);
  assert.equal(await page.locator("#diff-layer path.diff-arrow.lost").count(), pairs(diff.lost).size);
  for (const host of new Set(diff.lost.map((g) => g.host))) {
    assert.match(await page.locator(`.node[data-host="${host}"]`).getAttribute("class"), /diff-lost/);
  }
  await page.evaluate(() => scrollTo(0, 0));
  await shot(page, "12-harden-on-break");
  await page.locator("#analysis").screenshot({ path: join(SHOTS, "12-harden-on-break-changes.png") });
  // A trace under the stack is told as such.
  await page.locator("#changes li.lost button.trace-it").first().click();
  await page.waitForFunction(() => document.querySelector("#outcome").dataset.kind && document.querySelector("#outcome").dataset.kind !== "reached");
  // Turning break off compares break+harden with harden alone.
  await toggle(page, "break", "harden");
  assert.match(await page.textContent("#changes .diff-label"), /break\+harden → harden/);
  await page.context().close();
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

test("a file opened from disk: a variant that removes a rule shows the journey that disappears", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await page.setInputFiles("#open-file", { name: "tiny.yaml", mimeType: "text/yaml", buffer: Buffer.from(TINY) });
  await page.waitForFunction(() => document.querySelector("#scenario-about").textContent.startsWith("tiny"));
  await analysed(page, "");
  assert.equal(plain(await td(page, "pc", "app").textContent()), "allowed: ✔ tcp 22, 8000-8002");
  await toggle(page, "tighten", "tighten");
  const cell = td(page, "pc", "app");
  assert.match(await cell.getAttribute("class"), /\blost\b/);
  assert.equal(await cell.locator(".delta.minus s").textContent(), "tcp 22");
  await page.click("#tab-changes");
  const lost = page.locator('#changes li[data-journey="pc -> app tcp/22 ssh"]');
  assert.match(await lost.textContent(), /allow tcp from lan to app port 22/);
  // The server holds one scenario: the next tests start from the mini-lab again.
  await useExample(page, "mini-lab");
  await page.context().close();
});

test("a YAML problem is shown once, at its line", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  rig.expected422 = true;
  try {
    await page.click("#edit-btn");
    await page.fill("#yaml", "name: x\nnetworks:\n  app: { cidr: 10.0.2.0/33 }\nhosts:\n  a: { at: app 10.0.2.1 }\n");
    await page.click("#editor-load");
    await page.waitForSelector("#problems li");
    const items = await page.locator("#problems li").allTextContents();
    assert.equal(items.length, 1, items.join(" | "));
    assert.match(items[0], /line 3/);
    assert.match(items[0], /is not a prefix/);
    assert.doesNotMatch(items[0], /is \)/);
    // The gutter numbers every line (the text's six: it ends with a newline)
    // and marks the problem's.
    const gutter = async () => (await page.textContent("#gutter")).split("\n").filter((l) => l !== "");
    assert.deepEqual(await gutter(), ["1", "2", "⚠3", "4", "5", "6"]);
    assert.equal(await page.locator('#gutter .bad-line[data-line="3"]').count(), 1);
    await shot(page, "13-yaml-problem");
    // Typing numbers the lines again, the marks gone until the next load.
    await page.fill("#yaml", "name: x\nnetworks:\n  app: { cidr: 10.0.2.0/24 }\n");
    assert.deepEqual(await gutter(), ["1", "2", "3", "4"]);
    assert.equal(await page.locator("#gutter .bad-line").count(), 0);
  } finally {
    rig.expected422 = false;
  }
  await page.context().close();
});

test("the attacker view: step after step, drawn through the devices each request crosses", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  await page.click("#tab-attacker");
  await page.selectOption("#foothold", "web");
  await page.waitForSelector('#attacker[data-from="web"]');
  const f = await get(page, "/api/foothold?from=web");
  assert.equal(await page.textContent("#atk-depth"), `step 1 of ${f.depth}`);
  const db = page.locator('#attacker li[data-jewel="db"]');
  assert.match(await db.textContent(), /2 steps: web → api → db/);
  assert.match(await page.locator('.node[data-host="web"]').getAttribute("class"), /foothold-start/);
  assert.match(await page.locator('.node[data-host="api"]').getAttribute("class"), /\bowned\b/);
  await page.click("#atk-more");
  assert.equal(await page.textContent("#atk-depth"), `step 2 of ${f.depth}`);
  assert.match(await page.locator('.node[data-host="db"]').getAttribute("class"), /\bowned\b/);
  // Each step goes along the wire: web → api crosses edge, and the arrow passes through it.
  const step = page.locator('#attack-layer path[data-step="web>api"]');
  assert.equal(await step.getAttribute("data-via"), f.edges.find((e) => e.from === "web" && e.to === "api").devices.join(" "));
  assert.match(await step.getAttribute("data-via"), /^web edge api$/);
  const through = await page.evaluate(() => {
    const p = document.querySelector('#attack-layer path[data-step="web>api"]');
    const n = document.querySelector('.node[data-host="edge"]').getBBox();
    const len = p.getTotalLength();
    for (let i = 0; i <= 100; i++) {
      const q = p.getPointAtLength((len * i) / 100);
      if (q.x >= n.x && q.x <= n.x + n.width && q.y >= n.y && q.y <= n.y + n.height) return true;
    }
    return false;
  });
  assert.ok(through, "the attack step web → api does not pass through edge");
  // The step badges sit on their node's top border, within its width, and
  // leave its name uncovered.
  for (const host of ["web", "api", "db"]) {
    const b = await box(page, `#badge-layer [data-badge="${host}"].attack rect`);
    const n = await box(page, `.node[data-host="${host}"]`);
    const name = await box(page, `.node[data-host="${host}"] .host-name`);
    assert.ok(b.x >= n.x - 0.5 && b.right <= n.right + 0.5 && Math.abs(b.y + b.h / 2 - n.y) <= 3, `${host}: the badge ${JSON.stringify(b)} is not on its node's border ${JSON.stringify(n)}`);
    assert.ok(b.bottom <= name.y + 1, `${host}: the badge ${JSON.stringify(b)} covers the name ${JSON.stringify(name)}`);
  }
  assert.equal(await page.textContent('#badge-layer [data-badge="db"].attack text'), "step 2");
  await page.locator("#map-wrap").screenshot({ path: join(SHOTS, "14-attacker-map.png") });
  await shot(page, "15-attacker", { full: true });
  // Under break the database is one hop away.
  await toggle(page, "break", "break");
  await page.waitForFunction(() => document.querySelector("#attacker").textContent.includes("under break"));
  assert.match(await page.textContent('#attacker li[data-jewel="db"]'), /1 step: web → db/);
  await page.click('#variants button[data-variant=""]');
  await analysed(page, "");
  // Picking the foothold on the map, with the keyboard.
  await page.click("#foothold-pick");
  await page.focus('.node[data-host="api"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('#attacker[data-from="api"]');
  assert.match(await page.textContent('#attacker li[data-jewel="db"]'), /1 step: api → db/);
  await page.click("#foothold-clear");
  assert.equal(await page.locator("#attack-layer *").count(), 0);
  await page.context().close();
});

test("Markdown is rendered by markdown-it and sanitised: no text becomes markup the page runs", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const out = await page.evaluate(async () => {
    const box = document.createElement("div");
    box.append(window.pathproof.renderMarkdown([
      "### Title <b>x</b>",
      "",
      "A **bold** and *em* word, a `code <i>` span, snake_case_name and 2 * 3 * 4.",
      "<img src=x onerror=\"window.pwned=1\"> <script>window.pwned=2</script>",
      "",
      "- one [link](https://example.org/a)",
      "- two [bad](javascript:window.pwned=3) and [data](data:text/html,x)",
      "",
      "```",
      "<b>kept</b> **as text**",
      "```",
    ].join("\n")));
    document.body.append(box);
    await new Promise((r) => setTimeout(r, 50));
    const r = {
      html: box.innerHTML,
      strong: [...box.querySelectorAll("p strong")].map((x) => x.textContent),
      code: [...box.querySelectorAll("p code")].map((x) => x.textContent),
      links: [...box.querySelectorAll("a")].map((a) => [a.textContent, a.getAttribute("href"), a.getAttribute("rel")]),
      pre: box.querySelector("pre code") && box.querySelector("pre code").textContent,
      elements: [...new Set([...box.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()))].sort(),
      pwned: window.pwned || null,
    };
    box.remove();
    return r;
  });
  assert.equal(out.pwned, null);
  assert.deepEqual(out.strong, ["bold"]);
  assert.deepEqual(out.code, ["code <i>"]);
  assert.match(out.html, /snake_case_name and 2 \* 3 \* 4\./);
  assert.match(out.html, /&lt;img src=x onerror=/);
  assert.deepEqual(out.links.filter(([, href]) => href), [["link", "https://example.org/a", "noopener noreferrer"]]);
  assert.equal(out.pre, "<b>kept</b> **as text**\n");
  assert.ok(!out.elements.includes("img") && !out.elements.includes("script"), out.elements.join(" "));
  await page.context().close();
});

test("the views fit 390 px without the page scrolling sideways", { skip }, async () => {
  const page = await rig.open(PHONE, { firstVisit: false });
  await toggle(page, "break", "break");
  await page.click("#tab-attacker");
  await page.selectOption("#foothold", "web");
  await page.waitForSelector('#attacker[data-from="web"]');
  for (const tab of ["tab-matrix", "tab-changes", "tab-attacker", "tab-expectations", "tab-traffic"]) {
    await page.click(`#${tab}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${tab}: the page scrolls sideways by ${overflow}px`);
  }
  await page.click("#tab-changes");
  await page.locator("#analysis").scrollIntoViewIfNeeded();
  await shot(page, "16-phone-changes");
  await page.context().close();
});

test("the layer switch retells every view", { skip }, async () => {
  const page = await rig.open(DESKTOP, { firstVisit: false });
  const words = await get(page, "/api/words");
  const text = async (sel) => plain(await page.textContent(sel));
  await td(page, "web", "api").click();
  await page.waitForFunction(() => document.querySelector("#matrix-detail").dataset.cell === "web -> api");
  await page.click("#tab-attacker");
  await page.selectOption("#foothold", "web");
  await page.waitForSelector('#attacker[data-from="web"]');
  await toggle(page, "break", "break");
  const seen = new Map();
  const see = (k, v) => { if (!seen.has(k)) seen.set(k, new Set()); seen.get(k).add(v); };
  for (const layer of [1, 2, 3, 4]) {
    await page.check(`input[name="layer"][value="${layer}"]`);
    for (const [view, id] of [["matrix", "matrix"], ["changes", "changes"], ["attacker", "attacker"], ["expectations", "expectations"], ["traffic", "traffic"]]) {
      const w = `#words-${id}`;
      assert.equal(await page.getAttribute(w, "data-layer"), String(layer));
      const t = await text(w);
      assert.ok(t.includes(plain(words.views[view][layer - 1])), `${view} at layer ${layer}: ${t}`);
      see(view, t);
    }
    assert.equal(await page.getAttribute("#matrix-detail", "data-layer"), String(layer));
    see("detail", await text("#matrix-detail"));
    see("attacker view", await text("#attacker"));
    await page.click("#tab-changes");
    assert.equal(await page.getAttribute("#changes", "data-layer"), String(layer));
    see("changes list", await text("#changes"));
    see("expected journeys", await text("#expect-rows"));
    see("hop card", await text("#hop-card"));
    await page.click("#tab-attacker");
  }
  for (const [view, set] of seen) assert.equal(set.size, 4, `${view} reads the same at two layers`);
  await page.context().close();
});

test("the map is laid out after the matrix arrives, and without it when the matrix is slow", { skip }, async () => {
  // The matrix first: the layout's worker is asked for once the matrix has arrived.
  const order = [];
  const page = await rig.open(DESKTOP, {
    firstVisit: false,
    before: async (p) => {
      p.on("requestfinished", (r) => { if (/\/api\/reach$/.test(r.url())) order.push("matrix"); });
      p.on("request", (r) => { if (/elk-worker/.test(r.url())) order.push("layout"); });
    },
  });
  assert.deepEqual(order, ["matrix", "layout"]);
  await page.context().close();
  // A matrix that does not come does not keep the map from being drawn:
  // the map is drawn while the matrix is held, and the matrix after it.
  let release;
  const held = new Promise((ok) => { release = ok; });
  const slow = await rig.open(DESKTOP, {
    firstVisit: false,
    ready: false,
    before: (p) => p.route(/\/api\/reach$/, async (r) => { await held; await r.continue(); }),
  });
  await slow.waitForSelector('#map[data-ready="true"]', { state: "attached", timeout: 20000 });
  assert.equal(await slow.evaluate(() => performance.getEntriesByName("pathproof-matrix").length), 0, "the matrix is held");
  release();
  await slow.waitForSelector('body[data-complete="true"]');
  assert.ok(await slow.locator("#matrix td.allow").count() > 0);
  await slow.context().close();
});

test("nothing failed: no console error, no failed or off-site request", { skip }, async () => {
  assert.deepEqual(rig.problems, []);
});
