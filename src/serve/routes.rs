//! rag's own endpoints: health, status, search and ask (JSON, or Server-Sent Events with `"stream": true`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer::{self, Framing, Job};
use super::{blocking, ApiError, Shared};
use crate::config::RetrieveMode;
use crate::retrieve::Passage;
use crate::{Answer, SearchOptions};

/// A JSON body, with every way it can be wrong (syntax, types, unknown fields, size, content type) answered
/// as a 4xx in the server's error shape.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid_request_error",
                rejection.body_text(),
            )),
        }
    }
}

/// Which retrievers, as the API names them.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Hybrid,
    Dense,
    Bm25,
}

/// The search options of a request: chunks to return or retrieve (1 to 100), retrievers, a path glob (as
/// `rag search --path`) and document kinds (as `--type`).
pub(crate) fn search_options(
    k: Option<usize>,
    mode: Option<Mode>,
    path: Option<String>,
    kinds: Option<Vec<String>>,
) -> Result<SearchOptions, ApiError> {
    if k == Some(0) || k.is_some_and(|k| k > 100) {
        return Err(ApiError::bad_request("k must be between 1 and 100"));
    }
    Ok(SearchOptions {
        k,
        mode: mode.map(|m| match m {
            Mode::Hybrid => RetrieveMode::Hybrid,
            Mode::Dense => RetrieveMode::Dense,
            Mode::Bm25 => RetrieveMode::Bm25,
        }),
        path_glob: path,
        kinds: kinds.unwrap_or_default(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchRequest {
    query: String,
    k: Option<usize>,
    mode: Option<Mode>,
    path: Option<String>,
    #[serde(rename = "type")]
    kinds: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AskRequest {
    question: String,
    #[serde(default)]
    stream: bool,
    k: Option<usize>,
    mode: Option<Mode>,
    path: Option<String>,
    #[serde(rename = "type")]
    kinds: Option<Vec<String>>,
}

fn non_empty(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(format!("`{field}` is empty")));
    }
    Ok(())
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the index answers (the models were loaded before the server took requests).
pub(crate) async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let check = shared.clone();
    match blocking(move || check.searcher.count().map_err(ApiError::engine)).await {
        Ok(chunks) if !shared.stopping.load(Ordering::SeqCst) => {
            Json(json!({"ready": true, "chunks": chunks})).into_response()
        }
        Ok(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down").into_response(),
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.message).into_response(),
    }
}

pub(crate) async fn status(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let check = shared.clone();
    let chunks = blocking(move || check.searcher.count().map_err(ApiError::engine)).await?;
    let engine = shared.engine();
    let embedder = engine.embedder().map_err(ApiError::engine)?;
    let generator = engine.generator().map_err(ApiError::engine)?;
    Ok(Json(json!({
        "index": shared.searcher.location(),
        "chunks": chunks,
        "embedder": embedder.model_id(),
        "generator": generator.model_id(),
        "slots": {"total": shared.options.slots, "free": shared.slots.free(), "waiting": shared.slots.waiting(),
                  "queue": shared.options.queue},
        "uptime_s": shared.started.elapsed().as_secs_f64(),
    })))
}

/// `GET /v1/indexes`: the default index and the named ones, with where they live and their chunks.
pub(crate) async fn indexes(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let mut all = vec![(String::from("default"), shared.clone())];
    all.extend(shared.named.iter().cloned());
    let mut listed = Vec::new();
    for (name, index) in all {
        let prefix = match name.as_str() {
            "default" => "/v1".to_owned(),
            other => format!("/v1/indexes/{other}"),
        };
        let check = index.clone();
        let chunks = blocking(move || check.searcher.count().map_err(ApiError::engine)).await?;
        listed.push(json!({
            "name": name,
            "location": index.searcher.location(),
            "chunks": chunks,
            "endpoints": prefix,
            "ingest": index.ingestion.is_some(),
        }));
    }
    Ok(Json(json!({ "indexes": listed })))
}

pub(crate) async fn search(
    State(shared): State<Arc<Shared>>,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Json<Value>, ApiError> {
    non_empty("query", &request.query)?;
    let options = search_options(request.k, request.mode, request.path, request.kinds)?;
    let _turn = shared
        .searches
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("shutting down"))?;
    let work = shared.clone();
    let results = tokio::time::timeout(
        shared.options.request_timeout,
        blocking(move || work.searcher.search(&request.query, &options).map_err(ApiError::engine)),
    )
    .await
    .map_err(|_| ApiError::timeout())??;
    Ok(Json(json!({
        "results": results.iter().map(|r| crate::json::passage(&r.passage)).collect::<Vec<_>>(),
    })))
}

pub(crate) async fn ask(State(shared): State<Arc<Shared>>, ApiJson(request): ApiJson<AskRequest>) -> Response {
    match ask_inner(shared, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn ask_inner(shared: Arc<Shared>, request: AskRequest) -> Result<Response, ApiError> {
    non_empty("question", &request.question)?;
    let options = search_options(request.k, request.mode, request.path, request.kinds)?;
    let permit = shared.slots.acquire().await?;
    let job = Job {
        query: request.question.clone(),
        question: request.question,
        history: Vec::new(),
        options,
    };
    if request.stream {
        return Ok(answer::streamed(&shared, permit, job, AskEvents));
    }
    let answer = answer::whole(&shared, permit, job).await?;
    Ok(Json(answer_json(&shared, &answer)).into_response())
}

/// `/v1/ask`'s events: `sources`, `delta`..., then `done` (or `error`).
struct AskEvents;

impl Framing for AskEvents {
    fn start(&mut self, passages: &[Passage]) -> Vec<Event> {
        let passages: Vec<Value> = passages.iter().map(crate::json::passage).collect();
        vec![sse("sources", &json!({ "passages": passages }))]
    }

    fn delta(&mut self, piece: &str) -> Event {
        sse("delta", &json!({ "text": piece }))
    }

    fn done(&mut self, shared: &Shared, answer: &Answer) -> Vec<Event> {
        vec![sse("done", &answer_json(shared, answer))]
    }

    fn error(&mut self, body: Value) -> Event {
        sse("error", &body)
    }
}

/// The answer's JSON form, as `rag ask --json` prints it.
fn answer_json(shared: &Shared, answer: &Answer) -> Value {
    let models = crate::json::models(shared.engine(), answer).unwrap_or(Value::Null);
    crate::json::answer(answer, models)
}

/// One Server-Sent Event with a JSON payload.
pub(crate) fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
