// Browser tests of the "Traffic over time" tab (simulate.js), driving Debian's
// /usr/bin/chromium through playwright-core. Starts `pathproof serve
// syn-flood --port 0` itself (the binary is PATHPROOF_BIN) and stops it at
// the end. Screenshots go to SCREENSHOT_DIR.
//
// Without the binary or the browser the tests say so and skip, except under
// CI=true, where that is a failure.
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
  server = spawn(BIN, ["serve", "syn-flood", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
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
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`); });
  await page.route((u) => !u.href.startsWith(url), (r) => { problems.push(`off-site request: ${r.request().url()}`); r.abort(); });
  await page.goto(url);
  await page.waitForSelector("#tab-traffic");
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill();
});

async function simulate(variant, seconds) {
  await page.selectOption("#sim-variant", variant);
  await page.fill("#sim-seconds", String(seconds));
  await page.click("#sim-run");
  await page.waitForFunction((v) => {
    const p = document.querySelector("#panel-traffic");
    return p.dataset.state === "ready" && document.querySelector("#sim-status").textContent.includes(v ? `variant ${v}` : "syn-flood:");
  }, variant);
}

test("the tab runs the scenario's traffic and plays it as charts", { skip }, async () => {
  await page.click("#tab-traffic");
  assert.equal(await page.isVisible("#panel-traffic"), true);
  assert.equal(await page.isVisible("#panel-matrix"), false);
  await page.waitForFunction(() => document.querySelectorAll("#sim-variant option").length === 3);
  await simulate("", 12);
  // Charts: success share, clients, attacks, the listener, the link, conntrack.
  const titles = await page.$$eval("#sim-charts figure h3", (hs) => hs.map((x) => x.textContent));
  assert.ok(titles.some((t) => t.startsWith("Share of connections that succeed")), titles.join(" | "));
  assert.ok(titles.some((t) => t.startsWith("Listener web:443 (backlog 256, tcp_syncookies 0)")), titles.join(" | "));
  assert.ok(titles.some((t) => t.startsWith("Links")));
  assert.ok(await page.locator('#sim-charts path[data-series="newcomers"]').count() >= 1);
  assert.match(await page.textContent("#sim-status"), /regulars: 100\.0 % served/);
  // The newcomers at second 8, during the flood: their SYNs are dropped for
  // want of a proven address, and the connection's story says so.
  await page.selectOption("#sim-flow", { label: "newcomers (clients)" });
  await page.fill("#sim-second", "8");
  await page.dispatchEvent("#sim-second", "input");
  await page.waitForFunction(() => document.querySelector("#panel-traffic").dataset.second === "8");
  assert.match(await page.textContent("#sim-connection"), /past three quarters and this peer is not proven: SYN dropped/);
  assert.match(await page.textContent("#sim-connection"), /Its journey, hop by hop/);
  assert.ok(await page.locator("#sim-connection ol.sim-trace li").count() >= 10);
  assert.equal(await page.getAttribute('#sim-charts svg[data-second="8"] .sim-cursor', "class"), "sim-cursor");
  // The flood at the same second: the kernel's words for what became of its SYNs.
  await page.selectOption("#sim-flow", { label: "flood (syn-flood)" });
  assert.match(await page.textContent("#sim-second-view"), /kept for proven peers: SYN dropped \(ListenDrops\)/);
  assert.match(await page.textContent("#sim-connection"), /forged/);
  await page.screenshot({ path: join(SHOTS, "simulate-syn-flood.png"), fullPage: true });
});

test("harden turns SYN cookies on; the player moves the second", { skip }, async () => {
  await simulate("harden", 12);
  assert.match(await page.textContent("#sim-status"), /newcomers: 100\.0 % served/);
  await page.selectOption("#sim-flow", { label: "flood (syn-flood)" });
  await page.fill("#sim-second", "6");
  await page.dispatchEvent("#sim-second", "input");
  assert.match(await page.textContent("#sim-second-view"), /SYN cookie sent/);
  await page.click("#sim-play");
  await page.waitForFunction(() => Number(document.querySelector("#panel-traffic").dataset.second) >= 8, null, { timeout: 5000 });
  await page.click("#sim-play");
  // Another tab hides this panel; this tab brings it back.
  await page.click("#tab-changes");
  assert.equal(await page.isVisible("#panel-traffic"), false);
  await page.click("#tab-traffic");
  assert.equal(await page.isVisible("#panel-traffic"), true);
  await page.screenshot({ path: join(SHOTS, "simulate-syn-flood-harden.png"), fullPage: true });
});

test("a bad request shows the server's error, and nothing went wrong", { skip }, async () => {
  await page.fill("#sim-seconds", "999");
  await page.click("#sim-run");
  await page.waitForFunction(() => document.querySelector("#panel-traffic").dataset.state === "error");
  assert.match(await page.textContent("#sim-status"), /seconds must be from 1 to 300/);
  // That 400 was asked for; anything else is a problem.
  const other = problems.filter((p) => !/HTTP 400 for GET .*\/api\/simulate\?.*seconds=999/.test(p) && !/status of 400/.test(p));
  assert.deepEqual(other, []);
});
