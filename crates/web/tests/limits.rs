//! What a client cannot make the server do: answer a request not addressed
//! to a loopback name (every endpoint, every malformed `Host` and `Origin`),
//! build an answer past its memory, work past its deadline or after its
//! client went away, run analyses side by side, or be locked out by
//! connections that never send a request.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use pathproof_core::synth::{large, SynthParams};
use pathproof_web::{app, loopback_host, AppState, Current, Limits};

fn mini_lab() -> AppState {
    AppState::new(Current::example("mini-lab").unwrap().unwrap())
}

/// A generated scenario of `hosts` hosts (the benchmarks' shape).
fn generated(hosts: usize) -> (String, AppState) {
    let text = large(&SynthParams::sized(1, hosts));
    let st = AppState::new(Current::load("large.yaml", &text).unwrap());
    (text, st)
}

struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(st: &AppState, req: Request<Body>) -> Answer {
    let r = app(st.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(st: &AppState, uri: &str) -> Answer {
    let req = Request::get(uri)
        .header(header::HOST, "127.0.0.1:7878")
        .body(Body::empty())
        .unwrap();
    send(st, req).await
}

// ---------- item 10: the Host check fails closed ----------

/// Every endpoint, with a body it would accept: (method, path, body).
fn endpoints() -> Vec<(&'static str, String, String)> {
    let lesson = pathproof_core::lessons::all().unwrap()[0].id.clone();
    let other = include_str!("../../../scenarios/mini-lab.yaml").replacen(
        "name: mini-lab",
        "name: replaced",
        1,
    );
    vec![
        ("GET", "/api/scenario".into(), String::new()),
        ("POST", "/api/scenario".into(), other),
        (
            "POST",
            "/api/scenario/example/dual-stack".into(),
            String::new(),
        ),
        ("GET", "/api/examples".into(), String::new()),
        (
            "POST",
            "/api/trace".into(),
            r#"{"from":"client","to":"web:443"}"#.into(),
        ),
        ("GET", "/api/reach".into(), String::new()),
        ("POST", "/api/reach".into(), r#"{"to":"db"}"#.into()),
        ("GET", "/api/diff?variant=break".into(), String::new()),
        ("GET", "/api/foothold?from=web".into(), String::new()),
        ("GET", "/api/lessons".into(), String::new()),
        ("GET", format!("/api/lessons/{lesson}"), String::new()),
        (
            "POST",
            format!("/api/lessons/{lesson}/scenario"),
            String::new(),
        ),
        ("GET", "/api/words".into(), String::new()),
        ("GET", "/api/no-such-endpoint".into(), String::new()),
        ("GET", "/".into(), String::new()),
        ("GET", "/app.js".into(), String::new()),
    ]
}

/// `Host` values that must be refused (as raw bytes: some are not text).
fn bad_hosts() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "",
        " ",
        "127.0.0.1 ",
        "evil.example",
        "evil.example:7878",
        "localhost.evil.com",
        "localhost.evil.com:7878",
        "127.0.0.1.nip.io",
        "127.0.0.1.nip.io:7878",
        "evil.example#127.0.0.1",
        "localhost.",
        "localhost.:7878",
        "localhost:",
        "localhost:0",
        "localhost:00000",
        "localhost:65536",
        "localhost:99999",
        "localhost:123456",
        "localhost:+80",
        "localhost:-1",
        "localhost:8o",
        "localhost:7878:7878",
        "localhost: 7878",
        "user@localhost",
        "user:pass@127.0.0.1:7878",
        "127.0.0.1@evil.example",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:70000",
        "::1",
        "::1:7878",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "127.0.0.2",
        "127.1",
        "2130706433",
        "0x7f000001",
        "http://localhost",
        "localhost/",
        "localhost:7878/",
        "%6cocalhost",
        "xlocalhost",
        "localhostx",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // Not ASCII: a look-alike, Latin-1 bytes, UTF-8 after a good name.
    v.push("lоcalhost".as_bytes().to_vec()); // Cyrillic о
    v.push(b"localhost\xe9".to_vec());
    v.push(b"127.0.0.1:7878\xff".to_vec());
    v.push("localhost:７８７８".as_bytes().to_vec()); // full-width digits
    v
}

const GOOD_HOSTS: [&str; 9] = [
    "127.0.0.1",
    "127.0.0.1:7878",
    "localhost",
    "localhost:1",
    "LocalHost:65535",
    "localhost:07878",
    "[::1]",
    "[::1]:7878",
    "[::1]:65535",
];

/// A request to `path` with the given `Host` (none when `None`) and `Origin`.
fn request(
    method: &str,
    path: &str,
    body: &str,
    hosts: &[&[u8]],
    origins: &[&[u8]],
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_string()))
        .unwrap();
    for h in hosts {
        req.headers_mut()
            .append(header::HOST, HeaderValue::from_bytes(h).unwrap());
    }
    for o in origins {
        req.headers_mut()
            .append(header::ORIGIN, HeaderValue::from_bytes(o).unwrap());
    }
    req
}

async fn assert_refused(st: &AppState, req: Request<Body>, what: &str) {
    let a = send(st, req).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{what}: {}", a.body);
    let v = a.json();
    assert!(
        v["error"].is_string() && v["help"].is_string(),
        "{what}: {v}"
    );
}

#[tokio::test]
async fn only_loopback_names_reach_any_endpoint() {
    let st = mini_lab();
    for (method, path, body) in endpoints() {
        // No Host at all, and two (even two good ones).
        assert_refused(&st, request(method, &path, &body, &[], &[]), "no Host").await;
        assert_refused(
            &st,
            request(method, &path, &body, &[b"127.0.0.1", b"127.0.0.1"], &[]),
            "two Hosts",
        )
        .await;
        for h in bad_hosts() {
            let what = format!("{method} {path} Host {:?}", String::from_utf8_lossy(&h));
            assert_refused(&st, request(method, &path, &body, &[&h], &[]), &what).await;
            // A good Origin does not make up for a bad Host.
            assert_refused(
                &st,
                request(method, &path, &body, &[&h], &[b"http://127.0.0.1:7878"]),
                &what,
            )
            .await;
        }
        // A URI naming another authority (absolute form), whatever the Host says.
        assert_refused(
            &st,
            request(
                method,
                &format!("http://evil.example{path}"),
                &body,
                &[b"127.0.0.1:7878"],
                &[],
            ),
            "absolute URI",
        )
        .await;
    }
    // None of those replaced the scenario.
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
}

#[tokio::test]
async fn only_this_page_is_an_origin() {
    let st = mini_lab();
    let mut bad: Vec<Vec<u8>> = [
        "",
        "null",
        "http://evil.example",
        "http://127.0.0.1:7878.evil.example",
        "http://127.0.0.1:7878@evil.example",
        "https://127.0.0.1:7878",
        "http://127.0.0.1:7879",
        "http://127.0.0.1",
        "http://localhost:7878",
        "http://user@127.0.0.1:7878",
        "http://127.0.0.1:7878/",
        "HTTP://127.0.0.1:7878",
        "127.0.0.1:7878",
        " http://127.0.0.1:7878",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bad.push(b"http://127.0.0.1:7878\xe9".to_vec());
    bad.push("http://127.0.0.1:7878é".as_bytes().to_vec());
    bad.push(b"http://\xff".to_vec());
    for (method, path, body) in endpoints() {
        for o in &bad {
            let what = format!("{method} {path} Origin {:?}", String::from_utf8_lossy(o));
            assert_refused(
                &st,
                request(method, &path, &body, &[b"127.0.0.1:7878"], &[o]),
                &what,
            )
            .await;
        }
        assert_refused(
            &st,
            request(
                method,
                &path,
                &body,
                &[b"127.0.0.1:7878"],
                &[b"http://127.0.0.1:7878", b"http://127.0.0.1:7878"],
            ),
            "two Origins",
        )
        .await;
    }
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
}

#[tokio::test]
async fn loopback_names_are_served() {
    for (method, path, body) in endpoints() {
        for h in GOOD_HOSTS {
            let st = mini_lab();
            let a = send(&st, request(method, &path, &body, &[h.as_bytes()], &[])).await;
            assert_ne!(
                a.status,
                StatusCode::FORBIDDEN,
                "{method} {path} Host {h}: {}",
                a.body
            );
            let origin = format!("http://{h}");
            let a = send(
                &st,
                request(method, &path, &body, &[h.as_bytes()], &[origin.as_bytes()]),
            )
            .await;
            assert_ne!(
                a.status,
                StatusCode::FORBIDDEN,
                "{method} {path} Origin {origin}"
            );
        }
    }
}

/// The check against a spec written another way: the name, then an
/// optional `:` and one to five digits whose value is 1-65535.
fn spec(host: &str) -> bool {
    let names = ["127.0.0.1", "localhost", "[::1]"];
    names.iter().any(|n| {
        let Some(head) = host.get(..n.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(n) || (*n != "localhost" && head != *n) {
            return false;
        }
        let rest = &host[n.len()..];
        rest.is_empty()
            || rest.strip_prefix(':').is_some_and(|p| {
                (1..=5).contains(&p.len())
                    && p.chars().all(|c| c.is_ascii_digit())
                    && p.parse::<u32>().is_ok_and(|v| (1..=65535).contains(&v))
            })
    })
}

/// Good and bad names mutated at random (a character inserted, removed or
/// replaced, from an alphabet of the characters that matter): the check
/// agrees with the spec on every one.
#[test]
fn the_host_check_is_the_spec_on_mutated_names() {
    let alphabet: Vec<char> = "0123456789:[]@./#%-+ lLoOcaHsTxX\u{e9}\u{43e}\u{ff17}"
        .chars()
        .collect();
    let seeds: Vec<String> = GOOD_HOSTS
        .iter()
        .map(|s| s.to_string())
        .chain(
            bad_hosts()
                .iter()
                .filter_map(|b| String::from_utf8(b.clone()).ok()),
        )
        .collect();
    let mut rng = pathproof_core::synth::SplitMix64::new(14);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..200_000 {
        let mut s: Vec<char> = rng.pick(&seeds).chars().collect();
        for _ in 0..rng.range(1, 3) {
            let i = rng.below(s.len() + 1);
            match rng.below(3) {
                0 => s.insert(i, *rng.pick(&alphabet)),
                1 if i < s.len() => {
                    s.remove(i);
                }
                _ if i < s.len() => s[i] = *rng.pick(&alphabet),
                _ => {}
            }
        }
        let s: String = s.into_iter().collect();
        let ok = loopback_host(&s);
        assert_eq!(ok, spec(&s), "{s:?}");
        if ok {
            accepted += 1
        } else {
            refused += 1
        }
    }
    assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
    for h in GOOD_HOSTS {
        assert!(loopback_host(h) && spec(h), "{h}");
    }
    for h in bad_hosts() {
        if let Ok(h) = String::from_utf8(h) {
            assert!(!loopback_host(&h) && !spec(&h), "{h:?}");
        }
    }
}

/// The same over a real socket, where hyper parses the request: a request
/// without a Host (HTTP/1.0 or 1.1), with an empty one or a non-ASCII one
/// is never served.
#[tokio::test]
async fn over_a_socket_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _stop) = serve(mini_lab(), Limits::default()).await;
    let other = "name: replaced\n";
    let heads: Vec<Vec<u8>> = vec![
        b"POST /api/scenario HTTP/1.1\r\n".to_vec(),
        b"POST /api/scenario HTTP/1.0\r\n".to_vec(),
        b"POST /api/scenario HTTP/1.1\r\nHost:\r\n".to_vec(),
        b"POST /api/scenario HTTP/1.1\r\nHost: loc\xc3\xa1lhost\r\n".to_vec(),
        b"POST /api/scenario HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\xff\r\n"
            .to_vec(),
        b"POST http://evil.example/api/scenario HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec(),
    ];
    for head in heads {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = head.clone();
        req.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n{other}",
                other.len()
            )
            .as_bytes(),
        );
        s.write_all(&req).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("an answer")
            .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.starts_with("HTTP/1.1 403")
                || out.starts_with("HTTP/1.0 403")
                || out.starts_with("HTTP/1.1 400")
                || out.is_empty(),
            "{}: {out}",
            String::from_utf8_lossy(&head)
        );
    }
    let st = mini_lab();
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
}

// ---------- item 8: memory and time ----------

/// An answer past the budget is a 422 that says how to narrow the question;
/// the narrower question is then answered, and an answer within the budget
/// is the same bytes as without one.
#[tokio::test]
async fn an_answer_too_large_is_a_clear_4xx() {
    let (_, st) = generated(40);
    let whole = get(&st, "/api/reach?cells=true").await;
    assert_eq!(whole.status, StatusCode::OK);
    let size = whole.body.len() as u64;
    assert!(size > 1 << 20, "{size}");

    let (_, small) = generated(40);
    let small = small.with_limits(Limits {
        memory: 1 << 20,
        ..Limits::default()
    });
    let a = get(&small, "/api/reach?cells=true").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    // The compact matrix (classes, not cells) fits where the cells do not.
    let compact = get(&small, "/api/reach").await;
    assert_eq!(compact.status, StatusCode::OK, "{}", compact.body);
    assert!(
        compact.body.len() * 4 < whole.body.len(),
        "{}",
        compact.body.len()
    );
    let v = a.json();
    assert_eq!(v["limit"], "memory");
    assert!(v["error"].as_str().unwrap().contains("1 MiB"), "{v}");
    let help = v["help"].as_str().unwrap();
    assert!(help.contains("?from=") && help.contains("?to="), "{help}");
    // The same question keeps its answer (it is not kept as an answer).
    assert_eq!(
        get(&small, "/api/reach?cells=true").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let v = serde_json::from_str::<Value>(&whole.body).unwrap();
    let host = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "host")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let narrow = get(&small, &format!("/api/reach?from={host}&cells=true")).await;
    assert_eq!(narrow.status, StatusCode::OK, "{}", narrow.body);
    let (_, unlimited) = generated(40);
    assert_eq!(
        get(&unlimited, &format!("/api/reach?from={host}&cells=true"))
            .await
            .body,
        narrow.body
    );
    // Diff and foothold too.
    let a = get(
        &small.clone().with_limits(Limits {
            memory: 4096,
            ..Limits::default()
        }),
        "/api/diff?variant=break",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.json()["limit"], "memory");
    let a = get(
        &small.clone().with_limits(Limits {
            memory: 4096,
            ..Limits::default()
        }),
        &format!("/api/foothold?from={host}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.json()["limit"], "memory");
}

/// Loading a scenario is within the budget too: past it, a 422 and the
/// current scenario unchanged.
#[tokio::test]
async fn a_scenario_too_large_to_load_is_refused() {
    let (text, _) = generated(40);
    let st = mini_lab().with_limits(Limits {
        memory: 1 << 20,
        ..Limits::default()
    });
    let req = Request::post("/api/scenario")
        .header(header::HOST, "localhost")
        .body(Body::from(text))
        .unwrap();
    let a = send(&st, req).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(a.json()["limit"], "memory");
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
}

/// Waits until no analysis runs any more (a cancelled one has stopped).
async fn settled(st: &AppState, within: Duration) {
    let t0 = std::time::Instant::now();
    while st.analyses_running() > 0 {
        assert!(
            t0.elapsed() < within,
            "an analysis still runs {within:?} after its request went away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Past the deadline: 503 at once, the work stopped, and nothing kept.
#[tokio::test]
async fn past_its_deadline_the_work_stops() {
    let (_, st) = generated(40);
    let hurried = st.clone().with_limits(Limits {
        request: Duration::from_millis(1),
        ..Limits::default()
    });
    let a = get(&hurried, "/api/reach").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    let v = a.json();
    assert_eq!(v["limit"], "time");
    assert!(
        v["error"].as_str().unwrap().contains("--request-timeout"),
        "{v}"
    );
    assert!(v["help"].as_str().unwrap().contains("?from="), "{v}");
    settled(&hurried, Duration::from_secs(60)).await;
    // Not computed to the end: asked again, it is not there already.
    assert_eq!(
        get(&hurried, "/api/reach").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    settled(&hurried, Duration::from_secs(60)).await;
    // A question that is answered in time is kept, and then answered at once.
    let a = get(&st, "/api/reach?to=core").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let again = get(&hurried, "/api/reach?to=core").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, a.body);
}

/// Serves `st` on a loopback port; the server stops when the sender is dropped.
async fn serve(
    st: AppState,
    limits: Limits,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = pathproof_web::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(pathproof_web::serve(listener, st, limits, async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

/// Sends a request on a new connection (closed by the server after the
/// answer) and leaves it unread.
async fn ask(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    s
}

async fn started(st: &AppState) {
    let t0 = std::time::Instant::now();
    while st.analyses_running() == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the analysis never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads the answer to [`ask`] (until the server closes the connection).
async fn answer_on(s: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(within, s.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that goes away cancels its work: it stops, and nothing is kept.
#[tokio::test]
async fn a_client_that_goes_away_cancels_its_work() {
    let (_, st) = generated(200);
    let limits = Limits {
        request: Duration::from_secs(600),
        ..Limits::default()
    };
    let st = st.with_limits(limits);
    let (addr, _stop) = serve(st.clone(), limits).await;
    let client = ask(addr, "/api/reach").await;
    started(&st).await;
    drop(client);
    settled(&st, Duration::from_secs(60)).await;
    // Not computed to the end: it is not there to answer at once.
    let hurried = st.clone().with_limits(Limits {
        request: Duration::from_millis(1),
        ..limits
    });
    let a = get(&hurried, "/api/reach").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    settled(&hurried, Duration::from_secs(60)).await;
}

// ---------- the matrix computed as the scenario loads ----------

/// The body of an answer read by [`answer_on`].
fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// With the matrix kept warm, the server computes `GET /api/reach` as soon
/// as it starts: the page's question, asked at once, gets that computation's
/// answer (the same bytes as a server that computes it on demand), and the
/// engine ran once.
#[tokio::test]
async fn the_matrix_is_computed_once_as_the_server_starts() {
    let (_, cold) = generated(200);
    let want = get(&cold, "/api/reach").await;
    assert_eq!(want.status, StatusCode::OK, "{}", want.body);
    let (_, st) = generated(200);
    let limits = Limits {
        request: Duration::from_secs(600),
        ..Limits::default()
    };
    let st = st.with_limits(limits).with_warm_matrix();
    let (addr, _stop) = serve(st.clone(), limits).await;
    let mut s = ask(addr, "/api/reach").await;
    let a = answer_on(&mut s, Duration::from_secs(600)).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert_eq!(body_of(&a), want.body);
    settled(&st, Duration::from_secs(60)).await;
    assert_eq!(st.analyses_started(), 1, "the matrix was computed twice");
    // Kept: asked again, answered without the engine.
    let mut s = ask(addr, "/api/reach").await;
    assert_eq!(
        body_of(&answer_on(&mut s, Duration::from_secs(60)).await),
        want.body
    );
    assert_eq!(st.analyses_started(), 1);
}

/// The computation in the background has a request's budget: an answer
/// larger than it is the same 422 for the page's question.
#[tokio::test]
async fn the_warm_matrix_keeps_to_the_memory_budget() {
    let (_, st) = generated(40);
    let limits = Limits {
        memory: 64 << 10,
        ..Limits::default()
    };
    let st = st.with_limits(limits).with_warm_matrix();
    let (addr, _stop) = serve(st.clone(), limits).await;
    let mut s = ask(addr, "/api/reach").await;
    let a = answer_on(&mut s, Duration::from_secs(60)).await;
    assert!(a.starts_with("HTTP/1.1 422"), "{a}");
    let v: Value = serde_json::from_str(body_of(&a)).unwrap();
    assert_eq!(v["limit"], "memory");
    assert!(v["help"].as_str().unwrap().contains("?from="), "{v}");
    settled(&st, Duration::from_secs(60)).await;
}

/// Another scenario loaded stops the computation of the one it replaces,
/// and its own matrix is computed in turn.
#[tokio::test]
async fn a_new_scenario_stops_the_warm_matrix_of_the_old() {
    let (_, st) = generated(600);
    let limits = Limits {
        request: Duration::from_secs(600),
        ..Limits::default()
    };
    let st = st.with_limits(limits).with_warm_matrix();
    let (addr, _stop) = serve(st.clone(), limits).await;
    started(&st).await;
    let t0 = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    {
        use tokio::io::AsyncWriteExt;
        s.write_all(
            format!("POST /api/scenario/example/mini-lab HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    }
    let a = answer_on(&mut s, Duration::from_secs(600)).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    settled(&st, Duration::from_secs(60)).await;
    let stopped = t0.elapsed();
    let mut s = ask(addr, "/api/reach").await;
    let a = answer_on(&mut s, Duration::from_secs(60)).await;
    let v: Value = serde_json::from_str(body_of(&a)).unwrap();
    assert_eq!(v["scenario"], "mini-lab");
    // The old one's and the new one's, no other.
    assert_eq!(st.analyses_started(), 2, "stopped after {stopped:?}");
}

// ---------- item 9: connections ----------

/// Connections that never send a request cannot lock a client out: past
/// the cap, the one idle longest is closed, long before its header timeout.
#[tokio::test]
async fn idle_connections_make_room_for_a_request() {
    use tokio::io::AsyncWriteExt;
    let limits = Limits {
        connections: 16,
        headers: Duration::from_secs(300),
        ..Limits::default()
    };
    let (addr, _stop) = serve(mini_lab(), limits).await;
    let mut idle = Vec::new();
    for i in 0..64 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            // Half a request line, and then nothing.
            s.write_all(b"GET /api/scen").await.unwrap();
        }
        idle.push(s);
    }
    let mut s = ask(addr, "/api/examples").await;
    let out = answer_on(&mut s, Duration::from_secs(60)).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // Some of the idle ones were closed to make room (no answer, EOF).
    let mut closed = 0;
    for s in &mut idle {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(20), {
            use tokio::io::AsyncReadExt;
            s.read(&mut buf)
        })
        .await
        {
            closed += 1;
        }
    }
    assert!(closed >= 64 - 16, "{closed} closed");
}
