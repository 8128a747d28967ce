//! `pathproof serve`: a local web page over the engine, and the JSON API it
//! uses (documented in docs/api.md).
//!
//! The server binds the loopback address only, serves the page from assets
//! embedded in the binary, and keeps one scenario loaded at a time (with each
//! of its variants loaded beside it). Every request is answered from the
//! engine in `pathproof_core`; nothing here decides a verdict.

mod analysis;
mod api;
mod assets;
mod changes;
mod journey;
mod lessons;
pub mod view;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use pathproof_core::lessons::{Lesson, LessonError};
use pathproof_core::model::Scenario;
use pathproof_core::{examples, LoadError};

pub use api::TraceRequest;

/// The port `pathproof serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7878;
/// The largest request body accepted (a scenario file or a trace question).
pub const MAX_BODY: usize = 1 << 20;
/// A request that takes longer than this (a client that stops sending its
/// body half-way, say) is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not finished sending a request's headers after this
/// long is disconnected (it never gets as far as a request to answer).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the end of the headers to the answer (reading the body included): 408 after it.
    pub request: Duration,
    /// From the connection (or the end of the previous answer) to the end of
    /// the headers: the connection is closed after it.
    pub headers: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request: REQUEST_TIMEOUT,
            headers: HEADER_TIMEOUT,
        }
    }
}

/// The scenario currently shown: its text, the scenario itself, and each of
/// its variants loaded in advance (a variant that does not load keeps its
/// problems, reported when it is asked for).
pub struct Current {
    pub file: String,
    pub source: String,
    pub base: Arc<Scenario>,
    pub variants: Vec<(String, Result<Arc<Scenario>, LoadError>)>,
    /// `GET /api/scenario`, serialised once.
    view_json: String,
    /// Answers of the analysis endpoints (`reach`, `diff`, `foothold`), by
    /// question: they depend only on the scenario, so each is computed once.
    answers: Mutex<BTreeMap<String, Arc<String>>>,
}

impl Current {
    /// Loads `source` (reported as `file`) and every variant it declares.
    pub fn load(file: &str, source: &str) -> Result<Current, LoadError> {
        let base = pathproof_core::load(file, source, None)?;
        // Every variant, and every two stacked in declaration order (`break+harden`:
        // harden on top of break), as the page toggles them (docs/api.md).
        let declared: Vec<String> = base.variants.iter().map(|v| v.name.clone()).collect();
        let mut names = declared.clone();
        for (i, a) in declared.iter().enumerate() {
            for b in &declared[i + 1..] {
                names.push(format!("{a}+{b}"));
            }
        }
        let variants = names
            .into_iter()
            .map(|name| {
                let loaded = pathproof_core::load(file, source, Some(&name)).map(Arc::new);
                (name, loaded)
            })
            .collect();
        let view = view::ScenarioView::new(&base, source);
        let mut view_json =
            serde_json::to_string_pretty(&view).expect("a scenario view always serialises");
        view_json.push('\n');
        Ok(Current {
            file: file.to_string(),
            source: source.to_string(),
            base: Arc::new(base),
            variants,
            view_json,
            answers: Mutex::new(BTreeMap::new()),
        })
    }

    /// A built-in scenario by name.
    pub fn example(name: &str) -> Option<Result<Current, LoadError>> {
        examples::get(name).map(|e| Current::load(&e.file(), e.text))
    }

    /// The scenario with `variant` applied (`None`: the scenario as written).
    pub fn scenario(&self, variant: Option<&str>) -> Option<&Result<Arc<Scenario>, LoadError>> {
        match variant {
            None => None,
            Some(v) => self.variants.iter().find(|(n, _)| n == v).map(|(_, s)| s),
        }
    }

    pub fn view_json(&self) -> &str {
        &self.view_json
    }

    /// A stored answer to the question `key`, if it was computed before.
    fn answer(&self, key: &str) -> Option<Arc<String>> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn keep_answer(&self, key: String, text: Arc<String>) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, text);
    }
}

/// What every handler shares: the scenario currently loaded, and the lessons.
#[derive(Clone)]
pub struct AppState {
    current: Arc<RwLock<Arc<Current>>>,
    lessons: Arc<Result<Vec<Lesson>, LessonError>>,
}

impl AppState {
    /// The scenario `current`, with the built-in lessons.
    pub fn new(current: Current) -> Self {
        AppState {
            current: Arc::new(RwLock::new(Arc::new(current))),
            lessons: Arc::new(pathproof_core::lessons::all()),
        }
    }
    /// The lessons the page offers instead of the built-in ones alone (the
    /// CLI passes the built-ins plus those of `--lessons DIR`).
    pub fn with_lessons(mut self, lessons: Vec<Lesson>) -> Self {
        self.lessons = Arc::new(Ok(lessons));
        self
    }
    pub fn lessons(&self) -> Result<&[Lesson], &LessonError> {
        self.lessons.as_ref().as_ref().map(Vec::as_slice)
    }
    pub fn current(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn replace(&self, c: Current) -> Arc<Current> {
        let c = Arc::new(c);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = c.clone();
        c
    }
}

/// The whole application: the API under `/api/` and the page elsewhere.
pub fn app(state: AppState) -> Router {
    app_with(state, Limits::default())
}

/// The application with its own request limit (`Limits::request`).
pub fn app_with(state: AppState, limits: Limits) -> Router {
    api::routes(state, limits.request).merge(assets::routes())
}

/// Serves the application on an already bound listener until Ctrl-C.
pub async fn run(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve(listener, state, Limits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves the application on `listener` until `shutdown` completes. Each
/// connection speaks HTTP/1.1 with keep-alive; a client that stalls in its
/// headers is disconnected after `limits.headers`, one that stalls in its
/// body is answered 408 after `limits.request`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let app = app_with(state, limits);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return Ok(()),
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait a moment, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds 127.0.0.1:`port` (0 picks a free port).
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}
