// Lesson text is Markdown, rendered by markdown-it with raw HTML turned off
// and then sanitised by DOMPurify: lesson files come from instructors, so no
// text they write becomes markup the page runs.
import MarkdownIt from "markdown-it";
import DOMPurify from "dompurify";

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });

// Links open in a new tab and never send the page's address.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const ALLOWED = {
  ALLOWED_TAGS: ["p", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "a", "br", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td"],
  ALLOWED_ATTR: ["href"],
  ALLOWED_URI_REGEXP: /^https?:/i,
  RETURN_DOM_FRAGMENT: true,
};

/** Block Markdown (paragraphs, lists, code) as a DOM fragment. */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(md.render(text || ""), ALLOWED);
}

/** One line of Markdown (code spans, emphasis) as a DOM fragment. */
export function renderInline(text) {
  return DOMPurify.sanitize(md.renderInline(text || ""), ALLOWED);
}
