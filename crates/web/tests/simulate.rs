//! `GET /api/simulate`: the current scenario's traffic section, as
//! `pathproof simulate --format json` prints it, with its errors in JSON.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use pathproof_web::{app, AppState, Current};

async fn get(st: &AppState, uri: &str) -> (StatusCode, Value) {
    let r = app(st.clone())
        .oneshot(
            Request::get(uri)
                .header(header::HOST, "127.0.0.1:7878")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = r.status();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

fn state(name: &str) -> AppState {
    AppState::new(Current::example(name).unwrap().unwrap())
}

#[tokio::test]
async fn a_run_as_the_command_line_prints_it() {
    let st = state("syn-flood");
    let (s, v) = get(&st, "/api/simulate?seconds=8&variant=harden").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["variant"], "harden");
    assert_eq!(v["seconds"], 8);
    let scn = pathproof_core::load(
        "syn-flood.yaml",
        pathproof_core::examples::get("syn-flood").unwrap().text,
        Some("harden"),
    )
    .unwrap();
    let run = pathproof_sim::simulate(
        &scn,
        &pathproof_sim::Options {
            seconds: Some(8),
            seed: None,
        },
    )
    .unwrap();
    let cli: Value = serde_json::from_str(&pathproof_sim::render::json(&run)).unwrap();
    assert_eq!(v, cli, "the page gets what the command line prints");
    // Asked again, the same answer (kept for the scenario).
    let (_, again) = get(&st, "/api/simulate?seconds=8&variant=harden").await;
    assert_eq!(again, v);
    // A story per second for connection flows, each with the class it went.
    let regulars = &v["flows"][0];
    assert_eq!(regulars["stories"].as_array().unwrap().len(), 8);
    assert!(regulars["classes"][0]["trace"]["hops"].is_array());
}

#[tokio::test]
async fn errors_say_what_to_ask() {
    let st = state("syn-flood");
    let (s, v) = get(&st, "/api/simulate?seconds=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("seconds must be from 1 to 300"));
    let (s, v) = get(&st, "/api/simulate?variant=hardn").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["help"], "did you mean `harden`?");
    let (s, v) = get(&st, "/api/simulate?second=3").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["help"].as_str().unwrap().contains("?seconds=N"));
    let (s, v) = get(&state("mini-lab"), "/api/simulate").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("has no `traffic:` section"));
    assert!(v["help"].as_str().unwrap().contains("syn-flood"));
}

/// `GET /api/scenario` says whether there is a traffic section to run, and
/// the run's length and seed unless the question names them.
#[tokio::test]
async fn the_scenario_names_its_traffic_section() {
    let (s, v) = get(&state("syn-flood"), "/api/scenario").await;
    assert_eq!(s, StatusCode::OK);
    let scn = pathproof_core::load(
        "syn-flood.yaml",
        pathproof_core::examples::get("syn-flood").unwrap().text,
        None,
    )
    .unwrap();
    let t = scn.traffic.as_ref().unwrap();
    assert_eq!(v["traffic"]["seconds"], t.seconds);
    assert_eq!(v["traffic"]["seed"], t.seed);
    let flows: Vec<&str> = t.flows.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(v["traffic"]["flows"], serde_json::json!(flows));
    assert_eq!(v["traffic"]["at"]["line"], t.origin.line);
    let (_, v) = get(&state("mini-lab"), "/api/scenario").await;
    assert!(v["traffic"].is_null(), "{}", v["traffic"]);
}
