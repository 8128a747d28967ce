//! `traceroute`: the routers a probe crosses, from one trace. A probe whose
//! time to live runs out at a router makes that router answer (Linux checks
//! the TTL when forwarding, before the forward filter), from its address on
//! the network the probe came in on; the destination answers the last probe
//! (a SYN-ACK or reset for `-T`, port unreachable for UDP); a probe that is
//! dropped leaves every later line silent.

use std::net::IpAddr;

use super::{answer_of, at, bracket, model_note, owner_name, Answer, ToolError};
use crate::evidence::{Direction, OutcomeKind, Stage, Trace, Verdict};
use crate::journey::{trace, Query};
use crate::model::{Proto, Scenario};

struct Options {
    target: Option<String>,
    proto: Proto,
    port: Option<u16>,
    max: u8,
    numeric: bool,
    v6: bool,
}

fn parse(args: &[String]) -> Result<Options, ToolError> {
    let mut o = Options {
        target: None,
        proto: Proto::Udp,
        port: None,
        max: 30,
        numeric: false,
        v6: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-T" => o.proto = Proto::Tcp,
            "-U" => o.proto = Proto::Udp,
            "-I" => o.proto = Proto::Icmp,
            "-n" => o.numeric = true,
            "-6" => o.v6 = true,
            "-4" => o.v6 = false,
            "-p" | "-m" | "-q" | "-w" => {
                let v = it.next().ok_or_else(|| {
                    ToolError::new(format!("Option `{a}' requires an argument"), None)
                })?;
                let n: u32 = v.parse().map_err(|_| {
                    ToolError::new(format!("Cannot handle `{a}' option with arg `{v}'"), None)
                })?;
                match a.as_str() {
                    "-p" => {
                        o.port = Some(
                            u16::try_from(n)
                                .map_err(|_| ToolError::new(format!("bad port {v}"), None))?,
                        )
                    }
                    "-m" => o.max = n.clamp(1, 255) as u8,
                    _ => {}
                }
            }
            s if s.starts_with('-') => {
                return Err(ToolError::new(
                    format!("Bad option `{s}'"),
                    Some(
                        "the model answers -T, -U, -I, -p PORT, -m MAX_TTL, -n, -4, -6".to_string(),
                    ),
                ))
            }
            t if o.target.is_none() => o.target = Some(t.to_string()),
            t => return Err(ToolError::new(format!("Extra arg `{t}'"), None)),
        }
    }
    Ok(o)
}

/// The address `dev` answers from on the network `net` (its first address of the family).
fn address_on(scn: &Scenario, dev: &str, net: Option<&str>, v6: bool) -> Option<IpAddr> {
    let h = scn.host(scn.host_by_name(dev)?);
    let on = net.and_then(|n| scn.network_by_name(n));
    h.interfaces
        .iter()
        .filter(|i| on.is_none_or(|n| i.network == n))
        .flat_map(|i| i.addrs.iter().copied())
        .find(|a| a.is_ipv6() == v6)
        .or_else(|| h.first_addr(v6))
}

/// One device the probe reaches, in order.
struct Reached {
    device: String,
    /// The network it came in on (the link hop before).
    incoming: Option<String>,
    /// It forwards the probe (its TTL would run out here).
    forwards: bool,
    /// The probe is addressed to it.
    destination: bool,
    /// The step of its routing hop, for the notes.
    route: Option<(String, u32)>,
}

fn reached(t: &Trace) -> Vec<Reached> {
    let sender = t.hops.first().map(|h| h.device.clone()).unwrap_or_default();
    let mut out: Vec<Reached> = Vec::new();
    let mut incoming: Option<String> = None;
    for h in t.hops.iter().filter(|h| h.direction == Direction::Request) {
        if h.stage == Stage::Link {
            incoming = h.interface.clone();
            continue;
        }
        if h.device == sender && out.is_empty() {
            continue;
        }
        if out.last().map(|r| r.device != h.device).unwrap_or(true) {
            if out.iter().any(|r| r.device == h.device) && h.stage == Stage::Tls {
                continue;
            }
            out.push(Reached {
                device: h.device.clone(),
                incoming: incoming.clone(),
                forwards: false,
                destination: false,
                route: None,
            });
        }
        let r = out.last_mut().expect("pushed above");
        if h.stage == Stage::Route && h.verdict == Verdict::Pass {
            match &h.rule {
                Some(rule) => {
                    r.forwards = true;
                    r.route = Some((rule.text.clone(), rule.line));
                }
                None => r.destination = true,
            }
        }
    }
    out
}

pub(super) fn run(scn: &Scenario, from: &str, args: &[String]) -> Result<String, ToolError> {
    let o = parse(args)?;
    let Some(target) = o.target.clone() else {
        return Err(ToolError::new(
            "Specify \"host\" missing argument.",
            Some("pathproof tool traceroute --from HOST TARGET".to_string()),
        ));
    };
    let port = match o.proto {
        Proto::Icmp => None,
        // Only -T, -U and -I are read: SCTP probes never come from the options.
        Proto::Tcp | Proto::Sctp => Some(o.port.unwrap_or(80)),
        Proto::Udp => Some(o.port.unwrap_or(33434)),
    };
    let to = match port {
        Some(p) => {
            if target.parse::<IpAddr>().is_ok() {
                format!("{}:{p}", bracket(target.parse().expect("an address")))
            } else {
                format!("{target}:{p}")
            }
        }
        None => target.clone(),
    };
    let mut q = Query::new(from, &to);
    q.proto = o.proto;
    q.ipv6 = o.v6;
    let t = trace(scn, &q).map_err(|e| ToolError::new(e.message, e.help))?;
    if t.outcome.kind == OutcomeKind::Unresolved {
        return Err(ToolError::new(
            format!("{target}: Name or service not known"),
            Some(format!(
                "Cannot handle \"host\" cmdline arg `{target}' on position 1 (argc 1)"
            )),
        ));
    }
    let Some(dst) = t.query.destination_address else {
        return Err(ToolError::new(format!("{target}: no address"), None));
    };
    let v6 = dst.is_ipv6();
    let mut out = format!(
        "traceroute to {target} ({dst}), {} hops max, 60 byte packets\n",
        o.max
    );
    let mut why = String::new();
    let name = |a: IpAddr| -> String {
        if o.numeric {
            a.to_string()
        } else {
            format!(
                "{} ({a})",
                owner_name(scn, a)
                    .map(str::to_string)
                    .unwrap_or_else(|| a.to_string())
            )
        }
    };
    let path = reached(&t);
    // Stopped at the sender itself: nothing is sent.
    let stopped_at = t.outcome.at.clone();
    if path.is_empty() && t.outcome.kind != OutcomeKind::Reached {
        let line = match t.outcome.kind {
            OutcomeKind::NoRoute => "connect: Network is unreachable",
            _ => "send: Operation not permitted",
        };
        out.push_str(&format!("{line}\n"));
        out.push_str(&model_note(scn));
        out.push_str(&format!(
            "# {}: {}\n",
            stopped_at.unwrap_or_default(),
            t.outcome.text
        ));
        return Ok(out);
    }
    let answer = answer_of(&t);
    let stop_hop = t
        .outcome
        .step
        .and_then(|s| t.hops.iter().find(|h| h.step == s));
    let mut ttl: u8 = 0;
    let mut done = false;
    for r in &path {
        if done || ttl >= o.max {
            break;
        }
        ttl += 1;
        let from_addr = address_on(scn, &r.device, r.incoming.as_deref(), v6);
        let stopped_here = stopped_at.as_deref() == Some(r.device.as_str())
            && t.outcome.kind != OutcomeKind::Reached;
        if r.destination {
            // The probe is for this host: it answers, or it keeps silent.
            let answers = match (o.proto, t.outcome.kind) {
                (
                    Proto::Tcp,
                    OutcomeKind::Reached | OutcomeKind::Refused | OutcomeKind::TlsFailed,
                ) => true,
                (Proto::Icmp, OutcomeKind::Reached) => true,
                (Proto::Udp, OutcomeKind::Refused) => true,
                (_, OutcomeKind::Rejected) => answer != Answer::Silence,
                _ => false,
            };
            if answers {
                let mark =
                    if t.outcome.kind == OutcomeKind::Rejected && answer == Answer::Prohibited {
                        "  !X"
                    } else {
                        ""
                    };
                out.push_str(&format!("{ttl:>2}  {}{mark}\n", name(dst)));
                why.push_str(&format!(
                    "# {ttl}: {} answers: {}\n",
                    r.device, t.outcome.text
                ));
            } else {
                out.push_str(&format!("{ttl:>2}  * * *\n"));
                let reason = match t.outcome.kind {
                    OutcomeKind::Reached => {
                        "a UDP socket takes the probe and sends nothing back".to_string()
                    }
                    _ => t.outcome.text.clone(),
                };
                why.push_str(&format!("# {ttl}: {} keeps silent: {reason}\n", r.device));
            }
            done = true;
            continue;
        }
        if r.forwards {
            match from_addr {
                Some(a) => out.push_str(&format!("{ttl:>2}  {}\n", name(a))),
                None => out.push_str(&format!("{ttl:>2}  * * *\n")),
            }
            let route = r
                .route
                .as_ref()
                .map(|(text, line)| format!(": route `{text}` ({})", at(scn, *line)))
                .unwrap_or_default();
            why.push_str(&format!(
                "# {ttl}: {} forwards the probe{route}; a probe with this TTL runs out there\n",
                r.device
            ));
            if stopped_here {
                // Stopped after the TTL check: the next probe meets the filter.
                if ttl < o.max {
                    ttl += 1;
                    let rule = stop_hop
                        .and_then(|h| h.rule.as_ref())
                        .map(|rl| format!("`{}` ({})", rl.text, at(scn, rl.line)))
                        .unwrap_or_else(|| t.outcome.text.clone());
                    match (t.outcome.kind, answer) {
                        (OutcomeKind::Rejected, a) if a != Answer::Silence => {
                            // Port unreachable reads as "arrived" to traceroute: no mark.
                            let mark = match a {
                                Answer::Prohibited => "  !X",
                                Answer::OtherIcmp => "  !H",
                                _ => "",
                            };
                            let shown = if a == Answer::Reset {
                                dst
                            } else {
                                from_addr.unwrap_or(dst)
                            };
                            out.push_str(&format!("{ttl:>2}  {}{mark}\n", name(shown)));
                            why.push_str(&format!(
                                "# {ttl}: {} rejects the probe: {rule}\n",
                                r.device
                            ));
                        }
                        (OutcomeKind::NoRoute, _) => {
                            out.push_str(&format!(
                                "{ttl:>2}  {}  !N\n",
                                from_addr.map(name).unwrap_or_else(|| "*".into())
                            ));
                            why.push_str(&format!(
                                "# {ttl}: {} has no route further: {}\n",
                                r.device, t.outcome.text
                            ));
                        }
                        _ => {
                            why.push_str(&format!(
                                "# {ttl} and later: {} drops the probe: {rule}\n",
                                r.device
                            ));
                            out.push_str(&format!("{ttl:>2}  * * *\n"));
                            while ttl < o.max {
                                ttl += 1;
                                out.push_str(&format!("{ttl:>2}  * * *\n"));
                            }
                        }
                    }
                }
                done = true;
            }
            continue;
        }
        // A device that neither forwards nor takes the probe: it is dropped
        // before the routing decision (martian source, reverse-path check).
        out.push_str(&format!("{ttl:>2}  * * *\n"));
        why.push_str(&format!(
            "# {ttl} and later: {} drops the probe: {}\n",
            r.device, t.outcome.text
        ));
        while ttl < o.max {
            ttl += 1;
            out.push_str(&format!("{ttl:>2}  * * *\n"));
        }
        done = true;
    }
    if !done {
        while ttl < o.max {
            ttl += 1;
            out.push_str(&format!("{ttl:>2}  * * *\n"));
        }
    }
    out.push_str(&model_note(scn));
    out.push_str(
        "# times are not modelled; each router's time-exceeded answer is assumed to come back\n",
    );
    out.push_str(&why);
    Ok(out)
}
