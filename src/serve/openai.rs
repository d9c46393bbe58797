//! The OpenAI-compatible face: `GET /v1/models` and `POST /v1/chat/completions`, streaming and not, so that
//! OpenAI's SDKs and the tools built on them work unchanged.
//!
//! The last message must be the user's: it is the question. Earlier user/assistant pairs are the history
//! (in the prompt, budgeted like `rag chat`), and a follow-up is searched together with the question before
//! it. System messages are ignored: the engine's own system turn (answer from the passages, cite them) holds.
//! Sampling parameters are ignored too (the server's configuration decides). The answer is grounded in the
//! index; its citations, sentences and passages travel in the extension field `rag` of the response (and of
//! the last chunk of a stream), which strict clients ignore. An optional `rag` object in the request takes
//! `k`, `mode`, `path` and `type` as `/v1/ask` does.

use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer::{self, Framing, Job};
use super::routes::{search_options, ApiJson, Mode};
use super::{ApiError, Shared};
use crate::prompt::Exchange;
use crate::Answer;

/// The model name the server answers as.
const MODEL: &str = "rag";

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    rag: Option<RagOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RagOptions {
    k: Option<usize>,
    mode: Option<Mode>,
    path: Option<String>,
    #[serde(rename = "type")]
    kinds: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// A message's content: a string, or parts of which the text ones count.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Message {
    fn text(&self) -> String {
        match &self.content {
            Some(Content::Text(text)) => text.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
            None => String::new(),
        }
    }
}

/// The question, what to search for, and the history, from the messages.
fn conversation(messages: &[Message]) -> Result<(String, String, Vec<Exchange>), ApiError> {
    let turns: Vec<&Message> = messages
        .iter()
        .filter(|m| m.role == "user" || m.role == "assistant")
        .collect();
    let Some((last, earlier)) = turns.split_last() else {
        return Err(ApiError::bad_request("`messages` holds no user message"));
    };
    if last.role != "user" {
        return Err(ApiError::bad_request(
            "the last message must be the user's: it is the question",
        ));
    }
    let question = last.text();
    if question.trim().is_empty() {
        return Err(ApiError::bad_request("the last user message is empty"));
    }
    let mut history = Vec::new();
    let mut previous: Option<String> = None;
    let mut pending: Option<String> = None;
    for message in earlier {
        let text = message.text();
        if message.role == "user" {
            previous = Some(crate::chat::standalone(&text, previous.as_deref()));
            pending = Some(text);
        } else if let Some(asked) = pending.take() {
            history.push(Exchange {
                question: asked,
                answer: text,
            });
        }
    }
    let query = crate::chat::standalone(&question, previous.as_deref());
    Ok((question, query, history))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn completion_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("chatcmpl-{nanos:x}")
}

pub(crate) async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let generator = shared
        .engine()
        .generator()
        .map(|g| g.model_id().to_owned())
        .unwrap_or_default();
    Json(json!({
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "rag", "generator": generator}],
    }))
}

pub(crate) async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Response {
    match completions(shared, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn completions(shared: Arc<Shared>, request: ChatRequest) -> Result<Response, ApiError> {
    let (question, query, history) = conversation(&request.messages)?;
    let extra = request.rag.unwrap_or_default();
    let options = search_options(extra.k, extra.mode, extra.path, extra.kinds)?;
    let model = request.model.unwrap_or_else(|| MODEL.to_owned());
    let id = completion_id();
    let created = now_s();
    let permit = shared.slots.acquire().await?;
    let job = Job {
        question,
        query,
        history,
        options,
    };
    if request.stream {
        let framing = ChunkEvents { id, created, model };
        return Ok(answer::streamed(&shared, permit, job, framing));
    }
    let answer = answer::whole(&shared, permit, job).await?;
    let t = &answer.timings;
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "finish_reason": "stop",
            "logprobs": null,
        }],
        "usage": {
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.generated_tokens,
            "total_tokens": t.prompt_tokens + t.generated_tokens,
        },
        "rag": rag_extension(&shared, &answer),
    }))
    .into_response())
}

/// A streamed completion as OpenAI frames it: `chat.completion.chunk` objects, the role first, then the text,
/// then a last chunk with `finish_reason` and the `rag` extension, then `[DONE]`.
struct ChunkEvents {
    id: String,
    created: u64,
    model: String,
}

impl ChunkEvents {
    fn chunk(&self, delta: Value, finish: Value, extra: Option<Value>) -> Event {
        let mut value = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        });
        if let Some(extra) = extra {
            value["rag"] = extra;
        }
        Event::default().data(value.to_string())
    }
}

impl Framing for ChunkEvents {
    fn start(&mut self, _passages: &[crate::retrieve::Passage]) -> Vec<Event> {
        vec![self.chunk(json!({"role": "assistant", "content": ""}), Value::Null, None)]
    }

    fn delta(&mut self, piece: &str) -> Event {
        self.chunk(json!({ "content": piece }), Value::Null, None)
    }

    fn done(&mut self, shared: &Shared, answer: &Answer) -> Vec<Event> {
        let extra = rag_extension(shared, answer);
        vec![
            self.chunk(json!({}), json!("stop"), Some(extra)),
            Event::default().data("[DONE]"),
        ]
    }

    fn error(&mut self, body: Value) -> Event {
        Event::default().data(body.to_string())
    }
}

/// The extension field: the answer as `/v1/ask` gives it (citations, sentences, passages, timings).
fn rag_extension(shared: &Shared, answer: &Answer) -> Value {
    let models = crate::json::models(shared.engine(), answer).unwrap_or(Value::Null);
    crate::json::answer(answer, models)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, text: &str) -> Message {
        Message {
            role: role.into(),
            content: Some(Content::Text(text.into())),
        }
    }

    #[test]
    fn the_last_user_message_is_the_question_and_earlier_pairs_the_history() {
        let messages = vec![
            message("system", "be brief"),
            message("user", "What is the maximum pressure of the P-200 pump?"),
            message("assistant", "12 bar [1]."),
            message("user", "and its temperature?"),
        ];
        let (question, query, history) = conversation(&messages).unwrap();
        assert_eq!(question, "and its temperature?");
        assert!(
            query.starts_with("What is the maximum pressure of the P-200 pump?"),
            "{query}"
        );
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].answer, "12 bar [1].");
        assert!(conversation(&[message("assistant", "hi")]).is_err());
        assert!(conversation(&[]).is_err());
    }
}
