//! `pathproof filter`: test packets against a real iptables-save or nft rule set.

use std::fmt::Write;

use pathproof_rulesets::{parse_packet, parse_ruleset, DecidedBy, Decision, Step, TieNote, Via};
use serde_json::{json, Value};

use crate::InputError;

fn read(path: &str, what: &str) -> Result<String, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError(format!("error: cannot read {what} {path}: {e}\n")))?;
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!(
            "error: {path} is not UTF-8 text (first bad byte at offset {})\n",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn decided_json(d: &DecidedBy) -> Value {
    match d {
        DecidedBy::Rule { line, text } => json!({ "kind": "rule", "line": line, "text": text }),
        DecidedBy::Policy { table, chain, line } => {
            json!({ "kind": "policy", "table": table, "chain": chain, "line": line })
        }
        DecidedBy::MapElement {
            line,
            text,
            map,
            element_line,
            element,
        } => json!({
            "kind": "map_element",
            "line": line,
            "text": text,
            "map": map,
            "element_line": element_line,
            "element": element,
        }),
        DecidedBy::NoBaseChain => json!({ "kind": "no_base_chain" }),
    }
}

fn tie_json(t: &TieNote) -> Value {
    json!({
        "hook": t.hook.name(),
        "priority": t.priority,
        "chains": t.chains.iter().map(|c| json!({ "table": c.table, "chain": c.chain, "line": c.line })).collect::<Vec<_>>(),
        "alternative": t.alternative.to_string(),
        "alternative_decided_by": decided_json(&t.alternative_by),
    })
}

fn step_json(s: &Step) -> Value {
    match s {
        Step::Enter {
            table,
            chain,
            line,
            via,
        } => {
            let via = match via {
                Via::Hook(h) => json!({ "hook": format!("{h:?}").to_lowercase() }),
                Via::Jump(l) => json!({ "jump": l }),
                Via::Goto(l) => json!({ "goto": l }),
            };
            json!({ "enter": { "table": table, "chain": chain, "line": line, "via": via } })
        }
        Step::Log { line } => json!({ "log": line }),
        Step::Counter { line } => json!({ "counter": line }),
        Step::MapElement {
            line,
            map,
            element_line,
            element,
            key,
        } => json!({ "map_element": {
            "line": line,
            "map": map,
            "element_line": element_line,
            "element": element,
            "key": key,
        } }),
        Step::Return { chain, line } => json!({ "return": { "chain": chain, "line": line } }),
        Step::Accepted { table, chain } => {
            json!({ "accepted": { "table": table, "chain": chain } })
        }
    }
}

fn decision_json(packet: &str, line: usize, d: &Decision) -> Value {
    json!({
        "packet": packet,
        "packet_line": line,
        "verdict": d.verdict.to_string(),
        "decided_by": decided_json(&d.decided_by),
        "path": d.path.iter().map(step_json).collect::<Vec<_>>(),
        "tie": d.tie.as_ref().map(tie_json),
    })
}

/// Runs the command; returns what to print.
pub fn run(
    ruleset_path: &str,
    packet: Option<&str>,
    packets_path: Option<&str>,
    json_out: bool,
) -> Result<String, InputError> {
    let text = read(ruleset_path, "rule set")?;
    let rules = parse_ruleset(&text).map_err(|errors| {
        let mut s = format!(
            "error: {ruleset_path} has {} problem{}\n",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        for e in errors {
            let _ = writeln!(
                s,
                "{ruleset_path}:{}:{}: {}",
                e.line,
                e.column,
                crate::diagnostics::clip(&e.message)
            );
        }
        InputError(s)
    })?;
    let (lines, source): (Vec<(usize, String)>, String) = match (packet, packets_path) {
        (Some(p), None) => (vec![(1, p.to_string())], "--packet".to_string()),
        (None, Some(f)) => {
            let t = read(f, "packet file")?;
            let lines = t
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim().to_string()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .collect();
            (lines, f.to_string())
        }
        _ => {
            return Err(InputError(
                "error: give exactly one of --packet \"...\" or --packets FILE\n".into(),
            ))
        }
    };
    let mut parsed = Vec::new();
    let mut problems = String::new();
    for (n, l) in &lines {
        match parse_packet(l) {
            Ok(p) => parsed.push((*n, l.clone(), p)),
            Err(e) => {
                let _ = writeln!(
                    problems,
                    "{source}:{n}:{}: {}",
                    e.column,
                    crate::diagnostics::clip(&e.message)
                );
            }
        }
    }
    if !problems.is_empty() {
        let mut msg = String::from("error: some packets could not be read\n");
        msg.push_str(&problems);
        msg.push_str("  help: a packet is PROTO SRC[:PORT] -> DST[:PORT] [in IFACE] [out IFACE] [state new|established|related|invalid] [hook input|forward|output]\n");
        return Err(InputError(msg));
    }
    let mut out = String::new();
    let mut notes: Vec<&String> = rules.notes().iter().collect();
    notes.sort();
    if json_out {
        let results: Vec<Value> = parsed
            .iter()
            .map(|(n, l, p)| decision_json(l, *n, &rules.evaluate(p)))
            .collect();
        let v = json!({ "ruleset": ruleset_path, "notes": notes, "results": results });
        out.push_str(&serde_json::to_string_pretty(&v).expect("plain values serialise"));
        out.push('\n');
    } else {
        for (_, l, p) in &parsed {
            let d = rules.evaluate(p);
            let _ = writeln!(out, "{}\t{l}", d.render_line());
            if let Some(t) = d.render_tie() {
                let _ = writeln!(out, "  {t}");
            }
        }
        for n in notes {
            let _ = writeln!(out, "# note: {n}");
        }
    }
    Ok(out)
}
