//! Timed figures for docs/performance.md (section "Web server"):
//!
//!     cargo run --release -p pathproof-web --example bench
//!
//! Serves the mini-lab on a loopback port in this process and sends requests
//! over one keep-alive HTTP/1.1 connection, as the page does. Prints the median
//! and 95th percentile of each endpoint next to the baseline measured in the
//! same run: the engine alone (`trace` plus `trace_json`, no HTTP).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use pathproof_core::{examples, render, Query};
use pathproof_web::{AppState, Current};

const RUNS: usize = 500;

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() * 95 / 100]))
}

struct Conn {
    r: BufReader<tokio::io::ReadHalf<TcpStream>>,
    w: tokio::io::WriteHalf<TcpStream>,
    host: String,
}

impl Conn {
    async fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, usize) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.w.write_all(req.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.r.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        self.r.read_exact(&mut buf).await.unwrap();
        (status, len)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let ex = examples::get("mini-lab").unwrap();
    let scn = pathproof_core::load(&ex.file(), ex.text, None).unwrap();
    let questions = [
        ("client", "www.example.com:443"),
        ("client", "web:443"),
        ("web", "db:5432"),
        ("web", "metadata:80"),
    ];

    // Baseline: the engine alone.
    let mut base = Vec::new();
    for i in 0..RUNS {
        let (from, to) = questions[i % questions.len()];
        let t0 = Instant::now();
        let t = pathproof_core::trace(&scn, &Query::new(from, to)).unwrap();
        std::hint::black_box(render::trace_json(&t));
        base.push(t0.elapsed());
    }

    let listener = pathproof_web::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(Current::example("mini-lab").unwrap().unwrap());
    tokio::spawn(pathproof_web::run(listener, state));
    let (r, w) = tokio::io::split(TcpStream::connect(addr).await.unwrap());
    let mut c = Conn {
        r: BufReader::new(r),
        w,
        host: addr.to_string(),
    };

    let mut trace = Vec::new();
    let mut variant = Vec::new();
    for i in 0..RUNS {
        let (from, to) = questions[i % questions.len()];
        let body = format!(r#"{{"from":"{from}","to":"{to}"}}"#);
        let t0 = Instant::now();
        let (status, _) = c.request("POST", "/api/trace", &body).await;
        trace.push(t0.elapsed());
        assert_eq!(status, 200);
        let body = format!(r#"{{"from":"{from}","to":"{to}","variant":"break"}}"#);
        let t0 = Instant::now();
        let (status, _) = c.request("POST", "/api/trace", &body).await;
        variant.push(t0.elapsed());
        assert_eq!(status, 200);
    }
    let mut scenario = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        c.request("GET", "/api/scenario", "").await;
        scenario.push(t0.elapsed());
    }
    let mut load = Vec::new();
    for _ in 0..50 {
        let t0 = Instant::now();
        let (status, _) = c.request("POST", "/api/scenario", ex.text).await;
        load.push(t0.elapsed());
        assert_eq!(status, 200);
    }
    let mut page = Vec::new();
    let mut bytes = 0;
    for _ in 0..50 {
        let t0 = Instant::now();
        bytes = 0;
        for p in ["/", "/app.js", "/app.css"] {
            let (status, len) = c.request("GET", p, "").await;
            assert_eq!(status, 200);
            bytes += len;
        }
        page.push(t0.elapsed());
    }

    println!("pathproof-web bench: mini-lab, {RUNS} runs each, one keep-alive connection");
    println!("{:<44} {:>10} {:>10}", "what", "median ms", "p95 ms");
    let row = |name: &str, v: Vec<Duration>| {
        let (m, p) = stats(v);
        println!("{name:<44} {m:>10.3} {p:>10.3}");
    };
    row("baseline: trace + trace_json (no HTTP)", base);
    row("POST /api/trace", trace);
    row("POST /api/trace (variant break)", variant);
    row("GET /api/scenario", scenario);
    row("POST /api/scenario (mini-lab YAML, 3 loads)", load);
    row(&format!("GET / + app.js + app.css ({bytes} bytes)"), page);
}
