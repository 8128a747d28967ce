//! The `traffic:` section: flows over time, kernel settings per host,
//! listeners, links and rate limiters (docs/scenario.md, "traffic"). Read
//! like every other key: unknown keys and names are problems with the
//! nearest valid one suggested, numbers and units are checked, and every
//! declaration keeps its line.

use ipnet::IpNet;
use std::net::IpAddr;

use super::diagnostic::nearest;
use super::grammar::{self, Word};
use super::yaml::{Node, NodeKind};
use super::{sorted_keys, Loader, Names};
use crate::model::traffic::*;
use crate::model::*;

const TRAFFIC_KEYS: &[&str] = &[
    "about",
    "seconds",
    "seed",
    "hosts",
    "listeners",
    "links",
    "limiters",
    "flows",
];
const TUNING_KEYS: &[&str] = &[
    "somaxconn",
    "tcp_max_syn_backlog",
    "tcp_syncookies",
    "tcp_synack_retries",
    "tcp_syn_retries",
    "tcp_no_metrics_save",
    "conntrack_max",
    "conntrack_buckets",
    "conntrack_timeouts",
];
const LISTENER_KEYS: &[&str] = &["backlog", "accept_rate", "service", "about"];
const LINK_KEYS: &[&str] = &["capacity", "queue", "about"];
const LIMITER_COMMON: &[&str] = &["at", "algorithm", "key", "answer", "about"];
const ALGORITHMS: &[&str] = &[
    "fixed-window",
    "sliding-window-log",
    "sliding-window-counter",
    "token-bucket",
    "leaky-bucket",
    "nft-limit",
    "nft-meter",
];
const FLOW_KEYS: &[&str] = &[
    "kind",
    "from",
    "to",
    "via",
    "rate",
    "pattern",
    "every",
    "length",
    "sources",
    "pool",
    "accounts",
    "start",
    "stop",
    "timeout",
    "rtt",
    "size",
    "answer_size",
    "about",
];

/// A mapping's value under `key`.
fn get<'a>(entries: &'a [(Node, Node)], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
        .map(|(_, v)| v)
}

/// `100/s`, `6000/min`, `5/10s`, `10r/s`, or a bare number (per second):
/// how many per second.
pub fn parse_rate(text: &str) -> Option<f64> {
    let t = text.trim();
    let (n, per) = match t.split_once('/') {
        Some((n, per)) => (n.trim().trim_end_matches('r'), per.trim()),
        None => (t, "s"),
    };
    let n: f64 = n.parse().ok()?;
    let seconds = match per {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86400.0,
        other => parse_duration(other)? as f64 / MICROS as f64,
    };
    (n.is_finite() && n >= 0.0 && seconds > 0.0).then_some(n / seconds)
}

/// `10s`, `500ms`, `250us`, `2m`, `1h`, or a bare number of seconds: microseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "second" | "seconds" => 1e6,
        "ms" => 1e3,
        "us" | "µs" => 1.0,
        "m" | "min" | "minute" | "minutes" => 60e6,
        "h" | "hour" | "hours" => 3600e6,
        _ => return None,
    };
    let v = n * scale;
    (v.is_finite() && (0.0..1e15).contains(&v)).then_some(v.round() as u64)
}

/// `1Gbit/s`, `100Mbit/s`, `10kbit/s`, `1Gbps`, `500bit/s`: bits per second.
pub fn parse_bits(text: &str) -> Option<f64> {
    let t = text.trim().replace(' ', "");
    let body = t.strip_suffix("bit/s").or_else(|| t.strip_suffix("bps"))?;
    let (n, scale) = match body.chars().last() {
        Some('k') | Some('K') => (&body[..body.len() - 1], 1e3),
        Some('M') => (&body[..body.len() - 1], 1e6),
        Some('G') => (&body[..body.len() - 1], 1e9),
        Some('T') => (&body[..body.len() - 1], 1e12),
        _ => (body, 1.0),
    };
    let n: f64 = n.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some(n * scale)
}

/// nginx's `rate=10r/s` or `rate=30r/m`, kept as nginx keeps it: requests
/// per second × 1000, in whole numbers.
fn nginx_rate(text: &str) -> Option<u64> {
    let t = text.trim();
    let (n, per_minute) = if let Some(n) = t.strip_suffix("r/m").or_else(|| t.strip_suffix("/min"))
    {
        (n, true)
    } else if let Some(n) = t.strip_suffix("r/s").or_else(|| t.strip_suffix("/s")) {
        (n, false)
    } else {
        (t, false)
    };
    let n: u64 = n.trim().parse().ok()?;
    let milli = if per_minute { n * 1000 / 60 } else { n * 1000 };
    (milli > 0).then_some(milli)
}

fn nft_rate(text: &str) -> Option<(u64, u64)> {
    let (n, unit) = text.trim().split_once('/')?;
    let n: u64 = n.trim().parse().ok()?;
    let unit_s = match unit.trim() {
        "second" | "s" => 1,
        "minute" | "min" | "m" => 60,
        "hour" | "h" => 3600,
        "day" | "d" => 86400,
        _ => return None,
    };
    (n > 0).then_some((n, unit_s))
}

impl Loader<'_> {
    fn text_of(&mut self, node: &Node, what: &str) -> Option<String> {
        self.scalar(node, what).map(|s| s.trim().to_string())
    }

    fn whole(&mut self, node: &Node, what: &str, range: (u64, u64)) -> Option<u64> {
        let ok = match &node.kind {
            NodeKind::Int(i) if *i >= range.0 as i64 && (*i as u64) <= range.1 => Some(*i as u64),
            NodeKind::Str(s) => s
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= range.0 && *v <= range.1),
            _ => None,
        };
        if ok.is_none() {
            self.problem(
                node.span,
                format!(
                    "{what} must be a whole number from {} to {}",
                    range.0, range.1
                ),
                format!(
                    "not {}",
                    node.scalar_text().unwrap_or_else(|| node.describe().into())
                ),
                None,
            );
        }
        ok
    }

    fn rate_of(&mut self, node: &Node, what: &str) -> Option<f64> {
        let text = self.text_of(node, what)?;
        let r = parse_rate(&text).filter(|r| *r > 0.0);
        if r.is_none() {
            self.problem(
                node.span,
                format!("`{text}` is not a rate"),
                "expected a positive number per unit of time",
                Some("write it like `100/s`, `6000/min` or `5/10s`".into()),
            );
        }
        r
    }

    fn duration_of(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.text_of(node, what)?;
        let d = parse_duration(&text);
        if d.is_none() {
            self.problem(
                node.span,
                format!("`{text}` is not a duration"),
                format!("{what}: expected a time"),
                Some("write it like `10s`, `500ms` or `2m`".into()),
            );
        }
        d
    }

    fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<T> {
        let text = self.text_of(node, what)?;
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == text) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let help = nearest(&text, names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some(format!("one of: {}", names.join(", "))));
        self.problem(
            node.span,
            format!("unknown {what} `{text}`"),
            format!("expected {}", names.join(", ")),
            help,
        );
        None
    }

    fn host_word(&mut self, w: &Word, names: &Names) -> Option<HostId> {
        match names.hosts.get(&w.text) {
            Some(id) => Some(*id),
            None => {
                self.unknown_name(w, "host", sorted_keys(&names.hosts));
                None
            }
        }
    }

    /// `HOST:PORT` of a TCP socket the host listens on.
    fn socket_word(
        &mut self,
        w: &Word,
        names: &Names,
        hosts: &[Host],
        what: &str,
    ) -> Option<(HostId, u16)> {
        let (place, port) = match grammar::split_place_port(w) {
            Ok(x) => x,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        let host = self.host_word(&place, names)?;
        let Some(port) = port else {
            self.problem(
                w.span,
                format!("{what} `{}` has no port", w.text),
                "expected HOST:PORT",
                Some(format!("write `{}:PORT`", w.text)),
            );
            return None;
        };
        let h = &hosts[host.index()];
        if !h
            .sockets
            .iter()
            .any(|s| s.proto == Proto::Tcp && s.port == port)
        {
            let ports: Vec<String> = h
                .sockets
                .iter()
                .filter(|s| s.proto == Proto::Tcp)
                .map(|s| format!("{}:{}", h.name, s.port))
                .collect();
            self.problem(
                w.span,
                format!("nothing on `{}` listens on tcp/{port}", h.name),
                "expected a TCP socket of the host",
                Some(if ports.is_empty() {
                    format!("add `tcp/{port}` to the `listen:` of `{}`", h.name)
                } else {
                    format!("its TCP sockets: {}", ports.join(", "))
                }),
            );
            return None;
        }
        Some((host, port))
    }

    fn key_word(&self, k: &Node) -> Word {
        let text = k.scalar_text().unwrap_or_default();
        let mut ws = grammar::words(&text, k, self.text);
        if ws.len() == 1 {
            ws.pop().expect("one word")
        } else {
            Word {
                text: text.trim().to_string(),
                span: k.span,
            }
        }
    }

    pub(super) fn traffic(
        &mut self,
        node: &Node,
        names: &Names,
        networks: &[Network],
        hosts: &[Host],
        views: &[DnsView],
    ) -> Option<Traffic> {
        let entries = self.map(node, "traffic").to_vec();
        self.check_keys(&entries, TRAFFIC_KEYS, "traffic");
        let before = self.problems.len();
        let seconds = match get(&entries, "seconds") {
            Some(n) => self.whole(n, "seconds", (1, 3600)).unwrap_or(30) as u32,
            None => 30,
        };
        let seed = match get(&entries, "seed") {
            Some(n) => self.whole(n, "seed", (0, u64::MAX >> 1)).unwrap_or(1),
            None => 1,
        };
        let mut t = Traffic {
            seconds,
            seed,
            hosts: Vec::new(),
            listeners: Vec::new(),
            links: Vec::new(),
            limiters: Vec::new(),
            flows: Vec::new(),
            origin: self.origin(node.span),
        };
        if let Some(n) = get(&entries, "hosts") {
            for (k, v) in self.map(n, "traffic hosts").to_vec() {
                if let Some(h) = self.tuning(&k, &v, names) {
                    t.hosts.push(h);
                }
            }
        }
        if let Some(n) = get(&entries, "listeners") {
            for (k, v) in self.map(n, "traffic listeners").to_vec() {
                if let Some(l) = self.listener(&k, &v, names, hosts) {
                    t.listeners.push(l);
                }
            }
        }
        if let Some(n) = get(&entries, "links") {
            for (k, v) in self.map(n, "traffic links").to_vec() {
                if let Some(l) = self.link(&k, &v, names, hosts) {
                    t.links.push(l);
                }
            }
        }
        if let Some(n) = get(&entries, "limiters") {
            for (k, v) in self.map(n, "traffic limiters").to_vec() {
                if let Some(l) = self.limiter(&k, &v, names, hosts) {
                    t.limiters.push(l);
                }
            }
        }
        if let Some(n) = get(&entries, "flows") {
            for (k, v) in self.map(n, "traffic flows").to_vec() {
                if let Some(f) = self.flow(&k, &v, names, networks, views) {
                    t.flows.push(f);
                }
            }
        }
        (self.problems.len() == before).then_some(t)
    }

    fn tuning(&mut self, k: &Node, v: &Node, names: &Names) -> Option<HostTuning> {
        let w = self.key_word(k);
        let host = self.host_word(&w, names)?;
        let mut t = HostTuning::defaults(host);
        t.origin = Some(self.origin(k.span));
        let context = format!("the traffic settings of host `{}`", w.text);
        let entries = self.map(v, &context).to_vec();
        self.check_keys(&entries, TUNING_KEYS, &context);
        for (key, val) in &entries {
            let name = key.scalar_text().unwrap_or_default();
            match name.as_str() {
                "somaxconn" => {
                    t.somaxconn = self.whole(val, "somaxconn", (1, 1 << 24)).unwrap_or(4096) as u32
                }
                "tcp_max_syn_backlog" => {
                    t.tcp_max_syn_backlog = self
                        .whole(val, "tcp_max_syn_backlog", (1, 1 << 24))
                        .unwrap_or(2048) as u32
                }
                "tcp_syncookies" => {
                    t.tcp_syncookies = self.whole(val, "tcp_syncookies", (0, 2)).unwrap_or(1) as u8
                }
                "tcp_synack_retries" => {
                    t.tcp_synack_retries =
                        self.whole(val, "tcp_synack_retries", (0, 255)).unwrap_or(5) as u8
                }
                "tcp_syn_retries" => {
                    t.tcp_syn_retries =
                        self.whole(val, "tcp_syn_retries", (1, 127)).unwrap_or(6) as u8
                }
                "tcp_no_metrics_save" => {
                    t.tcp_no_metrics_save =
                        self.whole(val, "tcp_no_metrics_save", (0, 1)).unwrap_or(0) == 1
                }
                "conntrack_max" => {
                    t.conntrack_max = self
                        .whole(val, "conntrack_max", (1, 1 << 28))
                        .unwrap_or(262_144) as u32
                }
                "conntrack_buckets" => {
                    t.conntrack_buckets = self
                        .whole(val, "conntrack_buckets", (1, 1 << 28))
                        .unwrap_or(262_144) as u32
                }
                "conntrack_timeouts" => {
                    let ctx = format!("the conntrack timeouts of `{}`", w.text);
                    let te = self.map(val, &ctx).to_vec();
                    self.check_keys(&te, &CONNTRACK_TIMEOUT_KEYS, &ctx);
                    for (tk, tv) in &te {
                        let tname = tk.scalar_text().unwrap_or_default();
                        if let Some(us) = self.duration_of(tv, &tname) {
                            t.conntrack_timeouts
                                .set(&tname, (us / MICROS).max(1) as u32);
                        }
                    }
                }
                _ => {}
            }
        }
        Some(t)
    }

    fn listener(
        &mut self,
        k: &Node,
        v: &Node,
        names: &Names,
        hosts: &[Host],
    ) -> Option<ListenerSpec> {
        let w = self.key_word(k);
        let (host, port) = self.socket_word(&w, names, hosts, "a listener")?;
        let context = format!("listener `{}`", w.text);
        let entries = self.map(v, &context).to_vec();
        self.check_keys(&entries, LISTENER_KEYS, &context);
        let backlog = match get(&entries, "backlog") {
            Some(n) => self.whole(n, "backlog", (1, 1 << 24))? as u32,
            None => DEFAULT_BACKLOG,
        };
        let accept_rate = match get(&entries, "accept_rate") {
            Some(n) => Some(self.rate_of(n, "accept_rate")?),
            None => None,
        };
        let service_us = match get(&entries, "service") {
            Some(n) => self.duration_of(n, "service")?,
            None => 1000,
        };
        Some(ListenerSpec {
            host,
            port,
            backlog,
            accept_rate,
            service_us,
            origin: self.origin(k.span),
        })
    }

    fn link(&mut self, k: &Node, v: &Node, names: &Names, hosts: &[Host]) -> Option<LinkSpec> {
        let text = k.scalar_text().unwrap_or_default();
        let ws: Vec<Word> = grammar::words(&text, k, self.text);
        if ws.len() != 2 {
            self.problem(
                k.span,
                format!("`{text}` does not name a link"),
                "expected HOST NETWORK",
                Some("name the host and the network its interface is on: `edge internet`".into()),
            );
            return None;
        }
        let host = self.host_word(&ws[0], names)?;
        let Some(&net) = names.networks.get(&ws[1].text) else {
            self.unknown_name(&ws[1], "network", sorted_keys(&names.networks));
            return None;
        };
        let h = &hosts[host.index()];
        if !h.interfaces.iter().any(|i| i.network == net) {
            let on: Vec<String> = h
                .interfaces
                .iter()
                .map(|i| {
                    names
                        .networks
                        .iter()
                        .find(|(_, id)| **id == i.network)
                        .map(|(n, _)| n.clone())
                        .unwrap_or_default()
                })
                .collect();
            self.problem(
                ws[1].span,
                format!("`{}` is not attached to `{}`", h.name, ws[1].text),
                "a link is a host's interface on a network",
                Some(format!("`{}` is on: {}", h.name, on.join(", "))),
            );
            return None;
        }
        let context = format!("link `{text}`");
        let entries = self.map(v, &context).to_vec();
        self.check_keys(&entries, LINK_KEYS, &context);
        let Some(cap) = get(&entries, "capacity") else {
            self.problem(
                k.span,
                format!("link `{text}` has no `capacity`"),
                "how many bits per second does it carry?",
                Some("add `capacity: 1Gbit/s`".into()),
            );
            return None;
        };
        let cap_text = self.text_of(cap, "capacity")?;
        let Some(capacity_bps) = parse_bits(&cap_text) else {
            self.problem(
                cap.span,
                format!("`{cap_text}` is not a capacity"),
                "expected bits per second",
                Some("write it like `1Gbit/s`, `100Mbit/s` or `10kbit/s`".into()),
            );
            return None;
        };
        let queue_packets = match get(&entries, "queue") {
            Some(n) => self.whole(n, "queue", (1, 1 << 24))? as u32,
            None => 1000,
        };
        Some(LinkSpec {
            host,
            network: net,
            capacity_bps,
            queue_packets,
            text: format!("{} {}", ws[0].text, ws[1].text),
            origin: self.origin(k.span),
        })
    }

    fn limiter(
        &mut self,
        k: &Node,
        v: &Node,
        names: &Names,
        hosts: &[Host],
    ) -> Option<LimiterSpec> {
        let name = k.scalar_text().unwrap_or_default();
        let context = format!("limiter `{name}`");
        let entries = self.map(v, &context).to_vec();
        let Some(alg_node) = get(&entries, "algorithm") else {
            self.check_keys(&entries, LIMITER_COMMON, &context);
            self.problem(
                k.span,
                format!("limiter `{name}` has no `algorithm`"),
                "which algorithm counts?",
                Some(format!("one of: {}", ALGORITHMS.join(", "))),
            );
            return None;
        };
        let alg_name = self.text_of(alg_node, "algorithm")?;
        let own: &[&str] = match alg_name.as_str() {
            "fixed-window" | "sliding-window-log" | "sliding-window-counter" => {
                &["limit", "window"]
            }
            "token-bucket" => &["max_tokens", "tokens_per_fill", "fill_interval"],
            "leaky-bucket" => &["rate", "burst", "delay", "nodelay"],
            "nft-limit" | "nft-meter" => &["rate", "burst"],
            other => {
                let help = nearest(other, ALGORITHMS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("one of: {}", ALGORITHMS.join(", "))));
                self.problem(
                    alg_node.span,
                    format!("unknown algorithm `{other}`"),
                    "not a rate-limiting algorithm pathproof knows",
                    help,
                );
                return None;
            }
        };
        let allowed: Vec<&str> = LIMITER_COMMON.iter().chain(own.iter()).copied().collect();
        self.check_keys(&entries, &allowed, &format!("{context} ({alg_name})"));
        let Some(at) = get(&entries, "at") else {
            self.problem(
                k.span,
                format!("limiter `{name}` has no `at`"),
                "where does it count?",
                Some(
                    "a host (its firewall) or HOST:PORT (the application behind that socket)"
                        .into(),
                ),
            );
            return None;
        };
        let at_text = self.text_of(at, "at")?;
        let at_word = Word {
            text: at_text.clone(),
            span: at.span,
        };
        let place = if at_text.contains(':') {
            let (host, port) = self.socket_word(&at_word, names, hosts, "a limiter's place")?;
            LimiterPlace::Socket { host, port }
        } else {
            LimiterPlace::Host {
                host: self.host_word(&at_word, names)?,
            }
        };
        let need = |l: &mut Self, key: &str, range: (u64, u64)| -> Option<u64> {
            match get(&entries, key) {
                Some(n) => l.whole(n, key, range),
                None => {
                    l.problem(
                        k.span,
                        format!("limiter `{name}` ({alg_name}) needs `{key}`"),
                        format!("`{key}` is missing"),
                        None,
                    );
                    None
                }
            }
        };
        let window = |l: &mut Self| -> Option<u64> {
            match get(&entries, "window") {
                Some(n) => l.duration_of(n, "window").filter(|w| *w > 0),
                None => {
                    l.problem(
                        k.span,
                        format!("limiter `{name}` ({alg_name}) needs `window`"),
                        "`window` is missing",
                        Some("add `window: 10s`".into()),
                    );
                    None
                }
            }
        };
        let algorithm = match alg_name.as_str() {
            "fixed-window" => Algorithm::FixedWindow {
                limit: need(self, "limit", (0, 1 << 30))? as u32,
                window_us: window(self)?,
            },
            "sliding-window-log" => Algorithm::SlidingWindowLog {
                limit: need(self, "limit", (0, 1 << 20))? as u32,
                window_us: window(self)?,
            },
            "sliding-window-counter" => Algorithm::SlidingWindowCounter {
                limit: need(self, "limit", (0, 1 << 30))? as u32,
                window_us: window(self)?,
            },
            "token-bucket" => {
                let max_tokens = need(self, "max_tokens", (1, 1 << 30))? as u32;
                let tokens_per_fill = match get(&entries, "tokens_per_fill") {
                    Some(n) => self.whole(n, "tokens_per_fill", (1, 1 << 30))? as u32,
                    None => 1,
                };
                let fill_interval_us = match get(&entries, "fill_interval") {
                    Some(n) => self.duration_of(n, "fill_interval")?,
                    None => {
                        self.problem(
                            k.span,
                            format!("limiter `{name}` (token-bucket) needs `fill_interval`"),
                            "`fill_interval` is missing",
                            Some("add `fill_interval: 1s`".into()),
                        );
                        return None;
                    }
                };
                if fill_interval_us < 50_000 {
                    let span = get(&entries, "fill_interval")
                        .map(|n| n.span)
                        .unwrap_or(k.span);
                    self.problem(
                        span,
                        "Envoy's fill_interval must be at least 50ms",
                        "too short",
                        None,
                    );
                    return None;
                }
                Algorithm::TokenBucket {
                    max_tokens,
                    tokens_per_fill,
                    fill_interval_us,
                }
            }
            "leaky-bucket" => {
                let Some(rn) = get(&entries, "rate") else {
                    self.problem(
                        k.span,
                        format!("limiter `{name}` (leaky-bucket) needs `rate`"),
                        "`rate` is missing",
                        Some("add `rate: 10r/s` (nginx's `limit_req_zone ... rate=`)".into()),
                    );
                    return None;
                };
                let rate_text = self.text_of(rn, "rate")?;
                // nginx keeps the rate in requests per second × 1000, in whole numbers.
                let rate_milli = nginx_rate(&rate_text);
                let Some(rate_milli) = rate_milli else {
                    self.problem(
                        rn.span,
                        format!("`{rate_text}` is not an nginx rate"),
                        "expected whole requests per second or per minute",
                        Some("write it like `10r/s` or `30r/m`".into()),
                    );
                    return None;
                };
                let burst = match get(&entries, "burst") {
                    Some(n) => self.whole(n, "burst", (0, 1 << 20))? as u32,
                    None => 0,
                };
                let delay = match get(&entries, "delay") {
                    Some(n) => self.whole(n, "delay", (0, 1 << 20))? as u32,
                    None => 0,
                };
                let nodelay = match get(&entries, "nodelay") {
                    Some(n) => self.boolean(n, "nodelay")?,
                    None => false,
                };
                Algorithm::LeakyBucket {
                    rate_milli,
                    burst,
                    delay,
                    nodelay,
                }
            }
            _ => {
                let Some(rn) = get(&entries, "rate") else {
                    self.problem(
                        k.span,
                        format!("limiter `{name}` ({alg_name}) needs `rate`"),
                        "`rate` is missing",
                        Some("add `rate: 10/second` (as nft writes it)".into()),
                    );
                    return None;
                };
                let rate_text = self.text_of(rn, "rate")?;
                let Some((rate, unit_s)) = nft_rate(&rate_text) else {
                    self.problem(
                        rn.span,
                        format!("`{rate_text}` is not an nftables rate"),
                        "expected N/second, N/minute, N/hour or N/day",
                        Some("write it like `10/second`".into()),
                    );
                    return None;
                };
                // nft_limit.c: a packet limit without a burst gets 5.
                let burst = match get(&entries, "burst") {
                    Some(n) => self.whole(n, "burst", (0, 1 << 20))? as u32,
                    None => 0,
                };
                let burst = if burst == 0 { 5 } else { burst };
                if alg_name == "nft-limit" {
                    Algorithm::NftLimit {
                        rate,
                        unit_s,
                        burst,
                    }
                } else {
                    Algorithm::NftMeter {
                        rate,
                        unit_s,
                        burst,
                    }
                }
            }
        };
        let key = match get(&entries, "key") {
            Some(n) => self.choice(
                n,
                "limiter key",
                &[
                    ("source", LimitKey::Source),
                    ("account", LimitKey::Account),
                    ("source+account", LimitKey::SourceAccount),
                    ("global", LimitKey::Global),
                ],
            )?,
            None if matches!(algorithm, Algorithm::NftLimit { .. }) => LimitKey::Global,
            None => LimitKey::Source,
        };
        let key_span = get(&entries, "key").map(|n| n.span).unwrap_or(k.span);
        if matches!(algorithm, Algorithm::NftLimit { .. }) && key != LimitKey::Global {
            self.problem(
                key_span,
                "an nftables `limit` keeps one bucket for every packet it sees",
                "nft-limit has no key",
                Some("use `algorithm: nft-meter` for a bucket per source".into()),
            );
            return None;
        }
        if matches!(algorithm, Algorithm::NftMeter { .. }) && key != LimitKey::Source {
            self.problem(
                key_span,
                "an nftables meter here is keyed by the source address",
                "nft-meter sees packets, not accounts",
                Some(
                    "write `key: source`, or count accounts in the application (HOST:PORT)".into(),
                ),
            );
            return None;
        }
        let at_firewall = matches!(place, LimiterPlace::Host { .. });
        if at_firewall && matches!(key, LimitKey::Account | LimitKey::SourceAccount) {
            self.problem(
                key_span,
                format!("limiter `{name}` counts packets on `{at_text}`, which carry no account"),
                "an account is in the request, not in the packet",
                Some(format!("place it on the application: `at: {at_text}:PORT`")),
            );
            return None;
        }
        let default_answer = if at_firewall {
            LimitAnswer::Drop
        } else if matches!(algorithm, Algorithm::LeakyBucket { .. }) {
            // nginx's limit_req_status default.
            LimitAnswer::Status(503)
        } else {
            LimitAnswer::Status(429)
        };
        let answer = match get(&entries, "answer") {
            None => default_answer,
            Some(n) => {
                let text = self.text_of(n, "answer")?;
                match (text.as_str(), text.parse::<u16>()) {
                    ("drop", _) if at_firewall => LimitAnswer::Drop,
                    (_, Ok(code)) if !at_firewall && (400..600).contains(&code) => {
                        LimitAnswer::Status(code)
                    }
                    _ => {
                        self.problem(
                            n.span,
                            format!("`{text}` is not an answer limiter `{name}` can give"),
                            if at_firewall {
                                "a firewall drops the packet"
                            } else {
                                "an application answers with an HTTP status from 400 to 599"
                            },
                            Some(if at_firewall {
                                "write `answer: drop`".into()
                            } else {
                                "write `answer: 429` or `answer: 503`".into()
                            }),
                        );
                        return None;
                    }
                }
            }
        };
        Some(LimiterSpec {
            name,
            place,
            algorithm,
            key,
            answer,
            origin: self.origin(k.span),
        })
    }

    /// A flow's `from`: a host or a network.
    fn flow_from(&mut self, n: &Node, names: &Names) -> Option<(String, Place)> {
        let text = self.text_of(n, "from")?;
        let w = Word {
            text: text.clone(),
            span: n.span,
        };
        if names.hosts.contains_key(&text) {
            return Some((text.clone(), Place::Host(text)));
        }
        if names.networks.contains_key(&text) {
            return Some((text.clone(), Place::Network(text)));
        }
        let candidates: Vec<&str> = {
            let mut c: Vec<&str> = names.places().collect();
            c.sort_unstable();
            c
        };
        let help = nearest(&text, candidates.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some("name a host, or a network for senders anywhere on it".into()));
        self.problem(
            w.span,
            format!("unknown sender `{text}`"),
            "expected a host or a network",
            help,
        );
        None
    }

    /// A flow's `to` (or a reflection's `via`): a host, an address or a DNS
    /// name, with a port.
    fn flow_target(
        &mut self,
        n: &Node,
        names: &Names,
        views: &[DnsView],
        what: &str,
        port_required: bool,
    ) -> Option<String> {
        let text = self.text_of(n, what)?;
        let w = Word {
            text: text.clone(),
            span: n.span,
        };
        let (place, port) = match grammar::split_place_port(&w) {
            Ok(x) => x,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        if names.networks.contains_key(&place.text) && !names.hosts.contains_key(&place.text) {
            self.problem(
                n.span,
                format!("`{}` is a network; a flow goes to one address", place.text),
                "expected a host, an address or a DNS name",
                None,
            );
            return None;
        }
        self.place(&place, names, views)?;
        if port.is_none() && port_required {
            self.problem(
                n.span,
                format!("`{text}` has no port"),
                "expected PLACE:PORT",
                Some(grammar::port_help(&text)),
            );
            return None;
        }
        Some(text)
    }

    fn flow(
        &mut self,
        k: &Node,
        v: &Node,
        names: &Names,
        networks: &[Network],
        views: &[DnsView],
    ) -> Option<FlowSpec> {
        let name = k.scalar_text().unwrap_or_default();
        let context = format!("flow `{name}`");
        let entries = self.map(v, &context).to_vec();
        self.check_keys(&entries, FLOW_KEYS, &context);
        let missing = |l: &mut Self, key: &str, help: &str| {
            l.problem(
                k.span,
                format!("flow `{name}` has no `{key}`"),
                format!("`{key}` is missing"),
                Some(help.to_string()),
            );
        };
        let Some(kind_node) = get(&entries, "kind") else {
            let kinds: Vec<&str> = FLOW_KINDS.iter().map(|(n, _)| *n).collect();
            missing(self, "kind", &format!("one of: {}", kinds.join(", ")));
            return None;
        };
        let kind = self.choice(kind_node, "flow kind", &FLOW_KINDS)?;
        let Some(from_node) = get(&entries, "from") else {
            missing(self, "from", "add `from: internet` (a network) or a host");
            return None;
        };
        let (from, from_place) = self.flow_from(from_node, names)?;
        let Some(to_node) = get(&entries, "to") else {
            missing(self, "to", "add `to: HOST:PORT`");
            return None;
        };
        let to = self.flow_target(to_node, names, views, "to", kind != FlowKind::UdpReflection)?;
        let via = match (kind, get(&entries, "via")) {
            (FlowKind::UdpReflection, Some(n)) => {
                Some(self.flow_target(n, names, views, "via", true)?)
            }
            (FlowKind::UdpReflection, None) => {
                missing(
                    self,
                    "via",
                    "a reflection needs the service that reflects: `via: resolver:53`",
                );
                return None;
            }
            (_, Some(n)) => {
                self.problem(
                    n.span,
                    format!(
                        "only a udp-reflection flow has `via` (this is a {})",
                        kind.name()
                    ),
                    "not used by this kind",
                    None,
                );
                return None;
            }
            (_, None) => None,
        };
        let Some(rate_node) = get(&entries, "rate") else {
            missing(self, "rate", "add `rate: 100/s`");
            return None;
        };
        let rate = self.rate_of(rate_node, "rate")?;
        let pattern = match get(&entries, "pattern") {
            None if kind == FlowKind::Clients => Pattern::Poisson,
            None => Pattern::Constant,
            Some(n) => {
                let p = self.choice(
                    n,
                    "pattern",
                    &[("constant", 0u8), ("poisson", 1), ("bursts", 2)],
                )?;
                match p {
                    0 => Pattern::Constant,
                    1 => Pattern::Poisson,
                    _ => {
                        let every = match get(&entries, "every") {
                            Some(n) => self.duration_of(n, "every")?,
                            None => {
                                missing(self, "every", "bursts need `every: 10s` and `length: 1s`");
                                return None;
                            }
                        };
                        let length = match get(&entries, "length") {
                            Some(n) => self.duration_of(n, "length")?,
                            None => {
                                missing(
                                    self,
                                    "length",
                                    "bursts need `every: 10s` and `length: 1s`",
                                );
                                return None;
                            }
                        };
                        if length == 0 || every < length {
                            self.problem(
                                n.span,
                                "a burst must last at least a moment and no longer than `every`",
                                "check `every` and `length`",
                                None,
                            );
                            return None;
                        }
                        Pattern::Bursts {
                            every_us: every,
                            length_us: length,
                        }
                    }
                }
            }
        };
        for key in ["every", "length"] {
            if let Some(n) = get(&entries, key) {
                if !matches!(pattern, Pattern::Bursts { .. }) {
                    self.problem(
                        n.span,
                        format!("`{key}` belongs to `pattern: bursts`"),
                        "not used by this pattern",
                        None,
                    );
                }
            }
        }
        let default_spoofed = kind == FlowKind::SynFlood;
        let sources = match get(&entries, "sources") {
            None if default_spoofed => Sources::Spoofed { pool: Vec::new() },
            None => Sources::Real { count: 1 },
            Some(n) => match &n.kind {
                NodeKind::Str(s) if s.trim() == "spoofed" => Sources::Spoofed { pool: Vec::new() },
                NodeKind::Str(s) if s.trim() == "real" => Sources::Real { count: 1 },
                _ => Sources::Real {
                    count: self.whole(
                        n,
                        "sources (a number of addresses, or `spoofed`)",
                        (1, 1 << 24),
                    )? as u32,
                },
            },
        };
        let sources = match (sources, get(&entries, "pool")) {
            (Sources::Spoofed { .. }, Some(p)) => {
                let mut pool = Vec::new();
                for item in self.items(p).into_iter().cloned().collect::<Vec<_>>() {
                    let t = self.text_of(&item, "a pool prefix")?;
                    match t
                        .parse::<IpNet>()
                        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                    {
                        Ok(net) => pool.push(net.trunc()),
                        Err(_) => {
                            self.problem(
                                item.span,
                                format!("`{t}` is not a prefix"),
                                "expected ADDRESS/LENGTH",
                                None,
                            );
                            return None;
                        }
                    }
                }
                Sources::Spoofed { pool }
            }
            (_, Some(p)) => {
                self.problem(
                    p.span,
                    "`pool` is where spoofed sources are drawn from",
                    "only with `sources: spoofed`",
                    None,
                );
                return None;
            }
            (s, None) => s,
        };
        let sources_span = get(&entries, "sources").map(|n| n.span).unwrap_or(k.span);
        match (&sources, &from_place) {
            (Sources::Spoofed { .. }, _) if kind.completes_handshake() => {
                self.problem(
                    sources_span,
                    format!(
                        "a {} completes handshakes, so its sources are real",
                        kind.name()
                    ),
                    "a forged source never gets the SYN-ACK",
                    Some("write `sources: N` (how many addresses)".into()),
                );
                return None;
            }
            (Sources::Spoofed { pool }, Place::Network(net)) => {
                let net_id = names.networks[net];
                let nw = &networks[net_id.index()];
                for p in pool {
                    let inside = nw.prefixes.iter().any(|np| np.contains(p));
                    if !inside {
                        self.problem(
                            get(&entries, "pool").map(|n| n.span).unwrap_or(k.span),
                            format!("the pool {p} is not inside network `{net}`"),
                            "spoofed sources are addresses of the `from` network",
                            None,
                        );
                        return None;
                    }
                }
            }
            (Sources::Spoofed { .. }, Place::Host(h)) => {
                self.problem(
                    sources_span,
                    format!("spoofed sources are drawn from a network, and `{h}` is a host"),
                    "write `from: NETWORK`",
                    Some("name the network the attacker sends from".into()),
                );
                return None;
            }
            (Sources::Real { count }, Place::Host(h)) if *count > 1 => {
                self.problem(
                    sources_span,
                    format!("`{h}` has one address; {count} sources are a network's"),
                    "a host sends from its own address",
                    Some("write `from: NETWORK` for many senders".into()),
                );
                return None;
            }
            _ => {}
        }
        if kind == FlowKind::UdpReflection && !matches!(sources, Sources::Real { count: 1 }) {
            self.problem(
                sources_span,
                "a reflection's requests all carry the victim's address",
                "no `sources` for a reflection",
                None,
            );
            return None;
        }
        let accounts = match get(&entries, "accounts") {
            None => Accounts::None,
            Some(n) => match &n.kind {
                NodeKind::Int(_) => {
                    Accounts::Count(self.whole(n, "accounts", (1, 1 << 24))? as u32)
                }
                _ => {
                    let mut names_v = Vec::new();
                    for item in self.items(n).into_iter().cloned().collect::<Vec<_>>() {
                        names_v.push(self.text_of(&item, "an account")?);
                    }
                    Accounts::Names(names_v)
                }
            },
        };
        let dur = |l: &mut Self, key: &str, default: u64| -> Option<u64> {
            match get(&entries, key) {
                Some(n) => l.duration_of(n, key),
                None => Some(default),
            }
        };
        let start_us = dur(self, "start", 0)?;
        let stop_us = match get(&entries, "stop") {
            Some(n) => Some(self.duration_of(n, "stop")?),
            None => None,
        };
        if let Some(stop) = stop_us {
            if stop <= start_us {
                self.problem(
                    get(&entries, "stop").map(|n| n.span).unwrap_or(k.span),
                    format!("flow `{name}` stops before it starts"),
                    "`stop` must come after `start`",
                    None,
                );
                return None;
            }
        }
        let timeout_us = dur(self, "timeout", 10 * MICROS)?.max(1000);
        let rtt_us = dur(self, "rtt", 20_000)?;
        let (default_size, default_answer) = match kind {
            FlowKind::Clients | FlowKind::HttpFlood => (300, 1500),
            FlowKind::CredentialStuffing => (400, 300),
            FlowKind::SynFlood => (60, 60),
            FlowKind::UdpFlood => (1200, 0),
            FlowKind::UdpReflection => (64, 3000),
        };
        let size = match get(&entries, "size") {
            Some(n) => self.whole(n, "size (bytes)", (20, 65535))? as u32,
            None => default_size,
        };
        let answer_size = match get(&entries, "answer_size") {
            Some(n) => self.whole(n, "answer_size (bytes)", (0, 1 << 20))? as u32,
            None => default_answer,
        };
        Some(FlowSpec {
            name,
            kind,
            from,
            from_place,
            to,
            via,
            rate,
            pattern,
            sources,
            accounts,
            start_us,
            stop_us,
            timeout_us,
            rtt_us,
            size,
            answer_size,
            origin: self.origin(k.span),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_rate("100/s"), Some(100.0));
        assert_eq!(parse_rate("6000/min"), Some(100.0));
        assert_eq!(parse_rate("5/10s"), Some(0.5));
        assert_eq!(parse_rate("10r/s"), Some(10.0));
        assert_eq!(parse_rate("250"), Some(250.0));
        assert_eq!(parse_rate("x/s"), None);
        assert_eq!(parse_duration("10s"), Some(10_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000));
        assert_eq!(parse_duration("2m"), Some(120_000_000));
        assert_eq!(parse_duration("1.5"), Some(1_500_000));
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_bits("1Gbit/s"), Some(1e9));
        assert_eq!(parse_bits("100Mbps"), Some(1e8));
        assert_eq!(parse_bits("10kbit/s"), Some(1e4));
        assert_eq!(parse_bits("fast"), None);
        assert_eq!(nft_rate("10/second"), Some((10, 1)));
        assert_eq!(nft_rate("3/minute"), Some((3, 60)));
        assert_eq!(nft_rate("3/fortnight"), None);
        assert_eq!(nginx_rate("10r/s"), Some(10_000));
        assert_eq!(nginx_rate("30r/m"), Some(500));
        assert_eq!(nginx_rate("0r/s"), None);
    }
}
