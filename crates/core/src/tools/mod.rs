//! Familiar tools answered by the model: `nmap`, `ss`, `dig` and
//! `traceroute`, run "on" a host of a scenario (`pathproof tool nmap --from
//! web 10.0.2.0/24`). No packet is sent: each answer is computed by the
//! tracer (nmap, traceroute), the resolver stage (dig) or the model's
//! sockets (ss), printed in the tool's own format, and followed by `#`
//! lines that tie every line of the answer to the hops and declarations
//! that decided it.
//!
//! This is an adapter over the engine, like the command line: it writes no
//! semantics of its own. What the model does not know (round-trip times,
//! TTLs of DNS records, whether a UDP service answers a probe) is said in the
//! notes, never invented as if measured.

mod dig;
mod nmap;
mod ss;
mod traceroute;

use std::fmt;
use std::net::IpAddr;

use crate::evidence::{Direction, Hop, OutcomeKind, Stage, Trace, Verdict};
use crate::model::{Proto, Scenario};

/// The tools, by the name `pathproof tool NAME` takes.
pub const TOOLS: [&str; 4] = ["nmap", "ss", "dig", "traceroute"];

/// A question a tool cannot answer: a bad option, a name the scenario does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    pub message: String,
    pub help: Option<String>,
}

impl ToolError {
    fn new(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        ToolError {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ToolError {}

/// Runs `tool` with `args` (its own options, as the real tool takes them)
/// on the host (or `NETWORK@ADDRESS` sender) `from` of `scn`. The answer is
/// the tool's output followed by `#` lines saying what decided it.
pub fn run(scn: &Scenario, tool: &str, from: &str, args: &[String]) -> Result<String, ToolError> {
    match tool {
        "nmap" => nmap::run(scn, from, args),
        "ss" => ss::run(scn, from, args),
        "dig" => dig::run(scn, from, args),
        "traceroute" => traceroute::run(scn, from, args),
        other => {
            let help = crate::load::diagnostic::nearest(other, TOOLS.iter().copied())
                .map(|n| format!("did you mean `{n}`?"))
                .unwrap_or_else(|| format!("tools: {}", TOOLS.join(", ")));
            Err(ToolError::new(format!("no tool `{other}`"), help))
        }
    }
}

/// The host a tool runs on (a host name; a network's stand-in sender is
/// accepted by the tools that trace).
fn host_named<'s>(scn: &'s Scenario, from: &str) -> Result<&'s crate::model::Host, ToolError> {
    match scn.host_by_name(from) {
        Some(h) => Ok(scn.host(h)),
        None => {
            let names = scn.hosts.iter().map(|h| h.name.as_str());
            let help = crate::load::diagnostic::nearest(from, names)
                .map(|n| format!("did you mean `{n}`?"));
            Err(ToolError::new(
                format!("{} has no host `{from}`", scn.file),
                help,
            ))
        }
    }
}

/// Well-known service names, as nmap and ss print them.
fn service_name(proto: Proto, port: u16) -> Option<&'static str> {
    Some(match (proto, port) {
        (_, 21) => "ftp",
        (_, 22) => "ssh",
        (_, 23) => "telnet",
        (_, 25) => "smtp",
        (_, 53) => "domain",
        (_, 67) => "dhcps",
        (_, 80) => "http",
        (_, 110) => "pop3",
        (_, 123) => "ntp",
        (_, 135) => "msrpc",
        (_, 139) => "netbios-ssn",
        (_, 143) => "imap",
        (_, 161) => "snmp",
        (_, 443) => "https",
        (_, 445) => "microsoft-ds",
        (_, 853) => "domain-s",
        (_, 993) => "imaps",
        (_, 995) => "pop3s",
        (_, 1433) => "ms-sql-s",
        (_, 2049) => "nfs",
        (_, 3128) => "squid-http",
        (_, 3306) => "mysql",
        (_, 3389) => "ms-wbt-server",
        (_, 5432) => "postgresql",
        (_, 5900) => "vnc",
        (_, 6379) => "redis",
        (_, 8080) => "http-proxy",
        (_, 8443) => "https-alt",
        (_, 9100) => "jetdirect",
        (_, 9200) => "wap-wsp",
        (_, 27017) => "mongod",
        _ => return None,
    })
}

/// `file:line`, as reports cite a declaration.
fn at(scn: &Scenario, line: u32) -> String {
    format!("{}:{line}", scn.file)
}

/// The hop of a trace that decided its outcome.
fn deciding_hop(t: &Trace) -> Option<&Hop> {
    let step = t.outcome.step?;
    t.hops.iter().find(|h| h.step == step)
}

/// What decided a traced journey, in one line: for a journey that connects,
/// the filter rules that let its request through and the socket that took
/// it; otherwise the hop that stopped it, with its rule and line.
fn decided_by(scn: &Scenario, t: &Trace) -> String {
    let rule_of = |h: &Hop| -> String {
        match &h.rule {
            Some(r) => {
                let owner = r.owner.as_deref().unwrap_or("");
                let what = match (r.kind.as_str(), r.index) {
                    ("filter rule", Some(i)) => format!("{owner} rule {i}"),
                    ("default policy", _) => format!("{owner} default policy"),
                    ("implicit", _) => format!("{owner} (stateful)"),
                    (kind, _) => kind.to_string(),
                };
                format!("{what} `{}` ({})", r.text, at(scn, r.line))
            }
            None => h.detail.clone(),
        }
    };
    if matches!(
        t.outcome.kind,
        OutcomeKind::Reached
            | OutcomeKind::TlsFailed
            | OutcomeKind::ProxyDenied
            | OutcomeKind::ProxyLoop
    ) {
        let mut parts: Vec<String> = t
            .hops
            .iter()
            .filter(|h| {
                h.direction == Direction::Request
                    && ((h.stage == Stage::Filter && h.verdict == Verdict::Allow)
                        || (h.stage == Stage::Socket && h.verdict == Verdict::Accept)
                        || h.stage == Stage::Dnat)
            })
            .map(|h| format!("{}: {}", h.device, rule_of(h)))
            .collect();
        if parts.is_empty() {
            parts.push("no filter on the way".into());
        }
        return parts.join("; ");
    }
    match deciding_hop(t) {
        Some(h) => format!(
            "{} at {} ({}): {}",
            t.outcome.kind.name(),
            h.device,
            stage_key(h.stage),
            rule_of(h)
        ),
        None => format!("{}: {}", t.outcome.kind.name(), t.outcome.text),
    }
}

fn stage_key(s: Stage) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(x)) => x,
        _ => format!("{s:?}"),
    }
}

/// How a scanner sees the answer to its probe: a TCP reset, an ICMP error,
/// or silence. Read from the last hop the client receives, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Reset,
    PortUnreachable,
    Prohibited,
    OtherIcmp,
    Silence,
}

fn answer_of(t: &Trace) -> Answer {
    let Some(h) = t
        .hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Receive && h.verdict == Verdict::Pass)
    else {
        return Answer::Silence;
    };
    let d = h.detail.to_lowercase();
    if d.contains("reset") {
        Answer::Reset
    } else if d.contains("port unreachable") {
        Answer::PortUnreachable
    } else if d.contains("prohibited") || d.contains("administratively") {
        Answer::Prohibited
    } else {
        Answer::OtherIcmp
    }
}

/// The addresses a target names: a host (its addresses of the family), an
/// address, a prefix (every address in it, for the report's count; only
/// those some host owns are probed), or a DNS name resolved in the view of
/// the host the tool runs on.
fn targets(
    scn: &Scenario,
    from: &str,
    target: &str,
    v6: bool,
) -> Result<(Vec<IpAddr>, u128), ToolError> {
    if let Ok(net) = target.parse::<ipnet::IpNet>() {
        let mut found: Vec<IpAddr> = scn
            .hosts
            .iter()
            .flat_map(|h| h.interfaces.iter().flat_map(|i| i.addrs.iter().copied()))
            .filter(|a| net.contains(a))
            .collect();
        found.sort();
        found.dedup();
        let bits = match net {
            ipnet::IpNet::V4(_) => 32 - net.prefix_len() as u32,
            ipnet::IpNet::V6(_) => 128 - net.prefix_len() as u32,
        };
        let count = if bits >= 127 {
            u128::MAX
        } else {
            1u128 << bits
        };
        return Ok((found, count));
    }
    if let Ok(a) = target.parse::<IpAddr>() {
        return Ok((vec![a], 1));
    }
    if let Some(h) = scn.host_by_name(target) {
        let h = scn.host(h);
        let a = h.first_addr(v6).or_else(|| h.first_addr(!v6));
        return match a {
            Some(a) => Ok((vec![a], 1)),
            None => Err(ToolError::new(format!("{target} has no address"), None)),
        };
    }
    // A DNS name, as the host the tool runs on resolves it.
    let view = scn
        .host_by_name(from)
        .and_then(|h| scn.host(h).dns)
        .map(|v| scn.view(v));
    if let Some(view) = view {
        if let crate::journey::resolve::Resolution::Found { addrs, .. } =
            crate::journey::resolve::resolve(view, target, v6)
        {
            return Ok((vec![addrs[0]], 1));
        }
    }
    let names = scn.hosts.iter().map(|h| h.name.as_str());
    let help = crate::load::diagnostic::nearest(target, names)
        .map(|n| format!("did you mean `{n}`?"))
        .unwrap_or_else(|| "give a host, an address, a prefix or a name the host resolves".into());
    Err(ToolError::new(
        format!("Failed to resolve \"{target}\"."),
        help,
    ))
}

/// `[::1]` for IPv6, as tools print an address beside a port.
fn bracket(a: IpAddr) -> String {
    if a.is_ipv6() {
        format!("[{a}]")
    } else {
        a.to_string()
    }
}

/// The host that owns an address, for the `name (address)` of reports.
fn owner_name(scn: &Scenario, a: IpAddr) -> Option<&str> {
    scn.owners_of(a)
        .first()
        .map(|(h, _)| scn.host(*h).name.as_str())
}

/// The note every answer ends with: where it comes from.
fn model_note(scn: &Scenario) -> String {
    let v = scn
        .variant
        .as_deref()
        .map(|v| format!(" under the variant `{v}`"))
        .unwrap_or_default();
    format!(
        "# answered by pathproof from the model of {}{v}: no packet was sent\n",
        scn.file
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mini() -> Scenario {
        let e = crate::examples::get("mini-lab").unwrap();
        crate::load(&e.file(), e.text, None).unwrap()
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn an_unknown_tool_gets_the_nearest_name() {
        let e = run(&mini(), "nmpa", "web", &[]).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `nmap`?"));
    }

    #[test]
    fn nmap_from_web_over_the_app_network() {
        let out = run(&mini(), "nmap", "web", &args("10.0.2.0/24")).unwrap();
        assert!(
            out.contains("Nmap scan report for api (10.0.2.10)"),
            "{out}"
        );
        assert!(out.contains("8080/tcp open"), "{out}");
        assert!(
            out.contains("Not shown: 25 filtered tcp ports (no-response)"),
            "{out}"
        );
        // edge's own address on the app network answers with resets.
        assert!(
            out.contains("Nmap scan report for edge (10.0.2.1)"),
            "{out}"
        );
        assert!(
            out.contains("Nmap done: 256 IP addresses (2 hosts up) scanned"),
            "{out}"
        );
        // Every shown port is traced back to what decided it.
        assert!(out.contains("edge-fw rule 2"), "{out}");
        assert!(out.contains("mini-lab.yaml:"), "{out}");
    }

    #[test]
    fn nmap_sees_closed_filtered_and_open() {
        let out = run(
            &mini(),
            "nmap",
            "client",
            &args("-Pn -p 22,443 198.51.100.1"),
        )
        .unwrap();
        // 443 is forwarded to web's https; 22 is edge's own, and nothing listens.
        assert!(out.contains("443/tcp open"), "{out}");
        assert!(out.contains("22/tcp  closed"), "{out}");
    }

    #[test]
    fn ss_lists_the_listening_sockets() {
        let out = run(&mini(), "ss", "api", &args("-ltn")).unwrap();
        assert!(out.starts_with("State"), "{out}");
        assert!(out.contains("LISTEN"), "{out}");
        assert!(out.contains("0.0.0.0:8080"), "{out}");
        assert!(out.contains("mini-lab.yaml:"), "{out}");
    }

    #[test]
    fn dig_answers_from_the_view_the_host_asks() {
        let out = run(&mini(), "dig", "client", &args("www.example.com")).unwrap();
        assert!(out.contains(";; ANSWER SECTION:"), "{out}");
        assert!(
            out.contains("www.example.com.\t300\tIN\tA\t198.51.100.1"),
            "{out}"
        );
        let short = run(&mini(), "dig", "client", &args("+short www.example.com")).unwrap();
        assert!(short.starts_with("198.51.100.1\n"), "{short}");
        let nx = run(&mini(), "dig", "client", &args("api.internal")).unwrap();
        assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    }

    #[test]
    fn traceroute_lists_the_routers_and_where_the_probe_stops() {
        let out = run(
            &mini(),
            "traceroute",
            "client",
            &args("-T -p 443 www.example.com"),
        )
        .unwrap();
        assert!(
            out.starts_with("traceroute to www.example.com (198.51.100.1), 30 hops max"),
            "{out}"
        );
        assert!(out.contains(" 1  edge (198.51.100.1)"), "{out}");
        let stopped = run(&mini(), "traceroute", "web", &args("-m 4 -T -p 5432 db")).unwrap();
        // edge rejects with ICMP port unreachable: traceroute stops at edge, unmarked.
        assert!(stopped.contains(" 2  edge (10.0.1.1)\n"), "{stopped}");
        assert!(stopped.contains("# 2: edge rejects the probe"), "{stopped}");
    }
}
