//! `/api/reach`, `/api/diff` and `/api/foothold`: answers held against the
//! engine (`pathproof_core::analysis`) and the tracer, and every bad request a
//! clear 4xx.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use pathproof_core::analysis::reach::{reach, source_name, ReachQuery};
use pathproof_core::analysis::{diff, foothold};
use pathproof_core::examples;
use pathproof_web::{app, AppState, Current, MAX_BODY};

fn state() -> AppState {
    AppState::new(Current::example("mini-lab").unwrap().unwrap())
}

struct Answer {
    status: StatusCode,
    content_type: String,
    cache: String,
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
    let h = |n: header::HeaderName| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, cache) = (h(header::CONTENT_TYPE), h(header::CACHE_CONTROL));
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        cache,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(st: &AppState, uri: &str) -> Answer {
    send(st, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(st: &AppState, uri: &str, body: impl Into<Body>) -> Answer {
    send(st, Request::post(uri).body(body.into()).unwrap()).await
}

fn ok(a: &Answer) -> Value {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.content_type.starts_with("application/json"));
    assert_eq!(a.cache, "no-store");
    a.json()
}

fn assert_error(a: &Answer, status: StatusCode, needle: &str) -> Value {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(a.content_type.starts_with("application/json"));
    let v = a.json();
    let msg = v["error"].as_str().expect("an error sentence");
    assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
    v
}

fn mini_lab(variant: Option<&str>) -> pathproof_core::model::Scenario {
    let e = examples::get("mini-lab").unwrap();
    pathproof_core::load(&e.file(), e.text, variant).unwrap()
}

fn cell<'a>(m: &'a Value, source: &str, host: &str) -> Option<&'a Value> {
    m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == source && c["host"] == host)
}

/// Whether a trace's packets were accepted by a socket of `host` (the
/// journeys of `reach` are about packets reaching a socket; a trace goes on to
/// TLS, which fails when the example addresses the socket by address).
fn accepted_at(t: &Value, host: &Value) -> bool {
    t["hops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["stage"] == "socket" && h["verdict"] == "accept" && &h["device"] == host)
}

/// Replays a trace body the analysis attached, under `variant`.
async fn replay(st: &AppState, body: &Value, variant: Option<&str>) -> Value {
    let mut b = body.clone();
    if let Some(v) = variant {
        b["variant"] = Value::from(v);
    }
    ok(&post(st, "/api/trace", b.to_string()).await)
}

#[tokio::test]
async fn reach_is_the_engines_matrix_and_every_example_replays() {
    let st = state();
    let m = ok(&get(&st, "/api/reach?cells=true").await);
    assert_eq!(m["schema"], 1);
    assert_eq!(m["scenario"], "mini-lab");
    assert_eq!(m["variant"], Value::Null);

    // The same (source, host, socket) triples as the engine, every class member on its own row.
    let scn = mini_lab(None);
    let r = reach(&scn, &ReachQuery::default()).to_per_target(&scn);
    assert_eq!(m["journeys"], r.journeys.len());
    let mut want = BTreeSet::new();
    for j in &r.journeys {
        for s in j.members.iter() {
            want.insert((
                source_name(&scn, *s),
                scn.host(j.host()).name.clone(),
                scn.host(j.host()).sockets[j.socket()].text.clone(),
            ));
        }
    }
    let mut got = BTreeSet::new();
    for c in m["cells"].as_array().unwrap() {
        for s in c["sockets"].as_array().unwrap() {
            got.insert((
                c["source"].as_str().unwrap().to_string(),
                c["host"].as_str().unwrap().to_string(),
                s["text"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(got, want);

    // Rows: every host and network once, grouped by network; columns: the hosts with sockets.
    let rows: Vec<&str> = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), scn.hosts.len() + scn.networks.len());
    assert_eq!(&rows[..3], ["client", "edge", "internet"]);
    let cols: Vec<&str> = m["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["web", "proxy", "api", "db", "metadata"]);
    assert_eq!(m["targets"][3]["sensitive"], true);

    // Ports as text, per protocol.
    assert_eq!(cell(&m, "client", "web").unwrap()["ports"], "tcp 443");
    assert_eq!(cell(&m, "proxy", "web").unwrap()["ports"], "tcp 22, 443");
    assert_eq!(cell(&m, "app", "api").unwrap()["ports"], "tcp 8080, 9100");
    assert!(cell(&m, "client", "db").is_none());
    assert!(cell(&m, "web", "metadata").is_none());
    // A network row says which of its addresses connect, as prefixes.
    let internet = cell(&m, "internet", "web").unwrap();
    let sources = internet["sockets"][0]["packets"]["sources"]
        .as_array()
        .unwrap();
    assert!(sources.iter().all(|s| s.as_str().unwrap().contains('/')
        || s.as_str().unwrap().parse::<std::net::IpAddr>().is_ok()));

    // A TLS socket is addressed by its name where the source resolves it to
    // the example's address, so that the replay completes the handshake.
    let web = cell(&m, "client", "web").unwrap();
    let via_edge = &web["sockets"][0]["paths"][0];
    assert_eq!(via_edge["example"]["dst"], "198.51.100.1");
    assert_eq!(via_edge["trace"]["to"], "www.example.com:443");
    let t = replay(&st, &via_edge["trace"], None).await;
    assert_eq!(t["outcome"]["kind"], "reached");
    assert_eq!(t["query"]["destination_address"], "198.51.100.1");
    // The direct path to 10.0.1.10 has no name that resolves there.
    assert_eq!(
        web["sockets"][0]["paths"][1]["trace"]["to"],
        "10.0.1.10:443"
    );

    // Every path's example, traced from the row's source, reaches that cell's host.
    for c in m["cells"].as_array().unwrap() {
        for s in c["sockets"].as_array().unwrap() {
            for p in s["paths"].as_array().unwrap() {
                let t = replay(&st, &p["trace"], None).await;
                assert!(
                    accepted_at(&t, &c["host"]),
                    "{}: {}",
                    p["trace"],
                    t["outcome"]
                );
                assert!(!p["devices"].as_array().unwrap().is_empty());
            }
        }
    }
}

#[tokio::test]
async fn reach_under_a_variant_and_filtered_get_and_post_agree() {
    let st = state();
    let m = ok(&get(&st, "/api/reach?variant=break&cells=true").await);
    assert_eq!(m["variant"], "break");
    let c = cell(&m, "web", "metadata").expect("break lets web reach metadata");
    assert_eq!(c["ports"], "tcp 80");
    let t = replay(&st, &c["sockets"][0]["paths"][0]["trace"], Some("break")).await;
    assert_eq!(t["outcome"]["kind"], "reached");
    let rule = t["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["stage"] == "filter")
        .unwrap();
    assert_eq!(rule["rule"]["text"], "allow from dmz to any");

    // `from` a network: the network and its hosts; `to` a network: its hosts.
    let g = get(&st, "/api/reach?from=dmz&to=data&variant=break&cells=true").await;
    let f = ok(&g);
    let rows: Vec<&str> = f["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["edge", "web", "proxy", "dmz"]);
    let cols: Vec<&str> = f["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["db"]);
    assert_eq!(cell(&f, "web", "db").unwrap()["ports"], "tcp 5432");
    let p = post(
        &st,
        "/api/reach",
        r#"{"from":"dmz","to":"data","variant":"break","cells":true}"#,
    )
    .await;
    assert_eq!(p.body, g.body, "GET and POST give the same bytes");

    // Deterministic: the same bytes again, and from a fresh server.
    assert_eq!(
        get(&st, "/api/reach").await.body,
        get(&state(), "/api/reach").await.body
    );
    // An empty POST body is the whole matrix.
    assert_eq!(
        post(&st, "/api/reach", "").await.body,
        get(&st, "/api/reach").await.body
    );
}

#[tokio::test]
async fn reach_bad_requests_are_clear_4xx() {
    let st = state();
    let v = assert_error(
        &get(&st, "/api/reach?from=clent").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown source `clent`",
    );
    assert_eq!(v["help"], "did you mean `client`?");
    assert_error(
        &get(&st, "/api/reach?to=dbb").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown destination `dbb`",
    );
    let v = assert_error(
        &get(&st, "/api/reach?variant=brake").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no variant `brake`",
    );
    assert_eq!(v["help"], "did you mean `break`?");
    assert_error(
        &get(&st, "/api/reach?form=web").await,
        StatusCode::BAD_REQUEST,
        "unknown field `form`",
    );
    assert_error(
        &post(&st, "/api/reach", r#"{"from": 3}"#).await,
        StatusCode::BAD_REQUEST,
        "not a reach question",
    );
    assert_error(
        &post(&st, "/api/reach", "{not json").await,
        StatusCode::BAD_REQUEST,
        "not a reach question",
    );
    assert_error(
        &post(&st, "/api/reach", r#"{"from":"web","hops":2}"#).await,
        StatusCode::BAD_REQUEST,
        "unknown field `hops`",
    );
    assert_error(
        &post(&st, "/api/reach", vec![b' '; MAX_BODY + 1]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    );
    let a = send(
        &st,
        Request::delete("/api/reach").body(Body::empty()).unwrap(),
    )
    .await;
    let v = assert_error(
        &a,
        StatusCode::METHOD_NOT_ALLOWED,
        "/api/reach does not answer DELETE",
    );
    assert_eq!(v["help"], "use GET or POST");
}

#[tokio::test]
async fn diff_names_the_journeys_a_variant_adds_and_the_rule_responsible() {
    let st = state();
    let d = ok(&get(&st, "/api/diff?variant=break").await);
    // The engine's diff, field for field, with the page's additions beside it.
    let core = diff::diff(&mini_lab(None), &mini_lab(Some("break")));
    let core = serde_json::to_value(&core).unwrap();
    for k in ["schema", "old", "new", "unchanged"] {
        assert_eq!(d[k], core[k], "{k}");
    }
    for list in ["gained", "lost"] {
        let (a, b) = (d[list].as_array().unwrap(), core[list].as_array().unwrap());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            for (k, v) in y.as_object().unwrap() {
                assert_eq!(&x[k], v, "{list} {k}");
            }
        }
    }
    assert!(d["lost"].as_array().unwrap().is_empty());

    // What break changes: one rule inserted at the top of edge-fw, at its line.
    let changes = d["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let c = &changes[0];
    assert_eq!(c["kind"], "rule");
    assert_eq!(c["change"], "added");
    assert_eq!(c["owner"], "edge-fw");
    assert_eq!(c["text"], "allow from dmz to any");
    let src = examples::get("mini-lab").unwrap().text;
    let line = c["line"].as_u64().unwrap() as usize;
    assert!(src
        .lines()
        .nth(line - 1)
        .unwrap()
        .contains("allow from dmz to any"));
    assert!(c["summary"]
        .as_str()
        .unwrap()
        .contains(&format!("line {line}")));

    // web -> metadata appears, because of that rule; its trace replays both ways.
    let g = d["gained"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["source"] == "web" && g["host"] == "metadata")
        .expect("web reaches metadata under break");
    assert_eq!(g["responsible"], serde_json::json!([0]));
    assert_eq!(g["under_variant"], "reached");
    assert_eq!(g["as_written"], "dropped");
    let t = replay(&st, &g["trace"], Some("break")).await;
    assert_eq!(t["outcome"]["kind"], "reached");
    let t = replay(&st, &g["trace"], None).await;
    assert_eq!(t["outcome"]["kind"], "dropped");
    // Every gained journey is pinned to that rule.
    for g in d["gained"].as_array().unwrap() {
        assert_eq!(g["responsible"], serde_json::json!([0]), "{g}");
    }

    // harden changes more, and changes no journey of the mini-lab as written.
    let h = ok(&get(&st, "/api/diff?variant=harden").await);
    let summaries: Vec<&str> = h["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries.iter().any(|s| s.contains("web-egress: filter")),
        "{summaries:?}"
    );
    assert!(summaries
        .iter()
        .any(|s| s.contains("`rp_filter off` became `rp_filter strict`")));
    assert!(summaries
        .iter()
        .any(|s| s.starts_with("web: output filter `none` became `web-egress`")));
    // Stable bytes.
    assert_eq!(
        get(&st, "/api/diff?variant=harden").await.body,
        get(&state(), "/api/diff?variant=harden").await.body
    );
}

const TINY: &str = r#"name: tiny
about: a lan, a gateway with a filter, a server with ssh and three app ports
networks:
  lan: { cidr: 10.0.0.0/24, gateway: gw }
  srv: { cidr: 10.0.1.0/24, gateway: gw }
hosts:
  gw: { router: true, at: [lan 10.0.0.1, srv 10.0.1.1], filter: fw }
  pc: { at: lan 10.0.0.10, listen: ["tcp/22 ssh"] }
  app: { at: srv 10.0.1.10, sensitive: true, listen: ["tcp/22 ssh", "tcp/8000", "tcp/8001", "tcp/8002"] }
  vault: { at: srv 10.0.1.20, sensitive: true, listen: ["tcp/8200"] }
filters:
  fw:
    default: drop
    rules:
      - allow tcp from lan to app port 22
      - allow tcp from lan to app port 8000-8002
variants:
  tighten:
    why: no more ssh from the lan
    filters:
      fw:
        remove: ["allow tcp from lan to app port 22"]
"#;

#[tokio::test]
async fn a_removed_rule_loses_journeys_and_is_named() {
    let st = state();
    ok(&post(&st, "/api/scenario?file=tiny.yaml", TINY).await);
    let m = ok(&get(&st, "/api/reach?cells=true").await);
    // Consecutive ports are one range, never an enumeration.
    assert_eq!(cell(&m, "pc", "app").unwrap()["ports"], "tcp 22, 8000-8002");
    let d = ok(&get(&st, "/api/diff?variant=tighten").await);
    assert!(d["gained"].as_array().unwrap().is_empty());
    let lost = d["lost"].as_array().unwrap();
    assert!(!lost.is_empty());
    let changes = d["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["change"], "removed");
    assert_eq!(changes[0]["text"], "allow tcp from lan to app port 22");
    let line = changes[0]["line"].as_u64().unwrap() as usize;
    assert!(TINY
        .lines()
        .nth(line - 1)
        .unwrap()
        .contains("allow tcp from lan to app port 22"));
    for l in lost {
        assert_eq!(l["host"], "app");
        assert_eq!(l["socket"], "tcp/22 ssh");
        assert_eq!(l["responsible"], serde_json::json!([0]));
        assert_eq!(l["as_written"], "reached");
        assert_eq!(l["under_variant"], "dropped");
    }
    assert!(lost.iter().any(|l| l["source"] == "pc"));
    // A scenario without that variant.
    let a = get(&st, "/api/diff").await;
    let v = assert_error(&a, StatusCode::BAD_REQUEST, "add ?variant=NAME");
    assert_eq!(v["help"], "variants of tiny.yaml: tighten");
}

#[tokio::test]
async fn diff_bad_requests_are_clear_4xx() {
    let st = state();
    assert_error(
        &get(&st, "/api/diff").await,
        StatusCode::BAD_REQUEST,
        "?variant=NAME",
    );
    let v = assert_error(
        &get(&st, "/api/diff?variant=hardne").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no variant `hardne`",
    );
    assert_eq!(v["help"], "did you mean `harden`?");
    assert_error(
        &get(&st, "/api/diff?variant=break&from=web").await,
        StatusCode::BAD_REQUEST,
        "unknown field `from`",
    );
    // A variant that does not load: its problems, as for a trace.
    let broken = format!(
        "{}  oops:\n    why: names a filter that is not there\n    filters:\n      nofw:\n        insert: [\"allow from lan to any\"]\n",
        TINY
    );
    ok(&post(&st, "/api/scenario?file=broken.yaml", broken).await);
    let a = get(&st, "/api/diff?variant=oops").await;
    let v = assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "problem");
    assert!(v["problems"][0]["line"].as_u64().unwrap() > 1);
    assert_error(
        &get(&st, "/api/reach?variant=oops").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "problem",
    );
}

#[tokio::test]
async fn foothold_is_the_engines_blast_radius_with_replayable_steps() {
    let st = state();
    let f = ok(&get(&st, "/api/foothold?from=web").await);
    let core = foothold::foothold(&mini_lab(None), mini_lab(None).host_by_name("web").unwrap());
    let core = serde_json::to_value(&core).unwrap();
    for k in ["schema", "scenario", "variant", "from", "compromised"] {
        assert_eq!(f[k], core[k], "{k}");
    }
    assert_eq!(f["depth"], 2);
    let db = f["jewels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["host"] == "db")
        .unwrap();
    assert_eq!(db["path"], serde_json::json!(["web", "api", "db"]));
    let metadata = f["jewels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["host"] == "metadata")
        .unwrap();
    assert_eq!(metadata["path"], Value::Null);
    // Each step of the attack path replays as a trace that reaches its target.
    for e in db["edges"].as_array().unwrap() {
        let t = replay(&st, &e["trace"], None).await;
        assert_eq!(t["outcome"]["kind"], "reached");
        assert_eq!(t["outcome"]["at"], e["to"]);
        assert_eq!(t["query"]["from"], e["from"]);
    }
    for e in f["direct"].as_array().unwrap() {
        assert_eq!(e["from"], "web");
    }

    // Under break, web reaches db and metadata directly.
    let b = ok(&get(&st, "/api/foothold?from=web&variant=break").await);
    assert_eq!(b["variant"], "break");
    assert_eq!(b["depth"], 1);
    let md = b["jewels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["host"] == "metadata")
        .unwrap();
    assert_eq!(md["path"], serde_json::json!(["web", "metadata"]));
    let t = replay(&st, &md["edges"][0]["trace"], Some("break")).await;
    assert_eq!(t["outcome"]["kind"], "reached");
    assert_eq!(
        get(&st, "/api/foothold?from=web&variant=break").await.body,
        get(&state(), "/api/foothold?from=web&variant=break")
            .await
            .body
    );
}

#[tokio::test]
async fn foothold_bad_requests_are_clear_4xx() {
    let st = state();
    assert_error(
        &get(&st, "/api/foothold").await,
        StatusCode::BAD_REQUEST,
        "?from=HOST",
    );
    assert_error(
        &get(&st, "/api/foothold?from=").await,
        StatusCode::BAD_REQUEST,
        "?from=HOST",
    );
    assert_error(
        &get(&st, "/api/foothold?from=dmz").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "`dmz` is a network",
    );
    let v = assert_error(
        &get(&st, "/api/foothold?from=wbe").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown host `wbe`",
    );
    assert_eq!(v["help"], "did you mean `web`?");
    assert_error(
        &get(&st, "/api/foothold?from=web&variant=nope").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no variant `nope`",
    );
    assert_error(
        &get(&st, "/api/foothold?host=web").await,
        StatusCode::BAD_REQUEST,
        "unknown field `host`",
    );
    let a = post(&st, "/api/foothold?from=web", "").await;
    let v = assert_error(
        &a,
        StatusCode::METHOD_NOT_ALLOWED,
        "/api/foothold does not answer POST",
    );
    assert_eq!(v["help"], "use GET");
    // A question asked twice in one query string is refused, in JSON.
    let v = assert_error(
        &get(&st, "/api/foothold?from=web&from=api").await,
        StatusCode::BAD_REQUEST,
        "duplicate field `from`",
    );
    assert_eq!(
        v["help"],
        "GET /api/foothold reads ?from=HOST (once), and optionally ?variant=NAME"
    );
    // A misspelt endpoint suggests the right one.
    let v = assert_error(
        &get(&st, "/api/reech").await,
        StatusCode::NOT_FOUND,
        "/api/reech",
    );
    assert_eq!(v["help"], "did you mean /api/reach?");
}

#[tokio::test]
async fn every_example_and_variant_answers_all_three() {
    for e in examples::ALL {
        let st = AppState::new(Current::example(e.name).unwrap().unwrap());
        let scn = get(&st, "/api/scenario").await.json();
        let m = ok(&get(&st, "/api/reach").await);
        assert_eq!(m["scenario"], scn["name"]);
        classes_are_the_cells(&st, "").await;
        for v in scn["variants"].as_array().unwrap() {
            let name = v["name"].as_str().unwrap();
            let d = ok(&get(&st, &format!("/api/diff?variant={name}")).await);
            assert!(
                !d["changes"].as_array().unwrap().is_empty(),
                "{} {name} changes nothing",
                e.name
            );
            // Every journey change replays: under the variant for a gain, as written for a loss.
            for g in d["gained"].as_array().unwrap() {
                let t = replay(&st, &g["trace"], Some(name)).await;
                assert!(accepted_at(&t, &g["host"]), "{} {name}: {g}", e.name);
            }
            for l in d["lost"].as_array().unwrap() {
                let t = replay(&st, &l["trace"], None).await;
                assert!(accepted_at(&t, &l["host"]), "{} {name}: {l}", e.name);
            }
            classes_are_the_cells(&st, &format!("&variant={name}")).await;
        }
        let first = scn["hosts"][0]["name"].as_str().unwrap();
        ok(&get(&st, &format!("/api/foothold?from={first}")).await);
    }
}

/// The (row, column, socket) triples of the matrix: from schema 2's classes
/// (rows as ranges × (column, socket) pairs, less a host's own sockets) and
/// from schema 1's cells.
fn class_triples(m: &Value) -> BTreeSet<(String, String, u64)> {
    let rows = m["sources"].as_array().unwrap();
    let cols = m["targets"].as_array().unwrap();
    let mut out = BTreeSet::new();
    for k in m["classes"].as_array().unwrap() {
        let r: Vec<u64> = k["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let s: Vec<u64> = k["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert!(
            r.len().is_multiple_of(2) && s.len().is_multiple_of(2),
            "{k}"
        );
        for span in r.chunks(2) {
            assert!(span[0] <= span[1], "{k}");
            for row in span[0]..=span[1] {
                let src = &rows[row as usize];
                for cs in s.chunks(2) {
                    let host = &cols[cs[0] as usize]["host"];
                    if src["kind"] == "host" && &src["name"] == host {
                        continue;
                    }
                    out.insert((
                        src["name"].as_str().unwrap().to_string(),
                        host.as_str().unwrap().to_string(),
                        cs[1],
                    ));
                }
            }
        }
    }
    out
}

fn cell_triples(m: &Value) -> BTreeSet<(String, String, u64)> {
    let mut out = BTreeSet::new();
    for c in m["cells"].as_array().unwrap() {
        for s in c["sockets"].as_array().unwrap() {
            out.insert((
                c["source"].as_str().unwrap().to_string(),
                c["host"].as_str().unwrap().to_string(),
                s["index"].as_u64().unwrap(),
            ));
        }
    }
    out
}

/// Issue 15: the compact matrix (schema 2) stands for exactly the pairs of
/// the cell-by-cell one (schema 1), with the same rows and columns, and
/// its `pairs` counts them.
async fn classes_are_the_cells(st: &AppState, extra: &str) {
    let m = ok(&get(st, &format!("/api/reach?cells=false{extra}")).await);
    let c = ok(&get(st, &format!("/api/reach?cells=true{extra}")).await);
    assert_eq!(m["schema"], 2);
    assert_eq!(c["schema"], 1);
    assert_eq!(m["sources"], c["sources"]);
    assert_eq!(m["targets"], c["targets"]);
    let triples = class_triples(&m);
    assert_eq!(triples, cell_triples(&c), "{extra}");
    assert_eq!(m["pairs"], triples.len(), "{extra}");
}

/// The same on generated scenarios: enterprise-shaped (with NAT and
/// per-host rules) and flat (one class), whole and narrowed.
#[tokio::test]
async fn compact_matrix_equals_the_cells_on_generated_scenarios() {
    let st = state();
    let generated = pathproof_core::synth::large(&pathproof_core::synth::SynthParams::sized(1, 60));
    ok(&post(&st, "/api/scenario?file=generated.yaml", generated).await);
    classes_are_the_cells(&st, "").await;
    let scn = get(&st, "/api/scenario").await.json();
    for v in scn["variants"].as_array().unwrap() {
        classes_are_the_cells(&st, &format!("&variant={}", v["name"].as_str().unwrap())).await;
    }
    let net = scn["networks"][0]["name"].as_str().unwrap().to_string();
    classes_are_the_cells(&st, &format!("&from={net}")).await;
    classes_are_the_cells(&st, &format!("&to={net}")).await;

    let mut flat = String::from("name: flat\nnetworks:\n  lan: { cidr: 10.1.0.0/16 }\nhosts:\n");
    for i in 0..40 {
        flat += &format!(
            "  h{i}: {{ at: lan 10.1.0.{}, listen: [\"tcp/8000 app\", \"udp/53 dns\"] }}\n",
            i + 1
        );
    }
    ok(&post(&st, "/api/scenario?file=flat.yaml", flat).await);
    classes_are_the_cells(&st, "").await;
    let m = ok(&get(&st, "/api/reach").await);
    // A class per socket and kind of source: the 40 hosts (one range),
    // and the stand-in sender of lan; never one per pair.
    let classes = m["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 4);
    assert!(classes
        .iter()
        .all(|k| k["rows"].as_array().unwrap().len() == 2));
    assert_eq!(m["pairs"], 40 * 39 * 2 + 40 * 2);
}

/// The whole matrix is answered from a reach kept warm across variants and
/// edits: on one server, every built-in's matrix, each variant's, and the
/// scenario's again, and a generated scenario's after edits of one rule, are
/// byte for byte the answers a fresh server gives; after an edit of one rule
/// some classes are kept rather than walked again.
#[tokio::test]
async fn a_warm_matrix_answers_as_a_fresh_server() {
    async fn fresh(yaml: Option<(&str, &str)>, example: &str, extra: &str) -> String {
        let st = AppState::new(Current::example(example).unwrap().unwrap());
        if let Some((file, text)) = yaml {
            ok(&post(&st, &format!("/api/scenario?file={file}"), text.to_string()).await);
        }
        let a = get(&st, &format!("/api/reach{extra}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }
    for ex in examples::ALL {
        let st = AppState::new(Current::example(ex.name).unwrap().unwrap());
        let scn = pathproof_core::load(&ex.file(), ex.text, None).unwrap();
        let mut asks: Vec<String> = vec![String::new()];
        for v in &scn.variants {
            asks.push(format!("?variant={}", v.name));
            asks.push(String::new());
        }
        for extra in asks {
            let warm = get(&st, &format!("/api/reach{extra}")).await;
            assert_eq!(warm.status, StatusCode::OK, "{}", warm.body);
            assert!(
                warm.body == fresh(None, ex.name, &extra).await,
                "{} {extra}: the warm matrix differs from a fresh server's",
                ex.name
            );
        }
    }
    // A generated scenario edited one rule at a time (in place: no line
    // moves), as the page's editor sends it.
    let st = state();
    let mut text = pathproof_core::synth::large(&pathproof_core::synth::SynthParams::sized(3, 80));
    ok(&post(&st, "/api/scenario?file=generated.yaml", text.clone()).await);
    ok(&get(&st, "/api/reach").await);
    let rules: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("- \"allow tcp from seg-"))
        .map(|(i, _)| i)
        .collect();
    assert!(rules.len() >= 6, "{} rules to edit", rules.len());
    let mut kept = 0;
    for (n, &i) in rules.iter().step_by(rules.len() / 5).take(5).enumerate() {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[i] = lines[i].replacen("allow tcp", "drop tcp", 1);
        text = lines.join("\n") + "\n";
        ok(&post(&st, "/api/scenario?file=generated.yaml", text.clone()).await);
        let warm = get(&st, "/api/reach").await;
        assert_eq!(warm.status, StatusCode::OK, "{}", warm.body);
        assert!(
            warm.body == fresh(Some(("generated.yaml", &text)), "mini-lab", "").await,
            "edit {n} (line {}): the warm matrix differs from a fresh server's",
            i + 1
        );
        let (walked, classes) = st.matrix_walked().expect("a matrix kept");
        kept += classes - walked;
    }
    assert!(kept > 0, "no class was kept across the edits");
}
