// Builds the page: src/ -> dist/ (committed, so that `cargo build` needs no
// Node). esbuild bundles src/main.js and its ES modules into dist/app.js, with
// the parts loaded later (mermaid, for lesson diagrams) split into
// dist/chunks/; elkjs's layout worker is copied to dist/vendor/; the HTML, the
// CSS and the icons are copied as they are.
//
//   node build.mjs              build into dist/
//   node build.mjs --out DIR    build into DIR (the check compares it with dist/)
import * as esbuild from "esbuild";
import { cpSync, mkdirSync, rmSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const out = outIndex >= 0 ? args[outIndex + 1] : join(here, "dist");

// Lesson diagrams are flowcharts and sequence diagrams only (the lesson check
// enforces it), so every other diagram type mermaid would load on demand,
// and the layouts only those use (mermaid's own elk, cose-bilkent, grid,
// swimlanes: flowcharts use dagre), are left out of the build.
const MERMAID_KEEP = /^(flowDiagram|sequenceDiagram)-/;
const MERMAID_DROP = /^(.*Diagram(-v2)?|.*-definition|diagram|cose-bilkent|grid|swimlanes|elk)-[A-Z0-9]+\.mjs$/;
const onlyFlowchartAndSequence = {
  name: "only-flowchart-and-sequence",
  setup(b) {
    b.onResolve({ filter: /\.mjs$/ }, (a) => {
      if (!/mermaid[\\/]dist/.test(a.importer)) return null;
      const base = a.path.split("/").pop();
      if (MERMAID_DROP.test(base) && !MERMAID_KEEP.test(base)) return { path: base, namespace: "left-out" };
      return null;
    });
    b.onResolve({ filter: /^katex$/ }, () => ({ path: "katex", namespace: "left-out" }));
    b.onLoad({ filter: /.*/, namespace: "left-out" }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`${a.path} is not part of pathproof's page`)});`,
      loader: "js",
    }));
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  splitting: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "linked",
  outdir: out,
  entryNames: "app",
  chunkNames: "chunks/[name]-[hash]",
  plugins: [onlyFlowchartAndSequence],
  logLevel: "warning",
});
mkdirSync(join(out, "vendor"), { recursive: true });
cpSync(join(here, "node_modules/elkjs/lib/elk-worker.min.js"), join(out, "vendor/elk-worker.min.js"));
for (const f of readdirSync(join(here, "src"))) {
  if (/\.(html|css|svg|ico)$/.test(f)) cpSync(join(here, "src", f), join(out, f));
}
console.log(`built ${out}`);
