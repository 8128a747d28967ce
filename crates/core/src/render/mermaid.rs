//! A Mermaid `sequenceDiagram` of a trace: devices as participants, links as
//! messages (replies dashed), decisions as notes.

use std::fmt::Write;

use crate::evidence::{Direction, Stage, Trace, Verdict};
use crate::journey::endpoint;

/// Mermaid treats `;` and `#` specially in messages.
fn clean(s: &str) -> String {
    s.replace(';', ",").replace('#', "no. ").replace('\n', " ")
}

pub fn trace_mermaid(t: &Trace) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let mut devices: Vec<&str> = Vec::new();
    for h in &t.hops {
        if !devices.contains(&h.device.as_str()) {
            devices.push(&h.device);
        }
    }
    // The receiver of a link is the device of the next hop.
    let id = |d: &str| format!("p{}", devices.iter().position(|x| *x == d).unwrap_or(0));
    for d in &devices {
        let _ = writeln!(out, "    participant {} as {}", id(d), clean(d));
    }
    for (i, h) in t.hops.iter().enumerate() {
        let me = id(&h.device);
        match h.stage {
            Stage::Link if h.verdict == Verdict::Pass => {
                let next = t.hops[i + 1..]
                    .iter()
                    .find(|n| n.device != h.device)
                    .map(|n| id(&n.device))
                    .unwrap_or_else(|| me.clone());
                let arrow = if h.direction == Direction::Reply {
                    "-->>"
                } else {
                    "->>"
                };
                let p = &h.packet;
                let _ = writeln!(
                    out,
                    "    {me}{arrow}{next}: {} {} -> {}",
                    p.proto,
                    endpoint(p.src, p.sport),
                    endpoint(p.dst, p.dport)
                );
            }
            Stage::Send | Stage::Route if h.verdict == Verdict::Pass => {}
            Stage::Conntrack
            | Stage::Dnat
            | Stage::Snat
            | Stage::Filter
            | Stage::ReversePath
            | Stage::Martian
            | Stage::Resolve
            | Stage::Socket
            | Stage::Tls
            | Stage::Proxy
            | Stage::Route
            | Stage::Link
            | Stage::Receive
            | Stage::Send => {
                let rule = h
                    .rule
                    .as_ref()
                    .map(|r| match (&r.owner, r.index) {
                        _ if r.source.is_some() => {
                            format!(
                                " [{}]",
                                r.source.as_ref().map(|s| s.to_string()).unwrap_or_default()
                            )
                        }
                        (Some(o), Some(n)) => format!(" [{o} rule {n}]"),
                        (Some(o), None) if r.kind == "default policy" => format!(" [{o} default]"),
                        _ => String::new(),
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    Note over {me}: {} {}{rule}",
                    h.stage.name(),
                    clean(&h.detail)
                );
            }
        }
    }
    let o = &t.outcome;
    let at =
        o.at.as_deref()
            .map(id)
            .unwrap_or_else(|| id(devices.first().copied().unwrap_or("")));
    let _ = writeln!(
        out,
        "    Note over {at}: {} - {}",
        o.kind.name().to_uppercase(),
        clean(&o.text)
    );
    out
}
