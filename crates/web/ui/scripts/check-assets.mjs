// Checks the committed page in dist/ (embedded in the binary as it is):
//  - it is exactly what `npm run build` makes from src/ now (the check builds
//    into a temporary directory and compares every file, byte for byte);
//  - every file index.html refers to exists, nothing comes from another origin;
//  - every script parses;
//  - the page stays within its size budgets: the whole of dist/ (what the
//    binary embeds), and what a first visit loads before the map is drawn
//    (index.html, app.css, app.js and the chunks it imports statically, and
//    the layout worker). Mermaid's chunks load only when a lesson diagram is
//    shown, and count in the first budget only.
import { readFileSync, readdirSync, statSync, mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const ui = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(ui, "dist");
const BUDGET_ALL = 3.5 * 1024 * 1024;
const BUDGET_FIRST = 2.2 * 1024 * 1024;
let failed = 0;
const fail = (msg) => { console.error(`check-assets: ${msg}`); failed++; };

const list = (dir) => readdirSync(dir, { recursive: true }).filter((f) => statSync(join(dir, f)).isFile()).sort();
const files = list(dist);

// 1. The committed build is the build of the sources.
const fresh = mkdtempSync(join(tmpdir(), "pathproof-ui-"));
try {
  execFileSync(process.execPath, [join(ui, "build.mjs"), "--out", fresh], { stdio: "pipe" });
  const built = list(fresh);
  const missing = built.filter((f) => !files.includes(f));
  const extra = files.filter((f) => !built.includes(f));
  const differ = built.filter((f) => files.includes(f) && !readFileSync(join(fresh, f)).equals(readFileSync(join(dist, f))));
  if (missing.length || extra.length || differ.length) {
    fail(`dist/ is not the build of src/ (missing ${missing.join(", ") || "none"}; stale ${extra.join(", ") || "none"}; different ${differ.join(", ") || "none"}): run \`npm run build\` in crates/web/ui and commit dist/`);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}

// 2. References and origins.
const html = readFileSync(join(dist, "index.html"), "utf8");
for (const m of html.matchAll(/(?:src|href)="([^"#:]+)"/g)) {
  if (!files.includes(m[1])) fail(`index.html refers to ${m[1]}, which is not in dist/`);
}
if (/(?:src|href)="(?:https?:)?\/\//.test(html)) fail("index.html loads something from another origin");

// 3. Every script parses (ES modules: package.json says "type": "module").
for (const f of files.filter((f) => f.endsWith(".js"))) {
  try {
    execFileSync(process.execPath, ["--check", join(dist, f)], { stdio: "pipe" });
  } catch (e) {
    fail(`${f} does not parse:\n${e.stderr}`);
  }
}

// 4. Budgets.
const size = (f) => statSync(join(dist, f)).size;
const total = files.reduce((n, f) => n + size(f), 0);
if (total > BUDGET_ALL) fail(`dist/ is ${total} bytes, over the ${BUDGET_ALL}-byte budget`);
const first = new Set(["index.html", "app.css", "app.js", "vendor/elk-worker.min.js", "favicon.svg"]);
const statics = (f) => [...readFileSync(join(dist, f), "utf8").matchAll(/(?:^|[;}\s])import\s*(?:[^"'()]*?from\s*)?["'](\.\/[^"']+)["']/g)].map((m) => join(dirname(f), m[1]).replace(/^\.\//, ""));
const queue = ["app.js"];
while (queue.length) {
  for (const dep of statics(queue.pop())) {
    if (!first.has(dep)) { first.add(dep); queue.push(dep); }
  }
}
const firstBytes = [...first].reduce((n, f) => n + (files.includes(f) ? size(f) : 0), 0);
if (firstBytes > BUDGET_FIRST) fail(`a first visit loads ${firstBytes} bytes (${[...first].join(", ")}), over the ${BUDGET_FIRST}-byte budget`);
console.log(`check-assets: ${files.length} files, ${total} bytes in all (budget ${BUDGET_ALL}); a first visit loads ${firstBytes} bytes in ${first.size} files (budget ${BUDGET_FIRST})`);
if (failed) process.exit(1);
