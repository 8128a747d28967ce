//! The lab's command line for real (root; under `CI=true` a missing root is a
//! failure): `lab up` interrupted by Ctrl-C (SIGINT) takes down what it made,
//! and `lab down` afterwards leaves nothing; `lab trace` exits 1 when the
//! kernel and the model disagree; `lab probe` in text and JSON, every probe
//! with the model's outcome and the kernel's, which agree; `export nft`
//! prints rule sets that `nft -c -f` accepts (the content checks need no
//! root, the kernel's check does).

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
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-lab-cli-{}", std::process::id()));
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
    // The kernel stops doing what the model says: edge's rule set is
    // emptied (the table stays: a lab missing a table is refused, exit 2).
    let edge = format!("pp-{lab}.edge");
    let gone = netns::run_in(&edge, || {
        netns::run_cmd("nft", &["flush", "table", "inet", "pathproof_edge"], None)
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

/// The kernel classes that agree with a model outcome (docs/lab.md, the
/// table under "Probes"), restated here so the JSON is checked on its own.
fn agreeing_classes(model: &str) -> &'static [&'static str] {
    match model {
        "reached" => &["connected"],
        "tls failed" => &["tls_failed"],
        "refused" => &["refused"],
        "rejected" => &["refused", "unreachable", "prohibited", "local_drop"],
        "dropped" | "reply lost" | "ttl exceeded" => &["timeout", "local_drop"],
        "no route" => &["unreachable"],
        "unresolved" => &["unresolved"],
        "proxy denied" => &["proxy_denied"],
        // The model's proxy_loop outcome (its name as the lead's core gives
        // it), answered by the lab's proxies with 508 Loop Detected.
        "proxy loop" | "proxy_loop" => &["loop_detected"],
        _ => &[],
    }
}

#[test]
fn lab_probe_prints_every_probe_in_text_and_json() {
    if !ready("lab_probe_prints_every_probe_in_text_and_json") {
        return;
    }
    let run = |args: &[&str]| Command::new(bin()).args(args).output().unwrap();
    let mut identities = 0;
    for (k, scenario) in ["mini-lab", "tls-identity"].into_iter().enumerate() {
        let lab = format!("p{}-{k}", std::process::id());
        let up = run(&["lab", "up", scenario, "--lab", &lab]);
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let text = run(&["lab", "probe", scenario, "--lab", &lab]);
        let json = run(&["lab", "probe", scenario, "--lab", &lab, "--format", "json"]);
        let down = run(&["lab", "down", scenario, "--lab", &lab]);
        assert!(down.status.success());
        assert!(lab_namespaces(&lab).is_empty());

        let text_out = String::from_utf8_lossy(&text.stdout).to_string();
        assert_eq!(
            text.status.code(),
            Some(0),
            "{text_out}{}",
            String::from_utf8_lossy(&text.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
            panic!(
                "lab probe --format json is no JSON ({e}): {}",
                String::from_utf8_lossy(&json.stdout)
            )
        });
        assert_eq!(json.status.code(), Some(0), "{v:#}");
        assert_eq!(v["lab"], lab.as_str());
        let results = v["results"].as_array().expect("results");
        let n = results.len();
        assert!(n >= 10, "{scenario}: only {n} probes");
        assert_eq!(v["probes"].as_u64(), Some(n as u64));
        assert_eq!(v["agree"].as_u64(), Some(n as u64), "{v:#}");
        assert_eq!(v["disagree"].as_u64(), Some(0));
        // The text says the same, one row per probe.
        let first = text_out.lines().next().unwrap_or("");
        assert_eq!(
            first,
            format!(
                "lab {lab}: {n} probes, {n} agree, 0 disagree; {} expectation journeys not probed",
                v["not_probed"].as_array().map_or(0, |a| a.len())
            ),
            "{text_out}"
        );
        let rows = text_out.lines().filter(|l| l.starts_with("ok ")).count();
        assert_eq!(rows, n, "{text_out}");
        assert!(!text_out.contains("DIFF"), "{text_out}");

        let mut reached = 0;
        for r in results {
            let what = format!("{scenario}: {} -> {}", r["from"], r["to"]);
            let model = r["model"].as_str().expect("model outcome");
            let kernel = r["kernel"]["class"].as_str().expect("kernel class");
            assert_eq!(r["agree"], true, "{what}: {r:#}");
            assert!(r["disagreement"].is_null(), "{what}");
            assert!(
                agreeing_classes(model).contains(&kernel),
                "{what}: the model says {model}, the kernel gave {kernel}, and the JSON says they agree"
            );
            if model == "reached" && r["proto"] != "icmp" {
                reached += 1;
                // What the service reported is the model's.
                assert_eq!(r["kernel"]["peer_seen"], r["model_peer"], "{what}");
                assert_eq!(r["kernel"]["answered_by"], r["model_answered_by"], "{what}");
                assert!(!r["kernel"]["peer_seen"].is_null(), "{what}");
                if !r["model_tls_at"].is_null() {
                    assert_eq!(r["kernel"]["tls"]["host"], r["model_tls_at"], "{what}");
                    assert_eq!(
                        r["kernel"]["tls"]["client_id"], r["model_client_id"],
                        "{what}"
                    );
                    identities += r["model_client_id"].is_string() as usize;
                }
            }
        }
        assert!(reached >= 2, "{scenario}: {reached} reached");
    }
    // tls-identity: frontend's identity, verified by payments, twice (the
    // socket and the `authenticated by mtls` expectation).
    assert!(
        identities >= 2,
        "{identities} client identities in the JSON"
    );
}

/// Every built-in scenario and variant through `pathproof export nft`: the
/// tables and the comments naming scenario rules are there, `--host`
/// narrows it, an unknown host is refused; as root, `nft -c -f` accepts
/// every output.
#[test]
fn export_nft_prints_rule_sets_the_kernel_accepts() {
    let run = |args: &[&str]| Command::new(bin()).args(args).output().unwrap();
    let out = run(&["export", "nft"]);
    assert!(out.status.success());
    let mini = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(mini.contains("table inet pathproof_edge {"), "{mini}");
    assert!(
        mini.contains(
            "comment \"edge-fw rule 1 line 65: allow tcp from internet to web port 443\""
        ),
        "{mini}"
    );
    assert!(mini.contains("dnat ip to 10.0.1.10:443"), "{mini}");
    let edge = run(&["export", "nft", "mini-lab", "--host", "edge"]);
    assert!(edge.status.success());
    let edge = String::from_utf8_lossy(&edge.stdout).to_string();
    assert!(edge.contains("table inet pathproof_edge {"));
    assert!(!edge.contains("pathproof_web"), "{edge}");
    let nope = run(&["export", "nft", "mini-lab", "--host", "nope"]);
    assert_eq!(nope.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nope.stderr).contains("no host `nope`"));

    let mut outputs = Vec::new();
    let mut tables = 0;
    for e in pathproof_core::examples::ALL {
        let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
        let mut variants = vec![None];
        variants.extend(scn.variants.iter().map(|v| Some(v.name.clone())));
        for v in variants {
            let mut args = vec!["export", "nft", e.name];
            if let Some(v) = &v {
                args.extend(["--variant", v.as_str()]);
            }
            let out = run(&args);
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            // Exactly what `lab up` loads.
            let scn = pathproof_core::load(&e.file(), e.text, v.as_deref()).unwrap();
            assert_eq!(
                text,
                pathproof_lab::nft::export(&scn, None).unwrap(),
                "{args:?}"
            );
            tables += text.matches("table inet pathproof_").count();
            outputs.push((
                format!(
                    "{}{}",
                    e.name,
                    v.map(|v| format!("@{v}")).unwrap_or_default()
                ),
                text,
            ));
        }
    }
    assert!(
        outputs.len() >= 15 && tables >= 20,
        "{} outputs, {tables} tables",
        outputs.len()
    );
    if !ready("export_nft_prints_rule_sets_the_kernel_accepts") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in &outputs {
        let file = dir.join(format!("{name}.nft"));
        std::fs::write(&file, text).unwrap();
        // A dry run: the kernel's parser and validator, nothing committed.
        let check = Command::new("nft")
            .args(["-c", "-f"])
            .arg(&file)
            .output()
            .expect("nft runs");
        assert!(
            check.status.success(),
            "nft -c -f rejects export nft {name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "nft -c -f accepts export nft of {} scenario variants ({tables} tables)",
        outputs.len()
    );
}

/// Runs the binary, waiting for it.
fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `lab down` takes away everything the lab made: namespaces, supervisor,
/// run directory.
fn down_leaves_nothing(lab: &str) {
    let down = run(&["lab", "down", "--lab", lab]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(lab_namespaces(lab).is_empty(), "namespaces of {lab} left");
    assert!(supervisors(lab).is_empty(), "a supervisor of {lab} left");
    assert!(
        !pathproof_lab::lab::run_dir(lab).exists(),
        "the run directory of {lab} left"
    );
}

/// A `lab up` of mini-lab that pauses after `step` (the test hook
/// `PATHPROOF_LAB_UP_PAUSE`); returns once it says it paused.
fn up_paused(lab: &str, step: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(bin())
        .args(["lab", "up", "--lab", lab])
        .env(pathproof_lab::lab::PAUSE_ENV, step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains(&format!("paused after step `{step}`")),
        "{line}"
    );
    child
}

/// After `kill -9` of `lab up` midway, `lab probe` and `lab trace` refuse
/// the half-made lab (exit 2), naming what is missing and how to recover;
/// `lab down` still takes everything away. At fixed points (the test hook)
/// and, without it, once the first namespaces appear.
#[test]
fn kill_9_of_lab_up_midway_leaves_a_lab_that_probe_refuses() {
    if !ready("kill_9_of_lab_up_midway_leaves_a_lab_that_probe_refuses") {
        return;
    }
    for (step, says) in [
        ("namespaces", "links ("),
        ("hosts", "the supervisor: it was never started"),
        ("supervisor", "only the record that it finished"),
    ] {
        let lab = format!("k{}-{step}", std::process::id());
        let mut child = up_paused(&lab, step);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!lab_namespaces(&lab).is_empty(), "{step}: nothing made");
        let probe = run(&["lab", "probe", "--lab", &lab]);
        let err = stderr(&probe);
        assert_eq!(probe.status.code(), Some(2), "{step}: {err}");
        assert!(
            err.contains(&format!(
                "lab `{lab}` is incomplete: `lab up` did not finish"
            )),
            "{step}: {err}"
        );
        assert!(err.contains(says), "{step}: {err}");
        assert!(
            err.contains(&format!(
                "recover with `pathproof lab down --lab {lab}`, then `pathproof lab up mini-lab --lab {lab}`"
            )),
            "{step}: {err}"
        );
        assert!(probe.stdout.is_empty(), "{step}: probed anyway");
        let trace = run(&[
            "lab", "trace", "--lab", &lab, "--from", "client", "--to", "web:443",
        ]);
        assert_eq!(trace.status.code(), Some(2), "{step}: {}", stderr(&trace));
        assert!(stderr(&trace).contains("is incomplete"), "{step}");
        down_leaves_nothing(&lab);
    }

    // No hook: SIGKILL as soon as the first namespaces of a 49-host lab appear.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-lab-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.yaml");
    std::fs::write(&file, big_scenario()).unwrap();
    let lab = format!("k{}-big", std::process::id());
    let mut child = Command::new(bin())
        .args(["lab", "up", file.to_str().unwrap(), "--lab", &lab])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while lab_namespaces(&lab).is_empty() && t.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!lab_namespaces(&lab).is_empty(), "no namespace appeared");
    let probe = run(&["lab", "probe", file.to_str().unwrap(), "--lab", &lab]);
    let err = stderr(&probe);
    assert_eq!(probe.status.code(), Some(2), "{err}");
    assert!(err.contains("is incomplete"), "{err}");
    assert!(err.contains("missing: "), "{err}");
    assert!(
        err.contains(&format!("pathproof lab down --lab {lab}")),
        "{err}"
    );
    down_leaves_nothing(&lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A complete lab that loses a part (its supervisor killed, a rule set
/// deleted, a namespace deleted) is refused by `lab probe` (exit 2, naming
/// the part), not probed into a list of disagreements; `lab down` cleans up.
#[test]
fn a_complete_lab_that_lost_a_part_is_refused() {
    if !ready("a_complete_lab_that_lost_a_part_is_refused") {
        return;
    }
    let lab = format!("h{}", std::process::id());
    let up = run(&["lab", "up", "--lab", &lab]);
    assert!(up.status.success(), "{}", stderr(&up));
    let ok = run(&["lab", "probe", "--lab", &lab]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let pid: i32 =
        std::fs::read_to_string(pathproof_lab::lab::run_dir(&lab).join("supervisor.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    // The supervisor of the lab this test made.
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let t = Instant::now();
    while pathproof_lab::lab::supervisor_pid(&lab).is_some() && t.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let probe = run(&["lab", "probe", "--lab", &lab]);
    let err = stderr(&probe);
    assert_eq!(probe.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("lab `{lab}` is not healthy")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "missing: the supervisor: process {pid} is not running"
        )),
        "{err}"
    );
    assert!(err.contains("web's tcp/443"), "{err}");
    assert!(
        err.contains(&format!("recover with `pathproof lab down --lab {lab}`")),
        "{err}"
    );
    down_leaves_nothing(&lab);

    // A rule set and a namespace gone.
    let up = run(&["lab", "up", "--lab", &lab]);
    assert!(up.status.success(), "{}", stderr(&up));
    netns::run_in(&format!("pp-{lab}.edge"), || {
        netns::run_cmd("nft", &["delete", "table", "inet", "pathproof_edge"], None)
    })
    .unwrap()
    .unwrap();
    netns::run_cmd("ip", &["netns", "del", &format!("pp-{lab}.db")], None).unwrap();
    let probe = run(&["lab", "probe", "--lab", &lab]);
    let err = stderr(&probe);
    assert_eq!(probe.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "1 nft table (inet pathproof_edge in pp-{lab}.edge)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("1 namespace of 8 (pp-{lab}.db)")),
        "{err}"
    );
    down_leaves_nothing(&lab);
}

/// One lab name, two commands at once: the lock. Two `lab up` started
/// together: one builds the lab, the other fails at once (exit 2) naming
/// the first's pid and command line; `lab probe` and `lab down` of a lab
/// whose `up` is running fail the same way; the lock of a process killed
/// with SIGKILL is no obstacle.
#[test]
fn one_lab_name_is_used_by_one_command_at_a_time() {
    if !ready("one_lab_name_is_used_by_one_command_at_a_time") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-lab-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.yaml");
    std::fs::write(&file, big_scenario()).unwrap();
    let file = file.to_str().unwrap().to_string();
    let lab = format!("l{}", std::process::id());
    let spawn = || {
        Command::new(bin())
            .args(["lab", "up", &file, "--lab", &lab])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let pids = [a.id(), b.id()];
    let t = Instant::now();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    eprintln!("two ups at once: {:.2} s", t.elapsed().as_secs_f64());
    let outs = [&a, &b];
    let won: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one up builds the lab:\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let (w, l) = (won[0], 1 - won[0]);
    let err = stderr(outs[l]);
    assert_eq!(outs[l].status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "lab `{lab}` is in use: process {} (`{} lab up {file} --lab {lab}`) holds its lock",
            pids[w],
            bin()
        )),
        "{err}"
    );
    assert!(!err.contains("RTNETLINK"), "a raw ip error: {err}");
    assert_eq!(lab_namespaces(&lab).len(), 50);
    let probe = run(&["lab", "probe", &file, "--lab", &lab]);
    assert_eq!(probe.status.code(), Some(0), "{}", stderr(&probe));
    down_leaves_nothing(&lab);

    // While an up holds the lock (paused), probe and down fail at once...
    let mut child = up_paused(&lab, "hosts");
    for args in [
        vec!["lab", "probe", "--lab", &lab],
        vec!["lab", "down", "--lab", &lab],
        vec!["lab", "up", "--lab", &lab],
    ] {
        let t = Instant::now();
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("is in use: process {} (`", child.id())),
            "{args:?}: {err}"
        );
        assert!(
            t.elapsed().as_secs_f64() < 3.0,
            "{args:?} waited for the lock"
        );
    }
    // ...and when the holder is killed, its lock is no obstacle: the lock
    // file (with the dead pid in it) is still there.
    let holder = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = pathproof_lab::lab::run_dir(&lab).join(pathproof_lab::lab::LOCK_FILE);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.starts_with(&format!("{holder} ")), "{text}");
    let up = run(&["lab", "up", "--lab", &lab]);
    assert!(up.status.success(), "{}", stderr(&up));
    let probe = run(&["lab", "probe", "--lab", &lab]);
    assert_eq!(probe.status.code(), Some(0), "{}", stderr(&probe));
    down_leaves_nothing(&lab);
    let _ = std::fs::remove_dir_all(&dir);
}
