//! Timed figures for docs/performance.md (section "Web server"):
//!
//!     cargo run --release -p pathproof-web --example bench
//!
//! Serves the mini-lab on a loopback port in this process and sends requests
//! over one keep-alive HTTP/1.1 connection, as the page does. Prints the median
//! and 95th percentile of each endpoint next to the baseline measured in the
//! same run: the engine alone (`trace` plus `trace_json`, no HTTP). The last
//! rows are what the page asks for when it opens: its four files, then the
//! JSON it needs before every view is filled in (words, lessons, examples, the
//! scenario, the reachability matrix computed afresh, and a trace of each
//! `expect:` journey), one request after another.

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
        let (status, text) = self.request_text(method, path, body).await;
        (status, text.len())
    }

    async fn request_text(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
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
        (status, String::from_utf8_lossy(&buf).into_owned())
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
    let mut reach_cold = Vec::new();
    let mut reach_warm = Vec::new();
    for _ in 0..20 {
        // Loading the scenario again forgets the stored answers.
        let (status, _) = c.request("POST", "/api/scenario", ex.text).await;
        assert_eq!(status, 200);
        let t0 = Instant::now();
        let (status, _) = c.request("GET", "/api/reach", "").await;
        reach_cold.push(t0.elapsed());
        assert_eq!(status, 200);
        let t0 = Instant::now();
        c.request("GET", "/api/reach", "").await;
        reach_warm.push(t0.elapsed());
    }
    let mut diff = Vec::new();
    let mut foothold = Vec::new();
    for _ in 0..20 {
        let (status, _) = c.request("POST", "/api/scenario", ex.text).await;
        assert_eq!(status, 200);
        let t0 = Instant::now();
        let (status, _) = c.request("GET", "/api/diff?variant=break", "").await;
        diff.push(t0.elapsed());
        assert_eq!(status, 200);
        let t0 = Instant::now();
        let (status, _) = c.request("GET", "/api/foothold?from=web", "").await;
        foothold.push(t0.elapsed());
        assert_eq!(status, 200);
    }
    let mut page = Vec::new();
    let mut bytes = 0;
    const ASSETS: [&str; 4] = ["/", "/app.js", "/app.css", "/markdown.js"];
    for _ in 0..50 {
        let t0 = Instant::now();
        bytes = 0;
        for p in ASSETS {
            let (status, len) = c.request("GET", p, "").await;
            assert_eq!(status, 200);
            bytes += len;
        }
        page.push(t0.elapsed());
    }
    // Everything the page fetches before all its views are filled in: the
    // expected-journeys table traces each journey of the scenario's view.
    let (_, view) = c.request_text("GET", "/api/scenario", "").await;
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    let journeys: Vec<String> = view["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["journeys"].as_array().cloned().unwrap_or_default())
        .map(|j| {
            format!(
                r#"{{"from":{},"to":{},"proto":{}}}"#,
                j["from"], j["to"], j["proto"]
            )
        })
        .collect();
    let mut startup = Vec::new();
    let mut startup_bytes = 0;
    for _ in 0..20 {
        let (status, _) = c.request("POST", "/api/scenario", ex.text).await;
        assert_eq!(status, 200);
        let t0 = Instant::now();
        startup_bytes = 0;
        for p in ASSETS {
            startup_bytes += c.request("GET", p, "").await.1;
        }
        for p in [
            "/api/words",
            "/api/lessons",
            "/api/examples",
            "/api/scenario",
            "/api/reach",
        ] {
            let (status, len) = c.request("GET", p, "").await;
            assert_eq!(status, 200, "{p}");
            startup_bytes += len;
        }
        for body in &journeys {
            let (status, len) = c.request("POST", "/api/trace", body).await;
            assert_eq!(status, 200);
            startup_bytes += len;
        }
        startup.push(t0.elapsed());
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
    row("GET /api/reach (computed afresh)", reach_cold);
    row("GET /api/reach (answer kept)", reach_warm);
    row("GET /api/diff?variant=break (afresh)", diff);
    row("GET /api/foothold?from=web (afresh)", foothold);
    row(&format!("the page's 4 files ({bytes} bytes)"), page);
    row(
        &format!(
            "page start: files, 5 GETs, {} traces ({startup_bytes} B)",
            journeys.len()
        ),
        startup,
    );
}
