//! Manifest files to objects: YAML (multi-document) or JSON, `kind: List`
//! and `*List` unwrapped, each object kept with its node tree so that any
//! field can be located (file, line, column) for rule sources and errors.

use pathproof_core::load::yaml::{self, Node, NodeKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ImportError, Input};

/// One Kubernetes object from a manifest.
#[derive(Debug, Clone)]
pub struct Object {
    pub file: String,
    pub kind: String,
    pub api_version: String,
    pub node: Node,
    /// Byte offset of the node tree's spans within the file.
    base: usize,
    lines: std::sync::Arc<Vec<usize>>,
    pub value: Value,
}

/// A step of a path into an object: a key or a list index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Object {
    /// Line and column (1-based) of the node at `path`, or of the deepest
    /// node of it that exists.
    pub fn locate(&self, path: &[Step]) -> (u32, u32) {
        let mut node = &self.node;
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
        self.line_col(self.base + node.span.start as usize)
    }

    pub fn line(&self, path: &[Step]) -> u32 {
        self.locate(path).0
    }

    fn line_col(&self, offset: usize) -> (u32, u32) {
        let line = match self.lines.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line as u32 + 1, (offset - self.lines[line]) as u32 + 1)
    }

    pub fn error(
        &self,
        path: &[Step],
        message: impl Into<String>,
        help: Option<String>,
    ) -> ImportError {
        let (line, column) = self.locate(path);
        ImportError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
            help,
        }
    }

    /// The object as a typed value; a field of the wrong shape is an error
    /// at its own line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ImportError> {
        let de = self.value.clone();
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().clone();
            let steps: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            let parsed: Vec<Step> = path
                .iter()
                .map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
                    serde_path_to_error::Segment::Map { key } => Step::Key(key.as_str()),
                    _ => Step::Key(""),
                })
                .collect();
            let inner = e.into_inner().to_string();
            let field = steps.join(".");
            self.error(
                &parsed,
                format!("{} `{}`: {}", self.kind, field, inner),
                Some(format!(
                    "expected a {} as Kubernetes defines it ({})",
                    self.kind, self.api_version
                )),
            )
        })
    }

    pub fn name(&self) -> String {
        self.value["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    pub fn namespace(&self) -> Option<String> {
        self.value["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
    }
}

fn to_value(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_value).collect()),
        NodeKind::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                m.insert(k.scalar_text().unwrap_or_default(), to_value(v));
            }
            Value::Object(m)
        }
    }
}

/// Byte offsets where each document of a YAML stream starts and ends
/// (`---` lines separate them; `...` ends one).
fn split_documents(text: &str) -> Vec<(usize, usize)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        let marker = t == "---" || t.starts_with("--- ") || t == "...";
        if marker {
            docs.push((start, offset));
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push((start, text.len()));
    docs
}

/// Every object of one file.
pub fn objects(input: &Input) -> Result<Vec<Object>, ImportError> {
    let text = &input.text;
    let mut lines = vec![0usize];
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            lines.push(i + 1);
        }
    }
    let lines = std::sync::Arc::new(lines);
    let json = text.trim_start().starts_with(['{', '[']);
    let docs = if json {
        vec![(0, text.len())]
    } else {
        split_documents(text)
    };
    let mut out = Vec::new();
    for (start, end) in docs {
        let chunk = &text[start..end];
        if chunk
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let node = yaml::parse(chunk).map_err(|e| {
            let probe = Object {
                file: input.path.clone(),
                kind: String::new(),
                api_version: String::new(),
                node: Node {
                    kind: NodeKind::Null,
                    span: e.span,
                },
                base: start,
                lines: lines.clone(),
                value: Value::Null,
            };
            let (line, column) = probe.locate(&[]);
            ImportError {
                file: input.path.clone(),
                line,
                column,
                message: format!(
                    "not valid {}: {}",
                    if json { "JSON" } else { "YAML" },
                    e.message
                ),
                help: Some("expected Kubernetes manifests (YAML documents or JSON)".into()),
            }
        })?;
        collect(input, node, start, &lines, &mut out)?;
    }
    Ok(out)
}

fn collect(
    input: &Input,
    node: Node,
    base: usize,
    lines: &std::sync::Arc<Vec<usize>>,
    out: &mut Vec<Object>,
) -> Result<(), ImportError> {
    let value = to_value(&node);
    let obj = Object {
        file: input.path.clone(),
        kind: value["kind"].as_str().unwrap_or("").to_string(),
        api_version: value["apiVersion"].as_str().unwrap_or("").to_string(),
        node,
        base,
        lines: lines.clone(),
        value,
    };
    match &obj.value {
        Value::Null => return Ok(()),
        Value::Array(_) => {
            // A JSON array of objects (as some tools write them).
            if let NodeKind::Seq(items) = obj.node.kind.clone() {
                for item in items {
                    collect(input, item, base, lines, out)?;
                }
            }
            return Ok(());
        }
        Value::Object(_) => {}
        _ => {
            return Err(obj.error(
                &[],
                "a manifest must be a mapping with `kind:` and `apiVersion:`",
                Some("expected a Kubernetes object".into()),
            ))
        }
    }
    if obj.kind.is_empty() {
        return Err(obj.error(
            &[],
            "this object has no `kind:`",
            Some(
                "every Kubernetes object names its kind (`kind: Pod`, `kind: NetworkPolicy`)"
                    .into(),
            ),
        ));
    }
    if obj.kind == "List" || (obj.kind.ends_with("List") && obj.value.get("items").is_some()) {
        let items = match &obj.node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some("items"))
                .map(|(_, v)| v.clone()),
            _ => None,
        };
        match items.map(|n| n.kind) {
            Some(NodeKind::Seq(items)) => {
                for item in items {
                    let before = out.len();
                    collect(input, item, base, lines, out)?;
                    // Items of a typed list (`PodList`) may leave out their kind.
                    for o in &mut out[before..] {
                        if o.kind.is_empty() {
                            o.kind = obj.kind.trim_end_matches("List").to_string();
                        }
                    }
                }
            }
            Some(NodeKind::Null) | None => {}
            Some(_) => {
                return Err(obj.error(
                    &[Step::Key("items")],
                    format!("`items` of a {} must be a list", obj.kind),
                    None,
                ))
            }
        }
        return Ok(());
    }
    out.push(obj);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_lines() {
        let text = "# c\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n    namespace: a\n";
        let objs = objects(&Input::new("m.yaml", text)).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].kind, "Namespace");
        assert_eq!(objs[1].kind, "Pod");
        assert_eq!(
            objs[1].line(&[Step::Key("metadata"), Step::Key("name")]),
            13
        );
        assert_eq!(objs[0].line(&[Step::Key("kind")]), 3);
    }

    #[test]
    fn json_and_bad_yaml() {
        let objs = objects(&Input::new(
            "p.json",
            "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\",\n \"metadata\": {\"name\": \"x\"}}",
        ))
        .unwrap();
        assert_eq!(objs[0].name(), "x");
        let e = objects(&Input::new("b.yaml", "kind: Pod\nmetadata: [\n")).unwrap_err();
        assert_eq!(e.file, "b.yaml");
        assert!(e.line >= 2, "{e}");
    }
}
