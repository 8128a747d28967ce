//! `POST /api/import/{kind}`: the page's way of opening real configurations.
//! The body carries the files the user dropped (a folder of Kubernetes
//! manifests, or a `describe-*` folder for `aws`) as `(path, text)` pairs;
//! the answer is the imported scenario (YAML), the importer's notes and, with
//! `open: true`, the scenario loaded as the one in use (its view, as
//! `POST /api/scenario` answers). An input the importer cannot read is a 422
//! with the file, line and column, as the command line prints it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use pathproof_import::{ImportError, Input};

use crate::api::{json_text, ApiError, ApiPath};
use crate::{AppState, Current};

/// Request bodies may hold a whole folder of manifests.
pub const BODY_LIMIT: usize = 64 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    path: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    files: Vec<ImportFile>,
    /// `expect:` lines to put into the scenario.
    #[serde(default)]
    expect: Vec<String>,
    /// Load the scenario and make it the one the page shows.
    #[serde(default)]
    open: bool,
}

fn located(e: ImportError) -> ApiError {
    let place = if e.line > 0 {
        format!("{}:{}:{}: ", e.file, e.line, e.column)
    } else if !e.file.is_empty() {
        format!("{}: ", e.file)
    } else {
        String::new()
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{place}{}", e.message),
        e.help,
    )
}

pub async fn post_import(
    State(st): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let req: ImportRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not an import request: {e}"),
            Some(
                r#"send {"files": [{"path": "...", "text": "..."}], "expect": [], "open": true}"#
                    .into(),
            ),
        )
    })?;
    if req.files.is_empty() {
        return Err(ApiError::bad_request("no files to import"));
    }
    let inputs: Vec<Input> = req
        .files
        .into_iter()
        .map(|f| Input::new(f.path, f.text))
        .collect();
    let expect = req.expect;
    let open = req.open;
    let kind2 = kind.clone();
    let imported = tokio::task::spawn_blocking(move || match kind2.as_str() {
        "k8s" => pathproof_import::k8s::import(
            &inputs,
            &pathproof_import::k8s::Options {
                expect,
                ..Default::default()
            },
        )
        .map_err(located),
        "aws" => pathproof_import::aws::import(&inputs, &pathproof_import::aws::Options { expect })
            .map_err(located),
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no importer `{other}`"),
            Some("use /api/import/k8s or /api/import/aws".into()),
        )),
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the import failed", None))??;
    let mut answer = json!({ "kind": kind, "yaml": imported.yaml, "notes": imported.notes });
    if open {
        let text = imported.yaml.clone();
        let file = format!("imported-{kind}.yaml");
        let loaded = tokio::task::spawn_blocking(move || Current::load(&file, &text))
            .await
            .map_err(|_| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the import failed", None)
            })?;
        let c = loaded.map_err(|e| ApiError::load(&e))?;
        let view: Value = serde_json::from_str(st.replace(c).view_json()).unwrap_or(Value::Null);
        answer["view"] = view;
    }
    Ok(json_text(answer.to_string()))
}
