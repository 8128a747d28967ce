//! `pathproof serve`: loads the scenario and hands it to the web server in
//! `pathproof_web`, which binds 127.0.0.1 only.

use std::io::Write;
use std::time::Duration;

use crate::{diagnostics, scenario_arg, InputError};

/// What one request may take (docs/api.md, "Limits").
#[derive(clap::Args, Debug)]
pub struct LimitArgs {
    /// Seconds one question may take once its body has arrived; past it the
    /// answer is 503 and the work stops.
    #[arg(long, value_name = "SECONDS", default_value_t = pathproof_web::REQUEST_TIMEOUT.as_secs_f64())]
    request_timeout: f64,
    /// The most memory one answer may take as it is made (512M, 1G, or
    /// bytes); past it the answer is 422 with a way to ask a smaller question.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = pathproof_web::parse_size)]
    request_memory: u64,
    /// How many questions the engine works on at once; the others wait
    /// their turn (within their deadline).
    #[arg(long, value_name = "N", default_value_t = pathproof_web::ANALYSES as u16, value_parser = clap::value_parser!(u16).range(1..))]
    analyses: u16,
    /// The most connections open at once (and never more than the open-file
    /// limit allows); when all are taken, the one idle longest is closed.
    #[arg(long, value_name = "N", default_value_t = pathproof_web::MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds a client has to send a request's headers after it connects
    /// (or after the previous answer); then it is disconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = pathproof_web::HEADER_TIMEOUT.as_secs_f64())]
    header_timeout: f64,
}

impl LimitArgs {
    fn limits(&self) -> Result<pathproof_web::Limits, InputError> {
        let secs = |flag: &str, s: f64| {
            if s.is_finite() && s > 0.0 {
                Ok(Duration::from_secs_f64(s.min(1e9)))
            } else {
                Err(InputError(format!(
                    "error: {flag} {s} is not a number of seconds above 0\n"
                )))
            }
        };
        Ok(pathproof_web::Limits {
            request: secs("--request-timeout", self.request_timeout)?,
            headers: secs("--header-timeout", self.header_timeout)?,
            memory: self.request_memory,
            analyses: usize::from(self.analyses),
            connections: self.max_connections as usize,
            ..pathproof_web::Limits::default()
        })
    }
}

pub fn run(
    scenario: Option<&str>,
    port: u16,
    lessons: Option<&str>,
    limits: &LimitArgs,
) -> Result<(), InputError> {
    let limits = limits.limits()?;
    let (file, text) = scenario_arg::load_text(scenario)?;
    let lessons = crate::learn_cmd::load(lessons)?;
    let extra = lessons.iter().filter(|l| !l.builtin).count();
    let files = scenario_arg::read_files(&file, &text)?;
    let current = pathproof_web::Current::load_with(&file, &text, &files)
        .map_err(|e| InputError(diagnostics::load_error(&e)))?;
    let name = current.base.name.clone();
    // A server runs for hours: freed memory goes back to the system (the
    // other commands keep it, see allocator.rs).
    crate::allocator::return_freed_memory();
    // Room for connections: the common soft limit is 1,024 open files.
    pathproof_web::raise_open_file_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| InputError(format!("error: cannot start the server: {e}\n")))?;
    rt.block_on(async move {
        let listener = pathproof_web::bind(port).await.map_err(|e| {
            InputError(format!(
                "error: cannot listen on 127.0.0.1:{port}: {e}\n  help: choose another port with --port N (0 picks a free one)\n"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| InputError(format!("error: {e}\n")))?;
        println!("http://{addr}");
        eprintln!("pathproof serve: scenario `{name}` from {file}; Ctrl-C stops");
        if extra > 0 {
            eprintln!("pathproof serve: {extra} lesson(s) from --lessons beside the built-in ones");
        }
        eprintln!(
            "pathproof serve: each question within {} s and {}, {} at a time; at most {} connections",
            limits.request.as_secs_f64(),
            pathproof_web::size_text(limits.memory),
            limits.analyses,
            pathproof_web::connection_cap(limits.connections),
        );
        let _ = std::io::stdout().flush();
        pathproof_web::run(
            listener,
            // The page's first question, the matrix, is computed as soon as
            // the server starts (and each time a scenario is loaded).
            pathproof_web::AppState::new(current)
                .with_lessons(lessons)
                .with_limits(limits)
                .with_warm_matrix(),
        )
        .await
        .map_err(|e| InputError(format!("error: the server stopped: {e}\n")))
    })
}
