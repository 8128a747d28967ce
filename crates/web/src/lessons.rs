//! `/api/lessons` and `/api/words`: the lessons the server was given (the
//! built-in ones, and those of `--lessons DIR`), and the layer-specific words
//! the page puts beside each hop and at the top of each view.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use pathproof_core::evidence::{Fact, Stage};
use pathproof_core::lessons::{self, Lesson, LessonError};
use pathproof_core::load::diagnostic::nearest;

use crate::api::{json_value, ApiError, ApiPath};
use crate::{AppState, Current};

const STAGES: [Stage; 14] = [
    Stage::Resolve,
    Stage::Send,
    Stage::Conntrack,
    Stage::Dnat,
    Stage::Martian,
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
        | Stage::Martian
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

/// The built-in lessons failed to parse: a defect of this build, not of the request.
fn broken(e: &LessonError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the built-in lessons do not load: {e}"),
        None,
    )
}

pub async fn get_lessons(State(st): State<AppState>) -> Result<Response, ApiError> {
    let all = st.lessons().map_err(broken)?;
    let list: Vec<Value> = all
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "title": l.title,
                "scenario": l.scenario,
                "scenario_file": l.scenario_file,
                "builtin": l.builtin,
                "aliases": l.aliases,
                "summary": l.summary,
                "file": l.file,
                "layers": l.layers.iter().map(|x| json!({ "level": x.level, "name": x.name, "takeaway": x.takeaway })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json_value(&Value::Array(list)))
}

fn lesson<'a>(all: &'a [Lesson], id: &str) -> Result<&'a Lesson, ApiError> {
    all.iter().find(|l| l.id == id).ok_or_else(|| {
        let ids = all.iter().map(|l| l.id.as_str());
        let help = match nearest(id, ids.clone()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("lessons: {}", ids.collect::<Vec<_>>().join(", ")),
        };
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no lesson `{id}`"),
            Some(help),
        )
    })
}

pub async fn get_lesson(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let all = st.lessons().map_err(broken)?;
    let l = lesson(all, &id)?;
    let mut v = serde_json::to_value(l)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
    // The text of the lesson's scenario, as `POST /api/lessons/{id}/scenario`
    // loads it: the page compares it with the scenario in use to know whether
    // the lesson's questions can be traced there as they are.
    v["scenario_source"] = json!(l.scenario_source().ok().map(|(_, text)| text));
    // The answers a learner chooses from, in order (the terminal quiz offers the same).
    let choices: Vec<&str> = lessons::prediction_choices(l)
        .into_iter()
        .map(lessons::outcome_key)
        .collect();
    v["choices"] = json!(choices);
    Ok(json_value(&v))
}

/// Loads the scenario a lesson runs on (a built-in, or the file beside the
/// lesson that `--lessons DIR` read) and makes it the scenario in use.
pub async fn post_lesson_scenario(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let all = st.lessons().map_err(broken)?;
    let l = lesson(all, &id)?;
    let (file, text) = l
        .scenario_source()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e, None))?;
    let text = text.to_string();
    let loaded = tokio::task::spawn_blocking(move || Current::load(&file, &text))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the scenario could not be loaded",
                None,
            )
        })?;
    let c = loaded.map_err(|e| ApiError::load(&e))?;
    Ok(crate::api::install(&st, c))
}

/// What the "Traffic over time" view shows (`GET /api/simulate`), in the
/// words of each layer (index 0 is layer 1), as `views.traffic` of
/// `/api/words`. The core's `View`s are the engine's analyses; this one is
/// the simulator's, so its words are kept beside the endpoint that serves
/// them.
pub const TRAFFIC_VIEW_WORDS: [&str; 4] = [
    "Many letters at once, second after second: visitors who want the web page, and a crowd that hammers on the door with fake knocks or guessed passwords. The lines show how many get through each second and how full the waiting rooms are; move the marker to a second and pick a group to follow one of its letters.",
    "The scenario's `traffic:` flows run over time: for every second, how many connections each flow starts and how many succeed, and how the listener's SYN and accept queues, the links, the conntrack tables and the rate limiters fill. Pick a flow and a second to see one sampled connection's events and the trace of its journey.",
    "`pathproof simulate`, second by second: the listener's SYN and accept queues and the kernel's counters (ListenDrops, SYN cookies sent), link utilisation, conntrack entries and what each limiter let through. A connection's events say which queue or limit decided its fate; its hops are `pathproof trace` of the flow's packets.",
    "Availability is part of the policy: a filter that lets a journey through says nothing about how many of them the service can take. Read which limit gives way first under each attack (backlog, conntrack table, link, rate limit), whom it fails (the share of legitimate flows served), and whether a hardening removes the failure or only moves the bottleneck.",
];

/// The words of each layer for every stage, every fact and every view of the
/// page: `stages.filter[0]` is layer 1's sentence about a filter hop,
/// `views.matrix[3]` layer 4's about the reachability matrix, and
/// `views.traffic` the traffic view's ([`TRAFFIC_VIEW_WORDS`]).
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
    let mut views = Map::new();
    for v in lessons::VIEWS {
        let words: Vec<&str> = (1..=4).map(|l| lessons::view_words(v, l)).collect();
        views.insert(key(v), json!(words));
    }
    views.insert("traffic".into(), json!(TRAFFIC_VIEW_WORDS));
    let outcomes: Vec<&str> = lessons::outcome_kinds().map(lessons::outcome_key).collect();
    let choices: Map<String, Value> = lessons::outcome_kinds()
        .map(|k| {
            (
                lessons::outcome_key(k).to_string(),
                json!(lessons::outcome_choice(k)),
            )
        })
        .collect();
    json_value(&json!({
        "layers": lessons::LAYER_NAMES,
        "stages": stages,
        "facts": facts,
        "views": views,
        "outcomes": outcomes,
        "choices": choices,
    }))
}
