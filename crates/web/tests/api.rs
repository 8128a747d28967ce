//! Every endpoint of the JSON API, good and bad requests, through the same
//! router `pathproof serve` runs (no network needed except the last test,
//! which uses a real loopback socket).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use pathproof_core::{examples, render, Query};
use pathproof_web::{app, AppState, Current, MAX_BODY};

fn state() -> AppState {
    AppState::new(Current::example("mini-lab").unwrap().unwrap())
}

struct Answer {
    status: StatusCode,
    content_type: String,
    allow: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A request as the page sends it: addressed to 127.0.0.1 unless it says otherwise.
async fn send(st: &AppState, mut req: Request<Body>) -> Answer {
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
    }
    let r = app(st.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let content_type = r
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let allow = r
        .headers()
        .get(header::ALLOW)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        allow,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(st: &AppState, uri: &str) -> Answer {
    send(st, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(st: &AppState, uri: &str, body: impl Into<Body>) -> Answer {
    send(st, Request::post(uri).body(body.into()).unwrap()).await
}

fn assert_error(a: &Answer, status: StatusCode, needle: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.content_type.starts_with("application/json"),
        "{status}: `{}` is not JSON: {:?}",
        a.content_type,
        a.body
    );
    let v = a.json();
    let msg = v["error"].as_str().expect("an error sentence");
    assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
    // docs/api.md: every error has `help`, a string or null.
    assert!(v["help"].is_string() || v["help"].is_null(), "{v}");
}

fn help(a: &Answer) -> String {
    a.json()["help"].as_str().unwrap_or_default().to_string()
}

fn mini_lab_trace(from: &str, to: &str, variant: Option<&str>) -> pathproof_core::Trace {
    let e = examples::get("mini-lab").unwrap();
    let scn = pathproof_core::load(&e.file(), e.text, variant).unwrap();
    pathproof_core::trace(&scn, &Query::new(from, to)).unwrap()
}

#[tokio::test]
async fn scenario_view_is_the_topology() {
    let st = state();
    let a = get(&st, "/api/scenario").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["name"], "mini-lab");
    assert_eq!(v["file"], "mini-lab.yaml");
    assert_eq!(
        v["source"].as_str().unwrap(),
        examples::get("mini-lab").unwrap().text
    );
    let nets: Vec<&str> = v["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(nets, ["internet", "dmz", "app", "data", "link-local"]);
    assert_eq!(v["networks"][0]["trust"], "untrusted");
    assert_eq!(v["networks"][0]["catch_all"], true);
    let host = |name: &str| {
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(host("edge")["kind"], "firewall");
    assert_eq!(host("edge")["forward"], "edge-fw");
    assert_eq!(host("edge")["interfaces"].as_array().unwrap().len(), 5);
    assert_eq!(host("web")["kind"], "host");
    assert_eq!(host("web")["interfaces"][0]["network"], "dmz");
    assert_eq!(host("web")["interfaces"][0]["addrs"][0], "10.0.1.10");
    assert_eq!(host("web")["sockets"][0]["port"], 443);
    assert_eq!(
        host("web")["sockets"][0]["tls"]["names"][0],
        "www.example.com"
    );
    assert_eq!(host("proxy")["proxy"]["mode"], "forward");
    assert_eq!(host("db")["sensitive"], true);
    let fw = &v["filters"][0];
    assert_eq!(fw["name"], "edge-fw");
    assert_eq!(fw["default"], "drop");
    assert_eq!(fw["attached"][0], "edge/forward");
    assert_eq!(fw["rules"][0]["index"], 1);
    assert_eq!(fw["rules"][0]["action"], "allow");
    // The rule's line is where it is written in the YAML.
    let line = fw["rules"][0]["line"].as_u64().unwrap() as usize;
    let src = examples::get("mini-lab").unwrap().text;
    assert!(src
        .lines()
        .nth(line - 1)
        .unwrap()
        .contains("allow tcp from internet to web port 443"));
    assert_eq!(v["dns"][0]["name"], "public");
    assert_eq!(v["dns"][0]["records"][0]["type"], "A");
    let variants: Vec<&str> = v["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["break", "harden"]);
    assert!(v["variants"][0]["why"].as_str().unwrap().contains("DMZ"));
    let ex = v["expectations"].as_array().unwrap();
    assert_eq!(ex.len(), 5);
    assert_eq!(ex[2]["kind"], "deny");
    assert_eq!(ex[2]["journeys"][0]["from"], "web");
    assert_eq!(ex[2]["journeys"][0]["to"], "metadata:80");
    assert_eq!(ex[4]["kind"], "only");
    assert_eq!(ex[4]["journeys"][0]["from"], "api");
    // Deterministic: the same scenario gives the same bytes.
    assert_eq!(get(&st, "/api/scenario").await.body, a.body);
}

#[tokio::test]
async fn trace_is_the_cli_json_byte_for_byte() {
    let st = state();
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"www.example.com:443"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.content_type.starts_with("application/json"));
    let want = render::trace_json(&mini_lab_trace("client", "www.example.com:443", None));
    assert_eq!(a.body, want);
    assert_eq!(a.json()["outcome"]["kind"], "reached");
}

#[tokio::test]
async fn trace_formats_mermaid_and_text() {
    let st = state();
    let t = mini_lab_trace("client", "web:443", None);
    let body = r#"{"from":"client","to":"web:443","proto":"tcp"}"#;
    let m = post(&st, "/api/trace?format=mermaid", body).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.content_type.starts_with("text/plain"));
    assert_eq!(m.body, render::trace_mermaid(&t));
    let x = post(&st, "/api/trace?format=text", body).await;
    assert_eq!(x.body, render::trace_text(&t));
    let bad = post(&st, "/api/trace?format=svg", body).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "unknown format `svg`");
}

#[tokio::test]
async fn trace_under_a_variant() {
    let st = state();
    let base = post(&st, "/api/trace", r#"{"from":"web","to":"metadata:80"}"#).await;
    assert_ne!(base.json()["outcome"]["kind"], "reached");
    let broken = post(
        &st,
        "/api/trace",
        r#"{"from":"web","to":"metadata:80","variant":"break"}"#,
    )
    .await;
    assert_eq!(broken.status, StatusCode::OK);
    let v = broken.json();
    assert_eq!(v["variant"], "break");
    assert_eq!(v["outcome"]["kind"], "reached");
    assert_eq!(v["query"]["destination_address"], "169.254.169.254");
    assert_eq!(
        broken.body,
        render::trace_json(&mini_lab_trace("web", "metadata:80", Some("break")))
    );
    // An empty variant is no variant.
    let none = post(
        &st,
        "/api/trace",
        r#"{"from":"web","to":"metadata:80","variant":""}"#,
    )
    .await;
    assert_eq!(none.body, base.body);
}

#[tokio::test]
async fn trace_bad_requests_are_clear_4xx() {
    let st = state();
    let a = post(&st, "/api/trace", r#"{"from":"clinet","to":"web:443"}"#).await;
    assert_error(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown source `clinet`",
    );
    assert_eq!(a.json()["help"], "did you mean `client`?");
    let a = post(&st, "/api/trace", r#"{"from":"client","to":"web"}"#).await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "has no port");
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"web:443","variant":"brake"}"#,
    )
    .await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "no variant `brake`");
    assert_eq!(a.json()["help"], "did you mean `break`?");
    let a = post(&st, "/api/trace", "{not json").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "not a trace question");
    let a = post(&st, "/api/trace", r#"{"from":"client"}"#).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "missing field `to`");
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"web:443","prot":"udp"}"#,
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown field `prot`");
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"web:443","proto":"gre"}"#,
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown protocol `gre`");
    // Every endpoint that takes a trace question takes the same protocols:
    // each name `trace --proto` takes is answered by both, and an unknown one
    // refused by both with the same words.
    for proto in ["tcp", "udp", "icmp", "icmpv6", "ping", "sctp", "gre", "TCP"] {
        let body = format!(r#"{{"from":"client","to":"web:443","proto":"{proto}"}}"#);
        let t = post(&st, "/api/trace", body.clone()).await;
        let j = post(&st, "/api/journey", body).await;
        let known = pathproof_core::model::Proto::parse(proto).is_some();
        let want = if known {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(t.status, want, "/api/trace {proto}: {}", t.body);
        assert_eq!(j.status, want, "/api/journey {proto}: {}", j.body);
        if !known {
            assert_eq!(t.json()["error"], j.json()["error"], "{proto}");
        }
    }
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"web:443","port":70000}"#,
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "not a trace question");
    let a = post(&st, "/api/trace", "").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "not a trace question");
    let big = format!(r#"{{"from":"{}","to":"web:443"}}"#, "a".repeat(MAX_BODY));
    let a = post(&st, "/api/trace", big).await;
    assert_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
    let a = get(&st, "/api/trace").await;
    assert_error(&a, StatusCode::METHOD_NOT_ALLOWED, "does not answer GET");
}

/// What axum rejects before a handler runs (a query string the endpoint does
/// not read, a path that is not UTF-8, a method the endpoint does not answer)
/// is a JSON error too, with a clear sentence and a way out.
#[tokio::test]
async fn query_string_path_and_method_errors_are_json() {
    let st = state();
    let q = r#"{"from":"client","to":"web:443"}"#;
    // A field given twice: which one was meant?
    let a = post(&st, "/api/trace?format=json&format=mermaid", q).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "duplicate field `format`");
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("the query string is not what this endpoint reads"));
    assert_eq!(
        help(&a),
        "POST /api/trace reads ?format=json, ?format=mermaid or ?format=text (optional, once)"
    );
    // A misspelt field is refused, not ignored (it would give JSON, not Mermaid).
    let a = post(&st, "/api/trace?fromat=mermaid", q).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown field `fromat`");
    // An unknown value is the handler's own error.
    let a = post(&st, "/api/trace?format=pdf", q).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown format `pdf`");
    // The good forms still work.
    let a = post(&st, "/api/trace?format=text", q).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let yaml = examples::get("dual-stack").unwrap().text;
    let a = post(&st, "/api/scenario?file=a.yaml&file=b.yaml", yaml).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "duplicate field `file`");
    assert!(help(&a).contains("?file=NAME"), "{}", a.body);
    let a = post(&st, "/api/scenario?name=a.yaml", yaml).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown field `name`");
    // Neither replaced the scenario in use.
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");

    for (uri, field) in [
        ("/api/reach?from=web&from=db", "from"),
        ("/api/reach?variant=break&variant=harden", "variant"),
        ("/api/diff?variant=break&variant=harden", "variant"),
        ("/api/foothold?from=web&from=api", "from"),
    ] {
        let a = get(&st, uri).await;
        assert_error(
            &a,
            StatusCode::BAD_REQUEST,
            &format!("duplicate field `{field}`"),
        );
        assert!(help(&a).starts_with("GET /api/"), "{uri}: {}", a.body);
    }
    let a = get(&st, "/api/reach?form=web").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "unknown field `form`");
    assert!(help(&a).contains("?from=SOURCE"), "{}", a.body);

    // A path that is not UTF-8.
    let a = get(&st, "/api/lessons/%FF").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "cannot be read");
    let a = post(&st, "/api/scenario/example/%FF", "").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "cannot be read");
    let a = get(&st, "/api/nothing/%FF").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "cannot be read");

    // A known endpoint with a method it does not answer: 405, the Allow
    // header, and the method to use.
    for (method, uri, allow, use_) in [
        ("GET", "/api/trace", "POST", "use POST"),
        ("PUT", "/api/trace", "POST", "use POST"),
        (
            "DELETE",
            "/api/scenario",
            "GET,HEAD,POST",
            "use GET or POST",
        ),
        ("GET", "/api/scenario/example/mini-lab", "POST", "use POST"),
        ("PATCH", "/api/reach", "GET,HEAD,POST", "use GET or POST"),
        ("POST", "/api/diff?variant=break", "GET,HEAD", "use GET"),
        ("POST", "/api/foothold?from=web", "GET,HEAD", "use GET"),
        ("POST", "/api/lessons", "GET,HEAD", "use GET"),
        ("DELETE", "/api/lessons/checkpoint", "GET,HEAD", "use GET"),
        (
            "GET",
            "/api/lessons/checkpoint/scenario",
            "POST",
            "use POST",
        ),
        ("POST", "/api/words", "GET,HEAD", "use GET"),
        ("POST", "/api/examples", "GET,HEAD", "use GET"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let a = send(&st, req).await;
        let path = uri.split('?').next().unwrap();
        assert_error(
            &a,
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} does not answer {method}"),
        );
        assert_eq!(help(&a), use_, "{method} {uri}");
        assert_eq!(a.allow.replace(' ', ""), allow, "{method} {uri}");
    }

    // The bare prefix is an unknown endpoint like any other.
    for uri in ["/api", "/api/"] {
        assert_error(
            &get(&st, uri).await,
            StatusCode::NOT_FOUND,
            "no API endpoint",
        );
    }
}

#[tokio::test]
async fn post_scenario_loads_or_reports_problems_like_the_cli() {
    let st = state();
    let bad = "name: broken\nnetworks:\n  lan: { cidr: 10.0.0.0/24 }\nhosts:\n  a: { at: lann 10.0.0.1 }\n";
    let a = post(&st, "/api/scenario?file=my-lab.yaml", bad).await;
    assert_error(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "my-lab.yaml has 1 problem",
    );
    let want = pathproof_core::load("my-lab.yaml", bad, None).unwrap_err();
    let v = a.json();
    let got = v["problems"].as_array().unwrap();
    assert_eq!(got.len(), want.problems.len());
    for (g, w) in got.iter().zip(&want.problems) {
        assert_eq!(g["message"], w.message.as_str());
        assert_eq!(g["label"], w.label.as_str());
        assert_eq!(g["help"].as_str(), w.help.as_deref());
        assert_eq!(g["line"], w.line);
        assert_eq!(g["column"], w.column);
    }
    assert_eq!(got[0]["line"], 5);
    assert_eq!(got[0]["help"], "did you mean `lan`?");
    assert_eq!(v["text"], want.to_string());
    // The scenario in place is unchanged.
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");

    // YAML that is not even YAML.
    let a = post(&st, "/api/scenario", "hosts: [unclosed\n").await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "problem");
    assert!(a.json()["problems"][0]["line"].as_u64().unwrap() >= 1);

    let a = post(&st, "/api/scenario", vec![0xffu8, 0xfe, b'x']).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "not UTF-8");
    let a = post(&st, "/api/scenario", vec![b'#'; MAX_BODY + 1]).await;
    assert_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "larger than");

    let good = "name: tiny\nnetworks:\n  lan: { cidr: 10.0.0.0/24 }\nhosts:\n  a: { at: lan 10.0.0.1 }\n  b: { at: lan 10.0.0.2, listen: [\"tcp/80 http\"] }\n";
    let a = post(&st, "/api/scenario?file=tiny.yaml", good).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["name"], "tiny");
    assert_eq!(get(&st, "/api/scenario").await.body, a.body);
    let t = post(&st, "/api/trace", r#"{"from":"a","to":"b:80"}"#).await;
    assert_eq!(t.json()["file"], "tiny.yaml");
    assert_eq!(t.json()["outcome"]["kind"], "reached");
    // The old scenario's names are gone.
    let t = post(&st, "/api/trace", r#"{"from":"client","to":"b:80"}"#).await;
    assert_error(
        &t,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown source `client`",
    );
}

#[tokio::test]
async fn examples_list_and_load() {
    let st = state();
    let a = get(&st, "/api/examples").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = examples::ALL.iter().map(|e| e.name).collect();
    assert_eq!(names, want);
    assert_eq!(v[0]["variants"][0], "break");
    assert!(v[0]["teaches"].as_str().unwrap().contains("edge firewall"));
    // `traffic`: the built-ins `pathproof simulate` runs.
    let traffic: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["traffic"] == true)
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = examples::ALL
        .iter()
        .filter(|e| {
            pathproof_core::load(&e.file(), e.text, None)
                .unwrap()
                .traffic
                .is_some()
        })
        .map(|e| e.name)
        .collect();
    assert_eq!(traffic, want);
    assert!(traffic.contains(&"syn-flood"), "{traffic:?}");
    assert_eq!(v[0]["traffic"], false);

    let a = post(&st, "/api/scenario/example/dual-stack", "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["name"], "dual-stack");
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "dual-stack");

    let a = post(&st, "/api/scenario/example/mini-lba", "").await;
    assert_error(
        &a,
        StatusCode::NOT_FOUND,
        "no built-in scenario named `mini-lba`",
    );
    assert_eq!(a.json()["help"], "did you mean `mini-lab`?");
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "dual-stack");
}

#[tokio::test]
async fn every_example_and_variant_views_and_traces() {
    for e in examples::ALL {
        let st = AppState::new(Current::example(e.name).unwrap().unwrap());
        let v = get(&st, "/api/scenario").await.json();
        let variants: Vec<Option<String>> = std::iter::once(None)
            .chain(
                v["variants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| Some(x["name"].as_str().unwrap().to_string())),
            )
            .collect();
        for ex in v["expectations"].as_array().unwrap() {
            for j in ex["journeys"].as_array().unwrap() {
                for variant in &variants {
                    let body = serde_json::json!({
                        "from": j["from"], "to": j["to"], "proto": j["proto"], "variant": variant,
                    });
                    let a = post(&st, "/api/trace", body.to_string()).await;
                    assert_eq!(a.status, StatusCode::OK, "{}: {body}: {}", e.name, a.body);
                }
            }
        }
    }
}

#[tokio::test]
async fn unknown_endpoints_and_foreign_requests() {
    let st = state();
    let a = get(&st, "/api/scenarios").await;
    assert_error(&a, StatusCode::NOT_FOUND, "no API endpoint /api/scenarios");
    assert_eq!(a.json()["help"], "did you mean /api/scenario?");
    let a = send(
        &st,
        Request::get("/api/scenario")
            .header(header::HOST, "evil.example:7878")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error(&a, StatusCode::FORBIDDEN, "127.0.0.1, localhost or [::1]");
    let a = send(
        &st,
        Request::post("/api/trace")
            .header(header::HOST, "127.0.0.1:7878")
            .header(header::ORIGIN, "http://evil.example")
            .body(Body::from(r#"{"from":"client","to":"web:443"}"#))
            .unwrap(),
    )
    .await;
    assert_error(&a, StatusCode::FORBIDDEN, "cross-origin");
    let a = send(
        &st,
        Request::post("/api/trace")
            .header(header::HOST, "127.0.0.1:7878")
            .header(header::ORIGIN, "http://127.0.0.1:7878")
            .body(Body::from(r#"{"from":"client","to":"web:443"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn the_page_is_embedded() {
    let st = state();
    let a = get(&st, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type.starts_with("text/html"));
    assert!(a.body.contains("<title>pathproof"));
    let a = get(&st, "/no-such-file.js").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

/// A client that promises a body and stops half-way gets an answer, not a hang.
#[tokio::test]
async fn a_truncated_body_over_a_real_socket_is_a_4xx() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = pathproof_web::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let server = tokio::spawn(pathproof_web::run(listener, state()));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /api/trace HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{\"from\":"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.shutdown().await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.read_to_string(&mut out),
    )
    .await
    .expect("the server answers")
    .unwrap();
    assert!(out.starts_with("HTTP/1.1 4"), "{out}");
    server.abort();
}

#[tokio::test]
async fn lessons_and_their_words() {
    use pathproof_core::evidence::{Fact, Stage};
    use pathproof_core::lessons;
    let st = state();
    let all = lessons::all().unwrap();
    let a = get(&st, "/api/lessons").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, want);
    assert!(!ids.is_empty());
    assert_eq!(v[0]["layers"].as_array().unwrap().len(), 4);

    let first = &all[0];
    let a = get(&st, &format!("/api/lessons/{}", first.id)).await;
    assert_eq!(a.status, StatusCode::OK);
    // The lesson as the core serialises it, and the text of its scenario.
    let mut want = serde_json::to_value(first).unwrap();
    want["scenario_source"] = first.scenario_source().unwrap().1.into();
    let choices: Vec<&str> = lessons::prediction_choices(first)
        .into_iter()
        .map(lessons::outcome_key)
        .collect();
    want["choices"] = serde_json::json!(choices);
    assert_eq!(a.json(), want);
    assert_eq!(
        a.json()["scenario_source"],
        examples::get(&first.scenario).unwrap().text
    );

    let typo = format!("{}x", first.id);
    let a = get(&st, &format!("/api/lessons/{typo}")).await;
    assert_error(&a, StatusCode::NOT_FOUND, &format!("no lesson `{typo}`"));
    assert_eq!(
        a.json()["help"],
        format!("did you mean `{}`?", first.id).as_str()
    );

    let w = get(&st, "/api/words").await.json();
    assert_eq!(w["layers"].as_array().unwrap().len(), 4);
    for level in 1..=4u8 {
        let i = usize::from(level - 1);
        assert_eq!(
            w["stages"]["filter"][i],
            lessons::stage_words(Stage::Filter, level)
        );
        assert_eq!(
            w["stages"]["reverse_path"][i],
            lessons::stage_words(Stage::ReversePath, level)
        );
        assert_eq!(
            w["facts"]["source_address"][i],
            lessons::fact_words(Fact::SourceAddress, level)
        );
        assert_eq!(
            w["facts"]["content"][i],
            lessons::fact_words(Fact::Content, level)
        );
    }
    assert_eq!(w["stages"].as_object().unwrap().len(), 14);
    assert_eq!(w["facts"].as_object().unwrap().len(), 11);
}

/// Serves `state` on a loopback port with short limits; the server stops
/// when the returned sender is dropped.
async fn serve_with(
    limits: pathproof_web::Limits,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = pathproof_web::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(pathproof_web::serve(
        listener,
        state(),
        limits,
        async move {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

/// Reads until the server closes the connection (or `within` passes: a hang).
async fn read_all(s: &mut tokio::net::TcpStream, within: std::time::Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut buf)).await {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => panic!(
            "the server neither answered nor closed the connection within {within:?}: it hangs"
        ),
    }
}

#[tokio::test]
async fn a_client_stalling_mid_body_gets_408() {
    use tokio::io::AsyncWriteExt;
    let limits = pathproof_web::Limits {
        body: std::time::Duration::from_millis(300),
        headers: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let (addr, _stop) = serve_with(limits).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Promise 100 bytes, send 10, and keep the connection open.
    s.write_all(
        format!(
            "POST /api/trace HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{\"from\":\"c"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = read_all(&mut s, std::time::Duration::from_secs(10)).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(
        out.contains("application/json")
            && out.contains("the request body did not arrive within 300 ms of its headers"),
        "{out}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_client_stalling_in_its_headers_is_disconnected() {
    use tokio::io::AsyncWriteExt;
    let limits = pathproof_web::Limits {
        body: std::time::Duration::from_secs(30),
        headers: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, _stop) = serve_with(limits).await;
    for partial in [
        String::new(),
        "GET /api/scenario HTTP/1.1\r\n".to_string(),
        format!("POST /api/trace HTTP/1.1\r\nHost: {addr}\r\nContent-Le"),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(partial.as_bytes()).await.unwrap();
        let t0 = std::time::Instant::now();
        let out = read_all(&mut s, std::time::Duration::from_secs(10)).await;
        assert!(
            out.is_empty() || out.starts_with("HTTP/1.1 408"),
            "{partial:?}: {out}"
        );
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "{partial:?}"
        );
    }
    // The server still answers others.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /api/examples HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let out = read_all(&mut s, std::time::Duration::from_secs(10)).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test]
async fn the_default_limits_are_finite() {
    let l = pathproof_web::Limits::default();
    assert_eq!(l.request, pathproof_web::REQUEST_TIMEOUT);
    assert_eq!(l.headers, pathproof_web::HEADER_TIMEOUT);
    assert!(l.headers <= std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn a_lesson_loads_its_scenario() {
    let st = state();
    let a = post(&st, "/api/lessons/split-dns/scenario", Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["name"], "split-dns");
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "split-dns");
    let a = post(&st, "/api/lessons/split-dnz/scenario", Body::empty()).await;
    assert_error(&a, StatusCode::NOT_FOUND, "no lesson `split-dnz`");
    assert_eq!(a.json()["help"], "did you mean `split-dns`?");
}

#[tokio::test]
async fn lessons_from_a_directory_are_offered_with_their_scenario() {
    use pathproof_core::lessons;
    let lesson = lessons::FILES[0]
        .1
        .replacen("id: checkpoint", "id: my-gate", 1)
        .replacen("aliases: [firewall]", "aliases: [gatehouse]", 1)
        .replacen("scenario: mini-lab", "scenario: gate.yaml", 1)
        .replace("mini-lab.yaml", "gate.yaml");
    let scn = examples::get("mini-lab")
        .unwrap()
        .text
        .replacen("name: mini-lab", "name: gate", 1);
    let files = vec![
        ("course/01-my-gate.yaml".to_string(), lesson),
        ("course/gate.yaml".to_string(), scn),
    ];
    let mut all = lessons::all().unwrap();
    all.extend(lessons::from_files("course", &files).unwrap());
    let st = AppState::new(Current::example("mini-lab").unwrap().unwrap()).with_lessons(all);
    let list = get(&st, "/api/lessons").await.json();
    let mine = list.as_array().unwrap().last().unwrap();
    assert_eq!(mine["id"], "my-gate");
    assert_eq!(mine["builtin"], false);
    assert_eq!(mine["scenario_file"], "course/gate.yaml");
    assert_eq!(list[0]["builtin"], true);
    let l = get(&st, "/api/lessons/my-gate").await.json();
    assert_eq!(l["scenario"], "gate.yaml");
    let a = post(&st, "/api/lessons/my-gate/scenario", Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    // The lesson names the text its scenario is loaded from, so that the page
    // can tell whether the scenario in use is still the lesson's own.
    assert_eq!(l["scenario_source"], v["source"]);
    assert_eq!(l["scenario_source"], files[1].1.as_str());
    assert_eq!(
        (v["name"].as_str(), v["file"].as_str()),
        (Some("gate"), Some("course/gate.yaml"))
    );
    // A trace now runs on it, and names its file.
    let t = post(&st, "/api/trace", r#"{"from":"client","to":"web:443"}"#)
        .await
        .json();
    assert_eq!(t["scenario"], "gate");
    assert_eq!(t["file"], "course/gate.yaml");
}

#[tokio::test]
async fn words_cover_every_view_and_outcome() {
    use pathproof_core::lessons::{self, View};
    let w = get(&state(), "/api/words").await.json();
    for (key, view) in [
        ("matrix", View::Matrix),
        ("changes", View::Changes),
        ("attacker", View::Attacker),
        ("expectations", View::Expectations),
    ] {
        for level in 1..=4u8 {
            assert_eq!(
                w["views"][key][usize::from(level - 1)],
                lessons::view_words(view, level)
            );
        }
    }
    // The traffic view's words come from the server too, one per layer.
    for level in 0..4 {
        assert_eq!(
            w["views"]["traffic"][level],
            pathproof_web::TRAFFIC_VIEW_WORDS[level]
        );
    }
    assert_eq!(
        w["views"].as_object().unwrap().len(),
        lessons::VIEWS.len() + 1
    );
    assert_eq!(w["outcomes"][0], "reached");
    assert_eq!(
        w["outcomes"].as_array().unwrap().len(),
        lessons::outcome_kinds().count()
    );
    // Each outcome as a learner's choice, the same words as `learn --quiz`.
    for k in lessons::outcome_kinds() {
        assert_eq!(
            w["choices"][lessons::outcome_key(k)],
            lessons::outcome_choice(k)
        );
    }
}

/// `established` is `pathproof trace --established`: a packet of an earlier
/// connection, let through on its conntrack entry (through a proxy too).
#[tokio::test]
async fn trace_of_an_earlier_connection() {
    let st = state();
    let a = post(
        &st,
        "/api/trace",
        r#"{"from":"client","to":"www.example.com:443","established":true}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    assert_eq!(v["query"]["established"], true);
    assert_eq!(v["outcome"]["kind"], "reached");
    let e = examples::get("mini-lab").unwrap();
    let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
    let mut q = Query::new("client", "www.example.com:443");
    q.established = true;
    assert_eq!(
        a.body,
        render::trace_json(&pathproof_core::trace(&scn, &q).unwrap())
    );
    let p = post(
        &st,
        "/api/trace",
        r#"{"from":"web","to":"api:8080","via":"proxy","established":true}"#,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["query"]["established"], true);
}

const IMPORT_MANIFESTS: &str = "apiVersion: v1\nkind: Pod\nmetadata: { name: web, namespace: prod, labels: { app: web } }\nspec:\n  containers: [{ name: web, image: web, ports: [{ containerPort: 80 }] }]\n---\napiVersion: v1\nkind: Pod\nmetadata: { name: client, namespace: prod }\nspec:\n  containers: [{ name: c, image: c }]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: prod }\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-all, namespace: prod }\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";

fn import_body(path: &str, text: &str, open: bool) -> String {
    serde_json::json!({
        "files": [{ "path": path, "text": text }],
        "expect": ["deny prod/client -> prod/web:80"],
        "open": open
    })
    .to_string()
}

#[tokio::test]
async fn post_import_k8s_answers_the_scenario_notes_and_opens_it() {
    let st = state();
    let a = post(
        &st,
        "/api/import/k8s",
        import_body("cluster.yaml", IMPORT_MANIFESTS, false),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    assert_eq!(v["kind"], "k8s");
    let yaml = v["yaml"].as_str().unwrap();
    assert!(
        yaml.contains("  prod/web:") && yaml.contains("deny prod/client -> prod/web:80"),
        "{yaml}"
    );
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("ConfigMap")),
        "{v}"
    );
    assert!(v.get("view").is_none(), "not opened unless asked");
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
    // open: the imported scenario becomes the one the page shows.
    let a = post(
        &st,
        "/api/import/k8s",
        import_body("cluster.yaml", IMPORT_MANIFESTS, true),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.json()["view"].is_object(), "{}", a.body);
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "k8s-import");
}

#[tokio::test]
async fn post_import_reports_bad_input_at_its_line() {
    let st = state();
    let bad = IMPORT_MANIFESTS.replace("podSelector: {}", "podSelector: []");
    let line = bad
        .lines()
        .position(|l| l.contains("podSelector: []"))
        .unwrap()
        + 1;
    let a = post(&st, "/api/import/k8s", import_body("bad.yaml", &bad, true)).await;
    assert_error(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("bad.yaml:{line}:"),
    );
    // The scenario in use did not change.
    assert_eq!(get(&st, "/api/scenario").await.json()["name"], "mini-lab");
    let a = post(
        &st,
        "/api/import/aws",
        import_body("Vpcs.json", "{\"Vpcs\": [\n  {\"VpcId\": 7}\n]}", false),
    )
    .await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "Vpcs.json:2:");
    let a = post(&st, "/api/import/terraform", import_body("a.tf", "", false)).await;
    assert_error(&a, StatusCode::NOT_FOUND, "no importer `terraform`");
    let a = post(&st, "/api/import/k8s", "{\"files\": []}").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "no files");
    let a = post(&st, "/api/import/k8s", "not json").await;
    assert_error(&a, StatusCode::BAD_REQUEST, "not an import request");
}
