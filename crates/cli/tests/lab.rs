//! The lab's command line for real (root; under `CI=true` a missing root is a
//! failure): `lab up` interrupted by Ctrl-C (SIGINT) takes down what it made,
//! and `lab down` afterwards leaves nothing; `lab trace` exits 1 when the
//! kernel and the model disagree.

use std::process::{Command, Stdio};
use std::time::Instant;

use pathproof_lab::netns;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pathproof")
}

fn ready(test: &str) -> bool {
    match pathproof_lab::lab::preflight() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test} needs root and the lab's tools under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

fn lab_namespaces(lab: &str) -> Vec<String> {
    let prefix = format!("pp-{lab}.");
    netns::list()
        .expect("ip netns list")
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Processes whose command line is the supervisor of `lab`.
fn supervisors(lab: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let Ok(c) = std::fs::read(format!("/proc/{p}/cmdline")) else {
                return false;
            };
            let args: Vec<String> = c
                .split(|b| *b == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            args.iter().any(|a| a == "supervise") && args.windows(2).any(|w| w == ["--lab", lab])
        })
        .collect()
}

/// A scenario big enough that `lab up` takes a while: four networks behind
/// a router, 48 hosts with two sockets each, a stateful filter.
fn big_scenario() -> String {
    let mut s = String::from(
        "name: big\nnetworks:\n  n0: { cidr: 10.70.0.0/24, gateway: r }\n  n1: { cidr: 10.70.1.0/24, gateway: r }\n  n2: { cidr: 10.70.2.0/24, gateway: r }\n  n3: { cidr: 10.70.3.0/24, gateway: r }\nhosts:\n  r: { router: true, at: [n0 10.70.0.1, n1 10.70.1.1, n2 10.70.2.1, n3 10.70.3.1], filter: fw }\n",
    );
    for i in 0..48 {
        s.push_str(&format!(
            "  h{i}: {{ at: n{} 10.70.{}.{}, listen: [tcp/80, udp/53] }}\n",
            i % 4,
            i % 4,
            10 + i
        ));
    }
    s.push_str("filters:\n  fw: { stateful: true, default: drop, rules: [\"allow tcp to any port 80\"] }\n");
    s
}

#[test]
fn ctrl_c_during_lab_up_takes_down_what_it_made() {
    if !ready("ctrl_c_during_lab_up_takes_down_what_it_made") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pathproof-lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.yaml");
    std::fs::write(&file, big_scenario()).unwrap();
    let file = file.to_str().unwrap().to_string();
    // How long a whole `up` takes, to interrupt it at several points.
    let lab = format!("c{}", std::process::id());
    let t = Instant::now();
    let up = Command::new(bin())
        .args(["lab", "up", &file, "--lab", &lab])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let whole = t.elapsed();
    assert_eq!(
        lab_namespaces(&lab).len(),
        50,
        "48 hosts, r and the bridges"
    );
    let down = Command::new(bin())
        .args(["lab", "down", &file, "--lab", &lab])
        .output()
        .unwrap();
    assert!(down.status.success());
    assert!(lab_namespaces(&lab).is_empty());
    eprintln!("lab up of 49 hosts: {:.2} s", whole.as_secs_f64());

    let mut interrupted = 0;
    for (k, frac) in [0.05, 0.2, 0.4, 0.6, 0.8, 0.95].iter().enumerate() {
        let lab = format!("c{}-{k}", std::process::id());
        let child = Command::new(bin())
            .args(["lab", "up", &file, "--lab", &lab])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(*frac));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if std::os::unix::process::ExitStatusExt::signal(&out.status).is_some() {
            // The signal came before `up` set its handler, while the command
            // line was still being read: nothing was made yet.
            assert!(lab_namespaces(&lab).is_empty());
            assert!(!pathproof_lab::lab::run_dir(&lab).exists());
        } else if !out.status.success() {
            // Interrupted: up itself took everything down.
            assert!(err.contains("interrupted"), "{err}");
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(lab_namespaces(&lab).is_empty(), "{err}");
            assert!(supervisors(&lab).is_empty(), "{err}");
            assert!(!pathproof_lab::lab::run_dir(&lab).exists(), "{err}");
            interrupted += 1;
        }
        // Either way, lab down leaves nothing.
        let down = Command::new(bin())
            .args(["lab", "down", &file, "--lab", &lab])
            .output()
            .unwrap();
        assert!(down.status.success());
        assert!(lab_namespaces(&lab).is_empty());
        assert!(supervisors(&lab).is_empty());
        assert!(!pathproof_lab::lab::run_dir(&lab).exists());
    }
    eprintln!("{interrupted} of 6 ups interrupted, each taken down by itself");
    assert!(
        interrupted >= 3,
        "only {interrupted} of 6 ups were interrupted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lab_trace_exits_1_when_kernel_and_model_disagree() {
    if !ready("lab_trace_exits_1_when_kernel_and_model_disagree") {
        return;
    }
    let lab = format!("d{}", std::process::id());
    let run = |args: &[&str]| Command::new(bin()).args(args).output().unwrap();
    let up = run(&["lab", "up", "--lab", &lab]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let ok = run(&[
        "lab", "trace", "--lab", &lab, "--from", "client", "--to", "web:443",
    ]);
    let ok_out = String::from_utf8_lossy(&ok.stdout).to_string();
    // The kernel stops doing what the model says: edge's rule set is gone.
    let edge = format!("pp-{lab}.edge");
    let gone = netns::run_in(&edge, || {
        netns::run_cmd("nft", &["delete", "table", "inet", "pathproof_edge"], None)
    });
    let bad = run(&[
        "lab", "trace", "--lab", &lab, "--from", "client", "--to", "db:5432",
    ]);
    let down = run(&["lab", "down", "--lab", &lab]);
    assert!(down.status.success());
    assert!(lab_namespaces(&lab).is_empty());
    assert_eq!(ok.status.code(), Some(0), "{ok_out}");
    assert!(ok_out.contains("they agree"), "{ok_out}");
    gone.unwrap().unwrap();
    let bad_out = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{bad_out}");
    assert!(bad_out.contains("THEY DISAGREE"), "{bad_out}");
}
