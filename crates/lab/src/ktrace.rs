//! `lab trace`: one real journey with the kernel's own rule trace
//! (`nft monitor trace`) from every namespace it crossed, beside the model's hops.

use std::fmt::Write as _;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pathproof_core::model::Proto;
use pathproof_core::Query;

use crate::lab::{read_plan, read_spec};
use crate::netns;
use crate::probe::{self, Job};

const TRACE_TABLE: &str = "pathproof_trace";

fn trace_rules(port: u16) -> String {
    // Raw priority: before conntrack and NAT, so every packet of the journey
    // (request, reply, its client port fixed at `port`) is marked.
    // ICMP errors (the answers of rejects, "no route", TTL expiry) too.
    let icmp = "icmp type { destination-unreachable, time-exceeded } meta nftrace set 1; icmpv6 type { destination-unreachable, time-exceeded } meta nftrace set 1;";
    format!(
        "table inet {TRACE_TABLE} {{\n\tchain pre {{ type filter hook prerouting priority raw - 1; policy accept; th sport {port} meta nftrace set 1; th dport {port} meta nftrace set 1; {icmp} }}\n\tchain out {{ type filter hook output priority raw - 1; policy accept; th sport {port} meta nftrace set 1; th dport {port} meta nftrace set 1; {icmp} }}\n}}\n"
    )
}

fn start_monitor(ns: &str) -> Result<Child, String> {
    let ns2 = ns.to_string();
    netns::run_in(ns, move || {
        let _ = netns::run_cmd(
            "nft",
            &["-f", "-"],
            Some(&trace_rules(pathproof_core::journey::EPHEMERAL_PORT)),
        );
        Command::new("nft")
            .args(["monitor", "trace"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run nft monitor trace in {ns2}: {e}"))
    })?
}

fn stop_monitor(ns: &str, mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let _ = netns::run_in(ns, || {
        netns::run_cmd("nft", &["delete", "table", "inet", TRACE_TABLE], None)
    });
    out
}

/// Runs one journey for real with tracing on in every namespace of the lab.
pub fn trace(lab: &str, from: &str, to: &str, proto: Proto) -> Result<String, String> {
    crate::lab::preflight()?;
    let spec = read_spec(lab)?;
    let plan = read_plan(lab)?;
    let scn = spec.load()?;
    let source = scn
        .host_by_name(from)
        .ok_or_else(|| {
            format!(
                "`{from}` is not a host of scenario {} (the lab probes from hosts)",
                scn.name
            )
        })?
        .index();
    let mut q = Query::new(from, to);
    q.proto = proto;
    let t = pathproof_core::trace(&scn, &q).map_err(|e| format!("{e:?}"))?;
    let host_part = to.rsplit_once(':').map(|x| x.0).unwrap_or(to);
    let by_name = scn.host_by_name(host_part).is_none()
        && host_part
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_err();
    let job = Job {
        why: "lab trace".into(),
        query: q,
        source,
        by_name,
        via_target: None,
        network: None,
    };
    let mut monitors = Vec::new();
    for h in &plan.hosts {
        monitors.push((h.name.clone(), h.ns.clone(), start_monitor(&h.ns)?));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t2 = t.clone();
    let job2 = job.clone();
    let tls = probe::tls_side(&scn, &job, &t, &crate::lab::run_dir(lab))?;
    let k = netns::run_in(&plan.hosts[source].ns, move || {
        probe::run_kernel(&job2, &t2, None, tls.as_ref())
    })?;
    std::thread::sleep(Duration::from_millis(300));
    let mut out = String::new();
    let _ = writeln!(out, "journey: {} {from} -> {to} in lab {lab}", proto.name());
    let _ = writeln!(
        out,
        "model:  {} ({})",
        t.outcome.kind.name(),
        t.outcome.client_sees
    );
    let _ = writeln!(
        out,
        "kernel: {} ({}) after {} ms",
        k.class.name(),
        k.detail,
        k.millis
    );
    let agree = probe::expected(&t).contains(&k.class);
    let _ = writeln!(
        out,
        "{}",
        if agree { "they agree" } else { "THEY DISAGREE" }
    );
    let _ = writeln!(out, "\nthe model's hops:");
    for h in &t.hops {
        let rule = h
            .rule
            .as_ref()
            .map(|r| format!(" [{} line {}: {}]", r.kind, r.line, r.text))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>2} {:<8} {:<12} {:<9} {:?}{rule}",
            h.step,
            h.device,
            h.stage.name(),
            format!("{:?}", h.verdict).to_lowercase(),
            h.packet.src
        );
    }
    let _ = writeln!(
        out,
        "\nthe kernel's trace (nft monitor trace), per namespace:"
    );
    // Devices in the order the model visits them, then the rest.
    let mut order: Vec<String> = Vec::new();
    for h in &t.hops {
        if !order.contains(&h.device) {
            order.push(h.device.clone());
        }
    }
    let mut texts = Vec::new();
    for (name, ns, child) in monitors {
        texts.push((name, stop_monitor(&ns, child)));
    }
    texts.sort_by_key(|(n, _)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    for (name, text) in texts {
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("trace id")).collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  [{name}]");
        for l in lines {
            let _ = writeln!(out, "    {}", l.trim());
        }
    }
    Ok(out)
}
