//! `lab down` removes everything `lab up` made and nothing else, also after a
//! crash: namespaces, links (none are ever made in the machine's own
//! namespace), the supervisor, the run directory; and the machine's own
//! namespace keeps its nftables rule set and every sysctl the lab sets in
//! its namespaces.

mod common;

use pathproof_lab::plan::Plan;
use pathproof_lab::{lab, netns};

/// Every sysctl the lab writes in its namespaces (per host, per interface,
/// and the bridge namespace's own), as paths under /proc/sys.
fn lab_sysctls(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan
        .hosts
        .iter()
        .flat_map(|h| h.sysctls.iter().chain(h.iface_sysctls.iter()))
        .map(|(k, _)| k.clone())
        .collect();
    // The bridge namespace's (lab::up).
    v.extend(
        [
            "net/ipv6/conf/all/disable_ipv6",
            "net/ipv6/conf/default/disable_ipv6",
            "net/ipv4/ip_forward",
        ]
        .map(String::from),
    );
    v.sort();
    v.dedup();
    v
}

/// The calling thread's namespace as the kernel sees it: `nft list ruleset`
/// and each sysctl's value (`None`: no such file there, as for the lab's
/// interfaces in the machine's namespace).
#[derive(Debug, PartialEq)]
struct NsState {
    ruleset: String,
    sysctls: Vec<(String, Option<String>)>,
}

fn ns_state(keys: &[String]) -> NsState {
    NsState {
        ruleset: netns::run_cmd("nft", &["list", "ruleset"], None).expect("nft list ruleset"),
        sysctls: keys
            .iter()
            .map(|k| {
                let v = std::fs::read_to_string(format!("/proc/sys/{k}")).ok();
                (k.clone(), v)
            })
            .collect(),
    }
}

/// The machine's own namespace: this thread never entered another (the
/// lab moves only threads it spawns), which the check makes sure of.
fn host_state(keys: &[String]) -> NsState {
    let me = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let process = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(me, process, "the test thread left the machine's namespace");
    ns_state(keys)
}

fn host_links() -> Vec<String> {
    let out = netns::run_cmd("ip", &["-o", "link", "show"], None).expect("ip link");
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v
}

fn lab_namespaces(name: &str) -> Vec<String> {
    netns::list()
        .expect("list")
        .into_iter()
        .filter(|n| n.starts_with(&format!("pp-{name}.")))
        .collect()
}

#[test]
fn down_leaves_nothing_behind() {
    if !common::root_or_skip("down_leaves_nothing_behind") {
        return;
    }
    let links_before = host_links();
    let ns_before = netns::list().unwrap();
    let keys = {
        let e = pathproof_core::examples::get("mini-lab").unwrap();
        let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
        lab_sysctls(&pathproof_lab::plan::plan(&scn, &common::lab_name("hyg")))
    };
    let state_before = host_state(&keys);
    let l = common::Lab::builtin("hyg", "mini-lab", None);
    let made = lab_namespaces(&l.name);
    assert_eq!(made.len(), 8, "7 hosts and the bridge namespace: {made:?}");
    assert_eq!(lab_sysctls(&l.plan()), keys);
    // The check sees what the lab sets where it sets it: edge's namespace
    // has its rule set and the lab's sysctls.
    let edge = {
        let keys = keys.clone();
        netns::run_in(&format!("pp-{}.edge", l.name), move || ns_state(&keys)).unwrap()
    };
    assert!(
        edge.ruleset.contains("table inet pathproof_edge"),
        "{}",
        edge.ruleset
    );
    assert!(edge.sysctls.contains(&(
        "net/ipv4/ip_local_port_range".into(),
        Some("49152\t49999\n".into())
    )));
    assert!(edge
        .sysctls
        .contains(&("net/ipv4/icmp_ratelimit".into(), Some("0\n".into()))));
    // ...and none of it reaches the machine's own namespace.
    assert_eq!(
        host_state(&keys),
        state_before,
        "lab up changed the host namespace's rule set or sysctls"
    );
    let pid: i32 = std::fs::read_to_string(lab::run_dir(&l.name).join("supervisor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // The machine's own namespace is never changed.
    assert_eq!(
        host_links(),
        links_before,
        "lab up added links to the host namespace"
    );
    // up again is idempotent: same namespaces, a fresh supervisor.
    lab::up(&l.spec, &common::supervisor()).expect("second up");
    assert_eq!(lab_namespaces(&l.name), made);
    let r = lab::down(&l.name).expect("down");
    assert_eq!(r.removed_namespaces.len(), 8);
    assert!(lab_namespaces(&l.name).is_empty());
    // Other tests' labs (every test lab's name starts `pp-`) come and go in
    // parallel; every other namespace is left as it was.
    let mut after = netns::list().unwrap();
    after.retain(|n| !n.starts_with("pp-"));
    let mut before = ns_before.clone();
    before.retain(|n| !n.starts_with("pp-"));
    assert_eq!(after, before, "other namespaces changed");
    assert!(
        r.removed_namespaces
            .iter()
            .all(|n| n.starts_with(&format!("pp-{}.", l.name))),
        "{:?}",
        r.removed_namespaces
    );
    assert_eq!(host_links(), links_before);
    assert_eq!(
        host_state(&keys),
        state_before,
        "up + down changed the host namespace's rule set or sysctls"
    );
    assert!(
        !state_before.ruleset.contains("pathproof_"),
        "{}",
        state_before.ruleset
    );
    assert!(!lab::run_dir(&l.name).exists());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
        "supervisor {pid} still runs"
    );
    // Down of a lab that is not up succeeds and does nothing.
    assert!(lab::down(&l.name).unwrap().removed_namespaces.is_empty());
}

#[test]
fn down_cleans_up_after_a_crash() {
    if !common::root_or_skip("down_cleans_up_after_a_crash") {
        return;
    }
    let name = common::lab_name("crash");
    // A crash in the middle of `up`: namespaces made, no state file, no supervisor.
    for n in ["web", "br"] {
        netns::run_cmd("ip", &["netns", "add", &format!("pp-{name}.{n}")], None).unwrap();
    }
    netns::run_cmd(
        "ip",
        &[
            "-n",
            &format!("pp-{name}.br"),
            "link",
            "add",
            "h0n0",
            "type",
            "veth",
            "peer",
            "name",
            "dmz",
            "netns",
            &format!("pp-{name}.web"),
        ],
        None,
    )
    .unwrap();
    // Another lab whose name starts the same way must survive.
    let other = format!("{name}-x");
    netns::run_cmd("ip", &["netns", "add", &format!("pp-{other}.web")], None).unwrap();
    let r = lab::down(&name).unwrap();
    assert_eq!(r.removed_namespaces.len(), 2);
    assert!(lab_namespaces(&name).is_empty());
    assert_eq!(lab_namespaces(&other).len(), 1);
    lab::down(&other).unwrap();
    assert!(lab_namespaces(&other).is_empty());

    // A supervisor killed with SIGKILL and a run directory left behind.
    let l = common::Lab::builtin("crash2", "stateless-acl", None);
    let pid: i32 = std::fs::read_to_string(lab::run_dir(&l.name).join("supervisor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    lab::down(&l.name).unwrap();
    assert!(lab_namespaces(&l.name).is_empty());
    assert!(!lab::run_dir(&l.name).exists());
}

#[test]
fn up_refuses_a_bad_lab_name_and_a_bad_variant() {
    if !common::root_or_skip("up_refuses_a_bad_lab_name_and_a_bad_variant") {
        return;
    }
    let e = pathproof_core::examples::get("mini-lab").unwrap();
    let mut spec = lab::LabSpec {
        lab: "bad.name".into(),
        file: e.file(),
        text: e.text.into(),
        variant: None,
        files: Default::default(),
    };
    let err = lab::up(&spec, &common::supervisor()).unwrap_err();
    assert!(err.contains("lab name"), "{err}");
    spec.lab = common::lab_name("badvar");
    spec.variant = Some("nope".into());
    let err = lab::up(&spec, &common::supervisor()).unwrap_err();
    assert!(err.contains("does not load"), "{err}");
    assert!(lab_namespaces(&spec.lab).is_empty());
}

/// The library's side of the lock and the health check: while the lab's
/// lock is held, `up`, `down` and `open` fail at once naming the holder
/// (here this very process); `open` accepts a complete, healthy lab and
/// refuses it once its supervisor is killed.
#[test]
fn the_lock_and_the_health_check_guard_every_use_of_a_lab() {
    if !common::root_or_skip("the_lock_and_the_health_check_guard_every_use_of_a_lab") {
        return;
    }
    let l = common::Lab::builtin("guard", "stateless-acl", None);
    let opened = lab::open(&l.name).expect("a complete, healthy lab opens");
    assert!(lab::health(&l.name, &opened.scn, &opened.plan).ok());
    let me = format!("is in use: process {} (`", std::process::id());
    for e in [
        lab::up(&l.spec, &common::supervisor()).unwrap_err(),
        lab::down(&l.name).unwrap_err(),
        lab::open(&l.name).err().expect("locked"),
    ] {
        assert!(e.contains(&me), "{e}");
    }
    drop(opened);
    let pid = lab::supervisor_pid(&l.name).expect("the supervisor runs");
    // SAFETY: the supervisor of the lab this test made.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let t = std::time::Instant::now();
    while lab::supervisor_pid(&l.name).is_some() && t.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let e = lab::open(&l.name).err().expect("no supervisor");
    assert!(e.contains("is not healthy"), "{e}");
    assert!(e.contains("missing: the supervisor"), "{e}");
    lab::down(&l.name).unwrap();
    assert!(lab_namespaces(&l.name).is_empty());
    let e = lab::open(&l.name).err().expect("down");
    assert!(e.contains("is not up"), "{e}");
}
