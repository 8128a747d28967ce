// A small, safe Markdown renderer for lesson text: headings, paragraphs,
// lists (bulleted and numbered), block quotes, fenced and indented code
// blocks, code spans, strong and emphasis, links. It builds DOM nodes and
// never parses the text as HTML: a `<script>` in a lesson is shown as the
// characters `<script>`. Links keep only http(s), mailto, in-page (#) and
// relative targets; anything else (javascript:, data:) is rendered as text.

const SAFE_HREF = /^(?:https?:\/\/|mailto:|#|\/(?!\/)|\.{1,2}\/|[A-Za-z0-9._~-]+(?:\/|$|#|\?))/;

export function safeHref(href) {
  const h = href.trim();
  if (/[\u0000-\u001f\s]/.test(h)) return null;
  return SAFE_HREF.test(h) ? h : null;
}

function el(tag, ...children) {
  const e = document.createElement(tag);
  for (const c of children) e.append(c);
  return e;
}

// Inline: code spans first (their content is literal), then links, then
// strong (** or __) and emphasis (* or _), all as DOM nodes.
export function renderInline(text) {
  const frag = document.createDocumentFragment();
  inline(String(text ?? ""), frag);
  return frag;
}

function inline(text, out) {
  let i = 0;
  let plain = "";
  const flush = () => { if (plain) { out.append(document.createTextNode(plain)); plain = ""; } };
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!<>]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (text[i + n] === "`") n++;
      const fence = "`".repeat(n);
      const end = text.indexOf(fence, i + n);
      if (end > 0) {
        flush();
        let code = text.slice(i + n, end);
        if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
        out.append(el("code", code));
        i = end + n;
        continue;
      }
      plain += fence;
      i += n;
      continue;
    }
    if (c === "[") {
      const close = matchBracket(text, i);
      if (close > 0 && text[close + 1] === "(") {
        const paren = text.indexOf(")", close + 2);
        if (paren > 0) {
          const label = text.slice(i + 1, close);
          const href = safeHref(text.slice(close + 2, paren));
          flush();
          if (href) {
            const a = document.createElement("a");
            a.setAttribute("href", href);
            if (/^https?:/.test(href)) a.setAttribute("rel", "noopener noreferrer");
            inline(label, a);
            out.append(a);
          } else {
            inline(label, out);
          }
          i = paren + 1;
          continue;
        }
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] === c) {
      const end = text.indexOf(c + c, i + 2);
      if (end > i + 2 && !/\s/.test(text[i + 2]) && !/\s/.test(text[end - 1])) {
        flush();
        const strong = document.createElement("strong");
        inline(text.slice(i + 2, end), strong);
        out.append(strong);
        i = end + 2;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      // `_` inside a word (snake_case) is a letter, not emphasis.
      const wordBefore = i > 0 && /[A-Za-z0-9]/.test(text[i - 1]);
      if (!(c === "_" && wordBefore) && text[i + 1] && !/\s/.test(text[i + 1])) {
        let end = i + 1;
        while ((end = text.indexOf(c, end)) > 0) {
          const afterWord = c === "_" && /[A-Za-z0-9]/.test(text[end + 1] || "");
          if (!/\s/.test(text[end - 1]) && text[end + 1] !== c && !afterWord) break;
          end++;
        }
        if (end > i + 1) {
          flush();
          const em = document.createElement("em");
          inline(text.slice(i + 1, end), em);
          out.append(em);
          i = end + 1;
          continue;
        }
      }
    }
    plain += c;
    i++;
  }
  flush();
}

function matchBracket(text, open) {
  let depth = 0;
  for (let j = open; j < text.length; j++) {
    if (text[j] === "\\") { j++; continue; }
    if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) return j;
  }
  return -1;
}

const BULLET = /^(\s{0,3})([-*+])\s+(.*)$/;
const ORDERED = /^(\s{0,3})(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;

// Blocks. `headingBase` shifts heading levels so that `#` in a lesson becomes
// an <h3> under the page's own headings (default 2: `#` → h3).
export function renderMarkdown(text, { headingBase = 2 } = {}) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  const frag = document.createDocumentFragment();
  let i = 0;
  let para = [];
  const endPara = () => {
    if (!para.length) return;
    const p = document.createElement("p");
    inline(para.join("\n").trim(), p);
    frag.append(p);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) { endPara(); i++; continue; }
    if ((m = FENCE.exec(line))) {
      endPara();
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i++; // the closing fence (or the end of the text)
      const code = el("code", body.join("\n"));
      if (m[2]) code.dataset.lang = m[2];
      frag.append(el("pre", code));
      continue;
    }
    if (/^( {4}|\t)/.test(line) && !para.length) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || (!lines[i].trim() && /^( {4}|\t)/.test(lines[i + 1] || "")))) {
        body.push(lines[i].replace(/^( {4}|\t)/, ""));
        i++;
      }
      frag.append(el("pre", el("code", body.join("\n"))));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      endPara();
      const level = Math.min(6, m[1].length + headingBase);
      const hd = document.createElement(`h${level}`);
      inline(m[2], hd);
      frag.append(hd);
      i++;
      continue;
    }
    if (/^\s{0,3}>/.test(line)) {
      endPara();
      const body = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) body.push(lines[i++].replace(/^\s{0,3}>\s?/, ""));
      const q = document.createElement("blockquote");
      q.append(renderMarkdown(body.join("\n"), { headingBase }));
      frag.append(q);
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = ORDERED.exec(line);
    if (bullet || ordered) {
      endPara();
      const re = bullet ? BULLET : ORDERED;
      const list = document.createElement(bullet ? "ul" : "ol");
      if (ordered && ordered[2] !== "1") list.setAttribute("start", String(Number(ordered[2])));
      const items = [];
      let item = null;
      while (i < lines.length) {
        const l = lines[i];
        const mm = re.exec(l);
        if (mm) {
          item = [mm[3]];
          items.push(item);
          i++;
        } else if (l.trim() && /^\s+/.test(l) && item) {
          item.push(l.trim());
          i++;
        } else if (!l.trim() && re.test(lines[i + 1] || "")) {
          i++;
        } else break;
      }
      for (const it of items) {
        const li = document.createElement("li");
        inline(it.join("\n"), li);
        list.append(li);
      }
      frag.append(list);
      continue;
    }
    para.push(line);
    i++;
  }
  endPara();
  return frag;
}
