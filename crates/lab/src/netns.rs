//! Running things inside a network namespace.
//!
//! A thread that calls `setns(CLONE_NEWNET)` moves alone: sockets it creates,
//! `/proc/sys/net` it opens and processes it starts all belong to the
//! namespace, while the rest of the process stays where it was. The lab uses
//! this for sysctls, `nft -f`, the services and the probes, so it needs no
//! `ip netns exec` per action.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

/// Moves the calling thread into namespace `ns` (a name under /run/netns).
pub fn enter(ns: &str) -> Result<(), String> {
    let path = format!("/run/netns/{ns}");
    let f = File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
    // SAFETY: setns on a valid namespace file descriptor affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!(
            "setns({path}) failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result.
pub fn run_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let ns = ns.to_string();
    std::thread::spawn(move || -> Result<T, String> {
        enter(&ns)?;
        Ok(f())
    })
    .join()
    .map_err(|_| "a namespace worker panicked".to_string())?
}

/// Writes sysctls (paths under /proc/sys) in the calling thread's namespace.
pub fn write_sysctls(list: &[(String, String)]) -> Result<(), String> {
    for (k, v) in list {
        let path = format!("/proc/sys/{k}");
        std::fs::write(&path, v).map_err(|e| format!("cannot set {k}={v}: {e}"))?;
    }
    Ok(())
}

/// Makes the command's process end (SIGKILL) when the thread that starts it
/// does, which is when the whole process is killed: an `ip -batch` or `nft
/// -f` of a `lab up` killed with SIGKILL must not go on making namespaces
/// after `lab down` has swept them. Only for a command its thread waits for
/// (as `run_cmd` does): the signal comes when that *thread* ends.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing is
    // allocated between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent died before the prctl: nobody will signal us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Runs a command with `input` on stdin; an error carries its stderr. The
/// command dies with the process that runs it (`die_with_parent`).
pub fn run_cmd(prog: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new(prog);
    die_with_parent(&mut cmd);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {prog}: {e}"))?;
    if let Some(i) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(i.as_bytes())
            .map_err(|e| format!("cannot feed {prog}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{prog} failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{prog} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The namespaces `ip netns list` shows.
pub fn list() -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    match std::fs::read_dir("/run/netns") {
        Ok(rd) => {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str() {
                    v.push(n.to_string());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot list /run/netns: {e}")),
    }
    v.sort();
    Ok(v)
}
