//! `POST /api/journey`: one trace and everything the page shows of it in one
//! answer: the `Trace` (as `POST /api/trace` gives it), its Mermaid text, and
//! the trace told at each of the four layers (`pathproof_core::telling`).
//! The question is the body of `POST /api/trace`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use pathproof_core::model::Proto;
use pathproof_core::{render, telling, Query};

use crate::api::{json_value, scenario_for, ApiError, TraceRequest};
use crate::AppState;

pub async fn post_journey(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let req: TraceRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a trace question: {e}")))?;
    let proto = request_proto(req.proto.as_deref())?;
    let cur = st.current();
    let scn = scenario_for(&cur, req.variant.as_deref())?;
    let q = Query {
        from: req.from,
        to: req.to,
        proto,
        port: req.port,
        via: req.via.filter(|v| !v.is_empty()),
        sport: req.sport,
        ipv6: req.ipv6,
        established: req.established,
    };
    let t = pathproof_core::trace(&scn, &q)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message, e.help))?;
    let trace: serde_json::Value = serde_json::from_str(&render::trace_json(&t))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
    Ok(json_value(&json!({
        "trace": trace,
        "mermaid": render::trace_mermaid(&t),
        "told": telling::tell_all(Some(&scn), &t),
    })))
}

/// The protocol of a trace question (`POST /api/trace`, `POST /api/journey`):
/// every name `trace --proto` takes ([`Proto::parse`]), tcp when absent. One
/// function, so that no endpoint takes fewer protocols than another.
pub(crate) fn request_proto(p: Option<&str>) -> Result<Proto, ApiError> {
    match p {
        None => Ok(Proto::Tcp),
        Some(s) => Proto::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown protocol `{s}`: use tcp, udp, sctp or icmp"
            ))
        }),
    }
}
