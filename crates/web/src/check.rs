//! `GET /api/check`: the scenario's `expect:` lines, checked (the report of
//! `pathproof check --format json`), as written or under a variant.
//!
//! The server keeps the check warm between questions (see
//! `pathproof_core::analysis::incremental`): its engine, and per
//! expectation its answer and the filters it consulted. Toggling a variant
//! or posting an edited scenario moves the warm check to the new scenario:
//! when only filter rules differ, the engine compiles the changed filters
//! again and only the expectations whose journeys met a changed filter are
//! evaluated again. The answer is the same, byte for byte, as a check from
//! scratch; the headers say what it took.

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use pathproof_core::analysis::check::render_json;
use pathproof_core::analysis::incremental::WarmCheck;

use crate::api::{json_text, scenario_for, ApiError, ApiQuery, QueryForm};
use crate::AppState;

/// How many expectations the answer evaluated again (the others kept the
/// answer of a scenario before, which nothing that changed can affect).
pub const REEVALUATED: &str = "x-pathproof-reevaluated";
/// How many expectations the scenario has.
pub const EXPECTATIONS: &str = "x-pathproof-expectations";
/// `built` (from scratch), `updated` (the changed filters compiled again) or
/// `kept` (no filter changed).
pub const ENGINE: &str = "x-pathproof-engine";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    pub variant: Option<String>,
}

impl QueryForm for CheckParams {
    const FORM: &'static str = "?variant=NAME (optional, once)";
}

pub async fn get_check(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<CheckParams>,
) -> Result<Response, ApiError> {
    let cur = st.current();
    let scn = scenario_for(&cur, p.variant.as_deref())?;
    let warm = st.warm.clone();
    let (text, stats) = st
        .work
        .run(move |_budget| {
            let mut w = warm.lock().unwrap_or_else(|e| e.into_inner());
            let stats = match w.as_mut() {
                Some(w) => w.update(scn),
                None => {
                    let fresh = WarmCheck::new(scn);
                    let stats = fresh.stats();
                    *w = Some(fresh);
                    stats
                }
            };
            let report = w.as_ref().expect("just set").report();
            Ok((render_json(report), stats))
        })
        .await?;
    let mut r = json_text(text).into_response();
    let h = r.headers_mut();
    for (name, value) in [
        (REEVALUATED, stats.reevaluated.to_string()),
        (EXPECTATIONS, stats.expectations.to_string()),
        (ENGINE, stats.engine.word().to_string()),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("digits and words are header values"),
        );
    }
    Ok(r)
}
