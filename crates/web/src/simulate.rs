//! `GET /api/simulate`: the current scenario's `traffic:` section run by the
//! simulator (`pathproof-sim`), as the JSON `pathproof simulate --format
//! json` prints (docs/json.md, "simulate"): per second, every flow's offers
//! and outcomes, each listener's queues and counters, each link, conntrack
//! table and limiter, and for each second a sampled connection's story with
//! the trace of its journey, which the page's hop view shows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use std::io::Write;
use std::sync::Arc;

use pathproof_core::analysis::budget::Exceeded;

use crate::api::{scenario_for, ApiError, ApiQuery, QueryForm};
use crate::out::Out;
use crate::work::exceeded;
use crate::AppState;

/// The longest run the page may ask for.
pub const MAX_SECONDS: u32 = 300;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    pub variant: Option<String>,
    pub seconds: Option<u32>,
    pub seed: Option<u64>,
}

impl QueryForm for SimulateRequest {
    const FORM: &'static str =
        "?variant=NAME, ?seconds=N (1 to 300) and ?seed=N, each optional and once";
}

pub async fn run(
    State(st): State<AppState>,
    ApiQuery(req): ApiQuery<SimulateRequest>,
) -> Result<Response, ApiError> {
    let cur = st.current();
    let scn = scenario_for(&cur, req.variant.as_deref())?;
    if let Some(s) = req.seconds {
        if s == 0 || s > MAX_SECONDS {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("seconds must be from 1 to {MAX_SECONDS}, not {s}"),
                Some(SimulateRequest::FORM.into()),
            ));
        }
    }
    let key = format!(
        "simulate\n{}\n{:?}\n{:?}",
        req.variant.as_deref().unwrap_or(""),
        req.seconds,
        req.seed
    );
    if let Some(a) = cur.answer(&key) {
        return Ok(a.response());
    }
    let opts = pathproof_sim::Options {
        seconds: req.seconds,
        seed: req.seed,
    };
    let file = cur.file.clone();
    let again = cur.clone();
    // On the engine's slots, with the request's budget (work.rs), and kept
    // like every other analysis answer (lib.rs, `keep_answer`).
    let text = st
        .work
        .run(move |budget| {
            if let Some(a) = again.answer(&key) {
                return Ok(a);
            }
            let run = pathproof_sim::simulate(&scn, &opts).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{file}:{}:{}: {}", e.line, e.column, e.message),
                    e.help,
                )
            })?;
            let json = pathproof_sim::render::json(&run);
            let mut out = Out::new(budget);
            out.write_all(json.as_bytes()).map_err(|e| {
                match e.into_inner().and_then(|b| b.downcast::<Exceeded>().ok()) {
                    Some(x) => exceeded(*x, "ask for fewer seconds (?seconds=N)"),
                    None => ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the simulation's answer could not be written",
                        None,
                    ),
                }
            })?;
            let text = Arc::new(out.finish());
            again.keep_answer(key, text.clone(), budget.limit());
            Ok(text)
        })
        .await?;
    Ok(text.response())
}
