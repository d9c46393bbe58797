//! The embedded default backend: Qdrant in-process (`qdrant-edge`) on a local directory.
//!
//! Layout of the index directory (format [`FORMAT_VERSION`]):
//! - `RAG_INDEX`: the marker that says rag created this directory, written first (before anything else) into
//!   a directory that was new or empty. rag deletes or rewrites files only in a directory carrying it; a
//!   non-empty directory without it is refused and left untouched (not even a lock file is written);
//! - `rag_index.json`: [`IndexMeta`] (format version, model id, dimension, BM25 parameters), written atomically;
//! - `shard/`: the qdrant-edge shard (segments and WAL) holding one point per chunk, with a named dense vector
//!   `dense` (cosine), a named sparse vector `bm25` (IDF applied by Qdrant at query time) and the payload;
//! - `lock`: an advisory lock file: exclusive for writers, shared for readers.
//!
//! Only this module names `qdrant_edge`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::stored::{bm25, check_model, cosine, stored_key, StoredMeta, StoredPayload};
use crate::FORMAT_VERSION;
use crate::{Error, Hit, IndexMeta, Query, Record, SearchFilter, SearchMode, StoredKey, VectorIndex};
use qdrant_edge::bm25_embed::EdgeBm25;
use qdrant_edge::{
    AnyVariants, Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Fusion, JsonPath, Match, Modifier, NamedQuery,
    PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, Prefetch,
    QueryEnum, QueryRequest, ScoredPoint, ScoringQuery, ScrollRequest, UpdateOperation, VectorInternal,
    VectorStructInternal, Vectors, WithPayloadInterface, WithVector,
};

const META_FILE: &str = "rag_index.json";
const MARKER_FILE: &str = "RAG_INDEX";
const MARKER_TEXT: &str = "This directory is a rag index, created by rag. rag writes and deletes files only in \
directories carrying this marker.\n";
const SHARD_DIR: &str = "shard";
const LOCK_FILE: &str = "lock";
const DENSE: &str = "dense";
/// How long opening waits for another process holding the shard.
/// One bound on every wait of one open (the lock and then the shard share one deadline).
pub const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
const SPARSE: &str = "bm25";

/// How an index is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// An index stored in a directory, searched in-process.
pub struct EmbeddedIndex {
    dir: PathBuf,
    meta: IndexMeta,
    shard: EdgeShard,
    bm25: EdgeBm25,
    /// Held for the lifetime of the index: exclusive for writers, shared for readers.
    _lock: File,
}

impl std::fmt::Debug for EmbeddedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedIndex")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish()
    }
}

impl EmbeddedIndex {
    /// Opens the index at `dir` for writing, creating it with `meta` if it does not exist.
    ///
    /// Fails with [`Error::ModelMismatch`] when the index was built with another model, and with
    /// [`Error::Locked`] when another process holds the index.
    pub fn open_or_create(dir: &Path, meta: &IndexMeta) -> Result<EmbeddedIndex, Error> {
        let deadline = std::time::Instant::now() + LOAD_WAIT;
        claim(dir)?;
        let lock = lock(dir, Access::Write, deadline)?;
        let meta_path = dir.join(META_FILE);
        if meta_path.exists() {
            let stored = read_meta(dir)?;
            check_model(dir, &stored, meta)?;
            Self::load(dir, stored, lock, deadline)
        } else {
            let shard_dir = dir.join(SHARD_DIR);
            // The marker is there but the metadata is not: a create that stopped half way (the metadata is
            // written last). Nothing in the shard was committed, and the directory is ours: start it again.
            if shard_dir.exists() {
                fs::remove_dir_all(&shard_dir).map_err(|source| io(&shard_dir, source))?;
            }
            fs::create_dir_all(&shard_dir).map_err(|source| io(&shard_dir, source))?;
            let shard = EdgeShard::new(&shard_dir, edge_config(meta.dim)).map_err(storage)?;
            let field_index = CreateIndex {
                field_name: json_path("source")?,
                field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
            };
            shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
                    field_index,
                )))
                .map_err(storage)?;
            shard.flush();
            write_meta(dir, meta)?;
            Ok(EmbeddedIndex {
                dir: dir.to_path_buf(),
                bm25: bm25(&meta.bm25)?,
                meta: meta.clone(),
                shard,
                _lock: lock,
            })
        }
    }

    /// Opens an existing index at `dir` for searching.
    ///
    /// `expected` (the configured embedder) is checked against the stored metadata when given. Waits at most
    /// [`LOAD_WAIT`] in all for a writer to finish.
    pub fn open_read(dir: &Path, expected: Option<&IndexMeta>) -> Result<EmbeddedIndex, Error> {
        let deadline = std::time::Instant::now() + LOAD_WAIT;
        if !dir.join(MARKER_FILE).is_file() {
            // A directory rag did not mark: an index of an older format (its metadata says which, and the
            // error how to rebuild), or not an index at all. Nothing is written into it.
            if dir.join(META_FILE).is_file() {
                read_meta(dir)?;
            }
            return Err(if is_empty_or_missing(dir) {
                Error::Missing {
                    path: dir.to_path_buf(),
                }
            } else {
                Error::NotAnIndex {
                    path: dir.to_path_buf(),
                }
            });
        }
        if !dir.join(META_FILE).exists() {
            return Err(Error::Missing {
                path: dir.to_path_buf(),
            });
        }
        let lock = lock(dir, Access::Read, deadline)?;
        let stored = read_meta(dir)?;
        if let Some(expected) = expected {
            check_model(dir, &stored, expected)?;
        }
        Self::load(dir, stored, lock, deadline)
    }

    /// Fails at once with [`Error::Locked`] when another process writes the index at `dir` (checked before a
    /// caller spends time loading models; [`EmbeddedIndex::open_or_create`] takes the lock for real). Writes
    /// nothing into a directory rag did not mark.
    pub fn check_writable(dir: &Path) -> Result<(), Error> {
        let path = dir.join(LOCK_FILE);
        if !dir.join(MARKER_FILE).is_file() || !path.is_file() {
            return Ok(());
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        match file.try_lock() {
            Ok(()) => Ok(()),
            // Readers hold it for milliseconds: only a writer makes this fail.
            Err(fs::TryLockError::WouldBlock) if file.try_lock_shared().is_err() => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(fs::TryLockError::WouldBlock) => Ok(()),
            Err(fs::TryLockError::Error(source)) => Err(io(&path, source)),
        }
    }

    /// Reads only the metadata of the index at `dir`, without opening it.
    pub fn read_meta(dir: &Path) -> Result<IndexMeta, Error> {
        read_meta(dir)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn load(dir: &Path, meta: IndexMeta, lock: File, deadline: std::time::Instant) -> Result<EmbeddedIndex, Error> {
        let shard_dir = dir.join(SHARD_DIR);
        // qdrant-edge locks its write-ahead log exclusively even for searching, so two readers cannot hold the
        // shard at once; a reader waits for the other (readers hold it for milliseconds), then gives up clearly,
        // within the same deadline as the wait for the lock.
        let shard = loop {
            match EdgeShard::load(&shard_dir, None) {
                Ok(shard) => break shard,
                Err(e) if e.to_string().contains("WouldBlock") && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(e) if e.to_string().contains("WouldBlock") => {
                    return Err(Error::Locked {
                        path: dir.to_path_buf(),
                    });
                }
                Err(e) => return Err(storage(e)),
            }
        };
        Ok(EmbeddedIndex {
            dir: dir.to_path_buf(),
            bm25: bm25(&meta.bm25)?,
            meta,
            shard,
            _lock: lock,
        })
    }

    /// Scrolls every record matching `filter`, page by page, handing each to `each`.
    fn scroll_all(
        &self,
        filter: Option<Filter>,
        with_payload: WithPayloadInterface,
        with_vector: WithVector,
        mut each: impl FnMut(qdrant_edge::Record) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut offset = None;
        loop {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(512),
                    filter: filter.clone(),
                    with_payload: Some(with_payload.clone()),
                    with_vector: with_vector.clone(),
                    order_by: None,
                })
                .map_err(storage)?;
            for record in records {
                each(record)?;
            }
            match next {
                Some(next) => offset = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn filter(filter: Option<&SearchFilter>) -> Result<Option<Filter>, Error> {
        let Some(filter) = filter else {
            return Ok(None);
        };
        let mut must = Vec::new();
        let any = |key: &str, values: &[String]| -> Result<Condition, Error> {
            Ok(Condition::Field(FieldCondition::new_match(
                json_path(key)?,
                Match::new_any(AnyVariants::Strings(values.iter().cloned().collect())),
            )))
        };
        if let Some(sources) = &filter.sources {
            must.push(any("source", sources)?);
        }
        if let Some(kinds) = &filter.kinds {
            must.push(any("kind", kinds)?);
        }
        if must.is_empty() {
            return Ok(None);
        }
        Ok(Some(Filter {
            should: None,
            min_should: None,
            must: Some(must),
            must_not: None,
        }))
    }
}

impl VectorIndex for EmbeddedIndex {
    fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    fn upsert(&mut self, records: Vec<Record>) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let points = records
            .into_iter()
            .map(|record| {
                if record.vector.len() != self.meta.dim {
                    return Err(Error::Storage(format!(
                        "vector of dimension {} for an index of dimension {}",
                        record.vector.len(),
                        self.meta.dim
                    )));
                }
                let sparse = self
                    .bm25
                    .embed_document(&crate::indexed_text(record.payload.context.as_deref(), &record.text));
                let vectors = Vectors::new_named([
                    (DENSE, qdrant_edge::Vector::from(record.vector)),
                    (SPARSE, qdrant_edge::Vector::from(sparse)),
                ]);
                let payload = StoredPayload::from_record(record.text, record.payload);
                let payload = serde_json::to_value(payload).map_err(|e| Error::Storage(e.to_string()))?;
                Ok(PointStruct::new(record.id, vectors, payload).into())
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            )))
            .map_err(storage)
    }

    fn delete_source(&mut self, source: &str) -> Result<usize, Error> {
        let filter = Self::filter(Some(&SearchFilter {
            sources: Some(vec![source.to_owned()]),
            kinds: None,
        }))?;
        let n = self
            .shard
            .count(CountRequest {
                filter: filter.clone(),
                exact: true,
            })
            .map_err(storage)?;
        if n > 0 {
            if let Some(filter) = filter {
                self.shard
                    .update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(
                        filter,
                    )))
                    .map_err(storage)?;
            }
        }
        Ok(n)
    }

    fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, Error> {
        if query.k == 0 {
            return Ok(Vec::new());
        }
        let filter = Self::filter(query.filter.as_ref())?;
        let dense = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
            query: VectorInternal::from(query.vector.to_vec()),
            using: Some(DENSE.to_owned()),
        }));
        let sparse_vector = self.bm25.embed_query(query.text);
        let has_terms = !sparse_vector.indices.is_empty();
        let sparse = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
            query: VectorInternal::from(sparse_vector),
            using: Some(SPARSE.to_owned()),
        }));
        let candidates = query.candidates.max(query.k);
        let prefetch = |scoring: ScoringQuery| Prefetch {
            prefetches: vec![],
            query: Some(scoring),
            limit: candidates,
            params: None,
            filter: filter.clone(),
            score_threshold: None,
        };
        let (prefetches, scoring) = match (query.mode, has_terms) {
            (SearchMode::Hybrid, true) => (
                vec![prefetch(dense), prefetch(sparse)],
                ScoringQuery::Fusion(Fusion::Rrf {
                    k: query.rrf_k.max(1),
                    weights: None,
                }),
            ),
            // A query with no BM25 terms left (only stopwords) falls back to dense retrieval.
            (SearchMode::Hybrid, false) | (SearchMode::Dense, _) => (vec![], dense),
            (SearchMode::Sparse, true) => (vec![], sparse),
            (SearchMode::Sparse, false) => return Ok(Vec::new()),
        };
        let points = self
            .shard
            .query(QueryRequest {
                prefetches,
                query: Some(scoring),
                filter: filter.clone(),
                score_threshold: None,
                limit: query.k,
                offset: 0,
                params: None,
                with_vector: WithVector::Selector(vec![DENSE.to_owned()]),
                with_payload: WithPayloadInterface::Bool(true),
            })
            .map_err(storage)?;
        points.into_iter().map(|point| hit(point, query.vector)).collect()
    }

    fn chunk_vectors(&self, source: &str) -> Result<Vec<(String, Vec<f32>)>, Error> {
        let filter = Self::filter(Some(&SearchFilter {
            sources: Some(vec![source.to_owned()]),
            kinds: None,
        }))?;
        let mut out = Vec::new();
        self.scroll_all(
            filter,
            WithPayloadInterface::Bool(true),
            WithVector::Selector(vec![DENSE.to_owned()]),
            |record| {
                let hash = record
                    .payload
                    .as_ref()
                    .and_then(|p| p.0.get("chunk_hash"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(VectorStructInternal::Named(mut named)) = record.vector {
                    if let Some(VectorInternal::Dense(vector)) = named.remove(DENSE) {
                        if !hash.is_empty() {
                            out.push((hash, vector));
                        }
                    }
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn keys(&self) -> Result<Vec<StoredKey>, Error> {
        let fields = ["source", "chunk_idx", "doc_hash"]
            .iter()
            .map(|k| json_path(k))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut out = Vec::new();
        self.scroll_all(
            None,
            WithPayloadInterface::Fields(fields),
            WithVector::Bool(false),
            |record| {
                let id = match record.id {
                    PointId::NumId(id) => id,
                    PointId::Uuid(uuid) => return Err(Error::Storage(format!("unexpected point id {uuid}"))),
                };
                out.push(stored_key(id, |name| {
                    record.payload.as_ref().and_then(|p| p.0.get(name).cloned())
                }));
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn delete_ids(&mut self, ids: &[u64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::DeletePoints {
                ids: ids.iter().map(|&id| PointId::NumId(id)).collect(),
            }))
            .map_err(storage)
    }

    fn count(&self) -> Result<usize, Error> {
        self.shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(storage)
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.shard.optimize().map_err(storage)?;
        self.shard.flush();
        Ok(())
    }

    fn scroll_records(&self, each: &mut dyn FnMut(Vec<Record>) -> Result<(), Error>) -> Result<(), Error> {
        let mut page = Vec::new();
        self.scroll_all(
            None,
            WithPayloadInterface::Bool(true),
            WithVector::Selector(vec![DENSE.to_owned()]),
            |record| {
                let id = match record.id {
                    PointId::NumId(id) => id,
                    PointId::Uuid(uuid) => return Err(Error::Storage(format!("unexpected point id {uuid}"))),
                };
                let payload = record
                    .payload
                    .ok_or_else(|| Error::Storage(format!("point {id} has no payload")))?;
                let value = serde_json::Value::Object(payload.0.into_iter().collect());
                let stored: StoredPayload = serde_json::from_value(value)
                    .map_err(|e| Error::Storage(format!("point {id}: bad payload: {e}")))?;
                let vector = match record.vector {
                    Some(VectorStructInternal::Named(mut named)) => match named.remove(DENSE) {
                        Some(VectorInternal::Dense(vector)) => vector,
                        _ => return Err(Error::Storage(format!("point {id} has no dense vector"))),
                    },
                    _ => return Err(Error::Storage(format!("point {id} has no dense vector"))),
                };
                let (text, payload) = stored.into_parts();
                page.push(Record {
                    id,
                    vector,
                    text,
                    payload,
                });
                if page.len() >= 512 {
                    each(std::mem::take(&mut page))?;
                }
                Ok(())
            },
        )?;
        if !page.is_empty() {
            each(page)?;
        }
        Ok(())
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.dir.join(state_file(name)?);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn write_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(state_file(name)?);
        let tmp = self.dir.join(format!("{name}.tmp"));
        fs::write(&tmp, bytes).map_err(|source| io(&tmp, source))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|source| io(&tmp, source))?;
        fs::rename(&tmp, &path).map_err(|source| io(&path, source))
    }

    fn remove_state(&mut self, name: &str) -> Result<(), Error> {
        let path = self.dir.join(state_file(name)?);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn size_bytes(&self) -> Option<u64> {
        Some(walkdir_size(&self.dir))
    }
}

/// The file a piece of state is kept in: its name, which must be a plain file name that is none of the
/// index's own files.
fn state_file(name: &str) -> Result<&str, Error> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain || [MARKER_FILE, META_FILE, SHARD_DIR, LOCK_FILE].contains(&name) || name.ends_with(".tmp") {
        return Err(Error::Storage(format!("bad state name {name:?}")));
    }
    Ok(name)
}

/// Total size of the files under `dir` (not following links).
fn walkdir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

fn hit(point: ScoredPoint, query: &[f32]) -> Result<Hit, Error> {
    let id = match point.id {
        PointId::NumId(id) => id,
        PointId::Uuid(uuid) => return Err(Error::Storage(format!("unexpected point id {uuid}"))),
    };
    let payload = point
        .payload
        .ok_or_else(|| Error::Storage(format!("point {id} has no payload")))?;
    let value = serde_json::Value::Object(payload.0.into_iter().collect());
    let stored: StoredPayload =
        serde_json::from_value(value).map_err(|e| Error::Storage(format!("point {id}: bad payload: {e}")))?;
    let vector = match point.vector {
        Some(VectorStructInternal::Named(mut named)) => match named.remove(DENSE) {
            Some(VectorInternal::Dense(vector)) => vector,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let similarity = cosine(&vector, query);
    let (text, payload) = stored.into_parts();
    Ok(Hit {
        id,
        score: point.score,
        similarity,
        vector,
        text,
        payload,
    })
}

fn edge_config(dim: usize) -> EdgeConfig {
    EdgeConfig {
        vectors: HashMap::from([(
            DENSE.to_owned(),
            EdgeVectorParams {
                size: dim,
                distance: Distance::Cosine,
                on_disk: None,
                multivector_config: None,
                datatype: None,
                quantization_config: None,
                hnsw_config: None,
            },
        )]),
        sparse_vectors: HashMap::from([(
            SPARSE.to_owned(),
            EdgeSparseVectorParams {
                modifier: Some(Modifier::Idf),
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

fn read_meta(dir: &Path) -> Result<IndexMeta, Error> {
    let path = dir.join(META_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Missing {
                path: dir.to_path_buf(),
            })
        }
        Err(source) => return Err(io(&path, source)),
    };
    let stored: StoredMeta = serde_json::from_slice(&bytes).map_err(|e| Error::Meta {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if stored.format_version != FORMAT_VERSION {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            found: stored.format_version,
            expected: FORMAT_VERSION,
        });
    }
    Ok(stored.into_meta())
}

fn write_meta(dir: &Path, meta: &IndexMeta) -> Result<(), Error> {
    let stored = StoredMeta::from_meta(meta);
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| Error::Storage(e.to_string()))?;
    let path = dir.join(META_FILE);
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    fs::write(&tmp, json).map_err(|source| io(&tmp, source))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|source| io(&tmp, source))?;
    fs::rename(&tmp, &path).map_err(|source| io(&path, source))
}

/// Makes sure `dir` is a directory rag may write in: one carrying the marker, or a new or empty one, which is
/// marked first. Anything else is refused before a single file is written.
fn claim(dir: &Path) -> Result<(), Error> {
    let marker = dir.join(MARKER_FILE);
    if marker.is_file() {
        return Ok(());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotAnIndex {
            path: dir.to_path_buf(),
        });
    }
    if dir.join(META_FILE).is_file() {
        // An index of an earlier format (no marker yet): refused with the format error, left as it is.
        read_meta(dir)?;
    }
    if !is_empty_or_missing(dir) {
        return Err(Error::NotAnIndex {
            path: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    fs::write(&tmp, MARKER_TEXT).map_err(|source| io(&tmp, source))?;
    fs::rename(&tmp, &marker).map_err(|source| io(&marker, source))
}

/// True when `dir` does not exist or holds nothing.
fn is_empty_or_missing(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn lock(dir: &Path, access: Access, deadline: std::time::Instant) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| io(&path, source))?;
    // A second writer fails at once; a writer waits for readers (they hold the lock for milliseconds); a
    // reader waits (up to LOAD_WAIT) for a writer to finish, so a search issued during a short ingest sees the
    // index after it, never a state in between.
    loop {
        let locked = match access {
            Access::Write => file.try_lock(),
            Access::Read => file.try_lock_shared(),
        };
        if locked.is_ok() {
            return Ok(file);
        }
        let wait = match access {
            Access::Read => true,
            // Only readers hold it when a shared lock can be had (then released at once).
            Access::Write => file.try_lock_shared().is_ok() && file.unlock().is_ok(),
        };
        match locked {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if wait && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(source)) => return Err(io(&path, source)),
        }
    }
}

fn json_path(key: &str) -> Result<JsonPath, Error> {
    JsonPath::try_from(key).map_err(|_| Error::Storage(format!("bad payload key {key:?}")))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn storage(err: impl std::fmt::Display) -> Error {
    Error::Storage(err.to_string())
}

#[cfg(test)]
mod tests;
