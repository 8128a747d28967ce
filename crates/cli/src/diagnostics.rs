//! Turns the engine's problems into miette reports: file:line:col, the
//! offending text underlined, what was expected, and a suggestion.

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};
use std::fmt;

use pathproof_core::{LoadError, QueryError};

#[derive(Debug)]
struct Report {
    message: String,
    label: String,
    help: Option<String>,
    span: SourceSpan,
    source: NamedSource<String>,
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
            e.file, p.line, p.column, p.message
        ));
        let report = Report {
            message: p.message.clone(),
            label: p.label.clone(),
            help: p.help.clone(),
            span: SourceSpan::new((p.span.start as usize).into(), p.span.len as usize),
            source: NamedSource::new(&e.file, e.source_text.clone()),
        };
        let mut s = String::new();
        if handler.render_report(&mut s, &report).is_ok() {
            out.push_str(&s);
        }
    }
    out
}

pub fn query_error(e: &QueryError) -> String {
    let mut s = format!("error: {}\n", e.message);
    if let Some(h) = &e.help {
        s.push_str(&format!("  help: {h}\n"));
    }
    s
}
