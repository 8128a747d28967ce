//! The terminal view of a trace.

use std::fmt::Write;

use crate::evidence::{Direction, Hop, OutcomeKind, Trace};

fn rule_line(t: &Trace, h: &Hop) -> Option<String> {
    let r = h.rule.as_ref()?;
    let mut s = String::new();
    if let Some(src) = &r.source {
        // A rule set's line: the user's own file decides, not the flattened rule.
        write!(
            s,
            "{} in {}: {}  ({src}",
            src.label,
            r.owner.as_deref().unwrap_or(""),
            r.text
        )
        .ok()?;
        if r.line > 0 {
            write!(s, ", via {}:{}", t.file, r.line).ok()?;
        }
        s.push(')');
        return Some(s);
    }
    match (&r.owner, r.index) {
        (Some(o), Some(i)) => write!(s, "{} {i} of {o}: {}", r.kind, r.text).ok()?,
        (Some(o), None) if r.kind == "default policy" || r.kind == "implicit" => {
            write!(s, "{} of {o}: {}", r.kind, r.text).ok()?
        }
        (Some(o), None) if r.kind == "dns record" => {
            write!(s, "{} in view {o}: {}", r.kind, r.text).ok()?
        }
        (Some(o), None) => write!(s, "{} on {o}: {}", r.kind, r.text).ok()?,
        (None, _) => write!(s, "{}: {}", r.kind, r.text).ok()?,
    }
    if r.line > 0 {
        write!(s, "  ({}:{})", t.file, r.line).ok()?;
    }
    Some(s)
}

/// The place of a `--to` without its port, written so that the port can
/// follow it (`[2001:db8::10]` for an IPv6 address).
fn place_of(to: &str) -> String {
    let w = crate::load::grammar::Word {
        text: to.to_string(),
        span: Default::default(),
    };
    match crate::load::grammar::split_place_port(&w) {
        Ok((p, _)) if p.text.contains(':') => format!("[{}]", p.text),
        Ok((p, _)) => p.text,
        Err(_) => to.to_string(),
    }
}

/// Renders a trace for reading in a terminal.
pub fn trace_text(t: &Trace) -> String {
    let mut out = String::new();
    let q = &t.query;
    let port = q.port.map(|p| format!(":{p}")).unwrap_or_default();
    let variant = t
        .variant
        .as_deref()
        .map(|v| format!(", variant {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "trace {} -> {}{port} ({}) in {}{variant}",
        q.from,
        place_of(&q.to),
        q.proto,
        t.scenario
    );
    let dst = q
        .destination_address
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unresolved".into());
    let via = q
        .via
        .as_deref()
        .map(|v| format!(", via proxy {v}"))
        .unwrap_or_default();
    if q.established {
        let _ = writeln!(
            out,
            "  a packet of a connection opened earlier (--established): conntrack already holds its entries"
        );
    }
    let _ = writeln!(
        out,
        "  from {} ({}) to {dst}{via}",
        q.source,
        q.source_address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "nothing sent".into())
    );
    let width = t
        .hops
        .iter()
        .map(|h| h.device.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut direction = None;
    for h in &t.hops {
        if direction != Some(h.direction) {
            direction = Some(h.direction);
            let _ = writeln!(
                out,
                "\n{}",
                match h.direction {
                    Direction::Request => "request",
                    Direction::Reply => "reply",
                }
            );
        }
        let iface = h
            .interface
            .as_deref()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>3}  {:<width$}  {:<12} {:<7} {}{iface}",
            h.step,
            h.device,
            h.stage.name(),
            verdict_word(h),
            h.detail
        );
        let pad = " ".repeat(5 + width + 2 + 13 + 8);
        if let Some(r) = rule_line(t, h) {
            let _ = writeln!(out, "{pad}rule: {r}");
        }
        if let Some(src) = h.rule.as_ref().and_then(|r| r.source.as_ref()) {
            let _ = writeln!(out, "{pad}from: {}", crate::journey::source_text(src));
        }
        if let Some(s) = &h.state {
            let _ = writeln!(out, "{pad}state: {s}");
        }
        for c in &h.proves {
            let _ = writeln!(out, "{pad}proves: {}", c.text);
        }
        for c in &h.trusts {
            let _ = writeln!(out, "{pad}trusts: {}", c.text);
        }
        for c in &h.hides {
            let _ = writeln!(out, "{pad}hides: {}", c.text);
        }
    }
    let o = &t.outcome;
    let at =
        o.at.as_deref()
            .map(|a| format!(" at {a}"))
            .unwrap_or_default();
    let step = o.step.map(|s| format!(" (step {s})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "\noutcome: {}{at}{step}: {}",
        o.kind.name().to_uppercase(),
        o.text
    );
    let _ = writeln!(out, "  the client sees: {}", o.client_sees);
    if o.kind == OutcomeKind::Reached
        && (!t.summary.believes.is_empty() || !t.summary.trusts.is_empty())
    {
        let who = o.at.as_deref().unwrap_or("the service");
        let _ = writeln!(out, "\nwhat {who} can believe about this request:");
        for c in &t.summary.believes {
            let _ = writeln!(out, "  + {}", c.text);
        }
        let _ = writeln!(out, "what it must take on trust:");
        for c in &t.summary.trusts {
            let _ = writeln!(out, "  ? {}", c.text);
        }
    }
    out
}

fn verdict_word(h: &Hop) -> &'static str {
    use crate::evidence::Verdict::*;
    match h.verdict {
        Pass => "pass",
        Rewrite => "rewrite",
        Allow => "ALLOW",
        Drop => "DROP",
        Reject => "REJECT",
        Accept => "accept",
        Refuse => "REFUSE",
    }
}
