//! A YAML document as a tree of nodes that each remember where they came from.
//!
//! serde-saphyr does the YAML parsing; this module only keeps the source span of
//! every key and value so that the loader can point at the exact text when it
//! reports a problem. It knows nothing about scenarios.
//!
//! Two ways to the same tree. The common documents (no tags, anchors, aliases
//! or merge keys, one document, within the parser's budget) are built straight
//! from the events of serde-saphyr's own parser (granit-parser), resolving plain
//! scalars by serde-saphyr's rules ([`fast`]); that takes less than half the time
//! of going through serde's visitor with a span wrapper at every node. Every
//! other document, and every document the parser rejects, goes the serde way
//! ([`parse_reference`]), so an error reads as serde-saphyr words it. The tests
//! hold the two to the same tree, spans included.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

use crate::model::Span;

mod fast;

/// One YAML value with its source span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What this node is, in the words an error message uses.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "an empty value",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (numbers and booleans are spelled as YAML would).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// A parse failure reported by the YAML parser itself.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Parses a whole document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.trim().is_empty() {
        return Ok(empty_document());
    }
    let options = options(text);
    if let Some(root) = fast::parse(text, options.budget.as_ref()) {
        return Ok(root);
    }
    parse_serde(text, options)
}

/// [`parse`] the serde way only: the reference the fast path is tested against.
pub fn parse_reference(text: &str) -> Result<Node, YamlError> {
    if text.trim().is_empty() {
        return Ok(empty_document());
    }
    parse_serde(text, options(text))
}

/// The tree built from the parser's events alone, or `None` where that way
/// does not apply (see [`fast`]); for tests and benchmarks.
pub fn parse_fast(text: &str) -> Option<Node> {
    fast::parse(text, options(text).budget.as_ref())
}

/// An empty document: an empty mapping.
fn empty_document() -> Node {
    Node {
        kind: NodeKind::Map(Vec::new()),
        span: Span::new(0, 0),
    }
}

/// serde-saphyr's options for `text`.
fn options(text: &str) -> serde_saphyr::Options {
    // YAML 1.2 booleans only: with YAML 1.1's, a network named `n` or `no`
    // would silently become `false`. Repeated keys reach the loader, which
    // reports them with both lines.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    // The parser's default budget stops at 250,000 nodes and a million
    // events: a scenario of 16,000 hosts (14 MB) has more. A document can
    // hold at most about one node and a few events per byte of its own text,
    // so those two caps grow with the text; the caps on aliases, anchors and
    // depth, which stop inputs that expand, stay as they are.
    let mut budget = options.budget.take().unwrap_or_default();
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_events = budget.max_events.max(4 * text.len());
    options.budget = Some(budget);
    options
}

fn parse_serde(text: &str, options: serde_saphyr::Options) -> Result<Node, YamlError> {
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(root) => Ok(convert(root, text)),
        Err(err) => {
            let span = err
                .location()
                .map(|loc| location_span(&loc, text))
                .unwrap_or(Span::new(0, 0));
            Err(YamlError {
                message: first_line_message(&err.to_string()),
                span,
            })
        }
    }
}

/// serde-saphyr renders errors with a source snippet; the loader draws its own,
/// so keep the sentence that says what went wrong.
fn first_line_message(rendered: &str) -> String {
    let line = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the YAML parser rejected the document");
    // Drop a trailing " at line L, column C" the parser adds: the span says it.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

fn location_span(loc: &serde_saphyr::Location, text: &str) -> Span {
    let span = loc.span();
    if let Some(start) = span.byte_offset() {
        let len = span.byte_len().unwrap_or(0);
        return Span::clamped(start as usize, len as usize, text.len());
    }
    // Fall back to line and column (1-based, in characters).
    let line = loc.line() as usize;
    let column = loc.column() as usize;
    if line == 0 {
        return Span::new(0, 0);
    }
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col_bytes: usize = l
                .chars()
                .take(column.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            return Span::clamped(offset + col_bytes, 1, text.len());
        }
        offset += l.len();
    }
    Span::new(text.len() as u32, 0)
}

fn convert(spanned: Spanned<RawNode>, text: &str) -> Node {
    let span = location_span(&spanned.referenced, text);
    let kind = match spanned.value.0 {
        RawKind::Null => NodeKind::Null,
        RawKind::Bool(b) => NodeKind::Bool(b),
        RawKind::Int(i) => NodeKind::Int(i),
        RawKind::Float(f) => NodeKind::Float(f),
        RawKind::Str(s) => NodeKind::Str(s),
        RawKind::Seq(items) => NodeKind::Seq(items.into_iter().map(|n| convert(n, text)).collect()),
        RawKind::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, text), convert(v, text)))
                .collect(),
        ),
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

struct RawNode(RawKind);

enum RawKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor).map(RawNode)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawKind, E> {
        Ok(RawKind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawKind, E> {
        Ok(RawKind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawKind, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawKind::Int(i),
            Err(_) => RawKind::Str(v.to_string()),
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawKind, E> {
        Ok(RawKind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawKind, E> {
        Ok(RawKind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawKind, E> {
        Ok(RawKind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<RawNode>, Spanned<RawNode>>()? {
            entries.push((k, v));
        }
        Ok(RawKind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_document_is_within_the_budget() {
        // 200,000 small mappings: more nodes than the parser's default cap
        // of 250,000 (without the raised cap this fails).
        let text = format!("rules:\n{}", "  - {a: 1}\n".repeat(200_000));
        let doc = parse(&text).expect("a large plain document parses");
        let NodeKind::Map(entries) = doc.kind else {
            panic!("a mapping")
        };
        let NodeKind::Seq(items) = &entries[0].1.kind else {
            panic!("a sequence")
        };
        assert_eq!(items.len(), 200_000);
    }

    #[test]
    fn an_expanding_document_is_still_refused() {
        // Each level repeats the one before ten times: 10^8 nodes from a few
        // hundred bytes, which the alias caps stop.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", [p.as_str(); 10].join(", ")));
        }
        let err = parse(&text).expect_err("an alias bomb is refused");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "hosts:\n  web: { at: dmz 10.0.1.10 }\n";
        let root = parse(text).unwrap();
        let (k, v) = &root.as_map().unwrap()[0];
        assert_eq!(&text[k.span.range()], "hosts");
        let (k2, v2) = &v.as_map().unwrap()[0];
        assert_eq!(&text[k2.span.range()], "web");
        let (_, at) = &v2.as_map().unwrap()[0];
        assert_eq!(&text[at.span.range()], "dmz 10.0.1.10");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let root = parse("n: { y: no, on: off, t: true }").unwrap();
        let (k, v) = &root.as_map().unwrap()[0];
        assert_eq!(k.kind, NodeKind::Str("n".into()));
        let inner = v.as_map().unwrap();
        assert_eq!(inner[0].1.kind, NodeKind::Str("no".into()));
        assert_eq!(inner[2].1.kind, NodeKind::Bool(true));
    }

    #[test]
    fn duplicate_keys_reach_the_loader() {
        let root = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(root.as_map().unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(!err.message.is_empty());
    }
}
