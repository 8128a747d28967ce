//! Seeded scenario generator, for benchmarks and randomised tests.
//!
//! Everything here is a pure function of its parameters: the same seed gives
//! byte-identical text on every machine (the generator carries its own
//! splitmix64 PRNG and never iterates a hash map). It produces scenario
//! **YAML text**, not a `Scenario`, so that whoever measures loading measures
//! the real loader, and every generated file can be written out and read back
//! with the CLI.
//!
//! Two shapes:
//!
//! * [`large`] / [`generate`]: an enterprise-sized network built from
//!   [`SynthParams`] (by default 2,000 hosts, 200 networks, 20,000 filter
//!   rules; [`SynthParams::scaled`] gives 2×, 4×, 8× of that). A core router
//!   faces a catch-all `internet` network and a `backbone`; distribution
//!   routers hang off the backbone, each the `gateway:` of its share of the
//!   segments. The routers' stateful filters hold most of the rules (networks,
//!   hosts, prefixes, port ranges, interfaces, states; allow, drop and reject;
//!   a default), some segments have host input filters or stateless output
//!   ACLs, the core does a DNAT port-forward and masquerades outbound traffic,
//!   DNS has split `public`/`internal` views with A, AAAA and CNAME records
//!   (and a dangling CNAME), and there are `expect:` lines and a `break` and a
//!   `harden` variant. [`generate`] also returns [`Probe`]s: representative
//!   queries whose outcome the generator guarantees by construction (no
//!   generated "noise" rule mentions their hosts or segments).
//! * [`small`]: a random little network (2–4 networks, 3–8 hosts, random
//!   routes, stateful and stateless filters of 5–30 rules, SNAT/DNAT and
//!   masquerade, IPv4 and IPv6, sockets on random ports and bound addresses,
//!   a `break` and a `harden` variant) for property-style tests.
//!
//! Every generated scenario loads without problems, with and without each of
//! its variants (`crates/core/tests/synth.rs` checks this).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::evidence::OutcomeKind;
use crate::journey::Query;
use crate::model::{Action, ExpectKind, Expectation, Place, Proto, Rule, Scenario};

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (no rejection loop).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index chosen with the given weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// A scalar as a double-quoted YAML string (the generated text never needs
/// YAML's plain-scalar rules, whatever a rule contains).
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Large scenarios
// ---------------------------------------------------------------------------

/// The size and seed of a large scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthParams {
    pub seed: u64,
    /// Networks in all, counting the `internet` catch-all and the `backbone`
    /// (at least 3).
    pub networks: usize,
    /// Hosts in all, counting routers and the hosts on the internet.
    pub hosts: usize,
    /// Filter rules in all (router filters and host filters), before variants.
    /// The routers' policy tails are part of the count; when `rules` is
    /// smaller than they are, only the tails are written.
    pub rules: usize,
    /// Dual-stack segments (IPv6 addresses, AAAA records, IPv6 rules).
    pub ipv6: bool,
    /// Distribution routers; 0 picks one per 20 segments.
    pub routers: usize,
}

impl Default for SynthParams {
    /// The size the journey-engine issue names: 2,000 hosts, 200 networks,
    /// 20,000 rules, dual stack.
    fn default() -> Self {
        SynthParams {
            seed: 1,
            networks: 200,
            hosts: 2_000,
            rules: 20_000,
            ipv6: true,
            routers: 0,
        }
    }
}

impl SynthParams {
    /// The default's shape at another size: ten hosts per network and ten
    /// rules per host, as the bench's scenarios.
    pub fn sized(seed: u64, hosts: usize) -> Self {
        SynthParams {
            seed,
            hosts,
            networks: (hosts / 10).max(4),
            rules: hosts * 10,
            ..SynthParams::default()
        }
    }

    /// The default size with another seed.
    pub fn with_seed(seed: u64) -> Self {
        SynthParams {
            seed,
            ..SynthParams::default()
        }
    }

    /// `factor` times the networks, hosts and rules (1×, 2×, 4×, 8× …).
    pub fn scaled(&self, factor: usize) -> Self {
        SynthParams {
            networks: self.networks * factor,
            hosts: self.hosts * factor,
            rules: self.rules * factor,
            routers: self.routers * factor,
            ..self.clone()
        }
    }
}

/// A representative question about a generated scenario, with the outcome
/// the generator built it to have.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// A short label: `same-network`, `across-routers`, …
    pub label: &'static str,
    pub from: String,
    /// `PLACE:PORT`.
    pub to: String,
    pub proto: Proto,
    pub ipv6: bool,
    pub expect: OutcomeKind,
    /// What the probe exercises, in one line.
    pub about: &'static str,
}

impl Probe {
    pub fn query(&self) -> Query {
        let mut q = Query::new(&self.from, &self.to);
        q.proto = self.proto;
        q.ipv6 = self.ipv6;
        q
    }
}

/// A generated large scenario and its probes.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub probes: Vec<Probe>,
    /// Hosts that are neither routers nor on the internet, in generation order.
    pub internal_hosts: Vec<String>,
    /// The hosts on the internet catch-all.
    pub internet_hosts: Vec<String>,
    /// Names in the `internal` DNS view (some are CNAMEs, one dangles).
    pub internal_names: Vec<String>,
    /// Filter rules written, before variants.
    pub rules: usize,
}

/// The YAML text of a large scenario.
pub fn large(p: &SynthParams) -> String {
    generate(p).text
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Web,
    App,
    Db,
    Cache,
    Mail,
    Dns,
    Mon,
    Office,
    Dev,
    Storage,
}

impl Role {
    const ALL: [Role; 10] = [
        Role::Web,
        Role::App,
        Role::Db,
        Role::Cache,
        Role::Mail,
        Role::Dns,
        Role::Mon,
        Role::Office,
        Role::Dev,
        Role::Storage,
    ];
    const WEIGHTS: [u32; 10] = [12, 16, 8, 6, 3, 3, 4, 22, 16, 10];

    fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::App => "app",
            Role::Db => "db",
            Role::Cache => "cache",
            Role::Mail => "mail",
            Role::Dns => "dns",
            Role::Mon => "mon",
            Role::Office => "office",
            Role::Dev => "dev",
            Role::Storage => "storage",
        }
    }

    /// The services of the role: (proto, port, application). The first is
    /// on every host of the role.
    fn services(self) -> &'static [(&'static str, u16, &'static str)] {
        match self {
            Role::Web => &[
                ("tcp", 443, "https"),
                ("tcp", 80, "http"),
                ("tcp", 22, "ssh"),
            ],
            Role::App => &[
                ("tcp", 8080, "http"),
                ("tcp", 9100, "metrics"),
                ("tcp", 8443, "https-admin"),
                ("tcp", 22, "ssh"),
            ],
            Role::Db => &[("tcp", 5432, "postgres"), ("tcp", 22, "ssh")],
            Role::Cache => &[("tcp", 6379, "redis"), ("tcp", 11211, "memcached")],
            Role::Mail => &[
                ("tcp", 25, "smtp"),
                ("tcp", 587, "submission"),
                ("tcp", 993, "imaps"),
            ],
            Role::Dns => &[("udp", 53, "dns"), ("tcp", 53, "dns")],
            Role::Mon => &[
                ("tcp", 9090, "prometheus"),
                ("tcp", 3000, "grafana"),
                ("udp", 514, "syslog"),
            ],
            Role::Office => &[("tcp", 3389, "rdp"), ("tcp", 445, "smb")],
            Role::Dev => &[("tcp", 22, "ssh"), ("tcp", 8000, "http-dev")],
            Role::Storage => &[
                ("tcp", 2049, "nfs"),
                ("tcp", 445, "smb"),
                ("tcp", 22, "ssh"),
            ],
        }
    }
}

struct Seg {
    name: String,
    role: Role,
    /// First address of the block (the network address).
    base: u32,
    plen: u8,
    dist: usize,
    hosts: Vec<usize>,
    input: Option<String>,
    output: Option<String>,
}

#[derive(Clone)]
struct Sock {
    proto: &'static str,
    port: u16,
    bind: Option<String>,
    app: String,
    tls: Option<String>,
}

impl Sock {
    fn line(&self) -> String {
        let mut s = format!("{}/{}", self.proto, self.port);
        if let Some(b) = &self.bind {
            s.push_str(" on ");
            s.push_str(b);
        }
        s.push(' ');
        s.push_str(&self.app);
        if let Some(t) = &self.tls {
            s.push_str(" tls ");
            s.push_str(t);
        }
        s
    }
}

struct H {
    name: String,
    seg: usize,
    v4: Ipv4Addr,
    v6: Option<Ipv6Addr>,
    socks: Vec<Sock>,
}

fn v4(x: u32) -> Ipv4Addr {
    Ipv4Addr::from(x)
}

fn seg_v6(i: usize, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, i as u16, 0, 0, 0, 0, host)
}

const INTERNAL_V4: &str = "10.0.0.0/8";
const INTERNAL_V6: &str = "fd00::/16";
const CORE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CORE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);
/// Common ports a segment may open towards the backbone.
const EGRESS_TCP: &str = "22,25,53,80,443,587,993,5432,6379,8080,8443,9090";

struct Large<'p> {
    p: &'p SynthParams,
    rng: SplitMix64,
    segs: Vec<Seg>,
    hosts: Vec<H>,
    inet_clients: Vec<(String, Ipv4Addr, Ipv6Addr)>,
    inet_servers: Vec<(String, Ipv4Addr, Ipv6Addr)>,
    dists: usize,
    /// Segments no noise rule may mention (the probes run through them).
    reserved: usize,
}

/// Builds a large scenario and its probes.
pub fn generate(p: &SynthParams) -> Generated {
    let mut g = Large::new(p);
    g.build()
}

impl<'p> Large<'p> {
    fn new(p: &'p SynthParams) -> Self {
        let nsegs = p.networks.max(3) - 2;
        let dists = if p.routers > 0 {
            p.routers.min(nsegs)
        } else {
            nsegs.div_ceil(20)
        };
        Large {
            p,
            rng: SplitMix64::new(p.seed ^ 0x7061_7468_7072_6f6f),
            segs: Vec::new(),
            hosts: Vec::new(),
            inet_clients: Vec::new(),
            inet_servers: Vec::new(),
            dists,
            reserved: 3.min(nsegs),
        }
    }

    fn v6(&self) -> bool {
        self.p.ipv6
    }

    fn seg_prefix_v4(&self, s: usize) -> String {
        let seg = &self.segs[s];
        format!("{}/{}", v4(seg.base), seg.plen)
    }

    fn seg_prefix_v6(&self, s: usize) -> String {
        format!("{}/64", seg_v6(s, 0))
    }

    fn build(&mut self) -> Generated {
        self.layout();
        let nsegs = self.segs.len();

        // Host filters: a share of the unreserved segments get an input
        // filter, fewer a stateless output ACL.
        let mut host_filters: Vec<(String, bool, &'static str, Vec<String>)> = Vec::new();
        for s in self.reserved..nsegs {
            if self.segs[s].hosts.is_empty() {
                continue;
            }
            if self.rng.chance(0.15) {
                let name = format!("{}-in", self.segs[s].name);
                let rules = self.host_input_rules(s);
                let default = if self.rng.chance(0.5) {
                    "drop"
                } else {
                    "reject"
                };
                host_filters.push((name.clone(), true, default, rules));
                self.segs[s].input = Some(name);
            }
            if self.rng.chance(0.05) {
                let name = format!("{}-out", self.segs[s].name);
                let rules = self.host_output_rules(s);
                host_filters.push((name.clone(), false, "drop", rules));
                self.segs[s].output = Some(name);
            }
        }
        let host_rules: usize = host_filters.iter().map(|f| f.3.len()).sum();

        // Router filters: a policy tail each, the rest of the budget as noise.
        let core_tail = self.core_tail();
        let dist_tails: Vec<Vec<String>> = (0..self.dists).map(|d| self.dist_tail(d)).collect();
        let tails: usize = core_tail.len() + dist_tails.iter().map(Vec::len).sum::<usize>();
        let noise = self.p.rules.saturating_sub(host_rules + tails);
        let core_noise = noise / 4;
        let per_dist = (noise - core_noise) / self.dists;
        let extra = (noise - core_noise) % self.dists;
        let mut core_rules = Vec::with_capacity(core_noise + core_tail.len());
        for _ in 0..core_noise {
            let r = self.noise_rule(None);
            core_rules.push(r);
        }
        core_rules.extend(core_tail);
        let mut dist_rules = Vec::new();
        for (d, tail) in dist_tails.into_iter().enumerate() {
            let n = per_dist + usize::from(d < extra);
            let mut rules = Vec::with_capacity(n + tail.len());
            for _ in 0..n {
                let r = self.noise_rule(Some(d));
                rules.push(r);
            }
            rules.extend(tail);
            dist_rules.push(rules);
        }
        let total_rules =
            core_rules.len() + dist_rules.iter().map(Vec::len).sum::<usize>() + host_rules;

        // The text.
        let mut out = String::with_capacity(self.p.rules * 70 + self.p.hosts * 300);
        let p = self.p;
        let _ = writeln!(out, "name: synth-large-{}", p.seed);
        let _ = writeln!(
            out,
            "about: >-\n  Generated by pathproof_core::synth (seed {}, {} networks, {} hosts, {} rules{}).\n  A core router between the internet and a backbone, {} distribution routers,\n  {} segments with their own roles, firewalls that hold most of the rules.",
            p.seed,
            nsegs + 2,
            self.hosts.len() + 1 + self.dists + self.inet_clients.len() + self.inet_servers.len(),
            total_rules,
            if p.ipv6 { ", dual stack" } else { "" },
            self.dists,
            nsegs
        );
        out.push('\n');
        self.write_networks(&mut out);
        self.write_hosts(&mut out);
        self.write_dns(&mut out);
        // Filters.
        out.push_str("\nfilters:\n");
        write_filter(
            &mut out,
            "core-fw",
            "The core router: what may cross between distribution blocks and to and from the internet.",
            true,
            "drop",
            &core_rules,
        );
        for (d, rules) in dist_rules.iter().enumerate() {
            let default = if d % 3 == 2 { "reject" } else { "drop" };
            write_filter(
                &mut out,
                &format!("dist-{d}-fw"),
                "A distribution router: what enters and leaves its segments.",
                true,
                default,
                rules,
            );
        }
        for (name, stateful, default, rules) in &host_filters {
            write_filter(
                &mut out,
                name,
                if *stateful {
                    "A host input filter shared by the hosts of one segment."
                } else {
                    "A stateless egress ACL: replies need their own rules."
                },
                *stateful,
                default,
                rules,
            );
        }
        self.write_expect(&mut out);
        self.write_variants(&mut out);

        Generated {
            text: out,
            probes: self.probes(),
            internal_hosts: self.hosts.iter().map(|h| h.name.clone()).collect(),
            internet_hosts: self
                .inet_clients
                .iter()
                .chain(&self.inet_servers)
                .map(|h| h.0.clone())
                .collect(),
            internal_names: self.internal_names(),
            rules: total_rules,
        }
    }

    /// Segments, hosts, addresses and sockets.
    fn layout(&mut self) {
        let p = self.p;
        let nsegs = p.networks.max(3) - 2;
        let routers = 1 + self.dists;
        let inet = (p.hosts / 50).max(2);
        let internal = p.hosts.saturating_sub(routers + inet).max(nsegs.min(3));
        let per = internal.div_ceil(nsegs);
        // Blocks of /24 or larger, packed from 10.0.0.0 up (inside 10.0.0.0/9).
        let mut size = 256u32;
        while size < per as u32 + 3 {
            size *= 2;
        }
        assert!(
            (nsegs as u64) * (size as u64) <= 1 << 23,
            "too many segments for 10.0.0.0/9"
        );
        let plen = 32 - size.trailing_zeros() as u8;
        for s in 0..nsegs {
            let role = match s {
                0 => Role::Web,
                1 => Role::App,
                2 => Role::Db,
                _ => Role::ALL[self.rng.weighted(&Role::WEIGHTS)],
            };
            self.segs.push(Seg {
                name: format!("seg-{s}"),
                role,
                base: u32::from(Ipv4Addr::new(10, 0, 0, 0)) + s as u32 * size,
                plen,
                dist: s % self.dists,
                hosts: Vec::new(),
                input: None,
                output: None,
            });
        }
        // Hosts, spread evenly (the first segments get the remainder).
        for k in 0..internal {
            let s = k % nsegs;
            let j = self.segs[s].hosts.len();
            let role = self.segs[s].role;
            let name = format!("{}-{s}-{j}", role.name());
            let a4 = v4(self.segs[s].base + 10 + j as u32);
            let a6 = self.v6().then(|| seg_v6(s, 0x10 + j as u16));
            let socks = self.sockets(s, j, a4);
            self.segs[s].hosts.push(self.hosts.len());
            self.hosts.push(H {
                name,
                seg: s,
                v4: a4,
                v6: a6,
                socks,
            });
        }
        for k in 0..inet {
            let a4 = v4(u32::from(Ipv4Addr::new(198, 18, 0, 10)) + k as u32);
            let a6 = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10 + k as u16);
            if k % 2 == 0 {
                self.inet_clients
                    .push((format!("inet-client-{}", k / 2), a4, a6));
            } else {
                self.inet_servers
                    .push((format!("inet-srv-{}", k / 2), a4, a6));
            }
        }
    }

    fn sockets(&mut self, s: usize, j: usize, a4: Ipv4Addr) -> Vec<Sock> {
        let role = self.segs[s].role;
        let mut socks: Vec<Sock> = Vec::new();
        for (i, &(proto, port, app)) in role.services().iter().enumerate() {
            // The first service is on every host, and the reserved segments
            // keep theirs complete so that the probes find them.
            if i > 0 && s >= self.reserved && !self.rng.chance(0.8) {
                continue;
            }
            let tls = (role == Role::Web && port == 443).then(|| {
                if s == 0 {
                    "www-0.example.com,www.example.com".to_string()
                } else {
                    format!("www-{s}.example.com")
                }
            });
            let tls = tls.or_else(|| {
                (role == Role::App && port == 8443)
                    .then(|| format!("{}-{s}-{j}.corp.internal", role.name()))
            });
            socks.push(Sock {
                proto,
                port,
                bind: None,
                app: app.to_string(),
                tls,
            });
        }
        let used = |socks: &[Sock], proto: &str, port: u16| {
            socks.iter().any(|x| x.proto == proto && x.port == port)
        };
        if self.rng.chance(0.2) {
            let port = *self.rng.pick(&[6379u16, 5000, 8125, 9000, 11211, 2379]);
            if !used(&socks, "tcp", port) {
                socks.push(Sock {
                    proto: "tcp",
                    port,
                    bind: Some("127.0.0.1".into()),
                    app: "local-agent".into(),
                    tls: None,
                });
            }
        }
        if self.rng.chance(0.3) {
            let port = self.rng.range(1024, 65000) as u16;
            let proto = if self.rng.chance(0.8) { "tcp" } else { "udp" };
            if !used(&socks, proto, port) {
                let bind = self.rng.chance(0.3).then(|| a4.to_string());
                socks.push(Sock {
                    proto,
                    port,
                    bind,
                    app: "custom".into(),
                    tls: None,
                });
            }
        }
        socks
    }

    fn core_tail(&mut self) -> Vec<String> {
        let web0 = self.hosts[self.segs[0].hosts[0]].name.clone();
        let int = if self.v6() {
            format!("{INTERNAL_V4},{INTERNAL_V6}")
        } else {
            INTERNAL_V4.to_string()
        };
        let app_segs = self.segs_of(Role::App, 6);
        let db_segs = self.segs_of(Role::Db, 6);
        let dns_segs = self.segs_of(Role::Dns, 4);
        let mut t = vec![
            format!("allow tcp from internet to {web0} port 443"),
            format!("allow tcp from {int} out internet port 80,443"),
            format!("allow udp from {int} out internet port 53,123"),
            "drop from internet to any port 22,3389".to_string(),
            format!("allow tcp from {int} to {int} port 80,443,8080,8443,9100"),
            format!("allow tcp from {app_segs} to {db_segs} port 5432"),
            format!("reject tcp from {int} to {int} port 22,3389 with tcp-reset"),
            format!("allow icmp from {int} to {int}"),
        ];
        if let Some(m) = self.first_of(Role::Mail) {
            t.insert(1, format!("allow tcp from internet to {m} port 25"));
        }
        if !dns_segs.is_empty() {
            t.push(format!("allow udp from {int} to {dns_segs} port 53"));
        }
        if let Some(mon) = self.first_seg_of(Role::Mon) {
            t.push(format!(
                "allow udp from {int} to {} port 514",
                self.segs[mon].name
            ));
            t.push(format!(
                "allow tcp from {} to {int} port 9100",
                self.segs[mon].name
            ));
        }
        t
    }

    fn dist_tail(&mut self, d: usize) -> Vec<String> {
        let int = if self.v6() {
            format!("{INTERNAL_V4},{INTERNAL_V6}")
        } else {
            INTERNAL_V4.to_string()
        };
        let mut t = Vec::new();
        let local: Vec<usize> = (0..self.segs.len())
            .filter(|&s| self.segs[s].dist == d)
            .collect();
        for &s in &local {
            let name = self.segs[s].name.clone();
            t.push(format!(
                "allow tcp from {name} out backbone port {EGRESS_TCP}"
            ));
            t.push(format!(
                "allow udp from {name} out backbone port 53,123,514"
            ));
        }
        let app_segs = self.segs_of(Role::App, 6);
        for &s in &local {
            let seg = &self.segs[s];
            let name = seg.name.clone();
            match seg.role {
                Role::Web => {
                    t.push(format!("allow tcp from internet to {name} port 80,443"));
                    t.push(format!("allow tcp from {int} to {name} port 80,443"));
                }
                Role::Db => {
                    t.push(format!("allow tcp from {app_segs} to {name} port 5432"));
                    t.push(format!("reject tcp to {name} port 5432"));
                }
                Role::Office => {
                    t.push(format!("drop tcp from internet to {name}"));
                }
                role => {
                    let tcp: Vec<String> = role
                        .services()
                        .iter()
                        .filter(|x| x.0 == "tcp" && x.1 != 22)
                        .map(|x| x.1.to_string())
                        .collect();
                    let udp: Vec<String> = role
                        .services()
                        .iter()
                        .filter(|x| x.0 == "udp")
                        .map(|x| x.1.to_string())
                        .collect();
                    if !tcp.is_empty() {
                        t.push(format!(
                            "allow tcp from {int} to {name} port {}",
                            tcp.join(",")
                        ));
                    }
                    if !udp.is_empty() {
                        t.push(format!(
                            "allow udp from {int} to {name} port {}",
                            udp.join(",")
                        ));
                    }
                }
            }
            t.push(format!("allow icmp from {int} to {name}"));
        }
        if let Some(dev) = self.first_seg_of(Role::Dev) {
            t.push(format!(
                "allow tcp from {} in backbone port 22",
                self.segs[dev].name
            ));
        }
        t
    }

    /// Up to `max` segment names of a role, as a list (`10.0.0.0/8` if none).
    fn segs_of(&self, role: Role, max: usize) -> String {
        let v: Vec<&str> = self
            .segs
            .iter()
            .filter(|s| s.role == role)
            .take(max)
            .map(|s| s.name.as_str())
            .collect();
        if v.is_empty() && role != Role::Dns {
            return INTERNAL_V4.to_string();
        }
        v.join(",")
    }

    fn first_seg_of(&self, role: Role) -> Option<usize> {
        self.segs
            .iter()
            .position(|s| s.role == role && !s.hosts.is_empty())
    }

    fn first_of(&self, role: Role) -> Option<String> {
        let s = self
            .segs
            .iter()
            .enumerate()
            .position(|(i, s)| i >= self.reserved && s.role == role && !s.hosts.is_empty())?;
        Some(self.hosts[self.segs[s].hosts[0]].name.clone())
    }

    /// An unreserved segment (local to distribution router `d` when given).
    fn free_seg(&mut self, d: Option<usize>) -> Option<usize> {
        let n = self.segs.len();
        if n <= self.reserved {
            return None;
        }
        for _ in 0..8 {
            let s = self.rng.range(self.reserved, n - 1);
            if d.is_none_or(|d| self.segs[s].dist == d) {
                return Some(s);
            }
        }
        // Walk from a random start for the first local one.
        let start = self.rng.range(self.reserved, n - 1);
        (0..n - self.reserved)
            .map(|i| self.reserved + (start - self.reserved + i) % (n - self.reserved))
            .find(|&s| d.is_none_or(|d| self.segs[s].dist == d))
    }

    /// A prefix inside segment `s` (the whole block or a piece of it).
    fn seg_piece(&mut self, s: usize) -> String {
        if self.v6() && self.rng.chance(0.25) {
            return if self.rng.chance(0.5) {
                self.seg_prefix_v6(s)
            } else {
                let x = self.rng.below(0x10000) as u16;
                format!("{}/80", Ipv6Addr::new(0xfd00, 0, s as u16, 0, x, 0, 0, 0))
            };
        }
        let seg = &self.segs[s];
        let extra = self.rng.below(5) as u8; // the block, or a piece down to 1/16 of it
        let plen = seg.plen + extra;
        let size = 1u32 << (32 - plen);
        let k = self.rng.below(1 << extra) as u32;
        format!("{}/{}", v4(seg.base + k * size), plen)
    }

    /// A destination for a noise rule: never reserved, never the internet.
    fn noise_dst(&mut self, d: Option<usize>) -> Option<(String, Option<usize>)> {
        let s = self.free_seg(d)?;
        let hs = &self.segs[s].hosts;
        let pick = self.rng.below(10);
        Some(if pick < 5 && !hs.is_empty() {
            let h = hs[self.rng.below(hs.len())];
            (self.hosts[h].name.clone(), Some(h))
        } else if pick < 8 {
            (self.segs[s].name.clone(), None)
        } else {
            (self.seg_piece(s), None)
        })
    }

    fn noise_src(&mut self) -> String {
        match self.rng.below(12) {
            0 => "internet".into(),
            1 => "any".into(),
            2 => {
                let a = self.rng.range(1, 223);
                let b = self.rng.below(256);
                format!("{a}.{b}.0.0/16")
            }
            3 | 4 => match self.free_seg(None) {
                Some(s) => self.seg_piece(s),
                None => "192.0.2.0/24".into(),
            },
            5 | 6 => match self.free_seg(None) {
                Some(s) => {
                    let hs = &self.segs[s].hosts;
                    if hs.is_empty() {
                        self.segs[s].name.clone()
                    } else {
                        let h = hs[self.rng.below(hs.len())];
                        self.hosts[h].name.clone()
                    }
                }
                None => "any".into(),
            },
            7 => {
                let a = self.noise_src_seg();
                let b = self.noise_src_seg();
                if a == b {
                    a
                } else {
                    format!("{a},{b}")
                }
            }
            _ => self.noise_src_seg(),
        }
    }

    /// Any segment, reserved or not (a source only narrows a rule further).
    fn noise_src_seg(&mut self) -> String {
        let s = self.rng.below(self.segs.len());
        self.segs[s].name.clone()
    }

    fn port_of(&mut self, h: Option<usize>, proto: &str) -> String {
        if let Some(h) = h {
            let ports: Vec<u16> = self.hosts[h]
                .socks
                .iter()
                .filter(|x| x.proto == proto)
                .map(|x| x.port)
                .collect();
            if !ports.is_empty() && self.rng.chance(0.8) {
                return ports[self.rng.below(ports.len())].to_string();
            }
        }
        if self.rng.chance(0.5) {
            self.rng
                .pick(&[
                    22u16, 25, 53, 80, 123, 443, 445, 514, 3306, 3389, 5432, 6379, 8080, 8443, 9090,
                ])
                .to_string()
        } else {
            self.rng.range(1, 65535).to_string()
        }
    }

    /// A rule that never matches a probe: its destination (or outgoing
    /// interface) is always an unreserved internal segment, host or prefix.
    fn noise_rule(&mut self, d: Option<usize>) -> String {
        let Some((dst, h)) = self.noise_dst(d) else {
            // Nothing unreserved: a rule about documentation space.
            let n = self.rng.below(256);
            return format!("drop from 192.0.2.{n} to 100.64.0.0/10");
        };
        let src = self.noise_src();
        let kind = self.rng.weighted(&[30, 10, 15, 8, 10, 5, 4, 5, 5, 3, 5]);
        match kind {
            0 => {
                let port = self.port_of(h, "tcp");
                format!("allow tcp from {src} to {dst} port {port}")
            }
            1 => {
                let port = self.port_of(h, "udp");
                format!("allow udp from {src} to {dst} port {port}")
            }
            2 => format!("drop from {src} to {dst}"),
            3 => {
                let port = self.port_of(h, "tcp");
                let with = *self
                    .rng
                    .pick(&["", " with tcp-reset", " with admin-prohibited"]);
                format!("reject tcp from {src} to {dst} port {port}{with}")
            }
            4 => {
                let lo = self.rng.range(1024, 60000);
                let hi = lo + self.rng.range(0, 2000);
                let action = if self.rng.chance(0.7) {
                    "allow"
                } else {
                    "drop"
                };
                format!("{action} tcp from {src} to {dst} port {lo}-{hi}")
            }
            5 => format!("allow icmp from {src} to {dst}"),
            6 => format!("drop tcp from not {INTERNAL_V4} to {dst} port 22,3389"),
            7 => {
                // Interfaces: into a local segment (distribution) or the backbone (core).
                let out = match d {
                    Some(_) => self.local_seg_of(&dst),
                    None => Some("backbone".to_string()),
                };
                let port = self.port_of(h, "tcp");
                match out {
                    Some(o) => {
                        let inn = if d.is_some() { "backbone" } else { "internet" };
                        format!("allow tcp in {inn} out {o} to {dst} port {port}")
                    }
                    None => format!("allow tcp from {src} to {dst} port {port}"),
                }
            }
            8 => {
                let port = self.port_of(h, "tcp");
                if self.rng.chance(0.5) {
                    format!("allow tcp from {src} to {dst} port {port} state new")
                } else {
                    format!("drop from {src} to {dst} state invalid")
                }
            }
            9 => {
                let lo = self.rng.range(1024, 65000);
                let port = self.port_of(h, "tcp");
                format!("allow tcp from {src} sport {lo}-65535 to {dst} port {port}")
            }
            _ => {
                // Prefix to prefix, IPv6 when the scenario has it.
                let a = match self.free_seg(None) {
                    Some(s) => self.seg_piece(s),
                    None => "192.0.2.0/24".into(),
                };
                let port = self.port_of(h, "tcp");
                let action = *self.rng.pick(&["allow", "allow", "drop", "reject"]);
                format!("{action} tcp from {a} to {dst} port {port}")
            }
        }
    }

    /// The segment a destination word lies in, when it is a host or segment name.
    fn local_seg_of(&self, dst: &str) -> Option<String> {
        if let Some(h) = self.hosts.iter().find(|h| h.name == dst) {
            return Some(self.segs[h.seg].name.clone());
        }
        self.segs
            .iter()
            .find(|s| s.name == dst)
            .map(|s| s.name.clone())
    }

    fn host_input_rules(&mut self, s: usize) -> Vec<String> {
        let n = self.rng.range(5, 20);
        let role = self.segs[s].role;
        let mut r = Vec::new();
        for &(proto, port, _) in role.services() {
            if port == 22 {
                let from = self.noise_src_seg();
                r.push(format!(
                    "allow tcp from {from} port 1024-65535 to any port 22"
                ));
            } else {
                r.push(format!(
                    "allow {proto} from {INTERNAL_V4} to any port {port}"
                ));
            }
        }
        r.push("allow icmp".to_string());
        while r.len() < n {
            let src = self.noise_src();
            let port = self.port_of(None, "tcp");
            r.push(match self.rng.below(4) {
                0 => format!("drop from {src}"),
                1 => format!("reject tcp from {src} port {port} with tcp-reset"),
                2 => format!("allow tcp from {src} to any port {port}"),
                _ => format!("drop udp to any port {port}"),
            });
        }
        r
    }

    fn host_output_rules(&mut self, s: usize) -> Vec<String> {
        let n = self.rng.range(5, 12);
        let role = self.segs[s].role;
        let name = self.segs[s].name.clone();
        let mut r = Vec::new();
        for &(proto, port, _) in role.services() {
            // Replies of the segment's services: a stateless ACL needs them spelt out.
            r.push(format!("allow {proto} from {name} port {port}"));
        }
        r.push(format!("allow tcp to {INTERNAL_V4} port 80,443,8080"));
        r.push("allow udp to any port 53".to_string());
        while r.len() < n {
            let port = self.port_of(None, "tcp");
            r.push(format!("drop tcp to any port {port}"));
        }
        r
    }

    fn write_networks(&self, out: &mut String) {
        out.push_str("networks:\n");
        let v6 = self.v6();
        let _ = writeln!(
            out,
            "  internet: {{ cidr: [{}], trust: untrusted, gateway: core, dns: public, about: everything outside }}",
            if v6 { "\"0.0.0.0/0\", \"::/0\"" } else { "\"0.0.0.0/0\"" }
        );
        let _ = writeln!(
            out,
            "  backbone: {{ cidr: [{}], gateway: core, dns: internal }}",
            if v6 {
                "\"10.255.0.0/16\", \"fd00:ffff::/64\""
            } else {
                "\"10.255.0.0/16\""
            }
        );
        for (s, seg) in self.segs.iter().enumerate() {
            let cidr = if v6 {
                format!(
                    "{}, {}",
                    q(&self.seg_prefix_v4(s)),
                    q(&self.seg_prefix_v6(s))
                )
            } else {
                q(&self.seg_prefix_v4(s))
            };
            let _ = writeln!(
                out,
                "  {}: {{ cidr: [{cidr}], gateway: dist-{}, dns: internal, about: {} segment }}",
                seg.name,
                seg.dist,
                seg.role.name()
            );
        }
    }

    fn dist_addr(&self, d: usize) -> (Ipv4Addr, Ipv6Addr) {
        (
            v4(u32::from(Ipv4Addr::new(10, 255, 0, 10)) + d as u32),
            Ipv6Addr::new(0xfd00, 0xffff, 0, 0, 0, 0, 0, 0x10 + d as u16),
        )
    }

    fn write_hosts(&self, out: &mut String) {
        let v6 = self.v6();
        out.push_str("\nhosts:\n");
        // The core router.
        out.push_str("  core:\n    about: The core router and the edge firewall.\n    router: true\n    rp_filter: loose\n    at:\n");
        if v6 {
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!("internet {CORE_V4} {CORE_V6}"))
            );
            let _ = writeln!(out, "      - {}", q("backbone 10.255.0.1 fd00:ffff::1"));
        } else {
            let _ = writeln!(out, "      - {}", q(&format!("internet {CORE_V4}")));
            let _ = writeln!(out, "      - {}", q("backbone 10.255.0.1"));
        }
        out.push_str("    filter: core-fw\n    nat:\n");
        let web0 = &self.hosts[self.segs[0].hosts[0]].name;
        let _ = writeln!(
            out,
            "      - {}",
            q(&format!(
                "dnat tcp to {CORE_V4} port 443 in internet -> {web0}:443"
            ))
        );
        if v6 {
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!(
                    "dnat tcp to {CORE_V6} port 443 in internet -> {web0}:443"
                ))
            );
        }
        if let Some(m) = self.first_of(Role::Mail) {
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!(
                    "dnat tcp to {CORE_V4} port 25 in internet -> {m}:25"
                ))
            );
        }
        let _ = writeln!(
            out,
            "      - {}",
            q(&format!("masquerade from {INTERNAL_V4} out internet"))
        );
        if v6 {
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!("masquerade from {INTERNAL_V6} out internet"))
            );
        }
        out.push_str("    routes:\n");
        for s in 0..self.segs.len() {
            let d = self.segs[s].dist;
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!("{} via dist-{d}", self.seg_prefix_v4(s)))
            );
            if v6 {
                let _ = writeln!(
                    out,
                    "      - {}",
                    q(&format!("{} via dist-{d}", self.seg_prefix_v6(s)))
                );
            }
        }
        let _ = writeln!(out, "      - {}", q("10.128.0.0/9 blackhole"));
        // Distribution routers.
        for d in 0..self.dists {
            let (a4, a6) = self.dist_addr(d);
            let _ = writeln!(out, "  dist-{d}:");
            out.push_str("    router: true\n");
            if d % 2 == 0 {
                out.push_str("    rp_filter: strict\n");
            }
            out.push_str("    at:\n");
            if v6 {
                let _ = writeln!(out, "      - {}", q(&format!("backbone {a4} {a6}")));
            } else {
                let _ = writeln!(out, "      - {}", q(&format!("backbone {a4}")));
            }
            for (s, seg) in self.segs.iter().enumerate() {
                if seg.dist != d {
                    continue;
                }
                if v6 {
                    let _ = writeln!(
                        out,
                        "      - {}",
                        q(&format!(
                            "{} {} {}",
                            seg.name,
                            v4(seg.base + 1),
                            seg_v6(s, 1)
                        ))
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "      - {}",
                        q(&format!("{} {}", seg.name, v4(seg.base + 1)))
                    );
                }
            }
            let _ = writeln!(out, "    filter: dist-{d}-fw");
        }
        // Segment hosts.
        for h in &self.hosts {
            let seg = &self.segs[h.seg];
            let at = match h.v6 {
                Some(a6) => format!("{} {} {a6}", seg.name, h.v4),
                None => format!("{} {}", seg.name, h.v4),
            };
            let listen: Vec<String> = h.socks.iter().map(|s| q(&s.line())).collect();
            let _ = write!(
                out,
                "  {}: {{ at: {}, listen: [{}]",
                h.name,
                q(&at),
                listen.join(", ")
            );
            if let Some(f) = &seg.input {
                let _ = write!(out, ", input: {f}");
            }
            if let Some(f) = &seg.output {
                let _ = write!(out, ", output: {f}");
            }
            if seg.role == Role::Db {
                out.push_str(", sensitive: true");
            }
            out.push_str(" }\n");
        }
        // The internet.
        for (name, a4, a6) in &self.inet_clients {
            let at = if v6 {
                format!("internet {a4} {a6}")
            } else {
                format!("internet {a4}")
            };
            let _ = writeln!(out, "  {name}: {{ at: {} }}", q(&at));
        }
        for (i, (name, a4, a6)) in self.inet_servers.iter().enumerate() {
            let at = if v6 {
                format!("internet {a4} {a6}")
            } else {
                format!("internet {a4}")
            };
            let _ = writeln!(
                out,
                "  {name}: {{ at: {}, listen: [{}, {}] }}",
                q(&at),
                q(&format!("tcp/443 https tls cdn-{i}.example.net")),
                q("tcp/80 http")
            );
        }
    }

    fn internal_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("{}.corp.internal", h.name))
            .collect();
        for (s, seg) in self.segs.iter().enumerate() {
            if seg.role == Role::Web && !seg.hosts.is_empty() {
                v.push(format!("www-{s}.example.com"));
            }
        }
        v.push("www.example.com".into());
        v.push("db.corp.internal".into());
        v.push("legacy-erp.corp.internal".into());
        for i in 0..self.inet_servers.len() {
            v.push(format!("cdn-{i}.example.net"));
        }
        v
    }

    fn write_dns(&self, out: &mut String) {
        let v6 = self.v6();
        out.push_str("\ndns:\n  public:\n");
        if v6 {
            let _ = writeln!(
                out,
                "    www.example.com: {{ a: {}, aaaa: {} }}",
                q(&CORE_V4.to_string()),
                q(&CORE_V6.to_string())
            );
        } else {
            let _ = writeln!(out, "    www.example.com: {}", q(&CORE_V4.to_string()));
        }
        out.push_str("    example.com: \"cname www.example.com\"\n");
        for (i, (_, a4, a6)) in self.inet_servers.iter().enumerate() {
            if v6 {
                let _ = writeln!(
                    out,
                    "    cdn-{i}.example.net: [{}, {}]",
                    q(&a4.to_string()),
                    q(&a6.to_string())
                );
            } else {
                let _ = writeln!(out, "    cdn-{i}.example.net: {}", q(&a4.to_string()));
            }
        }
        out.push_str("  internal:\n");
        for h in &self.hosts {
            match h.v6 {
                Some(a6) => {
                    let _ = writeln!(
                        out,
                        "    {}.corp.internal: [{}, {}]",
                        h.name,
                        q(&h.v4.to_string()),
                        q(&a6.to_string())
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "    {}.corp.internal: {}",
                        h.name,
                        q(&h.v4.to_string())
                    );
                }
            }
        }
        for (s, seg) in self.segs.iter().enumerate() {
            if seg.role == Role::Web && !seg.hosts.is_empty() {
                let first = &self.hosts[seg.hosts[0]].name;
                let _ = writeln!(
                    out,
                    "    www-{s}.example.com: {{ cname: {first}.corp.internal }}"
                );
            }
        }
        out.push_str("    www.example.com: \"cname www-0.example.com\"\n");
        let _ = writeln!(
            out,
            "    db.corp.internal: {{ cname: {}.corp.internal }}",
            self.hosts[self.segs[self.reserved.min(3) - 1].hosts[0]].name
        );
        out.push_str("    legacy-erp.corp.internal: { cname: old-erp.corp.internal }\n");
        for (i, (_, a4, a6)) in self.inet_servers.iter().enumerate() {
            if v6 {
                let _ = writeln!(
                    out,
                    "    cdn-{i}.example.net: [{}, {}]",
                    q(&a4.to_string()),
                    q(&a6.to_string())
                );
            } else {
                let _ = writeln!(out, "    cdn-{i}.example.net: {}", q(&a4.to_string()));
            }
        }
    }

    fn write_expect(&self, out: &mut String) {
        out.push_str("\nexpect:\n");
        let web0 = &self.hosts[self.segs[0].hosts[0]].name;
        let db = &self.hosts[self.segs[self.segs.len().min(3) - 1].hosts[0]].name;
        let app_segs = self.segs_of(Role::App, 3);
        let lines = [
            format!("allow {} -> www.example.com:443", self.inet_clients[0].0),
            format!("deny internet -> {db}:5432"),
            format!("deny internet -> {web0}:22"),
            format!("allow {web0} -> cdn-0.example.net:443"),
            format!(
                "{} -> www.example.com:443 must be authenticated by tls",
                self.inet_clients[0].0
            ),
        ];
        for l in lines {
            let _ = writeln!(out, "  - {}", q(&l));
        }
        if self.segs.iter().any(|s| s.role == Role::App) {
            let _ = writeln!(
                out,
                "  - {}",
                q(&format!("only {app_segs} may reach {db}:5432"))
            );
        }
        if let Some(s) = self.first_seg_of(Role::Office) {
            let _ = writeln!(
                out,
                "  - {}",
                q(&format!("isolated {} inbound", self.segs[s].name))
            );
        }
    }

    fn write_variants(&self, out: &mut String) {
        let db = &self.hosts[self.segs[self.segs.len().min(3) - 1].hosts[0]].name;
        let db_seg = &self.segs[self.segs.len().min(3) - 1];
        let web0 = &self.hosts[self.segs[0].hosts[0]].name;
        out.push_str("\nvariants:\n  break:\n");
        out.push_str("    why: >-\n      To debug replication someone opened the core to all internal traffic and\n      forwarded a port on the edge straight to the database, and it stayed.\n");
        out.push_str("    filters:\n      core-fw:\n        insert:\n");
        let _ = writeln!(
            out,
            "          - {}",
            q(&format!("allow from {INTERNAL_V4} to {INTERNAL_V4}"))
        );
        let _ = writeln!(
            out,
            "          - {}",
            q(&format!("allow tcp from internet to {db} port 5432"))
        );
        let _ = writeln!(
            out,
            "      dist-{}-fw:\n        insert:\n          - {}",
            db_seg.dist,
            q(&format!("allow from any to {}", db_seg.name))
        );
        out.push_str("    hosts:\n      core:\n        nat:\n          add:\n");
        let _ = writeln!(
            out,
            "            - {}",
            q(&format!(
                "dnat tcp to {CORE_V4} port 5432 in internet -> {db}:5432"
            ))
        );
        out.push_str("    dns:\n      public:\n        add:\n");
        let _ = writeln!(out, "          db.example.com: {}", q(&CORE_V4.to_string()));
        out.push_str("  harden:\n");
        out.push_str("    why: >-\n      The edge drops remote administration from the internet before any other\n      rule, checks source addresses strictly, internal hosts must use the internal\n      resolvers, and the public web server may only talk to the database.\n");
        let int = if self.v6() {
            format!("{INTERNAL_V4},{INTERNAL_V6}")
        } else {
            INTERNAL_V4.to_string()
        };
        out.push_str("    filters:\n      core-fw:\n        insert:\n");
        let _ = writeln!(
            out,
            "          - {}",
            q("drop tcp from internet to any port 22,3389,5432")
        );
        out.push_str("        remove:\n");
        let _ = writeln!(
            out,
            "          - {}",
            q(&format!("allow udp from {int} out internet port 53,123"))
        );
        out.push_str(
            "      web-egress:\n        stateful: true\n        default: drop\n        rules:\n",
        );
        let _ = writeln!(
            out,
            "          - {}",
            q(&format!("allow tcp to {db} port 5432"))
        );
        let _ = writeln!(out, "          - {}", q("allow udp to 10.0.0.0/8 port 53"));
        out.push_str("    hosts:\n      core:\n        rp_filter: strict\n");
        let _ = writeln!(out, "      {web0}:\n        output: web-egress");
        out.push_str("    expect:\n      add:\n");
        let _ = writeln!(
            out,
            "        - {}",
            q(&format!("deny internet -> {web0}:22"))
        );
    }

    fn probes(&self) -> Vec<Probe> {
        let mut v = Vec::new();
        let host = |s: usize, j: usize| -> Option<&H> {
            self.segs
                .get(s)
                .and_then(|seg| seg.hosts.get(j))
                .map(|&h| &self.hosts[h])
        };
        let (Some(app0), Some(_web0)) = (host(1, 0), host(0, 0)) else {
            return v;
        };
        if let Some(app1) = host(1, 1) {
            v.push(Probe {
                label: "same-network",
                from: app0.name.clone(),
                to: format!("{}:8080", app1.name),
                proto: Proto::Tcp,
                ipv6: false,
                expect: OutcomeKind::Reached,
                about: "two hosts on one segment: no router, no filter",
            });
        }
        v.push(Probe {
            label: "across-routers",
            from: app0.name.clone(),
            to: "www-0.example.com:443".into(),
            proto: Proto::Tcp,
            ipv6: false,
            expect: OutcomeKind::Reached,
            about: "DNS (CNAME), two distribution routers and the core, every noise rule read, TLS",
        });
        if self.v6() {
            v.push(Probe {
                label: "across-routers-v6",
                from: app0.name.clone(),
                to: "www-0.example.com:443".into(),
                proto: Proto::Tcp,
                ipv6: true,
                expect: OutcomeKind::Reached,
                about: "the same over IPv6 (AAAA records)",
            });
        }
        v.push(Probe {
            label: "unresolvable",
            from: app0.name.clone(),
            to: "legacy-erp.corp.internal:443".into(),
            proto: Proto::Tcp,
            ipv6: false,
            expect: OutcomeKind::Unresolved,
            about: "a dangling CNAME: the journey stops at DNS",
        });
        if let (Some(web1), Some(db0)) = (host(0, 1).or(host(0, 0)), host(2, 0)) {
            if self.dists > 1 && self.segs[0].dist != self.segs[2].dist {
                v.push(Probe {
                    label: "dropped",
                    from: web1.name.clone(),
                    to: format!("{}:5432", db0.name),
                    proto: Proto::Tcp,
                    ipv6: false,
                    expect: OutcomeKind::Dropped,
                    about: "web to database across the core: every core rule read, then the default drop",
                });
            }
        }
        v.push(Probe {
            label: "internet-dnat",
            from: self.inet_clients[0].0.clone(),
            to: "www.example.com:443".into(),
            proto: Proto::Tcp,
            ipv6: false,
            expect: OutcomeKind::Reached,
            about: "from the internet through the DNAT port-forward on the core",
        });
        if !self.inet_servers.is_empty() {
            v.push(Probe {
                label: "egress-masquerade",
                from: app0.name.clone(),
                to: "cdn-0.example.net:443".into(),
                proto: Proto::Tcp,
                ipv6: false,
                expect: OutcomeKind::Reached,
                about: "to a server on the internet, masqueraded by the core",
            });
        }
        v
    }
}

fn write_filter(
    out: &mut String,
    name: &str,
    about: &str,
    stateful: bool,
    default: &str,
    rules: &[String],
) {
    let _ = writeln!(out, "  {name}:");
    let _ = writeln!(out, "    about: {}", q(about));
    let _ = writeln!(out, "    stateful: {stateful}");
    let _ = writeln!(out, "    default: {default}");
    out.push_str("    rules:\n");
    for r in rules {
        out.push_str("      - ");
        out.push_str(&q(r));
        out.push('\n');
    }
}

// ---------------------------------------------------------------------------
// Small scenarios
// ---------------------------------------------------------------------------

/// Address families of a small network.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
    Dual,
}

impl Fam {
    fn v4(self) -> bool {
        self != Fam::V6
    }
    fn v6(self) -> bool {
        self != Fam::V4
    }
}

struct SNet {
    name: String,
    fam: Fam,
    catch_all: bool,
    /// IPv4 /24 (or 0.0.0.0/0) and IPv6 /64 (or ::/0) bases.
    p4: Ipv4Addr,
    p6: Ipv6Addr,
}

impl SNet {
    fn addr4(&self, host: u8) -> Ipv4Addr {
        if self.catch_all {
            Ipv4Addr::new(203, 0, 113, host)
        } else {
            let o = self.p4.octets();
            Ipv4Addr::new(o[0], o[1], o[2], host)
        }
    }
    fn addr6(&self, host: u16) -> Ipv6Addr {
        if self.catch_all {
            Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, host)
        } else {
            let s = self.p6.segments();
            Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, host)
        }
    }
    fn cidrs(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.fam.v4() {
            v.push(if self.catch_all {
                "0.0.0.0/0".into()
            } else {
                format!("{}/24", self.p4)
            });
        }
        if self.fam.v6() {
            v.push(if self.catch_all {
                "::/0".into()
            } else {
                format!("{}/64", self.p6)
            });
        }
        v
    }
}

struct SHost {
    name: String,
    router: bool,
    /// (network index, addresses)
    ifaces: Vec<(usize, Vec<std::net::IpAddr>)>,
    routes: Vec<String>,
    socks: Vec<Sock>,
    forward: Option<String>,
    input: Option<String>,
    output: Option<String>,
    nat: Vec<String>,
}

impl SHost {
    fn addrs(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.ifaces.iter().flat_map(|(_, a)| a.iter().copied())
    }
    fn addr_on(&self, net: usize, v6: bool) -> Option<std::net::IpAddr> {
        self.ifaces
            .iter()
            .find(|(n, _)| *n == net)
            .and_then(|(_, a)| a.iter().copied().find(|a| a.is_ipv6() == v6))
    }
    fn first(&self, v6: bool) -> Option<std::net::IpAddr> {
        self.addrs().find(|a| a.is_ipv6() == v6)
    }
}

/// The built-in scenarios as written, and the small and the cluster-shaped
/// generated scenarios of seeds `0..seeds` that load: for tests that compare
/// two ways of making one thing.
#[cfg(test)]
pub(crate) fn sample_scenarios(seeds: u64) -> Vec<Scenario> {
    let mut scns: Vec<Scenario> = crate::examples::ALL
        .iter()
        .map(|ex| crate::load::load(&ex.file(), ex.text, None).expect("built-ins load"))
        .collect();
    for seed in 0..seeds {
        scns.extend(crate::load::load("small.yaml", &small(seed), None).ok());
        scns.push(
            crate::load::load("scattered.yaml", &scattered(seed), None)
                .expect("cluster-shaped scenarios load"),
        );
    }
    scns
}

/// The YAML text of a random cluster-shaped scenario: 12–30 hosts of 2–5
/// apps on one network behind one router, their addresses interleaved, the
/// hosts of an app configured alike and apps without a filter alike with
/// each other (classes whose addresses are scattered, as pods across a
/// cluster); rules name an app's hosts, single hosts, or prefixes that cut
/// through apps, for some seeds with gaps between the hosts' addresses.
/// For some seeds: pod traffic through the router for the
/// network itself, by routes or by `via-gateway: true` (as `import k8s`
/// writes pods), IPv6, a service address translated to one
/// host, the internet behind masquerade, a filter at the router.
pub fn scattered(seed: u64) -> String {
    let mut rng = SplitMix64::new(seed ^ 0x7363_6174_7465_7264);
    let r = &mut rng;
    let apps = r.range(2, 5);
    let n = r.range(12, 30);
    let v6 = r.chance(0.3);
    let via_router = r.chance(0.5);
    // Half of the seeds that send pod traffic through the router say so
    // with `via-gateway: true` rather than routes (a stream of its own, so
    // that no other seed changed).
    let through = via_router && SplitMix64::new(seed ^ 0x7468_726f_7567_6821).chance(0.5);
    let internet = r.chance(0.5);
    let service = r.chance(0.4);
    let router_filter = r.chance(0.5);
    let app_of: Vec<usize> = (0..n).map(|_| r.below(apps)).collect();
    let filtered: Vec<bool> = (0..apps).map(|_| r.chance(0.6)).collect();
    let ports = [80u16, 443, 5432, 8080];
    let app_ports: Vec<Vec<u16>> = (0..apps)
        .map(|_| {
            let mut v: Vec<u16> = (0..r.range(1, 2)).map(|_| *r.pick(&ports)).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // For some seeds the hosts' addresses have gaps between them, so that
    // the network's stand-in holds many ranges (a stream of its own).
    let step = if SplitMix64::new(seed ^ 0x6761_7073_2121_2121).chance(0.5) {
        3
    } else {
        1
    };
    let addr = |i: usize| format!("10.20.0.{}", 10 + step * i);
    let addr6 = |i: usize| format!("fd00:20::{:x}", 0x10 + step * i);
    // A source: an app's hosts, one host, a prefix cutting through the
    // interleaved addresses, or the whole network.
    let source = |r: &mut SplitMix64| -> String {
        match r.weighted(&[5, 2, 2, 1]) {
            0 => {
                let a = r.below(apps);
                let hosts: Vec<String> = (0..n)
                    .filter(|&i| app_of[i] == a)
                    .map(|i| format!("h{i}"))
                    .collect();
                if hosts.is_empty() {
                    "pods".to_string()
                } else {
                    format!("[{}]", hosts.join(", "))
                }
            }
            1 => format!("h{}", r.below(n)),
            2 => {
                let len = r.range(27, 30);
                let base = (10 + step * r.below(n)) as u32 & !((1u32 << (32 - len)) - 1);
                format!("10.20.0.{base}/{len}")
            }
            _ => "pods".to_string(),
        }
    };
    let mut out = format!("name: scattered-{seed}\nnetworks:\n");
    out.push_str(&format!(
        "  pods: {{ cidr: [10.20.0.0/24{}], gateway: node{} }}\n",
        if v6 { ", \"fd00:20::/64\"" } else { "" },
        if through { ", via-gateway: true" } else { "" }
    ));
    if internet {
        out.push_str("  internet: { cidr: [0.0.0.0/0], trust: untrusted, gateway: node }\n");
    }
    out.push_str("hosts:\n  node:\n    router: true\n    at:\n");
    out.push_str(&format!(
        "      - \"pods 10.20.0.1{}\"\n",
        if v6 { " fd00:20::1" } else { "" }
    ));
    if internet {
        out.push_str("      - \"internet 192.0.2.1\"\n");
    }
    if router_filter {
        out.push_str("    forward: egress\n");
    }
    let mut nat = Vec::new();
    if service {
        let i = r.below(n);
        let port = app_ports[app_of[i]][0];
        nat.push(format!(
            "dnat tcp to 10.96.0.10 port {port} in pods -> h{i}:{port}"
        ));
    }
    if internet {
        nat.push("masquerade from 10.20.0.0/24 out internet".to_string());
    }
    if !nat.is_empty() {
        out.push_str("    nat:\n");
        for l in &nat {
            out.push_str(&format!("      - \"{l}\"\n"));
        }
    }
    if internet {
        out.push_str("  ext: { at: \"internet 203.0.113.5\", listen: [\"tcp/443\"] }\n");
    }
    for (i, &a) in app_of.iter().enumerate() {
        let mut line = format!("  h{i}: {{ at: \"pods {}", addr(i));
        if v6 {
            line.push_str(&format!(" {}", addr6(i)));
        }
        line.push('"');
        let listen: Vec<String> = app_ports[a]
            .iter()
            .map(|p| format!("\"tcp/{p}\""))
            .collect();
        line.push_str(&format!(", listen: [{}]", listen.join(", ")));
        if via_router && !through {
            line.push_str(", routes: [\"10.20.0.0/25 via node\", \"10.20.0.128/25 via node\"]");
        }
        if filtered[a] {
            line.push_str(&format!(", input: in-{a}"));
        }
        line.push_str(" }\n");
        out.push_str(&line);
    }
    out.push_str("filters:\n");
    for a in (0..apps).filter(|&a| filtered[a]) {
        out.push_str(&format!(
            "  in-{a}:\n    stateful: true\n    default: {}\n    rules:\n",
            if r.chance(0.7) { "drop" } else { "allow" }
        ));
        for _ in 0..r.range(1, 5) {
            let action = if r.chance(0.75) { "allow" } else { "drop" };
            let from = source(r);
            let port = *r.pick(&app_ports[a]);
            out.push_str(&format!(
                "      - {{ action: {action}, proto: tcp, from: {from}, dport: \"{port}\" }}\n"
            ));
        }
    }
    if router_filter {
        out.push_str(&format!(
            "  egress:\n    stateful: true\n    default: {}\n    rules:\n",
            if r.chance(0.5) { "drop" } else { "allow" }
        ));
        for _ in 0..r.range(1, 5) {
            let action = if r.chance(0.7) { "allow" } else { "drop" };
            let from = source(r);
            let to = source(r);
            out.push_str(&format!(
                "      - {{ action: {action}, proto: tcp, from: {from}, to: {to} }}\n"
            ));
        }
        if internet {
            out.push_str("      - allow tcp from pods to internet port 443\n");
        }
    }
    out
}

/// The YAML text of a random small scenario: 2–4 networks (some
/// `via-gateway`), 3–8 hosts, random routes, 1–3 stateful or stateless filters of 5–30 rules, SNAT, DNAT and
/// masquerade, IPv4 and IPv6, sockets on random ports and bound addresses,
/// DNS with CNAMEs, expectations, and a `break` and a `harden` variant; for
/// some seeds reverse proxies (chains, loops, rings entered from the side)
/// and expectations from a network (`small_extras`, a random stream of their
/// own, so that adding them changed nothing else of any seed).
pub fn small(seed: u64) -> String {
    let mut rng = SplitMix64::new(seed ^ 0x736d_616c_6c5f_7363);
    let r = &mut rng;

    // Networks.
    let nnets = r.range(2, 4);
    let has_internet = r.chance(0.4);
    let mut nets: Vec<SNet> = Vec::new();
    for i in 0..nnets {
        let catch_all = has_internet && i == 0;
        let fam = match r.weighted(&[4, 2, 4]) {
            0 => Fam::V4,
            1 if !catch_all => Fam::V6,
            1 => Fam::V4,
            _ => Fam::Dual,
        };
        let p4 = if r.chance(0.5) {
            Ipv4Addr::new(10, i as u8, 0, 0)
        } else {
            Ipv4Addr::new(192, 168, i as u8, 0)
        };
        let p6 = Ipv6Addr::new(0xfd00, i as u16 + 1, 0, 0, 0, 0, 0, 0);
        nets.push(SNet {
            name: if catch_all {
                "internet".into()
            } else {
                format!("{}{i}", r.pick(&["lan", "dmz", "net", "srv"]))
            },
            fam,
            catch_all,
            p4,
            p6,
        });
    }
    let addrs_on = |net: &SNet, host: u8| -> Vec<std::net::IpAddr> {
        let mut v = Vec::new();
        if net.fam.v4() {
            v.push(net.addr4(host).into());
        }
        if net.fam.v6() {
            v.push(net.addr6(host as u16).into());
        }
        v
    };

    // Routers: r0 on every network; with 3+ networks, sometimes r1 owns the
    // last one and r0 reaches it through r1.
    let two_routers = nnets >= 3 && r.chance(0.5);
    let mut hosts: Vec<SHost> = Vec::new();
    let r0_nets: Vec<usize> = if two_routers {
        (0..nnets - 1).collect()
    } else {
        (0..nnets).collect()
    };
    hosts.push(SHost {
        name: "r0".into(),
        router: true,
        ifaces: r0_nets
            .iter()
            .map(|&n| (n, addrs_on(&nets[n], 1)))
            .collect(),
        routes: Vec::new(),
        socks: Vec::new(),
        forward: None,
        input: None,
        output: None,
        nat: Vec::new(),
    });
    let mut gateway: Vec<usize> = vec![0; nnets];
    if two_routers {
        let (shared, last) = (nnets - 2, nnets - 1);
        hosts.push(SHost {
            name: "r1".into(),
            router: true,
            ifaces: vec![
                (shared, addrs_on(&nets[shared], 2)),
                (last, addrs_on(&nets[last], 1)),
            ],
            routes: Vec::new(),
            socks: Vec::new(),
            forward: None,
            input: None,
            output: None,
            nat: Vec::new(),
        });
        gateway[last] = 1;
        for (v6, ok) in [(false, nets[last].fam.v4()), (true, nets[last].fam.v6())] {
            let shared_has = if v6 {
                nets[shared].fam.v6()
            } else {
                nets[shared].fam.v4()
            };
            if ok && shared_has {
                let cidr = nets[last]
                    .cidrs()
                    .into_iter()
                    .find(|c| c.contains(':') == v6)
                    .expect("the family is there");
                let via = if r.chance(0.5) {
                    "r1".to_string()
                } else {
                    hosts[1].addr_on(shared, v6).expect("r1 has it").to_string()
                };
                hosts[0].routes.push(format!("{cidr} via {via}"));
            }
        }
    }
    if r.chance(0.3) {
        hosts[0]
            .routes
            .push(format!("blackhole 10.{}.0.0/16", r.range(100, 200)));
    }
    let routers = hosts.len();

    // End hosts.
    let total = r.range(3, 8).max(routers + 1);
    for k in routers..total {
        let n = r.below(nnets);
        let hnum = 10 + k as u8;
        let mut ifaces = vec![(n, addrs_on(&nets[n], hnum))];
        if nnets > 1 && r.chance(0.15) {
            let m = (n + 1 + r.below(nnets - 1)) % nnets;
            ifaces.push((m, addrs_on(&nets[m], hnum)));
        }
        hosts.push(SHost {
            name: format!("h{k}"),
            router: false,
            ifaces,
            routes: Vec::new(),
            socks: Vec::new(),
            forward: None,
            input: None,
            output: None,
            nat: Vec::new(),
        });
    }

    // Random routes on end hosts.
    for k in routers..hosts.len() {
        let (n, _) = hosts[k].ifaces[0].clone();
        if nets[n].catch_all || !r.chance(0.35) {
            continue;
        }
        let g = gateway[n];
        match r.below(4) {
            0 => {
                // A route to another network via the gateway, by name or address.
                let other = r.below(nnets);
                if other == n || nets[other].catch_all {
                    continue;
                }
                for v6 in [false, true] {
                    let fam_ok = |f: Fam| if v6 { f.v6() } else { f.v4() };
                    if fam_ok(nets[other].fam) && fam_ok(nets[n].fam) {
                        let cidr = nets[other]
                            .cidrs()
                            .into_iter()
                            .find(|c| c.contains(':') == v6)
                            .expect("family");
                        let via = if r.chance(0.5) {
                            hosts[g].name.clone()
                        } else {
                            hosts[g]
                                .addr_on(n, v6)
                                .expect("router has the family")
                                .to_string()
                        };
                        hosts[k].routes.push(format!("{cidr} via {via}"));
                    }
                }
            }
            1 => {
                let b = r.range(1, 250);
                hosts[k].routes.push(format!("172.16.{b}.0/24 blackhole"));
            }
            2 => {
                let name = nets[n].name.clone();
                let b = r.range(1, 250);
                hosts[k].routes.push(format!("10.250.{b}.0/24 dev {name}"));
            }
            _ => {
                if nets[n].fam.v4() {
                    let via = hosts[g]
                        .addr_on(n, false)
                        .expect("router has v4")
                        .to_string();
                    hosts[k].routes.push(format!("default via {via}"));
                }
            }
        }
    }

    // Sockets.
    const COMMON: [(&str, u16, &str); 12] = [
        ("tcp", 22, "ssh"),
        ("tcp", 80, "http"),
        ("tcp", 443, "https"),
        ("tcp", 5432, "postgres"),
        ("tcp", 6379, "redis"),
        ("tcp", 8080, "http"),
        ("tcp", 3306, "mysql"),
        ("udp", 53, "dns"),
        ("udp", 123, "ntp"),
        ("udp", 514, "syslog"),
        ("tcp", 25, "smtp"),
        ("tcp", 9100, "metrics"),
    ];
    for host in hosts.iter_mut().skip(routers) {
        let n = r.range(1, 4);
        let own: Vec<std::net::IpAddr> = host.addrs().collect();
        let mut socks: Vec<Sock> = Vec::new();
        for _ in 0..n {
            let (proto, port, app) = if r.chance(0.6) {
                *r.pick(&COMMON)
            } else {
                (
                    if r.chance(0.8) { "tcp" } else { "udp" },
                    r.range(1, 65535) as u16,
                    "custom",
                )
            };
            if socks.iter().any(|s| s.proto == proto && s.port == port) {
                continue;
            }
            let bind = match r.weighted(&[6, 2, 1, 2]) {
                1 => Some("127.0.0.1".to_string()),
                2 => Some("::1".to_string()),
                3 => Some(r.pick(&own).to_string()),
                _ => None,
            };
            let tls = (proto == "tcp" && (port == 443 || r.chance(0.1)))
                .then(|| format!("{}.lab", host.name));
            socks.push(Sock {
                proto,
                port,
                bind,
                app: app.to_string(),
                tls,
            });
        }
        host.socks = socks;
    }

    // Filters.
    let nfilters = r.range(1, 3);
    let host_names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let net_names: Vec<String> = nets.iter().map(|n| n.name.clone()).collect();
    let mut filters: Vec<(String, bool, &'static str, Vec<String>)> = Vec::new();
    for f in 0..nfilters {
        let stateful = r.chance(0.6);
        let default = *r.pick(&["allow", "drop", "drop", "reject"]);
        let count = r.range(5, 30);
        let mut rules = Vec::new();
        for _ in 0..count {
            rules.push(small_rule(r, stateful, &host_names, &net_names, &nets));
        }
        filters.push((format!("f{f}"), stateful, default, rules));
    }
    // f0 is r0's forward filter; the others go on random hosts.
    hosts[0].forward = Some("f0".into());
    for (f, _, _, _) in filters.iter().skip(1) {
        let k = r.below(hosts.len());
        let h = &mut hosts[k];
        match r.below(3) {
            0 if h.router && h.forward.is_none() => h.forward = Some(f.clone()),
            0 | 1 => h.input = Some(f.clone()),
            _ => h.output = Some(f.clone()),
        }
    }

    // NAT on r0.
    let r0_nets_with = |v6: bool| -> Vec<usize> {
        r0_nets
            .iter()
            .copied()
            .filter(|&n| {
                if v6 {
                    nets[n].fam.v6()
                } else {
                    nets[n].fam.v4()
                }
            })
            .collect()
    };
    if r0_nets.len() >= 2 {
        let out = r0_nets[r.below(r0_nets.len())];
        let from = *r.pick(
            &r0_nets
                .iter()
                .copied()
                .filter(|&n| n != out)
                .collect::<Vec<_>>(),
        );
        match r.below(3) {
            0 => hosts[0].nat.push(format!(
                "masquerade from {} out {}",
                nets[from].name, nets[out].name
            )),
            1 => {
                let v6 = nets[out].fam == Fam::V6 || (nets[out].fam == Fam::Dual && r.chance(0.5));
                let to = hosts[0].addr_on(out, v6).expect("r0 has the family");
                hosts[0].nat.push(format!(
                    "snat from {} out {} -> {to}",
                    nets[from].name, nets[out].name
                ));
            }
            _ => {}
        }
    }
    if r.chance(0.6) {
        // A port-forward: an address of r0 to a host that has that family.
        let v6 = r.chance(0.4);
        let cands = r0_nets_with(v6);
        let targets: Vec<usize> = (routers..hosts.len())
            .filter(|&k| hosts[k].first(v6).is_some())
            .collect();
        if !cands.is_empty() && !targets.is_empty() {
            let n = cands[r.below(cands.len())];
            let to = hosts[0].addr_on(n, v6).expect("family");
            let t = targets[r.below(targets.len())];
            let tport = hosts[t]
                .socks
                .iter()
                .find(|s| s.proto == "tcp")
                .map(|s| s.port)
                .unwrap_or(80);
            let port = r.range(1024, 65000);
            let rule = format!(
                "dnat tcp to {to} port {port} in {} -> {}:{tport}",
                nets[n].name, hosts[t].name
            );
            hosts[0].nat.push(rule);
        }
    }

    // Reverse proxies and sources that stand for a network, from a random
    // stream of their own: everything above, and every draw below, is what
    // it was before they existed.
    let extras = small_extras(seed, &hosts, routers, &nets);

    // Text.
    let mut out = String::new();
    let _ = writeln!(out, "name: synth-small-{seed}");
    let _ = writeln!(
        out,
        "about: A random small network generated by pathproof_core::synth (seed {seed})."
    );
    out.push_str("networks:\n");
    // Some networks send their hosts' traffic through the gateway (a stream
    // of its own, so that no other part of any seed changed).
    let mut through = SplitMix64::new(seed ^ 0x7669_612d_6777_2121);
    for (i, n) in nets.iter().enumerate() {
        let cidrs: Vec<String> = n.cidrs().iter().map(|c| q(c)).collect();
        let _ = write!(
            out,
            "  {}: {{ cidr: [{}], gateway: {}, dns: lab",
            n.name,
            cidrs.join(", "),
            hosts[gateway[i]].name
        );
        if n.catch_all {
            out.push_str(", trust: untrusted");
        } else if through.chance(0.2) {
            out.push_str(", via-gateway: true");
        }
        out.push_str(" }\n");
    }
    out.push_str("hosts:\n");
    for h in &hosts {
        let _ = writeln!(out, "  {}:", h.name);
        if h.router {
            out.push_str("    router: true\n");
            if r.chance(0.3) {
                let _ = writeln!(
                    out,
                    "    rp_filter: {}",
                    r.pick(&["loose", "off", "strict"])
                );
            }
        }
        out.push_str("    at:\n");
        for (n, addrs) in &h.ifaces {
            let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                out,
                "      - {}",
                q(&format!("{} {}", nets[*n].name, a.join(" ")))
            );
        }
        if !h.routes.is_empty() {
            out.push_str("    routes:\n");
            for rt in &h.routes {
                let _ = writeln!(out, "      - {}", q(rt));
            }
        }
        if let Some(f) = &h.forward {
            let _ = writeln!(out, "    filter: {f}");
        }
        if let Some(f) = &h.input {
            let _ = writeln!(out, "    input: {f}");
        }
        if let Some(f) = &h.output {
            let _ = writeln!(out, "    output: {f}");
        }
        if !h.nat.is_empty() {
            out.push_str("    nat:\n");
            for x in &h.nat {
                let _ = writeln!(out, "      - {}", q(x));
            }
        }
        if !h.socks.is_empty() {
            let l: Vec<String> = h.socks.iter().map(|s| q(&s.line())).collect();
            let _ = writeln!(out, "    listen: [{}]", l.join(", "));
        }
        for (k, proxy) in &extras.proxies {
            if hosts[*k].name == h.name {
                let _ = writeln!(out, "    proxy: {proxy}");
            }
        }
    }
    out.push_str("dns:\n  lab:\n");
    for h in &hosts {
        let a: Vec<String> = h.addrs().map(|a| q(&a.to_string())).collect();
        let _ = writeln!(out, "    {}.lab: [{}]", h.name, a.join(", "));
    }
    let target = &hosts[r.range(routers, hosts.len() - 1)].name;
    let _ = writeln!(out, "    www.lab: {{ cname: {target}.lab }}");
    if r.chance(0.3) {
        out.push_str("    old.lab: \"cname gone.lab\"\n");
    }
    out.push_str("filters:\n");
    for (name, stateful, default, rules) in &filters {
        write_filter(&mut out, name, "generated", *stateful, default, rules);
    }
    out.push_str("expect:\n");
    for _ in 0..r.range(1, 3) {
        let a = &host_names[r.below(host_names.len())];
        let b = &hosts[r.range(routers, hosts.len() - 1)];
        let port = b.socks.first().map(|s| s.port).unwrap_or(80);
        let verb = if r.chance(0.5) { "allow" } else { "deny" };
        let _ = writeln!(
            out,
            "  - {}",
            q(&format!("{verb} {a} -> {}:{port}", b.name))
        );
    }
    for e in &extras.expect {
        let _ = writeln!(out, "  - {}", q(e));
    }
    let _ = writeln!(
        out,
        "  - {}",
        q(&format!("isolated {} inbound", net_names[r.below(nnets)]))
    );
    out.push_str("variants:\n  break:\n    why: Someone allowed everything at the top of f0.\n");
    out.push_str(
        "    filters:\n      f0:\n        insert:\n          - \"allow from any to any\"\n",
    );
    out.push_str(
        "  harden:\n    why: f0 drops by default and protects one host; r0 checks sources.\n",
    );
    let victim = &hosts[r.range(routers, hosts.len() - 1)].name;
    out.push_str("    filters:\n      f0:\n        default: drop\n        insert:\n");
    let _ = writeln!(
        out,
        "          - {}",
        q(&format!("drop from any to {victim}"))
    );
    out.push_str("    hosts:\n      r0:\n        rp_filter: strict\n");
    out
}

/// What `small` adds from a random stream of its own (seeded from the seed),
/// drawn after everything else, so that the rest of each seed's scenario is
/// what it was before these existed.
struct SmallExtras {
    /// Reverse proxies: (host index, the `proxy:` mapping).
    proxies: Vec<(usize, String)>,
    /// Expectations whose source is a network, which the model (and the
    /// lab) send from a stand-in.
    expect: Vec<String>,
}

/// Reverse proxies for some seeds: a chain of one to three ending at a
/// socket chosen at random (maybe a proxy met before: a loop), a proxy
/// whose upstream is itself, two whose upstreams are each other, or a ring
/// of one or two entered from a proxy beside it. Each listens on one of its
/// host's TCP sockets, and each upstream is a host and port with a TCP
/// socket. And for most seeds, one or two expectations from a network
/// (mostly the catch-all `internet`) to a socket, and one to the address a
/// DNAT publishes.
fn small_extras(seed: u64, hosts: &[SHost], routers: usize, nets: &[SNet]) -> SmallExtras {
    let mut rng = SplitMix64::new(seed ^ 0x7072_6f78_6965_7321);
    let r = &mut rng;
    let mut proxies = Vec::new();
    // The hosts with a TCP socket, and those sockets' ports.
    let tcp: Vec<(usize, Vec<u16>)> = (routers..hosts.len())
        .filter_map(|k| {
            let ports: Vec<u16> = hosts[k]
                .socks
                .iter()
                .filter(|s| s.proto == "tcp")
                .map(|s| s.port)
                .collect();
            (!ports.is_empty()).then_some((k, ports))
        })
        .collect();
    if !tcp.is_empty() && r.chance(0.45) {
        let n = tcp.len();
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, r.below(i + 1));
        }
        let port_of = |r: &mut SplitMix64, c: usize| -> u16 { *r.pick(&tcp[c].1) };
        // The proxies in the order a request meets them, and where the
        // last one sends it.
        let mut chain: Vec<(usize, u16)> = Vec::new();
        let end: (usize, u16) = match r.below(4) {
            0 => {
                for &c in &order[..r.range(1, n.min(3))] {
                    chain.push((c, port_of(r, c)));
                }
                let c = r.below(n);
                (c, port_of(r, c))
            }
            2 if n >= 2 => {
                for &c in &order[..2] {
                    chain.push((c, port_of(r, c)));
                }
                chain[0]
            }
            3 if n >= 2 => {
                let ring = r.range(1, (n - 1).min(2));
                for &c in &order[..1 + ring] {
                    chain.push((c, port_of(r, c)));
                }
                chain[1]
            }
            _ => {
                let c = order[0];
                chain.push((c, port_of(r, c)));
                chain[0]
            }
        };
        for (i, &(c, port)) in chain.iter().enumerate() {
            let (uc, up) = chain.get(i + 1).copied().unwrap_or(end);
            let mode = match r.below(5) {
                0 => ", forwarded_for: overwrite",
                1 => ", forwarded_for: pass",
                2 => ", forwarded_for: strip",
                _ => "",
            };
            proxies.push((
                tcp[c].0,
                format!(
                    "{{ port: {port}, mode: reverse, upstream: \"{}:{up}\"{mode} }}",
                    hosts[tcp[uc].0].name
                ),
            ));
        }
    }
    let mut expect = Vec::new();
    let socks: Vec<(usize, &Sock)> = (routers..hosts.len())
        .flat_map(|k| hosts[k].socks.iter().map(move |s| (k, s)))
        .collect();
    if !socks.is_empty() && r.chance(0.7) {
        let catch_all = nets.iter().position(|n| n.catch_all);
        for _ in 0..r.range(1, 2) {
            let net = match catch_all {
                Some(i) if r.chance(0.75) => i,
                _ => r.below(nets.len()),
            };
            let (k, s) = socks[r.below(socks.len())];
            let verb = if r.chance(0.5) { "allow" } else { "deny" };
            let proto = if s.proto == "udp" { "udp " } else { "" };
            expect.push(format!(
                "{verb} {proto}{} -> {}:{}",
                nets[net].name, hosts[k].name, s.port
            ));
        }
        // The address and port a DNAT publishes, from the network it
        // listens on: "dnat tcp to ADDR port PORT in NET -> HOST:PORT".
        let dnat = hosts[0].nat.iter().find_map(|x| {
            let w: Vec<&str> = x.split_whitespace().collect();
            match w.as_slice() {
                ["dnat", "tcp", "to", a, "port", p, "in", net, ..] => Some((*a, *p, *net)),
                _ => None,
            }
        });
        if let Some((a, p, net)) = dnat {
            if r.chance(0.5) {
                let a = if a.contains(':') {
                    format!("[{a}]")
                } else {
                    a.to_string()
                };
                expect.push(format!("allow {net} -> {a}:{p}"));
            }
        }
    }
    SmallExtras { proxies, expect }
}

fn small_addrs(
    r: &mut SplitMix64,
    hosts: &[String],
    net_names: &[String],
    nets: &[SNet],
) -> String {
    let one = |r: &mut SplitMix64| -> String {
        match r.below(7) {
            0 => "any".into(),
            1 | 2 => r.pick(net_names).clone(),
            3 | 4 => r.pick(hosts).clone(),
            5 => {
                let n = r.pick(nets);
                if n.catch_all {
                    "198.51.100.0/24".into()
                } else if n.fam.v4() {
                    format!("{}/{}", n.p4, *r.pick(&[24u8, 24, 25, 28]))
                } else {
                    format!("{}/64", n.p6)
                }
            }
            _ => {
                let n = r.pick(nets);
                if n.fam.v6() && r.chance(0.5) {
                    n.addr6(r.range(1, 20) as u16).to_string()
                } else {
                    n.addr4(r.range(1, 20) as u8).to_string()
                }
            }
        }
    };
    let mut s = String::new();
    if r.chance(0.1) {
        s.push_str("not ");
    }
    s.push_str(&one(r));
    if r.chance(0.2) {
        s.push(',');
        s.push_str(&one(r));
    }
    s
}

fn small_rule(
    r: &mut SplitMix64,
    stateful: bool,
    hosts: &[String],
    net_names: &[String],
    nets: &[SNet],
) -> String {
    let action = *r.pick(&["allow", "allow", "drop", "reject"]);
    let mut s = action.to_string();
    let proto = *r.pick(&["", "tcp", "tcp", "udp", "icmp"]);
    if !proto.is_empty() {
        s.push(' ');
        s.push_str(proto);
    }
    let ports = proto == "tcp" || proto == "udp" || (proto.is_empty() && r.chance(0.2));
    if r.chance(0.7) {
        s.push_str(" from ");
        s.push_str(&small_addrs(r, hosts, net_names, nets));
        if ports && r.chance(0.1) {
            let _ = write!(s, " port {}-65535", r.range(1024, 40000));
        }
    }
    if r.chance(0.8) {
        s.push_str(" to ");
        s.push_str(&small_addrs(r, hosts, net_names, nets));
    }
    if ports && r.chance(0.7) {
        let _ = match r.below(3) {
            0 => write!(s, " port {}", r.pick(&[22u16, 53, 80, 443, 5432, 8080])),
            1 => write!(s, " port {},{}", r.range(1, 1023), r.range(1024, 65535)),
            _ => {
                let lo = r.range(1, 60000);
                write!(s, " port {lo}-{}", lo + r.range(0, 5000))
            }
        };
    }
    if r.chance(0.1) {
        let _ = write!(s, " in {}", r.pick(net_names));
    }
    if r.chance(0.1) {
        let _ = write!(s, " out {}", r.pick(net_names));
    }
    if stateful && r.chance(0.1) {
        s.push_str(" state ");
        let state: &&str = r.pick(&["new", "established", "new,established", "invalid"]);
        s.push_str(state);
    }
    if action == "reject" && r.chance(0.3) {
        let with: &&str = r.pick(&[
            " with tcp-reset",
            " with admin-prohibited",
            " with port-unreachable",
        ]);
        s.push_str(with);
    }
    s
}

// ---------------------------------------------------------------------------
// Random expectations and rule changes (the incremental re-check's tests and
// bench)
// ---------------------------------------------------------------------------

fn expectation_places(scn: &Scenario) -> Vec<Place> {
    let mut v: Vec<Place> = Vec::new();
    for h in &scn.hosts {
        v.push(Place::Host(h.name.clone()));
        if let Some(a) = h.interfaces.iter().flat_map(|i| i.addrs.iter()).next() {
            v.push(Place::Address(*a));
        }
    }
    for n in &scn.networks {
        v.push(Place::Network(n.name.clone()));
    }
    for view in &scn.dns {
        for r in view.records.iter().take(2) {
            v.push(Place::Name(r.name.clone()));
        }
    }
    v
}

/// `n` random expectations: allow, deny, only and isolated lines about
/// hosts, addresses, networks and names.
pub fn random_expectations(scn: &Scenario, rng: &mut SplitMix64, n: usize) -> Vec<Expectation> {
    let places = expectation_places(scn);
    let sources: Vec<Place> = places
        .iter()
        .filter(|p| !matches!(p, Place::Name(_)))
        .cloned()
        .collect();
    let mut ports: Vec<u16> = scn
        .hosts
        .iter()
        .flat_map(|h| h.sockets.iter().map(|s| s.port))
        .collect();
    ports.extend([22, 443]);
    ports.sort();
    ports.dedup();
    let origin = scn.hosts[0].origin.clone();
    (0..n)
        .map(|_| {
            let proto = match rng.below(10) {
                0 => Proto::Udp,
                1 => Proto::Icmp,
                _ => Proto::Tcp,
            };
            let port = (proto != Proto::Icmp && rng.chance(0.9)).then(|| *rng.pick(&ports));
            let from = rng.pick(&sources).clone();
            let to = rng.pick(&places).clone();
            let kind = match rng.below(6) {
                0 | 1 => ExpectKind::Allow {
                    from,
                    to,
                    proto,
                    port,
                },
                2 | 3 => ExpectKind::Deny {
                    from,
                    to,
                    proto,
                    port,
                },
                4 => {
                    let mut from = vec![from];
                    if rng.chance(0.5) {
                        from.push(rng.pick(&sources).clone());
                    }
                    ExpectKind::Only {
                        from,
                        to,
                        proto,
                        port,
                    }
                }
                _ => ExpectKind::Isolated {
                    network: rng.pick(&scn.networks).name.clone(),
                    direction: ["inbound", "outbound", "both"][rng.below(3)].to_string(),
                },
            };
            Expectation {
                text: format!("{kind:?}"),
                kind,
                origin: origin.clone(),
            }
        })
        .collect()
}

/// One random change of one rule: removed, added (a copy of a rule of any
/// filter, its action flipped or not) or changed (its action, or its match
/// taken from another rule with another match), in a random filter with
/// rules. The new scenario always differs from `scn`.
pub fn change_one_rule(scn: &Scenario, rng: &mut SplitMix64) -> Option<(Scenario, String)> {
    let with_rules: Vec<usize> = (0..scn.filters.len())
        .filter(|&i| !scn.filters[i].rules.is_empty())
        .collect();
    if with_rules.is_empty() {
        return None;
    }
    let all_rules: Vec<&Rule> = scn.filters.iter().flat_map(|f| f.rules.iter()).collect();
    let mut new = scn.clone();
    let fi = *rng.pick(&with_rules);
    let f = &mut new.filters[fi];
    let ri = rng.below(f.rules.len());
    let flip = |a: Action| match a {
        Action::Allow => Action::Drop,
        _ => Action::Allow,
    };
    let what = match rng.below(4) {
        0 => {
            f.rules.remove(ri);
            "remove"
        }
        1 => {
            let mut r = (*rng.pick(&all_rules)).clone();
            if rng.chance(0.5) {
                r.action = flip(r.action);
            }
            f.rules.insert(rng.below(f.rules.len() + 1), r);
            "add"
        }
        2 => {
            f.rules[ri].action = flip(f.rules[ri].action);
            "flip"
        }
        _ => {
            // Another rule's match, never the one it has (a change that
            // changes nothing is not a change of one rule).
            let other: Vec<&&Rule> = all_rules
                .iter()
                .filter(|r| r.matches != f.rules[ri].matches)
                .collect();
            if other.is_empty() {
                f.rules[ri].action = flip(f.rules[ri].action);
                "flip"
            } else {
                f.rules[ri].matches = rng.pick(&other).matches.clone();
                "rematch"
            }
        }
    };
    let what = format!("{what} rule {ri} of filter {}", f.name);
    Some((new, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every change is a change: the incremental tests assert that a
    /// change of one rule changes one filter (a rule given back its own
    /// match changed nothing, and one CI run failed on it).
    #[test]
    fn a_change_of_one_rule_always_changes_the_scenario() {
        for seed in 1..6u64 {
            let text = large(&SynthParams::sized(seed, 40));
            let mut scn = crate::load::load("g.yaml", &text, None).expect("generated");
            let mut rng = SplitMix64::new(seed);
            for _ in 0..200 {
                let (next, what) = change_one_rule(&scn, &mut rng).expect("rules to change");
                assert_ne!(next.filters, scn.filters, "seed {seed}: {what}");
                scn = next;
            }
        }
        // A filter whose rules all match alike: a rematch cannot change a
        // rule's match, so the rule changes another way.
        let mut one = crate::load::load(
            "one.yaml",
            "networks:\n  n: { cidr: 10.0.0.0/24 }\nhosts:\n  a: { at: n 10.0.0.1, input: f }\nfilters:\n  f:\n    default: drop\n    rules:\n      - allow tcp from any to any port 22\n      - allow tcp from any to any port 22\n",
            None,
        )
        .expect("loads");
        let mut rng = SplitMix64::new(7);
        for _ in 0..50 {
            let (next, what) = change_one_rule(&one, &mut rng).expect("rules to change");
            assert_ne!(next.filters, one.filters, "{what}");
            if next.filters[0].rules.len() == 2 {
                one = next;
            }
        }
    }
}
