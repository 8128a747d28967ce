//! `lab up` and `lab down`: builds a plan in the kernel and takes it away.
//!
//! State lives in the run directory `/run/pathproof/LAB/`: the scenario text
//! and variant, the plan, the supervisor's pid and log. The list of
//! namespaces is written *before* any is made, and `down` also sweeps every
//! namespace whose name carries the lab's prefix, so a crash or Ctrl-C in the
//! middle of `up` leaves nothing `down` cannot find. Everything a lab makes
//! lives inside its own namespaces (bridges included), so deleting them
//! removes every link, address, route, rule and conntrack entry with them.
//!
//! `up`, `down` and `open` (what `lab probe` and `lab trace` use) hold the
//! lab's lock (`flock` on `RUN_DIR/lock`) while they run, so two of them on
//! one lab never interleave: the second fails at once naming the process
//! that holds it. `up` writes `RUN_DIR/complete` last, once every step has
//! finished; `open` refuses a lab without it, or one whose namespaces,
//! links, rule sets, supervisor or services are not all there (`health`).

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
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
    /// The files the scenario names (`ruleset:`), as the command line read them.
    #[serde(default)]
    pub files: pathproof_core::Files,
}

impl LabSpec {
    pub fn load(&self) -> Result<Scenario, String> {
        pathproof_core::load_with(&self.file, &self.text, self.variant.as_deref(), &self.files)
            .map_err(|e| {
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
    // Held until `up` returns: a second `up`, a `probe` or a `down` of this
    // lab fails at once meanwhile, naming this process.
    let lock = lock(&spec.lab, true)?.expect("made with create");
    down_locked(&spec.lab, true)?;
    let plan = plan::plan(&scn, &spec.lab);
    let dir = run_dir(&spec.lab);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let state = State {
        namespaces: plan.namespaces(),
    };
    write_json(&dir.join("state.json"), &state)?;
    write_json(&dir.join("spec.json"), spec)?;
    write_json(&dir.join("plan.json"), &plan)?;
    let res = pause_point("run-dir", interrupted)
        .and_then(|_| build(&plan, &dir, sup, interrupted))
        .and_then(|_| pause_point("supervisor", interrupted))
        // The last step: from now on the lab is complete.
        .and_then(|_| write_complete(&dir, &spec.lab));
    if let Err(e) = res {
        let gone = down_locked(&spec.lab, false);
        drop(lock);
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
    drop(lock);
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
        rulesets: plan
            .hosts
            .iter()
            .filter(|h| h.nft.is_some() || h.ruleset.is_some())
            .count(),
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
    pause_point("namespaces", interrupted)?;
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
    pause_point("sysctls", interrupted)?;
    ip_batch(Some(&plan.bridge_ns), &plan.bridge_ip)?;
    check()?;
    pause_point("bridges", interrupted)?;
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
                if let Some(u) = &h.ruleset {
                    // The user's own rule set, as written: the kernel checks the model.
                    let args: &[&str] = if u.loader == "nft" {
                        &["-f", "-"]
                    } else {
                        &["-w"]
                    };
                    netns::run_cmd(&u.loader, args, Some(&u.text)).map_err(|e| {
                        format!(
                            "host {}: {} of its rule set {}: {e}",
                            h.name, u.loader, u.file
                        )
                    })?;
                    for cmd in &u.inserts {
                        let args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
                        netns::run_cmd(&cmd[0], &args, None)
                            .map_err(|e| format!("host {}: {}: {e}", h.name, cmd.join(" ")))?;
                    }
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
    pause_point("hosts", interrupted)?;
    wait_ipv6_ready(&plan.hosts)?;
    check()?;
    pause_point("ipv6", interrupted)?;
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
/// Taking down a lab that is not up does nothing and succeeds. It holds the
/// lab's lock while it works, so it fails at once (naming the holder) while
/// an `up`, `probe` or `trace` of the lab runs.
pub fn down(lab: &str) -> Result<DownReport, String> {
    names::check_lab_name(lab)?;
    let lock = lock(lab, true)?.expect("made with create");
    let r = down_locked(lab, false);
    // The lock file went with the run directory; whoever waits on it finds
    // it gone and takes a new one.
    drop(lock);
    r
}

/// `down` by the holder of the lab's lock; `keep_lock` keeps the run
/// directory's lock file (for `up`, which goes on holding it).
fn down_locked(lab: &str, keep_lock: bool) -> Result<DownReport, String> {
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
    // Swept until a look finds none: an `ip` that a killed `up` had started
    // may still add one while it dies (it is killed with its parent, see
    // `netns::die_with_parent`, but not in the same instant).
    for round in 0..20 {
        let present = netns::list()?;
        for n in &present {
            if n.starts_with(&prefix) && !doomed.contains(n) {
                doomed.push(n.clone());
            }
        }
        let now: Vec<String> = doomed
            .iter()
            .filter(|n| present.contains(n))
            .cloned()
            .collect();
        if now.is_empty() {
            break;
        }
        let dels: Vec<String> = now.iter().map(|n| format!("netns del {n}")).collect();
        ip_batch(None, &dels)?;
        for n in now {
            if !report.removed_namespaces.contains(&n) {
                report.removed_namespaces.push(n);
            }
        }
        std::thread::sleep(Duration::from_millis(if round == 0 { 20 } else { 50 }));
    }
    if keep_lock {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name() == LOCK_FILE {
                    continue;
                }
                let p = e.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
            }
        }
    } else if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    Ok(report)
}

/// The lab's lock: `flock` on `RUN_DIR/lock`, held while it lives (the
/// kernel releases it when the process ends, however it ends, so the lock
/// of a process that is gone is no obstacle). The holder writes its pid and
/// command line into the file, for whoever finds the lab in use.
#[derive(Debug)]
pub struct LabLock {
    /// Open while the lock is held: closing it releases the lock.
    _file: std::fs::File,
    path: PathBuf,
}

impl LabLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The name of the lock file in the run directory.
pub const LOCK_FILE: &str = "lock";

/// What `up` writes last, once every step has finished.
pub const COMPLETE_FILE: &str = "complete";

/// A process's command line, its arguments joined by blanks.
fn cmdline_of(pid: i32) -> Option<String> {
    let c = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = c
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then(|| args.join(" "))
}

/// The process holding a `flock` on the file `f` (from /proc/locks; the
/// pid the holder wrote in the file if the kernel's table names none).
fn lock_holder(f: &std::fs::File) -> Option<i32> {
    let m = f.metadata().ok()?;
    let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
    let want = format!("{major:02x}:{minor:02x}:{}", m.ino());
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let from_kernel = locks.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF` (no `->`: holders only)
        (w.len() >= 6 && w[1] == "FLOCK" && w[5] == want)
            .then(|| w[4].parse().ok())
            .flatten()
    });
    from_kernel.or_else(|| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &*f, &mut text).ok()?;
        text.split_whitespace().next()?.parse().ok()
    })
}

/// Takes lab `lab`'s lock, at once or not at all. With `create`, the run
/// directory is made if need be; without, a lab with no run directory is
/// `Ok(None)` (not up). Fails, without waiting, when another process holds
/// the lock, saying which (pid and command line).
pub fn lock(lab: &str, create: bool) -> Result<Option<LabLock>, String> {
    let dir = run_dir(lab);
    let path = dir.join(LOCK_FILE);
    // A `down` that removes the run directory (and the lock file with it)
    // between our open and our flock leaves us a lock on a file nobody else
    // sees: then try again.
    for _ in 0..50 {
        if create {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        } else if !dir.exists() {
            return Ok(None);
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
        };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
            let Some(pid) = lock_holder(&file) else {
                // Released in the meantime.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let who = match cmdline_of(pid) {
                Some(c) => format!("process {pid} (`{c}`)"),
                None => format!("process {pid}"),
            };
            return Err(format!(
                "lab `{lab}` is in use: {who} holds its lock {}; wait for it to finish, or stop it (the lock goes with the process)",
                path.display()
            ));
        }
        let same = match (std::fs::metadata(&path), file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        let mut file = file;
        let me = std::process::id();
        let _ = file.set_len(0);
        let _ = writeln!(
            file,
            "{me} {}",
            cmdline_of(me as i32).unwrap_or_else(|| "?".into())
        );
        return Ok(Some(LabLock { _file: file, path }));
    }
    Err(format!(
        "cannot take the lock {}: the lab's run directory keeps changing",
        path.display()
    ))
}

/// Writes `RUN_DIR/complete` (atomically: a temporary file renamed), the
/// last thing `up` does.
fn write_complete(dir: &Path, lab: &str) -> Result<(), String> {
    let pid = std::fs::read_to_string(dir.join("supervisor.pid")).unwrap_or_default();
    let tmp = dir.join(format!("{COMPLETE_FILE}.tmp"));
    std::fs::write(
        &tmp,
        format!(
            "lab {lab} is complete: every step of `lab up` finished; supervisor {}\n",
            pid.trim()
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(COMPLETE_FILE))
        .map_err(|e| format!("cannot write {}: {e}", dir.join(COMPLETE_FILE).display()))
}

/// `PATHPROOF_LAB_UP_PAUSE=STEP` (a hook for tests that must kill `up` at a
/// known point): `up` stops after STEP, says so on stderr, and waits until
/// it is killed or interrupted. Steps, in order: `run-dir`, `namespaces`,
/// `sysctls`, `bridges`, `hosts`, `ipv6`, `supervisor` (the supervisor is
/// ready; only `complete` is left to write).
pub const PAUSE_ENV: &str = "PATHPROOF_LAB_UP_PAUSE";

fn pause_point(step: &str, interrupted: &dyn Fn() -> bool) -> Result<(), String> {
    if std::env::var(PAUSE_ENV).as_deref() != Ok(step) {
        return Ok(());
    }
    eprintln!("lab up: paused after step `{step}` ({PAUSE_ENV})");
    loop {
        if interrupted() {
            return Err(INTERRUPTED_MESSAGE.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What is wrong with a lab that is up (or half up): each entry names one
/// kind of thing missing, with how many and which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// `up` wrote `complete`: every step finished.
    pub complete: bool,
    /// What is missing or dead, one line per kind (empty: healthy).
    pub missing: Vec<String>,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.complete && self.missing.is_empty()
    }
}

/// Up to `n` names, then how many more.
fn some_of(v: &[String], n: usize) -> String {
    if v.len() <= n {
        v.join(", ")
    } else {
        format!("{}, and {} more", v[..n].join(", "), v.len() - n)
    }
}

/// One namespace as the kernel has it: its links, its nft tables (asked
/// only where the plan loads a rule set) and its listening sockets
/// (`proto`, address, port, inode).
struct NsSeen {
    links: Vec<String>,
    tables: Option<Vec<String>>,
    sockets: Vec<(pathproof_core::model::Proto, std::net::IpAddr, u16, u64)>,
}

/// The addresses in /proc/net/{tcp,udp}{,6}: hex words in the kernel's
/// (native) byte order.
fn proc_addr(hex: &str) -> Option<(std::net::IpAddr, u16)> {
    let (a, p) = hex.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let words: Option<Vec<[u8; 4]>> = (0..a.len() / 8)
        .map(|i| {
            u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_ne_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some((ip, port))
}

/// What the calling thread's namespace has (see `NsSeen`).
fn ns_seen(want_tables: bool) -> NsSeen {
    use pathproof_core::model::Proto;
    let links = std::fs::read_to_string("/proc/thread-self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    let tables = want_tables.then(|| {
        netns::run_cmd("nft", &["list", "tables"], None)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    });
    let mut sockets = Vec::new();
    for (file, proto, listening) in [
        ("tcp", Proto::Tcp, "0A"),
        ("tcp6", Proto::Tcp, "0A"),
        ("udp", Proto::Udp, "07"),
        ("udp6", Proto::Udp, "07"),
    ] {
        let text =
            std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).unwrap_or_default();
        for l in text.lines().skip(1) {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 10 || w[3] != listening {
                continue;
            }
            if let (Some((ip, port)), Ok(inode)) = (proc_addr(w[1]), w[9].parse::<u64>()) {
                sockets.push((proto, ip, port, inode));
            }
        }
    }
    NsSeen {
        links,
        tables,
        sockets,
    }
}

/// The socket inodes a process holds.
fn socket_inodes(pid: i32) -> Vec<u64> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The running supervisor of lab `lab`, if there is one: the pid in
/// `supervisor.pid`, alive, not a zombie, and running `supervise --lab LAB`.
pub fn supervisor_pid(lab: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(run_dir(lab).join("supervisor.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name in parentheses.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    (state != "Z" && state != "X" && is_supervisor_of(pid, lab)).then_some(pid)
}

/// Whether lab `lab` is complete (`up` wrote `complete`) and healthy: every
/// namespace, link and nft table of its plan exists, its supervisor runs,
/// and every socket of the scenario (and each host's resolver) is listening
/// in its namespace, held by the supervisor.
pub fn health(lab: &str, scn: &Scenario, plan: &Plan) -> Health {
    use pathproof_core::model::Proto;
    let dir = run_dir(lab);
    let mut h = Health {
        complete: dir.join(COMPLETE_FILE).exists(),
        missing: Vec::new(),
    };
    let present = netns::list().unwrap_or_default();
    let mut no_ns = Vec::new();
    let mut no_links = Vec::new();
    let mut no_tables = Vec::new();
    let mut no_services = Vec::new();
    let sup = supervisor_pid(lab);
    let held = sup.map(socket_inodes).unwrap_or_default();
    // (namespace, host index, the links the plan makes there)
    let mut spaces: Vec<(String, Option<usize>, Vec<String>)> = Vec::new();
    let bridge_links: Vec<String> = plan
        .bridge_ip
        .iter()
        .filter_map(|l| l.strip_prefix("link add "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    spaces.push((plan.bridge_ns.clone(), None, bridge_links));
    for (hi, hp) in plan.hosts.iter().enumerate() {
        let mut links = vec!["lo".to_string()];
        links.extend(
            plan.bridge_ip
                .iter()
                .filter_map(|l| l.strip_prefix("link add "))
                .filter(|l| l.ends_with(&format!(" netns {}", hp.ns)))
                .filter_map(|l| l.split(" peer name ").nth(1))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string),
        );
        spaces.push((hp.ns.clone(), Some(hi), links));
    }
    let mut jobs = Vec::new();
    for (ns, hi, links) in spaces {
        if !present.contains(&ns) {
            no_ns.push(ns);
            continue;
        }
        let want_tables = hi.is_some_and(|i| plan.hosts[i].nft.is_some());
        let seen = netns::run_in(&ns, move || ns_seen(want_tables));
        jobs.push((ns, hi, links, seen));
    }
    for (ns, hi, links, seen) in jobs {
        let Ok(seen) = seen else {
            no_ns.push(ns);
            continue;
        };
        for l in links {
            if !seen.links.contains(&l) {
                no_links.push(format!("{l} in {ns}"));
            }
        }
        let Some(hi) = hi else { continue };
        if let (Some(rules), Some(tables)) = (&plan.hosts[hi].nft, &seen.tables) {
            for t in rules
                .lines()
                .filter_map(|l| l.strip_prefix("table "))
                .filter_map(|l| l.strip_suffix(" {"))
            {
                if !tables.iter().any(|x| x == &format!("table {t}")) {
                    no_tables.push(format!("{t} in {ns}"));
                }
            }
        }
        let host = &scn.hosts[hi];
        let mut want: Vec<(Proto, std::net::IpAddr, u16, String)> = host
            .sockets
            .iter()
            .filter(|s| s.proto != Proto::Icmp)
            .map(|s| {
                (
                    s.proto,
                    s.bind,
                    s.port,
                    format!(
                        "{}'s {}/{} on {}",
                        host.name,
                        s.proto.name(),
                        s.port,
                        s.bind
                    ),
                )
            })
            .collect();
        let resolver: std::net::SocketAddr = crate::dns::RESOLVER.parse().expect("valid");
        want.push((
            Proto::Udp,
            resolver.ip(),
            resolver.port(),
            format!("{}'s DNS resolver {resolver}", host.name),
        ));
        for (proto, ip, port, what) in want {
            let ok = seen
                .sockets
                .iter()
                .any(|s| s.0 == proto && s.1 == ip && s.2 == port && held.contains(&s.3));
            if !ok {
                no_services.push(what);
            }
        }
    }
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if !no_ns.is_empty() {
        h.missing.push(format!(
            "{} of {} ({})",
            plural(no_ns.len(), "namespace", "namespaces"),
            plan.namespaces().len(),
            some_of(&no_ns, 6)
        ));
    }
    if !no_links.is_empty() {
        h.missing.push(format!(
            "{} ({})",
            plural(no_links.len(), "link", "links"),
            some_of(&no_links, 6)
        ));
    }
    if !no_tables.is_empty() {
        h.missing.push(format!(
            "{} ({})",
            plural(no_tables.len(), "nft table", "nft tables"),
            some_of(&no_tables, 6)
        ));
    }
    if sup.is_none() {
        let recorded = std::fs::read_to_string(dir.join("supervisor.pid")).ok();
        h.missing.push(match recorded {
            Some(p) => format!(
                "the supervisor: process {} is not running `supervise --lab {lab}`",
                p.trim()
            ),
            None => "the supervisor: it was never started".into(),
        });
    }
    if !no_services.is_empty() {
        h.missing.push(format!(
            "{} not listening or not held by the supervisor ({})",
            plural(no_services.len(), "service", "services"),
            some_of(&no_services, 6)
        ));
    }
    h
}

/// How to build lab `lab` again, from what its spec says (or a placeholder).
fn up_again(lab: &str, spec: Option<&LabSpec>) -> String {
    let scenario = match spec {
        Some(s) if Path::new(&s.file).exists() => s.file.clone(),
        Some(s) => {
            let stem = s.file.strip_suffix(".yaml").unwrap_or(&s.file);
            if pathproof_core::examples::get(stem).is_some() {
                stem.to_string()
            } else {
                s.file.clone()
            }
        }
        None => "SCENARIO".into(),
    };
    let variant = spec
        .and_then(|s| s.variant.as_deref())
        .map(|v| format!(" --variant {v}"))
        .unwrap_or_default();
    format!(
        "`pathproof lab down --lab {lab}`, then `pathproof lab up {scenario}{variant} --lab {lab}`"
    )
}

/// A lab ready to use: locked (for as long as this lives), complete and
/// healthy, with its spec, plan and scenario.
pub struct OpenLab {
    pub lock: LabLock,
    pub spec: LabSpec,
    pub plan: Plan,
    pub scn: Scenario,
}

/// Opens lab `lab` for `lab probe` and `lab trace`: takes its lock, and
/// checks that `up` finished and that the lab is healthy (`health`). The
/// error names what is missing and how to recover.
pub fn open(lab: &str) -> Result<OpenLab, String> {
    preflight()?;
    names::check_lab_name(lab)?;
    let Some(lock) = lock(lab, false)? else {
        let prefix = format!("{}{lab}.", names::NS_PREFIX);
        let left: Vec<String> = netns::list()?
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        if left.is_empty() {
            return Err(format!(
                "lab `{lab}` is not up (no {}): run `pathproof lab up` first",
                run_dir(lab).display()
            ));
        }
        return Err(format!(
            "lab `{lab}` is not up, but {} namespaces of it are left ({}); recover with {}",
            left.len(),
            some_of(&left, 6),
            up_again(lab, None)
        ));
    };
    let spec = read_spec(lab).ok();
    let plan = read_plan(lab).ok();
    let (Some(spec), Some(plan)) = (spec, plan) else {
        return Err(format!(
            "lab `{lab}` is incomplete: `lab up` stopped before it wrote its spec and plan ({}); recover with {}",
            run_dir(lab).display(),
            up_again(lab, None)
        ));
    };
    let scn = spec.load()?;
    let h = health(lab, &scn, &plan);
    if !h.ok() {
        let mut msg = if h.complete {
            format!(
                "lab `{lab}` is not healthy: `lab up` finished, but part of the lab is gone since"
            )
        } else {
            format!(
                "lab `{lab}` is incomplete: `lab up` did not finish (it was killed or failed before it wrote {})",
                run_dir(lab).join(COMPLETE_FILE).display()
            )
        };
        for m in &h.missing {
            msg.push_str(&format!("\n  missing: {m}"));
        }
        if h.missing.is_empty() {
            msg.push_str(
                "\n  missing: only the record that it finished: every namespace, link, rule set and service is there, but `up` stopped before it could say the lab is complete",
            );
        }
        msg.push_str(&format!("\n  recover with {}", up_again(lab, Some(&spec))));
        return Err(msg);
    }
    Ok(OpenLab {
        lock,
        spec,
        plan,
        scn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_addresses_of_proc_net() {
        // As a little-endian kernel prints them.
        if cfg!(target_endian = "little") {
            assert_eq!(
                proc_addr("3500007F:0035"),
                Some(("127.0.0.53".parse().unwrap(), 53))
            );
            assert_eq!(
                proc_addr("00000000000000000000000000000000:01BB"),
                Some(("::".parse().unwrap(), 443))
            );
            assert_eq!(
                proc_addr("B80D0120000000000000000010000000:0016"),
                Some(("2001:db8::10".parse().unwrap(), 22))
            );
        }
        assert_eq!(proc_addr("nonsense"), None);
        assert_eq!(proc_addr("0100007F:zz"), None);
    }

    #[test]
    fn a_healthy_report_needs_the_record_and_nothing_missing() {
        let mut h = Health {
            complete: true,
            missing: vec![],
        };
        assert!(h.ok());
        h.missing.push("the supervisor".into());
        assert!(!h.ok());
        assert!(!Health::default().ok());
    }
}
