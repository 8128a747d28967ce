//! The tree of a common document, built straight from the parser's events.
//!
//! serde-saphyr reads a document with granit-parser and hands each node to a
//! serde visitor, with a span wrapper (a small map of three fields) around
//! every node; for a tree of spanned nodes that costs about twice the parse
//! itself. Here the same parser, with the options serde-saphyr gives it, feeds
//! a stack of open collections, and plain scalars are resolved by the rules
//! serde-saphyr's `deserialize_any` applies with the loader's options (YAML
//! 1.2 booleans, null spellings, decimal integers, floats).
//!
//! Whatever this does not do exactly as serde-saphyr would returns `None`, and
//! the caller parses the document the serde way: tags, anchors and aliases,
//! merge keys (`<<`), a second document or a `%YAML` directive, integers
//! written with a radix or underscores, non-finite floats, a nesting deeper than
//! the budget allows, more nodes, events or scalar bytes than it allows, and
//! every parse error (so that its message is serde-saphyr's).

use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle, StrInput};

use super::{Node, NodeKind};
use crate::model::Span;

/// An open collection: its span and what it holds so far.
enum Open {
    Seq(Span, Vec<Node>),
    /// A mapping, and the key waiting for its value.
    Map(Span, Vec<(Node, Node)>, Option<Node>),
}

/// The document's tree, or `None` where the serde way must decide.
pub(super) fn parse(text: &str, budget: Option<&serde_saphyr::Budget>) -> Option<Node> {
    let budget = budget?;
    let block_nesting_limit = granit_parser::Options::default()
        .block_nesting_limit
        .max(budget.max_depth.saturating_add(1));
    let options = granit_parser::options! {
        simple_key_max_lookahead: budget.simple_key_max_lookahead,
        flow_nesting_limit: budget.flow_nesting_limit,
        block_nesting_limit: block_nesting_limit,
    };
    let parser = Parser::with_options(StrInput::new(text), options);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let (mut events, mut nodes, mut scalar_bytes, mut documents) = (0usize, 0usize, 0usize, 0);
    for item in parser {
        let (event, span) = item.ok()?;
        events += 1;
        if events > budget.max_events {
            return None;
        }
        let span = byte_span(&span, text)?;
        let node = match event {
            Event::StreamStart | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_, version) => {
                documents += 1;
                if documents > 1 || version.is_some() {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                nodes += 1;
                scalar_bytes += value.len();
                if nodes > budget.max_nodes || scalar_bytes > budget.max_total_scalar_bytes {
                    return None;
                }
                // A merge key the serde way merges the mapping it names.
                let is_key = matches!(stack.last(), Some(Open::Map(_, _, None)));
                if is_key && value == "<<" {
                    return None;
                }
                let kind = if style == ScalarStyle::Plain {
                    resolve_plain(&value)?
                } else {
                    NodeKind::Str(value.into_owned())
                };
                // A scalar's span from the parser may be empty; make it cover the text.
                let span = match &kind {
                    NodeKind::Str(s) if span.len == 0 => {
                        Span::clamped(span.start as usize, s.len(), text.len())
                    }
                    _ => span,
                };
                Node { kind, span }
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                nodes += 1;
                if nodes > budget.max_nodes || stack.len() + 1 > budget.max_depth {
                    return None;
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Open::Seq(span, Vec::new()),
                    _ => Open::Map(span, Vec::new(), None),
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop()? {
                Open::Seq(span, items) => Node {
                    kind: NodeKind::Seq(items),
                    span,
                },
                Open::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Open::Map(span, entries, None) => Node {
                    kind: NodeKind::Map(entries),
                    span,
                },
                _ => return None,
            },
            // Aliases, anchors' names, comments and whatever a later parser adds.
            _ => return None,
        };
        match stack.last_mut() {
            None if root.is_none() => root = Some(node),
            None => return None,
            Some(Open::Seq(_, items)) => items.push(node),
            Some(Open::Map(_, _, key @ None)) => *key = Some(node),
            Some(Open::Map(_, entries, key)) => {
                let k = key.take().expect("the arm above took a missing key");
                entries.push((k, node));
            }
        }
    }
    if !stack.is_empty() {
        return None;
    }
    root
}

/// The event's span in bytes, as serde-saphyr's locations give it.
fn byte_span(span: &granit_parser::Span, text: &str) -> Option<Span> {
    let start = span.start.byte_offset()?;
    let end = span.end.byte_offset()?;
    Some(Span::clamped(start, end.saturating_sub(start), text.len()))
}

/// A plain scalar as serde-saphyr's `deserialize_any` resolves it with strict
/// booleans, or `None` for the spellings left to it.
fn resolve_plain(value: &str) -> Option<NodeKind> {
    if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        return Some(NodeKind::Null);
    }
    let t = value.trim_matches([' ', '\t', '\r', '\n']);
    match t {
        "true" | "True" | "TRUE" => return Some(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(NodeKind::Bool(false)),
        _ => {}
    }
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    // Neither an integer nor a float can start otherwise (Rust's float
    // parser reads `inf` and `nan`, which are not finite and so strings).
    match unsigned.as_bytes().first() {
        Some(b'0'..=b'9' | b'.') => {}
        _ => return Some(NodeKind::Str(value.to_string())),
    }
    if t.len() != value.len() || t.contains('_') {
        return None;
    }
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    if matches!(lower.as_deref(), Some("0x" | "0o" | "0b")) {
        return None;
    }
    let digits = unsigned.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = unsigned.len() > 1 && unsigned.starts_with('0');
    if digits && !leading_zero {
        if negative {
            if let Ok(i) = t.parse::<i64>() {
                return Some(NodeKind::Int(i));
            }
        } else if let Ok(u) = unsigned.parse::<u64>() {
            // The loader's visitor keeps an integer above i64 as its digits.
            return Some(match i64::try_from(u) {
                Ok(i) => NodeKind::Int(i),
                Err(_) => NodeKind::Str(u.to_string()),
            });
        }
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Some(NodeKind::Float(f)),
        // Overflowing literals and `.inf`-like spellings: the serde way.
        Ok(_) => None,
        Err(_)
            if matches!(
                unsigned,
                ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
            ) =>
        {
            None
        }
        Err(_) => Some(NodeKind::Str(value.to_string())),
    }
}
