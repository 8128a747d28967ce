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
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pathproof_core::model::traffic::Algorithm;
use pathproof_lab::traffic::{self, Clients, Datagrams, Rig, SynFlood};
use pathproof_sim::limit::{Bucket, Decision};
use pathproof_sim::{simulate, Options};

/// The three comparisons run one at a time: each measures timing (a
/// limiter's window, a listener's queues), and a SYN flood next door takes
/// the CPU that the nft and nginx comparisons count on, on a machine of two
/// cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A failed comparison poisons the lock; the others still run.
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
    let _one = one_at_a_time();
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

/// The model's verdict on each of a stream's packets, on their send times.
fn predict(alg: Algorithm, times: &[f64]) -> Vec<bool> {
    let mut b = Bucket::new(alg, us(times[0]));
    times.iter().map(|t| b.admit(us(*t)).allowed()).collect()
}

/// One line of nginx's access log in the format `pp`: `$remote_port $msec
/// $request_time $limit_req_status $status`.
struct Seen {
    port: u16,
    /// Milliseconds (nginx's clock) when the request started.
    arrived_ms: u64,
    verdict: u8,
    status: u16,
}

impl Seen {
    fn parse(line: &str) -> Option<Seen> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ms = |s: &str| -> Option<u64> {
            let (whole, frac) = s.split_once('.')?;
            Some(whole.parse::<u64>().ok()? * 1000 + frac.parse::<u64>().ok()?)
        };
        Some(Seen {
            port: f.first()?.parse().ok()?,
            arrived_ms: ms(f.get(1)?)? - ms(f.get(2)?)?,
            verdict: match *f.get(3)? {
                "PASSED" | "-" => 0,
                "DELAYED" => 1,
                "REJECTED" => 2,
                _ => return None,
            },
            status: f.get(4)?.parse().ok()?,
        })
    }

    fn status_word(&self) -> &'static str {
        ["PASSED", "DELAYED", "REJECTED"][usize::from(self.verdict)]
    }
}

/// A limiter's verdict, as nginx's $limit_req_status has it: PASSED (0),
/// DELAYED (1), REJECTED (2).
fn verdict(d: &Decision) -> u8 {
    match d {
        Decision::Allow => 0,
        Decision::Delay(_) => 1,
        Decision::Deny { .. } => 2,
    }
}

fn us(t: f64) -> u64 {
    (t * 1e6) as u64
}

/// Packet by packet against the kernel's verdicts: `(hard, borderline)`. A
/// packet is borderline when the model's verdict a millisecond earlier or
/// later is the kernel's; the model then goes on from that verdict, so that
/// one borderline packet does not count its neighbours as differing too (a
/// token taken a packet early is missing for the next one).
fn follow(alg: Algorithm, times: &[f64], kernel: &[bool]) -> (Vec<usize>, Vec<usize>) {
    let mut b = Bucket::new(alg, us(times[0]));
    let (mut hard, mut borderline) = (Vec::new(), Vec::new());
    for (i, (t, k)) in times.iter().zip(kernel).enumerate() {
        let t = us(*t);
        let mut nominal = b.clone();
        if nominal.admit(t).allowed() == *k {
            b = nominal;
            continue;
        }
        let near = [t.saturating_sub(1000), t + 1000]
            .into_iter()
            .map(|at| {
                let mut c = b.clone();
                (c.admit(at).allowed(), c)
            })
            .find(|(v, _)| v == k);
        match near {
            Some((_, c)) => {
                borderline.push(i);
                b = c;
            }
            None => {
                hard.push(i);
                b = nominal;
            }
        }
    }
    (hard, borderline)
}

#[test]
fn nft_limit_and_meter_against_the_model() {
    if !common::root_or_skip("nft_limit_and_meter_against_the_model") {
        return;
    }
    let _one = one_at_a_time();
    let rig = Rig::new(&common::lab_name("nftlim")).expect("rig");
    let sources = addrs(1, 4);
    rig.client_addresses(&sources).expect("addresses");
    rig.server_nft(
        "table inet pp_limits {\n  chain input {\n    type filter hook input priority 0; policy accept;\n\
         udp dport 9001 limit rate 10/second burst 5 packets accept\n    udp dport 9001 drop\n\
         udp dport 9002 meter per_source { ip saddr limit rate 5/second burst 3 packets } accept\n    udp dport 9002 drop\n  }\n}\n",
    )
    .expect("nft");
    // Rates that never line up with the buckets' refills: at a whole number
    // per second, the packet sent a whole second after the first finds a
    // credit of exactly one packet (time elapsed and tokens spent are both
    // whole multiples of the cost), a tie that microseconds of delivery
    // break either way.
    let streams = vec![
        Datagrams {
            port: 9001,
            source: sources[0],
            rate: 47.3,
            count: 141,
        },
        Datagrams {
            port: 9002,
            source: sources[1],
            rate: 19.3,
            count: 57,
        },
        Datagrams {
            port: 9002,
            source: sources[2],
            rate: 7.3,
            count: 21,
        },
        Datagrams {
            port: 9002,
            source: sources[3],
            rate: 3.3,
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
        let arrived: Vec<bool> = mine.iter().map(|x| x.arrived).collect();
        let (hard, border) = follow(alg, &times, &arrived);
        let seconds = times.last().copied().unwrap_or(0.0).ceil() as usize;
        let mut kernel = vec![0u32; seconds.max(1)];
        let mut model = vec![0u32; seconds.max(1)];
        for (x, p) in mine.iter().zip(&pred) {
            let sec = (x.at as usize).min(seconds.max(1) - 1);
            kernel[sec] += u32::from(x.arrived);
            model[sec] += u32::from(*p);
        }
        for (i, what) in hard
            .iter()
            .map(|i| (i, ""))
            .chain(border.iter().map(|i| (i, " (borderline)")))
        {
            let x = mine[*i];
            println!(
                "    differs: sent at {:.4} s (send_to took {:.2} ms): kernel {}{what}",
                x.at,
                (x.returned - x.at) * 1e3,
                if x.arrived { "passed" } else { "dropped" },
            );
        }
        hard_mismatches += hard.len();
        borderline += border.len();
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
    let _one = one_at_a_time();
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
         log_format pp '$remote_port $msec $request_time $limit_req_status $status';\n\
         server {{\n    listen {}:8080;\n    root {};\n    access_log limits.log pp;\n    add_header X-Limit-Req $limit_req_status always;\n\
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
        let (log_from, err_from) = (
            nginx.file("limits.log").len(),
            nginx.file("error.log").len(),
        );
        let answers = traffic::http_requests(&rig.gen, 8080, path, &times).expect("requests");
        // What nginx saw: when each request arrived by its own clock
        // ($msec at the log minus $request_time: the request's start, in
        // the event loop's turn that runs limit_req), and its verdict. The
        // log's clock is the wall clock and limit_req's the monotonic one,
        // both read at once but rounded to milliseconds at different
        // instants: a millisecond either way.
        let seen: Vec<Seen> = nginx.file("limits.log")[log_from..]
            .lines()
            .map(|l| Seen::parse(l).unwrap_or_else(|| panic!("an access log line: {l}")))
            .collect();
        assert_eq!(seen.len(), answers.len(), "every request is logged once");
        let mut order: Vec<&Seen> = seen.iter().collect();
        order.sort_by_key(|x| x.arrived_ms);
        let first = order[0].arrived_ms;
        let mut b = Bucket::new(alg, (order[0].arrived_ms - first) * 1000);
        println!("\n== nginx limit_req {path}: arrived (nginx's clock), nginx, model");
        let mut model_delays = Vec::new();
        // The model decides the requests in nginx's order of arrival; within
        // one millisecond the order is nginx's to choose, so the verdicts of
        // such a group are compared sorted (PASSED, DELAYED, REJECTED).
        let mut i = 0;
        while i < order.len() {
            let j = (i..order.len())
                .find(|&j| order[j].arrived_ms != order[i].arrived_ms)
                .unwrap_or(order.len());
            let now = (order[i].arrived_ms - first) * 1000;
            let group = |b: &mut Bucket, at: u64| -> Vec<(u8, Decision)> {
                let mut v: Vec<(u8, Decision)> = (i..j)
                    .map(|_| {
                        let d = b.admit(at);
                        (verdict(&d), d)
                    })
                    .collect();
                v.sort_by_key(|(v, _)| *v);
                v
            };
            let before = b.clone();
            let model = group(&mut b, now);
            let mut theirs: Vec<&Seen> = order[i..j].to_vec();
            theirs.sort_by_key(|x| x.verdict);
            let verdicts = |v: &[(u8, Decision)]| v.iter().map(|(v, _)| *v).collect::<Vec<u8>>();
            let nginx_verdicts: Vec<u8> = theirs.iter().map(|x| x.verdict).collect();
            // A group the model decides otherwise is borderline when a
            // millisecond of nginx's clock either way gives nginx's verdicts.
            let near = [now.saturating_sub(1000), now + 1000]
                .into_iter()
                .any(|at| verdicts(&group(&mut before.clone(), at)) == nginx_verdicts);
            for (x, (m, d)) in theirs.iter().zip(&model) {
                let a = answers
                    .iter()
                    .find(|a| a.port == x.port)
                    .expect("an answer for every logged request");
                assert_eq!(
                    (a.status, a.header("X-Limit-Req")),
                    (x.status, Some(x.status_word())),
                    "the client got what nginx logged"
                );
                let model = match d {
                    Decision::Deny { .. } => "503".to_string(),
                    Decision::Allow => "served at once".to_string(),
                    Decision::Delay(us) => format!("delayed {} ms", us / 1000),
                };
                let said = match x.verdict {
                    0 => "served at once".to_string(),
                    1 => format!("delayed (answered after {:.0} ms)", a.waited * 1e3),
                    _ => "503".to_string(),
                };
                println!("  {:>5} ms  {said:<34} {model}", x.arrived_ms - first);
                if let Decision::Delay(us) = d {
                    model_delays.push(*us as f64 / 1e3);
                }
                if x.verdict != *m {
                    if near {
                        borderline += 1;
                    } else {
                        hard += 1;
                    }
                }
            }
            i = j;
        }
        // How long: nginx writes each delay's excess E (in requests) to its
        // error log and waits E / rate; against the model's delays, both
        // sorted, within that millisecond. The wall-clock waits only confirm that nginx held the
        // answers that long (a timer may fire late on a busy machine, never
        // early).
        let mut nginx_delays: Vec<f64> = nginx.file("error.log")[err_from..]
            .lines()
            .filter_map(|l| l.split_once("delaying request, excess: "))
            .filter_map(|(_, rest)| rest.split(',').next()?.parse::<f64>().ok())
            .map(|excess| excess * 1000.0 / 10.0)
            .collect();
        nginx_delays.sort_by(f64::total_cmp);
        model_delays.sort_by(f64::total_cmp);
        println!("  delays, nginx's error log: {nginx_delays:?} ms; model: {model_delays:?} ms");
        assert_eq!(nginx_delays.len(), model_delays.len());
        for (n, m) in nginx_delays.iter().zip(&model_delays) {
            assert!((n - m).abs() <= 1.0, "delay {n} ms vs {m} ms");
        }
        let mut waits: Vec<f64> = answers
            .iter()
            .filter(|a| a.header("X-Limit-Req") == Some("DELAYED"))
            .map(|a| a.waited * 1e3)
            .collect();
        waits.sort_by(f64::total_cmp);
        for (w, n) in waits.iter().zip(&nginx_delays) {
            assert!(*w >= n - 5.0, "an answer after {w:.0} ms, delayed {n} ms");
        }
    }
    drop(nginx);
    let _ = std::fs::remove_dir_all(&www);
    println!("  requests that differ: {hard} (and {borderline} within 1 ms of a leak)");
    assert_eq!(hard, 0);
}
