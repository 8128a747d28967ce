//! Filter rules and NAT rules after loading: a match plus what to do.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

use super::{AddrSet, HostId, NetworkId, Origin, PortSet, SourceRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    /// SCTP: ports and connections like TCP (an INIT opens one, a reply
    /// conntrack never saw the request of is invalid, a closed port
    /// answers with an ABORT, which the client reports as refused).
    Sctp,
}

impl Proto {
    pub fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Sctp)
    }
    /// A protocol whose connections open with a handshake (TCP, SCTP).
    pub fn handshake(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Sctp)
    }
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Sctp => "sctp",
        }
    }
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "icmp" | "icmpv6" | "ping" => Some(Proto::Icmp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Drop,
    Reject,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Drop => "drop",
            Action::Reject => "reject",
        }
    }
}

/// What a `reject` sends back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RejectWith {
    /// ICMP port unreachable (the netfilter default); a TCP client reports "connection refused".
    #[default]
    PortUnreachable,
    /// A TCP reset; the client reports "connection refused".
    TcpReset,
    /// ICMP administratively prohibited; the client reports "no route to host".
    AdminProhibited,
}

/// Conntrack states a rule may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct StateSet {
    pub new: bool,
    pub established: bool,
    pub related: bool,
    pub invalid: bool,
}

impl StateSet {
    /// Whether a packet in `state` matches.
    pub fn holds(&self, state: ConnState) -> bool {
        match state {
            ConnState::New => self.new,
            ConnState::Established => self.established,
            ConnState::Related => self.related,
            ConnState::Invalid => self.invalid,
        }
    }

    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        for (on, name) in [
            (self.new, "new"),
            (self.established, "established"),
            (self.related, "related"),
            (self.invalid, "invalid"),
        ] {
            if on {
                parts.push(name);
            }
        }
        parts.join(",")
    }
}

/// The part of a rule that selects packets. Empty fields match anything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Match {
    pub proto: Option<Proto>,
    pub src: AddrSet,
    pub dst: AddrSet,
    pub sport: PortSet,
    pub dport: PortSet,
    pub in_iface: Option<NetworkId>,
    pub out_iface: Option<NetworkId>,
    pub state: Option<StateSet>,
}

/// The facts about one packet that a match can look at.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput {
    pub proto: Proto,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub in_iface: Option<NetworkId>,
    pub out_iface: Option<NetworkId>,
    pub state: ConnState,
}

/// The conntrack state of a packet, as a stateful filter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    New,
    Established,
    Related,
    Invalid,
}

impl ConnState {
    pub fn name(self) -> &'static str {
        match self {
            ConnState::New => "new",
            ConnState::Established => "established",
            ConnState::Related => "related",
            ConnState::Invalid => "invalid",
        }
    }
}

impl Match {
    pub fn matches(&self, p: &MatchInput) -> bool {
        if let Some(proto) = self.proto {
            if proto != p.proto {
                return false;
            }
        }
        if !self.sport.is_any() && (!p.proto.has_ports() || !self.sport.contains(p.sport)) {
            return false;
        }
        if !self.dport.is_any() && (!p.proto.has_ports() || !self.dport.contains(p.dport)) {
            return false;
        }
        if self.in_iface.is_some() && self.in_iface != p.in_iface {
            return false;
        }
        if self.out_iface.is_some() && self.out_iface != p.out_iface {
            return false;
        }
        if let Some(states) = self.state {
            let hit = match p.state {
                ConnState::New => states.new,
                ConnState::Established => states.established,
                ConnState::Related => states.related,
                ConnState::Invalid => states.invalid,
            };
            if !hit {
                return false;
            }
        }
        self.src.contains(p.src) && self.dst.contains(p.dst)
    }

    /// Whether the source side of the match narrows anything.
    pub fn checks_source(&self) -> bool {
        !self.src.is_any() && !self.src.is_whole_family()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub action: Action,
    pub reject_with: RejectWith,
    pub matches: Match,
    /// The rule in its canonical one-line form (a rule set's rule: its line as written).
    pub text: String,
    pub origin: Origin,
    /// Where the rule really comes from: the line of a host's `ruleset:` it
    /// was flattened from, or the declaration an importer translated (a
    /// Kubernetes policy, an AWS security group).
    pub source: Option<RuleSource>,
}

/// The declaration in someone else's file that a rule was translated from:
/// the file and line, a label saying what it is, and what kind of control it
/// is (the trace's claims depend on the kind: see `journey::claims`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RuleSource {
    pub file: String,
    pub line: u32,
    /// `NetworkPolicy prod/allow-web, ingress rule 1`, `rule in chain INPUT`
    pub label: String,
    /// What kind of control it is, for an importer's rule (a rule set's
    /// rule is a packet filter rule like the scenario's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceKind>,
}

/// The kinds of control an importer translates into filter rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SourceKind {
    /// A Kubernetes NetworkPolicy (networking.k8s.io/v1).
    #[serde(rename = "k8s-networkpolicy")]
    K8sNetworkPolicy,
    /// A Kubernetes AdminNetworkPolicy, BaselineAdminNetworkPolicy or
    /// ClusterNetworkPolicy (policy.networking.k8s.io).
    #[serde(rename = "k8s-adminnetworkpolicy")]
    K8sAdminNetworkPolicy,
    /// An AWS security group rule.
    #[serde(rename = "aws-security-group")]
    AwsSecurityGroup,
    /// An AWS network ACL entry.
    #[serde(rename = "aws-network-acl")]
    AwsNetworkAcl,
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [
        SourceKind::K8sNetworkPolicy,
        SourceKind::K8sAdminNetworkPolicy,
        SourceKind::AwsSecurityGroup,
        SourceKind::AwsNetworkAcl,
    ];
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::K8sNetworkPolicy => "k8s-networkpolicy",
            SourceKind::K8sAdminNetworkPolicy => "k8s-adminnetworkpolicy",
            SourceKind::AwsSecurityGroup => "aws-security-group",
            SourceKind::AwsNetworkAcl => "aws-network-acl",
        }
    }
    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NatKind {
    /// Rewrite the destination (port forwarding).
    Dnat {
        to: IpAddr,
        port: Option<u16>,
        host: Option<HostId>,
    },
    /// Rewrite the source to a fixed address.
    Snat { to: IpAddr },
    /// Rewrite the source to the outgoing interface's address.
    Masquerade,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NatRule {
    pub kind: NatKind,
    pub matches: Match,
    pub text: String,
    pub origin: Origin,
    /// The rule set line it was flattened from, if any.
    pub source: Option<SourceRef>,
}
