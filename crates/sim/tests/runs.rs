//! Whole runs: every built-in scenario with a traffic section, in every
//! variant; byte-identical output for a seed; the books balance; the seed's
//! login example end to end; the listener's counters hold together.

use pathproof_core::{examples, load};
use pathproof_sim::report::Run;
use pathproof_sim::{render, simulate, Options};

fn run(text: &str, variant: Option<&str>, seconds: Option<u32>, seed: Option<u64>) -> Run {
    let scn = load("t.yaml", text, variant).unwrap_or_else(|e| panic!("{e}"));
    simulate(&scn, &Options { seconds, seed }).unwrap_or_else(|e| panic!("{e}"))
}

fn builtins_with_traffic() -> Vec<(&'static str, &'static str, Vec<Option<String>>)> {
    examples::ALL
        .iter()
        .filter_map(|e| {
            let scn = load(&e.file(), e.text, None).ok()?;
            scn.traffic.as_ref()?;
            let mut v: Vec<Option<String>> = vec![None];
            v.extend(scn.variants.iter().map(|x| Some(x.name.clone())));
            Some((e.name, e.text, v))
        })
        .collect()
}

fn balanced(r: &Run) {
    for f in &r.flows {
        let ok: u64 = f.outcomes.iter().filter(|o| o.ok).map(|o| o.count).sum();
        let failed: u64 = f.outcomes.iter().filter(|o| !o.ok).map(|o| o.count).sum();
        assert_eq!((ok, failed), (f.ok, f.failed), "{}", f.name);
        assert_eq!(
            f.ok + f.failed + f.pending,
            f.offered,
            "{} {}: every attempt ends once or is under way",
            r.scenario,
            f.name
        );
        let per: u64 = f.per_second.iter().map(|s| s.ok + s.failed).sum();
        assert_eq!(per, f.ok + f.failed, "{}: the seconds add up", f.name);
    }
    for l in &r.listeners {
        let c = l.counters;
        assert!(c.listen_drops >= c.listen_overflows, "{}", l.name);
        assert!(c.syncookies_sent <= c.reqq_full_do_cookies, "{}", l.name);
        for s in &l.per_second {
            assert!(
                s.syn_queue_max <= l.backlog + 1,
                "{}: the SYN queue holds at most backlog + 1 ({} > {})",
                l.name,
                s.syn_queue_max,
                l.backlog + 1
            );
        }
    }
}

#[test]
fn every_builtin_runs_the_same_twice_and_balances() {
    let list = builtins_with_traffic();
    assert!(list.len() >= 3, "syn-flood, login-limits, ddos-layers");
    for (name, text, variants) in list {
        for v in variants {
            let a = run(text, v.as_deref(), Some(12), None);
            balanced(&a);
            let b = run(text, v.as_deref(), Some(12), None);
            assert_eq!(render::json(&a), render::json(&b), "{name} {v:?}");
            assert_eq!(render::csv(&a), render::csv(&b));
            assert_eq!(render::text(&a), render::text(&b));
            assert_eq!(render::svg(&a), render::svg(&b));
        }
    }
}

#[test]
fn another_seed_another_run() {
    let e = examples::get("syn-flood").unwrap();
    let a = run(e.text, None, Some(6), Some(1));
    let b = run(e.text, None, Some(6), Some(2));
    assert_ne!(
        render::json(&a),
        render::json(&b),
        "Poisson arrivals follow the seed"
    );
    assert_eq!(a.seed, 1);
}

#[test]
fn cookies_keep_every_visitor_and_their_absence_drops_newcomers() {
    let e = examples::get("syn-flood").unwrap();
    let base = run(e.text, None, Some(20), None);
    let harden = run(e.text, Some("harden"), Some(20), None);
    let flow = |r: &Run, n: &str| r.flows.iter().find(|f| f.name == n).unwrap().clone();
    let window = |r: &Run, n: &str| {
        let f = flow(r, n);
        let ok: u64 = f.per_second[6..15].iter().map(|s| s.ok).sum();
        let all: u64 = f.per_second[6..15].iter().map(|s| s.ok + s.failed).sum();
        ok as f64 / all as f64
    };
    assert!(window(&base, "newcomers") < 0.01);
    assert!(
        window(&base, "regulars") > 0.99,
        "proven peers keep the last quarter"
    );
    assert!(window(&harden, "newcomers") > 0.99);
    let l = &harden.listeners[0];
    assert!(l.counters.syncookies_sent > 1_000_000);
    assert!(l.counters.syncookies_recv > 0);
    assert_eq!(base.listeners[0].counters.syncookies_sent, 0);
    assert!(base.listeners[0].counters.listen_drops > 1_000_000);
}

const LOGIN: &str = r#"networks:
  internet: { cidr: 0.0.0.0/0 }
hosts:
  site: { at: internet 198.51.100.10, listen: ["tcp/443"] }
  attacker: { at: internet 192.0.2.66 }
  alice: { at: internet 203.0.113.50 }
traffic:
  seconds: 5
  limiters:
    logins: { at: site:443, algorithm: sliding-window-log, limit: 5, window: 10s, key: KEY }
  flows:
    stuffer: { kind: credential-stuffing, from: FROM, sources: SOURCES, to: site:443, accounts: [alice], rate: RATE, stop: 1s, pattern: constant, rtt: 1ms }
    alice: { kind: clients, from: alice, to: site:443, accounts: [alice], rate: 1/s, start: 2s, stop: 3s, pattern: constant, rtt: 1ms }
"#;

fn login(key: &str, from: &str, sources: u32, rate: u32) -> Run {
    let text = LOGIN
        .replace("KEY", key)
        .replace("FROM", from)
        .replace("SOURCES", &sources.to_string())
        .replace("RATE", &format!("{rate}/s"));
    run(&text, None, None, None)
}

fn counts(r: &Run, flow: &str) -> (u64, u64) {
    let f = r.flows.iter().find(|f| f.name == flow).unwrap();
    (f.ok, f.failed)
}

#[test]
fn the_seeds_login_example_end_to_end() {
    // 8 rapid attempts from one address: the last 3 are refused, and the
    // real user's window is untouched.
    let r = login("source", "attacker", 1, 8);
    assert_eq!(counts(&r, "stuffer"), (5, 3));
    assert_eq!(counts(&r, "alice"), (1, 0));
    assert_eq!(
        r.limiters[0].first_refusal.as_deref(),
        Some("rate limited: 6th request in the 10 s window of key source=192.0.2.66")
    );
    // The same attempts from 50 addresses beat the per-address limit...
    let r = login("source", "internet", 50, 50);
    assert_eq!(counts(&r, "stuffer"), (50, 0));
    // ... a per-account limit stops them, and locks the real alice out.
    let r = login("account", "internet", 50, 50);
    assert_eq!(counts(&r, "stuffer"), (5, 45));
    assert_eq!(counts(&r, "alice"), (0, 1));
    assert_eq!(
        r.limiters[0].first_refusal.as_deref(),
        Some("rate limited: 6th request in the 10 s window of key user=alice")
    );
    // Keyed by both, alice's own pair is untouched.
    let r = login("source+account", "internet", 50, 50);
    assert_eq!(counts(&r, "alice"), (1, 0));
}

#[test]
fn a_volumetric_flood_fills_the_link_before_the_filter() {
    let e = examples::get("ddos-layers").unwrap();
    let r = run(e.text, None, Some(12), None);
    let refl = r.flows.iter().find(|f| f.name == "reflection").unwrap();
    let saturated: u64 = refl
        .outcomes
        .iter()
        .filter(|o| o.key == "link_saturated" && o.at == "isp uplink (out)")
        .map(|o| o.count)
        .sum();
    assert!(
        saturated * 10 > refl.offered * 8,
        "{saturated} of {}",
        refl.offered
    );
    let link = r
        .links
        .iter()
        .find(|l| l.name == "isp uplink (out)")
        .unwrap();
    assert!(link.per_second[8].utilization > 0.99);
    let h = run(e.text, Some("harden"), Some(12), None);
    let refl = h.flows.iter().find(|f| f.name == "reflection").unwrap();
    assert!(refl
        .outcomes
        .iter()
        .all(|o| o.key == "network" && o.at == "isp"));
}

#[test]
fn a_scenario_without_traffic_is_an_error_with_a_place() {
    let e = examples::get("mini-lab").unwrap();
    let scn = load(&e.file(), e.text, None).unwrap();
    let err = simulate(
        &scn,
        &Options {
            seconds: None,
            seed: None,
        },
    )
    .unwrap_err();
    assert!(err.message.contains("has no `traffic:` section"));
}
