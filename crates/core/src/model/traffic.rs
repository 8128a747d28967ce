//! The `traffic:` section after loading: what flows over the network in
//! time, and the kernel, link and limiter settings that decide what happens
//! to it. The loader checks every name and number; the simulator
//! (crate `pathproof-sim`) runs it. Nothing here knows about time steps or
//! queues: these are the scenario's declarations, with their lines.
//!
//! Times are microseconds, rates are per second, sizes are bytes.

use ipnet::IpNet;
use serde::Serialize;

use super::{HostId, NetworkId, Origin, Place};

/// One microsecond, the unit of every duration below.
pub const MICROS: u64 = 1_000_000;

/// The whole section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traffic {
    /// How long a run lasts unless `--seconds` says otherwise.
    pub seconds: u32,
    /// The seed unless `--seed` says otherwise.
    pub seed: u64,
    /// Kernel settings per host; a host not listed has Linux's defaults.
    pub hosts: Vec<HostTuning>,
    pub listeners: Vec<ListenerSpec>,
    pub links: Vec<LinkSpec>,
    pub limiters: Vec<LimiterSpec>,
    pub flows: Vec<FlowSpec>,
    pub origin: Origin,
}

impl Traffic {
    /// The kernel settings of a host: its own, or the defaults.
    pub fn tuning(&self, host: HostId) -> HostTuning {
        self.hosts
            .iter()
            .find(|t| t.host == host)
            .cloned()
            .unwrap_or_else(|| HostTuning::defaults(host))
    }
    pub fn flow(&self, name: &str) -> Option<&FlowSpec> {
        self.flows.iter().find(|f| f.name == name)
    }
}

/// Per-namespace sysctls of one host, named as Linux names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostTuning {
    pub host: HostId,
    /// `net.core.somaxconn`: the cap on every listen() backlog.
    pub somaxconn: u32,
    /// `net.ipv4.tcp_max_syn_backlog`: with cookies off, the last quarter
    /// of it is kept for peers the host has talked to before.
    pub tcp_max_syn_backlog: u32,
    /// `net.ipv4.tcp_syncookies`: 0 never, 1 when the SYN queue is full, 2 always.
    pub tcp_syncookies: u8,
    /// `net.ipv4.tcp_synack_retries`.
    pub tcp_synack_retries: u8,
    /// `net.ipv4.tcp_syn_retries`: how often a client on this host resends its SYN.
    pub tcp_syn_retries: u8,
    /// `net.ipv4.tcp_no_metrics_save`: 1 keeps no metrics of closed
    /// connections, so no peer is ever proven.
    pub tcp_no_metrics_save: bool,
    /// `net.netfilter.nf_conntrack_max`.
    pub conntrack_max: u32,
    /// `net.netfilter.nf_conntrack_buckets`.
    pub conntrack_buckets: u32,
    /// `net.netfilter.nf_conntrack_*_timeout*`, in seconds.
    pub conntrack_timeouts: ConntrackTimeouts,
    pub origin: Option<Origin>,
}

impl HostTuning {
    /// Linux 6.18's defaults (the figures that depend on memory are those of
    /// a machine with 8 GB or more).
    pub fn defaults(host: HostId) -> Self {
        HostTuning {
            host,
            somaxconn: 4096,
            tcp_max_syn_backlog: 2048,
            tcp_syncookies: 1,
            tcp_synack_retries: 5,
            tcp_syn_retries: 6,
            tcp_no_metrics_save: false,
            conntrack_max: 262_144,
            conntrack_buckets: 262_144,
            conntrack_timeouts: ConntrackTimeouts::default(),
            origin: None,
        }
    }
}

/// Conntrack timeouts per protocol state, in seconds (Linux's sysctl names
/// without the `nf_conntrack_` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConntrackTimeouts {
    pub tcp_timeout_syn_sent: u32,
    pub tcp_timeout_syn_recv: u32,
    pub tcp_timeout_established: u32,
    pub tcp_timeout_time_wait: u32,
    pub tcp_timeout_close: u32,
    pub udp_timeout: u32,
    pub udp_timeout_stream: u32,
}

impl Default for ConntrackTimeouts {
    fn default() -> Self {
        ConntrackTimeouts {
            tcp_timeout_syn_sent: 120,
            tcp_timeout_syn_recv: 60,
            tcp_timeout_established: 432_000,
            tcp_timeout_time_wait: 120,
            tcp_timeout_close: 10,
            udp_timeout: 30,
            udp_timeout_stream: 120,
        }
    }
}

/// The names `traffic: hosts:` accepts for timeouts, with a setter each.
pub const CONNTRACK_TIMEOUT_KEYS: [&str; 7] = [
    "tcp_timeout_syn_sent",
    "tcp_timeout_syn_recv",
    "tcp_timeout_established",
    "tcp_timeout_time_wait",
    "tcp_timeout_close",
    "udp_timeout",
    "udp_timeout_stream",
];

impl ConntrackTimeouts {
    pub fn set(&mut self, key: &str, seconds: u32) -> bool {
        let slot = match key {
            "tcp_timeout_syn_sent" => &mut self.tcp_timeout_syn_sent,
            "tcp_timeout_syn_recv" => &mut self.tcp_timeout_syn_recv,
            "tcp_timeout_established" => &mut self.tcp_timeout_established,
            "tcp_timeout_time_wait" => &mut self.tcp_timeout_time_wait,
            "tcp_timeout_close" => &mut self.tcp_timeout_close,
            "udp_timeout" => &mut self.udp_timeout,
            "udp_timeout_stream" => &mut self.udp_timeout_stream,
            _ => return false,
        };
        *slot = seconds;
        true
    }
}

/// The application behind one listening TCP socket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenerSpec {
    pub host: HostId,
    pub port: u16,
    /// The backlog the application passes to listen() (capped by somaxconn).
    pub backlog: u32,
    /// How many connections per second the application accepts; none: as
    /// fast as they come.
    pub accept_rate: Option<f64>,
    /// How long the application takes to answer one request.
    pub service_us: u64,
    pub origin: Origin,
}

/// The default listen() backlog: nginx's (`listen ... backlog=511`).
pub const DEFAULT_BACKLOG: u32 = 511;

/// One host's link on one network, with a capacity in each direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkSpec {
    pub host: HostId,
    pub network: NetworkId,
    /// Bits per second, each way.
    pub capacity_bps: f64,
    /// Packets the interface's queue holds before it drops (txqueuelen).
    pub queue_packets: u32,
    pub text: String,
    pub origin: Origin,
}

/// Where a limiter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LimiterPlace {
    /// On a host's packet path (a firewall): the first packet of every new
    /// connection or datagram flow that passes the host.
    Host { host: HostId },
    /// In the application behind a socket (or a reverse proxy's socket):
    /// every request.
    Socket { host: HostId, port: u16 },
}

impl LimiterPlace {
    pub fn host(&self) -> HostId {
        match self {
            LimiterPlace::Host { host } | LimiterPlace::Socket { host, .. } => *host,
        }
    }
}

/// What a limiter keeps one count per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// One count for everything (nftables `limit`).
    Global,
    /// The source address as the limiter sees it.
    Source,
    /// The account named in the request (a login's user name).
    Account,
    /// Both: one count per (source, account).
    SourceAccount,
}

impl LimitKey {
    pub fn name(self) -> &'static str {
        match self {
            LimitKey::Global => "global",
            LimitKey::Source => "source",
            LimitKey::Account => "account",
            LimitKey::SourceAccount => "source+account",
        }
    }
}

/// A rate-limiting algorithm with the parameters its published definition
/// uses. See docs/semantics.md for each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "algorithm", rename_all = "kebab-case")]
pub enum Algorithm {
    /// At most `limit` requests in each window [k·W, (k+1)·W).
    FixedWindow { limit: u32, window_us: u64 },
    /// At most `limit` allowed requests in the last W (a log of times).
    SlidingWindowLog { limit: u32, window_us: u64 },
    /// Cloudflare's estimate: the previous window's count weighted by the
    /// part of it still inside the last W, plus the current window's.
    SlidingWindowCounter { limit: u32, window_us: u64 },
    /// Envoy's local rate limit: a bucket of `max_tokens`, refilled with
    /// `tokens_per_fill` every `fill_interval`.
    TokenBucket {
        max_tokens: u32,
        tokens_per_fill: u32,
        fill_interval_us: u64,
    },
    /// nginx `limit_req`: a leaky bucket of `rate` requests per second with
    /// room for `burst` excess requests; without `nodelay` the excess waits
    /// (beyond `delay` of them), with it they are served at once.
    LeakyBucket {
        /// Requests per second × 1000, as nginx stores it.
        rate_milli: u64,
        burst: u32,
        /// Excess requests served without delay (`delay=N`; `nodelay` is all of them).
        delay: u32,
        nodelay: bool,
    },
    /// nftables `limit rate N/unit burst B packets` (one bucket).
    NftLimit { rate: u64, unit_s: u64, burst: u32 },
    /// nftables `meter` with a `limit`: one such bucket per key.
    NftMeter { rate: u64, unit_s: u64, burst: u32 },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::FixedWindow { .. } => "fixed-window",
            Algorithm::SlidingWindowLog { .. } => "sliding-window-log",
            Algorithm::SlidingWindowCounter { .. } => "sliding-window-counter",
            Algorithm::TokenBucket { .. } => "token-bucket",
            Algorithm::LeakyBucket { .. } => "leaky-bucket",
            Algorithm::NftLimit { .. } => "nft-limit",
            Algorithm::NftMeter { .. } => "nft-meter",
        }
    }
}

/// What a limiter does with a request over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAnswer {
    /// The packet is dropped (a firewall's limit).
    Drop,
    /// The application answers with this HTTP status.
    Status(u16),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimiterSpec {
    pub name: String,
    pub place: LimiterPlace,
    pub algorithm: Algorithm,
    pub key: LimitKey,
    pub answer: LimitAnswer,
    pub origin: Origin,
}

/// What a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    /// Legitimate clients: each attempt is a TCP connection and one request.
    Clients,
    /// SYNs that never complete the handshake.
    SynFlood,
    /// Attackers that complete handshakes and send requests.
    HttpFlood,
    /// Login attempts with guessed passwords.
    CredentialStuffing,
    /// UDP datagrams at the target.
    UdpFlood,
    /// Small requests to a UDP service (a resolver) with the victim's
    /// address as source: its bigger answers go to the victim.
    UdpReflection,
}

pub const FLOW_KINDS: [(&str, FlowKind); 6] = [
    ("clients", FlowKind::Clients),
    ("syn-flood", FlowKind::SynFlood),
    ("http-flood", FlowKind::HttpFlood),
    ("credential-stuffing", FlowKind::CredentialStuffing),
    ("udp-flood", FlowKind::UdpFlood),
    ("udp-reflection", FlowKind::UdpReflection),
];

impl FlowKind {
    pub fn name(self) -> &'static str {
        FLOW_KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("clients")
    }
    /// Whether the flow is legitimate (its success is what defences protect).
    pub fn legitimate(self) -> bool {
        matches!(self, FlowKind::Clients)
    }
    /// Whether each attempt is a TCP connection that completes its handshake.
    pub fn completes_handshake(self) -> bool {
        matches!(
            self,
            FlowKind::Clients | FlowKind::HttpFlood | FlowKind::CredentialStuffing
        )
    }
    pub fn is_udp(self) -> bool {
        matches!(self, FlowKind::UdpFlood | FlowKind::UdpReflection)
    }
}

/// When a flow's attempts start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
pub enum Pattern {
    /// Evenly spaced.
    Constant,
    /// Independent arrivals (exponential gaps), drawn from the seed.
    Poisson,
    /// On for `length` every `every`, at the flow's rate; silent between.
    Bursts { every_us: u64, length_us: u64 },
}

/// Where a flow's packets say they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sources {
    /// This many real addresses (for a host: its one address).
    Real { count: u32 },
    /// Forged addresses drawn at random from these prefixes (empty: every
    /// address of the `from` network no host owns).
    Spoofed { pool: Vec<IpNet> },
}

/// The accounts a flow's requests name (for limiters keyed by account).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Accounts {
    None,
    /// These names, taken in turn.
    Names(Vec<String>),
    /// `user1` … `userN`, taken in turn.
    Count(u32),
}

impl Accounts {
    /// The account of attempt `i`, if the flow names accounts.
    pub fn nth(&self, i: u64) -> Option<String> {
        match self {
            Accounts::None => None,
            Accounts::Names(v) if v.is_empty() => None,
            Accounts::Names(v) => Some(v[(i % v.len() as u64) as usize].clone()),
            Accounts::Count(0) => None,
            Accounts::Count(n) => Some(format!("user{}", i % *n as u64 + 1)),
        }
    }
    pub fn count(&self) -> u64 {
        match self {
            Accounts::None => 0,
            Accounts::Names(v) => v.len() as u64,
            Accounts::Count(n) => *n as u64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSpec {
    pub name: String,
    pub kind: FlowKind,
    /// Where the senders are, as `trace --from` takes it (a host or a network).
    pub from: String,
    pub from_place: Place,
    /// The target, as `trace --to` takes it (`web:443`, `198.51.100.1:80`).
    /// For a reflection: the victim whose address the requests carry.
    pub to: String,
    /// A reflection's reflector: the UDP service the requests go to.
    pub via: Option<String>,
    /// Attempts (connections, requests, datagrams) per second.
    pub rate: f64,
    pub pattern: Pattern,
    pub sources: Sources,
    pub accounts: Accounts,
    pub start_us: u64,
    pub stop_us: Option<u64>,
    /// How long a client waits for an answer before it gives up.
    pub timeout_us: u64,
    /// The round trip between the senders and the target, without queues.
    pub rtt_us: u64,
    /// Bytes of one request (a datagram, or the data after the handshake).
    pub size: u32,
    /// Bytes of one answer (for a reflection: the reflector's answer).
    pub answer_size: u32,
    pub origin: Origin,
}
