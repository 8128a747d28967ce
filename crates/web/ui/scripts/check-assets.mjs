// Verifies the committed page in dist/ (there is no build step: these files
// are the sources and are embedded in the binary as they are): every file
// index.html refers to exists, every script parses, and the whole page stays
// under its size budget.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const BUDGET = 2 * 1024 * 1024;
let failed = 0;
const fail = (msg) => { console.error(`check-assets: ${msg}`); failed++; };

const files = readdirSync(dist, { recursive: true }).filter((f) => statSync(join(dist, f)).isFile());
const total = files.reduce((n, f) => n + statSync(join(dist, f)).size, 0);
if (total > BUDGET) fail(`dist/ is ${total} bytes, over the ${BUDGET}-byte budget`);

const html = readFileSync(join(dist, "index.html"), "utf8");
for (const m of html.matchAll(/(?:src|href)="([^"#:]+)"/g)) {
  if (!files.includes(m[1])) fail(`index.html refers to ${m[1]}, which is not in dist/`);
}
if (/(?:src|href)="(?:https?:)?\/\//.test(html)) fail("index.html loads something from another origin");
for (const f of files.filter((f) => f.endsWith(".js") || f.endsWith(".mjs"))) {
  try {
    execFileSync(process.execPath, ["--check", join(dist, f)], { stdio: "pipe" });
  } catch (e) {
    fail(`${f} does not parse:\n${e.stderr}`);
  }
}
console.log(`check-assets: ${files.length} files, ${total} bytes (budget ${BUDGET})`);
if (failed) process.exit(1);
