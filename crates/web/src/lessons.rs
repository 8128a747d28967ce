//! `/api/lessons` and `/api/words`: the lessons of `pathproof_core::lessons`,
//! and the layer-specific words the page puts beside each hop.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use pathproof_core::evidence::{Fact, Stage};
use pathproof_core::lessons::{self, LessonError};
use pathproof_core::load::diagnostic::nearest;

use crate::api::{json_value, ApiError};

const STAGES: [Stage; 13] = [
    Stage::Resolve,
    Stage::Send,
    Stage::Conntrack,
    Stage::Dnat,
    Stage::ReversePath,
    Stage::Route,
    Stage::Filter,
    Stage::Snat,
    Stage::Link,
    Stage::Socket,
    Stage::Tls,
    Stage::Proxy,
    Stage::Receive,
];

const FACTS: [Fact; 11] = [
    Fact::SourceAddress,
    Fact::Destination,
    Fact::Service,
    Fact::Connection,
    Fact::NameMapping,
    Fact::NextHop,
    Fact::ServerIdentity,
    Fact::ClientIdentity,
    Fact::ClientAddress,
    Fact::Confidentiality,
    Fact::Content,
];

/// Fails to compile when a stage or a fact is added, so that the two lists
/// above are updated with it.
#[allow(dead_code)]
fn lists_are_complete(s: Stage, f: Fact) {
    match s {
        Stage::Resolve
        | Stage::Send
        | Stage::Conntrack
        | Stage::Dnat
        | Stage::ReversePath
        | Stage::Route
        | Stage::Filter
        | Stage::Snat
        | Stage::Link
        | Stage::Socket
        | Stage::Tls
        | Stage::Proxy
        | Stage::Receive => {}
    }
    match f {
        Fact::SourceAddress
        | Fact::Destination
        | Fact::Service
        | Fact::Connection
        | Fact::NameMapping
        | Fact::NextHop
        | Fact::ServerIdentity
        | Fact::ClientIdentity
        | Fact::ClientAddress
        | Fact::Confidentiality
        | Fact::Content => {}
    }
}

fn key<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// The embedded lessons failed to parse: a defect of this build, not of the request.
fn broken(e: LessonError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the built-in lessons do not load: {e}"),
        None,
    )
}

pub async fn get_lessons() -> Result<Response, ApiError> {
    let all = lessons::all().map_err(broken)?;
    let list: Vec<Value> = all
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "title": l.title,
                "scenario": l.scenario,
                "summary": l.summary,
                "file": l.file,
                "layers": l.layers.iter().map(|x| json!({ "level": x.level, "name": x.name, "takeaway": x.takeaway })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json_value(&Value::Array(list)))
}

pub async fn get_lesson(Path(id): Path<String>) -> Result<Response, ApiError> {
    let all = lessons::all().map_err(broken)?;
    match all.iter().find(|l| l.id == id) {
        Some(l) => {
            let v = serde_json::to_value(l).map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
            })?;
            Ok(json_value(&v))
        }
        None => {
            let ids = all.iter().map(|l| l.id.as_str());
            let help = match nearest(&id, ids.clone()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("lessons: {}", ids.collect::<Vec<_>>().join(", ")),
            };
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no lesson `{id}`"),
                Some(help),
            ))
        }
    }
}

/// The words of each layer for every stage and every fact: `stages.filter[0]`
/// is layer 1's sentence about a filter hop.
pub async fn get_words() -> Response {
    let mut stages = Map::new();
    for s in STAGES {
        let words: Vec<&str> = (1..=4).map(|l| lessons::stage_words(s, l)).collect();
        stages.insert(key(s), json!(words));
    }
    let mut facts = Map::new();
    for f in FACTS {
        let words: Vec<&str> = (1..=4).map(|l| lessons::fact_words(f, l)).collect();
        facts.insert(key(f), json!(words));
    }
    json_value(&json!({
        "layers": lessons::LAYER_NAMES,
        "stages": stages,
        "facts": facts,
    }))
}
