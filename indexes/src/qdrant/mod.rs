//! The Qdrant server backend: the same schema as the embedded index, in a collection of a Qdrant server or
//! cluster, reached with `qdrant-client` over gRPC.
//!
//! - The collection holds one point per chunk: a named dense vector `dense` (cosine), a named sparse vector
//!   `bm25` (IDF modifier: the server weighs terms at query time, per shard) and the payload, with keyword
//!   payload indexes on `source` and `kind` so filters run in the server. BM25 document and query vectors
//!   are computed here with the same tokenizer as the embedded index (`stored::Bm25`), so both backends give
//!   the same token ids. Hybrid search is prefetch (dense, BM25) + RRF in the server with the same `rrf_k`.
//! - A companion collection `<collection>_rag_state` holds the engine's state: the index metadata, the
//!   manifest, the unfinished-ingest mark (`state.rs`), and the write lease that replaces the lock file
//!   (`lease.rs`), so that ingests from several machines see one state and a crashed writer's lease expires.
//!   Its existence is the marker: rag writes only into a collection it created (the state collection is
//!   created first), and refuses a collection that exists without one.
//! - Writes are pipelined: `upsert` sends batches without waiting, up to `in_flight` at once, each with
//!   `wait = true`; `commit` waits for all of them, so what the manifest names is in the server.
//!
//! The API is synchronous like the rest of the engine: the index owns a small tokio runtime and blocks on it.

mod lease;
mod state;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use qdrant_client::qdrant::{
    self, point_id::PointIdOptions, read_consistency, vectors_config, Condition, CountPoints, CreateCollection,
    CreateFieldIndexCollection, DeletePoints, Distance, FieldType, Filter, Modifier, NamedVectors, PointId,
    PointStruct, PrefetchQuery, Query as QQuery, QueryPoints, ReadConsistencyType, Rrf, ScrollPoints,
    SparseVectorParams, UpsertPoints, VectorInput, VectorParams, Vectors, VectorsConfig, WithPayloadSelector,
    WithVectorsSelector, WriteOrdering, WriteOrderingType,
};
use qdrant_client::Qdrant;

use crate::stored::{check_model, cosine, stored_key, Bm25, StoredMeta, StoredPayload};
use crate::{Error, Hit, IndexMeta, Query, Record, SearchFilter, SearchMode, StoredKey, VectorIndex};

pub(crate) use lease::Lease;

const DENSE: &str = "dense";
const SPARSE: &str = "bm25";
/// The state name of the index metadata (the same JSON as the embedded index's `rag_index.json`).
const META_STATE: &str = "rag_index.json";
/// The minor versions of the Qdrant server this backend was tested with; others are refused at connect.
pub const SUPPORTED_SERVER_VERSIONS: &[&str] = &["1.16", "1.17"];
/// Points per upsert request.
const UPSERT_BATCH: usize = 256;
/// Points per scroll page.
const SCROLL_PAGE: u32 = 512;

/// How reads are answered in a replicated collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// From any one replica (Qdrant's default: fastest, may lag a write in flight).
    #[default]
    One,
    /// From a majority of replicas.
    Majority,
    /// From more than half of the replicas, the same as Qdrant's `quorum`.
    Quorum,
    /// From all replicas.
    All,
    /// From this many replicas.
    Factor(u64),
}

/// Where the collection is and how it is laid out and written.
#[derive(Clone)]
pub struct QdrantOptions {
    /// The gRPC URL (`http://127.0.0.1:6334`; `https://` for TLS).
    pub url: String,
    /// The collection holding the chunks.
    pub collection: String,
    /// The API key, if the server wants one (never printed: `Debug` shows `***`).
    pub api_key: Option<String>,
    /// Shards of a new collection.
    pub shards: u32,
    /// Replicas of each shard of a new collection.
    pub replication_factor: u32,
    /// Replicas that must acknowledge a write of a new collection.
    pub write_consistency_factor: u32,
    /// How searches read.
    pub read_consistency: ReadConsistency,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// How long a writer's lease lasts without renewal (it is renewed every third of it while held).
    pub lease: Duration,
    /// Upsert requests in flight at once.
    pub in_flight: usize,
}

impl Default for QdrantOptions {
    fn default() -> Self {
        QdrantOptions {
            url: "http://127.0.0.1:6334".into(),
            collection: "rag".into(),
            api_key: None,
            shards: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            read_consistency: ReadConsistency::One,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            in_flight: 4,
        }
    }
}

impl std::fmt::Debug for QdrantOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantOptions")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("shards", &self.shards)
            .field("replication_factor", &self.replication_factor)
            .field("write_consistency_factor", &self.write_consistency_factor)
            .field("read_consistency", &self.read_consistency)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("lease", &self.lease)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl QdrantOptions {
    /// How the index is named in messages: `qdrant://host:port/collection`.
    pub fn location(&self) -> String {
        let host = self
            .url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        let scheme = if self.url.starts_with("https://") {
            "qdrants"
        } else {
            "qdrant"
        };
        format!("{scheme}://{host}/{}", self.collection)
    }

    fn state_collection(&self) -> String {
        format!("{}_rag_state", self.collection)
    }
}

/// The connection, its runtime and the names of the two collections.
pub(crate) struct Conn {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: Arc<Qdrant>,
    pub(crate) location: String,
    pub(crate) state: String,
    pub(crate) timeout: Duration,
}

impl Conn {
    fn open(options: &QdrantOptions) -> Result<Conn, Error> {
        let location = options.location();
        if options.collection.is_empty()
            || !options
                .collection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Error::Storage(format!(
                "{location}: a collection name is letters, digits, '_', '-' and '.'"
            )));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rag-qdrant")
            .enable_all()
            .build()
            .map_err(|e| Error::Storage(format!("{location}: cannot start the client runtime: {e}")))?;
        let mut config = qdrant_client::config::QdrantConfig::from_url(&options.url)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .skip_compatibility_check();
        if let Some(key) = &options.api_key {
            config.set_api_key(key);
        }
        let client = {
            let _guard = rt.enter();
            config.build().map_err(|e| server(&location, e))?
        };
        let conn = Conn {
            rt,
            client: Arc::new(client),
            location,
            state: options.state_collection(),
            timeout: options.timeout,
        };
        conn.check_version()?;
        Ok(conn)
    }

    /// Refuses a server whose version this backend was not tested with (the client itself only warns).
    fn check_version(&self) -> Result<(), Error> {
        let client = self.client.clone();
        let reply = self
            .rt
            .block_on(async move { client.health_check().await })
            .map_err(|e| server(&self.location, e))?;
        check_version(&self.location, &reply.version)
    }

    pub(crate) fn block<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, qdrant_client::QdrantError>>,
    ) -> Result<T, Error> {
        self.rt.block_on(fut).map_err(|e| server(&self.location, e))
    }

    fn exists(&self, collection: &str) -> Result<bool, Error> {
        let client = self.client.clone();
        let name = collection.to_owned();
        self.block(async move { client.collection_exists(name).await })
    }
}

/// An index in a collection of a Qdrant server or cluster.
pub struct QdrantIndex {
    conn: Conn,
    options: QdrantOptions,
    meta: IndexMeta,
    bm25: Bm25,
    /// Upserts sent and not yet acknowledged, oldest first.
    pending: VecDeque<tokio::task::JoinHandle<Result<(), Error>>>,
    /// Held by a writer for its lifetime; `None` for a reader.
    lease: Option<Lease>,
}

impl std::fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("location", &self.conn.location)
            .field("options", &self.options)
            .field("meta", &self.meta)
            .finish()
    }
}

impl QdrantIndex {
    /// Opens the collection for writing, creating it (and its state collection) with `meta` if it does not
    /// exist; takes the write lease first.
    ///
    /// Fails with [`Error::Locked`] when another writer holds an unexpired lease, [`Error::NotAnIndex`] when
    /// the collection exists but rag did not create it, [`Error::ModelMismatch`] for another embedder.
    pub fn open_or_create(options: &QdrantOptions, meta: &IndexMeta) -> Result<QdrantIndex, Error> {
        let conn = Conn::open(options)?;
        let state_exists = conn.exists(&conn.state)?;
        let main_exists = conn.exists(&options.collection)?;
        if main_exists && !state_exists {
            return Err(Error::ForeignCollection {
                location: conn.location.clone(),
                state: conn.state.clone(),
            });
        }
        if !state_exists {
            state::create(&conn, options)?;
        }
        let lease = Lease::acquire(&conn, options.lease)?;
        let stored = state::read(&conn, META_STATE)?;
        let meta = match stored {
            Some(bytes) => {
                let stored = parse_meta(&conn.location, &bytes)?;
                check_model(conn.location.as_ref(), &stored, meta)?;
                if !conn.exists(&options.collection)? {
                    return Err(Error::Storage(format!(
                        "{}: the collection is gone but its state is there; remove {} to start again",
                        conn.location, conn.state
                    )));
                }
                stored
            }
            None => {
                // The state collection is there but not the metadata, written last: a create that stopped
                // half way (or a new index). The collection, if any, is ours: start it again.
                if main_exists {
                    let client = conn.client.clone();
                    let name = options.collection.clone();
                    conn.block(async move { client.delete_collection(name).await })?;
                }
                create_collection(&conn, options, meta)?;
                let json = serde_json::to_vec_pretty(&StoredMeta::from_meta(meta))
                    .map_err(|e| Error::Storage(e.to_string()))?;
                state::write(&conn, META_STATE, &json)?;
                meta.clone()
            }
        };
        QdrantIndex::new(conn, options, meta, Some(lease))
    }

    /// Opens an existing collection for searching (no lease: the server answers each request on its own).
    pub fn open_read(options: &QdrantOptions, expected: Option<&IndexMeta>) -> Result<QdrantIndex, Error> {
        let conn = Conn::open(options)?;
        let missing = || Error::Missing {
            path: conn.location.clone().into(),
        };
        if !conn.exists(&conn.state)? {
            return Err(if conn.exists(&options.collection)? {
                Error::ForeignCollection {
                    location: conn.location.clone(),
                    state: conn.state.clone(),
                }
            } else {
                missing()
            });
        }
        let Some(bytes) = state::read(&conn, META_STATE)? else {
            return Err(missing());
        };
        let meta = parse_meta(&conn.location, &bytes)?;
        if let Some(expected) = expected {
            check_model(conn.location.as_ref(), &meta, expected)?;
        }
        QdrantIndex::new(conn, options, meta, None)
    }

    fn new(conn: Conn, options: &QdrantOptions, meta: IndexMeta, lease: Option<Lease>) -> Result<QdrantIndex, Error> {
        Ok(QdrantIndex {
            bm25: Bm25::new(&meta.bm25)?,
            conn,
            options: options.clone(),
            meta,
            pending: VecDeque::new(),
            lease,
        })
    }

    /// Fails at once with [`Error::Locked`] when another writer holds the lease (checked before a caller
    /// spends time loading models). Writes nothing.
    pub fn check_writable(options: &QdrantOptions) -> Result<(), Error> {
        let conn = Conn::open(options)?;
        if !conn.exists(&conn.state)? {
            return Ok(());
        }
        Lease::check_free(&conn)
    }

    /// Reads only the metadata of the index, if it exists.
    pub fn read_meta(options: &QdrantOptions) -> Result<IndexMeta, Error> {
        Ok(QdrantIndex::open_read(options, None)?.meta.clone())
    }

    fn check_lease(&self) -> Result<(), Error> {
        match &self.lease {
            Some(lease) => lease.check(&self.conn.location),
            None => Err(Error::Storage(format!("{}: opened for reading", self.conn.location))),
        }
    }

    /// Waits for every upsert in flight; the first failure is returned (the rest are still waited for).
    fn drain(&mut self) -> Result<(), Error> {
        let mut first = Ok(());
        while let Some(handle) = self.pending.pop_front() {
            let result = self
                .conn
                .rt
                .block_on(handle)
                .unwrap_or_else(|e| Err(Error::Storage(format!("{}: upsert task: {e}", self.conn.location))));
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    fn read_consistency(&self) -> Option<qdrant::ReadConsistency> {
        let value = match self.options.read_consistency {
            ReadConsistency::One => return None,
            ReadConsistency::Majority => read_consistency::Value::Type(ReadConsistencyType::Majority as i32),
            ReadConsistency::Quorum => read_consistency::Value::Type(ReadConsistencyType::Quorum as i32),
            ReadConsistency::All => read_consistency::Value::Type(ReadConsistencyType::All as i32),
            ReadConsistency::Factor(n) => read_consistency::Value::Factor(n),
        };
        Some(qdrant::ReadConsistency { value: Some(value) })
    }

    fn filter(filter: Option<&SearchFilter>) -> Option<Filter> {
        let filter = filter?;
        let mut must = Vec::new();
        if let Some(sources) = &filter.sources {
            must.push(Condition::matches("source", sources.clone()));
        }
        if let Some(kinds) = &filter.kinds {
            must.push(Condition::matches("kind", kinds.clone()));
        }
        (!must.is_empty()).then(|| Filter::must(must))
    }

    /// Scrolls every point matching `filter`, a page at a time.
    fn scroll(
        &self,
        filter: Option<Filter>,
        with_payload: WithPayloadSelector,
        with_vectors: bool,
        mut each: impl FnMut(Vec<qdrant::RetrievedPoint>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut offset = None;
        loop {
            let request = ScrollPoints {
                collection_name: self.options.collection.clone(),
                filter: filter.clone(),
                offset,
                limit: Some(SCROLL_PAGE),
                with_payload: Some(with_payload.clone()),
                with_vectors: Some(if with_vectors {
                    WithVectorsSelector::from(vec![DENSE])
                } else {
                    WithVectorsSelector::from(false)
                }),
                read_consistency: self.read_consistency(),
                ..Default::default()
            };
            let client = self.conn.client.clone();
            let page = self.conn.block(async move { client.scroll(request).await })?;
            each(page.result)?;
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn count_filtered(&self, filter: Option<Filter>) -> Result<usize, Error> {
        let request = CountPoints {
            collection_name: self.options.collection.clone(),
            filter,
            exact: Some(true),
            read_consistency: self.read_consistency(),
            ..Default::default()
        };
        let client = self.conn.client.clone();
        let reply = self.conn.block(async move { client.count(request).await })?;
        Ok(reply.result.map(|r| r.count as usize).unwrap_or(0))
    }

    fn delete(&mut self, selector: qdrant::PointsSelector) -> Result<(), Error> {
        self.check_lease()?;
        // Deletes follow the upserts sent before them.
        self.drain()?;
        let request = DeletePoints {
            collection_name: self.options.collection.clone(),
            wait: Some(true),
            points: Some(selector),
            ordering: Some(strong()),
            ..Default::default()
        };
        let client = self.conn.client.clone();
        self.conn.block(async move { client.delete_points(request).await })?;
        Ok(())
    }
}

impl Drop for QdrantIndex {
    fn drop(&mut self) {
        // What was sent is waited for (an error here was already or will never be reported: the engine
        // commits before it drops a writer), then the lease is given back.
        let _ = self.drain();
        if let Some(lease) = self.lease.take() {
            lease.release(&self.conn);
        }
    }
}

impl VectorIndex for QdrantIndex {
    fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    fn upsert(&mut self, records: Vec<Record>) -> Result<(), Error> {
        self.check_lease()?;
        let mut points = Vec::with_capacity(records.len());
        for record in records {
            if record.vector.len() != self.meta.dim {
                return Err(Error::Storage(format!(
                    "vector of dimension {} for an index of dimension {}",
                    record.vector.len(),
                    self.meta.dim
                )));
            }
            let (indices, values) = self
                .bm25
                .document(&crate::indexed_text(record.payload.context.as_deref(), &record.text));
            let vectors = NamedVectors {
                vectors: HashMap::from([
                    (DENSE.to_owned(), qdrant::Vector::from(record.vector)),
                    (SPARSE.to_owned(), qdrant::Vector::new_sparse(indices, values)),
                ]),
            };
            let payload = serde_json::to_value(StoredPayload::from_record(record.text, record.payload))
                .map_err(|e| Error::Storage(e.to_string()))?;
            let payload = qdrant_client::Payload::try_from(payload).map_err(|e| Error::Storage(e.to_string()))?;
            points.push(PointStruct {
                id: Some(PointId::from(record.id)),
                payload: payload.into(),
                vectors: Some(Vectors::from(vectors)),
            });
        }
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(UPSERT_BATCH));
            let batch = std::mem::replace(&mut points, rest);
            // Bounded pipeline: at most `in_flight` requests outstanding.
            while self.pending.len() >= self.options.in_flight.max(1) {
                let Some(oldest) = self.pending.pop_front() else { break };
                self.conn
                    .rt
                    .block_on(oldest)
                    .unwrap_or_else(|e| Err(Error::Storage(format!("upsert task: {e}"))))?;
            }
            let request = UpsertPoints {
                collection_name: self.options.collection.clone(),
                wait: Some(true),
                points: batch,
                ..Default::default()
            };
            let client = self.conn.client.clone();
            let location = self.conn.location.clone();
            self.pending.push_back(self.conn.rt.spawn(async move {
                client
                    .upsert_points(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| server(&location, e))
            }));
        }
        Ok(())
    }

    fn delete_source(&mut self, source: &str) -> Result<usize, Error> {
        self.drain()?;
        let filter = Filter::must([Condition::matches("source", source.to_owned())]);
        let n = self.count_filtered(Some(filter.clone()))?;
        if n > 0 {
            self.delete(qdrant::PointsSelector::from(filter))?;
        }
        Ok(n)
    }

    fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, Error> {
        if query.k == 0 {
            return Ok(Vec::new());
        }
        let filter = Self::filter(query.filter.as_ref());
        let (indices, values) = self.bm25.query(query.text);
        let has_terms = !indices.is_empty();
        let dense = QQuery::new_nearest(VectorInput::new_dense(query.vector.to_vec()));
        let sparse = QQuery::new_nearest(VectorInput::new_sparse(indices, values));
        let candidates = query.candidates.max(query.k) as u64;
        let prefetch = |q: QQuery, using: &str| PrefetchQuery {
            query: Some(q),
            using: Some(using.to_owned()),
            filter: filter.clone(),
            limit: Some(candidates),
            ..Default::default()
        };
        let (prefetch, main, using) = match (query.mode, has_terms) {
            (SearchMode::Hybrid, true) => (
                vec![prefetch(dense, DENSE), prefetch(sparse, SPARSE)],
                QQuery {
                    variant: Some(qdrant::query::Variant::Rrf(Rrf {
                        k: Some(query.rrf_k.max(1) as u32),
                    })),
                },
                None,
            ),
            // A query with no BM25 terms left (only stopwords) falls back to dense retrieval.
            (SearchMode::Hybrid, false) | (SearchMode::Dense, _) => (vec![], dense, Some(DENSE.to_owned())),
            (SearchMode::Sparse, true) => (vec![], sparse, Some(SPARSE.to_owned())),
            (SearchMode::Sparse, false) => return Ok(Vec::new()),
        };
        let request = QueryPoints {
            collection_name: self.options.collection.clone(),
            prefetch,
            query: Some(main),
            using,
            filter,
            limit: Some(query.k as u64),
            with_vectors: Some(WithVectorsSelector::from(vec![DENSE])),
            with_payload: Some(WithPayloadSelector::from(true)),
            read_consistency: self.read_consistency(),
            ..Default::default()
        };
        let client = self.conn.client.clone();
        let reply = self.conn.block(async move { client.query(request).await })?;
        reply
            .result
            .into_iter()
            .map(|point| {
                let (id, vector, text, payload) = point_parts(point.id, point.payload, point.vectors)?;
                Ok(Hit {
                    id,
                    score: point.score,
                    similarity: cosine(&vector, query.vector),
                    vector,
                    text,
                    payload,
                })
            })
            .collect()
    }

    fn count(&self) -> Result<usize, Error> {
        self.count_filtered(None)
    }

    fn chunk_vectors(&self, source: &str) -> Result<Vec<(String, Vec<f32>)>, Error> {
        let filter = Filter::must([Condition::matches("source", source.to_owned())]);
        let mut out = Vec::new();
        self.scroll(
            Some(filter),
            WithPayloadSelector::from(vec!["chunk_hash"]),
            true,
            |points| {
                for point in points {
                    let hash = point
                        .payload
                        .get("chunk_hash")
                        .and_then(|v| v.as_str())
                        .cloned()
                        .unwrap_or_default();
                    let vector = dense_of(point.vectors);
                    if !hash.is_empty() && !vector.is_empty() {
                        out.push((hash, vector));
                    }
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn keys(&self) -> Result<Vec<StoredKey>, Error> {
        let mut out = Vec::new();
        self.scroll(
            None,
            WithPayloadSelector::from(vec!["source", "chunk_idx", "doc_hash"]),
            false,
            |points| {
                for point in points {
                    let id = num_id(point.id)?;
                    out.push(stored_key(id, |name| {
                        point.payload.get(name).cloned().map(serde_json::Value::from)
                    }));
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn delete_ids(&mut self, ids: &[u64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        for chunk in ids.chunks(1024) {
            let ids: Vec<PointId> = chunk.iter().map(|&id| PointId::from(id)).collect();
            self.delete(qdrant::PointsSelector::from(ids))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.check_lease()?;
        self.drain()
    }

    fn scroll_records(&self, each: &mut dyn FnMut(Vec<Record>) -> Result<(), Error>) -> Result<(), Error> {
        self.scroll(None, WithPayloadSelector::from(true), true, |points| {
            let mut page = Vec::with_capacity(points.len());
            for point in points {
                let (id, vector, text, payload) = point_parts(point.id, point.payload, point.vectors)?;
                if vector.is_empty() {
                    return Err(Error::Storage(format!("point {id} has no dense vector")));
                }
                page.push(Record {
                    id,
                    vector,
                    text,
                    payload,
                });
            }
            each(page)
        })
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        state::read(&self.conn, name)
    }

    fn write_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        self.check_lease()?;
        state::write(&self.conn, name, bytes)
    }

    fn remove_state(&mut self, name: &str) -> Result<(), Error> {
        self.check_lease()?;
        state::remove(&self.conn, name)
    }

    fn location(&self) -> String {
        self.conn.location.clone()
    }
}

fn create_collection(conn: &Conn, options: &QdrantOptions, meta: &IndexMeta) -> Result<(), Error> {
    let request = CreateCollection {
        collection_name: options.collection.clone(),
        shard_number: Some(options.shards.max(1)),
        replication_factor: Some(options.replication_factor.max(1)),
        write_consistency_factor: Some(options.write_consistency_factor.max(1)),
        vectors_config: Some(VectorsConfig {
            config: Some(vectors_config::Config::ParamsMap(qdrant::VectorParamsMap {
                map: HashMap::from([(
                    DENSE.to_owned(),
                    VectorParams {
                        size: meta.dim as u64,
                        distance: Distance::Cosine as i32,
                        ..Default::default()
                    },
                )]),
            })),
        }),
        sparse_vectors_config: Some(qdrant::SparseVectorConfig::from(HashMap::from([(
            SPARSE.to_owned(),
            SparseVectorParams {
                modifier: Some(Modifier::Idf as i32),
                ..Default::default()
            },
        )]))),
        timeout: Some(conn.timeout.as_secs().max(1)),
        ..Default::default()
    };
    let client = conn.client.clone();
    conn.block(async move { client.create_collection(request).await })?;
    for field in ["source", "kind"] {
        let request = CreateFieldIndexCollection {
            collection_name: options.collection.clone(),
            wait: Some(true),
            field_name: field.to_owned(),
            field_type: Some(FieldType::Keyword as i32),
            ..Default::default()
        };
        let client = conn.client.clone();
        conn.block(async move { client.create_field_index(request).await })?;
    }
    Ok(())
}

/// Accepts the server versions this backend was tested with (their minor version), refuses the rest.
fn check_version(location: &str, version: &str) -> Result<(), Error> {
    let minor = version
        .trim_start_matches('v')
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    if !SUPPORTED_SERVER_VERSIONS.contains(&minor.as_str()) {
        return Err(Error::ServerVersion {
            location: location.to_owned(),
            found: version.to_owned(),
            supported: SUPPORTED_SERVER_VERSIONS.join(", "),
        });
    }
    Ok(())
}

fn parse_meta(location: &str, bytes: &[u8]) -> Result<IndexMeta, Error> {
    let stored: StoredMeta = serde_json::from_slice(bytes).map_err(|e| Error::Meta {
        path: location.into(),
        reason: e.to_string(),
    })?;
    if stored.format_version != crate::FORMAT_VERSION {
        return Err(Error::Format {
            path: location.into(),
            found: stored.format_version,
            expected: crate::FORMAT_VERSION,
        });
    }
    Ok(stored.into_meta())
}

pub(crate) fn strong() -> WriteOrdering {
    WriteOrdering {
        r#type: WriteOrderingType::Strong as i32,
    }
}

fn num_id(id: Option<PointId>) -> Result<u64, Error> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(id)) => Ok(id),
        other => Err(Error::Storage(format!("unexpected point id {other:?}"))),
    }
}

fn dense_of(vectors: Option<qdrant::VectorsOutput>) -> Vec<f32> {
    let named = match vectors.and_then(|v| v.vectors_options) {
        Some(qdrant::vectors_output::VectorsOptions::Vectors(named)) => named,
        _ => return Vec::new(),
    };
    match named.vectors.get(DENSE).cloned().map(|v| v.into_vector()) {
        Some(qdrant::vector_output::Vector::Dense(dense)) => dense.data,
        _ => Vec::new(),
    }
}

type PointParts = (u64, Vec<f32>, String, crate::Payload);

fn point_parts(
    id: Option<PointId>,
    payload: HashMap<String, qdrant::Value>,
    vectors: Option<qdrant::VectorsOutput>,
) -> Result<PointParts, Error> {
    let id = num_id(id)?;
    let json = serde_json::Value::Object(
        payload
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::from(v)))
            .collect(),
    );
    let stored: StoredPayload =
        serde_json::from_value(json).map_err(|e| Error::Storage(format!("point {id}: bad payload: {e}")))?;
    let (text, payload) = stored.into_parts();
    Ok((id, dense_of(vectors), text, payload))
}

/// A client error as the index error the engine shows: the server, and what went wrong, in words (gRPC
/// metadata dropped; a refused connection and a timeout say what to check).
pub(crate) fn server(location: &str, err: impl std::fmt::Display) -> Error {
    let raw = err.to_string();
    let mut reason = raw.split(" MetadataMap {").next().unwrap_or(&raw).trim().to_owned();
    for prefix in ["Error in the response: ", "Internal error "] {
        if let Some(rest) = reason.strip_prefix(prefix) {
            reason = rest.to_owned();
        }
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("connection refused") || lower.contains("tcp connect error") || lower.contains("dns error") {
        reason = format!(
            "cannot connect ({}): is the Qdrant server running, and is this its gRPC port (6334 by default)?",
            if lower.contains("connection refused") {
                "connection refused"
            } else {
                "no route"
            }
        );
    } else if lower.contains("deadline has elapsed") || lower.contains("timeout expired") || lower.contains("timed out")
    {
        reason = format!("no answer in time (index.timeout_s): {reason}");
    }
    Error::Server {
        location: location.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_never_print_the_key() {
        let options = QdrantOptions {
            api_key: Some("sekrit-key".into()),
            ..Default::default()
        };
        let shown = format!("{options:?} {options:#?} {}", options.location());
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn only_tested_server_versions_are_accepted() {
        for ok in ["1.16.3", "1.16.0", "1.17.1", "v1.16.3"] {
            assert!(check_version("q", ok).is_ok(), "{ok}");
        }
        for bad in ["1.15.5", "1.18.0", "2.16.0", "1.1", "", "dev"] {
            let err = check_version("qdrant://h/c", bad).unwrap_err().to_string();
            assert!(err.contains("tested with Qdrant 1.16, 1.17"), "{bad}: {err}");
        }
    }

    #[test]
    fn locations_name_scheme_host_and_collection() {
        let mut options = QdrantOptions {
            url: "http://127.0.0.1:6334/".into(),
            collection: "docs".into(),
            ..Default::default()
        };
        assert_eq!(options.location(), "qdrant://127.0.0.1:6334/docs");
        options.url = "https://q.example:6334".into();
        assert_eq!(options.location(), "qdrants://q.example:6334/docs");
    }
}
