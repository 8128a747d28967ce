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

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pathproof"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
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
    let dir = std::env::temp_dir().join(format!("pathproof-serve-{}", std::process::id()));
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
    let dir = std::env::temp_dir().join(format!("pathproof-serve-lessons-{}", std::process::id()));
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
