//! Locating a field of a parsed file: the node tree (with byte spans) the
//! core's YAML reader builds, a table of line starts, and a path of keys and
//! list indices. Kubernetes manifests and AWS JSON are both read this way,
//! so that a rule's `source:` and an error name the user's own line.

use std::sync::Arc;

use pathproof_core::load::yaml::{Node, NodeKind};

/// A step of a path into a document: a key or a list index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Byte offsets where each line of `text` starts.
pub fn line_starts(text: &str) -> Arc<Vec<usize>> {
    let mut lines = vec![0usize];
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            lines.push(i + 1);
        }
    }
    Arc::new(lines)
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(lines: &[usize], offset: usize) -> (u32, u32) {
    let line = match lines.binary_search(&offset) {
        Ok(i) => i,
        Err(i) => i - 1,
    };
    (line as u32 + 1, (offset - lines[line]) as u32 + 1)
}

/// The node at `path`, or the deepest node of it that exists.
pub fn find<'n>(mut node: &'n Node, path: &[Step]) -> &'n Node {
    for step in path {
        let next = match (step, &node.kind) {
            (Step::Key(k), NodeKind::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key.scalar_text().as_deref() == Some(k))
                .map(|(_, v)| v),
            (Step::Index(i), NodeKind::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

/// Line and column of the node at `path` in a document that starts at byte
/// `base` of its file.
pub fn locate(node: &Node, base: usize, lines: &[usize], path: &[Step]) -> (u32, u32) {
    line_col(lines, base + find(node, path).span.start as usize)
}
