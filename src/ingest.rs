//! Ingest: walk the given paths, load and chunk changed files in parallel, embed, and write to the index.
//!
//! One bad file never stops the run: it becomes an [`IngestFailure`] naming the file and the reason, and the
//! rest goes on. Unsupported files are skipped and listed. Unchanged files (same size and modification time,
//! or same content hash) are not re-read or re-embedded; files under a directory root that disappeared are
//! removed from the index. Work is committed in batches, each commit followed by the manifest, so a crash
//! loses at most the batch in flight.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rag_indexes::{Payload, Record, VectorIndex};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::chunk::{Chunk, Chunker};
use crate::embed::Embedder;
use crate::error::Result;
use crate::manifest::{FileEntry, Manifest};
use crate::progress::Progress;

/// Files larger than this are refused (a per-file memory bound).
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;
/// Files loaded and chunked in parallel per batch.
const FILES_PER_BATCH: usize = 64;

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
    /// Files skipped as unsupported, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Files that failed, with the reason.
    pub failures: Vec<IngestFailure>,
    /// Files indexed with a warning (for example a fallback text encoding).
    pub warnings: Vec<(PathBuf, String)>,
    /// Wall time.
    pub elapsed: Duration,
    /// Time spent in the embedder.
    pub embed_time: Duration,
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
struct Candidate {
    path: PathBuf,
    key: String,
}

/// A loaded, chunked file ready to embed.
struct Prepared {
    key: String,
    path: PathBuf,
    kind: String,
    title: Option<String>,
    hash: String,
    size: u64,
    mtime_ns: u128,
    chunks: Vec<Chunk>,
    chunk_hashes: Vec<String>,
    warnings: Vec<String>,
}

enum Outcome {
    Unchanged,
    Ready(Prepared),
    Failed(IngestFailure),
}

/// The pieces ingest works with.
pub(crate) struct Ingest<'a> {
    pub(crate) index: &'a mut dyn VectorIndex,
    pub(crate) index_dir: &'a Path,
    pub(crate) embedder: &'a dyn Embedder,
    pub(crate) chunker: &'a dyn Chunker,
    pub(crate) batch_size: usize,
    pub(crate) commit_chunks: usize,
    pub(crate) progress: &'a dyn Progress,
}

impl Ingest<'_> {
    pub(crate) fn run(mut self, roots: &[PathBuf]) -> Result<IngestReport> {
        let started = Instant::now();
        let mut report = IngestReport::default();
        let mut manifest = Manifest::load(self.index_dir)?;
        let candidates = walk(roots, self.index_dir, &mut report);
        report.n_files = candidates.len();
        let seen: HashSet<String> = candidates.iter().map(|c| c.key.clone()).collect();

        self.progress.start("chunks", 0);
        let mut total_chunks = 0u64;
        let mut uncommitted = 0usize;
        for batch in candidates.chunks(FILES_PER_BATCH) {
            let outcomes: Vec<Outcome> = batch.par_iter().map(|c| prepare(c, &manifest, self.chunker)).collect();
            for outcome in outcomes {
                match outcome {
                    Outcome::Unchanged => report.n_unchanged += 1,
                    Outcome::Failed(failure) => {
                        self.progress.note(&format!("failed: {}", failure.reason));
                        report.failures.push(failure);
                    }
                    Outcome::Ready(prepared) => {
                        total_chunks += prepared.chunks.len() as u64;
                        self.progress.set_total(total_chunks);
                        for warning in &prepared.warnings {
                            report.warnings.push((prepared.path.clone(), warning.clone()));
                        }
                        let n = prepared.chunks.len();
                        match self.store(prepared, &mut manifest, &mut report) {
                            Ok(()) => {}
                            Err(failure) => {
                                self.progress.note(&format!("failed: {}", failure.reason));
                                report.failures.push(failure);
                            }
                        }
                        uncommitted += n;
                        if uncommitted >= self.commit_chunks.max(1) {
                            self.index.commit()?;
                            manifest.save(self.index_dir)?;
                            uncommitted = 0;
                        }
                    }
                }
            }
        }

        // Files under a directory root (or given explicitly) that no longer exist leave the index.
        let root_keys: Vec<String> = roots.iter().map(|r| source_key(r)).collect();
        let gone: Vec<String> = manifest
            .files
            .keys()
            .filter(|key| !seen.contains(*key))
            .filter(|key| root_keys.iter().any(|root| is_under(key, root)))
            .filter(|key| !Path::new(key.as_str()).exists())
            .cloned()
            .collect();
        for key in gone {
            self.index.delete_source(&key)?;
            manifest.files.remove(&key);
            report.n_removed += 1;
        }
        self.index.commit()?;
        manifest.save(self.index_dir)?;
        self.progress.finish();
        report.n_chunks_total = self.index.count()?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Embeds and writes one prepared file, replacing whatever the index held for it.
    fn store(
        &mut self,
        prepared: Prepared,
        manifest: &mut Manifest,
        report: &mut IngestReport,
    ) -> std::result::Result<(), IngestFailure> {
        let fail = |reason: String| IngestFailure {
            path: prepared.path.clone(),
            reason: format!("{}: {reason}", prepared.path.display()),
        };
        // Vectors already stored for identical chunk text: this file's previous version, or, for a file that
        // appeared with the content of one that disappeared, the file it was renamed from.
        let renamed_from = if manifest.files.contains_key(&prepared.key) {
            None
        } else {
            manifest
                .files
                .iter()
                .find(|(key, entry)| entry.hash == prepared.hash && !Path::new(key.as_str()).exists())
                .map(|(key, _)| key.clone())
        };
        let reuse_source = renamed_from.as_deref().unwrap_or(&prepared.key);
        let mut stored: HashMap<String, Vec<f32>> = if manifest.files.contains_key(reuse_source) {
            self.index
                .chunk_vectors(reuse_source)
                .map_err(|e| fail(e.to_string()))?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let mut vectors: Vec<Option<Vec<f32>>> = prepared.chunk_hashes.iter().map(|h| stored.get(h).cloned()).collect();
        stored.clear();
        let missing: Vec<usize> = (0..vectors.len()).filter(|&i| vectors[i].is_none()).collect();
        for batch in missing.chunks(self.batch_size.max(1)) {
            let texts: Vec<&str> = batch.iter().map(|&i| prepared.chunks[i].text.as_str()).collect();
            let started = Instant::now();
            let embedded = self.embedder.embed(&texts).map_err(|e| fail(e.to_string()))?;
            report.embed_time += started.elapsed();
            for (&i, vector) in batch.iter().zip(embedded) {
                vectors[i] = Some(vector);
            }
            self.progress.advance(batch.len() as u64);
        }
        self.progress.advance((prepared.chunks.len() - missing.len()) as u64);
        report.n_embedded += missing.len();
        let mut records = Vec::with_capacity(prepared.chunks.len());
        for ((chunk, vector), chunk_hash) in prepared.chunks.iter().zip(vectors).zip(&prepared.chunk_hashes) {
            let vector = vector.ok_or_else(|| fail("embedder returned too few vectors".into()))?;
            records.push(Record {
                id: chunk_id(&prepared.key, chunk.idx),
                vector,
                text: chunk.text.clone(),
                payload: Payload {
                    source: prepared.key.clone(),
                    kind: prepared.kind.clone(),
                    title: prepared.title.clone(),
                    chunk_idx: chunk.idx,
                    byte_start: chunk.location.byte_start,
                    byte_end: chunk.location.byte_end,
                    lines: chunk.location.lines,
                    pages: chunk.location.pages,
                    section: chunk.location.section.clone(),
                    doc_hash: prepared.hash.clone(),
                    chunk_hash: chunk_hash.clone(),
                },
            });
        }
        let n_chunks = records.len();
        self.index
            .delete_source(&prepared.key)
            .map_err(|e| fail(e.to_string()))?;
        self.index.upsert(records).map_err(|e| fail(e.to_string()))?;
        manifest.files.insert(
            prepared.key.clone(),
            FileEntry {
                hash: prepared.hash,
                size: prepared.size,
                mtime_ns: prepared.mtime_ns,
                n_chunks: n_chunks as u32,
                kind: prepared.kind,
                ingested_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            },
        );
        if let Some(old) = renamed_from {
            self.index.delete_source(&old).map_err(|e| fail(e.to_string()))?;
            manifest.files.remove(&old);
            report.n_renamed += 1;
        }
        report.n_indexed += 1;
        report.n_chunks += n_chunks;
        Ok(())
    }
}

/// Reads, hashes, loads and chunks one file, unless the manifest shows it unchanged.
fn prepare(candidate: &Candidate, manifest: &Manifest, chunker: &dyn Chunker) -> Outcome {
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
    let size = metadata.len();
    let mtime_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let previous = manifest.files.get(&candidate.key);
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
        Err(e) => return failed(e.to_string()),
    };
    let chunks = chunker.chunk(&doc);
    if chunks.is_empty() {
        return failed(format!("{}: no text to index", path.display()));
    }
    let chunk_hashes = chunks
        .iter()
        .map(|c| crate::models::hex(&Sha256::digest(c.text.as_bytes())))
        .collect();
    Outcome::Ready(Prepared {
        chunk_hashes,
        key: candidate.key.clone(),
        path: path.clone(),
        kind: doc.kind.name().to_owned(),
        title: doc.title.clone(),
        hash,
        size,
        mtime_ns,
        chunks,
        warnings: doc.warnings,
    })
}

/// Finds the supported files under `roots`. Symbolic links are followed only within the roots, loops end the
/// descent with a failure, hidden entries and the index directory are not entered.
fn walk(roots: &[PathBuf], index_dir: &Path, report: &mut IngestReport) -> Vec<Candidate> {
    let index_dir = index_dir.canonicalize().ok();
    let mut found = Vec::new();
    let mut keys = HashSet::new();
    for root in roots {
        let canonical_root = match root.canonicalize() {
            Ok(p) => p,
            Err(e) => {
                report.failures.push(IngestFailure {
                    path: root.clone(),
                    reason: format!("{}: cannot open: {e}", root.display()),
                });
                continue;
            }
        };
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !(entry.file_name().to_string_lossy().starts_with('.')
                        // Only directories can be the index; files need no canonicalisation here.
                        || (entry.file_type().is_dir()
                            && index_dir
                                .as_deref()
                                .is_some_and(|d| entry.path().canonicalize().ok().as_deref() == Some(d))))
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    let reason = if err.loop_ancestor().is_some() {
                        format!("{}: symbolic link loop, not followed", path.display())
                    } else {
                        format!(
                            "{}: {}",
                            path.display(),
                            err.io_error().map_or(err.to_string(), |e| e.to_string())
                        )
                    };
                    report.failures.push(IngestFailure { path, reason });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path().to_path_buf();
            if entry.path_is_symlink() || entry.depth() > 0 {
                // A link (or a path through a linked directory) must stay inside the root.
                match path.canonicalize() {
                    Ok(target) if target.starts_with(&canonical_root) => {}
                    Ok(target) => {
                        report.skipped.push((
                            path.clone(),
                            format!("symbolic link to {} outside {}", target.display(), root.display()),
                        ));
                        continue;
                    }
                    Err(e) => {
                        report.failures.push(IngestFailure {
                            reason: format!("{}: cannot resolve: {e}", path.display()),
                            path,
                        });
                        continue;
                    }
                }
            }
            if rag_connectors::DocKind::from_path(&path).is_none() {
                report.skipped.push((path, "unsupported file type".into()));
                continue;
            }
            let key = source_key(&path);
            if keys.insert(key.clone()) {
                found.push(Candidate { path, key });
            }
        }
    }
    found
}

/// The key a file is stored under: its path as given, without `.` components, with `/` separators.
pub(crate) fn source_key(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::RootDir => String::new(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn is_under(key: &str, root: &str) -> bool {
    root == "." && !key.starts_with('/') || key == root || key.starts_with(&format!("{}/", root.trim_end_matches('/')))
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
    }

    #[test]
    fn roots_contain_their_files() {
        assert!(is_under("docs/a.md", "docs"));
        assert!(is_under("docs/a.md", "docs/"));
        assert!(!is_under("docs2/a.md", "docs"));
        assert!(is_under("a.md", "."));
        assert!(is_under("docs/a.md", "docs/a.md"));
    }

    #[test]
    fn chunk_ids_are_stable_and_distinct() {
        assert_eq!(chunk_id("a.md", 0), chunk_id("a.md", 0));
        assert_ne!(chunk_id("a.md", 0), chunk_id("a.md", 1));
        assert_ne!(chunk_id("a.md", 1), chunk_id("b.md", 1));
    }
}
