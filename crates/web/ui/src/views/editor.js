// The scenario's YAML: open a file, edit it, load it; problems are shown at
// their lines, as the command line reports them.
import { renderInline } from "../core/markdown.js";
import { $, h, status } from "../core/dom.js";
import { api } from "../core/api.js";
import { state, on } from "../core/state.js";

let setScenario = null;

export function initEditor(onLoaded) {
  setScenario = onLoaded;
  on("scenario", () => {
    $("editor-file").textContent = state.scn.file;
    $("yaml").value = state.scn.source;
    renderGutter([]);
    $("problems").replaceChildren();
  });
  $("open-file-btn").addEventListener("click", () => $("open-file").click());
  $("open-file").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    await loadYaml(await f.text(), f.name);
    e.target.value = "";
  });
  $("edit-btn").addEventListener("click", () => openEditor($("editor").hidden));
  $("editor-close").addEventListener("click", () => openEditor(false));
  $("editor-load").addEventListener("click", () => loadYaml($("yaml").value, $("editor-file").textContent || "scenario.yaml"));
  $("yaml").addEventListener("input", () => renderGutter([]));
  $("yaml").addEventListener("scroll", () => { $("gutter").scrollTop = $("yaml").scrollTop; });
}

// The line numbers beside the YAML, a line with a problem marked: runs of
// good lines as one text each, so that a scenario of 25,000 lines is a few
// nodes, not 25,000 (on every keystroke). Drawn only while the editor is
// open (opening it draws them).
function renderGutter(problemLines) {
  if ($("editor").hidden) return;
  const n = countLines($("yaml").value);
  const bad = [...new Set(problemLines)].filter((i) => i >= 1 && i <= n).sort((a, b) => a - b);
  const parts = [];
  let next = 1;
  const run = (to) => {
    if (to < next) return;
    const nums = [];
    for (let i = next; i <= to; i++) nums.push(i);
    parts.push(nums.join("\n") + "\n");
  };
  for (const i of bad) {
    run(i - 1);
    parts.push(h("span", { class: "bad-line", "data-line": i }, `⚠${i}`), "\n");
    next = i + 1;
  }
  run(n);
  $("gutter").replaceChildren(...parts);
}

function countLines(text) {
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

export function openEditor(open) {
  $("editor").hidden = !open;
  $("edit-btn").setAttribute("aria-expanded", String(open));
  if (open) renderGutter([...$("problems").querySelectorAll("li")].map((li) => Number(li.dataset.line)));
}

export function showLine(line, column = 1) {
  openEditor(true);
  const ta = $("yaml");
  const lines = ta.value.split("\n");
  let start = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const len = (lines[line - 1] || "").length;
  ta.focus();
  ta.setSelectionRange(start + Math.max(0, column - 1), start + len);
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (line - 4) * lh);
  $("editor").scrollIntoView({ block: "nearest" });
}

export async function loadYaml(text, file) {
  const r = await api("POST", `/api/scenario?file=${encodeURIComponent(file || "scenario.yaml")}`, text, "text/yaml");
  if (r.ok) {
    setScenario(r.json);
    // A file, even one named like a built-in scenario: the picker says so.
    const sel = $("example-select");
    sel.value = "";
    if (sel.options[0]) sel.options[0].textContent = `${r.json.name} (${r.json.file})`;
    status(`Loaded ${r.json.name} from ${r.json.file}.`);
    return true;
  }
  const j = r.json || { error: r.text, problems: [] };
  $("yaml").value = text;
  $("editor-file").textContent = file || "scenario.yaml";
  const list = $("problems");
  list.replaceChildren();
  for (const p of j.problems || []) {
    list.append(h("li", { "data-line": p.line, class: "problem" },
      h("button", { type: "button", class: "link", onclick: () => showLine(p.line, p.column) }, `line ${p.line}, column ${p.column}`),
      ": ", h("strong", {}, renderInline(p.message)),
      p.label && p.label.trim() ? h("span", { class: "label" }, ` (${p.label})`) : null,
      p.help ? h("div", { class: "help" }, "help: ", renderInline(p.help)) : null));
  }
  if (!(j.problems || []).length) list.append(h("li", { class: "problem" }, j.error || r.text));
  openEditor(true);
  renderGutter((j.problems || []).map((p) => p.line));
  status(`${j.error || "The scenario does not load"}; the scenario in use is unchanged.`);
  return false;
}
