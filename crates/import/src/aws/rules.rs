//! Security groups and network ACLs as filter rules.
//!
//! A security group is allow-only and stateful: the interface's input filter
//! is the union of its groups' inbound permissions (any allow allows), then a
//! `drop` that names the groups; the output filter the same with the
//! outbound permissions. Both are `stateful: true`, so an allowed
//! connection's replies pass whatever the rules say, as AWS tracks them.
//!
//! A network ACL is stateless and ordered: its entries by rule number, first
//! match decides, ending in the `*` rule that denies what no numbered rule
//! matched. It sits on the subnet's edge router (and on a NAT gateway, which
//! is inside its subnet), as one forward filter for both directions: an
//! outbound entry matches packets leaving towards the VPC's fabric
//! (`out vpc-X`), an inbound entry packets arriving from it (`in vpc-X`).

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::json::{AclEntry, Permission};
use crate::emit::{flow_list, quoted};

/// A transport protocol as the scenario language names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
}

impl Proto {
    fn word(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp | Proto::Icmpv6 => "icmp",
        }
    }
    pub fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Sctp)
    }
}

/// What an AWS protocol field means: every protocol, one the model has, or
/// one it cannot tell apart (GRE, ESP, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    All,
    One(Proto),
    Other,
}

/// `-1`, `tcp`, `6`, `icmpv6`, `58`, ...
pub fn protocol(s: &str) -> Protocol {
    match s.to_ascii_lowercase().as_str() {
        "-1" | "all" => Protocol::All,
        "tcp" | "6" => Protocol::One(Proto::Tcp),
        "udp" | "17" => Protocol::One(Proto::Udp),
        "sctp" | "132" => Protocol::One(Proto::Sctp),
        "icmp" | "1" => Protocol::One(Proto::Icmp),
        "icmpv6" | "58" => Protocol::One(Proto::Icmpv6),
        _ => Protocol::Other,
    }
}

/// Where a rule came from, as the scenario's `source:` writes it.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub line: u32,
    pub label: String,
    pub kind: Option<&'static str>,
}

impl Source {
    pub fn yaml(&self) -> String {
        let mut s = format!(
            "{{ file: {}, line: {}, label: {}",
            quoted(&self.file),
            self.line,
            quoted(&self.label)
        );
        if let Some(k) = self.kind {
            let _ = write!(s, ", kind: {k}");
        }
        s.push_str(" }");
        s
    }
}

/// One filter rule in the structured form.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub allow: bool,
    pub proto: Option<Proto>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub dport: Option<(u16, u16)>,
    pub in_net: Option<String>,
    pub out_net: Option<String>,
    pub source: Option<Source>,
}

impl Rule {
    pub fn yaml(&self) -> String {
        let mut s = format!("{{ action: {}", if self.allow { "allow" } else { "drop" });
        if let Some(p) = self.proto {
            let _ = write!(s, ", proto: {}", p.word());
        }
        if !self.from.is_empty() {
            let _ = write!(s, ", from: {}", flow_list(&self.from));
        }
        if !self.to.is_empty() {
            let _ = write!(s, ", to: {}", flow_list(&self.to));
        }
        if let Some((a, b)) = self.dport {
            let p = if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            };
            let _ = write!(s, ", dport: {}", quoted(&p));
        }
        if let Some(n) = &self.in_net {
            let _ = write!(s, ", in: {}", crate::emit::scalar(n));
        }
        if let Some(n) = &self.out_net {
            let _ = write!(s, ", out: {}", crate::emit::scalar(n));
        }
        if let Some(src) = &self.source {
            let _ = write!(s, ", source: {}", src.yaml());
        }
        s.push_str(" }");
        s
    }
}

/// A port range from AWS's `FromPort`/`ToPort` (absent or -1: every port).
pub fn ports(from: Option<i64>, to: Option<i64>) -> Result<Option<(u16, u16)>, String> {
    match (from, to) {
        (None, None) | (Some(-1), _) | (_, Some(-1)) => Ok(None),
        (Some(a), Some(b)) if (0..=65535).contains(&a) && (a..=65535).contains(&b) => {
            if a == 0 && b == 65535 {
                Ok(None)
            } else {
                Ok(Some((a as u16, b as u16)))
            }
        }
        (Some(a), None) | (None, Some(a)) if (0..=65535).contains(&a) => {
            Ok(Some((a as u16, a as u16)))
        }
        (a, b) => Err(format!(
            "the port range {}-{} is not a range of ports (0-65535, or -1 for all)",
            a.map(|x| x.to_string()).unwrap_or_default(),
            b.map(|x| x.to_string()).unwrap_or_default()
        )),
    }
}

/// The peers of a security group permission: prefixes and group members.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    /// Address terms (prefixes, host names, addresses).
    pub terms: Vec<String>,
    /// What the label says the peers are (`0.0.0.0/0, sg-1 (web)`).
    pub described: Vec<String>,
}

/// What an ICMP type/code pair of a security group permission or ACL entry
/// means for the model, whose ICMP is an echo request, its reply and the
/// errors that answer a connection: `Ok(true)` every ICMP packet (type -1, or
/// the echo request type, which is what a ping the model traces is), else
/// `Err` with why it is not modelled.
pub fn icmp_type(proto: Proto, icmp_type: Option<i64>) -> Result<(), String> {
    let echo = if proto == Proto::Icmpv6 { 128 } else { 8 };
    match icmp_type {
        None | Some(-1) => Ok(()),
        Some(t) if t == echo => Ok(()),
        Some(t) => Err(format!(
            "ICMP type {t} is not modelled (the model's ICMP is the echo request, type {echo}, its reply and errors)"
        )),
    }
}

/// A security group permission as a rule for one direction (`inbound`: the
/// peers are sources). `None` when it matches nothing the model has; the
/// reason is pushed to `skipped`.
#[allow(clippy::too_many_arguments)]
pub fn permission(
    p: &Permission,
    inbound: bool,
    peers: &Peers,
    local: &[String],
    source: Source,
    skipped: &mut Vec<String>,
) -> Option<Rule> {
    let (proto, dport) = match protocol(&p.ip_protocol) {
        Protocol::All => (None, None),
        Protocol::Other => {
            skipped.push(format!(
                "{}: protocol {} is not in the model (tcp, udp, sctp, icmp)",
                source.label, p.ip_protocol
            ));
            return None;
        }
        Protocol::One(pr) if pr.has_ports() => match ports(p.from_port, p.to_port) {
            Ok(r) => (Some(pr), r),
            Err(e) => {
                skipped.push(format!("{}: {e}", source.label));
                return None;
            }
        },
        Protocol::One(pr) => {
            if let Err(e) = icmp_type(pr, p.from_port) {
                skipped.push(format!("{}: {e}", source.label));
                return None;
            }
            (Some(pr), None)
        }
    };
    if peers.terms.is_empty() {
        return None;
    }
    let mut r = Rule {
        allow: true,
        proto,
        dport,
        source: Some(source),
        ..Default::default()
    };
    if inbound {
        r.from = peers.terms.clone();
        r.to = local.to_vec();
    } else {
        r.to = peers.terms.clone();
        r.from = local.to_vec();
    }
    Some(r)
}

/// Keeps only the prefixes of the family a protocol can carry (ICMP is IPv4
/// only, ICMPv6 IPv6 only).
pub fn family_ok(proto: Option<Proto>, net: &IpNet) -> bool {
    match proto {
        Some(Proto::Icmp) => matches!(net, IpNet::V4(_)),
        Some(Proto::Icmpv6) => matches!(net, IpNet::V6(_)),
        _ => true,
    }
}

pub fn family_ok_ip(proto: Option<Proto>, ip: &IpAddr) -> bool {
    match proto {
        Some(Proto::Icmp) => ip.is_ipv4(),
        Some(Proto::Icmpv6) => ip.is_ipv6(),
        _ => true,
    }
}

/// The protocol a permission stands for, for choosing the peers' family.
pub fn permission_proto(p: &Permission) -> Option<Proto> {
    match protocol(&p.ip_protocol) {
        Protocol::One(pr) => Some(pr),
        _ => None,
    }
}

/// A network ACL entry as a rule; `vpc_net` is the VPC's fabric network.
/// `None` (and a reason in `skipped`) when it matches nothing the model has.
pub fn acl_entry(
    e: &AclEntry,
    vpc_net: &str,
    source: Source,
    skipped: &mut Vec<String>,
) -> Result<Option<Rule>, String> {
    let allow = match e.rule_action.to_ascii_lowercase().as_str() {
        "allow" => true,
        "deny" => false,
        other => {
            return Err(format!(
                "`RuleAction` is `{other}`; a network ACL entry allows or denies"
            ))
        }
    };
    let net: IpNet = match (&e.cidr_block, &e.ipv6_cidr_block) {
        (Some(c), _) => c
            .parse()
            .map_err(|_| format!("`CidrBlock` `{c}` is not an IPv4 prefix"))?,
        (None, Some(c)) => c
            .parse()
            .map_err(|_| format!("`Ipv6CidrBlock` `{c}` is not an IPv6 prefix"))?,
        (None, None) => {
            return Err("the entry has neither `CidrBlock` nor `Ipv6CidrBlock`".into());
        }
    };
    let (proto, dport) = match protocol(&e.protocol) {
        Protocol::All => (None, None),
        Protocol::Other => {
            skipped.push(format!(
                "{}: protocol {} is not in the model (tcp, udp, sctp, icmp)",
                source.label, e.protocol
            ));
            return Ok(None);
        }
        Protocol::One(pr) if pr.has_ports() => {
            let r = match &e.port_range {
                Some(pr) => ports(pr.from, pr.to)?,
                None => None,
            };
            (Some(pr), r)
        }
        Protocol::One(pr) => {
            if let Err(why) = icmp_type(pr, e.icmp_type_code.as_ref().and_then(|c| c.r#type)) {
                skipped.push(format!("{}: {why}", source.label));
                return Ok(None);
            }
            (Some(pr), None)
        }
    };
    if !family_ok(proto, &net) {
        return Ok(None);
    }
    let peer = vec![net.trunc().to_string()];
    let mut r = Rule {
        allow,
        proto,
        dport,
        source: Some(source),
        ..Default::default()
    };
    if e.egress {
        r.to = peer;
        r.out_net = Some(vpc_net.to_string());
    } else {
        r.from = peer;
        r.in_net = Some(vpc_net.to_string());
    }
    Ok(Some(r))
}

/// The sockets an interface's inbound permissions name: single ports and
/// ranges of at most `MAX_RANGE` ports, of TCP, UDP and SCTP.
pub const MAX_RANGE: u32 = 16;

pub fn sockets(perms: &[&Permission], out: &mut BTreeSet<(Proto, u16)>) {
    for p in perms {
        if let Protocol::One(pr) = protocol(&p.ip_protocol) {
            if !pr.has_ports() {
                continue;
            }
            if let Ok(Some((a, b))) = ports(p.from_port, p.to_port) {
                if u32::from(b) - u32::from(a) < MAX_RANGE {
                    for port in a..=b {
                        out.insert((pr, port));
                    }
                }
            }
        }
    }
}

pub fn socket_line(p: Proto, port: u16) -> String {
    format!("{}/{port}", p.word())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_ports() {
        assert_eq!(protocol("-1"), Protocol::All);
        assert_eq!(protocol("6"), Protocol::One(Proto::Tcp));
        assert_eq!(protocol("ICMPv6"), Protocol::One(Proto::Icmpv6));
        assert_eq!(protocol("47"), Protocol::Other);
        assert_eq!(ports(Some(22), Some(22)), Ok(Some((22, 22))));
        assert_eq!(ports(Some(0), Some(65535)), Ok(None));
        assert_eq!(ports(Some(-1), Some(-1)), Ok(None));
        assert!(ports(Some(80), Some(70000)).is_err());
        assert!(icmp_type(Proto::Icmp, Some(8)).is_ok());
        assert!(icmp_type(Proto::Icmp, Some(3)).is_err());
        assert!(icmp_type(Proto::Icmpv6, Some(128)).is_ok());
    }

    #[test]
    fn acl_entry_directions() {
        let e = AclEntry {
            rule_number: 100,
            protocol: "6".into(),
            rule_action: "allow".into(),
            egress: true,
            cidr_block: Some("10.0.0.0/8".into()),
            port_range: Some(super::super::json::PortRange {
                from: Some(1024),
                to: Some(65535),
            }),
            ..Default::default()
        };
        let src = Source {
            file: "a.json".into(),
            line: 3,
            label: "x".into(),
            kind: Some("aws-network-acl"),
        };
        let r = acl_entry(&e, "vpc-1", src, &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(
            r.yaml(),
            "{ action: allow, proto: tcp, to: [10.0.0.0/8], dport: \"1024-65535\", out: vpc-1, source: { file: \"a.json\", line: 3, label: \"x\", kind: aws-network-acl } }"
        );
    }
}
