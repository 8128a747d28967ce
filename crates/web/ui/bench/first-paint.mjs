// First paint of the page's matrix, measured in a real browser (Debian's
// Chromium, headless), against the built-in mini-lab in the same run as the
// baseline. For each scenario and each of RUNS runs: a fresh server (so that
// no answer is kept), a fresh browser context, and the time from navigation
// to the `pathproof-matrix` mark (the matrix answer arrived and drawn), with
// the server's peak memory (VmHWM) and the size of the compact /api/reach.
//
//   cargo build --release -p pathproof
//   H=2000 SCENARIO=1 cargo run --release -p pathproof-core --example reach_once > /tmp/gen-2000.yaml
//   PATHPROOF_BIN=target/release/pathproof node crates/web/ui/bench/first-paint.mjs /tmp/gen-2000.yaml
//
// WAIT=ms opens the page that long after the server said it is ready (as a
// user who starts `serve` and then opens the browser): the server has been
// computing the matrix meanwhile. Without it the page is opened at once,
// and the page and the server's walk share the cores.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const BIN = resolve(process.env.PATHPROOF_BIN || join(root, "target/release/pathproof"));
const RUNS = Number(process.env.RUNS || 3);
const WAIT = Number(process.env.WAIT || 0);
const scenarios = ["mini-lab", ...process.argv.slice(2)];
const { chromium } = await import(join(root, "crates/web/ui/node_modules/playwright-core/index.mjs"));

function serve(scenario) {
  const server = spawn(BIN, ["serve", scenario, "--port", "0", "--request-timeout", "300"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((ok, fail) => {
    let out = "", err = "";
    server.stderr.on("data", (d) => { err += d; });
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      if (m) ok({ server, url: m[1] });
    });
    server.on("exit", (code) => fail(new Error(`the server exited (${code}): ${err}`)));
  });
}

const hwm = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const rows = [];
for (const scn of scenarios) {
  const paint = [], mem = [];
  let bytes = 0, pairs = 0, classes = 0;
  for (let i = 0; i < RUNS; i++) {
    const { server, url } = await serve(scn);
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    await context.addInitScript(() => localStorage.setItem("pathproof.visited", "1"));
    const page = await context.newPage();
    if (WAIT) await new Promise((ok) => setTimeout(ok, WAIT));
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName("pathproof-matrix").length, null, { timeout: 600000, polling: 50 });
    paint.push(await page.evaluate(() => performance.getEntriesByName("pathproof-matrix")[0].startTime));
    const r = await fetch(`${url}/api/reach`);
    const text = await r.text();
    bytes = text.length;
    const v = JSON.parse(text);
    pairs = v.pairs; classes = v.classes.length;
    mem.push(hwm(server.pid));
    await context.close();
    server.kill("SIGINT");
    await new Promise((ok) => server.on("exit", ok));
  }
  rows.push({ scn, paint: median(paint), all: paint, mem: median(mem), bytes, pairs, classes });
}
await browser.close();
const base = rows[0].paint;
if (WAIT) console.log(`The page opened ${WAIT} ms after the server was ready.`);
console.log("| scenario | first paint of the matrix, median ms (runs) | × mini-lab | server VmHWM MiB | /api/reach bytes | pairs | classes |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(`| ${r.scn} | ${r.paint.toFixed(0)} (${r.all.map((x) => x.toFixed(0)).join(", ")}) | ${(r.paint / base).toFixed(1)} | ${r.mem.toFixed(0)} | ${r.bytes} | ${r.pairs} | ${r.classes} |`);
}
