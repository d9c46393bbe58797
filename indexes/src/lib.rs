//! Vector indexes for `rag`: where [`Record`]s are stored and searched.
//!
//! The API boundary is the [`VectorIndex`] trait.
//! The default backend, [`EmbeddedIndex`], runs Qdrant in-process (`qdrant-edge`) on a directory: a dense
//! vector (cosine) and a BM25 sparse vector per chunk, fused with reciprocal-rank fusion inside the index.
//! The second backend, [`QdrantIndex`], keeps the same schema in a collection of a Qdrant server or cluster
//! (`qdrant-client`), with the engine's state (manifest, write lease) in a companion collection.
//! This crate never parses or interprets chunk text beyond handing it to BM25; it knows nothing of connectors,
//! embedders or the engine.

mod copy;
mod embedded;
mod error;
mod qdrant;
mod record;
mod shared;
mod stored;

pub use copy::{copy_index, CopyReport};
pub use embedded::{EmbeddedIndex, LOAD_WAIT};
pub use error::Error;
pub use qdrant::{QdrantIndex, QdrantOptions, ReadConsistency, SUPPORTED_SERVER_VERSIONS};
pub use record::{
    indexed_text, Bm25Params, Hit, IndexMeta, Payload, Query, Record, SearchFilter, SearchMode, StoredKey,
    FORMAT_VERSION,
};
pub use shared::SharedIndex;
pub use stored::check_model;

/// A store of [`Record`]s searchable by vector and by text.
///
/// Invariants every backend keeps:
/// - `upsert` with an existing id replaces that record (ids are stable, so re-ingesting is idempotent);
/// - nothing written is visible to a *reopened* index until `commit` returns;
/// - `meta` is what the index was created with: the embedder's model id and dimension never change.
pub trait VectorIndex: Send + Sync {
    /// What this index was created with.
    fn meta(&self) -> &IndexMeta;
    /// Inserts or replaces records by id.
    fn upsert(&mut self, records: Vec<Record>) -> Result<(), Error>;
    /// Removes every record of `source`, returning how many were removed.
    fn delete_source(&mut self, source: &str) -> Result<usize, Error>;
    /// Returns up to `query.k` hits, best first.
    fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, Error>;
    /// The number of records stored.
    fn count(&self) -> Result<usize, Error>;
    /// The stored vectors of `source`'s chunks, keyed by chunk-text hash, so unchanged chunks of a modified or
    /// renamed file can be reused instead of re-embedded.
    fn chunk_vectors(&self, source: &str) -> Result<Vec<(String, Vec<f32>)>, Error>;
    /// Every stored record's key (no text, no vectors), in no particular order.
    fn keys(&self) -> Result<Vec<StoredKey>, Error>;
    /// Removes the records with these ids.
    fn delete_ids(&mut self, ids: &[u64]) -> Result<(), Error>;
    /// Makes all writes so far durable.
    fn commit(&mut self) -> Result<(), Error>;
    /// Every stored record with its vector, text and payload, handed to `each` a page at a time (copying an
    /// index to another backend without re-embedding).
    fn scroll_records(&self, each: &mut dyn FnMut(Vec<Record>) -> Result<(), Error>) -> Result<(), Error>;
    /// Reads a named piece of the engine's state kept with the index (the manifest, the mark of an unfinished
    /// ingest): `None` when it was never written.
    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Stores a named piece of state durably, replacing the old one as a whole (a reader sees the old or the
    /// new bytes, never a mix).
    fn write_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error>;
    /// Removes a named piece of state (nothing happens when there is none).
    fn remove_state(&mut self, name: &str) -> Result<(), Error>;
    /// Where the index lives, for messages: its directory, or the server and collection.
    fn location(&self) -> String;
    /// The local directory holding the index, if it has one (ingest never walks into it).
    fn local_dir(&self) -> Option<&std::path::Path> {
        None
    }
    /// Bytes the index takes on disk, when the backend can tell.
    fn size_bytes(&self) -> Option<u64> {
        None
    }
}
