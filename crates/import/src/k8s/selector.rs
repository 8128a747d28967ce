//! Label selectors (matchLabels and matchExpressions), as the API server
//! evaluates them: all terms ANDed, an empty selector selects everything.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

/// Whether `sel` selects an object with `labels`. Operators other than In,
/// NotIn, Exists and DoesNotExist are refused when the cluster is read
/// (`check`), so here they select nothing.
pub fn matches(sel: &LabelSelector, labels: &Labels) -> bool {
    if let Some(ml) = &sel.match_labels {
        if ml.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            return false;
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or(&[]);
        let ok = match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The problem with a selector's expressions, if any: an unknown operator,
/// values where none are allowed, or none where some are required.
pub fn check(sel: &LabelSelector) -> Option<(usize, String)> {
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let n = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if n == 0 => {
                return Some((
                    i,
                    format!("operator `{}` needs at least one value", e.operator),
                ))
            }
            "Exists" | "DoesNotExist" if n > 0 => {
                return Some((i, format!("operator `{}` takes no values", e.operator)))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Some((
                    i,
                    format!(
                        "unknown operator `{other}` (expected In, NotIn, Exists or DoesNotExist)"
                    ),
                ))
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: if values.is_empty() {
                    None
                } else {
                    Some(values.iter().map(|s| s.to_string()).collect())
                },
            }]),
        }
    }

    #[test]
    fn operators() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(matches(&LabelSelector::default(), &l));
        assert!(matches(&expr("app", "In", &["web", "api"]), &l));
        assert!(!matches(&expr("app", "NotIn", &["web"]), &l));
        assert!(
            matches(&expr("team", "NotIn", &["x"]), &l),
            "NotIn holds when the key is absent"
        );
        assert!(matches(&expr("tier", "Exists", &[]), &l));
        assert!(!matches(&expr("tier", "DoesNotExist", &[]), &l));
        assert!(check(&expr("a", "Has", &[])).is_some());
        assert!(check(&expr("a", "In", &[])).is_some());
    }
}
