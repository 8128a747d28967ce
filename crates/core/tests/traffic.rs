//! The `traffic:` section: every key as docs/scenario.md gives it, what the
//! loader makes of it, variants that change it, and each bad form reported
//! with its line, column, the offending text and a way out.

use pathproof_core::model::traffic::*;
use pathproof_core::{load, LoadError};

const NET: &str = r#"networks:
  internet: { cidr: 0.0.0.0/0, dns: public }
  dmz: { cidr: 10.0.1.0/24, gateway: edge }
hosts:
  edge:
    router: true
    at: [internet 198.51.100.1, dmz 10.0.1.1]
    filter: fw
    nat: ["dnat tcp to 198.51.100.1 port 443 in internet -> web:443"]
  web: { at: dmz 10.0.1.10, listen: ["tcp/443", "udp/53"] }
  alice: { at: internet 203.0.113.50 }
dns:
  public: { www.example.com: 198.51.100.1 }
filters:
  fw: { default: drop, rules: ["allow tcp from internet to web port 443"] }
"#;

fn with(traffic: &str) -> String {
    format!("{NET}{traffic}")
}

fn problems(yaml: &str) -> LoadError {
    match load("bad.yaml", yaml, None) {
        Ok(_) => panic!("expected problems in:\n{yaml}"),
        Err(e) => e,
    }
}

/// (line, column, message, the text the span covers, help) of each problem.
fn report(e: &LoadError) -> Vec<(u32, u32, String, String, Option<String>)> {
    e.problems
        .iter()
        .map(|p| {
            (
                p.line,
                p.column,
                p.message.clone(),
                e.source_text[p.span.range()].to_string(),
                p.help.clone(),
            )
        })
        .collect()
}

#[test]
fn every_key_loads() {
    let text = with(
        r#"traffic:
  seconds: 45
  seed: 7
  hosts:
    web:
      somaxconn: 1024
      tcp_max_syn_backlog: 128
      tcp_syncookies: 2
      tcp_synack_retries: 3
      tcp_syn_retries: 4
      tcp_no_metrics_save: 1
      conntrack_max: 1000
      conntrack_buckets: 500
      conntrack_timeouts: { tcp_timeout_syn_recv: 30s, udp_timeout: 10 }
  listeners:
    web:443: { backlog: 64, accept_rate: 100/s, service: 5ms }
  links:
    edge internet: { capacity: 100Mbit/s, queue: 500 }
  limiters:
    a: { at: web:443, algorithm: sliding-window-log, limit: 5, window: 10s, key: account }
    b: { at: edge, algorithm: nft-limit, rate: 10/second }
    c: { at: edge, algorithm: nft-meter, rate: 3/minute, burst: 2 }
    d: { at: web:443, algorithm: leaky-bucket, rate: 30r/m, burst: 5, nodelay: true, answer: 429 }
    e: { at: web:443, algorithm: token-bucket, max_tokens: 10, tokens_per_fill: 2, fill_interval: 500ms, key: source+account }
    f: { at: web:443, algorithm: fixed-window, limit: 100, window: 1m }
    g: { at: web:443, algorithm: sliding-window-counter, limit: 50, window: 60s }
  flows:
    users: { kind: clients, from: internet, to: www.example.com:443, sources: 10, rate: 6000/min, accounts: 3, rtt: 30ms }
    flood: { kind: syn-flood, from: internet, to: www.example.com:443, rate: 1000, pool: [203.0.113.0/24], start: 2s, stop: 4s }
    stuff: { kind: credential-stuffing, from: alice, to: www.example.com:443, rate: 2/s, accounts: [alice, bob], pattern: bursts, every: 10s, length: 2s }
    refl: { kind: udp-reflection, from: internet, via: web:53, to: alice, rate: 100/s, answer_size: 2000 }
"#,
    );
    let scn = load("t.yaml", &text, None).unwrap_or_else(|e| panic!("{e}"));
    let t = scn.traffic.expect("a traffic section");
    assert_eq!((t.seconds, t.seed), (45, 7));
    let web = t.hosts[0].clone();
    assert_eq!(web.somaxconn, 1024);
    assert_eq!(web.tcp_syncookies, 2);
    assert!(web.tcp_no_metrics_save);
    assert_eq!(web.conntrack_timeouts.tcp_timeout_syn_recv, 30);
    assert_eq!(web.conntrack_timeouts.udp_timeout, 10);
    assert_eq!(web.conntrack_timeouts.tcp_timeout_syn_sent, 120);
    assert_eq!(t.listeners[0].backlog, 64);
    assert_eq!(t.listeners[0].accept_rate, Some(100.0));
    assert_eq!(t.listeners[0].service_us, 5000);
    assert_eq!(t.links[0].capacity_bps, 1e8);
    assert_eq!(t.links[0].queue_packets, 500);
    let lim = |n: &str| t.limiters.iter().find(|l| l.name == n).unwrap().clone();
    assert_eq!(lim("a").key, LimitKey::Account);
    assert_eq!(lim("a").answer, LimitAnswer::Status(429));
    assert_eq!(
        lim("b").algorithm,
        Algorithm::NftLimit {
            rate: 10,
            unit_s: 1,
            burst: 5
        },
        "nft's default burst is 5 packets"
    );
    assert_eq!(
        (lim("b").key, lim("b").answer),
        (LimitKey::Global, LimitAnswer::Drop)
    );
    assert_eq!(lim("c").key, LimitKey::Source);
    assert_eq!(
        lim("d").algorithm,
        Algorithm::LeakyBucket {
            rate_milli: 500,
            burst: 5,
            delay: 0,
            nodelay: true
        }
    );
    assert_eq!(lim("e").key, LimitKey::SourceAccount);
    assert_eq!(
        lim("f").algorithm,
        Algorithm::FixedWindow {
            limit: 100,
            window_us: 60_000_000
        }
    );
    let flow = |n: &str| t.flow(n).unwrap().clone();
    assert_eq!(flow("users").rate, 100.0);
    assert_eq!(flow("users").sources, Sources::Real { count: 10 });
    assert_eq!(
        flow("users").pattern,
        Pattern::Poisson,
        "clients default to Poisson"
    );
    assert_eq!(flow("users").accounts.nth(4), Some("user2".into()));
    assert_eq!(flow("flood").pattern, Pattern::Constant);
    assert!(matches!(flow("flood").sources, Sources::Spoofed { ref pool } if pool.len() == 1));
    assert_eq!(flow("flood").stop_us, Some(4_000_000));
    assert_eq!(flow("stuff").accounts.nth(1), Some("bob".into()));
    assert_eq!(
        flow("stuff").pattern,
        Pattern::Bursts {
            every_us: 10_000_000,
            length_us: 2_000_000
        }
    );
    assert_eq!(flow("refl").via.as_deref(), Some("web:53"));
    assert_eq!((flow("refl").size, flow("refl").answer_size), (64, 2000));
}

#[test]
fn a_variant_merges_into_the_section() {
    let text = with(
        r#"traffic:
  hosts: { web: { tcp_syncookies: 0, somaxconn: 512 } }
  flows:
    users: { kind: clients, from: internet, to: www.example.com:443, rate: 5/s }
variants:
  harden:
    why: cookies on, and more users
    traffic:
      hosts: { web: { tcp_syncookies: 1 } }
      flows: { users: { rate: 9/s } }
      limiters:
        lim: { at: edge, algorithm: nft-limit, rate: 5/second }
"#,
    );
    let base = load("t.yaml", &text, None).unwrap().traffic.unwrap();
    let h = load("t.yaml", &text, Some("harden"))
        .unwrap()
        .traffic
        .unwrap();
    assert_eq!(base.hosts[0].tcp_syncookies, 0);
    assert_eq!(h.hosts[0].tcp_syncookies, 1);
    assert_eq!(
        h.hosts[0].somaxconn, 512,
        "keys the patch does not name stay"
    );
    assert_eq!(h.flows[0].rate, 9.0);
    assert_eq!(h.flows[0].to, "www.example.com:443");
    assert_eq!(h.limiters.len(), 1);
    assert!(base.limiters.is_empty());
}

#[test]
fn bad_forms_point_at_the_word_and_say_what_to_write() {
    let text = with(
        r#"traffic:
  seconds: 0
  hosts:
    wbe: { somaxconn: 10 }
    web: { tcp_syncookies: 3, tcp_synack: 2 }
  listeners:
    web:80: { backlog: 10 }
  links:
    web internet: { capacity: 1Gbit/s }
    edge internet: { capacity: fast }
  limiters:
    a: { at: web:443, algorithm: sliding-window-logs, limit: 5, window: 10s }
    b: { at: edge, algorithm: nft-limit, rate: 10/second, key: source }
    c: { at: edge, algorithm: sliding-window-log, limit: 5, window: 10s, key: account }
    d: { at: web:443, algorithm: fixed-window, limit: 5 }
  flows:
    e: { kind: syn-flud, from: internet, to: web:443, rate: 10/s }
    f: { kind: clients, from: internet, to: web:443, rate: ten/s }
    g: { kind: clients, from: internet, to: dmz:443, rate: 1/s }
    h: { kind: http-flood, from: internet, to: web:443, rate: 1/s, sources: spoofed }
    i: { kind: syn-flood, from: alice, to: web:443, rate: 1/s }
    j: { kind: clients, from: internet, to: web, rate: 1/s }
    k: { kind: clients, from: internt, to: web:443, rate: 1/s }
    l: { kind: clients, from: internet, to: web:443, rate: 1/s, start: 5s, stop: 2s }
"#,
    );
    let e = problems(&text);
    let r = report(&e);
    let find = |msg: &str| {
        r.iter()
            .find(|p| p.2.contains(msg))
            .unwrap_or_else(|| panic!("no problem `{msg}` in {r:#?}"))
            .clone()
    };
    // The line of the traffic section's first key: 18 lines of network before.
    let base = NET.lines().count() as u32;
    let p = find("seconds must be a whole number from 1 to 3600");
    assert_eq!((p.0, p.3.as_str()), (base + 2, "0"));
    let p = find("unknown host `wbe`");
    assert_eq!((p.0, p.1, p.3.as_str()), (base + 4, 5, "wbe"));
    assert_eq!(p.4.as_deref(), Some("did you mean `web`?"));
    let p = find("tcp_syncookies must be a whole number from 0 to 2");
    assert_eq!(p.3, "3");
    let p = find("unknown key `tcp_synack`");
    assert!(
        p.4.as_deref().unwrap().contains("tcp_synack_retries"),
        "{p:?}"
    );
    let p = find("nothing on `web` listens on tcp/80");
    assert_eq!(p.0, base + 7);
    assert!(p.4.as_deref().unwrap().contains("web:443"));
    let p = find("`web` is not attached to `internet`");
    assert_eq!(p.3, "internet");
    let p = find("`fast` is not a capacity");
    assert_eq!(
        p.4.as_deref(),
        Some("write it like `1Gbit/s`, `100Mbit/s` or `10kbit/s`")
    );
    let p = find("unknown algorithm `sliding-window-logs`");
    assert_eq!(p.4.as_deref(), Some("did you mean `sliding-window-log`?"));
    let p = find("an nftables `limit` keeps one bucket");
    assert_eq!(p.3, "source");
    let p = find("counts packets on `edge`, which carry no account");
    assert_eq!(
        p.4.as_deref(),
        Some("place it on the application: `at: edge:PORT`")
    );
    find("limiter `d` (fixed-window) needs `window`");
    let p = find("unknown flow kind `syn-flud`");
    assert_eq!(p.4.as_deref(), Some("did you mean `syn-flood`?"));
    let p = find("`ten/s` is not a rate");
    assert_eq!(p.3, "ten/s");
    find("`dmz` is a network; a flow goes to one address");
    let p = find("a http-flood completes handshakes, so its sources are real");
    assert_eq!(p.3, "spoofed");
    find("spoofed sources are drawn from a network, and `alice` is a host");
    find("`web` has no port");
    let p = find("unknown sender `internt`");
    assert_eq!(p.4.as_deref(), Some("did you mean `internet`?"));
    find("flow `l` stops before it starts");
    assert!(
        e.problems.len() >= 19,
        "all in one run: {}",
        e.problems.len()
    );
}

#[test]
fn a_section_without_flows_is_not_an_error_to_load() {
    let scn = load("t.yaml", &with("traffic: { seconds: 5 }\n"), None).unwrap();
    assert!(scn.traffic.unwrap().flows.is_empty());
    let e = problems(&with("traffic: { flowz: {} }\n"));
    assert_eq!(e.problems[0].help.as_deref(), Some("did you mean `flows`?"));
}
