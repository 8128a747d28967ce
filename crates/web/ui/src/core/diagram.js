// Lesson diagrams: Mermaid flowcharts and sequence diagrams, drawn by mermaid,
// which is loaded the first time a diagram is shown (it is the largest part
// of the page and most visits never need it).
let loading = null;
let count = 0;

function mermaid() {
  if (!loading) {
    loading = import("mermaid").then(({ default: m }) => {
      m.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        layout: "dagre",
        theme: "neutral",
        fontFamily: "system-ui, 'DejaVu Sans', sans-serif",
        themeVariables: { fontSize: "14px" },
        // Drawn at their own size (text stays legible); a wide one scrolls.
        flowchart: { htmlLabels: false, useMaxWidth: false },
        sequence: { useMaxWidth: false, mirrorActors: false, actorFontSize: 14, messageFontSize: 14, noteFontSize: 13 },
      });
      return m;
    });
  }
  return loading;
}

/**
 * Draws `text` into `box`. On a diagram mermaid cannot read, the text is
 * shown as it is, with mermaid's message.
 */
export async function drawDiagram(box, text) {
  box.dataset.state = "loading";
  try {
    const m = await mermaid();
    const { svg } = await m.render(`pp-diagram-${++count}`, text);
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    const el = document.importNode(doc.documentElement, true);
    el.setAttribute("role", "img");
    box.replaceChildren(el);
    box.dataset.state = "drawn";
  } catch (e) {
    const pre = document.createElement("pre");
    pre.textContent = text;
    const err = document.createElement("p");
    err.className = "error";
    err.textContent = `The diagram could not be drawn: ${e.message || e}`;
    box.replaceChildren(err, pre);
    box.dataset.state = "error";
  }
}
