//! The JSON API under `/api/` (docs/api.md). Errors are JSON objects with an
//! `error` sentence, and a 4xx status: 400 for a body that is not what the
//! endpoint reads, 404 for an unknown name, 413 for a body over `MAX_BODY`,
//! 422 for a well-formed question the scenario cannot answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use pathproof_core::load::diagnostic::nearest;
use std::sync::Arc;

use pathproof_core::model::{Proto, Scenario};
use pathproof_core::{examples, render, LoadError, Query as TraceQuery};

use crate::{AppState, Current, MAX_BODY};

/// An error answer: a status and a JSON body with at least `error`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>, help: Option<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": error.into(), "help": help }),
        }
    }
    pub(crate) fn bad_request(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, None)
    }
    /// A scenario (or one of its variants) that does not load: every problem
    /// with the line, column, label and help the command line reports.
    pub(crate) fn load(e: &LoadError) -> Self {
        let n = e.problems.len();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({
                "error": format!("{} has {n} problem{}", e.file, if n == 1 { "" } else { "s" }),
                "help": null,
                "file": e.file,
                "problems": e.problems,
                "text": e.to_string(),
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut s = serde_json::to_string_pretty(&self.body).expect("plain values serialise");
        s.push('\n');
        (self.status, json_headers(), s).into_response()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the request body is larger than {MAX_BODY} bytes")
        } else {
            format!("cannot read the request body: {}", r.body_text())
        };
        ApiError::new(status, error, None)
    }
}

fn json_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

pub(crate) fn json_text(s: String) -> Response {
    (json_headers(), s).into_response()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("plain values serialise");
    s.push('\n');
    s
}

pub(crate) fn json_value(v: &Value) -> Response {
    json_text(pretty(v))
}

pub fn routes(state: AppState, request_timeout: std::time::Duration) -> Router {
    Router::new()
        .route("/api/scenario", get(get_scenario).post(post_scenario))
        .route("/api/scenario/example/{name}", post(post_example))
        .route("/api/examples", get(get_examples))
        .route("/api/trace", post(post_trace))
        .route(
            "/api/reach",
            get(crate::analysis::get_reach).post(crate::analysis::post_reach),
        )
        .route("/api/diff", get(crate::analysis::get_diff))
        .route("/api/foothold", get(crate::analysis::get_foothold))
        .route("/api/lessons", get(crate::lessons::get_lessons))
        .route("/api/lessons/{id}", get(crate::lessons::get_lesson))
        .route(
            "/api/lessons/{id}/scenario",
            post(crate::lessons::post_lesson_scenario),
        )
        .route("/api/words", get(crate::lessons::get_words))
        .route("/api/{*rest}", axum::routing::any(unknown_api))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            in_time(request_timeout, req, next)
        }))
        .layer(middleware::from_fn(local_only))
        .with_state(state)
}

/// Answers 408 (with a JSON error, like every other error) when a request is
/// not done after `limit`: most often a client that stopped sending its body.
async fn in_time(limit: std::time::Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request was not complete after {} ms (a body that stopped arriving?)",
                limit.as_millis()
            ),
            None,
        )
        .into_response(),
    }
}

/// Refuses requests that a page from another site could make through the
/// user's browser: a `Host` that is not a loopback name (DNS rebinding) or an
/// `Origin` that is not this server.
async fn local_only(headers: HeaderMap, req: Request, next: Next) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host_name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let local = |name: &str| matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    if !host.is_empty() && !local(host_name) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("requests must be addressed to 127.0.0.1 or localhost, not `{host}`"),
            None,
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let same = origin
            .strip_prefix("http://")
            .is_some_and(|rest| rest == host);
        if !same {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!("cross-origin requests are refused (Origin `{origin}`)"),
                None,
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn unknown_api(Path(rest): Path<String>) -> ApiError {
    let known = [
        "scenario",
        "scenario/example",
        "examples",
        "trace",
        "reach",
        "diff",
        "foothold",
        "lessons",
        "lessons/ID/scenario",
        "words",
    ];
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no API endpoint /api/{rest}"),
        nearest(&rest, known).map(|k| format!("did you mean /api/{k}?")),
    )
}

/// The current scenario, or one of its variants (`None` or `""`: as written):
/// 422 for an unknown variant (with the nearest name) or one that does not load.
pub(crate) fn scenario_for(
    cur: &Current,
    variant: Option<&str>,
) -> Result<Arc<Scenario>, ApiError> {
    let Some(v) = variant.filter(|v| !v.is_empty()) else {
        return Ok(cur.base.clone());
    };
    match cur.scenario(Some(v)) {
        Some(Ok(s)) => Ok(s.clone()),
        Some(Err(e)) => Err(ApiError::load(e)),
        None => {
            let names: Vec<&str> = cur.variants.iter().map(|(n, _)| n.as_str()).collect();
            let help = match nearest(v, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if names.is_empty() => format!("{} has no variants", cur.file),
                None => format!("variants of {}: {}", cur.file, names.join(", ")),
            };
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} has no variant `{v}`", cur.file),
                Some(help),
            ))
        }
    }
}

async fn get_scenario(State(st): State<AppState>) -> Response {
    json_text(st.current().view_json().to_string())
}

#[derive(Deserialize)]
struct ScenarioParams {
    /// The file name reports use (`my-lab.yaml`).
    file: Option<String>,
}

async fn post_scenario(
    State(st): State<AppState>,
    Query(p): Query<ScenarioParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::bad_request(format!(
            "the scenario is not UTF-8 text (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let file = p
        .file
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "scenario.yaml".to_string());
    let loaded = tokio::task::spawn_blocking(move || Current::load(&file, &text))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the scenario could not be loaded",
                None,
            )
        })?;
    let c = loaded.map_err(|e| ApiError::load(&e))?;
    Ok(json_text(st.replace(c).view_json().to_string()))
}

async fn post_example(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let Some(loaded) = Current::example(&name) else {
        let names = examples::ALL.iter().map(|e| e.name);
        let help = match nearest(&name, names.clone()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!(
                "built-in scenarios: {}",
                names.collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no built-in scenario named `{name}`"),
            Some(help),
        ));
    };
    let c = loaded.map_err(|e| ApiError::load(&e))?;
    Ok(json_text(st.replace(c).view_json().to_string()))
}

/// Makes `c` the scenario in use and answers with its view.
pub(crate) fn install(st: &AppState, c: Current) -> Response {
    json_text(st.replace(c).view_json().to_string())
}

async fn get_examples() -> Response {
    let list: Vec<Value> = examples::ALL
        .iter()
        .map(|e| {
            let variants: Vec<String> = pathproof_core::load(&e.file(), e.text, None)
                .map(|s| s.variants.into_iter().map(|v| v.name).collect())
                .unwrap_or_default();
            json!({ "name": e.name, "teaches": e.teaches, "variants": variants })
        })
        .collect();
    json_text(pretty(&Value::Array(list)))
}

/// The body of `POST /api/trace`: the flags of `pathproof trace`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub proto: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub sport: Option<u16>,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
struct TraceParams {
    format: Option<String>,
}

async fn post_trace(
    State(st): State<AppState>,
    Query(p): Query<TraceParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let format = p.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "mermaid" | "text") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown format `{format}`"),
            Some("use json, mermaid or text".to_string()),
        ));
    }
    let req: TraceRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a trace question: {e}")))?;
    let proto = match req.proto.as_deref() {
        None => Proto::Tcp,
        Some(s) => match s {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown protocol `{other}`: use tcp, udp or icmp"
                )))
            }
        },
    };
    let cur = st.current();
    let scn = scenario_for(&cur, req.variant.as_deref())?;
    let q = TraceQuery {
        from: req.from,
        to: req.to,
        proto,
        port: req.port,
        via: req.via.filter(|v| !v.is_empty()),
        sport: req.sport,
        ipv6: req.ipv6,
    };
    let t = pathproof_core::trace(&scn, &q)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message, e.help))?;
    Ok(match format {
        "mermaid" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            render::trace_mermaid(&t),
        )
            .into_response(),
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            render::trace_text(&t),
        )
            .into_response(),
        _ => json_text(render::trace_json(&t)),
    })
}
