//! Turns the engine's problems into miette reports: file:line:col, the
//! offending text underlined, what was expected, and a suggestion.

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use std::fmt;

use pathproof_core::{LoadError, QueryError};

#[derive(Debug)]
struct Report {
    message: String,
    label: String,
    help: Option<String>,
    span: SourceSpan,
    source: Window,
}

/// The part of a file a problem is shown in: its line and the lines around
/// it, each cut to a width a terminal can show, with the real line numbers.
/// A whole file would make the renderer lay out lines of any length (past
/// 65,535 columns it cannot, and a line of megabytes is no help to read).
#[derive(Debug)]
struct Window {
    name: String,
    text: String,
    /// The 0-based line of the file where `text` begins.
    first_line: usize,
    /// Where the problem's text starts in `text`, and its 0-based column in
    /// the file (the window cuts the line, so the renderer cannot know it).
    mark: (usize, usize),
}

impl SourceCode for Window {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        // The header's "file:line:column" reads the problem's own span alone.
        let column = if (before, after) == (0, 0) && span.offset() == self.mark.0 {
            self.mark.1
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

/// Characters of a line shown on each side of a problem, and of a context line.
const SIDE: usize = 60;
const CONTEXT: usize = 120;
/// The longest underline drawn.
const MARK: usize = 80;
/// The longest message, label or help printed (a name can be megabytes long).
const TEXT: usize = 400;

/// The window of `source` around the bytes `start..start + len`, and the
/// span of those bytes in it (cut to the problem's line and to `MARK`).
fn window(
    name: &str,
    source: &str,
    start: usize,
    len: usize,
    column: usize,
) -> (Window, SourceSpan) {
    let mut start = start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line_no = source[..line_start].matches('\n').count();
    let line = source[line_start..line_end].trim_end_matches('\r');
    let col = (start - line_start).min(line.len());
    let end = (col + len.min(MARK * 4)).min(line.len());
    // The problem's line: up to SIDE characters on each side of the marked text.
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let ci = chars.partition_point(|&(b, _)| b < col);
    let ce = chars.partition_point(|&(b, _)| b < end).max(ci);
    let ce = ce.min(ci + MARK);
    let from = ci.saturating_sub(SIDE);
    let to = (ce + SIDE).min(chars.len());
    let byte = |i: usize| chars.get(i).map_or(line.len(), |c| c.0);
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    let mark_start = shown.len() + (byte(ci) - byte(from));
    let mark_len = byte(ce) - byte(ci);
    shown.push_str(&line[byte(from)..byte(to)]);
    if to < chars.len() {
        shown.push('…');
    }
    let cut = |l: &str| -> String {
        let l = l.trim_end_matches('\r');
        match l.char_indices().nth(CONTEXT) {
            Some((b, _)) => format!("{}…", &l[..b]),
            None => l.to_string(),
        }
    };
    let before = line_no
        .checked_sub(1)
        .and_then(|n| source.lines().nth(n))
        .map(cut);
    let after = source[line_end..]
        .strip_prefix('\n')
        .and_then(|rest| rest.lines().next())
        .map(cut);
    let mut text = String::new();
    let mut first_line = line_no;
    if let Some(b) = before {
        text.push_str(&b);
        text.push('\n');
        first_line -= 1;
    }
    let offset = text.len();
    text.push_str(&shown);
    if let Some(a) = after {
        text.push('\n');
        text.push_str(&a);
    }
    (
        Window {
            name: name.to_string(),
            text,
            first_line,
            mark: (offset + mark_start, column),
        },
        SourceSpan::new((offset + mark_start).into(), mark_len),
    )
}

/// `s` cut to `TEXT` characters.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(TEXT) {
        Some((b, _)) => format!("{}… ({} characters in all)", &s[..b], s.chars().count()),
        None => s.to_string(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

/// Every problem of a load, rendered; the first line says how many and where.
pub fn load_error(e: &LoadError) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let n = e.problems.len();
    let mut out = format!(
        "error: {} has {n} problem{}\n",
        e.file,
        if n == 1 { "" } else { "s" }
    );
    for p in &e.problems {
        out.push_str(&format!(
            "\n{}:{}:{}: {}\n",
            e.file,
            p.line,
            p.column,
            clip(&p.message)
        ));
        let (source, span) = window(
            &e.file,
            &e.source_text,
            p.span.start as usize,
            p.span.len as usize,
            (p.column as usize).saturating_sub(1),
        );
        let report = Report {
            message: clip(&p.message),
            label: clip(&p.label),
            help: p.help.as_deref().map(clip),
            span,
            source,
        };
        let mut s = String::new();
        if handler.render_report(&mut s, &report).is_ok() {
            out.push_str(&s);
        }
    }
    out
}

pub fn query_error(e: &QueryError) -> String {
    let mut s = format!("error: {}\n", clip(&e.message));
    if let Some(h) = &e.help {
        s.push_str(&format!("  help: {}\n", clip(h)));
    }
    s
}
