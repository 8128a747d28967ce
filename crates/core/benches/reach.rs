//! `reach` and `check` at growing sizes of the generated scenario, with the
//! mini-lab as the baseline measured in the same run. Prints medians.
//!
//!     cargo bench -p pathproof-core --bench reach
//!     REACH_HOSTS=100,200,400,800 cargo bench -p pathproof-core --bench reach
//!
//! Each size keeps the shape of the default 2,000-host scenario (ten hosts per
//! network, ten rules per host).

/// The `pathproof` binary's allocator and its settings, so that the figures are its figures.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::time::{Duration, Instant};

use pathproof_core::analysis::check::check;
use pathproof_core::analysis::reach::{reach, ReachQuery};
use pathproof_core::synth::{large, SynthParams};
use pathproof_core::{examples, load};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The scenario text with `n` more expectations about its own hosts and
/// sockets (seeded, so every run checks the same ones): three in five
/// `deny`/`allow` between hosts, one in five `only … may reach`, the rest
/// `isolated … inbound`.
fn with_expectations(text: &str, scn: &pathproof_core::model::Scenario, n: usize) -> String {
    let mut rng = pathproof_core::synth::SplitMix64::new(99);
    let hosts: Vec<usize> = (0..scn.hosts.len())
        .filter(|&i| !scn.hosts[i].router)
        .collect();
    let listening: Vec<usize> = hosts
        .iter()
        .copied()
        .filter(|&i| !scn.hosts[i].sockets.is_empty())
        .collect();
    let nets: Vec<&str> = scn
        .networks
        .iter()
        .filter(|n| !n.catch_all)
        .map(|n| n.name.as_str())
        .collect();
    let mut lines = Vec::new();
    for k in 0..n {
        let b = &scn.hosts[*rng.pick(&listening)];
        let s = rng.pick(&b.sockets);
        let proto = if s.proto == pathproof_core::model::Proto::Udp {
            " udp"
        } else {
            ""
        };
        let line = match k % 5 {
            0..=2 => {
                let a = &scn.hosts[*rng.pick(&hosts)];
                let verb = if rng.chance(0.5) { "allow" } else { "deny" };
                format!("{verb}{proto} {} -> {}:{}", a.name, b.name, s.port)
            }
            3 => format!(
                "only {} may reach{proto} {}:{}",
                rng.pick(&nets),
                b.name,
                s.port
            ),
            _ => format!("isolated {} inbound", rng.pick(&nets)),
        };
        lines.push(format!("  - \"{line}\"\n"));
    }
    text.replacen("\nexpect:\n", &format!("\nexpect:\n{}", lines.concat()), 1)
}

/// CPU time (user + system) this process has used so far, from /proc (Linux;
/// clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let k: f64 = f.get(12)?.parse().ok()?;
            Some((u + k) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() {
    allocator::keep_freed_memory();
    let mini = examples::get("mini-lab").expect("built in");
    let scn = load(&mini.file(), mini.text, None).expect("loads");
    let (base_reach, r) = time(20, || reach(&scn, &ReachQuery::default()));
    let (base_check, _) = time(20, || check(&scn));
    println!(
        "baseline mini-lab: reach {base_reach:?} ({} journeys), check {base_check:?}",
        r.journeys.len()
    );
    let sizes: Vec<usize> = std::env::var("REACH_HOSTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![50, 100, 200]);
    println!(
        "{:>6} {:>8} {:>7} {:>10} {:>12} {:>9} {:>10} {:>12} {:>10} {:>9}",
        "hosts",
        "networks",
        "rules",
        "load",
        "reach",
        "reach CPU",
        "journeys",
        "x baseline",
        "check",
        "peak MiB"
    );
    for h in sizes {
        let p = SynthParams {
            hosts: h,
            networks: (h / 10).max(4),
            rules: h * 10,
            ..SynthParams::default()
        };
        let text = large(&p);
        let (load_t, scn) = time(3, || {
            load("large.yaml", &text, None).expect("generated scenarios load")
        });
        let runs = if h <= 200 { 3 } else { 1 };
        let cpu0 = cpu_secs();
        let (reach_t, r) = time(runs, || reach(&scn, &ReachQuery::default()));
        let reach_cpu = (cpu_secs() - cpu0) / runs as f64;
        let pairs: usize = r.journeys.iter().map(|j| j.members.len()).sum();
        // `check` of the generated expectations plus a hundred more.
        let text = with_expectations(&text, &scn, 100);
        let scn = load("large.yaml", &text, None).expect("the added expectations load");
        let (check_t, c) = time(runs, || check(&scn));
        println!(
            "{:>6} {:>8} {:>7} {:>10.1?} {:>12.2?} {:>8.2}s {:>10} {:>12.0} {:>10.1?} {:>9.0}   ({} expectations; journeys are (source, socket) pairs, {} rows)",
            h,
            p.networks,
            p.rules,
            load_t,
            reach_t,
            reach_cpu,
            pairs,
            reach_t.as_secs_f64() / base_reach.as_secs_f64(),
            check_t,
            peak_rss_mib(),
            c.results.len(),
            r.journeys.len()
        );
    }
}
