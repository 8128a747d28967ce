//! `pathproof serve`, end to end: the binary on a free port, asked over a
//! real loopback socket, then stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    addr: String,
}

/// A resource limit for the server: (resource, soft, hard).
type Rlimit = (libc::__rlimit_resource_t, u64, u64);

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with(args, &[])
    }

    /// The server with resource limits set in it before it starts.
    fn start_with(args: &[&str], rlimits: &[Rlimit]) -> Server {
        use std::os::unix::process::CommandExt;
        let rlimits = rlimits.to_vec();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pathproof"));
        cmd.arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: setrlimit is async-signal-safe, and the closure allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &(resource, soft, hard) in &rlimits {
                    let r = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(resource, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the first line is the address: {line:?}"))
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server { child, addr }
    }

    /// One request on its own connection: (status, body).
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.send(method, path, "", Duration::from_secs(20))
    }

    /// One request with a body, answered within `within`: (status, body).
    fn send(&self, method: &str, path: &str, body: &str, within: Duration) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(within)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }
}

impl Server {
    /// A field of the server's /proc/PID/status in bytes (`VmHWM`, `VmRSS`).
    fn memory(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb << 10
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn serve_file_on_a_free_port_shows_that_scenario() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("my-lab.yaml");
    let text = include_str!("../../../scenarios/mini-lab.yaml").replacen(
        "name: mini-lab",
        "name: served-lab",
        1,
    );
    std::fs::write(&file, &text).unwrap();
    let file_arg = file.to_str().unwrap();
    {
        let server = Server::start(&[file_arg, "--port", "0"]);
        let (status, body) = server.request("GET", "/api/scenario");
        assert_eq!(status, 200, "{body}");
        let v = json(&body);
        assert_eq!(v["name"], "served-lab");
        assert_eq!(v["file"], file_arg);
        assert_eq!(v["source"], text.as_str());
        let (status, body) = server.request("GET", "/");
        assert_eq!(status, 200);
        assert!(body.contains("<title>pathproof"));
    }
    // A port already taken is a clear error, exit 2.
    let first = Server::start(&["--port", "0"]);
    let port = first.addr.rsplit(':').next().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pathproof"))
        .args(["serve", "--port", port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on 127.0.0.1"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_offers_the_lessons_of_a_directory() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-serve-lessons-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lesson = include_str!("../../../scenarios/lessons/01-checkpoint.yaml")
        .replacen("id: checkpoint", "id: my-gate", 1)
        .replacen("aliases: [firewall]", "aliases: [gatehouse]", 1)
        .replacen("scenario: mini-lab", "scenario: gate.yaml", 1)
        .replace("mini-lab.yaml", "gate.yaml");
    std::fs::write(dir.join("01-my-gate.yaml"), lesson).unwrap();
    std::fs::write(
        dir.join("gate.yaml"),
        include_str!("../../../scenarios/mini-lab.yaml").replacen(
            "name: mini-lab",
            "name: gate",
            1,
        ),
    )
    .unwrap();
    let server = Server::start(&["--port", "0", "--lessons", dir.to_str().unwrap()]);
    let (status, body) = server.request("GET", "/api/lessons");
    assert_eq!(status, 200);
    let list = json(&body);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "my-gate")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(mine["builtin"], false);
    assert_eq!(mine["scenario"], "gate.yaml");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == "checkpoint"));
    // Opening the lesson loads its own scenario.
    let (status, body) = server.request("POST", "/api/lessons/my-gate/scenario");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["name"], "gate");
    let (_, body) = server.request("GET", "/api/scenario");
    assert_eq!(json(&body)["name"], "gate");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

const MIB: u64 = 1 << 20;

/// A flat network: `hosts` hosts on one /16, each listening on tcp/8000,
/// no router and no filter (every host reaches every other).
fn flat(hosts: usize) -> String {
    let mut s = String::from("name: flat\nnetworks:\n  lan: { cidr: 10.1.0.0/16 }\nhosts:\n");
    for i in 0..hosts {
        s += &format!(
            "  h{i}: {{ at: lan 10.1.{}.{}, listen: [\"tcp/8000 app\"] }}\n",
            i / 250,
            i % 250 + 1
        );
    }
    s
}

/// Issue 14, item 8, as a class: questions whose answers are far over a
/// 64 MiB budget (the matrix cell by cell and the diff of a generated
/// 600-host scenario, and the cells of a flat network of 5,000 hosts, where
/// every host reaches every other), while the compact answers of the flat
/// network (its matrix as classes, its foothold) fit in the budget (issue 15). The server answers each with the clear error, stays alive
/// and answers the next request, and its peak memory (VmHWM of the process,
/// as the kernel measures it) rises by no more than what it may hold: the
/// page's matrix, which `serve` starts computing when a scenario loads and
/// keeps only while it fits in one request's budget, beside the request's
/// own budget, and a fixed overhead. (`before` is read when the scenario is
/// loaded, when the matrix may still be in the making: one run in about ten
/// measured the diff's peak above one budget and the overhead.)
#[test]
fn answers_too_large_are_refused_within_their_memory() {
    let budget = 64 * MIB;
    let overhead = 64 * MIB;
    // The kept matrix and one request.
    let held = 2 * budget;
    let generated =
        pathproof_core::synth::large(&pathproof_core::synth::SynthParams::sized(1, 600));
    let cases: [(&str, String, &[&str]); 2] = [
        (
            "generated.yaml",
            generated,
            &["/api/reach?cells=true", "/api/diff?variant=break"],
        ),
        ("flat.yaml", flat(5000), &["/api/reach?cells=true"]),
    ];
    for (file, text, paths) in cases {
        assert!(text.len() < 1 << 20, "{file}: {}", text.len());
        let server = Server::start_with(
            &[
                "--port",
                "0",
                "--request-memory",
                "64M",
                "--request-timeout",
                "900",
            ],
            // Should the bound fail, fail here rather than take the machine's memory.
            &[(libc::RLIMIT_AS, 8 << 30, 8 << 30)],
        );
        let (status, body) = server.send(
            "POST",
            &format!("/api/scenario?file={file}"),
            &text,
            Duration::from_secs(300),
        );
        assert_eq!(status, 200, "{body}");
        let before = server.memory("VmHWM");
        for path in paths {
            let (status, body) = server.send("GET", path, "", Duration::from_secs(900));
            assert_eq!(status, 422, "{file} {path}: {body}");
            let v = json(&body);
            assert_eq!(v["limit"], "memory", "{v}");
            assert!(v["error"].as_str().unwrap().contains("64 MiB"), "{v}");
            assert!(
                v["help"].as_str().unwrap().contains("--request-memory"),
                "{v}"
            );
            let peak = server.memory("VmHWM");
            eprintln!(
                "{file} {path}: VmHWM {} MiB before, {} MiB after (budget {} MiB)",
                before / MIB,
                peak / MIB,
                budget / MIB
            );
            assert!(
                peak <= before + held + overhead,
                "{file} {path}: peak {} MiB > {} MiB before + {} MiB held + {} MiB",
                peak / MIB,
                before / MIB,
                held / MIB,
                overhead / MIB
            );
            // Alive, and answering.
            let (status, body) = server.request("GET", "/api/scenario");
            assert_eq!(status, 200);
            assert_eq!(json(&body)["file"], file);
        }
        if file == "flat.yaml" {
            // Issue 15: the compact matrix of the flat network (one class,
            // where the cells are 25 million) is answered within the budget.
            let (status, body) = server.send("GET", "/api/reach", "", Duration::from_secs(900));
            assert_eq!(status, 200, "{body}");
            let v = json(&body);
            assert_eq!(v["schema"], 2);
            // Every host reaches every other, and anyone else on lan reaches each.
            assert_eq!(v["pairs"], 5000 * 4999 + 5000);
            assert!(
                v["classes"].as_array().unwrap().len() <= 2,
                "{}",
                v["classes"]
            );
            let peak = server.memory("VmHWM");
            eprintln!("{file} /api/reach (compact): VmHWM {} MiB", peak / MIB);
            assert!(peak <= before + held + overhead, "{} MiB", peak / MIB);
            // The attacker's view walks classes too: every host taken over,
            // the foothold edges as classes.
            let (status, body) =
                server.send("GET", "/api/foothold?from=h0", "", Duration::from_secs(900));
            assert_eq!(status, 200, "{body}");
            let v = json(&body);
            assert_eq!(v["compromised"].as_array().unwrap().len(), 5000);
            let peak = server.memory("VmHWM");
            eprintln!("{file} /api/foothold: VmHWM {} MiB", peak / MIB);
            assert!(peak <= before + held + overhead, "{} MiB", peak / MIB);
        }
        if file == "generated.yaml" {
            // The matrix's help names the narrower question, which is answered.
            let (_, body) = server.request("GET", "/api/reach?cells=true");
            assert!(json(&body)["help"].as_str().unwrap().contains("?from="));
            let (status, _) = server.request("GET", "/api/reach?from=core&to=core");
            assert_eq!(status, 200);
        }
    }
}

/// The open-file limits of a process: (soft, hard).
fn file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

fn own_file_limits() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

/// Item 9: the server raises its soft open-file limit to the hard one.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_one() {
    let hard = own_file_limits().1.min(4096);
    let server = Server::start_with(&["--port", "0"], &[(libc::RLIMIT_NOFILE, 256, hard)]);
    let (soft, hard_now) = file_limits(server.child.id());
    assert_eq!(soft, hard.to_string());
    assert_eq!(hard_now, hard.to_string());
}

/// Item 9: with the common limit of 1,024 open files, 1,100 connections
/// that send nothing (or half a request line) do not keep a request from
/// being answered while they are still open: the server keeps its
/// connections below the limit and closes the idle ones to make room,
/// long before their header timeout (300 s here).
#[test]
fn idle_connections_do_not_lock_a_request_out() {
    // This test holds the connections: it needs about 1,200 open files.
    let (soft, hard) = own_file_limits();
    let (limit, idle) = if hard >= 1400 {
        if soft < 1400 {
            let r = libc::rlimit {
                rlim_cur: hard.min(4096),
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads one rlimit through a valid pointer.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
        }
        (1024, 1100)
    } else {
        eprintln!("only {hard} open files here: 256 for the server, 300 connections");
        (256, 300)
    };
    let server = Server::start_with(
        &["--port", "0", "--header-timeout", "300"],
        &[(libc::RLIMIT_NOFILE, limit, limit)],
    );
    let mut held = Vec::new();
    for i in 0..idle {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /api/scen").unwrap();
        }
        held.push(s);
    }
    let (status, body) = server.send("GET", "/api/examples", "", Duration::from_secs(60));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("mini-lab"));
    // Still serving, with the idle connections still held by this side.
    let (status, _) = server.request("GET", "/api/scenario");
    assert_eq!(status, 200);
    assert_eq!(held.len(), idle);
}
