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

use crate::api::{json_text, scenario_for, ApiError, ApiQuery, QueryForm};
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
        return Ok(json_text(a.as_str().to_string()));
    }
    let opts = pathproof_sim::Options {
        seconds: req.seconds,
        seed: req.seed,
    };
    let file = cur.file.clone();
    let out = tokio::task::spawn_blocking(move || {
        pathproof_sim::simulate(&scn, &opts).map(|run| pathproof_sim::render::json(&run))
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the simulation of this scenario failed",
            None,
        )
    })?;
    match out {
        Ok(text) => {
            let text = std::sync::Arc::new(text);
            cur.keep_answer(key, text.clone());
            Ok(json_text(text.as_str().to_string()))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{file}:{}:{}: {}", e.line, e.column, e.message),
            e.help,
        )),
    }
}
