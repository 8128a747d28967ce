//! Views of a `Trace`: plain text for a terminal, JSON for programs, Mermaid
//! for documents. None of them decides anything; they only lay out the value.

mod mermaid;
mod text;

pub use mermaid::trace_mermaid;
pub use text::trace_text;

use crate::evidence::Trace;

/// The trace as pretty JSON (the schema is documented in docs/json.md).
pub fn trace_json(t: &Trace) -> String {
    let mut s = serde_json::to_string_pretty(t).expect("a trace always serialises");
    s.push('\n');
    s
}
