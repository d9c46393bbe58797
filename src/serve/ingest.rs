//! `POST /v1/ingest`, `GET /v1/ingest/{id}`, `DELETE /v1/documents`: changing the index while it serves.
//!
//! Off unless the operator names the folders clients may ingest from (`serve.ingest_roots`): a path is
//! accepted only when its canonical form (symlinks resolved) lies under the canonical form of one of them, so
//! no request reaches an arbitrary server path. Then the server opens the index for writing once and searches
//! through the same handle ([`rag_indexes::SharedIndex`]): each search waits for at most one write call, never
//! for a whole ingest. Jobs run one at a time on their own thread, in the order they came; a job's progress
//! (files, chunks done of the estimated total) and its report are at `GET /v1/ingest/{id}`. Deleting documents
//! waits for no job: it is refused with 409 while one runs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::routes::ApiJson;
use super::{blocking, ApiError, Shared};
use crate::progress::{Cancel, Progress};
use crate::Engine;

/// Finished jobs kept for `GET /v1/ingest/{id}` (the oldest are forgotten first).
const KEPT_JOBS: usize = 256;

/// The server's writing side: the shared index, the allowed roots, and the job table.
pub(crate) struct Ingestion {
    index: rag_indexes::SharedIndex,
    roots: Vec<PathBuf>,
    jobs: Mutex<VecDeque<Arc<JobState>>>,
    next_id: AtomicU64,
    /// Jobs to the job thread; taken at shutdown, which ends the thread after its current job.
    queue: Mutex<Option<std::sync::mpsc::Sender<Arc<JobState>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Held by the running job and by a deletion, so the two never interleave.
    writer: Arc<Mutex<()>>,
    /// Raised at shutdown: the running job stops at its next file and commits.
    cancel: Cancel,
}

/// Where a job is.
#[derive(Debug, Clone)]
enum Phase {
    Queued,
    Running,
    /// Finished, with its report (as JSON).
    Done(Value),
    Failed(String),
}

impl Phase {
    fn json(&self) -> Value {
        match self {
            Phase::Queued => json!({"state": "queued"}),
            Phase::Running => json!({"state": "running"}),
            Phase::Done(report) => json!({"state": "done", "report": report}),
            Phase::Failed(error) => json!({"state": "failed", "error": error}),
        }
    }
}

/// One ingest job, as `GET /v1/ingest/{id}` shows it.
pub(crate) struct JobState {
    id: String,
    paths: Vec<PathBuf>,
    phase: Mutex<Phase>,
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress for JobState {
    fn start(&self, _label: &str, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

impl Ingestion {
    /// Opens the index for writing and starts the job thread; `roots` must exist.
    pub(crate) fn start(engine: &'static Engine, roots: &[PathBuf], cancel: Cancel) -> crate::Result<Ingestion> {
        let roots = roots
            .iter()
            .map(|r| r.canonicalize().map_err(|e| crate::Error::io(r, e)))
            .collect::<crate::Result<Vec<_>>>()?;
        let index = engine.open_shared()?;
        let (queue, jobs) = std::sync::mpsc::channel::<Arc<JobState>>();
        let writer = Arc::new(Mutex::new(()));
        let (mut job_index, job_writer, job_cancel) = (index.clone(), writer.clone(), cancel.clone());
        let thread = std::thread::Builder::new()
            .name("rag-ingest".into())
            .spawn(move || {
                for job in jobs {
                    let _turn = job_writer.lock().unwrap_or_else(|e| e.into_inner());
                    if job_cancel.is_cancelled() {
                        job.set(Phase::Failed("the server stopped before the job started".into()));
                        continue;
                    }
                    job.set(Phase::Running);
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        engine.ingest_into(&mut job_index, &job.paths, &*job, &job_cancel)
                    }));
                    job.set(match result {
                        Ok(Ok(report)) => Phase::Done(crate::json::ingest_report(&report)),
                        Ok(Err(e)) => Phase::Failed(e.to_string()),
                        Err(_) => Phase::Failed("the ingest panicked (the server goes on)".into()),
                    });
                }
            })
            .map_err(|e| crate::Error::Config(format!("cannot start the ingest thread: {e}")))?;
        Ok(Ingestion {
            index,
            roots,
            jobs: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
            writer,
            cancel,
        })
    }

    /// Jobs queued and running, and the running job's chunks done and estimated total.
    pub(crate) fn gauges(&self) -> (usize, usize, u64, u64) {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let queued = jobs.iter().filter(|j| matches!(j.phase(), Phase::Queued)).count();
        let running: Vec<&Arc<JobState>> = jobs.iter().filter(|j| matches!(j.phase(), Phase::Running)).collect();
        let (done, total) = running.first().map_or((0, 0), |j| {
            (j.done.load(Ordering::Relaxed), j.total.load(Ordering::Relaxed))
        });
        (queued, running.len(), done, total)
    }

    /// Stops the running job at its next file (it commits what it has done) and waits for it, at most
    /// `grace`; jobs still queued do not start.
    pub(crate) fn stop(&self, grace: std::time::Duration) {
        self.cancel.cancel();
        // Without its sender the job thread ends once the jobs already queued are marked failed.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let deadline = std::time::Instant::now() + grace;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("the running ingest job did not stop within {grace:?}");
        }
    }

    /// The index, for the searcher.
    pub(crate) fn index(&self) -> rag_indexes::SharedIndex {
        self.index.clone()
    }

    /// `path` made canonical, if it lies under an allowed root.
    fn allowed(&self, path: &str) -> Result<PathBuf, ApiError> {
        let given = Path::new(path);
        if !given.is_absolute() {
            return Err(ApiError::bad_request(format!("{path:?}: give an absolute path")));
        }
        let canonical = given
            .canonicalize()
            .map_err(|e| ApiError::bad_request(format!("{path:?}: {e}")))?;
        if self.roots.iter().any(|root| canonical.starts_with(root)) {
            Ok(canonical)
        } else {
            Err(forbidden(path))
        }
    }

    /// `path` for a deletion: canonical when it exists; when it does not (a file deleted from disk), its
    /// spelling must still lie under a root, and contain no `..`.
    fn allowed_to_remove(&self, path: &str) -> Result<PathBuf, ApiError> {
        let given = Path::new(path);
        if given.exists() {
            return self.allowed(path);
        }
        if !given.is_absolute() || given.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(ApiError::bad_request(format!(
                "{path:?}: give an absolute path without `..`"
            )));
        }
        let parent_ok = given
            .ancestors()
            .find(|a| a.exists())
            .and_then(|a| a.canonicalize().ok())
            .is_some_and(|a| self.roots.iter().any(|root| a.starts_with(root)));
        if parent_ok {
            Ok(given.to_path_buf())
        } else {
            Err(forbidden(path))
        }
    }
}

fn forbidden(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        format!("{path:?} is not under a folder this server may ingest from (serve.ingest_roots)"),
    )
}

impl JobState {
    fn phase(&self) -> Phase {
        self.phase.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }
}

fn view(job: &JobState) -> Value {
    let mut value = job.phase().json();
    value["id"] = json!(job.id);
    value["paths"] = json!(job.paths);
    value["progress"] = json!({
        "chunks_done": job.done.load(Ordering::Relaxed),
        "chunks_total": job.total.load(Ordering::Relaxed),
    });
    value
}

fn enabled(shared: &Shared) -> Result<&Ingestion, ApiError> {
    shared.ingestion.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "ingest is not enabled on this server: the operator sets serve.ingest_roots",
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathsRequest {
    paths: Vec<String>,
}

fn checked_paths(
    request: &PathsRequest,
    check: impl Fn(&str) -> Result<PathBuf, ApiError>,
) -> Result<Vec<PathBuf>, ApiError> {
    if request.paths.is_empty() || request.paths.len() > 1000 {
        return Err(ApiError::bad_request("`paths` must hold 1 to 1000 paths"));
    }
    request.paths.iter().map(|p| check(p)).collect()
}

/// `POST /v1/ingest {"paths": [...]}`: 202 with the job's id; the job runs in the background.
pub(crate) async fn start(State(shared): State<Arc<Shared>>, ApiJson(request): ApiJson<PathsRequest>) -> Response {
    match submit(&shared, &request.paths) {
        Ok(job) => (StatusCode::ACCEPTED, Json(view(&job))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Queues an ingest job of `paths` (absolute, under an allowed root): the job, queued.
pub(crate) fn submit(shared: &Shared, paths: &[String]) -> Result<Arc<JobState>, ApiError> {
    let ingestion = enabled(shared)?;
    let paths = checked_paths(&PathsRequest { paths: paths.to_vec() }, |p| ingestion.allowed(p))?;
    let id = format!("ingest-{}", ingestion.next_id.fetch_add(1, Ordering::Relaxed));
    let job = Arc::new(JobState {
        id,
        paths,
        phase: Mutex::new(Phase::Queued),
        done: AtomicU64::new(0),
        total: AtomicU64::new(0),
    });
    {
        let mut jobs = ingestion.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.len() >= KEPT_JOBS {
            jobs.pop_front();
        }
        jobs.push_back(job.clone());
    }
    let queue = ingestion.queue.lock().unwrap_or_else(|e| e.into_inner());
    if queue.as_ref().is_none_or(|q| q.send(job.clone()).is_err()) {
        job.set(Phase::Failed("the server is stopping".into()));
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is stopping: no new ingest jobs",
        ));
    }
    Ok(job)
}

impl JobState {
    /// Whether the job has ended (done or failed).
    pub(crate) fn ended(&self) -> bool {
        matches!(self.phase(), Phase::Done(_) | Phase::Failed(_))
    }

    /// The job as `GET /v1/ingest/{id}` shows it.
    pub(crate) fn view(&self) -> Value {
        view(self)
    }
}

/// `GET /v1/ingest/{id}`: state (`queued`, `running`, `done`, `failed`), progress, and the report when done.
pub(crate) async fn progress(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let ingestion = enabled(&shared)?;
    let jobs = ingestion.jobs.lock().unwrap_or_else(|e| e.into_inner());
    jobs.iter()
        .find(|job| job.id == id)
        .map(|job| Json(view(job)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no ingest job {id:?}")))
}

/// `DELETE /v1/documents {"paths": [...]}`: removes the indexed files at or under each path from the index
/// (never from disk); 409 while an ingest job runs.
pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    ApiJson(request): ApiJson<PathsRequest>,
) -> Result<Json<Value>, ApiError> {
    let ingestion = enabled(&shared)?;
    let paths = checked_paths(&request, |p| ingestion.allowed_to_remove(p))?;
    let work = shared.clone();
    let removed = blocking(move || {
        let Some(ingestion) = work.ingestion.as_ref() else {
            return Err(ApiError::internal("ingest is not enabled"));
        };
        let Ok(_turn) = ingestion.writer.try_lock() else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "an ingest job is running: retry once it is done",
            ));
        };
        let mut index = ingestion.index();
        let mut removed = Vec::new();
        for path in &paths {
            removed.extend(
                work.engine()
                    .remove_documents(&mut index, path)
                    .map_err(ApiError::engine)?,
            );
        }
        Ok(removed)
    })
    .await?;
    Ok(Json(json!({"removed": removed})))
}
