//! `rag serve`: the engine over HTTP (axum on tokio), for services in any language.
//!
//! One engine per server: the models are loaded and the index opened once, at start ([`crate::Searcher`]),
//! and shared by every request. The engine's API is synchronous and CPU-bound, so every search and answer
//! runs on tokio's blocking pool, never on the async workers. Generation takes the cores: `slots` answers run
//! at once, `queue` more wait, and past that a request gets 429 with `Retry-After` at once. A client that goes
//! away stops its generation at the next token (the stream's receiver is gone, or the request future was
//! dropped). Shutdown (SIGTERM, or the caller's [`Cancel`]) stops accepting, cancels generation in flight and
//! waits a bounded time for requests to finish.
//!
//! Routes (`routes.rs`): `/healthz`, `/readyz`, `/metrics` (`metrics.rs`), `/v1/status`, `/v1/search`, `/v1/ask` (JSON or Server-Sent
//! Events); OpenAI-compatible (`openai.rs`): `/v1/models`, `/v1/chat/completions` (streaming and not, the
//! sources in the extension field `rag`); with `serve.ingest_roots` (`ingest.rs`): `/v1/ingest`,
//! `/v1/ingest/{id}`, `/v1/documents`; MCP (`mcp.rs`, also `rag mcp` over stdio): `/mcp`. The same endpoints of each index named in `serve.indexes` are at
//! `/v1/indexes/NAME/...`, listed by `/v1/indexes`. Every error has one JSON shape (`error.rs`).

mod answer;
mod error;
mod ingest;
mod limits;
mod mcp;
mod metrics;
mod openai;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::config::{Secret, ServeConfig};
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::{Engine, Searcher};

pub(crate) use error::ApiError;

/// How the server runs: [`ServeConfig`] with the keys resolved.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Bearer keys any of which a request must carry (none: no authentication, loopback only).
    pub api_keys: Vec<Secret>,
    /// Answers generated at once.
    pub slots: usize,
    /// Answers waiting for a slot.
    pub queue: usize,
    /// Searches at once.
    pub searches: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Longest shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Folders clients may ingest from (none: no ingest or deletion over HTTP).
    pub ingest_roots: Vec<std::path::PathBuf>,
    /// Named indexes served beside the default one: name → location (`--index` syntax).
    pub indexes: std::collections::BTreeMap<String, String>,
}

impl ServeOptions {
    /// The options of `config`, with keys from `RAG_SERVE_API_KEYS`-style `env_keys` (comma-separated) and
    /// from `config.api_keys_file`.
    pub fn from_config(config: &ServeConfig, env_keys: Option<&str>) -> Result<ServeOptions> {
        let bind: SocketAddr = config
            .bind
            .parse()
            .map_err(|e| Error::Config(format!("serve.bind = {:?}: {e} (use ADDRESS:PORT)", config.bind)))?;
        let mut api_keys: Vec<Secret> = env_keys
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .collect();
        if let Some(path) = &config.api_keys_file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            api_keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(Secret::new),
            );
        }
        Ok(ServeOptions {
            bind,
            api_keys,
            slots: config.slots.max(1),
            queue: config.queue,
            searches: config.searches.max(1),
            max_body_bytes: config.max_body_bytes.max(1024),
            request_timeout: Duration::from_secs(config.request_timeout_s.max(1)),
            shutdown_grace: Duration::from_secs(10),
            ingest_roots: config.ingest_roots.clone(),
            indexes: config.indexes.clone(),
        })
    }
}

/// What every request shares.
pub(crate) struct Shared {
    pub(crate) searcher: Searcher<'static>,
    pub(crate) options: ServeOptions,
    pub(crate) slots: limits::Slots,
    pub(crate) searches: Arc<tokio::sync::Semaphore>,
    /// Raised at shutdown: generation in flight stops at its next token.
    pub(crate) stopping: Arc<AtomicBool>,
    pub(crate) started: std::time::Instant,
    pub(crate) metrics: metrics::Metrics,
    /// The writing side, when ingest is enabled.
    pub(crate) ingestion: Option<ingest::Ingestion>,
    /// The named indexes (on the default index's state only).
    pub(crate) named: Vec<(String, Arc<Shared>)>,
}

impl Shared {
    fn engine(&self) -> &Engine {
        self.searcher.engine()
    }
}

/// Serves `engine` until SIGTERM or `cancel`; `on_ready` is told the bound address once requests are taken.
///
/// Loads the models and opens the index before binding (a server that answers is ready), refuses to listen
/// beyond loopback without an API key, and returns once shutdown has finished.
pub fn run(engine: Engine, options: ServeOptions, cancel: Cancel, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    if !options.bind.ip().is_loopback() && options.api_keys.is_empty() {
        return Err(Error::Config(format!(
            "refusing to listen on {} without an API key: anyone who can reach it could use it. Set \
             RAG_SERVE_API_KEYS or serve.api_keys_file, or bind to 127.0.0.1",
            options.bind
        )));
    }
    engine.generator()?;
    let (runtime, shared) = prepare(engine, options, &cancel)?;
    let app = router(shared.clone());
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(shared.options.bind)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", shared.options.bind)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", shared.options.bind)))?;
        on_ready(local);
        let stopping = shared.stopping.clone();
        let signal = async move {
            wait_for_stop(cancel).await;
            tracing::info!("shutting down: no new connections; generation in flight is stopped");
            stopping.store(true, Ordering::SeqCst);
        };
        let server = axum::serve(listener, app).with_graceful_shutdown(signal);
        let grace = shared.options.shutdown_grace;
        let stopping = shared.stopping.clone();
        let stopped = tokio::select! {
            result = server => result.map_err(|e| Error::Config(format!("server: {e}"))),
            () = async {
                while !stopping.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("requests still open after {grace:?}: closing them");
                Ok(())
            }
        };
        // A running ingest job stops at its next file and commits what it did; queued ones do not start.
        for index in std::iter::once(&shared).chain(shared.named.iter().map(|(_, s)| s)) {
            if let Some(ingestion) = &index.ingestion {
                ingestion.stop(grace);
            }
        }
        stopped
    })
}

/// Serves the MCP tools over stdin and stdout (`rag mcp`) until the client closes them, SIGTERM or `cancel`,
/// with the server's slots, limits and ingest rule (`serve.*`). The generator loads at the first `ask`, so the
/// server answers `initialize` at once.
///
/// An index that cannot be opened yet (none built) does not stop the server: every tool answers a tool error
/// that says why, and the next call tries again, so an agent configured before the first `rag ingest` works
/// once it has run.
pub fn run_mcp_stdio(engine: Engine, options: ServeOptions, cancel: Cancel) -> Result<()> {
    let engine: &'static Engine = Box::leak(Box::new(engine));
    let runtime = runtime(&options)?;
    let grace = options.shutdown_grace;
    let ingest = !options.ingest_roots.is_empty();
    let opener = {
        let cancel = cancel.clone();
        move || state(engine, options.clone(), &cancel)
    };
    let opened = mcp::Opened::new(opener);
    let result = runtime.block_on(mcp::serve_stdio(opened.clone(), ingest, cancel));
    if let Some(shared) = opened.get() {
        for index in std::iter::once(&shared).chain(shared.named.iter().map(|(_, s)| s)) {
            if let Some(ingestion) = &index.ingestion {
                ingestion.stop(grace);
            }
        }
    }
    result
}

/// The runtime and the state every request shares: the engine for the life of the process, its index (and
/// the named ones) opened, the slots and permits.
fn prepare(engine: Engine, options: ServeOptions, cancel: &Cancel) -> Result<(tokio::runtime::Runtime, Arc<Shared>)> {
    // One engine for the life of the process, shared by every request.
    let engine: &'static Engine = Box::leak(Box::new(engine));
    let runtime = runtime(&options)?;
    Ok((runtime, state(engine, options, cancel)?))
}

/// The server's runtime: two async workers; blocking threads for the slots, the searches and a few more.
fn runtime(options: &ServeOptions) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(options.slots + options.searches + 4)
        .thread_name("rag-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the server runtime: {e}")))
}

/// The state every request shares: `engine`'s index (and the named ones) opened, the slots and permits.
fn state(engine: &'static Engine, options: ServeOptions, cancel: &Cancel) -> Result<Arc<Shared>> {
    let cancel = cancel.clone();
    let (searcher, ingestion) = open(engine, &options, &cancel)?;
    let shared = Arc::new(Shared {
        slots: limits::Slots::new(options.slots, options.queue),
        searches: Arc::new(tokio::sync::Semaphore::new(options.searches)),
        stopping: Arc::new(AtomicBool::new(false)),
        started: std::time::Instant::now(),
        metrics: metrics::Metrics::default(),
        ingestion,
        searcher,
        options,
        named: Vec::new(),
    });
    let mut named = Vec::new();
    for (name, spec) in &shared.options.indexes {
        if name == "default"
            || name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Config(format!(
                "serve.indexes: {name:?} is not a valid name (letters, digits, `-`, `_`)"
            )));
        }
        let mut config = engine.config().clone();
        config.index.set_location(spec)?;
        // The models are the default engine's: one generator, one set of slots for every index.
        let other = Engine::with_components(config, engine.embedder()?, engine.chunker()?, Some(engine.generator()?))?;
        let other: &'static Engine = Box::leak(Box::new(other));
        let (searcher, ingestion) =
            open(other, &shared.options, &cancel).map_err(|e| Error::Config(format!("index {name:?}: {e}")))?;
        named.push((
            name.clone(),
            Arc::new(Shared {
                searcher,
                ingestion,
                options: shared.options.clone(),
                slots: shared.slots.clone(),
                searches: shared.searches.clone(),
                stopping: shared.stopping.clone(),
                started: shared.started,
                metrics: shared.metrics.clone(),
                named: Vec::new(),
            }),
        ));
    }
    let shared = match Arc::try_unwrap(shared) {
        Ok(mut alone) => {
            alone.named = named;
            Arc::new(alone)
        }
        Err(_) => return Err(Error::Config("server state is shared before start".into())),
    };
    Ok(shared)
}

/// Resolves on SIGTERM, or once `cancel` is raised (the binary's Ctrl-C handler).
async fn wait_for_stop(cancel: Cancel) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let tick = tokio::time::sleep(Duration::from_millis(100));
        match term.as_mut() {
            Some(term) => {
                tokio::select! {
                    _ = term.recv() => return,
                    () = tick => {}
                }
            }
            None => tick.await,
        }
    }
}

/// The searcher of `engine`'s index and, with ingest enabled, the writing side: then the server writes the
/// index, and searches go through the same handle.
fn open(
    engine: &'static Engine,
    options: &ServeOptions,
    cancel: &Cancel,
) -> Result<(Searcher<'static>, Option<ingest::Ingestion>)> {
    if options.ingest_roots.is_empty() {
        return Ok((engine.searcher()?, None));
    }
    let ingestion = ingest::Ingestion::start(engine, &options.ingest_roots, cancel.clone())?;
    Ok((engine.searcher_over(Box::new(ingestion.index()))?, Some(ingestion)))
}

/// The endpoints of one index, behind the key check: at `/v1/...` for the default index and at
/// `/v1/indexes/NAME/...` for each named one.
fn index_routes(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/status", get(routes::status))
        .route("/search", post(routes::search))
        .route("/ask", post(routes::ask))
        .route("/models", get(openai::models))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/ingest", post(ingest::start))
        .route("/ingest/{id}", get(ingest::progress))
        .route("/documents", delete(ingest::remove))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
}

fn router(shared: Arc<Shared>) -> Router {
    let mut api = Router::new().nest("/v1", index_routes(shared.clone())).route(
        "/v1/indexes",
        get(routes::indexes).route_layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate)),
    );
    for (name, named) in &shared.named {
        api = api.nest(&format!("/v1/indexes/{name}"), index_routes(named.clone()));
    }
    // MCP over streamable HTTP, on the default index, behind the same keys, slots and limits.
    let mcp = Router::new()
        .nest_service("/mcp", mcp::http_service(shared.clone()))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(metrics::metrics))
        .merge(api)
        .merge(mcp)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), metrics::record))
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(shared.options.max_body_bytes))
        .with_state(shared)
}

/// Bearer authentication, keys compared in constant time; the key is never logged.
async fn authenticate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if shared.options.api_keys.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let mut ok = false;
    for key in &shared.options.api_keys {
        ok |= constant_time_eq(given.as_bytes(), key.expose().as_bytes());
    }
    if ok {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Runs blocking engine work on the blocking pool; a panic becomes a 500 and a log line, never a crash.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            tracing::error!("a request panicked: {e}");
            Err(ApiError::internal(
                "internal error (the request panicked; the server goes on)",
            ))
        }
        Err(e) => Err(ApiError::internal(format!("request task: {e}"))),
    }
}

/// Set when dropped: the handler's future was dropped (the client went away), so its work should stop.
pub(crate) struct DropFlag(pub(crate) Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn keys_come_from_the_environment_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# ops\nk-file\n\n").unwrap();
        let config = ServeConfig {
            api_keys_file: Some(file),
            ..ServeConfig::default()
        };
        let options = ServeOptions::from_config(&config, Some(" k1, k2 ,")).unwrap();
        let keys: Vec<&str> = options.api_keys.iter().map(|k| k.expose()).collect();
        assert_eq!(keys, ["k1", "k2", "k-file"]);
        assert!(!format!("{options:?}").contains("k-file"));
    }
}
