//! Variants: named patches (`break`, `harden`, …) applied to the YAML tree
//! before names are resolved, so a patched scenario is loaded and checked
//! exactly like a written one, and every added line keeps its own span.

use super::diagnostic::nearest;
use super::grammar::{self, Cursor};
use super::yaml::{Node, NodeKind};
use super::Loader;
use crate::model::Span;

const VARIANT_KEYS: &[&str] = &[
    "why", "filters", "hosts", "networks", "dns", "expect", "traffic",
];
const FILTER_OPS: &[&str] = &[
    "insert", "append", "remove", "replace", "default", "stateful",
];
const LIST_OPS: &[&str] = &["add", "remove"];

fn key_is(k: &Node, name: &str) -> bool {
    k.scalar_text().as_deref() == Some(name)
}

fn entries_mut(node: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    if matches!(node.kind, NodeKind::Null) {
        node.kind = NodeKind::Map(Vec::new());
    }
    match &mut node.kind {
        NodeKind::Map(e) => Some(e),
        _ => None,
    }
}

fn child_mut<'n>(node: &'n mut Node, key: &str) -> Option<&'n mut Node> {
    entries_mut(node)?
        .iter_mut()
        .find(|(k, _)| key_is(k, key))
        .map(|(_, v)| v)
}

/// The value under `key`, created as an empty value when absent.
fn child_or_insert<'n>(node: &'n mut Node, key: &str, span: Span) -> Option<&'n mut Node> {
    let entries = entries_mut(node)?;
    if let Some(i) = entries.iter().position(|(k, _)| key_is(k, key)) {
        return Some(&mut entries[i].1);
    }
    entries.push((
        Node {
            kind: NodeKind::Str(key.to_string()),
            span,
        },
        Node {
            kind: NodeKind::Null,
            span,
        },
    ));
    entries.last_mut().map(|(_, v)| v)
}

fn set_child(node: &mut Node, key: &Node, value: Node) {
    let Some(entries) = entries_mut(node) else {
        return;
    };
    let name = key.scalar_text().unwrap_or_default();
    match entries.iter_mut().find(|(k, _)| key_is(k, &name)) {
        Some((_, v)) => *v = value,
        None => entries.push((key.clone(), value)),
    }
}

/// The items of a list node, turning a scalar or an empty value into a list.
fn list_mut(node: &mut Node) -> &mut Vec<Node> {
    match &node.kind {
        NodeKind::Seq(_) => {}
        NodeKind::Null => node.kind = NodeKind::Seq(Vec::new()),
        _ => {
            let single = node.clone();
            node.kind = NodeKind::Seq(vec![single]);
        }
    }
    match &mut node.kind {
        NodeKind::Seq(items) => items,
        _ => unreachable!("just made a list"),
    }
}

pub(super) fn apply(l: &mut Loader, mut root: Node, variants: &Node, name: &str) -> Option<Node> {
    let entries = l.map(variants, "variants").to_vec();
    let Some((_, patch)) = entries.iter().find(|(k, _)| key_is(k, name)) else {
        let names: Vec<String> = entries
            .iter()
            .filter_map(|(k, _)| k.scalar_text())
            .collect();
        let help = nearest(name, names.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some(format!("this scenario's variants: {}", names.join(", "))));
        l.problem(
            variants.span,
            format!("unknown variant `{name}`"),
            "the variants are declared here",
            help,
        );
        return None;
    };
    let before = l.problems.len();
    let patch_entries = l.map(patch, &format!("variant `{name}`")).to_vec();
    l.check_keys(&patch_entries, VARIANT_KEYS, &format!("variant `{name}`"));
    for (k, v) in &patch_entries {
        match k.scalar_text().as_deref() {
            Some("filters") => patch_filters(l, &mut root, v),
            Some("hosts") => patch_named(l, &mut root, "hosts", v),
            Some("networks") => patch_named(l, &mut root, "networks", v),
            Some("dns") => patch_dns(l, &mut root, v),
            Some("traffic") => {
                if let Some(t) = child_or_insert(&mut root, "traffic", k.span) {
                    merge(l, t, v);
                }
            }
            Some("expect") => {
                let ops = l.map(v, "expect changes").to_vec();
                l.check_keys(&ops, LIST_OPS, "expect changes");
                if let Some(list) = child_or_insert(&mut root, "expect", k.span) {
                    patch_list(l, list, &ops, "expectation", normalise_text);
                }
            }
            _ => {}
        }
    }
    (l.problems.len() == before).then_some(root)
}

/// `traffic:` in a variant: mappings merge key by key, at every depth;
/// anything else (a number, a word, a list) replaces what was there.
fn merge(l: &mut Loader, target: &mut Node, patch: &Node) {
    let entries = l.map(patch, "traffic changes").to_vec();
    for (k, v) in &entries {
        let key = k.scalar_text().unwrap_or_default();
        let both_maps = matches!(v.kind, NodeKind::Map(_))
            && child_mut(target, &key).is_some_and(|t| matches!(t.kind, NodeKind::Map(_)));
        if both_maps {
            if let Some(t) = child_mut(target, &key) {
                merge(l, t, v);
            }
        } else {
            set_child(target, k, v.clone());
        }
    }
}

fn normalise_text(_: &mut Loader, n: &Node) -> String {
    n.scalar_text()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A rule's canonical text, whichever form it was written in.
fn rule_key(l: &mut Loader, n: &Node) -> String {
    let before = l.problems.len();
    let key = l.rule_words(n).and_then(|w| {
        grammar::parse_rule_line(&mut Cursor::new(w, n.span))
            .ok()
            .map(|r| r.canonical())
    });
    l.problems.truncate(before);
    key.unwrap_or_else(|| normalise_text(l, n))
}

/// Applies `add:` and `remove:` to a list, matching items by `key`.
fn patch_list(
    l: &mut Loader,
    list: &mut Node,
    ops: &[(Node, Node)],
    what: &str,
    key: fn(&mut Loader, &Node) -> String,
) {
    for (k, v) in ops {
        let items: Vec<Node> = l.items(v).into_iter().cloned().collect();
        match k.scalar_text().as_deref() {
            Some("add") => list_mut(list).extend(items),
            Some("remove") => {
                for item in items {
                    let wanted = key(l, &item);
                    let existing: Vec<String> =
                        list_mut(list).clone().iter().map(|n| key(l, n)).collect();
                    match existing.iter().position(|e| *e == wanted) {
                        Some(i) => {
                            list_mut(list).remove(i);
                        }
                        // Gone already: an earlier variant of the stack removed it.
                        None if l.stacked => {}
                        None => {
                            let help = nearest(&wanted, existing.iter().map(String::as_str))
                                .map(|s| format!("did you mean `{s}`?"));
                            l.problem(
                                item.span,
                                format!("no {what} `{wanted}` to remove"),
                                format!("not found in the {what}s"),
                                help,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn patch_filters(l: &mut Loader, root: &mut Node, patch: &Node) {
    let filters_span = patch.span;
    let entries = l.map(patch, "filter changes").to_vec();
    for (fk, fv) in &entries {
        let fname = fk.scalar_text().unwrap_or_default();
        let ops = l.map(fv, &format!("changes to filter `{fname}`")).to_vec();
        let Some(filters) = child_or_insert(root, "filters", filters_span) else {
            continue;
        };
        let exists = filters
            .as_map()
            .is_some_and(|e| e.iter().any(|(k, _)| key_is(k, &fname)));
        // A whole definition (it has `rules`, which no change has) given by a
        // later variant of a stack replaces the filter an earlier one left:
        // each variant still declares its own filter when it is loaded alone.
        let whole = l.stacked && ops.iter().any(|(k, _)| key_is(k, "rules"));
        if !exists || whole {
            // A new filter: the patch is its whole definition.
            set_child(filters, fk, fv.clone());
            continue;
        }
        l.check_keys(&ops, FILTER_OPS, &format!("changes to filter `{fname}`"));
        let Some(filter) = child_mut(filters, &fname) else {
            continue;
        };
        for (k, v) in &ops {
            match k.scalar_text().as_deref() {
                Some(op @ ("default" | "stateful")) => {
                    let key = Node {
                        kind: NodeKind::Str(op.to_string()),
                        span: k.span,
                    };
                    set_child(filter, &key, v.clone());
                }
                Some(op) => {
                    let Some(rules) = child_or_insert(filter, "rules", k.span) else {
                        continue;
                    };
                    let items: Vec<Node> = l.items(v).into_iter().cloned().collect();
                    match op {
                        "insert" => {
                            let list = list_mut(rules);
                            for (i, item) in items.into_iter().enumerate() {
                                list.insert(i, item);
                            }
                        }
                        "append" => list_mut(rules).extend(items),
                        "remove" => patch_list(
                            l,
                            rules,
                            &[(
                                Node {
                                    kind: NodeKind::Str("remove".into()),
                                    span: k.span,
                                },
                                v.clone(),
                            )],
                            "rule",
                            rule_key,
                        ),
                        "replace" => {
                            let pairs = l.map(v, "replace").to_vec();
                            for (old, new) in pairs {
                                let wanted = rule_key(l, &old);
                                let existing: Vec<String> = list_mut(rules)
                                    .clone()
                                    .iter()
                                    .map(|n| rule_key(l, n))
                                    .collect();
                                match existing.iter().position(|e| *e == wanted) {
                                    Some(i) => list_mut(rules)[i] = new,
                                    None => {
                                        let help =
                                            nearest(&wanted, existing.iter().map(String::as_str))
                                                .map(|s| format!("did you mean `{s}`?"));
                                        l.problem(
                                            old.span,
                                            format!("no rule `{wanted}` to replace in `{fname}`"),
                                            "not found in the filter",
                                            help,
                                        );
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                None => {}
            }
        }
    }
}

/// Hosts and networks: keys are replaced, list keys take `add`/`remove`, and
/// a name that does not exist yet is added whole.
fn patch_named(l: &mut Loader, root: &mut Node, section: &str, patch: &Node) {
    let entries = l.map(patch, &format!("{section} changes")).to_vec();
    for (nk, nv) in &entries {
        let name = nk.scalar_text().unwrap_or_default();
        let Some(sec) = child_or_insert(root, section, patch.span) else {
            continue;
        };
        let exists = sec
            .as_map()
            .is_some_and(|e| e.iter().any(|(k, _)| key_is(k, &name)));
        if !exists {
            set_child(sec, nk, nv.clone());
            continue;
        }
        let Some(target) = child_mut(sec, &name) else {
            continue;
        };
        let changes = l.map(nv, &format!("changes to `{name}`")).to_vec();
        for (k, v) in &changes {
            let key = k.scalar_text().unwrap_or_default();
            let is_list_op = matches!(key.as_str(), "routes" | "listen" | "nat" | "at" | "cidr")
                && v.as_map().is_some_and(|e| {
                    !e.is_empty()
                        && e.iter().all(|(ok, _)| {
                            ok.scalar_text()
                                .is_some_and(|s| LIST_OPS.contains(&s.as_str()))
                        })
                });
            if is_list_op {
                let ops = v.as_map().unwrap_or(&[]).to_vec();
                if let Some(list) = child_or_insert(target, &key, k.span) {
                    patch_list(l, list, &ops, key.trim_end_matches('s'), normalise_text);
                }
            } else {
                set_child(target, k, v.clone());
            }
        }
    }
}

fn patch_dns(l: &mut Loader, root: &mut Node, patch: &Node) {
    let entries = l.map(patch, "dns changes").to_vec();
    for (vk, vv) in &entries {
        let view = vk.scalar_text().unwrap_or_default();
        let Some(dns) = child_or_insert(root, "dns", patch.span) else {
            continue;
        };
        let Some(target) = child_or_insert(dns, &view, vk.span) else {
            continue;
        };
        let ops = l.map(vv, &format!("changes to DNS view `{view}`")).to_vec();
        l.check_keys(&ops, LIST_OPS, &format!("changes to DNS view `{view}`"));
        for (k, v) in &ops {
            match k.scalar_text().as_deref() {
                Some("add") => {
                    for (rk, rv) in l.map(v, "records to add").to_vec() {
                        set_child(target, &rk, rv);
                    }
                }
                Some("remove") => {
                    for item in l.items(v).into_iter().cloned().collect::<Vec<_>>() {
                        let name = item.scalar_text().unwrap_or_default();
                        let Some(records) = entries_mut(target) else {
                            continue;
                        };
                        match records.iter().position(|(k, _)| key_is(k, &name)) {
                            Some(i) => {
                                records.remove(i);
                            }
                            None if l.stacked => {}
                            None => {
                                let names: Vec<String> = records
                                    .iter()
                                    .filter_map(|(k, _)| k.scalar_text())
                                    .collect();
                                let help = nearest(&name, names.iter().map(String::as_str))
                                    .map(|s| format!("did you mean `{s}`?"));
                                l.problem(
                                    item.span,
                                    format!("no record `{name}` in view `{view}`"),
                                    "nothing to remove",
                                    help,
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
