//! `GET /api/check`: the warm re-check answers exactly what a fresh server
//! (and `pathproof check --format json`) answers, after toggling variants
//! and after posting an edited scenario, and says in its headers how many
//! expectations it evaluated again.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use pathproof_core::analysis::check::{check, render_json};
use pathproof_core::examples;
use pathproof_web::{app, AppState, Current};

struct Answer {
    status: StatusCode,
    reevaluated: usize,
    expectations: usize,
    engine: String,
    body: String,
}

async fn send(st: &AppState, mut req: Request<Body>) -> Answer {
    req.headers_mut()
        .insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
    let r = app(st.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let head = |n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (reevaluated, expectations, engine) = (
        head("x-pathproof-reevaluated")
            .parse()
            .unwrap_or(usize::MAX),
        head("x-pathproof-expectations")
            .parse()
            .unwrap_or(usize::MAX),
        head("x-pathproof-engine"),
    );
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        reevaluated,
        expectations,
        engine,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(st: &AppState, uri: &str) -> Answer {
    send(st, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn uri(variant: Option<&str>) -> String {
    match variant {
        Some(v) => format!("/api/check?variant={}", v.replace('+', "%2B")),
        None => "/api/check".to_string(),
    }
}

/// The answer of a server that has never been asked anything.
async fn fresh(c: Current, variant: Option<&str>) -> Answer {
    let a = get(&AppState::new(c), &uri(variant)).await;
    if a.status == StatusCode::OK {
        assert_eq!(a.engine, "built");
        assert_eq!(a.reevaluated, a.expectations);
    }
    a
}

#[tokio::test]
async fn toggling_variants_answers_as_a_fresh_server() {
    let mut toggles = 0;
    for ex in examples::ALL {
        let Some(Ok(c)) = Current::example(ex.name) else {
            continue;
        };
        if c.variants.is_empty() || c.base.expectations.is_empty() {
            continue;
        }
        let names: Vec<String> = c.variants.iter().map(|(n, _)| n.clone()).collect();
        let st = AppState::new(c);
        let first = get(&st, &uri(None)).await;
        assert_eq!(first.status, StatusCode::OK, "{}: {}", ex.name, first.body);
        assert_eq!(first.engine, "built");
        let base = st.current().base.clone();
        assert_eq!(first.body, render_json(&check(&base)), "{}", ex.name);
        let mut order: Vec<Option<&str>> = Vec::new();
        for v in &names {
            order.extend([Some(v.as_str()), None]);
        }
        if let Some(v) = names.first() {
            order.push(Some(v.as_str()));
        }
        for v in order {
            let warm = get(&st, &uri(v)).await;
            let want = fresh(Current::example(ex.name).unwrap().unwrap(), v).await;
            // A variant that does not load is the same error either way.
            assert_eq!(warm.status, want.status, "{} {v:?}: {}", ex.name, warm.body);
            assert_eq!(warm.body, want.body, "{} {v:?}", ex.name);
            if warm.status != StatusCode::OK {
                continue;
            }
            assert!(warm.reevaluated <= warm.expectations);
            assert_eq!(warm.expectations, want.expectations);
            toggles += 1;
        }
        // The same question again: nothing to evaluate.
        let again = get(&st, &uri(names.first().map(String::as_str))).await;
        if again.status != StatusCode::OK {
            continue;
        }
        assert_eq!(again.reevaluated, 0, "{}", ex.name);
        assert_eq!(again.engine, "kept");
    }
    assert!(toggles > 0);
}

#[tokio::test]
async fn an_edited_scenario_answers_as_a_fresh_server() {
    let ex = examples::get("mini-lab").unwrap();
    let st = AppState::new(Current::example("mini-lab").unwrap().unwrap());
    let first = get(&st, "/api/check").await;
    assert_eq!(first.status, StatusCode::OK);
    // One rule added in place, as in the editor: the firewall host itself
    // may open ssh connections (only journeys from the firewall meet it).
    let edited = ex
        .text
        .replace("    rules: []\n", "    rules: [allow tcp to any port 22]\n");
    assert_ne!(edited, ex.text);
    let warm = post_then_check(&st, &edited).await;
    assert_eq!(warm.engine, "updated");
    assert!(warm.reevaluated < warm.expectations, "{}", warm.reevaluated);
    // Then a rule changed: the database opened to the web server.
    let edited = edited.replace(
        "      - allow tcp from api to db port 5432",
        "      - allow tcp from web to db port 5432",
    );
    let warm = post_then_check(&st, &edited).await;
    assert_eq!(warm.engine, "updated");
    // And under a variant of the edited scenario.
    let warm = get(&st, "/api/check?variant=break").await;
    let want = fresh(
        Current::load("mini-lab.yaml", &edited).unwrap(),
        Some("break"),
    )
    .await;
    assert_eq!(warm.body, want.body);
}

/// Posts `edited` as the scenario in use, then checks it: the answer must
/// be a fresh server's (and `check`'s).
async fn post_then_check(st: &AppState, edited: &str) -> Answer {
    let posted = send(
        st,
        Request::post("/api/scenario?file=mini-lab.yaml")
            .body(Body::from(edited.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    let warm = get(st, "/api/check").await;
    let want = fresh(Current::load("mini-lab.yaml", edited).unwrap(), None).await;
    assert_eq!(warm.body, want.body);
    let scn = Arc::new(pathproof_core::load("mini-lab.yaml", edited, None).unwrap());
    assert_eq!(warm.body, render_json(&check(&scn)));
    warm
}

#[tokio::test]
async fn unknown_variants_are_422() {
    let st = AppState::new(Current::example("mini-lab").unwrap().unwrap());
    let a = get(&st, "/api/check?variant=brake").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("break"), "{}", a.body);
    let a = get(&st, "/api/check?nope=1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}
