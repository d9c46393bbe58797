//! Ingest: walk the given paths, load and chunk changed files in parallel, embed, and write to the index.
//!
//! One bad file never stops the run: it becomes an [`IngestFailure`] naming the file and the reason, and the
//! rest goes on. Unsupported files are skipped and listed. Unchanged files (same size and modification time,
//! or same content hash) are not re-read or re-embedded; files under a directory root that disappeared are
//! removed from the index. Work is committed in batches, each commit followed by the manifest, so a crash
//! loses at most the batch in flight.

pub mod chunk;
pub mod flag;
pub mod manifest;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rag_indexes::{Payload, Record, VectorIndex};
use sha2::{Digest, Sha256};

use crate::chunk::{Chunk, Chunker};
use crate::embed::Embedder;
use crate::error::Result;
use crate::manifest::{FileEntry, Manifest};
use crate::progress::{Cancel, Progress};
pub(crate) use walk::WalkRules;
use walk::{walk, Candidate};

/// Present in the index directory while an ingest runs; found at the start of the next one, it means the last
/// run ended without its final commit, and the index is checked against the manifest.
const DIRTY_FILE: &str = "ingest.unfinished";

/// Files larger than this are refused (a per-file memory bound).
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// Supported files found under the paths.
    pub n_files: usize,
    /// Files (re-)indexed in this run.
    pub n_indexed: usize,
    /// Files unchanged since the last ingest.
    pub n_unchanged: usize,
    /// Files removed from the index because they no longer exist.
    pub n_removed: usize,
    /// Files recognised by content as moved or renamed: their vectors were reused, nothing re-embedded.
    pub n_renamed: usize,
    /// Chunks written in this run.
    pub n_chunks: usize,
    /// Of those, chunks that went through the embedder (the rest reused stored vectors of identical text).
    pub n_embedded: usize,
    /// Chunks in the index afterwards.
    pub n_chunks_total: usize,
    /// Files and folders left out (unsupported, hidden, ignored by an ignore file or a glob, ...), with the
    /// reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// How many of `skipped` each rule left out (`walk::rule`: "hidden", "ignore file", "glob",
    /// "unsupported", ...).
    pub skipped_by: std::collections::BTreeMap<String, usize>,
    /// Files that failed, with the reason.
    pub failures: Vec<IngestFailure>,
    /// Files with chunks that read like instructions to a model (flagged, see `ingest::flag`), with how many.
    pub flagged: Vec<(PathBuf, String)>,
    /// Files indexed with a warning (for example a fallback text encoding).
    pub warnings: Vec<(PathBuf, String)>,
    /// Wall time.
    pub elapsed: Duration,
    /// Time spent in the embedder.
    pub embed_time: Duration,
    /// Peak resident memory of the process so far, where the platform reports it (Linux).
    pub peak_rss_bytes: Option<u64>,
    /// Records removed at the start because no manifest entry named them (left by an ingest that failed or was
    /// killed), plus files whose records were incomplete and are indexed again.
    pub n_repaired: usize,
    /// The run was cancelled: what was done is committed, the rest is left for the next run.
    pub interrupted: bool,
}

/// A file that could not be ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestFailure {
    /// The file.
    pub path: PathBuf,
    /// Why, in words that name the cause.
    pub reason: String,
}

impl IngestReport {
    /// True when some file failed: the documented exit status is then "partial".
    pub fn is_partial(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// A file to consider, found by the walk.
/// A loaded, chunked file ready to embed.
struct Prepared {
    key: String,
    path: PathBuf,
    kind: String,
    title: Option<String>,
    chunking: String,
    hash: String,
    size: u64,
    mtime_ns: u128,
    chunks: Vec<Chunk>,
    chunk_hashes: Vec<String>,
    warnings: Vec<String>,
}

enum Outcome {
    Unchanged,
    Ready(Box<Prepared>),
    Failed(IngestFailure),
    /// Read, with nothing to index (an image without text); what the index held for it stays.
    Skipped(PathBuf, String),
}

/// A prepared file waiting for its missing vectors.
struct Pending {
    prepared: Box<Prepared>,
    vectors: Vec<Option<Vec<f32>>>,
    renamed_from: Option<String>,
}

/// The pieces ingest works with.
pub(crate) struct Ingest<'a> {
    pub(crate) index: &'a mut dyn VectorIndex,
    pub(crate) embedder: &'a dyn Embedder,
    pub(crate) chunker: Arc<dyn Chunker>,
    pub(crate) batch_size: usize,
    pub(crate) commit_chunks: usize,
    /// Chunks gathered across files, sorted by length and embedded together.
    pub(crate) embed_window: usize,
    /// Threads reading and chunking files.
    pub(crate) workers: usize,
    /// Longest a single file may take to read and chunk before it is reported and abandoned.
    pub(crate) file_timeout: Duration,
    /// Most chunks one file may give.
    pub(crate) max_chunks: usize,
    pub(crate) progress: &'a dyn Progress,
    /// What the walk leaves out.
    pub(crate) rules: WalkRules,
    /// Raised to stop: the files done so far are committed.
    pub(crate) cancel: &'a Cancel,
}

impl Ingest<'_> {
    /// The pipeline: the walk lists the files; loader threads read, hash, parse and chunk them in parallel and
    /// hand them over through a bounded channel; this thread gathers chunks across files into a window, embeds
    /// the window sorted by length (less padding), and writes each file's records once all its vectors are
    /// there, committing every `commit_chunks` chunks. Memory holds the window and the files in flight, not
    /// the corpus.
    pub(crate) fn run(mut self, roots: &[PathBuf]) -> Result<IngestReport> {
        let started = Instant::now();
        let mut report = IngestReport::default();
        let mut manifest = Manifest::load(&*self.index)?;
        let dirty = self.index.read_state(DIRTY_FILE)?.is_some();
        if dirty || self.index.count()? as u64 != manifest.n_chunks() {
            report.n_repaired = self.reconcile(&mut manifest)?;
        }
        self.index.write_state(
            DIRTY_FILE,
            b"an ingest is running, or stopped before its final commit\n",
        )?;
        let local_dir = self.index.local_dir().map(Path::to_path_buf);
        let walked = walk(roots, local_dir.as_deref(), &self.rules, &mut report);
        let excluded = walked.excluded;
        let candidates = walked.candidates;
        report.n_files = candidates.len();
        let seen: HashSet<String> = candidates.iter().map(|c| c.key.clone()).collect();
        // Indexed files no longer present: by content hash, the sources a new file may have been renamed from.
        let mut gone_by_hash: HashMap<String, String> = manifest
            .files
            .iter()
            .filter(|(key, _)| !seen.contains(*key) && !Path::new(key.as_str()).exists())
            .map(|(key, entry)| (entry.hash.clone(), key.clone()))
            .collect();

        self.progress.start("chunks", 0);
        let jobs: Vec<Job> = candidates
            .into_iter()
            .map(|c| Job {
                previous: manifest.files.get(&c.key).cloned(),
                candidate: c,
            })
            .collect();
        let loader = Loader::start(
            jobs,
            self.chunker.clone(),
            self.workers,
            self.file_timeout,
            self.max_chunks,
        );
        let mut total_chunks = 0u64;
        let mut uncommitted = 0usize;
        let mut pending: Vec<Pending> = Vec::new();
        let mut window = 0usize;
        let mut in_flight = 0usize;
        let mut files_seen = 0u64;
        for outcome in loader {
            if self.cancel.is_cancelled() {
                report.interrupted = true;
                break;
            }
            files_seen += 1;
            match outcome {
                Outcome::Unchanged => report.n_unchanged += 1,
                Outcome::Skipped(path, reason) => walk::skip(&mut report, path, walk::rule::NO_TEXT, reason),
                Outcome::Failed(failure) => {
                    self.progress.note(&format!("failed: {}", failure.reason));
                    report.failures.push(failure);
                }
                Outcome::Ready(prepared) => {
                    total_chunks += prepared.chunks.len() as u64;
                    // Until every file is chunked, the total is extrapolated from the files seen so far, so
                    // the rate and ETA mean something from the start.
                    let estimate = total_chunks * report.n_files as u64 / files_seen.max(1);
                    self.progress.set_total(estimate.max(total_chunks));
                    for warning in &prepared.warnings {
                        report.warnings.push((prepared.path.clone(), warning.clone()));
                    }
                    match self.reuse_vectors(prepared, &manifest, &mut gone_by_hash) {
                        Ok(p) => {
                            window += p.vectors.iter().filter(|v| v.is_none()).count();
                            in_flight += p.vectors.len();
                            pending.push(p);
                        }
                        Err(failure) => {
                            self.progress.note(&format!("failed: {}", failure.reason));
                            report.failures.push(failure);
                        }
                    }
                    // A full window is embedded; so is what the next commit is due to include.
                    if window >= self.embed_window.max(1) || uncommitted + in_flight >= self.commit_chunks.max(1) {
                        uncommitted += self.flush(&mut pending, &mut manifest, &mut report);
                        window = 0;
                        in_flight = 0;
                    }
                    if uncommitted >= self.commit_chunks.max(1) {
                        self.index.commit()?;
                        manifest.save(&mut *self.index)?;
                        uncommitted = 0;
                    }
                }
            }
        }
        self.flush(&mut pending, &mut manifest, &mut report);
        report.interrupted |= self.cancel.is_cancelled();

        // Files under a directory root (or given explicitly) that no longer exist leave the index, and so do the
        // ones a hidden, ignore-file or glob rule now leaves out (not after a cancellation: the walk's view may be
        // incomplete). A file that exists but was not reached (an unreadable folder) stays.
        let root_keys: Vec<String> = roots.iter().map(|r| root_key(r)).collect();
        let gone: Vec<String> = manifest
            .files
            .keys()
            .filter(|_| !report.interrupted)
            .filter(|key| !seen.contains(*key))
            .filter(|key| root_keys.iter().any(|root| is_under(key, root)))
            .filter(|key| !Path::new(key.as_str()).exists() || excluded.iter().any(|e| is_under(key, e)))
            .cloned()
            .collect();
        for key in gone {
            self.index.delete_source(&key)?;
            manifest.files.remove(&key);
            report.n_removed += 1;
        }
        self.index.commit()?;
        manifest.save(&mut *self.index)?;
        self.index.remove_state(DIRTY_FILE)?;
        self.progress.finish();
        report.n_chunks_total = self.index.count()?;
        report.elapsed = started.elapsed();
        report.peak_rss_bytes = crate::device::peak_rss_bytes();
        Ok(report)
    }

    /// Makes the index and the manifest agree: records that no manifest entry names (another file version, a
    /// chunk number past the file's count, a file the manifest never recorded) are deleted, and a file whose
    /// records are not all there leaves the manifest so this run indexes it again. Returns how many records
    /// and files were repaired.
    fn reconcile(&mut self, manifest: &mut Manifest) -> Result<usize> {
        let keys = self.index.keys()?;
        let mut stale: Vec<u64> = Vec::new();
        let mut present: HashMap<&str, (HashSet<u32>, Vec<u64>)> = HashMap::new();
        for key in &keys {
            let named = manifest.files.get(&key.source).is_some_and(|entry| {
                entry.hash == key.doc_hash
                    && key.chunk_idx < entry.n_chunks
                    && key.id == chunk_id(&key.source, key.chunk_idx)
            });
            if named {
                let (chunks, ids) = present.entry(key.source.as_str()).or_default();
                chunks.insert(key.chunk_idx);
                ids.push(key.id);
            } else {
                stale.push(key.id);
            }
        }
        let incomplete: Vec<String> = manifest
            .files
            .iter()
            .filter(|(key, entry)| present.get(key.as_str()).map_or(0, |(c, _)| c.len()) != entry.n_chunks as usize)
            .map(|(key, _)| key.clone())
            .collect();
        let repaired = stale.len() + incomplete.len();
        for key in &incomplete {
            if let Some((_, ids)) = present.remove(key.as_str()) {
                stale.extend(ids);
            }
            manifest.files.remove(key);
        }
        if !stale.is_empty() || !incomplete.is_empty() {
            tracing::info!(
                "index repaired: {} records no manifest entry named, {} files incomplete",
                stale.len(),
                incomplete.len()
            );
            self.index.delete_ids(&stale)?;
            self.index.commit()?;
            manifest.save(&mut *self.index)?;
        }
        Ok(repaired)
    }

    /// Looks up the vectors already stored for identical chunk text: this file's previous version, or, for a
    /// file that appeared with the content of one that disappeared, the file it was renamed from.
    fn reuse_vectors(
        &mut self,
        prepared: Box<Prepared>,
        manifest: &Manifest,
        gone_by_hash: &mut HashMap<String, String>,
    ) -> std::result::Result<Pending, IngestFailure> {
        // Each vanished file is claimed by at most one new file.
        let renamed_from = if manifest.files.contains_key(&prepared.key) {
            None
        } else {
            gone_by_hash.remove(&prepared.hash)
        };
        let reuse_source = renamed_from.as_deref().unwrap_or(&prepared.key);
        let stored: HashMap<String, Vec<f32>> = if manifest.files.contains_key(reuse_source) {
            self.index
                .chunk_vectors(reuse_source)
                .map_err(|e| IngestFailure {
                    path: prepared.path.clone(),
                    reason: format!("{}: {e}", prepared.path.display()),
                })?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let vectors: Vec<Option<Vec<f32>>> = prepared.chunk_hashes.iter().map(|h| stored.get(h).cloned()).collect();
        let reused = vectors.iter().filter(|v| v.is_some()).count();
        self.progress.advance(reused as u64);
        Ok(Pending {
            prepared,
            vectors,
            renamed_from,
        })
    }

    /// Embeds every missing vector of the pending files, sorted by length across files, then writes the files.
    /// Returns the chunks written.
    fn flush(&mut self, pending: &mut Vec<Pending>, manifest: &mut Manifest, report: &mut IngestReport) -> usize {
        let mut missing: Vec<(usize, usize)> = pending
            .iter()
            .enumerate()
            .flat_map(|(f, p)| {
                (0..p.vectors.len())
                    .filter(move |&c| p.vectors[c].is_none())
                    .map(move |c| (f, c))
            })
            .collect();
        // Similar lengths share a batch, so the embedder pads little.
        missing.sort_by_key(|&(f, c)| pending[f].prepared.chunks[c].indexed_text().len());
        let mut failed: HashMap<usize, String> = HashMap::new();
        for batch in missing.chunks(self.batch_size.max(1)) {
            if self.cancel.is_cancelled() {
                // Files still missing vectors are left for the next run; complete ones are written below.
                break;
            }
            let indexed: Vec<std::borrow::Cow<'_, str>> = batch
                .iter()
                .map(|&(f, c)| pending[f].prepared.chunks[c].indexed_text())
                .collect();
            let texts: Vec<&str> = indexed.iter().map(|t| t.as_ref()).collect();
            let started = Instant::now();
            match self.embedder.embed(&texts) {
                Ok(vectors) => {
                    report.n_embedded += vectors.len().min(batch.len());
                    for (&(f, c), vector) in batch.iter().zip(vectors) {
                        pending[f].vectors[c] = Some(vector);
                    }
                }
                Err(e) => {
                    for &(f, _) in batch {
                        failed.entry(f).or_insert_with(|| e.to_string());
                    }
                }
            }
            report.embed_time += started.elapsed();
            self.progress.advance(batch.len() as u64);
        }
        let mut written = 0;
        for (f, p) in pending.drain(..).enumerate() {
            let path = p.prepared.path.clone();
            let fail = |reason: String| IngestFailure {
                reason: format!("{}: {reason}", path.display()),
                path: path.clone(),
            };
            if p.vectors.iter().any(Option::is_none) && !failed.contains_key(&f) {
                // Cancelled before its vectors were computed: not written, not in the manifest.
                continue;
            }
            let result = match failed.remove(&f) {
                Some(reason) => Err(fail(reason)),
                None => self.store(p, manifest, report).map_err(fail),
            };
            match result {
                Ok(n) => written += n,
                Err(failure) => {
                    self.progress.note(&format!("failed: {}", failure.reason));
                    report.failures.push(failure);
                }
            }
        }
        written
    }

    /// Writes one file's records, replacing whatever the index held for it. Returns the chunks written.
    fn store(
        &mut self,
        pending: Pending,
        manifest: &mut Manifest,
        report: &mut IngestReport,
    ) -> std::result::Result<usize, String> {
        let Pending {
            prepared,
            vectors,
            renamed_from,
        } = pending;
        let prepared = *prepared;
        let mut records = Vec::with_capacity(prepared.chunks.len());
        for ((chunk, vector), chunk_hash) in prepared.chunks.into_iter().zip(vectors).zip(prepared.chunk_hashes) {
            let vector = vector.ok_or("embedder returned too few vectors")?;
            records.push(Record {
                id: chunk_id(&prepared.key, chunk.idx),
                vector,
                text: chunk.text,
                payload: Payload {
                    source: prepared.key.clone(),
                    kind: prepared.kind.clone(),
                    title: prepared.title.clone(),
                    chunk_idx: chunk.idx,
                    byte_start: chunk.location.byte_start,
                    byte_end: chunk.location.byte_end,
                    lines: chunk.location.lines,
                    pages: chunk.location.pages,
                    section: chunk.location.section,
                    context: chunk.context,
                    doc_hash: prepared.hash.clone(),
                    chunk_hash,
                    flagged: None,
                },
            });
        }
        let n_chunks = records.len();
        let mut flags: Vec<&'static str> = Vec::new();
        for record in &mut records {
            if let Some(rule) = flag::flag(&record.text) {
                record.payload.flagged = Some(rule.to_owned());
                flags.push(rule);
            }
        }
        if let Some(first) = flags.first() {
            report.flagged.push((
                prepared.path.clone(),
                format!(
                    "{} of {n_chunks} chunks read like instructions to a model (rule {first})",
                    flags.len()
                ),
            ));
        }
        self.index.delete_source(&prepared.key).map_err(|e| e.to_string())?;
        self.index.upsert(records).map_err(|e| e.to_string())?;
        manifest.files.insert(
            prepared.key.clone(),
            FileEntry {
                hash: prepared.hash,
                size: prepared.size,
                mtime_ns: prepared.mtime_ns,
                n_chunks: n_chunks as u32,
                kind: prepared.kind,
                chunking: prepared.chunking,
                ingested_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            },
        );
        if let Some(old) = renamed_from {
            self.index.delete_source(&old).map_err(|e| e.to_string())?;
            manifest.files.remove(&old);
            report.n_renamed += 1;
        }
        report.n_indexed += 1;
        report.n_chunks += n_chunks;
        Ok(n_chunks)
    }
}

/// One file for the loaders, with what the manifest knew of it.
struct Job {
    candidate: Candidate,
    previous: Option<FileEntry>,
}

/// Loader threads: read and chunk files in parallel, yielding outcomes in completion order through a bounded
/// channel (loaders wait while the embedder is behind). A file that takes longer than the time budget is
/// reported as failed and its thread abandoned (Rust cannot stop a thread; it finishes or dies with the
/// process) and replaced, so one pathological file cannot stall the run.
struct Loader {
    results: mpsc::Receiver<(usize, Outcome)>,
    sender: Option<mpsc::SyncSender<(usize, Outcome)>>,
    shared: Arc<LoaderShared>,
    chunker: Arc<dyn Chunker>,
    timeout: Duration,
    max_chunks: usize,
    remaining: usize,
}

struct LoaderShared {
    jobs: Mutex<std::vec::IntoIter<(usize, Job)>>,
    /// Per job: when a loader started it and which file it is.
    running: Mutex<HashMap<usize, (Instant, PathBuf)>>,
    /// Jobs given up on; their late results are dropped.
    abandoned: Mutex<HashSet<usize>>,
}

impl Loader {
    fn start(
        jobs: Vec<Job>,
        chunker: Arc<dyn Chunker>,
        workers: usize,
        timeout: Duration,
        max_chunks: usize,
    ) -> Loader {
        let remaining = jobs.len();
        let workers = workers.clamp(1, remaining.max(1));
        let (sender, results) = mpsc::sync_channel(workers * 2);
        let shared = Arc::new(LoaderShared {
            jobs: Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>().into_iter()),
            running: Mutex::new(HashMap::new()),
            abandoned: Mutex::new(HashSet::new()),
        });
        let mut loader = Loader {
            results,
            sender: Some(sender),
            shared,
            chunker,
            timeout,
            max_chunks,
            remaining,
        };
        for _ in 0..workers {
            loader.spawn_worker();
        }
        loader
    }

    fn spawn_worker(&mut self) {
        let Some(sender) = self.sender.clone() else { return };
        let shared = self.shared.clone();
        let chunker = self.chunker.clone();
        let max_chunks = self.max_chunks;
        let spawned = std::thread::Builder::new()
            .name("rag-loader".into())
            .spawn(move || loop {
                let next = lock(&shared.jobs).next();
                let Some((id, job)) = next else { return };
                lock(&shared.running).insert(id, (Instant::now(), job.candidate.path.clone()));
                let path = job.candidate.path.clone();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    prepare(&job.candidate, job.previous.as_ref(), &*chunker, max_chunks)
                }))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Outcome::Failed(IngestFailure {
                        reason: format!("{}: the loader crashed on this file: {what}", path.display()),
                        path,
                    })
                });
                lock(&shared.running).remove(&id);
                if lock(&shared.abandoned).contains(&id) || sender.send((id, outcome)).is_err() {
                    return;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a loader thread: {e}");
        }
    }

    /// Reports and abandons the jobs over the time budget; returns their failures.
    fn reap_overdue(&mut self) -> Vec<Outcome> {
        let overdue: Vec<(usize, PathBuf)> = lock(&self.shared.running)
            .iter()
            .filter(|(_, (since, _))| since.elapsed() > self.timeout)
            .map(|(&id, (_, path))| (id, path.clone()))
            .collect();
        let mut out = Vec::new();
        for (id, path) in overdue {
            if !lock(&self.shared.abandoned).insert(id) {
                continue;
            }
            lock(&self.shared.running).remove(&id);
            self.remaining -= 1;
            out.push(Outcome::Failed(IngestFailure {
                reason: format!(
                    "{}: reading and chunking took longer than {} s; abandoned",
                    path.display(),
                    self.timeout.as_secs_f64()
                ),
                path,
            }));
            self.spawn_worker();
        }
        out
    }
}

impl Iterator for Loader {
    type Item = Outcome;

    fn next(&mut self) -> Option<Outcome> {
        let mut overdue: Vec<Outcome> = Vec::new();
        loop {
            if let Some(outcome) = overdue.pop() {
                return Some(outcome);
            }
            if self.remaining == 0 {
                self.sender = None;
                return None;
            }
            match self.results.recv_timeout(Duration::from_millis(250).min(self.timeout)) {
                Ok((id, outcome)) => {
                    if lock(&self.shared.abandoned).contains(&id) {
                        continue;
                    }
                    self.remaining -= 1;
                    return Some(outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => overdue = self.reap_overdue(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Every loader is gone (could not start any): nothing more will come.
                    self.remaining = 0;
                }
            }
        }
    }
}

/// Locks a mutex, recovering the data if a thread panicked while holding it (the data are plain maps).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads, hashes, loads and chunks one file, unless the manifest shows it unchanged.
fn prepare(candidate: &Candidate, previous: Option<&FileEntry>, chunker: &dyn Chunker, max_chunks: usize) -> Outcome {
    let path = &candidate.path;
    let failed = |reason: String| {
        Outcome::Failed(IngestFailure {
            path: path.clone(),
            reason,
        })
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return failed(format!("{}: cannot read: {e}", path.display())),
    };
    if !metadata.is_file() {
        let what = file_type_name(&metadata.file_type());
        return failed(format!("{}: cannot read: not a regular file ({what})", path.display()));
    }
    let size = metadata.len();
    let mtime_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let chunking = chunker.fingerprint();
    // Chunked under other settings (or before they were recorded): chunked again, whatever its content.
    let previous = previous.filter(|p| p.chunking == chunking);
    if previous.is_some_and(|p| p.size == size && p.mtime_ns == mtime_ns) {
        return Outcome::Unchanged;
    }
    if size > MAX_FILE_BYTES {
        return failed(format!(
            "{}: file of {size} bytes is over the {MAX_FILE_BYTES}-byte limit",
            path.display()
        ));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return failed(format!("{}: cannot read: {e}", path.display())),
    };
    let hash = crate::models::hex(&Sha256::digest(&bytes));
    if previous.is_some_and(|p| p.hash == hash) {
        return Outcome::Unchanged;
    }
    let doc = match rag_connectors::load(path, &bytes) {
        Ok(doc) => doc,
        Err(e @ rag_connectors::Error::ImageNoText { .. }) => return Outcome::Skipped(path.clone(), e.to_string()),
        Err(e) => return failed(e.to_string()),
    };
    let Some(chunks) = chunker.chunk_at_most(&doc, max_chunks) else {
        return failed(format!(
            "{}: gives more than {max_chunks} chunks (ingest.max_chunks_per_file); not indexed",
            path.display()
        ));
    };
    if chunks.is_empty() {
        return failed(format!("{}: no text to index", path.display()));
    }
    let chunk_hashes = chunks
        .iter()
        .map(|c| crate::models::hex(&Sha256::digest(c.indexed_text().as_bytes())))
        .collect();
    Outcome::Ready(Box::new(Prepared {
        chunk_hashes,
        key: candidate.key.clone(),
        path: path.clone(),
        kind: doc.kind.name().to_owned(),
        title: doc.title.clone(),
        chunking,
        hash,
        size,
        mtime_ns,
        chunks,
        warnings: doc.warnings,
    }))
}

/// Names a file type that is not a regular file, for the report.
fn file_type_name(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// The key a file is stored under: its canonical absolute path (callers pass a canonicalised path), with `/`
/// separators and without `.` components, so one file has one key whichever spelling or working directory
/// reached it. Bytes of a name that are not UTF-8 are written `\xNN`, so distinct names keep distinct keys.
pub(crate) fn source_key(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::RootDir => String::new(),
            other => escape_name(other.as_os_str()),
        })
        .collect();
    if parts.is_empty() {
        ".".into()
    } else if parts == [""] {
        "/".into()
    } else {
        parts.join("/")
    }
}

/// Removes the files at or under `path` from `index` and its manifest (never from disk); returns their keys.
pub(crate) fn remove(index: &mut dyn VectorIndex, path: &Path) -> Result<Vec<String>> {
    let root = root_key(path);
    let mut manifest = Manifest::load(index)?;
    let keys: Vec<String> = manifest.files.keys().filter(|k| is_under(k, &root)).cloned().collect();
    for key in &keys {
        index.delete_source(key)?;
        manifest.files.remove(key);
    }
    if !keys.is_empty() {
        // Chunks first, then the manifest: a crash between leaves a manifest that lists more than the index
        // holds, which the next ingest's count check repairs.
        index.commit()?;
        manifest.save(index)?;
    }
    Ok(keys)
}

/// The key of an ingest root: its canonical path when it exists (so it matches the keys of its files), else
/// its absolute spelling.
fn root_key(root: &Path) -> String {
    match root.canonicalize() {
        Ok(path) => source_key(&path),
        Err(_) => source_key(&std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())),
    }
}

#[cfg(unix)]
fn escape_name(name: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut rest = name.as_bytes();
    let mut out = String::with_capacity(rest.len());
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                for b in &after[..bad] {
                    out.push_str(&format!("\\x{b:02X}"));
                }
                rest = &after[bad..];
            }
        }
    }
}

#[cfg(not(unix))]
fn escape_name(name: &std::ffi::OsStr) -> String {
    name.to_string_lossy().into_owned()
}

fn is_under(key: &str, root: &str) -> bool {
    root == "/" || key == root || key.starts_with(&format!("{}/", root.trim_end_matches('/')))
}

/// The stable id of chunk `idx` of `source`: the first 8 bytes of SHA-256(source NUL idx).
pub(crate) fn chunk_id(source: &str, idx: u32) -> u64 {
    let digest = Sha256::new()
        .chain_update(source.as_bytes())
        .chain_update([0])
        .chain_update(idx.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_keys_are_normalised() {
        assert_eq!(source_key(Path::new("./docs/a.md")), "docs/a.md");
        assert_eq!(source_key(Path::new("docs/./a.md")), "docs/a.md");
        assert_eq!(source_key(Path::new("/abs/a.md")), "/abs/a.md");
        assert_eq!(source_key(Path::new(".")), ".");
        assert_eq!(source_key(Path::new("/")), "/");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = |b: &[u8]| source_key(Path::new(std::ffi::OsStr::from_bytes(b)));
            assert_eq!(odd(b"d/caf\xe9.txt"), "d/caf\\xE9.txt");
            assert_ne!(odd(b"\xe9.txt"), odd(b"\xe8.txt"));
            assert_eq!(odd("d/é.txt".as_bytes()), "d/é.txt");
        }
    }

    #[test]
    fn roots_contain_their_files() {
        assert!(is_under("docs/a.md", "docs"));
        assert!(is_under("docs/a.md", "docs/"));
        assert!(!is_under("docs2/a.md", "docs"));
        assert!(is_under("/a.md", "/"));
        assert!(is_under("docs/a.md", "docs/a.md"));
    }

    /// A file listed by the walk and gone before the loader reads it (or unreadable): a failure naming it.
    #[test]
    fn a_file_vanishing_after_the_walk_is_a_failure_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vanished.txt");
        std::fs::write(&path, "here for the walk").unwrap();
        let candidate = Candidate {
            key: source_key(&path),
            path: path.clone(),
        };
        std::fs::remove_file(&path).unwrap();
        let chunker = crate::chunk::TokenChunker::new(crate::testing::word_tokenizer(), 50, 0).unwrap();
        match prepare(&candidate, None, &chunker, 100) {
            Outcome::Failed(f) => {
                assert_eq!(f.path, path);
                assert!(
                    f.reason.contains("vanished.txt") && f.reason.contains("cannot read"),
                    "{}",
                    f.reason
                );
            }
            _ => panic!("a vanished file must fail"),
        }
    }

    /// A real on-disk index that fails its `n`-th commit: the fault hook of the reconciliation test (test-only;
    /// release builds have no hook).
    struct FailingCommit {
        inner: rag_indexes::EmbeddedIndex,
        commits_left: usize,
    }

    impl VectorIndex for FailingCommit {
        fn meta(&self) -> &rag_indexes::IndexMeta {
            self.inner.meta()
        }
        fn upsert(&mut self, records: Vec<Record>) -> std::result::Result<(), rag_indexes::Error> {
            self.inner.upsert(records)
        }
        fn delete_source(&mut self, source: &str) -> std::result::Result<usize, rag_indexes::Error> {
            self.inner.delete_source(source)
        }
        fn search(
            &self,
            query: &rag_indexes::Query<'_>,
        ) -> std::result::Result<Vec<rag_indexes::Hit>, rag_indexes::Error> {
            self.inner.search(query)
        }
        fn count(&self) -> std::result::Result<usize, rag_indexes::Error> {
            self.inner.count()
        }
        fn chunk_vectors(&self, source: &str) -> std::result::Result<Vec<(String, Vec<f32>)>, rag_indexes::Error> {
            self.inner.chunk_vectors(source)
        }
        fn keys(&self) -> std::result::Result<Vec<rag_indexes::StoredKey>, rag_indexes::Error> {
            self.inner.keys()
        }
        fn delete_ids(&mut self, ids: &[u64]) -> std::result::Result<(), rag_indexes::Error> {
            self.inner.delete_ids(ids)
        }
        fn commit(&mut self) -> std::result::Result<(), rag_indexes::Error> {
            if self.commits_left == 0 {
                return Err(rag_indexes::Error::Storage("injected commit failure".into()));
            }
            self.commits_left -= 1;
            self.inner.commit()
        }
        fn scroll_records(
            &self,
            each: &mut dyn FnMut(Vec<Record>) -> std::result::Result<(), rag_indexes::Error>,
        ) -> std::result::Result<(), rag_indexes::Error> {
            self.inner.scroll_records(each)
        }
        fn read_state(&self, name: &str) -> std::result::Result<Option<Vec<u8>>, rag_indexes::Error> {
            self.inner.read_state(name)
        }
        fn write_state(&mut self, name: &str, bytes: &[u8]) -> std::result::Result<(), rag_indexes::Error> {
            self.inner.write_state(name, bytes)
        }
        fn remove_state(&mut self, name: &str) -> std::result::Result<(), rag_indexes::Error> {
            self.inner.remove_state(name)
        }
        fn location(&self) -> String {
            self.inner.location()
        }
    }

    fn run_ingest(index: &mut dyn VectorIndex, docs: &Path) -> Result<IngestReport> {
        let embedder = crate::testing::HashEmbedder { dim: 16 };
        let chunker = Arc::new(crate::chunk::TokenChunker::new(crate::testing::word_tokenizer(), 8, 0).unwrap());
        Ingest {
            index,
            embedder: &embedder,
            chunker,
            batch_size: 4,
            commit_chunks: 10,
            embed_window: 2,
            workers: 1,
            file_timeout: Duration::from_secs(30),
            max_chunks: 1000,
            progress: &crate::NoProgress,
            rules: WalkRules::default(),
            cancel: &Cancel::new(),
        }
        .run(&[docs.to_path_buf()])
    }

    /// (source, chunk) of every stored record, and of every chunk the manifest names.
    type Keys = HashSet<(String, u32)>;

    fn key_sets(index: &dyn VectorIndex) -> (Keys, Keys) {
        let stored = index
            .keys()
            .unwrap()
            .into_iter()
            .map(|k| (k.source, k.chunk_idx))
            .collect();
        let named = Manifest::load(index)
            .unwrap()
            .files
            .iter()
            .flat_map(|(k, e)| (0..e.n_chunks).map(move |i| (k.clone(), i)))
            .collect();
        (stored, named)
    }

    /// Issue 9.3: an error in the middle of an ingest left records no manifest entry named (qdrant-edge flushes
    /// on drop), and nothing ever removed them. The next ingest now reconciles index and manifest exactly.
    #[test]
    fn records_left_by_a_failed_ingest_are_removed_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        for i in 0..6 {
            let words: Vec<String> = (0..20).map(|w| format!("file{i}word{w}")).collect();
            std::fs::write(docs.join(format!("f{i}.txt")), words.join(" ")).unwrap();
        }
        let index_dir = dir.path().join("index");
        let meta = rag_indexes::IndexMeta {
            format_version: rag_indexes::FORMAT_VERSION,
            model_id: "test:hash-bag-of-words".into(),
            dim: 16,
            bm25: rag_indexes::Bm25Params::default(),
        };
        {
            let inner = rag_indexes::EmbeddedIndex::open_or_create(&index_dir, &meta).unwrap();
            let mut failing = FailingCommit { inner, commits_left: 0 };
            assert!(
                run_ingest(&mut failing, &docs).is_err(),
                "the injected fault must surface"
            );
        }
        let mut index = rag_indexes::EmbeddedIndex::open_or_create(&index_dir, &meta).unwrap();
        let (stored, named) = key_sets(&index);
        assert!(
            stored.difference(&named).count() > 0,
            "the fault left no unnamed records: the test would prove nothing"
        );
        // Files written after the last commit disappear before the next ingest: their records are orphans.
        for i in 2..6 {
            std::fs::remove_file(docs.join(format!("f{i}.txt"))).unwrap();
        }
        let report = run_ingest(&mut index, &docs).unwrap();
        assert!(report.n_repaired > 0, "{report:?}");
        let (stored, named) = key_sets(&index);
        assert_eq!(stored, named, "index and manifest must name exactly the same chunks");
        assert!(stored
            .iter()
            .all(|(source, _)| source.ends_with("f0.txt") || source.ends_with("f1.txt")));
        assert!(!index_dir.join(DIRTY_FILE).exists());
    }

    #[test]
    fn chunk_ids_are_stable_and_distinct() {
        assert_eq!(chunk_id("a.md", 0), chunk_id("a.md", 0));
        assert_ne!(chunk_id("a.md", 0), chunk_id("a.md", 1));
        assert_ne!(chunk_id("a.md", 1), chunk_id("b.md", 1));
    }
}
