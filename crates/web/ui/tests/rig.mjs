// The rig of the browser tests: starts `pathproof serve --port 0` (the binary
// is PATHPROOF_BIN), drives Debian's /usr/bin/chromium through playwright-core,
// records every console error, failed request and off-site request, and saves
// screenshots in SCREENSHOT_DIR (default: target/web-screenshots).
//
// Without the binary or the browser the tests say so and skip, except under
// CI=true, where that is a failure.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const BIN = process.env.PATHPROOF_BIN || join(root, "target/debug/pathproof");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const SHOTS = process.env.SCREENSHOT_DIR || join(root, "target/web-screenshots");
const CI = process.env.CI === "true";

let missing = null;
if (!existsSync(BIN)) missing = `the pathproof binary is not at ${BIN} (set PATHPROOF_BIN)`;
else if (!existsSync(CHROMIUM)) missing = `no browser at ${CHROMIUM} (apt-get install -y chromium)`;
if (missing && CI) throw new Error(`browser tests cannot run under CI=true: ${missing}`);
export const skip = missing ? `skipped: ${missing}` : false;

export const DESKTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };

/** Starts a server and a browser; `open()` gives fresh pages on it. */
export async function startRig() {
  mkdirSync(SHOTS, { recursive: true });
  const server = spawn(BIN, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  server.stderr.on("data", (d) => { err += d; });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start: ${err}`)), 15000);
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    server.on("exit", (code) => { clearTimeout(timer); fail(new Error(`the server exited (${code}): ${err}`)); });
  });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const problems = [];
  const rig = {
    url,
    problems,
    expected422: false,
    /**
     * A page in a fresh browser context (a first visit), on the mini-lab, ready to use.
     * `before(page)` runs before the page is opened (to route its requests);
     * with `ready: false` the page is returned as soon as it is opened.
     */
    async open(viewport = DESKTOP, { firstVisit = true, scenario = "mini-lab", before = null, ready = true } = {}) {
      // The server holds one scenario for every page: each test starts from the same one.
      if (scenario) {
        const r = await fetch(`${url}/api/scenario/example/${scenario}`, { method: "POST" });
        if (!r.ok) throw new Error(`could not load ${scenario}: ${r.status}`);
      }
      const context = await browser.newContext({ viewport });
      if (!firstVisit) await context.addInitScript(() => localStorage.setItem("pathproof.visited", "1"));
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() !== "error") return;
        if (rig.expected422 && /status of 422/.test(m.text())) return;
        problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("response", (r) => {
        if (r.status() >= 400 && !(rig.expected422 && r.status() === 422)) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()} ${r.request().postData() || ""}`);
      });
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
      await page.route((u) => !u.href.startsWith(url), (r) => { problems.push(`off-site request: ${r.request().url()}`); r.abort(); });
      if (before) await before(page);
      await page.goto(url);
      if (!ready) return page;
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForSelector('body[data-complete="true"]');
      return page;
    },
    async close() {
      await browser.close();
      server.kill("SIGINT");
    },
  };
  return rig;
}

export async function shot(page, name, { full = false } = {}) {
  await page.waitForTimeout(550); // let the packet finish moving
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: full });
}

/** The analysis views have caught up with the variants on screen. */
export async function analysed(page, variant = "") {
  await page.waitForSelector(`#analysis[data-variant="${variant}"]:not([data-busy])`, { state: "attached" });
  await page.waitForSelector(`#expectations[data-variant="${variant}"]:not([data-busy])`, { state: "attached" });
}

export async function useExample(page, name) {
  await page.selectOption("#example-select", name);
  await page.waitForFunction((n) => document.querySelector("#scenario-about").textContent.startsWith(n), name);
  await page.waitForSelector('#map[data-ready="true"]');
  await analysed(page, "");
}

/** Shows the side panel's Journey tab (a first visit opens the lesson tab). */
export async function journeyTab(page) {
  await page.click("#side-tab-trace");
}

/** Traces from the form and waits for the journey to be on screen. */
export async function trace(page, from, to) {
  await journeyTab(page);
  await page.selectOption("#from", from);
  await page.fill("#to", to);
  await page.evaluate(() => { document.querySelector("#status").textContent = ""; });
  await page.click("#trace-btn");
  await page.waitForFunction((t) => document.querySelector("#status").textContent.startsWith(`Traced ${t}`), `${from} → ${to}`);
}

export const box = (page, selector) => page.locator(selector).first().evaluate((el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom }; });

export function inside(b, viewport, slack = 0.5) {
  return b.w > 0 && b.h > 0 && b.x >= -slack && b.y >= -slack && b.right <= viewport.width + slack && b.bottom <= viewport.height + slack;
}
