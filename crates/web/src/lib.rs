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
mod lessons;
pub mod view;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
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
        let variants = base
            .variants
            .iter()
            .map(|v| {
                let loaded = pathproof_core::load(file, source, Some(&v.name)).map(Arc::new);
                (v.name.clone(), loaded)
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

/// What every handler shares: the scenario currently loaded.
#[derive(Clone)]
pub struct AppState {
    current: Arc<RwLock<Arc<Current>>>,
}

impl AppState {
    pub fn new(current: Current) -> Self {
        AppState {
            current: Arc::new(RwLock::new(Arc::new(current))),
        }
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
    api::routes(state).merge(assets::routes())
}

/// Serves `app` on an already bound listener until Ctrl-C.
pub async fn run(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Binds 127.0.0.1:`port` (0 picks a free port).
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}
