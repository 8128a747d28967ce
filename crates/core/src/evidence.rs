//! Evidence: the value a trace produces. Every hop says what it saw, which
//! rule decided, and what that decision proves versus takes on trust. The
//! text, JSON and Mermaid renderings, the web page and the lab all read this
//! value; none of them recomputes a verdict.

use serde::Serialize;
use std::net::IpAddr;

use crate::model::{Proto, RuleSource};

/// The version of the JSON shape below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One traced journey.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trace {
    pub schema: u32,
    pub scenario: String,
    /// The file the scenario came from; rule locations are lines of this file.
    pub file: String,
    pub variant: Option<String>,
    pub query: QueryEcho,
    pub hops: Vec<Hop>,
    pub outcome: Outcome,
    pub summary: Summary,
}

/// The question, as understood after names were looked up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryEcho {
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub port: Option<u16>,
    pub via: Option<String>,
    /// The source host, or `NETWORK@ADDRESS` for a sender that only stands for a network.
    pub source: String,
    /// The address the first request left with (chosen by route); null if nothing was sent.
    pub source_address: Option<IpAddr>,
    /// The address the client connects to (after DNS, before any NAT).
    pub destination_address: Option<IpAddr>,
    /// The question was about a packet of a connection opened earlier
    /// (`--established`); absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub established: bool,
}

/// Which part of the journey a hop belongs to.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The request from the client (or from a proxy, on a second leg).
    Request,
    /// The reply travelling back.
    Reply,
}

/// The stage a hop records, in the order docs/semantics.md gives.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Resolve,
    Send,
    Conntrack,
    Dnat,
    Martian,
    ReversePath,
    Route,
    Filter,
    Snat,
    Link,
    Socket,
    Tls,
    Proxy,
    Receive,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Send => "send",
            Stage::Conntrack => "conntrack",
            Stage::Dnat => "dnat",
            Stage::Martian => "martian",
            Stage::ReversePath => "reverse_path",
            Stage::Route => "route",
            Stage::Filter => "filter",
            Stage::Snat => "snat",
            Stage::Link => "link",
            Stage::Socket => "socket",
            Stage::Tls => "tls",
            Stage::Proxy => "proxy",
            Stage::Receive => "receive",
        }
    }
}

/// What a hop decided.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The packet goes on unchanged.
    Pass,
    /// The packet goes on, rewritten.
    Rewrite,
    /// A filter let it through.
    Allow,
    /// Discarded without an answer.
    Drop,
    /// Discarded with an answer (ICMP or TCP reset).
    Reject,
    /// Accepted by a socket, a TLS handshake or a proxy.
    Accept,
    /// Refused: no socket, a failed handshake, a proxy that says no.
    Refuse,
}

/// The packet as a stage saw it (after any rewrite so far).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PacketView {
    pub proto: Proto,
    pub src: IpAddr,
    pub sport: Option<u16>,
    pub dst: IpAddr,
    pub dport: Option<u16>,
    pub ttl: u8,
}

/// The declaration that decided a hop, and where it is written.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleRef {
    /// `filter rule`, `default policy`, `implicit` (a stateful filter's
    /// established/related acceptance), `route`, `connected route`,
    /// `network gateway`, `nat rule`, `socket`, `dns record`, `proxy allow`.
    pub kind: String,
    /// The filter, view or proxy the rule belongs to, if any.
    pub owner: Option<String>,
    /// The 1-based position within the owner (rule 3 of edge-fw).
    pub index: Option<usize>,
    pub text: String,
    /// The line of the declaration; for an implicit rule, of what implies it
    /// (the filter, the host, the network).
    pub line: u32,
    pub column: u32,
    /// The line of another file the rule comes from: a host's `ruleset:`
    /// (then `line` is the scenario's `ruleset:` key), or the declaration an
    /// importer translated (a Kubernetes policy rule, an AWS security group
    /// rule); absent for rules written in the scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<RuleSource>,
}

/// What a claim is about. The web page and the lessons key their wording on it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// Which address the packet came from.
    SourceAddress,
    /// Where the packet is going.
    Destination,
    /// Protocol and port.
    Service,
    /// That the packet belongs to a connection already allowed.
    Connection,
    /// That a name maps to an address.
    NameMapping,
    /// That the next hop is who it claims to be.
    NextHop,
    /// That the server is who the client meant.
    ServerIdentity,
    /// That the client is who it says it is.
    ClientIdentity,
    /// The original client's address, carried as a header.
    ClientAddress,
    /// That nobody read or changed the bytes on the way.
    Confidentiality,
    /// What the request asks for (the payload).
    Content,
}

/// One statement of evidence.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    pub fact: Fact,
    pub text: String,
}

impl Claim {
    pub fn new(fact: Fact, text: impl Into<String>) -> Self {
        Claim {
            fact,
            text: text.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hop {
    pub step: u32,
    pub direction: Direction,
    /// The device (host name) where this happens.
    pub device: String,
    pub stage: Stage,
    /// The interface involved (a network name): incoming for receive stages, outgoing otherwise.
    pub interface: Option<String>,
    pub packet: PacketView,
    pub verdict: Verdict,
    pub rule: Option<RuleRef>,
    /// One sentence: what happened here.
    pub detail: String,
    /// State this hop created or used (a conntrack entry, a NAT mapping).
    pub state: Option<String>,
    pub proves: Vec<Claim>,
    pub trusts: Vec<Claim>,
    /// What this hop hides from everyone after it.
    pub hides: Vec<Claim>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Reached,
    Refused,
    Dropped,
    Rejected,
    NoRoute,
    Unresolved,
    TlsFailed,
    ProxyDenied,
    /// The request went round a loop of reverse proxies (508 Loop Detected).
    ProxyLoop,
    TtlExceeded,
    ReplyLost,
}

impl OutcomeKind {
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Reached => "reached",
            OutcomeKind::Refused => "refused",
            OutcomeKind::Dropped => "dropped",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::NoRoute => "no route",
            OutcomeKind::Unresolved => "unresolved",
            OutcomeKind::TlsFailed => "tls failed",
            OutcomeKind::ProxyDenied => "proxy denied",
            OutcomeKind::ProxyLoop => "proxy loop",
            OutcomeKind::TtlExceeded => "ttl exceeded",
            OutcomeKind::ReplyLost => "reply lost",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// The device where the journey ended.
    pub at: Option<String>,
    /// The step of the hop that decided.
    pub step: Option<u32>,
    /// What happened, in one sentence.
    pub text: String,
    /// What the client program reports (`connection timed out`, `connection refused`…).
    pub client_sees: String,
}

/// What the service at the end can believe about the request, and what it must take on trust.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Summary {
    pub believes: Vec<Claim>,
    pub trusts: Vec<Claim>,
}
