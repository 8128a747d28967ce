//! Traffic over time against the kernel (docs/lab.md, "Traffic over time"):
//! the simulator's listener model, nftables limits and nginx's leaky bucket,
//! each run for real in a rig of two namespaces and compared with what
//! `pathproof-sim` predicts for the same traffic.
//!
//! - SYN floods: the built-in syn-flood's flows (regulars, newcomers, a flood
//!   of forged sources) at the rig's scale, against a real listener with a
//!   small backlog and tcp_syncookies 0, 1 and 2: the clients' success and
//!   the server's nstat counters (TcpExtListenOverflows, TcpExtListenDrops,
//!   TcpExtSyncookiesSent, TcpExtTCPReqQFullDoCookies) against the model.
//! - nftables `limit` and `meter`: which datagrams pass, second by second.
//! - nginx `limit_req` with `burst` and `nodelay` (and without): which
//!   requests are served at once, delayed, or answered 503.
//!
//! Every figure is printed (`-- --nocapture`) for docs/lab.md.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use pathproof_core::model::traffic::Algorithm;
use pathproof_lab::traffic::{self, Clients, Datagrams, Rig, SynFlood};
use pathproof_sim::limit::{Bucket, Decision};
use pathproof_sim::{simulate, Options};

const COUNTERS: [&str; 4] = [
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtSyncookiesSent",
    "TcpExtTCPReqQFullDoCookies",
];

/// The rig's scale of the built-in syn-flood: its three flows (regulars that
/// come back, newcomers that come once, a flood of forged SYNs) against a
/// listener with a small backlog.
const SECONDS: u32 = 14;
const FLOOD_START: f64 = 3.0;
const FLOOD_STOP: f64 = 9.0;
const BACKLOG: u32 = 128;
const MAX_SYN_BACKLOG: u32 = 64;

fn model(cookies: u8, flood_rate: f64) -> pathproof_sim::Run {
    let builtin = pathproof_core::examples::get("syn-flood").unwrap();
    let base = pathproof_core::load(&builtin.file(), builtin.text, None).unwrap();
    let kinds: Vec<&str> = base
        .traffic
        .as_ref()
        .unwrap()
        .flows
        .iter()
        .map(|f| f.kind.name())
        .collect();
    assert_eq!(
        kinds,
        ["clients", "clients", "syn-flood"],
        "the built-in's flows"
    );
    let text = format!(
        r#"name: syn-flood-rig
networks:
  internet: {{ cidr: 0.0.0.0/0 }}
hosts:
  web: {{ at: internet {server}, listen: ["tcp/443"] }}
traffic:
  seconds: {SECONDS}
  hosts:
    web: {{ tcp_syncookies: {cookies}, tcp_max_syn_backlog: {MAX_SYN_BACKLOG}, somaxconn: 4096 }}
  listeners:
    web:443: {{ backlog: {BACKLOG}, service: 0ms }}
  flows:
    regulars: {{ kind: clients, from: internet, to: web:443, sources: 10, rate: 10/s, pattern: constant, stop: 12s, timeout: 5s, rtt: 1ms }}
    newcomers: {{ kind: clients, from: internet, to: web:443, sources: 120, rate: 10/s, pattern: constant, stop: 12s, timeout: 5s, rtt: 1ms }}
    flood: {{ kind: syn-flood, from: internet, to: web:443, pool: 100.64.0.0/10, rate: {flood_rate}/s, start: {FLOOD_START}s, stop: {FLOOD_STOP}s }}
"#,
        server = traffic::SERVER
    );
    let scn =
        pathproof_core::load("syn-flood-rig.yaml", &text, None).unwrap_or_else(|e| panic!("{e}"));
    simulate(
        &scn,
        &Options {
            seconds: None,
            seed: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn addrs(from: u32, n: u32) -> Vec<Ipv4Addr> {
    (0..n)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(203, 0, 113, 0)) + from + i))
        .collect()
}

/// Share of a group's attempts started in [from, to) that succeeded.
fn share(attempts: &[traffic::Attempt], group: &str, from: f64, to: f64) -> (f64, usize) {
    let v: Vec<&traffic::Attempt> = attempts
        .iter()
        .filter(|a| a.group == group && a.started >= from && a.started < to)
        .collect();
    let ok = v.iter().filter(|a| a.ok).count();
    (ok as f64 / v.len().max(1) as f64, v.len())
}

fn model_share(run: &pathproof_sim::Run, flow: &str, from: usize, to: usize) -> f64 {
    let f = run.flows.iter().find(|f| f.name == flow).unwrap();
    let ok: u64 = f.per_second[from..to].iter().map(|s| s.ok).sum();
    let all: u64 = f.per_second[from..to].iter().map(|s| s.ok + s.failed).sum();
    ok as f64 / all.max(1) as f64
}

#[test]
fn syn_floods_against_the_kernel() {
    if !common::root_or_skip("syn_floods_against_the_kernel") {
        return;
    }
    let mut report = Vec::new();
    for cookies in [0u8, 1, 2] {
        let rig = Rig::new(&common::lab_name(&format!("fl{cookies}"))).expect("rig");
        rig.server_sysctls(&[
            ("net/ipv4/tcp_syncookies", cookies.to_string()),
            ("net/ipv4/tcp_max_syn_backlog", MAX_SYN_BACKLOG.to_string()),
            ("net/core/somaxconn", "4096".into()),
            ("net/ipv4/tcp_synack_retries", "5".into()),
        ])
        .expect("sysctls");
        let regulars = addrs(1, 10);
        let newcomers = addrs(11, 120);
        let mut all = regulars.clone();
        all.extend(&newcomers);
        rig.client_addresses(&all).expect("client addresses");
        let _listener =
            traffic::Listener::start(&rig.srv, 443, BACKLOG as i32, None).expect("listener");
        let before = rig.nstat().expect("nstat");
        let t0 = Instant::now();
        let flood = traffic::syn_flood(
            &rig.gen,
            SynFlood {
                rate: 4000.0,
                start: Duration::from_secs_f64(FLOOD_START),
                stop: Duration::from_secs_f64(FLOOD_STOP),
                pool_start: Ipv4Addr::new(100, 64, 0, 0),
                pool_size: 1 << 22,
                dport: 443,
                seed: 7,
            },
            t0,
        );
        let group = |name: &str, a: &[Ipv4Addr]| Clients {
            name: name.into(),
            addrs: a.to_vec(),
            rate: 10.0,
            start: Duration::ZERO,
            stop: Duration::from_secs(12),
            timeout: Duration::from_secs(5),
            port: 443,
        };
        let clients = traffic::clients(
            &rig.gen,
            vec![group("regulars", &regulars), group("newcomers", &newcomers)],
            t0,
        );
        let sent = flood.join().unwrap().expect("flood");
        let attempts = clients.join().unwrap().expect("clients");
        std::thread::sleep(Duration::from_millis(200));
        let after = rig.nstat().expect("nstat");
        let metrics =
            pathproof_lab::netns::run_cmd("ip", &["-n", &rig.srv, "tcp_metrics", "show"], None)
                .unwrap_or_default();
        let rate = sent as f64 / (FLOOD_STOP - FLOOD_START);
        let run = model(cookies, rate);
        let l = &run.listeners[0];
        let predicted = [
            l.counters.listen_overflows,
            l.counters.listen_drops,
            l.counters.syncookies_sent,
            l.counters.reqq_full_do_cookies,
        ];
        println!(
            "\n== tcp_syncookies={cookies}: {sent} forged SYNs ({rate:.0}/s from {FLOOD_START} s to {FLOOD_STOP} s), backlog {BACKLOG}, tcp_max_syn_backlog {MAX_SYN_BACKLOG}; {} peers with saved metrics",
            metrics.lines().count()
        );
        println!("{:<28} {:>10} {:>10}", "counter", "kernel", "model");
        for (name, p) in COUNTERS.iter().zip(predicted) {
            let k =
                after.get(*name).copied().unwrap_or(0) - before.get(*name).copied().unwrap_or(0);
            println!("{name:<28} {k:>10} {p:>10}");
            // Tolerance: 2 % or 40, whichever is more (timing at the
            // flood's start and end, and SYN-ACK timers a tick apart).
            let tol = (p as f64 * 0.02).max(40.0);
            assert!(
                (k as f64 - p as f64).abs() <= tol,
                "tcp_syncookies={cookies}: {name} kernel {k}, model {p} (tolerance {tol})"
            );
            report.push((cookies, name.to_string(), k, p));
        }
        for (g, from, to) in [
            ("regulars", 0.0, FLOOD_START),
            ("regulars", FLOOD_START, FLOOD_STOP),
            ("newcomers", 0.0, FLOOD_START),
            ("newcomers", FLOOD_START, FLOOD_STOP),
            ("newcomers", FLOOD_STOP, 12.0),
        ] {
            let (k, n) = share(&attempts, g, from, to);
            let m = model_share(&run, g, from as usize, to as usize);
            println!(
                "{g:<10} started {from:>4} s to {to:>4} s: {n:>3} attempts, kernel {:>5.1} % served, model {:>5.1} %",
                k * 100.0,
                m * 100.0
            );
            // Tolerance: 10 points plus one attempt in the window (a
            // connection at a window's edge or a SYN-ACK timer's tick).
            let tol = 0.10 + 1.0 / n.max(1) as f64;
            assert!(
                (k - m).abs() <= tol,
                "tcp_syncookies={cookies}: {g} in [{from}, {to}): kernel {k:.3}, model {m:.3}"
            );
        }
    }
    assert_eq!(report.len(), 12);
}

fn nft_alg(rate: u64, burst: u32, meter: bool) -> Algorithm {
    if meter {
        Algorithm::NftMeter {
            rate,
            unit_s: 1,
            burst,
        }
    } else {
        Algorithm::NftLimit {
            rate,
            unit_s: 1,
            burst,
        }
    }
}

/// The model's verdict on each of a stream's packets, and whether it is
/// borderline (a millisecond earlier or later would flip it).
fn predict(alg: Algorithm, times: &[f64]) -> Vec<(bool, bool)> {
    let us = |t: f64| (t * 1e6) as u64;
    let mut b = Bucket::new(alg, us(times[0]));
    times
        .iter()
        .map(|t| {
            let nominal = b.clone().admit(us(*t)).allowed();
            let early = b.clone().admit(us(*t).saturating_sub(1000)).allowed();
            let late = b.clone().admit(us(*t) + 1000).allowed();
            let got = b.admit(us(*t)).allowed();
            debug_assert_eq!(got, nominal);
            (nominal, early != nominal || late != nominal)
        })
        .collect()
}

#[test]
fn nft_limit_and_meter_against_the_model() {
    if !common::root_or_skip("nft_limit_and_meter_against_the_model") {
        return;
    }
    let rig = Rig::new(&common::lab_name("nftlim")).expect("rig");
    let sources = addrs(1, 4);
    rig.client_addresses(&sources).expect("addresses");
    rig.server_nft(
        "table inet pp_limits {\n  chain input {\n    type filter hook input priority 0; policy accept;\n\
         udp dport 9001 limit rate 10/second burst 5 packets accept\n    udp dport 9001 drop\n\
         udp dport 9002 meter per_source { ip saddr limit rate 5/second burst 3 packets } accept\n    udp dport 9002 drop\n  }\n}\n",
    )
    .expect("nft");
    // Rates that never line up with the buckets' refills.
    let streams = vec![
        Datagrams {
            port: 9001,
            source: sources[0],
            rate: 47.0,
            count: 141,
        },
        Datagrams {
            port: 9002,
            source: sources[1],
            rate: 19.0,
            count: 57,
        },
        Datagrams {
            port: 9002,
            source: sources[2],
            rate: 7.0,
            count: 21,
        },
        Datagrams {
            port: 9002,
            source: sources[3],
            rate: 3.0,
            count: 9,
        },
    ];
    let sent = traffic::datagrams(&rig, streams.clone()).expect("datagrams");
    let mut hard_mismatches = 0;
    let mut borderline = 0;
    println!("\n== nftables limit and meter: datagrams passed per second, kernel / model");
    for s in &streams {
        let mine: Vec<&traffic::Sent> = sent
            .iter()
            .filter(|x| x.port == s.port && x.source == s.source)
            .collect();
        let times: Vec<f64> = mine.iter().map(|x| x.at).collect();
        let alg = if s.port == 9001 {
            nft_alg(10, 5, false)
        } else {
            nft_alg(5, 3, true)
        };
        let pred = predict(alg, &times);
        let seconds = times.last().copied().unwrap_or(0.0).ceil() as usize;
        let mut kernel = vec![0u32; seconds.max(1)];
        let mut model = vec![0u32; seconds.max(1)];
        for (x, (p, border)) in mine.iter().zip(&pred) {
            let sec = (x.at as usize).min(seconds.max(1) - 1);
            kernel[sec] += u32::from(x.arrived);
            model[sec] += u32::from(*p);
            if x.arrived != *p {
                if *border {
                    borderline += 1;
                } else {
                    hard_mismatches += 1;
                }
            }
        }
        println!(
            "  port {} from {} at {}/s: {:?} / {:?}",
            s.port, s.source, s.rate, kernel, model
        );
        for (k, m) in kernel.iter().zip(&model) {
            assert!(
                k.abs_diff(*m) <= 1,
                "port {} from {}: {kernel:?} vs {model:?}",
                s.port,
                s.source
            );
        }
        let (kt, mt): (u32, u32) = (kernel.iter().sum(), model.iter().sum());
        assert!(kt.abs_diff(mt) <= 1, "totals {kt} vs {mt}");
    }
    println!("  packets that differ: {hard_mismatches} (and {borderline} within 1 ms of a refill)");
    assert_eq!(hard_mismatches, 0);
}

#[test]
fn nginx_limit_req_against_the_leaky_bucket() {
    if !common::root_or_skip("nginx_limit_req_against_the_leaky_bucket") {
        return;
    }
    if !std::path::Path::new(traffic::NGINX).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "nginx is missing under CI: scripts/test.sh installs it (apt-get install nginx)"
            );
        }
        eprintln!(
            "skipping nginx_limit_req_against_the_leaky_bucket: {} is missing",
            traffic::NGINX
        );
        return;
    }
    let rig = Rig::new(&common::lab_name("nginx")).expect("rig");
    let www = std::env::temp_dir().join(format!("pp-nginx-www-{}", std::process::id()));
    for d in ["nodelay", "delay"] {
        std::fs::create_dir_all(www.join(d)).unwrap();
        std::fs::write(www.join(d).join("ok.txt"), "ok\n").unwrap();
    }
    let http = format!(
        "  limit_req_zone $binary_remote_addr zone=nodelay:1m rate=10r/s;\n  limit_req_zone $binary_remote_addr zone=delay:1m rate=10r/s;\n\
         server {{\n    listen {}:8080;\n    root {};\n\
         location /nodelay/ {{ limit_req zone=nodelay burst=5 nodelay; }}\n\
         location /delay/ {{ limit_req zone=delay burst=5; }}\n  }}\n",
        traffic::SERVER,
        www.display()
    );
    let nginx = traffic::Nginx::start(&rig.srv, &http, 8080).expect("nginx");
    let cases: [(&str, Algorithm, Vec<f64>); 2] = [
        (
            "/nodelay/ok.txt",
            Algorithm::LeakyBucket {
                rate_milli: 10_000,
                burst: 5,
                delay: 0,
                nodelay: true,
            },
            vec![0.0; 9]
                .into_iter()
                .chain([0.35, 0.43, 0.8, 0.81, 0.82, 1.5, 1.51, 1.52, 1.53])
                .collect(),
        ),
        (
            "/delay/ok.txt",
            Algorithm::LeakyBucket {
                rate_milli: 10_000,
                burst: 5,
                delay: 0,
                nodelay: false,
            },
            vec![0.0; 8].into_iter().chain([0.95, 0.96]).collect(),
        ),
    ];
    let mut hard = 0;
    let mut borderline = 0;
    for (path, alg, times) in cases {
        let answers = traffic::http_requests(&rig.gen, 8080, path, &times).expect("requests");
        let sent: Vec<f64> = answers.iter().map(|a| a.at).collect();
        let us = |t: f64| (t * 1e6) as u64;
        let mut b = Bucket::new(alg, us(sent[0]));
        println!("\n== nginx limit_req {path}: sent at, kernel, model");
        for (a, t) in answers.iter().zip(&sent) {
            let d = b.admit(us(*t));
            let e1 = b.clone().admit(us(*t) + 2000);
            let border = matches!(d, Decision::Deny { .. }) != matches!(e1, Decision::Deny { .. });
            let kernel = match (a.status, a.waited) {
                (503, _) => "503".to_string(),
                (200, w) if w < 0.05 => "served at once".to_string(),
                (200, w) => format!("delayed {:.0} ms", w * 1000.0),
                (s, _) => format!("status {s}"),
            };
            let model = match d {
                Decision::Deny { .. } => "503".to_string(),
                Decision::Allow => "served at once".to_string(),
                Decision::Delay(us) => format!("delayed {} ms", us / 1000),
            };
            println!("  {:>7.3} s  {kernel:<16} {model}", t);
            let agree = match (a.status, d) {
                (503, Decision::Deny { .. }) => true,
                (200, Decision::Allow) => a.waited < 0.05,
                (200, Decision::Delay(us)) => (a.waited - us as f64 / 1e6).abs() < 0.03,
                _ => false,
            };
            if !agree {
                if border {
                    borderline += 1;
                } else {
                    hard += 1;
                }
            }
        }
    }
    drop(nginx);
    let _ = std::fs::remove_dir_all(&www);
    println!("  requests that differ: {hard} (and {borderline} within 2 ms of a leak)");
    assert_eq!(hard, 0);
}
