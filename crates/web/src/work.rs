//! Every request's work, bounded in time and memory (docs/api.md, "Limits").
//!
//! - The body is read first, within `Limits::body` (408 after it: a client
//!   slow to send), and up to `MAX_BODY` (413).
//! - Then the handler runs within `Limits::request` (503 after it). The
//!   engine's work runs on a blocking thread with a
//!   [`Budget`](pathproof_core::analysis::budget::Budget): a guard held by
//!   the request's future sets the budget's cancel flag when that future is
//!   dropped, which is what happens when the deadline passes (the timeout
//!   drops it) and when the client goes away (hyper drops it), so the work
//!   stops at its next check and frees what it built.
//! - The budget limits the answer's size to `Limits::memory` bytes (422 when
//!   it would be larger, with a way to narrow the question).
//! - At most `Limits::analyses` such computations run at once; the others
//!   wait for a slot (within their deadline), so parallel requests cannot
//!   multiply the memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use pathproof_core::analysis::budget::{Budget, Exceeded};

use crate::api::ApiError;
use crate::{Limits, MAX_BODY};

/// What the handlers share to run the engine's work.
pub(crate) struct Work {
    pub(crate) limits: Limits,
    slots: Arc<Semaphore>,
    /// Computations running now (on a blocking thread), for tests.
    running: Arc<AtomicUsize>,
    /// Computations started, for tests.
    started: AtomicUsize,
}

impl Work {
    pub(crate) fn new(limits: Limits) -> Work {
        Work {
            limits,
            slots: Arc::new(Semaphore::new(limits.analyses.max(1))),
            running: Arc::new(AtomicUsize::new(0)),
            started: AtomicUsize::new(0),
        }
    }

    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Runs `compute` on a blocking thread, once a slot is free, with a
    /// budget of `Limits::memory` bytes that is cancelled when the future
    /// this returns is dropped (the deadline passed, the client went away).
    /// The slot is held until `compute` returns, not only until the answer
    /// is sent: the memory is free when the next computation starts.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        compute: impl FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let budget = Budget::new(self.limits.memory);
        let _cancel_on_drop = CancelOnDrop(budget.canceller());
        // Waiting for a slot until it is ours (if the deadline passes
        // first, the request is dropped here and still marked waiting).
        set_waiting(true);
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is stopping",
                None,
            )
        })?;
        set_waiting(false);
        self.started.fetch_add(1, Ordering::SeqCst);
        let running = Running::start(self.running.clone());
        let job = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _running = running;
            compute(&budget)
        });
        match job.await {
            Ok(r) => r,
            Err(_) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the analysis failed inside the server (a bug: please report it with the scenario)",
                None,
            )),
        }
    }
}

/// Counts a computation as running until it is dropped (on its thread).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn start(n: Arc<AtomicUsize>) -> Running {
        n.fetch_add(1, Ordering::SeqCst);
        Running(n)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sets a budget's cancel flag when the request's future goes away, whether
/// it finished, timed out or was abandoned by its client.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What a request was doing when its deadline passed, for the answer's words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Working,
    Waiting,
}

tokio::task_local! {
    /// Set by [`deadline`] around a request: whether it waits for a slot.
    static WAITING: Arc<AtomicBool>;
}

/// Notes whether the current request waits for a slot (outside a request
/// with a deadline, nothing).
fn set_waiting(waiting: bool) {
    let _ = WAITING.try_with(|w| w.store(waiting, Ordering::Relaxed));
}

/// An answer too large for the budget, or a computation cancelled, as the
/// client sees it. `narrow` says how to ask a smaller question.
pub(crate) fn exceeded(e: Exceeded, narrow: &str) -> ApiError {
    match e {
        Exceeded::TooLarge { limit } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the answer to this question is larger than the {} this server gives one answer (--request-memory)",
                size_text(limit)
            ),
            Some(format!(
                "{narrow}; or ask the command line (`pathproof reach`, `diff`, `reach --foothold`), which has no such limit; or restart the server with a larger --request-memory"
            )),
        )
        .with("limit", "memory"),
        // Nobody waits for this answer any more (the deadline passed or the
        // client went away): what is sent, if anything, is the deadline's.
        Exceeded::Cancelled => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the work on this question was stopped: its deadline passed or its client went away",
            None,
        )
        .with("limit", "time"),
    }
}

fn deadline_error(phase: Phase, limit: Duration) -> ApiError {
    let secs = limit.as_secs_f64();
    match phase {
        Phase::Waiting => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server was busy with other questions for the {secs} s it gives one (--request-timeout)"
            ),
            Some("ask again in a moment".into()),
        )
        .with("limit", "time"),
        Phase::Working => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within the {secs} s this server gives one question (--request-timeout); the work was stopped"
            ),
            Some(
                "narrow the question (?from=HOST or ?to=HOST for /api/reach), use a smaller scenario, ask the command line, which has no such limit, or restart the server with a longer --request-timeout"
                    .into(),
            ),
        )
        .with("limit", "time"),
    }
}

/// `1 GiB`, `256 MiB`, `1536 KiB`, `100 bytes`.
pub fn size_text(bytes: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit && bytes & (unit - 1) == 0 {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes >= 1 << 20 {
        return format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64);
    }
    format!("{bytes} bytes")
}

/// Reads the whole body before the handler runs: within `limit` (408 after
/// it, the only 408 this server sends), up to `MAX_BODY` (413).
pub(crate) async fn read_body(limit: Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY} bytes"),
                    None,
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "cannot read the request body: the client stopped sending it",
                    None,
                )
            }
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms of its headers",
                    limit.as_millis()
                ),
                Some("send the whole body at once (the body of every endpoint is small)".into()),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Answers 503 (with a JSON error) when the handler is not done `limit`
/// after the body was read; dropping it cancels the engine's work.
pub(crate) async fn deadline(limit: Duration, req: Request, next: Next) -> Response {
    let waiting = Arc::new(AtomicBool::new(false));
    let run = WAITING.scope(waiting.clone(), next.run(req));
    match tokio::time::timeout(limit, run).await {
        Ok(r) => r,
        Err(_) => {
            let phase = if waiting.load(Ordering::Relaxed) {
                Phase::Waiting
            } else {
                Phase::Working
            };
            let mut r = deadline_error(phase, limit).into_response();
            if phase == Phase::Waiting {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            r
        }
    }
}

/// A size as the command line writes it: `1073741824`, `512M`, `512MiB`,
/// `1G`, `1GiB`, `64K` (powers of 1,024; case does not matter).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a size: write a number of bytes, or 512M, 1G"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("`{s}` is not a size this server can use"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use std::sync::atomic::AtomicBool;
    use tower::ServiceExt;

    /// One analysis at a time: while one holds the slot, another waits, and
    /// when its deadline passes first it is told the server was busy (with
    /// a Retry-After), not that its own work took too long.
    #[tokio::test]
    async fn questions_wait_their_turn() {
        let work = Arc::new(Work::new(Limits {
            analyses: 1,
            ..Limits::default()
        }));
        let release = Arc::new(AtomicBool::new(false));
        let (w1, w2, r1) = (work.clone(), work.clone(), release.clone());
        let app = Router::new()
            .route(
                "/slow",
                get(move || async move {
                    w1.run(move |_| {
                        // Holds the slot until the test lets go.
                        while !r1.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Ok(())
                    })
                    .await
                    .map(|()| "done")
                }),
            )
            .route(
                "/quick",
                get(move || async move { w2.run(|_| Ok(())).await.map(|()| "done") }),
            )
            .layer(axum::middleware::from_fn(|req: Request, next: Next| {
                deadline(Duration::from_millis(200), req, next)
            }));
        let req = |p: &str| Request::get(p).body(Body::empty()).unwrap();
        let slow = tokio::spawn(app.clone().oneshot(req("/slow")));
        while work.running() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let quick = app.clone().oneshot(req("/quick")).await.unwrap();
        assert_eq!(quick.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(quick.headers()[header::RETRY_AFTER], "5");
        let body = axum::body::to_bytes(quick.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("busy with other questions"), "{text}");
        // The one that held the slot passed its deadline working.
        let slow = slow.await.unwrap().unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!slow.headers().contains_key(header::RETRY_AFTER));
        release.store(true, Ordering::SeqCst);
        while work.running() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Free again: answered.
        let quick = app.oneshot(req("/quick")).await.unwrap();
        assert_eq!(quick.status(), StatusCode::OK);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(1 << 30), "1 GiB");
        assert_eq!(size_text(256 << 20), "256 MiB");
        assert_eq!(size_text(1536 << 10), "1536 KiB");
        assert_eq!(size_text(100), "100 bytes");
        assert_eq!(size_text((3 << 20) + 1), "3.0 MiB");
    }
}
