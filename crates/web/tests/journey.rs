//! `POST /api/journey` (a trace with its Mermaid and its four tellings),
//! variants stacked (`break+harden`), a diff against another variant
//! (`/api/diff?base=`), and foothold steps along the wire.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use pathproof_core::{examples, render, Query};
use pathproof_web::{app, AppState, Current};

fn state() -> AppState {
    AppState::new(Current::example("mini-lab").unwrap().unwrap())
}

/// A request as the page sends it: addressed to 127.0.0.1 (the server
/// answers only requests addressed to itself).
async fn send(st: &AppState, mut req: Request<Body>) -> (StatusCode, Value) {
    req.headers_mut()
        .insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
    let r = app(st.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn get(st: &AppState, uri: &str) -> (StatusCode, Value) {
    send(st, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(st: &AppState, uri: &str, body: &str) -> (StatusCode, Value) {
    send(
        st,
        Request::post(uri)
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_journey_is_the_trace_its_mermaid_and_four_tellings() {
    let st = state();
    let (status, v) = post(
        &st,
        "/api/journey",
        r#"{"from":"client","to":"www.example.com:443"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let e = examples::get("mini-lab").unwrap();
    let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
    let t = pathproof_core::trace(&scn, &Query::new("client", "www.example.com:443")).unwrap();
    let want: Value = serde_json::from_str(&render::trace_json(&t)).unwrap();
    assert_eq!(v["trace"], want, "the same trace as POST /api/trace");
    assert_eq!(v["mermaid"], render::trace_mermaid(&t));
    let told = v["told"].as_array().unwrap();
    assert_eq!(told.len(), 4);
    for (i, layer) in told.iter().enumerate() {
        assert_eq!(layer["level"], i + 1);
        assert_eq!(layer["hops"].as_array().unwrap().len(), t.hops.len());
    }
    // Layer 1 tells the filter hop in its own words; layer 3 with the engine's.
    let filter = t
        .hops
        .iter()
        .position(|h| h.stage == pathproof_core::evidence::Stage::Filter)
        .unwrap();
    assert!(told[0]["hops"][filter]["says"]
        .as_str()
        .unwrap()
        .contains("guard"));
    assert_eq!(
        told[2]["hops"][filter]["says"],
        t.hops[filter].detail.as_str()
    );
    // Errors are the trace's.
    let (status, v) = post(&st, "/api/journey", r#"{"from":"clinet","to":"web:443"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["help"].as_str().unwrap().contains("client"), "{v}");
    let (status, _) = post(
        &st,
        "/api/journey",
        r#"{"from":"client","to":"web:443","proto":"quic"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn harden_on_top_of_break_and_its_diff_against_break() {
    let st = state();
    // The stacked variant answers like any other.
    let (status, v) = post(
        &st,
        "/api/journey",
        r#"{"from":"web","to":"169.254.169.254:80","variant":"break+harden"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["trace"]["outcome"]["kind"], "dropped");
    // Compared with break (what was on screen), harden removes journeys.
    let (status, d) = get(&st, "/api/diff?variant=break%2Bharden&base=break").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["old"]["variant"], "break");
    assert_eq!(d["new"]["variant"], "break+harden");
    let lost = d["lost"].as_array().unwrap();
    assert!(!lost.is_empty(), "{d}");
    assert!(lost.iter().any(|l| l["host"] == "metadata"), "{d}");
    assert!(d["gained"].as_array().unwrap().is_empty(), "{d}");
    // Compared with the scenario as written, harden on top of break removes
    // fewer journeys than harden alone would leave out of break's.
    let (_, plain) = get(&st, "/api/diff?variant=break%2Bharden").await;
    assert_ne!(plain["lost"], d["lost"]);
    // An unknown base is a 422 with the nearest name.
    let (status, e) = get(&st, "/api/diff?variant=harden&base=brake").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["help"], "did you mean `break`?");
}

#[tokio::test]
async fn every_foothold_step_names_the_devices_it_crosses() {
    let st = state();
    let (status, f) = get(&st, "/api/foothold?from=web&variant=break").await;
    assert_eq!(status, StatusCode::OK);
    for e in f["edges"].as_array().unwrap() {
        let devices: Vec<&str> = e["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(devices.first(), Some(&e["from"].as_str().unwrap()), "{e}");
        assert_eq!(devices.last(), Some(&e["to"].as_str().unwrap()), "{e}");
        // web to db crosses the edge firewall, not a straight line.
        if e["to"] == "db" && e["from"] == "web" {
            assert_eq!(devices, vec!["web", "edge", "db"], "{e}");
        }
    }
}

#[tokio::test]
async fn any_two_variants_stack_and_a_diff_can_go_back_to_as_written() {
    let st = AppState::new(Current::example("tls-mitm").unwrap().unwrap());
    let (status, v) = post(
        &st,
        "/api/journey",
        r#"{"from":"phone","to":"bank.example:443","variant":"misissued+pinned"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["trace"]["outcome"]["kind"], "tls_failed");
    // From break back to the scenario as written: the journeys break added are lost.
    let st = state();
    let (status, back) = get(&st, "/api/diff?variant=&base=break").await;
    assert_eq!(status, StatusCode::OK, "{back}");
    let (_, forth) = get(&st, "/api/diff?variant=break").await;
    assert_eq!(
        back["lost"].as_array().unwrap().len(),
        forth["gained"].as_array().unwrap().len()
    );
    assert_eq!(
        back["gained"].as_array().unwrap().len(),
        forth["lost"].as_array().unwrap().len()
    );
    assert_eq!(back["new"]["variant"], Value::Null);
}
