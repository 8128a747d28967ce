//! `lab up` and `lab down`: builds a plan in the kernel and takes it away.
//!
//! State lives in the run directory `/run/pathproof/LAB/`: the scenario text
//! and variant, the plan, the supervisor's pid and log. The list of
//! namespaces is written *before* any is made, and `down` also sweeps every
//! namespace whose name carries the lab's prefix, so a crash or Ctrl-C in the
//! middle of `up` leaves nothing `down` cannot find. Everything a lab makes
//! lives inside its own namespaces (bridges included), so deleting them
//! removes every link, address, route, rule and conntrack entry with them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use pathproof_core::model::Scenario;

use crate::names;
use crate::netns;
use crate::plan::{self, Plan};

/// Where labs keep their state.
pub const RUN_ROOT: &str = "/run/pathproof";

/// What `lab up` was asked to build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabSpec {
    pub lab: String,
    /// The file name reports use (`mini-lab.yaml`).
    pub file: String,
    pub text: String,
    pub variant: Option<String>,
}

impl LabSpec {
    pub fn load(&self) -> Result<Scenario, String> {
        pathproof_core::load(&self.file, &self.text, self.variant.as_deref()).map_err(|e| {
            format!(
                "scenario {} does not load: {} problem(s)",
                self.file,
                e.problems.len()
            )
        })
    }
}

/// How to start the supervisor: a program and the arguments before `--lab`.
#[derive(Debug, Clone)]
pub struct SupervisorCmd {
    pub program: PathBuf,
    pub args: Vec<String>,
}

pub fn run_dir(lab: &str) -> PathBuf {
    Path::new(RUN_ROOT).join(lab)
}

/// Refuses to go on without root or the tools a lab needs.
pub fn preflight() -> Result<(), String> {
    preflight_with(&[("ip", "iproute2"), ("nft", "nftables")])
}

/// What the filter differential (`filterdiff`) needs on top: it loads rule
/// sets with `iptables-restore` and `ip6tables-restore` and makes conntrack
/// entries with `conntrack`.
pub fn preflight_filterdiff() -> Result<(), String> {
    preflight_with(&[
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("iptables-restore", "iptables"),
        ("ip6tables-restore", "iptables"),
        ("conntrack", "conntrack"),
    ])
}

/// Root, and each tool found on the PATH (or in the usual sbin
/// directories); the error names the missing tools and their packages.
fn preflight_with(tools: &[(&str, &str)]) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "the lab needs root (network namespaces, links and nftables): run it with sudo".into(),
        );
    }
    let mut missing = Vec::new();
    for &(tool, pkg) in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
            || ["/usr/sbin", "/sbin", "/usr/bin"]
                .iter()
                .any(|d| Path::new(d).join(tool).is_file());
        if !found {
            missing.push((tool, pkg));
        }
    }
    if !missing.is_empty() {
        let tools: Vec<&str> = missing.iter().map(|m| m.0).collect();
        let mut pkgs: Vec<&str> = missing.iter().map(|m| m.1).collect();
        pkgs.dedup();
        return Err(format!(
            "the lab needs {} and cannot find {}: install {} with `apt-get install {}`",
            tools.join(" and "),
            if tools.len() == 1 { "it" } else { "them" },
            if pkgs.len() == 1 { "it" } else { "them" },
            pkgs.join(" ")
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    namespaces: Vec<String>,
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).expect("plain values serialise");
    std::fs::write(path, s).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads the spec of a running lab.
pub fn read_spec(lab: &str) -> Result<LabSpec, String> {
    let p = run_dir(lab).join("spec.json");
    let s = std::fs::read_to_string(&p).map_err(|_| {
        format!(
            "lab `{lab}` is not up (no {}): run `pathproof lab up` first",
            p.display()
        )
    })?;
    serde_json::from_str(&s).map_err(|e| format!("{} is damaged: {e}", p.display()))
}

/// Reads the plan of a running lab.
pub fn read_plan(lab: &str) -> Result<Plan, String> {
    let p = run_dir(lab).join("plan.json");
    let s = std::fs::read_to_string(&p)
        .map_err(|_| format!("lab `{lab}` is not up (no {})", p.display()))?;
    serde_json::from_str(&s).map_err(|e| format!("{} is damaged: {e}", p.display()))
}

#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub lab: String,
    pub namespaces: usize,
    pub links: usize,
    pub rulesets: usize,
    pub sockets: usize,
    pub millis: u128,
}

fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let mut args: Vec<&str> = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    netns::run_cmd("ip", &args, Some(&text)).map(|_| ())
}

/// Set by SIGINT or SIGTERM while `up_interruptible` runs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// What `up` says when it was interrupted.
pub const INTERRUPTED_MESSAGE: &str = "interrupted";

/// Builds the lab. If a lab of that name is up, it is taken down first, so
/// `up` can be repeated (and switches variants).
pub fn up(spec: &LabSpec, sup: &SupervisorCmd) -> Result<UpReport, String> {
    up_checked(spec, sup, &|| false)
}

/// `up` for a command line: a Ctrl-C (SIGINT) or SIGTERM while it runs does
/// not stop the process half-way. `up` stops at its next step (between
/// batches of `ip`, `nft` and sysctl work, or while it waits for the
/// supervisor), takes down everything it made (`down`: the supervisor, the
/// namespaces, the run directory), and returns an error saying so. The
/// signals' previous handlers are back when it returns. (A SIGKILL cannot be
/// caught: then `lab down` finds what is left from the run directory, the
/// lab's namespace prefix and the supervisor's command line.)
pub fn up_interruptible(spec: &LabSpec, sup: &SupervisorCmd) -> Result<UpReport, String> {
    INTERRUPTED.store(false, Ordering::SeqCst);
    // SAFETY: sigaction with a handler that only stores to an atomic (async-signal-safe).
    let old = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: [libc::sigaction; 2] = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, &sa, &mut old[0]);
        libc::sigaction(libc::SIGTERM, &sa, &mut old[1]);
        old
    };
    let r = up_checked(spec, sup, &|| INTERRUPTED.load(Ordering::SeqCst));
    // SAFETY: restores the handlers saved above.
    unsafe {
        libc::sigaction(libc::SIGINT, &old[0], std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &old[1], std::ptr::null_mut());
    }
    r
}

/// `up`, stopping (and taking down what it made) as soon as `interrupted`
/// says so.
fn up_checked(
    spec: &LabSpec,
    sup: &SupervisorCmd,
    interrupted: &dyn Fn() -> bool,
) -> Result<UpReport, String> {
    preflight()?;
    names::check_lab_name(&spec.lab)?;
    let start = Instant::now();
    let scn = spec.load()?;
    down(&spec.lab)?;
    let plan = plan::plan(&scn, &spec.lab);
    let dir = run_dir(&spec.lab);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let state = State {
        namespaces: plan.namespaces(),
    };
    write_json(&dir.join("state.json"), &state)?;
    write_json(&dir.join("spec.json"), spec)?;
    write_json(&dir.join("plan.json"), &plan)?;
    let res = build(&plan, &dir, sup, interrupted);
    if let Err(e) = res {
        let gone = down(&spec.lab);
        if interrupted() {
            // (An interrupted child, `ip` or `nft`, may be why it failed.)
            return Err(match gone {
                Ok(r) => format!(
                    "{INTERRUPTED_MESSAGE}: lab {} was taken down ({} namespaces removed{})",
                    spec.lab,
                    r.removed_namespaces.len(),
                    r.stopped_supervisor
                        .map(|p| format!(", supervisor {p} stopped"))
                        .unwrap_or_default()
                ),
                Err(d) => format!(
                    "{INTERRUPTED_MESSAGE}, and lab {} could not be taken down ({d}): run `pathproof lab down --lab {}`",
                    spec.lab, spec.lab
                ),
            });
        }
        return Err(e);
    }
    let links = plan
        .hosts
        .iter()
        .map(|h| {
            h.ip.iter()
                .filter(|l| l.starts_with("link set") && !l.contains(" lo "))
                .count()
        })
        .sum();
    Ok(UpReport {
        lab: spec.lab.clone(),
        namespaces: state.namespaces.len(),
        links,
        rulesets: plan.hosts.iter().filter(|h| h.nft.is_some()).count(),
        sockets: scn.hosts.iter().map(|h| h.sockets.len()).sum(),
        millis: start.elapsed().as_millis(),
    })
}

fn build(
    plan: &Plan,
    dir: &Path,
    sup: &SupervisorCmd,
    interrupted: &dyn Fn() -> bool,
) -> Result<(), String> {
    let check = || {
        if interrupted() {
            Err(INTERRUPTED_MESSAGE.to_string())
        } else {
            Ok(())
        }
    };
    check()?;
    let adds: Vec<String> = plan
        .namespaces()
        .iter()
        .map(|n| format!("netns add {n}"))
        .collect();
    ip_batch(None, &adds)?;
    check()?;
    // sysctls before the links exist, so new interfaces take the defaults.
    let mut jobs = Vec::new();
    let mut bridge_sys = vec![
        (
            "net/ipv6/conf/all/disable_ipv6".to_string(),
            "1".to_string(),
        ),
        (
            "net/ipv6/conf/default/disable_ipv6".to_string(),
            "1".to_string(),
        ),
    ];
    bridge_sys.push(("net/ipv4/ip_forward".into(), "0".into()));
    {
        let ns = plan.bridge_ns.clone();
        jobs.push(std::thread::spawn(move || {
            netns::run_in(&ns, move || netns::write_sysctls(&bridge_sys))?
        }));
    }
    for h in &plan.hosts {
        let ns = h.ns.clone();
        let s = h.sysctls.clone();
        jobs.push(std::thread::spawn(move || {
            netns::run_in(&ns, move || netns::write_sysctls(&s))?
        }));
    }
    for j in jobs {
        j.join()
            .map_err(|_| "a sysctl worker panicked".to_string())??;
    }
    check()?;
    ip_batch(Some(&plan.bridge_ns), &plan.bridge_ip)?;
    check()?;
    let mut jobs = Vec::new();
    for h in &plan.hosts {
        let h = h.clone();
        jobs.push(std::thread::spawn(move || -> Result<(), String> {
            ip_batch(Some(&h.ns), &h.ip).map_err(|e| format!("host {}: {e}", h.name))?;
            let ns = h.ns.clone();
            netns::run_in(&ns, move || -> Result<(), String> {
                netns::write_sysctls(&h.iface_sysctls)?;
                if let Some(r) = &h.nft {
                    netns::run_cmd("nft", &["-f", "-"], Some(r))
                        .map_err(|e| format!("host {}: {e}", h.name))?;
                }
                Ok(())
            })?
        }));
    }
    for j in jobs {
        j.join()
            .map_err(|_| "a host worker panicked".to_string())??;
    }
    check()?;
    wait_ipv6_ready(&plan.hosts)?;
    check()?;
    start_supervisor(plan, dir, sup, interrupted)
}

/// IPv6 addresses become usable (local route, not tentative) in a kernel
/// work item, even with `nodad`: wait for every one of them, so the first
/// probe does not meet "no route to host" for an address the host owns.
fn wait_ipv6_ready(hosts: &[plan::HostPlan]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    for h in hosts {
        let want: Vec<String> =
            h.ip.iter()
                .filter_map(|l| l.strip_prefix("addr add "))
                .filter_map(|l| l.split('/').next())
                .filter(|a| a.contains(':'))
                .map(str::to_string)
                .collect();
        if want.is_empty() {
            continue;
        }
        loop {
            let local = netns::run_cmd(
                "ip",
                &["-n", &h.ns, "-6", "route", "show", "table", "local"],
                None,
            )?;
            let tentative = netns::run_cmd(
                "ip",
                &["-n", &h.ns, "-6", "addr", "show", "tentative"],
                None,
            )?;
            let ready = tentative.trim().is_empty()
                && want.iter().all(|a| {
                    local
                        .lines()
                        .any(|l| l.split_whitespace().nth(1) == Some(a.as_str()))
                });
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "host {}: IPv6 addresses not ready after 5 s",
                    h.name
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

fn start_supervisor(
    plan: &Plan,
    dir: &Path,
    sup: &SupervisorCmd,
    interrupted: &dyn Fn() -> bool,
) -> Result<(), String> {
    let log = std::fs::File::create(dir.join("supervisor.log"))
        .map_err(|e| format!("cannot create the supervisor log: {e}"))?;
    let _ = std::fs::remove_file(dir.join("ready"));
    let mut cmd = Command::new(&sup.program);
    cmd.args(&sup.args)
        .args(["--lab", &plan.lab])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // Detached: its own session, so a Ctrl-C of the terminal does not reach it.
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and has no preconditions.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the supervisor {}: {e}", sup.program.display()))?;
    std::fs::write(dir.join("supervisor.pid"), child.id().to_string())
        .map_err(|e| format!("cannot write the supervisor pid: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if dir.join("ready").exists() {
            return Ok(());
        }
        if interrupted() {
            return Err(INTERRUPTED_MESSAGE.into());
        }
        let log = std::fs::read_to_string(dir.join("supervisor.log")).unwrap_or_default();
        if dir.join("failed").exists() || Instant::now() > deadline {
            return Err(format!("the supervisor did not start:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Attaches senders standing for networks to a lab that is up: one namespace
/// each (`pp-LAB.net_N`), on its network's bridge, with the lab's usual
/// settings. `lab probe` makes them for the journeys that start from a
/// network and removes them afterwards (`remove_standins`); `lab down` finds
/// them by the lab's prefix if a probe was interrupted.
pub fn add_standins(plan: &Plan, standins: &[plan::StandInPlan]) -> Result<(), String> {
    if standins.is_empty() {
        return Ok(());
    }
    remove_standins(plan, standins)?;
    // What a failure left half made goes again.
    make_standins(plan, standins).inspect_err(|_| {
        let _ = remove_standins(plan, standins);
    })
}

fn make_standins(plan: &Plan, standins: &[plan::StandInPlan]) -> Result<(), String> {
    let adds: Vec<String> = standins
        .iter()
        .map(|s| format!("netns add {}", s.plan.ns))
        .collect();
    ip_batch(None, &adds)?;
    for s in standins {
        let sys = s.plan.sysctls.clone();
        netns::run_in(&s.plan.ns, move || netns::write_sysctls(&sys))??;
    }
    let bridge: Vec<String> = standins
        .iter()
        .flat_map(|s| s.bridge_ip.iter().cloned())
        .collect();
    ip_batch(Some(&plan.bridge_ns), &bridge)?;
    for s in standins {
        ip_batch(Some(&s.plan.ns), &s.plan.ip)
            .map_err(|e| format!("stand-in {}: {e}", s.plan.name))?;
        let sys = s.plan.iface_sysctls.clone();
        netns::run_in(&s.plan.ns, move || netns::write_sysctls(&sys))??;
    }
    let hosts: Vec<plan::HostPlan> = standins.iter().map(|s| s.plan.clone()).collect();
    wait_ipv6_ready(&hosts)
}

/// Removes the stand-ins: the bridge end of each one's veth pair first,
/// which takes the pair away at once, then its namespace. (A deleted
/// namespace's links go only when the kernel cleans the namespace up, later
/// and asynchronously: a probe made right after found the old bridge port
/// still there, and `link add` failed with `File exists`.)
pub fn remove_standins(plan: &Plan, standins: &[plan::StandInPlan]) -> Result<(), String> {
    let present = netns::list()?;
    if present.contains(&plan.bridge_ns) {
        let links = netns::run_cmd("ip", &["-n", &plan.bridge_ns, "-o", "link", "show"], None)?;
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or(""))
            .collect();
        let dels: Vec<String> = standins
            .iter()
            .flat_map(|s| s.bridge_ports())
            .filter(|p| names.contains(&p.as_str()))
            .map(|p| format!("link del dev {p}"))
            .collect();
        ip_batch(Some(&plan.bridge_ns), &dels)?;
    }
    let dels: Vec<String> = standins
        .iter()
        .filter(|s| present.contains(&s.plan.ns))
        .map(|s| format!("netns del {}", s.plan.ns))
        .collect();
    ip_batch(None, &dels)
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DownReport {
    pub lab: String,
    pub removed_namespaces: Vec<String>,
    pub stopped_supervisor: Option<i32>,
}

/// Whether process `pid` is the supervisor of lab `lab`: it runs
/// `... supervise --lab LAB` (or `pathproof-lab-supervise --lab LAB`).
fn is_supervisor_of(pid: i32, lab: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    args.windows(2).any(|w| w[0] == "--lab" && w[1] == lab)
        && args
            .iter()
            .any(|a| a == "supervise" || a.ends_with("pathproof-lab-supervise"))
}

fn stop_supervisor(dir: &Path, lab: &str) -> Option<i32> {
    let recorded: Option<i32> = std::fs::read_to_string(dir.join("supervisor.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&p| is_supervisor_of(p, lab));
    // No pid file (an `up` killed right after it started the supervisor):
    // the supervisor is found by its command line.
    let pid = recorded.or_else(|| {
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|&p| is_supervisor_of(p, lab))
    })?;
    // SAFETY: kill with a pid we verified above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if st.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    Some(pid)
}

/// Removes everything a lab made: its supervisor, its namespaces (and with
/// them every link, bridge, rule set and conntrack entry), its run directory.
/// Taking down a lab that is not up does nothing and succeeds.
pub fn down(lab: &str) -> Result<DownReport, String> {
    names::check_lab_name(lab)?;
    let dir = run_dir(lab);
    let mut report = DownReport {
        lab: lab.to_string(),
        ..Default::default()
    };
    report.stopped_supervisor = stop_supervisor(&dir, lab);
    let mut doomed: Vec<String> = Vec::new();
    if let Ok(s) = std::fs::read_to_string(dir.join("state.json")) {
        if let Ok(st) = serde_json::from_str::<State>(&s) {
            doomed.extend(st.namespaces);
        }
    }
    let prefix = format!("{}{lab}.", names::NS_PREFIX);
    let present = netns::list()?;
    for n in &present {
        if n.starts_with(&prefix) && !doomed.contains(n) {
            doomed.push(n.clone());
        }
    }
    let doomed: Vec<String> = doomed.into_iter().filter(|n| present.contains(n)).collect();
    if !doomed.is_empty() {
        let dels: Vec<String> = doomed.iter().map(|n| format!("netns del {n}")).collect();
        ip_batch(None, &dels)?;
    }
    report.removed_namespaces = doomed;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    Ok(report)
}
