//! `lab trace`: one real journey with the kernel's own rule trace
//! (`nft monitor trace`) from every namespace it crossed, beside the model's
//! hops; and the same for the disagreements of a probe run (`explain`).
//!
//! A temporary table `inet pathproof_trace` in every host namespace of the
//! lab sets `nftrace` on the journey's packets, before conntrack and NAT: every
//! UDP packet, and every TCP SYN, SYN-ACK or reset, whose source or
//! destination port is one of the ports in the model's hops (so every leg:
//! the client's, a proxy's upstream leg with its own source port, the
//! replies), the ICMP errors that answer them and, for a ping, the echo
//! request and reply. The report keeps, of the trace table's own lines, only
//! the packet each trace starts with. A table that cannot be loaded, or a
//! monitor that cannot start, is an error (and what was set up is removed).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pathproof_core::evidence::Trace;
use pathproof_core::model::{Proto, Scenario};

use crate::netns;
use crate::plan::Plan;
use crate::probe::{self, Job, ProbeResult};

const TRACE_TABLE: &str = "pathproof_trace";

/// How many disagreements of a probe run `explain` makes again with tracing.
pub const EXPLAIN_AT_MOST: usize = 10;

/// The ports a journey's packets carry, per the model's hops.
fn journey_ports(t: &Trace) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    ports.insert(pathproof_core::journey::EPHEMERAL_PORT);
    for h in &t.hops {
        ports.extend(h.packet.sport);
        ports.extend(h.packet.dport);
    }
    ports
}

/// The trace table: `nftrace` on the journey's packets (see the module
/// comment), at raw priority so that the trace starts before conntrack and NAT.
pub fn trace_rules(ports: &BTreeSet<u16>, icmp_echo: bool) -> String {
    let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    let echo = if icmp_echo {
        " icmp type { echo-request, echo-reply } meta nftrace set 1; icmpv6 type { echo-request, echo-reply } meta nftrace set 1;"
    } else {
        ""
    };
    // TCP: the handshake and resets only (what the model's hops stand for),
    // not every segment of the echo's conversation.
    let body = format!(
        "tcp flags & (syn | rst) != 0 tcp sport @ports meta nftrace set 1; tcp flags & (syn | rst) != 0 tcp dport @ports meta nftrace set 1; udp sport @ports meta nftrace set 1; udp dport @ports meta nftrace set 1; icmp type {{ destination-unreachable, time-exceeded }} meta nftrace set 1; icmpv6 type {{ destination-unreachable, time-exceeded }} meta nftrace set 1;{echo}"
    );
    format!(
        "table inet {TRACE_TABLE} {{\n\tset ports {{ type inet_service; elements = {{ {} }}; }}\n\tchain pre {{ type filter hook prerouting priority raw - 1; policy accept; {body} }}\n\tchain out {{ type filter hook output priority raw - 1; policy accept; {body} }}\n}}\n",
        list.join(", ")
    )
}

fn start_monitor(ns: &str, rules: &str) -> Result<Child, String> {
    let ns2 = ns.to_string();
    let rules = rules.to_string();
    netns::run_in(ns, move || -> Result<Child, String> {
        netns::run_cmd("nft", &["-f", "-"], Some(&rules))
            .map_err(|e| format!("cannot load the trace table in {ns2}: {e}"))?;
        // (Not `netns::die_with_parent`: the death signal comes when the
        // thread that starts a process ends, and this one ends at once.)
        Command::new("nft")
            .args(["monitor", "trace"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run nft monitor trace in {ns2}: {e}"))
    })?
}

/// Stops a monitor and removes the trace table; returns what it printed and
/// any trouble removing the table.
fn stop_monitor(ns: &str, mut child: Child) -> (String, Option<String>) {
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let removed = netns::run_in(ns, || {
        netns::run_cmd("nft", &["delete", "table", "inet", TRACE_TABLE], None)
    });
    let trouble = match removed {
        Ok(Ok(_)) => None,
        Ok(Err(e)) | Err(e) => Some(format!("{ns}: cannot remove the trace table: {e}")),
    };
    (out, trouble)
}

/// The kernel's trace of one journey: per host (in the model's order of
/// visit, then the rest), the `trace id` lines `nft monitor trace` printed.
pub struct KernelTrace {
    pub per_host: Vec<(String, Vec<String>)>,
    /// Trouble cleaning up (the trace still stands).
    pub notes: Vec<String>,
}

impl KernelTrace {
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, lines) in &self.per_host {
            let _ = writeln!(out, "  [{name}]");
            for l in lines {
                let _ = writeln!(out, "    {l}");
            }
        }
        if self.per_host.is_empty() {
            let _ = writeln!(out, "  (no traced packet in any namespace)");
        }
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        out
    }
}

/// Makes `job` for real with tracing on in every host namespace of the lab:
/// the comparison with the model (as `lab probe` makes it) and the kernel's
/// trace.
pub fn traced(
    scn: &Scenario,
    plan: &Plan,
    job: &Job,
) -> Result<(ProbeResult, KernelTrace), String> {
    let t = pathproof_core::trace(scn, &job.query).map_err(|e| {
        format!(
            "the model cannot trace {} -> {}: {e}",
            job.query.from, job.query.to
        )
    })?;
    let rules = trace_rules(&journey_ports(&t), job.query.proto == Proto::Icmp);
    let mut monitors = Vec::new();
    for h in &plan.hosts {
        match start_monitor(&h.ns, &rules) {
            Ok(c) => monitors.push((h.name.clone(), h.ns.clone(), c)),
            Err(e) => {
                for (_, ns, c) in monitors {
                    let _ = stop_monitor(&ns, c);
                }
                let _ = netns::run_in(&h.ns, || {
                    netns::run_cmd("nft", &["delete", "table", "inet", TRACE_TABLE], None)
                });
                return Err(e);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    // A monitor that has already exited never traces anything.
    let mut dead = Vec::new();
    for (name, _, c) in monitors.iter_mut() {
        if let Ok(Some(status)) = c.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            dead.push(format!(
                "nft monitor trace in {name}'s namespace exited ({status}): {}",
                err.trim()
            ));
        }
    }
    if !dead.is_empty() {
        for (_, ns, c) in monitors {
            let _ = stop_monitor(&ns, c);
        }
        return Err(dead.join("; "));
    }
    let tls = probe::tls_side(scn, job, &t, &crate::lab::run_dir(&plan.lab))?;
    let proxy = probe::proxy_addr(scn, job, &t);
    let (job2, t2) = (job.clone(), t.clone());
    let src_ns = plan.hosts[job.source].ns.clone();
    let k = netns::run_in(&src_ns, move || {
        probe::run_kernel(&job2, &t2, proxy, tls.as_ref())
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut texts = Vec::new();
    let mut notes = Vec::new();
    for (name, ns, child) in monitors {
        let (text, trouble) = stop_monitor(&ns, child);
        texts.push((name, text));
        notes.extend(trouble);
    }
    let k = k?;
    // Hosts in the order the model visits them, then the rest.
    let mut order: Vec<String> = Vec::new();
    for h in &t.hops {
        if !order.contains(&h.device) {
            order.push(h.device.clone());
        }
    }
    texts.sort_by_key(|(n, _)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    let per_host = texts
        .into_iter()
        .filter_map(|(name, text)| {
            let own = format!("inet {TRACE_TABLE} ");
            let lines: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("trace id"))
                .filter(|l| !l.contains(&own) || l.contains(" packet: "))
                .map(|l| l.trim().to_string())
                .collect();
            (!lines.is_empty()).then_some((name, lines))
        })
        .collect();
    Ok((
        probe::compare(scn, job, t, k),
        KernelTrace { per_host, notes },
    ))
}

/// The model's hops, one line each, with the rule that decided.
pub fn model_hops(t: &Trace) -> String {
    let mut out = String::new();
    for h in &t.hops {
        let rule = h
            .rule
            .as_ref()
            .map(|r| format!(" [{} line {}: {}]", r.kind, r.line, r.text))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>2} {:<8} {:<8} {:<12} {:<9} {} -> {}{rule}",
            h.step,
            format!("{:?}", h.direction).to_lowercase(),
            h.device,
            h.stage.name(),
            format!("{:?}", h.verdict).to_lowercase(),
            h.packet.src,
            h.packet.dst
        );
    }
    out
}

/// Runs one journey for real with tracing on in every namespace of the lab.
/// Returns the report and whether model and kernel agree (`lab trace` exits
/// 1 when they do not).
pub fn trace(
    lab: &str,
    from: &str,
    to: &str,
    proto: Proto,
    via: Option<&str>,
) -> Result<(String, bool), String> {
    // Locked while it runs, and only on a lab that is complete and healthy.
    let crate::lab::OpenLab {
        lock: _lock,
        plan,
        scn,
        ..
    } = crate::lab::open(lab)?;
    let job = probe::job_for(&scn, from, to, proto, via)?;
    let (r, kt) = traced(&scn, &plan, &job)?;
    let t = r.trace.as_ref().expect("compare keeps the trace");
    let mut out = String::new();
    let via_text = via.map(|v| format!(" via {v}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "journey: {} {from} -> {to}{via_text} in lab {lab}",
        proto.name()
    );
    let _ = writeln!(out, "model:  {} ({})", r.model, r.model_client_sees);
    let _ = writeln!(
        out,
        "kernel: {} ({}) after {} ms",
        r.kernel.class.name(),
        r.kernel.detail,
        r.kernel.millis
    );
    match &r.disagreement {
        None => {
            let _ = writeln!(out, "they agree");
        }
        Some(d) => {
            let _ = writeln!(out, "THEY DISAGREE: {d}");
        }
    }
    let _ = writeln!(out, "\nthe model's hops:");
    out.push_str(&model_hops(t));
    let _ = writeln!(
        out,
        "\nthe kernel's trace (nft monitor trace), per namespace:"
    );
    out.push_str(&kt.render());
    Ok((out, r.agree))
}

/// Makes the first `at_most` disagreements of a probe run again with tracing
/// on, and keeps the kernel's trace in each (`ProbeResult::kernel_trace`).
/// Journeys from network stand-ins are not traced (their namespaces exist
/// only during the probe); the note says so.
pub fn explain(scn: &Scenario, plan: &Plan, results: &mut [ProbeResult], at_most: usize) {
    for r in results.iter_mut().filter(|r| !r.agree).take(at_most) {
        let Some(job) = r.job.clone() else {
            continue;
        };
        if job.network.is_some() {
            r.kernel_trace = Some(
                "  (not traced: the journey starts at a network stand-in, which exists only while lab probe runs)\n"
                    .into(),
            );
            continue;
        }
        r.kernel_trace = Some(match traced(scn, plan, &job) {
            Ok((again, kt)) => {
                let mut s = String::new();
                if again.kernel.class != r.kernel.class {
                    let _ = writeln!(
                        s,
                        "  (made again with tracing, the kernel gave {} ({}))",
                        again.kernel.class.name(),
                        again.kernel.detail
                    );
                }
                s.push_str(&kt.render());
                s
            }
            Err(e) => format!("  (not traced: {e})\n"),
        });
    }
}
