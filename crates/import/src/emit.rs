//! Writing scenario YAML: scalars quoted only when they need it, so that the
//! output reads like a scenario a person wrote.

/// A YAML scalar for `s`: bare when that reads back as the same string,
/// double-quoted (JSON escaping, which YAML accepts) otherwise.
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | ':'))
        && !s.starts_with(['-', ':', '.'])
        && !s.ends_with(':')
        && !s.contains(": ")
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serialises")
    }
}

/// Always double-quoted (for free text: `about:`, labels).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// `[a, b, c]` with each item a scalar.
pub fn flow_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| scalar(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(scalar("x/a"), "x/a");
        assert_eq!(scalar("10.0.0.1"), "10.0.0.1");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("80"), "\"80\"");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar("::/0"), "\"::/0\"");
        assert_eq!(scalar("2001:db8::/64"), "2001:db8::/64");
    }
}
