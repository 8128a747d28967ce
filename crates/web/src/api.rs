//! The JSON API under `/api/` (docs/api.md). Errors are JSON objects with an
//! `error` sentence, and a 4xx status: 400 for a body or query string that is
//! not what the endpoint reads, 403 for a request not addressed to a
//! loopback name, 404 for an unknown name, 405 for a known endpoint asked
//! with the wrong method, 408 for a body that does not arrive in time, 413
//! for a body over `MAX_BODY`, 422 for a well-formed question the scenario
//! cannot answer or whose answer is over the request's memory; and 503 when
//! the request's deadline passes (`work.rs`). Handlers read the
//! query string and the path through [`ApiQuery`] and [`ApiPath`], whose
//! rejections are such errors; [`json_errors`] turns anything axum itself
//! answers with a plain-text or empty body (a 405) into one too.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use pathproof_core::load::diagnostic::nearest;
use std::sync::Arc;

use pathproof_core::model::Scenario;
use pathproof_core::{examples, render, LoadError, Query as TraceQuery};

use crate::{AppState, Current, Limits, NotLoaded, MAX_BODY};

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
    /// The same error with one more field in its body.
    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body[key] = value.into();
        self
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

pub(crate) fn json_body(b: axum::body::Body) -> Response {
    (json_headers(), b).into_response()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("plain values serialise");
    s.push('\n');
    s
}

pub(crate) fn json_value(v: &Value) -> Response {
    json_text(pretty(v))
}

/// What a query string may carry, for the `help` of an error about it.
pub(crate) trait QueryForm {
    /// The accepted form, as the `help` of an error says it: `?format=json|mermaid|text`.
    const FORM: &'static str;
}

/// The query string read as `T`, as axum's `Query` reads it, except that a
/// query string `T` does not read (a field given twice, an unknown field, a
/// value that is not UTF-8) is a 400 with a JSON error naming the problem,
/// and the accepted form as its `help`.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + QueryForm,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(r) => {
                let text = r.body_text();
                let why = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the query string is not what this endpoint reads: {why}"),
                    Some(format!(
                        "{} {} reads {}",
                        parts.method,
                        parts.uri.path(),
                        T::FORM
                    )),
                ))
            }
        }
    }
}

/// The path parameters read as `T`, as axum's `Path` reads them, except that a
/// path it cannot read (a percent-encoded byte that is not UTF-8) is a 400
/// with a JSON error.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::new(
                r.status(),
                format!(
                    "the path {} cannot be read: {}",
                    parts.uri.path(),
                    r.body_text()
                ),
                Some("names in the path are UTF-8 text, percent-encoded".into()),
            )),
        }
    }
}

pub fn routes(state: AppState, limits: Limits) -> Router {
    Router::new()
        .route(
            "/api/scenario",
            only(get(get_scenario).post(post_scenario), "GET or POST"),
        )
        .route(
            "/api/scenario/example/{name}",
            only(post(post_example), "POST"),
        )
        .route("/api/examples", only(get(get_examples), "GET"))
        .route("/api/trace", only(post(post_trace), "POST"))
        .route(
            "/api/journey",
            only(post(crate::journey::post_journey), "POST"),
        )
        .route(
            "/api/reach",
            only(
                get(crate::analysis::get_reach).post(crate::analysis::post_reach),
                "GET or POST",
            ),
        )
        .route("/api/diff", only(get(crate::analysis::get_diff), "GET"))
        .route("/api/check", only(get(crate::check::get_check), "GET"))
        .route(
            "/api/foothold",
            only(get(crate::analysis::get_foothold), "GET"),
        )
        .route(
            "/api/lessons",
            only(get(crate::lessons::get_lessons), "GET"),
        )
        .route(
            "/api/lessons/{id}",
            only(get(crate::lessons::get_lesson), "GET"),
        )
        .route(
            "/api/lessons/{id}/scenario",
            only(post(crate::lessons::post_lesson_scenario), "POST"),
        )
        .route("/api/words", only(get(crate::lessons::get_words), "GET"))
        .route(
            "/api/import/{kind}",
            only(post(crate::import::post_import), "POST").layer(
                axum::extract::DefaultBodyLimit::max(crate::import::BODY_LIMIT),
            ),
        )
        .route("/api/simulate", only(get(crate::simulate::run), "GET"))
        .route("/api", axum::routing::any(unknown_api_root))
        .route("/api/", axum::routing::any(unknown_api_root))
        .route("/api/{*rest}", axum::routing::any(unknown_api))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            crate::work::deadline(limits.request, req, next)
        }))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            crate::work::read_body(limits.body, req, next)
        }))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// An endpoint that answers the methods of `router` (`allowed`, as the help
/// says them: `"GET or POST"`), and any other method with a JSON 405 (axum
/// adds the `Allow` header).
fn only<S>(router: MethodRouter<S>, allowed: &'static str) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.fallback(move |method: Method, uri: Uri| async move {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} does not answer {method}", uri.path()),
            Some(format!("use {allowed}")),
        )
    })
}

/// Makes every error of the API a JSON error, as docs/api.md promises: the
/// handlers' own errors already are; what axum answers by itself is not (a
/// 405 for a known endpoint asked with another method has an empty body, and
/// a rejection by one of its extractors is plain text). Such an answer keeps
/// its status and headers (`Allow` for a 405) and gets a JSON body instead.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let what = if status == StatusCode::METHOD_NOT_ALLOWED {
        format!("{path} does not answer {method}")
    } else if text.is_empty() {
        let reason = status.canonical_reason().unwrap_or("error");
        format!("{method} {path}: {}", reason.to_lowercase())
    } else {
        format!("{method} {path}: {text}")
    };
    let err = ApiError::new(status, what, None);
    let mut out = err.into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Whether `host` (a `Host` header, or the authority of a request's URI)
/// names this machine's loopback: exactly `127.0.0.1`, `localhost` (in any
/// case) or `[::1]`, each alone or with a port from 1 to 65535 in decimal.
/// Anything else is refused: no name, an empty one, other names and
/// addresses (`localhost.evil.com`, `127.0.0.1.nip.io`, `0.0.0.0`),
/// userinfo (`a@localhost`), an empty or out-of-range port, a trailing dot.
pub fn loopback_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix("[::1]") {
        ("[::1]", rest)
    } else {
        match host.find(':') {
            Some(i) => host.split_at(i),
            None => (host, ""),
        }
    };
    let name_ok = name == "127.0.0.1" || name == "[::1]" || name.eq_ignore_ascii_case("localhost");
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(p) => {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        }
    };
    name_ok && port_ok
}

/// Refuses (403) every request that a page from another site could make
/// through the user's browser, failing closed: a `Host` that is missing,
/// given twice, not ASCII or not a loopback name ([`loopback_host`]; DNS
/// rebinding), a URI naming another authority, and an `Origin` that is
/// given twice, not ASCII, or not `http://` and this `Host`.
pub(crate) async fn local_only(req: Request, next: Next) -> Response {
    let refuse = |why: String, help: &str| {
        ApiError::new(StatusCode::FORBIDDEN, why, Some(help.to_string())).into_response()
    };
    const HOST_HELP: &str =
        "open the page as http://127.0.0.1:PORT/, http://localhost:PORT/ or http://[::1]:PORT/";
    let headers = req.headers();
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => match h.to_str() {
            Ok(h) if loopback_host(h) => h.to_string(),
            Ok(h) => {
                return refuse(
                    format!("requests must be addressed to 127.0.0.1, localhost or [::1], not `{h}`"),
                    HOST_HELP,
                )
            }
            Err(_) => {
                return refuse(
                    "requests must be addressed to 127.0.0.1, localhost or [::1]: this Host header is not ASCII text".into(),
                    HOST_HELP,
                )
            }
        },
        (None, _) => {
            return refuse(
                "requests must be addressed to 127.0.0.1, localhost or [::1]: this one has no Host header".into(),
                HOST_HELP,
            )
        }
        (Some(_), Some(_)) => {
            return refuse(
                "requests must be addressed to 127.0.0.1, localhost or [::1]: this one has two Host headers".into(),
                HOST_HELP,
            )
        }
    };
    if let Some(a) = req.uri().authority() {
        if !loopback_host(a.as_str()) {
            return refuse(
                format!(
                    "requests must be addressed to 127.0.0.1, localhost or [::1], not `{}`",
                    a.as_str()
                ),
                HOST_HELP,
            );
        }
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => {}
        (Some(o), None) => {
            let same = o
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|rest| rest == host);
            if !same {
                let shown = String::from_utf8_lossy(o.as_bytes()).into_owned();
                return refuse(
                    format!("cross-origin requests are refused (Origin `{shown}`)"),
                    "only the page this server serves may call its API",
                );
            }
        }
        (Some(_), Some(_)) => {
            return refuse(
                "cross-origin requests are refused (two Origin headers)".into(),
                "only the page this server serves may call its API",
            )
        }
    }
    next.run(req).await
}

async fn unknown_api_root() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no API endpoint here: the endpoints are under /api/",
        Some("GET /api/scenario is the scenario in use; docs/api.md lists every endpoint".into()),
    )
}

async fn unknown_api(ApiPath(rest): ApiPath<String>) -> ApiError {
    let known = [
        "scenario",
        "scenario/example",
        "examples",
        "trace",
        "journey",
        "reach",
        "diff",
        "check",
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
#[serde(deny_unknown_fields)]
struct ScenarioParams {
    /// The file name reports use (`my-lab.yaml`).
    file: Option<String>,
}

impl QueryForm for ScenarioParams {
    const FORM: &'static str = "?file=NAME (optional): the file name reports use";
}

async fn post_scenario(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<ScenarioParams>,
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
    // Loading takes the engine's time and memory (the scenario and each of
    // its variants): within the request's budget, like an analysis. The rule
    // set files the command line read for the scenario it started with serve
    // the scenarios posted after it.
    let files = st.current().files.clone();
    let c = st
        .work
        .run(
            move |budget| match Current::load_within(&file, &text, &files, budget) {
                Ok(c) => Ok(c),
                Err(NotLoaded::Problems(e)) => Err(ApiError::load(&e)),
                Err(NotLoaded::Exceeded(e)) => Err(crate::work::exceeded(
                    e,
                    "load a smaller scenario, or one with fewer variants",
                )),
            },
        )
        .await?;
    Ok(json_text(st.replace(c).view_json().to_string()))
}

async fn post_example(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
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
            let scn = pathproof_core::load(&e.file(), e.text, None).ok();
            let variants: Vec<String> = scn
                .as_ref()
                .map(|s| s.variants.iter().map(|v| v.name.clone()).collect())
                .unwrap_or_default();
            // Whether `pathproof simulate` has something to run: the page's
            // traffic view offers these when the scenario in use has none.
            let traffic = scn.is_some_and(|s| s.traffic.is_some());
            json!({ "name": e.name, "teaches": e.teaches, "variants": variants, "traffic": traffic })
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
    /// A packet of a connection opened earlier (`pathproof trace --established`).
    #[serde(default)]
    pub established: bool,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceParams {
    format: Option<String>,
}

impl QueryForm for TraceParams {
    const FORM: &'static str = "?format=json, ?format=mermaid or ?format=text (optional, once)";
}

async fn post_trace(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<TraceParams>,
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
    let proto = crate::journey::request_proto(req.proto.as_deref())?;
    let cur = st.current();
    let scn = scenario_for(&cur, req.variant.as_deref())?;
    let format = format.to_string();
    let q = TraceQuery {
        from: req.from,
        to: req.to,
        proto,
        port: req.port,
        via: req.via.filter(|v| !v.is_empty()),
        sport: req.sport,
        ipv6: req.ipv6,
        established: req.established,
    };
    // One packet's journey: quick and small, but off the threads that
    // serve connections all the same.
    let t = tokio::task::spawn_blocking(move || pathproof_core::trace(&scn, &q))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the trace failed inside the server (a bug: please report it with the scenario)",
                None,
            )
        })?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message, e.help))?;
    Ok(match format.as_str() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(app: Router, req: axum::http::Request<Body>) -> (StatusCode, String, Value) {
        let r = app.oneshot(req).await.unwrap();
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, ct, v)
    }

    /// The safety net: an error that a handler or axum answers in plain text,
    /// or with no body, leaves as a JSON error with the same status.
    #[tokio::test]
    async fn plain_errors_become_json() {
        let app = Router::new()
            .route(
                "/api/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "something plain") }),
            )
            .route("/api/empty", get(|| async { StatusCode::CONFLICT }))
            .route("/api/get-only", get(|| async { "ok" }))
            .route("/api/fine", get(|| async { "ok" }))
            .layer(middleware::from_fn(json_errors));
        let req = |m: Method, uri: &str| {
            axum::http::Request::builder()
                .method(m)
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let (s, ct, v) = call(app.clone(), req(Method::GET, "/api/plain")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(ct, "application/json");
        assert_eq!(v["error"], "GET /api/plain: something plain");
        assert!(v["help"].is_null());
        let (s, _, v) = call(app.clone(), req(Method::GET, "/api/empty")).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(v["error"], "GET /api/empty: conflict");
        let (s, ct, v) = call(app.clone(), req(Method::POST, "/api/get-only")).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(ct, "application/json");
        assert_eq!(v["error"], "/api/get-only does not answer POST");
        // Answers that are not errors pass untouched.
        let (s, ct, _) = call(app, req(Method::GET, "/api/fine")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(ct.starts_with("text/plain"), "{ct}");
    }
}
