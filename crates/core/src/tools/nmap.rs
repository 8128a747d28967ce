//! `nmap`: a port scan from a host of the scenario. Each (address, port) is a
//! trace; its outcome becomes the state a scanner would report (an answer
//! with SYN-ACK is open, a reset closed, silence or an ICMP error filtered).

use std::collections::BTreeMap;

use super::{
    answer_of, bracket, decided_by, model_note, owner_name, service_name, targets, Answer,
    ToolError,
};
use crate::evidence::{OutcomeKind, Trace};
use crate::journey::{trace, Query};
use crate::model::{Proto, Scenario};

/// The ports scanned without `-p`: every port a socket of the scenario
/// listens on, and these, which scanners try first.
const COMMON: [u16; 26] = [
    21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 995, 1433, 3128, 3306, 3389, 5432,
    5900, 6379, 8080, 8443, 9100, 9200, 27017,
];

struct Options {
    ports: Option<Vec<u16>>,
    proto: Proto,
    no_ping: bool,
    reason: bool,
    open_only: bool,
    v6: bool,
    targets: Vec<String>,
}

fn parse_ports(spec: &str) -> Result<Vec<u16>, ToolError> {
    let bad = || {
        ToolError::new(
            format!("Error #485: Your port specifications are illegal: `{spec}`"),
            Some("e.g. -p 22,80,443 or -p 1-1024".to_string()),
        )
    };
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part.trim_start_matches("T:").trim_start_matches("U:");
        if part == "-" {
            return Ok((1..=65535).collect());
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u16 = if a.is_empty() {
                    1
                } else {
                    a.parse().map_err(|_| bad())?
                };
                let b: u16 = if b.is_empty() {
                    65535
                } else {
                    b.parse().map_err(|_| bad())?
                };
                if a > b || a == 0 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => {
                let p: u16 = part.parse().map_err(|_| bad())?;
                if p == 0 {
                    return Err(bad());
                }
                out.push(p);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse(args: &[String]) -> Result<Options, ToolError> {
    let mut o = Options {
        ports: None,
        proto: Proto::Tcp,
        no_ping: false,
        reason: false,
        open_only: false,
        v6: false,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" => {
                let spec = it.next().ok_or_else(|| {
                    ToolError::new("-p needs a port list", Some("-p 22,80,443".to_string()))
                })?;
                o.ports = Some(parse_ports(spec)?);
            }
            s if s.starts_with("-p") && s.len() > 2 => o.ports = Some(parse_ports(&s[2..])?),
            "-Pn" => o.no_ping = true,
            "-sU" => o.proto = Proto::Udp,
            "-sT" | "-sS" => o.proto = Proto::Tcp,
            "-n" | "-v" | "-vv" | "-F" => {}
            "--reason" => o.reason = true,
            "--open" => o.open_only = true,
            "-6" => o.v6 = true,
            s if s.starts_with("-T") && s.len() == 3 => {}
            s if s.starts_with('-') => {
                return Err(ToolError::new(
                    format!("nmap: unrecognized option `{s}`"),
                    Some(
                        "the model answers -p, -Pn, -sT, -sS, -sU, -n, -6, --reason, --open"
                            .to_string(),
                    ),
                ))
            }
            t => o.targets.push(t.to_string()),
        }
    }
    if o.targets.is_empty() {
        return Err(ToolError::new(
            "WARNING: No targets were specified, so 0 hosts scanned.",
            Some("pathproof tool nmap --from HOST TARGET (a host, an address, a prefix such as 10.0.2.0/24, or a name)".to_string()),
        ));
    }
    Ok(o)
}

/// (state, reason) as nmap reports a port, from the traced journey.
fn state(proto: Proto, t: &Trace) -> (&'static str, &'static str) {
    use OutcomeKind::*;
    let answer = answer_of(t);
    match (proto, t.outcome.kind) {
        (Proto::Udp, Reached) => ("open", "udp-response"),
        (_, Reached | TlsFailed | ProxyDenied | ProxyLoop) => ("open", "syn-ack"),
        (Proto::Udp, Refused) => ("closed", "port-unreach"),
        (_, Refused) => ("closed", "reset"),
        (_, Rejected) => match answer {
            Answer::Reset => ("closed", "reset"),
            Answer::PortUnreachable if proto == Proto::Udp => ("closed", "port-unreach"),
            Answer::PortUnreachable => ("filtered", "port-unreach"),
            Answer::Prohibited => ("filtered", "admin-prohibited"),
            _ => ("filtered", "host-unreach"),
        },
        (Proto::Udp, Dropped | ReplyLost) => ("open|filtered", "no-response"),
        (_, Dropped | ReplyLost) => ("filtered", "no-response"),
        (_, NoRoute) => (
            "filtered",
            if answer == Answer::Silence {
                "no-response"
            } else {
                "net-unreach"
            },
        ),
        (_, TtlExceeded) => ("filtered", "time-exceeded"),
        (_, Unresolved) => ("filtered", "no-response"),
    }
}

fn answered(st: &str) -> bool {
    st == "open" || st == "closed"
}

pub(super) fn run(scn: &Scenario, from: &str, args: &[String]) -> Result<String, ToolError> {
    let o = parse(args)?;
    let ports: Vec<u16> = match &o.ports {
        Some(p) => p.clone(),
        None => {
            let mut p: Vec<u16> = COMMON.to_vec();
            for h in &scn.hosts {
                p.extend(
                    h.sockets
                        .iter()
                        .filter(|s| s.proto == o.proto)
                        .map(|s| s.port),
                );
            }
            p.sort_unstable();
            p.dedup();
            p
        }
    };
    let mut out = String::from("Starting Nmap ( https://nmap.org )\n");
    let mut why = String::new();
    let mut total: u128 = 0;
    let mut up = 0usize;
    let mut single_down = None;
    for target in &o.targets {
        let (addrs, count) = targets(scn, from, target, o.v6)?;
        total = total.saturating_add(count);
        for addr in addrs {
            let probe = |proto: Proto, port: Option<u16>| -> Result<Trace, ToolError> {
                let to = match port {
                    Some(p) => format!("{}:{p}", bracket(addr)),
                    None => addr.to_string(),
                };
                let mut q = Query::new(from, &to);
                q.proto = proto;
                trace(scn, &q).map_err(|e| ToolError::new(e.message, e.help))
            };
            let mut rows: Vec<(u16, &'static str, &'static str, Trace)> = Vec::new();
            for &port in &ports {
                let t = probe(o.proto, Some(port))?;
                let (st, reason) = state(o.proto, &t);
                rows.push((port, st, reason, t));
            }
            let ping = probe(Proto::Icmp, None)?;
            let is_up =
                ping.outcome.kind == OutcomeKind::Reached || rows.iter().any(|r| answered(r.1));
            let name = match owner_name(scn, addr) {
                Some(n) => format!("{n} ({addr})"),
                None => addr.to_string(),
            };
            if !is_up && !o.no_ping {
                if count == 1 {
                    single_down = Some(name.clone());
                }
                why.push_str(&format!(
                    "# {name}: no answer to the ping or to any probe: {}\n",
                    decided_by(scn, &ping)
                ));
                continue;
            }
            up += 1;
            out.push_str(&format!("Nmap scan report for {name}\nHost is up.\n"));
            // The most common state that is not open is folded into one line, as nmap does.
            let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &rows {
                *by_state.entry(r.1).or_default() += 1;
            }
            let folded = by_state
                .iter()
                .filter(|(s, n)| **s != "open" && **n >= 5 && **n * 2 > rows.len().min(20))
                .max_by_key(|(_, n)| **n)
                .map(|(s, _)| *s);
            let shown: Vec<&(u16, &str, &str, Trace)> = rows
                .iter()
                .filter(|r| Some(r.1) != folded && (!o.open_only || r.1 == "open"))
                .collect();
            if let (Some(_), true) = (folded, shown.is_empty()) {
                out.push_str(&format!(
                    "All {} scanned ports on {name} are in ignored states.\n",
                    rows.len()
                ));
            }
            if let Some(f) = folded {
                let n = by_state[f];
                let reasons: BTreeMap<&str, usize> =
                    rows.iter()
                        .filter(|r| r.1 == f)
                        .fold(BTreeMap::new(), |mut m, r| {
                            *m.entry(r.2).or_default() += 1;
                            m
                        });
                let reason = reasons
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(r, _)| *r)
                    .unwrap_or("");
                out.push_str(&format!(
                    "Not shown: {n} {f} {} ports ({reason})\n",
                    o.proto
                ));
                if let Some(r) = rows.iter().find(|r| r.1 == f) {
                    why.push_str(&format!(
                        "# {name}, the {n} {f} ports, e.g. {}/{}: {}\n",
                        r.0,
                        o.proto,
                        decided_by(scn, &r.3)
                    ));
                }
            }
            if shown.is_empty() {
                if folded.is_none() {
                    out.push_str("All scanned ports are filtered\n");
                }
            } else {
                let port_w = shown
                    .iter()
                    .map(|r| format!("{}/{}", r.0, o.proto).len())
                    .max()
                    .unwrap_or(4)
                    .max(4)
                    + 1;
                let state_w = shown.iter().map(|r| r.1.len()).max().unwrap_or(5).max(5) + 1;
                let service = |port: u16| -> String {
                    service_name(o.proto, port)
                        .map(str::to_string)
                        .or_else(|| {
                            scn.host_by_name(owner_name(scn, addr)?)
                                .and_then(|h| {
                                    scn.host(h)
                                        .sockets
                                        .iter()
                                        .find(|s| s.port == port && s.proto == o.proto)
                                })
                                .and_then(|s| s.app.clone())
                        })
                        .unwrap_or_else(|| "unknown".into())
                };
                let svc_w = shown
                    .iter()
                    .map(|r| service(r.0).len())
                    .max()
                    .unwrap_or(7)
                    .max(7)
                    + 1;
                if o.reason {
                    out.push_str(&format!(
                        "{:<port_w$}{:<state_w$}{:<svc_w$}REASON\n",
                        "PORT", "STATE", "SERVICE"
                    ));
                } else {
                    out.push_str(&format!(
                        "{:<port_w$}{:<state_w$}SERVICE\n",
                        "PORT", "STATE"
                    ));
                }
                for r in &shown {
                    let p = format!("{}/{}", r.0, o.proto);
                    if o.reason {
                        out.push_str(&format!(
                            "{p:<port_w$}{:<state_w$}{:<svc_w$}{}\n",
                            r.1,
                            service(r.0),
                            r.2
                        ));
                    } else {
                        out.push_str(&format!("{p:<port_w$}{:<state_w$}{}\n", r.1, service(r.0)));
                    }
                    why.push_str(&format!(
                        "# {name} {p} {}: {}\n",
                        r.1,
                        decided_by(scn, &r.3)
                    ));
                }
            }
            out.push('\n');
        }
    }
    if let Some(name) = single_down {
        out.push_str(&format!(
            "Note: Host seems down. If it is really up, but blocking our ping probes, try -Pn\n(no answer from {name})\n"
        ));
    }
    let addresses = if total == 1 {
        "1 IP address".to_string()
    } else {
        format!("{total} IP addresses")
    };
    let hosts = if up == 1 {
        "1 host up".to_string()
    } else {
        format!("{up} hosts up")
    };
    out.push_str(&format!("Nmap done: {addresses} ({hosts}) scanned\n"));
    out.push_str(&model_note(scn));
    if o.proto == Proto::Udp {
        out.push_str("# a UDP port is shown open when a socket listens; a real scan shows it open only if the service answers the probe\n");
    }
    out.push_str(&why);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn port_lists() {
        assert_eq!(parse_ports("22,80,443").unwrap(), vec![22, 80, 443]);
        assert_eq!(parse_ports("20-22,22").unwrap(), vec![20, 21, 22]);
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("x").is_err());
        assert_eq!(parse_ports("-").unwrap().len(), 65535);
    }

    #[test]
    fn the_address_of_an_ipv6_target_is_bracketed() {
        assert_eq!(
            bracket("2001:db8::1".parse::<IpAddr>().unwrap()),
            "[2001:db8::1]"
        );
    }
}
