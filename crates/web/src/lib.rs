//! `pathproof serve`: a local web page over the engine, and the JSON API it
//! uses (documented in docs/api.md).
//!
//! The server binds the loopback address only, serves the page from assets
//! embedded in the binary, and keeps one scenario loaded at a time (with each
//! of its variants beside it, loaded when first asked for). Every request is answered from the
//! engine in `pathproof_core`; nothing here decides a verdict.

mod analysis;
mod api;
mod assets;
mod changes;
mod check;
mod conns;
mod import;
mod journey;
mod lessons;
mod out;
mod simulate;
pub mod view;
mod work;

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use axum::Router;
use pathproof_core::analysis::budget::{Budget, Exceeded};
use pathproof_core::lessons::{Lesson, LessonError};
use pathproof_core::model::Scenario;
use pathproof_core::{examples, LoadError};

pub use api::{loopback_host, TraceRequest};
pub use lessons::TRAFFIC_VIEW_WORDS;
pub use work::{parse_size, size_text};

use out::Text;

/// The port `pathproof serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7878;
/// The largest request body accepted (a scenario file or a trace question).
pub const MAX_BODY: usize = 1 << 20;
/// A client that has not finished sending a request's headers after this
/// long is disconnected (it never gets as far as a request to answer).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A body that has not arrived this long after its headers (a client that
/// stops sending half-way) is answered with 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The time one question may take once its body is read (`--request-timeout`):
/// 503 after it, and its work is stopped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most memory one answer may take as it is made (`--request-memory`):
/// 422 when it would take more.
pub const REQUEST_MEMORY: u64 = 512 << 20;
/// How many questions the engine works on at once (`--analyses`); the
/// others wait for their turn within their deadline.
pub const ANALYSES: usize = 1;
/// The most connections open at once (`--max-connections`), and never more
/// than the open-file limit less [`RESERVED_FILES`].
pub const MAX_CONNECTIONS: usize = 512;
/// Open files kept for the server's own use below the open-file limit.
pub const RESERVED_FILES: u64 = 64;

/// How long the server waits for a client, and how much work it does for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the connection (or the end of the previous answer) to the end of
    /// the headers: the connection is closed after it.
    pub headers: Duration,
    /// From the end of the headers to the end of the body: 408 after it.
    pub body: Duration,
    /// From the end of the body to the answer: 503 after it, and the
    /// engine's work for the request is cancelled.
    pub request: Duration,
    /// The most bytes one answer may take as it is made (an estimate
    /// counted by the engine and by the writer of the JSON text): 422 past it.
    pub memory: u64,
    /// Computations of the engine at once (reach, diff, foothold, loading a
    /// scenario); the others wait.
    pub analyses: usize,
    /// Connections open at once (see [`serve`]).
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            headers: HEADER_TIMEOUT,
            body: BODY_TIMEOUT,
            request: REQUEST_TIMEOUT,
            memory: REQUEST_MEMORY,
            analyses: ANALYSES,
            connections: MAX_CONNECTIONS,
        }
    }
}

/// What a loaded scenario keeps, counted per byte of its YAML text (the
/// model, its names and spans): the budget of `POST /api/scenario` is
/// charged this for the scenario and for each of its variants.
const LOADED_PER_TEXT_BYTE: u64 = 16;

/// The scenario currently shown: its text, the scenario itself, and each of
/// its variants, loaded when first asked for (a variant that does not load
/// keeps its problems, reported when it is asked for). Loading them in
/// advance (four loads for two variants) took 0.25 s of the server's start
/// on the generated 2,000-host scenario, before the matrix could start.
pub struct Current {
    pub file: String,
    pub source: String,
    /// The files the scenario names (`ruleset:`), read by the command line at start;
    /// a scenario posted from the page is loaded with them too.
    pub files: pathproof_core::Files,
    pub base: Arc<Scenario>,
    pub variants: Vec<(String, Variant)>,
    /// `GET /api/scenario`, serialised once.
    view_json: String,
    /// Answers of the analysis endpoints (`reach`, `diff`, `foothold`), by
    /// question: they depend only on the scenario, so each is computed once
    /// and kept while the answers kept stay within a request's memory.
    answers: Mutex<Answers>,
    /// The matrix computed in the background since the scenario was loaded
    /// (see [`AppState::with_warm_matrix`]): stopped when the scenario is
    /// replaced.
    background: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A variant of the current scenario: loaded the first time it is asked for.
pub type Variant = OnceLock<Result<Arc<Scenario>, LoadError>>;

/// An answer being computed in the background: `None` until it is done.
/// The sender goes away without a value when the computation is stopped.
pub(crate) type Flight = tokio::sync::watch::Receiver<Option<Result<Arc<Text>, Exceeded>>>;

/// Answers kept, oldest first, and those under way in the background.
#[derive(Default)]
struct Answers {
    by_key: BTreeMap<String, Arc<Text>>,
    order: VecDeque<String>,
    bytes: usize,
    flying: BTreeMap<String, Flight>,
}

/// Why a scenario was not made current.
pub(crate) enum NotLoaded {
    Problems(LoadError),
    Exceeded(Exceeded),
}

impl Current {
    /// Loads `source` (reported as `file`) and every variant it declares.
    pub fn load(file: &str, source: &str) -> Result<Current, LoadError> {
        Current::load_with(file, source, &pathproof_core::Files::new())
    }

    /// As [`Current::load`], with the texts of the files the scenario names.
    pub fn load_with(
        file: &str,
        source: &str,
        files: &pathproof_core::Files,
    ) -> Result<Current, LoadError> {
        match Current::load_within(file, source, files, &Budget::unlimited()) {
            Ok(c) => Ok(c),
            Err(NotLoaded::Problems(e)) => Err(e),
            Err(NotLoaded::Exceeded(_)) => {
                unreachable!("an unlimited budget that nobody cancels is never exceeded")
            }
        }
    }

    /// [`Current::load_with`] within `budget`: each scenario (the one as
    /// written, then each variant, which is loaded when first asked for) is
    /// counted, and the budget checked between them.
    pub(crate) fn load_within(
        file: &str,
        source: &str,
        files: &pathproof_core::Files,
        budget: &Budget,
    ) -> Result<Current, NotLoaded> {
        let each = LOADED_PER_TEXT_BYTE.saturating_mul(source.len() as u64);
        budget.charge(each).map_err(NotLoaded::Exceeded)?;
        let base =
            pathproof_core::load_with(file, source, None, files).map_err(NotLoaded::Problems)?;
        // Every variant, and every two stacked in declaration order (`break+harden`:
        // harden on top of break), as the page toggles them (docs/api.md).
        let declared: Vec<String> = base.variants.iter().map(|v| v.name.clone()).collect();
        let mut names = declared.clone();
        for (i, a) in declared.iter().enumerate() {
            for b in &declared[i + 1..] {
                names.push(format!("{a}+{b}"));
            }
        }
        let mut variants = Vec::with_capacity(names.len());
        for name in names {
            budget.charge(each).map_err(NotLoaded::Exceeded)?;
            variants.push((name, OnceLock::new()));
        }
        let view = view::ScenarioView::new(&base, source);
        let view_json = out::to_lines(&view, 2);
        Ok(Current {
            file: file.to_string(),
            source: source.to_string(),
            files: files.clone(),
            base: Arc::new(base),
            variants,
            view_json,
            answers: Mutex::new(Answers::default()),
            background: Mutex::new(None),
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
            Some(v) => self.variants.iter().find(|(n, _)| n == v).map(|(n, s)| {
                s.get_or_init(|| {
                    pathproof_core::load_with(&self.file, &self.source, Some(n), &self.files)
                        .map(Arc::new)
                })
            }),
        }
    }

    pub fn view_json(&self) -> &str {
        &self.view_json
    }

    /// A stored answer to the question `key`, if it was computed before.
    fn answer(&self, key: &str) -> Option<Arc<Text>> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .get(key)
            .cloned()
    }

    /// The computation under way in the background of the answer to `key`.
    fn flight(&self, key: &str) -> Option<Flight> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flying
            .get(key)
            .cloned()
    }

    fn set_flight(&self, key: &str, flight: Option<Flight>) {
        let mut a = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        match flight {
            Some(f) => a.flying.insert(key.to_string(), f),
            None => a.flying.remove(key),
        };
    }

    /// Stops the computation in the background, if one runs.
    fn stop_background(&self) {
        if let Some(h) = self
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            h.abort();
        }
    }

    /// Keeps an answer, forgetting the oldest ones while the answers kept
    /// take more than `cap` bytes of text.
    fn keep_answer(&self, key: String, text: Arc<Text>, cap: u64) {
        let mut a = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if text.len() as u64 > cap || a.by_key.contains_key(&key) {
            return;
        }
        a.bytes += text.len();
        a.order.push_back(key.clone());
        a.by_key.insert(key, text);
        while a.bytes as u64 > cap {
            let Some(old) = a.order.pop_front() else {
                break;
            };
            if let Some(t) = a.by_key.remove(&old) {
                a.bytes -= t.len();
            }
        }
    }
}

/// What every handler shares: the scenario currently loaded, the lessons,
/// and the limits on the work done for a request.
#[derive(Clone)]
pub struct AppState {
    current: Arc<RwLock<Arc<Current>>>,
    lessons: Arc<Result<Vec<Lesson>, LessonError>>,
    work: Arc<work::Work>,
    /// The check kept warm (`GET /api/check`): of the last scenario or
    /// variant asked about, kept across scenarios loaded, so that the next
    /// question re-checks from what changed.
    warm: Arc<Mutex<Option<pathproof_core::analysis::incremental::WarmCheck>>>,
    /// The whole matrix of the last scenario or variant asked, kept warm
    /// class of sources by class, so that the next one (a variant, an edit)
    /// walks again only what changed (see `analysis::reach_classes_json`).
    matrix: Arc<Mutex<Option<pathproof_core::analysis::incremental::WarmReach>>>,
    /// Whether each scenario's matrix (`GET /api/reach`, the page's first
    /// question) is computed in the background as soon as it is loaded.
    warm_matrix: bool,
}

impl AppState {
    /// The scenario `current`, with the built-in lessons.
    pub fn new(current: Current) -> Self {
        AppState {
            current: Arc::new(RwLock::new(Arc::new(current))),
            lessons: Arc::new(pathproof_core::lessons::all()),
            work: Arc::new(work::Work::new(Limits::default())),
            warm: Arc::new(Mutex::new(None)),
            matrix: Arc::new(Mutex::new(None)),
            warm_matrix: false,
        }
    }
    /// The same state, computing each scenario's matrix (the answer to
    /// `GET /api/reach`, the first question the page asks) in the background
    /// as soon as the scenario is loaded: by [`serve`] for the scenario it
    /// starts with, and on each scenario loaded after. It is an analysis like
    /// a request's, within the same limits (a slot among `Limits::analyses`,
    /// `Limits::memory`, stopped after `Limits::request`) and stopped when
    /// another scenario replaces this one; the page's question, if it arrives
    /// meanwhile, waits for it rather than computing it a second time.
    pub fn with_warm_matrix(mut self) -> Self {
        self.warm_matrix = true;
        self
    }
    /// The same state, its requests bounded by `limits` (from the next
    /// request on; answers already kept stay).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        if self.work.limits != limits {
            self.work = Arc::new(work::Work::new(limits));
        }
        self
    }
    pub fn limits(&self) -> Limits {
        self.work.limits
    }
    /// Computations of the engine running now, on their threads (a
    /// cancelled one counts until it has stopped and freed its memory).
    pub fn analyses_running(&self) -> usize {
        self.work.running()
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
    /// What the last whole matrix took: classes of sources walked for it,
    /// and classes in it (the others were kept from the matrix before), for
    /// tests and benches.
    pub fn matrix_walked(&self) -> Option<(usize, usize)> {
        self.matrix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|w| (w.stats().walked, w.stats().classes))
    }
    /// Analyses started since the server started (requests' and the
    /// background's), for tests.
    pub fn analyses_started(&self) -> usize {
        self.work.started()
    }
    fn replace(&self, c: Current) -> Arc<Current> {
        let c = Arc::new(c);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            c.clone(),
        );
        old.stop_background();
        if self.warm_matrix {
            analysis::warm_matrix(self, &c);
        }
        c
    }
}

/// The whole application, with the state's limits: the API under `/api/`
/// and the page elsewhere, each request refused unless it is addressed to
/// a loopback name ([`loopback_host`]).
pub fn app(state: AppState) -> Router {
    let limits = state.limits();
    api::routes(state, limits)
        .merge(assets::routes())
        .layer(axum::middleware::from_fn(api::local_only))
}

/// The application with its own limits.
pub fn app_with(state: AppState, limits: Limits) -> Router {
    app(state.with_limits(limits))
}

/// Serves the application on an already bound listener until Ctrl-C.
pub async fn run(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let limits = state.limits();
    serve(listener, state, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves the application on `listener` until `shutdown` completes. Each
/// connection speaks HTTP/1.1 with keep-alive; a client that stalls in its
/// headers is disconnected after `limits.headers`, one that stalls in its
/// body is answered 408 after `limits.body`. At most `limits.connections`
/// connections are open at once, and never more than the open-file limit
/// less [`RESERVED_FILES`]: when every place is taken, the connection idle
/// longest (no request under way: one that sends nothing, or its headers
/// slowly, or waits between requests) is closed to make room.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let state = state.with_limits(limits);
    if state.warm_matrix {
        analysis::warm_matrix(&state, &state.current());
    }
    let app = app(state);
    let conns = conns::Conns::new(connection_cap(limits.connections));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = conns.room() => {}
            _ = &mut shutdown => return Ok(()),
        }
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
        let (place, close) = conns.open();
        let app = app.clone();
        tokio::spawn(async move {
            let place = Arc::new(place);
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    // Busy from the end of the headers to the end of the answer.
                    let busy = place.busy();
                    let answer = app.clone().oneshot(req.map(axum::body::Body::new));
                    async move {
                        let r = answer.await;
                        drop(busy);
                        r
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                // Closed to make room for another: dropping the connection closes it.
                _ = close => {}
            }
        });
    }
}

/// The connections [`serve`] keeps open at most: `wanted`, and below the
/// open-file limit less [`RESERVED_FILES`].
pub fn connection_cap(wanted: usize) -> usize {
    let files = open_file_limit().map_or(u64::MAX, |(soft, _)| soft);
    let room = files.saturating_sub(RESERVED_FILES).max(1);
    (wanted as u64).min(room).max(1) as usize
}

/// The open-file limit of this process, soft and hard (`None` where the
/// system has none to read).
pub fn open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
            // (`rlim_t` is not 64 bits on every system.)
            #[allow(clippy::unnecessary_cast)]
            return Some((r.rlim_cur as u64, r.rlim_max as u64));
        }
    }
    None
}

/// Raises the soft open-file limit to the hard one, so that the server can
/// hold as many connections as the system lets it (the common soft limit
/// is 1,024). Returns the soft limit in effect afterwards.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write one `rlimit`
        // through valid pointers; setrlimit only changes this process's limit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return None;
            }
            if r.rlim_cur < r.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: r.rlim_max,
                    rlim_max: r.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
            }
        }
    }
    open_file_limit().map(|(soft, _)| soft)
}

/// Binds 127.0.0.1:`port` (0 picks a free port).
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}
