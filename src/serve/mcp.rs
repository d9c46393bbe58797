//! MCP (the Model Context Protocol) for agents: the server's engine, generation slots, search permits and
//! request timeout, offered as MCP tools through `rmcp`, the official Rust SDK. `rag mcp` serves them over
//! stdio ([`run_stdio`]: stdout carries only the protocol, logs go to stderr); `rag serve` at `/mcp`
//! (streamable HTTP, behind the same API keys as every other endpoint).
//!
//! Tools: `search`, `ask`, `list_documents`, `read_document`, `status`, and `ingest` only when the operator
//! set `serve.ingest_roots` (the same rule as the HTTP API). Each returns a structured result and a short
//! text rendering. A tool that cannot do its work (bad arguments, a path that is not indexed, a busy server)
//! answers a tool error (`isError`) with a message; a malformed JSON-RPC message gets a protocol error from
//! the SDK; neither stops the server. Nothing outside the index is read: `read_document` returns the text
//! the index stores for an indexed file.

// A tool error is the SDK's `CallToolResult` (with `isError`), returned by value like the tools' results.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer::{self, Job};
use super::{blocking, ApiError, Shared};
use crate::prompt::Exchange;
use crate::SearchOptions;

/// Most text `read_document` returns at once (bytes); past it the result says where to go on.
const READ_LIMIT: usize = 64 * 1024;

/// The MCP tools over one index.
#[derive(Clone)]
pub(crate) struct Tools {
    opened: Opened,
    tool_router: ToolRouter<Self>,
}

/// Opens the server's state (the index and the models' handles).
type Opener = dyn Fn() -> crate::Result<Arc<Shared>> + Send + Sync;

/// The server's state once opened: at start when the index opens, else at the first tool call that finds it.
#[derive(Clone)]
pub(crate) struct Opened {
    state: Arc<std::sync::Mutex<Option<Arc<Shared>>>>,
    opener: Option<Arc<Opener>>,
    /// Serialises attempts to open (one index handle, one ingest thread).
    opening: Arc<tokio::sync::Mutex<()>>,
}

impl Opened {
    /// State that is open already.
    pub(crate) fn ready(shared: Arc<Shared>) -> Opened {
        Opened {
            state: Arc::new(std::sync::Mutex::new(Some(shared))),
            opener: None,
            opening: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// State opened by `opener`: tried now, and again at each tool call until it succeeds.
    pub(crate) fn new(opener: impl Fn() -> crate::Result<Arc<Shared>> + Send + Sync + 'static) -> Opened {
        let opened = Opened {
            state: Arc::new(std::sync::Mutex::new(None)),
            opener: Some(Arc::new(opener)),
            opening: Arc::new(tokio::sync::Mutex::new(())),
        };
        if let Some(Ok(shared)) = opened.opener.as_ref().map(|open| open()) {
            opened.set(shared);
        }
        opened
    }

    /// The state, if open.
    pub(crate) fn get(&self) -> Option<Arc<Shared>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, shared: Arc<Shared>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(shared);
    }

    /// The state, opening it if it is not open yet; the reason it cannot be opened as a tool error.
    async fn open(&self) -> Result<Arc<Shared>, CallToolResult> {
        if let Some(shared) = self.get() {
            return Ok(shared);
        }
        let _turn = self.opening.lock().await;
        if let Some(shared) = self.get() {
            return Ok(shared);
        }
        let Some(opener) = self.opener.clone() else {
            return Err(failure("the index is not open"));
        };
        match tokio::task::spawn_blocking(move || opener()).await {
            Ok(Ok(shared)) => {
                self.set(shared.clone());
                Ok(shared)
            }
            Ok(Err(e)) => Err(failure(e.to_string())),
            Err(e) => Err(failure(format!("opening the index: {e}"))),
        }
    }
}

/// Retrievers, as the tools name them.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Dense and BM25, fused (the default).
    Hybrid,
    /// Embeddings only.
    Dense,
    /// Keywords only.
    Bm25,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// What to look for, in words (a question or keywords).
    query: String,
    /// How many chunks to return, 1 to 100 (default: the configured k, 5).
    k: Option<usize>,
    /// Only files whose path matches this glob, e.g. `manuals/**` or `*.pdf`.
    path: Option<String>,
    /// Only these document kinds: `pdf`, `md`, `html`, `txt`, or a code extension such as `rs`.
    #[serde(rename = "type")]
    kinds: Option<Vec<String>>,
    /// Which retrievers: `hybrid` (default), `dense` or `bm25`.
    mode: Option<Mode>,
}

/// One earlier exchange of a conversation.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Turn {
    /// What was asked.
    question: String,
    /// What was answered.
    answer: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AskArgs {
    /// The question, answered from the indexed documents only.
    question: String,
    /// Earlier exchanges, oldest first: a follow-up question ("and its pressure?") is read with them.
    history: Option<Vec<Turn>>,
    /// How many chunks to retrieve, 1 to 100 (default: the configured k).
    k: Option<usize>,
    /// Only files whose path matches this glob.
    path: Option<String>,
    /// Only these document kinds.
    #[serde(rename = "type")]
    kinds: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    /// Only files whose path matches this glob.
    path: Option<String>,
    /// Skip this many files (paging; default 0).
    offset: Option<usize>,
    /// At most this many files, 1 to 1000 (default 100).
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    /// An indexed file, as `list_documents` or a search result shows it (`path`), or its absolute key.
    path: String,
    /// First line to return (1-based; line-mapped formats such as text, markdown and code).
    start_line: Option<u32>,
    /// Last line to return (inclusive).
    end_line: Option<u32>,
    /// The page to return (paged formats such as PDF, 1-based).
    page: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct IngestArgs {
    /// Absolute paths of files or folders under a folder the operator allowed (`serve.ingest_roots`).
    paths: Vec<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// A tool's result: `value` as structured content, `text` as its rendering for models that read text.
fn result(value: Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// A tool error: the message, as text.
fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn api_failure(e: ApiError) -> CallToolResult {
    failure(e.message)
}

type ToolResult = Result<CallToolResult, CallToolResult>;

fn options(
    k: Option<usize>,
    mode: Option<Mode>,
    path: Option<String>,
    kinds: Option<Vec<String>>,
) -> Result<SearchOptions, CallToolResult> {
    let mode = mode.map(|m| match m {
        Mode::Hybrid => super::routes::Mode::Hybrid,
        Mode::Dense => super::routes::Mode::Dense,
        Mode::Bm25 => super::routes::Mode::Bm25,
    });
    super::routes::search_options(k, mode, path, kinds).map_err(api_failure)
}

fn non_empty(field: &str, text: &str) -> Result<(), CallToolResult> {
    if text.trim().is_empty() {
        return Err(failure(format!("`{field}` is empty")));
    }
    Ok(())
}

#[tool_router]
impl Tools {
    /// The tools over `opened`; `ingest` only when `ingest` is allowed (`serve.ingest_roots`).
    pub(crate) fn new(opened: Opened, ingest: bool) -> Tools {
        let mut tool_router = Self::tool_router();
        if !ingest {
            tool_router.remove_route("ingest");
        }
        Tools { opened, tool_router }
    }

    /// Runs `work` on the blocking pool under the search permits and the request timeout.
    async fn searching<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, CallToolResult> {
        let shared = self.opened.open().await?;
        let _turn = shared
            .searches
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| failure("the server is shutting down"))?;
        let timeout = shared.options.request_timeout;
        tokio::time::timeout(timeout, blocking(move || work(&shared)))
            .await
            .map_err(|_| api_failure(ApiError::timeout()))?
            .map_err(api_failure)
    }

    #[tool(
        description = "Search the indexed documents (hybrid dense + BM25). Returns the best chunks, best first, \
                       each with its file path, location (page or lines), score and text. Use it to find where \
                       something is written; use `ask` for an answer."
    )]
    async fn search(&self, Parameters(args): Parameters<SearchArgs>) -> ToolResult {
        non_empty("query", &args.query)?;
        let options = options(args.k, args.mode, args.path, args.kinds)?;
        let query = args.query;
        let hits = self
            .searching(move |shared| shared.searcher.search(&query, &options).map_err(ApiError::engine))
            .await?;
        let results: Vec<Value> = hits.iter().map(|r| crate::json::passage(&r.passage)).collect();
        let text = if hits.is_empty() {
            "No chunk matches.".to_owned()
        } else {
            hits.iter()
                .map(|r| format!("[{}] {}\n{}", r.passage.n, r.passage.describe(), r.passage.text.trim()))
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        Ok(result(json!({ "results": results }), text))
    }

    #[tool(
        description = "Answer a question from the indexed documents with a local model, with citations: the \
                       sources (file and page or lines) and, for each sentence, the passage that supports it. \
                       When the documents do not answer it, the result is a refusal (`refused`: true) with the \
                       reason, not a guess."
    )]
    async fn ask(&self, Parameters(args): Parameters<AskArgs>) -> ToolResult {
        non_empty("question", &args.question)?;
        let options = options(args.k, None, args.path, args.kinds)?;
        let mut history = Vec::new();
        let mut previous: Option<String> = None;
        for turn in args.history.unwrap_or_default() {
            previous = Some(crate::chat::standalone(&turn.question, previous.as_deref()));
            history.push(Exchange {
                question: turn.question,
                answer: turn.answer,
            });
        }
        let query = crate::chat::standalone(&args.question, previous.as_deref());
        let shared = self.opened.open().await?;
        let permit = shared.slots.acquire().await.map_err(api_failure)?;
        let job = Job {
            question: args.question,
            query,
            history,
            options,
        };
        let answer = answer::whole(&shared, permit, job).await.map_err(api_failure)?;
        let models = crate::json::models(shared.engine(), &answer).unwrap_or(Value::Null);
        let value = crate::json::answer(&answer, models);
        let mut text = answer.text.clone();
        if !answer.sources.is_empty() {
            text.push_str("\n\nSources:");
            for source in &answer.sources {
                text.push_str(&format!("\n[{}] {}", source.n, source.describe()));
            }
        }
        Ok(result(value, text))
    }

    #[tool(
        description = "List the indexed files (paged, optionally filtered by a path glob): path, kind, chunks, \
                       size and when each was ingested."
    )]
    async fn list_documents(&self, Parameters(args): Parameters<ListArgs>) -> ToolResult {
        let offset = args.offset.unwrap_or(0);
        let limit = args.limit.unwrap_or(100);
        if limit == 0 || limit > 1000 {
            return Err(failure("limit must be between 1 and 1000"));
        }
        let glob = args.path;
        let (total, page) = self
            .searching(move |shared| {
                let manifest = shared.searcher.manifest().map_err(ApiError::engine)?;
                let keys: Vec<String> = match &glob {
                    Some(glob) => crate::searcher::matching_keys(&manifest, glob).map_err(ApiError::engine)?,
                    None => manifest.files.keys().cloned().collect(),
                };
                let page: Vec<Value> = keys
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .filter_map(|key| manifest.files.get(key).map(|entry| (key, entry)))
                    .map(|(key, entry)| {
                        json!({
                            "path": crate::retrieve::display_path(key),
                            "key": key,
                            "kind": entry.kind,
                            "chunks": entry.n_chunks,
                            "bytes": entry.size,
                            "ingested_at": entry.ingested_at,
                        })
                    })
                    .collect();
                Ok((keys.len(), page))
            })
            .await?;
        let mut text = format!("{total} files");
        if offset > 0 || page.len() < total {
            text.push_str(&format!(" (showing {} from {offset})", page.len()));
        }
        for file in &page {
            text.push_str(&format!(
                "\n{} ({}, {} chunks)",
                file["path"].as_str().unwrap_or_default(),
                file["kind"].as_str().unwrap_or_default(),
                file["chunks"]
            ));
        }
        let next = (offset + page.len() < total).then_some(offset + page.len());
        Ok(result(
            json!({ "total": total, "offset": offset, "next_offset": next, "documents": page }),
            text,
        ))
    }

    #[tool(
        description = "Read an indexed file's text as the index stores it: the whole file, a line range \
                       (start_line, end_line) or a page. Only indexed files can be read; the path is one that \
                       `list_documents` or a search result gives."
    )]
    async fn read_document(&self, Parameters(args): Parameters<ReadArgs>) -> ToolResult {
        non_empty("path", &args.path)?;
        if args.page.is_some() && (args.start_line.is_some() || args.end_line.is_some()) {
            return Err(failure("give a page or a line range, not both"));
        }
        if let (Some(a), Some(b)) = (args.start_line, args.end_line) {
            if b < a {
                return Err(failure(format!("end_line {b} is before start_line {a}")));
            }
        }
        let wanted = args.path.clone();
        let (key, chunks) = self
            .searching(move |shared| {
                let manifest = shared.searcher.manifest().map_err(ApiError::engine)?;
                let key = indexed_key(&manifest, &wanted)?;
                let chunks = shared.searcher.chunks_of(&key).map_err(ApiError::engine)?;
                Ok((key, chunks))
            })
            .await?;
        let selected: Vec<&rag_indexes::Record> = chunks
            .iter()
            .filter(|r| match (args.page, args.start_line, args.end_line) {
                (Some(page), _, _) => r.payload.pages.is_some_and(|(a, b)| a <= page && page <= b),
                (None, None, None) => true,
                (None, start, end) => r
                    .payload
                    .lines
                    .is_some_and(|(a, b)| b >= start.unwrap_or(1) && a <= end.unwrap_or(u32::MAX)),
            })
            .collect();
        if selected.is_empty() {
            let what = match (args.page, args.start_line, args.end_line) {
                (Some(page), _, _) => format!("page {page}"),
                (None, None, None) => "any text".to_owned(),
                (None, a, b) => format!(
                    "lines {}-{}",
                    a.unwrap_or(1),
                    b.map_or("end".to_owned(), |b| b.to_string())
                ),
            };
            return Err(failure(format!(
                "{}: the index holds no {what} of this file",
                args.path
            )));
        }
        let span = |f: fn(&rag_indexes::Record) -> Option<(u32, u32)>| {
            let spans: Vec<(u32, u32)> = selected.iter().filter_map(|r| f(r)).collect();
            let first = spans.iter().map(|s| s.0).min();
            let last = spans.iter().map(|s| s.1).max();
            first.zip(last)
        };
        let mut lines = span(|r| r.payload.lines);
        let ranged = args.page.is_none() && (args.start_line.is_some() || args.end_line.is_some());
        let exact = ranged
            .then(|| {
                exact_lines(
                    &selected,
                    args.start_line.unwrap_or(1),
                    args.end_line.unwrap_or(u32::MAX),
                )
            })
            .flatten();
        let (text, truncated) = match exact {
            Some((text, first_last)) => {
                lines = Some(first_last);
                cut(text, READ_LIMIT)
            }
            None => stitch(&selected, READ_LIMIT),
        };
        let value = json!({
            "path": crate::retrieve::display_path(&key),
            "key": key,
            "lines": lines.map(|(a, b)| json!([a, b])),
            "pages": span(|r| r.payload.pages).map(|(a, b)| json!([a, b])),
            "chunks": selected.len(),
            "truncated": truncated,
            "text": text,
        });
        let mut rendered = text.clone();
        if truncated {
            rendered.push_str("\n[truncated: ask for a smaller range]");
        }
        Ok(result(value, rendered))
    }

    #[tool(
        description = "What the index holds: files, chunks, the embedding and generation models, and the last \
                          ingest."
    )]
    async fn status(&self, Parameters(_): Parameters<NoArgs>) -> ToolResult {
        let value = self
            .searching(|shared| {
                let manifest = shared.searcher.manifest().map_err(ApiError::engine)?;
                let chunks = shared.searcher.count().map_err(ApiError::engine)?;
                let engine = shared.engine();
                let embedder = engine.embedder().map_err(ApiError::engine)?;
                let generator = engine.generator().map_err(ApiError::engine)?;
                let last = manifest.files.values().map(|e| e.ingested_at).max();
                let mut kinds = std::collections::BTreeMap::<String, usize>::new();
                for entry in manifest.files.values() {
                    *kinds.entry(entry.kind.clone()).or_default() += 1;
                }
                Ok(json!({
                    "index": shared.searcher.location(),
                    "files": manifest.files.len(),
                    "chunks": chunks,
                    "kinds": kinds,
                    "embedder": embedder.model_id(),
                    "generator": generator.model_id(),
                    "last_ingest": last,
                    "ingest_enabled": shared.ingestion.is_some(),
                }))
            })
            .await?;
        let text = format!(
            "{} files, {} chunks in {}; embedder {}, generator {}",
            value["files"],
            value["chunks"],
            value["index"].as_str().unwrap_or_default(),
            value["embedder"].as_str().unwrap_or_default(),
            value["generator"].as_str().unwrap_or_default()
        );
        Ok(result(value, text))
    }

    #[tool(
        description = "Ingest files or folders (absolute paths under the folders the operator allowed) into the \
                       index; only what changed is re-read. Waits for the job up to the request timeout and \
                       returns its report, or its state if it is still running."
    )]
    async fn ingest(&self, Parameters(args): Parameters<IngestArgs>) -> ToolResult {
        let shared = self.opened.open().await?;
        let job = super::ingest::submit(&shared, &args.paths).map_err(api_failure)?;
        let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
        while !job.ended() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let value = job.view();
        let text = match value["state"].as_str() {
            Some("done") => format!("ingested: {}", value["report"]),
            Some("failed") => return Err(failure(format!("ingest failed: {}", value["error"]))),
            _ => format!("still running as job {}", value["id"]),
        };
        Ok(result(value, text))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rag", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "rag searches and answers questions about a folder of indexed documents, offline. Use `search` \
                 to find passages, `ask` for a cited answer (or a refusal when the documents do not say), \
                 `list_documents` and `read_document` to browse what is indexed.",
            )
    }
}

/// The manifest key of the indexed file `path` names: the key itself, the path as shown, or a trailing part
/// of one key (`manuals/pump.pdf`). Anything else is refused: nothing outside the index is read.
fn indexed_key(manifest: &crate::manifest::Manifest, path: &str) -> Result<String, ApiError> {
    if manifest.files.contains_key(path) {
        return Ok(path.to_owned());
    }
    let trimmed = path.trim_start_matches("./");
    let matches: Vec<&String> = manifest
        .files
        .keys()
        .filter(|k| crate::retrieve::display_path(k) == trimmed || k.ends_with(&format!("/{trimmed}")))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::bad_request(format!(
            "{path:?} is not an indexed file (list_documents shows what is indexed)"
        ))),
        many => Err(ApiError::bad_request(format!(
            "{path:?} names {} indexed files; give more of the path: {}",
            many.len(),
            many.iter()
                .take(5)
                .map(|k| crate::retrieve::display_path(k))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Lines `start..=end` of the file, from chunks whose text holds exactly their line span (one text line per
/// file line): the text and the lines it covers. `None` when a chunk's text does not map line for line.
fn exact_lines(chunks: &[&rag_indexes::Record], start: u32, end: u32) -> Option<(String, (u32, u32))> {
    let mut by_line = std::collections::BTreeMap::new();
    for chunk in chunks {
        let (a, b) = chunk.payload.lines?;
        let lines: Vec<&str> = chunk.text.split('\n').collect();
        if b < a || lines.len() as u64 != u64::from(b - a) + 1 {
            return None;
        }
        for (i, line) in (a..=b).zip(lines) {
            by_line.entry(i).or_insert(line);
        }
    }
    let wanted: Vec<(&u32, &&str)> = by_line.range(start..=end).collect();
    let first = *wanted.first()?.0;
    let last = *wanted.last()?.0;
    let text: Vec<&str> = wanted.iter().map(|(_, line)| **line).collect();
    Some((text.join("\n"), (first, last)))
}

/// `text` cut at `limit` bytes (on a character boundary), and whether it was cut.
fn cut(mut text: String, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut at = limit;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    (text, true)
}

/// The text of consecutive chunks, their overlaps removed (by their byte offsets in the document), cut at
/// `limit` bytes: the text and whether it was cut.
fn stitch(chunks: &[&rag_indexes::Record], limit: usize) -> (String, bool) {
    let mut text = String::new();
    let mut end: Option<usize> = None;
    for chunk in chunks {
        let p = &chunk.payload;
        match end {
            Some(e) if p.byte_start < e => {
                // Overlap with what is already there: skip its first `e - start` bytes.
                let skip = e - p.byte_start;
                match chunk.text.get(skip..) {
                    Some(rest) if !rest.is_empty() => text.push_str(rest),
                    Some(_) => {}
                    None => {
                        text.push('\n');
                        text.push_str(&chunk.text);
                    }
                }
            }
            Some(_) => {
                text.push('\n');
                text.push_str(&chunk.text);
            }
            None => text.push_str(&chunk.text),
        }
        end = Some(end.map_or(p.byte_end, |e| e.max(p.byte_end)));
        if text.len() > limit {
            return cut(text, limit);
        }
    }
    (text, false)
}

/// Serves the tools over stdin/stdout until the client closes them, SIGTERM or `cancel`.
pub(crate) async fn serve_stdio(opened: Opened, ingest: bool, cancel: crate::progress::Cancel) -> crate::Result<()> {
    use rmcp::ServiceExt as _;
    let service = Tools::new(opened, ingest)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| crate::Error::Config(format!("mcp: {e}")))?;
    let token = service.cancellation_token();
    tokio::select! {
        done = service.waiting() => {
            done.map_err(|e| crate::Error::Config(format!("mcp: {e}")))?;
        }
        () = super::wait_for_stop(cancel) => token.cancel(),
    }
    Ok(())
}

/// The streamable-HTTP service for `/mcp` (stateless: each request stands alone, as the HTTP API's do).
pub(crate) fn http_service(
    shared: Arc<Shared>,
) -> rmcp::transport::StreamableHttpService<
    Tools,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    let mut config = rmcp::transport::StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(shared.options.max_body_bytes);
    // Without keys the server listens on loopback only, and the SDK's check of the Host header (loopback
    // names) keeps web pages from reaching it through DNS rebinding; with keys, the keys guard it.
    if !shared.options.api_keys.is_empty() {
        config = config.disable_allowed_hosts();
    }
    let ingest = shared.ingestion.is_some();
    let opened = Opened::ready(shared);
    rmcp::transport::StreamableHttpService::new(
        move || Ok(Tools::new(opened.clone(), ingest)),
        Default::default(),
        config,
    )
}
