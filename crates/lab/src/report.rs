//! Text and JSON renderings of a probe run.

use std::fmt::Write as _;

use crate::probe::{NotProbed, ProbeResult};

fn peer(a: Option<std::net::IpAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "-".into())
}

/// The side-by-side table, then every expectation not probed (with why),
/// then every disagreement with the model's trace and the kernel's.
pub fn text(lab: &str, results: &[ProbeResult], not_probed: &[NotProbed]) -> String {
    let mut out = String::new();
    let agree = results.iter().filter(|r| r.agree).count();
    let _ = writeln!(
        out,
        "lab {lab}: {} probes, {agree} agree, {} disagree; {} expectation journeys not probed",
        results.len(),
        results.len() - agree,
        not_probed.len()
    );
    let remade = results.iter().filter(|r| r.remade).count();
    if remade > 0 {
        let _ = writeln!(
            out,
            "({remade} made a second time, alone: the first time it timed out against an unreachable, either way, as a neighbour late to answer on a busy machine makes it)"
        );
    }
    let _ = writeln!(out);
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|r| {
            // A network's stand-in shows the address it sent from.
            let from = r.stand_in.as_deref().unwrap_or(&r.from);
            let j = match &r.via {
                Some(v) => format!("{} {from} -> {} via {v}", r.proto, r.to),
                None => format!("{} {from} -> {}", r.proto, r.to),
            };
            [
                if r.agree { "ok".into() } else { "DIFF".into() },
                j,
                format!("{} ({})", r.model, r.model_client_sees),
                r.kernel.class.name().to_string(),
                format!("{} / {}", peer(r.model_peer), peer(r.kernel.peer_seen)),
                r.why.clone(),
            ]
        })
        .collect();
    let head = [
        "",
        "journey",
        "model",
        "kernel",
        "peer model/kernel",
        "why probed",
    ];
    let mut w = [0usize; 6];
    for row in rows.iter().chain(std::iter::once(&head.map(String::from))) {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    for row in std::iter::once(head.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            let _ = write!(line, "{:<width$}  ", c, width = w[i]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !not_probed.is_empty() {
        let _ = writeln!(out, "\nnot probed:");
        for n in not_probed {
            let _ = writeln!(out, "  expect: {}: {}", n.expect, n.reason);
        }
    }
    let diffs: Vec<&ProbeResult> = results.iter().filter(|r| !r.agree).collect();
    if !diffs.is_empty() {
        let _ = writeln!(out, "\ndisagreements:");
        for r in diffs {
            let _ = writeln!(out, "\n--- {} ({})", r.to, r.why);
            let _ = writeln!(out, "{}", r.disagreement.clone().unwrap_or_default());
            let _ = writeln!(
                out,
                "kernel: {} after {} ms: {}",
                r.kernel.class.name(),
                r.kernel.millis,
                r.kernel.detail
            );
            if let Some(t) = &r.trace {
                let _ = writeln!(out, "model trace:");
                out.push_str(&pathproof_core::render::trace_text(t));
            }
            match &r.kernel_trace {
                Some(k) => {
                    let _ = writeln!(
                        out,
                        "kernel trace (the journey made again, nft monitor trace per namespace):"
                    );
                    out.push_str(k);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "kernel trace: not made (only the first {} disagreements are made again with tracing)",
                        crate::ktrace::EXPLAIN_AT_MOST
                    );
                }
            }
        }
    }
    out
}

/// The results as JSON: one object per probe plus counts, and the
/// expectations not probed.
pub fn json(lab: &str, results: &[ProbeResult], not_probed: &[NotProbed]) -> String {
    let agree = results.iter().filter(|r| r.agree).count();
    let v = serde_json::json!({
        "lab": lab,
        "probes": results.len(),
        "agree": agree,
        "disagree": results.len() - agree,
        "not_probed": not_probed,
        "results": results,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("plain values serialise");
    s.push('\n');
    s
}
