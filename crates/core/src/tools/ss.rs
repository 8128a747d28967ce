//! `ss`: the sockets of the host the tool runs on, from the scenario's
//! `listen:` declarations. The model holds listening sockets only, never
//! live connections.

use std::net::IpAddr;

use super::{at, host_named, model_note, service_name, ToolError};
use crate::model::{Proto, Scenario};

#[derive(Default)]
struct Options {
    listening: bool,
    all: bool,
    tcp: bool,
    udp: bool,
    numeric: bool,
    processes: bool,
    no_header: bool,
    only4: bool,
    only6: bool,
}

fn parse(args: &[String]) -> Result<Options, ToolError> {
    let mut o = Options::default();
    for a in args {
        let flags: Vec<char> = match a.strip_prefix("--") {
            Some("listening") => vec!['l'],
            Some("tcp") => vec!['t'],
            Some("udp") => vec!['u'],
            Some("numeric") => vec!['n'],
            Some("processes") => vec!['p'],
            Some("all") => vec!['a'],
            Some(other) => {
                return Err(ToolError::new(
                    format!("ss: unrecognized option '--{other}'"),
                    Some("the model answers -l, -t, -u, -n, -p, -a, -4, -6, -H".to_string()),
                ))
            }
            None => match a.strip_prefix('-') {
                Some(f) if !f.is_empty() => f.chars().collect(),
                _ => {
                    return Err(ToolError::new(
                        format!("ss: filters are not modelled: `{a}`"),
                        Some("use flags only, such as -ltn".to_string()),
                    ))
                }
            },
        };
        for f in flags {
            match f {
                'l' => o.listening = true,
                'a' => o.all = true,
                't' => o.tcp = true,
                'u' => o.udp = true,
                'n' => o.numeric = true,
                'p' => o.processes = true,
                'H' => o.no_header = true,
                '4' => o.only4 = true,
                '6' => o.only6 = true,
                'e' | 'i' | 'm' | 'o' | 'x' | 'w' => {}
                other => {
                    return Err(ToolError::new(
                        format!("ss: invalid option -- '{other}'"),
                        Some("the model answers -l, -t, -u, -n, -p, -a, -4, -6, -H".to_string()),
                    ))
                }
            }
        }
    }
    if !o.tcp && !o.udp {
        o.tcp = true;
        o.udp = true;
    }
    Ok(o)
}

pub(super) fn run(scn: &Scenario, from: &str, args: &[String]) -> Result<String, ToolError> {
    let o = parse(args)?;
    let host = host_named(scn, from)?;
    let both = o.tcp && o.udp;
    let endpoint = |bind: IpAddr, port: Option<u16>, proto: Proto| -> String {
        // A socket bound to `::` takes IPv4 too (no bindv6only): ss prints `*`.
        let addr = if bind.is_unspecified() && bind.is_ipv6() {
            "*".to_string()
        } else if bind.is_ipv6() {
            format!("[{bind}]")
        } else {
            bind.to_string()
        };
        let port = match port {
            None => "*".to_string(),
            Some(p) if o.numeric => p.to_string(),
            Some(p) => service_name(proto, p)
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string()),
        };
        format!("{addr}:{port}")
    };
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut why = String::new();
    if o.listening || o.all {
        for s in &host.sockets {
            let wanted = match s.proto {
                Proto::Tcp => o.tcp,
                Proto::Udp => o.udp,
                // ss lists SCTP sockets only with -S, which the model does not take.
                Proto::Icmp | Proto::Sctp => false,
            };
            let v6_only = s.bind.is_ipv6() && !s.bind.is_unspecified();
            let family_ok = !((o.only4 && v6_only) || (o.only6 && s.bind.is_ipv4()));
            if !wanted || !family_ok {
                continue;
            }
            let (netid, state, sendq) = match s.proto {
                Proto::Udp => ("udp", "UNCONN", "0"),
                _ => ("tcp", "LISTEN", "4096"),
            };
            let peer_any: IpAddr = if s.bind.is_ipv6() {
                "::".parse().expect("an address")
            } else {
                "0.0.0.0".parse().expect("an address")
            };
            let process = match (&s.app, o.processes) {
                (Some(app), true) => format!("users:((\"{app}\"))"),
                _ => String::new(),
            };
            rows.push([
                netid.into(),
                state.into(),
                "0".into(),
                sendq.into(),
                endpoint(s.bind, Some(s.port), s.proto),
                endpoint(peer_any, None, s.proto),
                process,
            ]);
            why.push_str(&format!(
                "# {}/{} on {}: the socket `{}` ({})\n",
                s.proto,
                s.port,
                host.name,
                s.text,
                at(scn, s.origin.line)
            ));
        }
    }
    let mut out = String::new();
    let local_w = rows
        .iter()
        .map(|r| r[4].len())
        .max()
        .unwrap_or(0)
        .max("Local Address:Port".len());
    let peer_w = rows
        .iter()
        .map(|r| r[5].len())
        .max()
        .unwrap_or(0)
        .max("Peer Address:Port".len());
    if !o.no_header {
        if both {
            out.push_str("Netid ");
        }
        out.push_str(&format!(
            "State  Recv-Q Send-Q {:>local_w$} {:>peer_w$} Process\n",
            "Local Address:Port", "Peer Address:Port"
        ));
    }
    for r in &rows {
        if both {
            out.push_str(&format!("{:<6}", r[0]));
        }
        let line = format!(
            "{:<6} {:<6} {:<6} {:>local_w$} {:>peer_w$} {}",
            r[1], r[2], r[3], r[4], r[5], r[6]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&model_note(scn));
    if !(o.listening || o.all) {
        out.push_str(
            "# the model holds listening sockets, not live connections: try -l (ss -ltn)\n",
        );
    }
    out.push_str(&why);
    Ok(out)
}
