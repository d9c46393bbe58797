//! Errors of the index backends.

use std::path::PathBuf;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no index at the path.
    #[error("no index at {path}: run `rag ingest` first")]
    Missing {
        /// The index directory.
        path: PathBuf,
    },
    /// The directory is not empty and was not created by rag: nothing in it is touched.
    #[error(
        "{path} is not a rag index (it has no RAG_INDEX marker and is not empty): rag will not write into it; \
         give --index a new or empty directory"
    )]
    NotAnIndex {
        /// The directory.
        path: PathBuf,
    },
    /// A server collection exists that rag did not create: nothing in it is touched.
    #[error(
        "{location} is not a rag index: the collection exists but rag did not create it (there is no \
         {state} beside it); rag will not write into it: name a new collection"
    )]
    ForeignCollection {
        /// The server and collection.
        location: String,
        /// The state collection rag would have created first.
        state: String,
    },
    /// The index was built with another embedding model or dimension.
    #[error(
        "index at {path} was built with embedding model {found_model} ({found_dim} dims), \
         but the configured model is {expected_model} ({expected_dim} dims): use the same model, or re-ingest into a new index"
    )]
    ModelMismatch {
        /// The index directory.
        path: PathBuf,
        /// Model id stored in the index.
        found_model: String,
        /// Dimension stored in the index.
        found_dim: usize,
        /// Model id of the configured embedder.
        expected_model: String,
        /// Dimension of the configured embedder.
        expected_dim: usize,
    },
    /// The on-disk format is not one this version reads.
    #[error(
        "index at {path} has format version {found}, this rag reads version {expected}: build a new one with \
         `rag --index NEW_DIR ingest PATHS` (or delete {path} yourself and run `rag ingest PATHS` again); \
         nothing in {path} was changed"
    )]
    Format {
        /// The index directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Version this build writes and reads.
        expected: u32,
    },
    /// The index metadata file is unreadable.
    #[error("index metadata {path} is damaged: {reason}")]
    Meta {
        /// The metadata file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Another process holds the index lock.
    #[error("index at {path} is locked by another rag process (an ingest in progress?)")]
    Locked {
        /// The index directory.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another writer holds the write lease of a server collection.
    #[error(
        "index at {location} is being written by {holder} (an ingest in progress?); its lease expires in \
         {remaining_s} s if that writer stopped"
    )]
    Leased {
        /// The server and collection.
        location: String,
        /// Who holds the lease (process and host).
        holder: String,
        /// Seconds until the lease expires unless renewed.
        remaining_s: u64,
    },
    /// The Qdrant server could not be reached or refused a request.
    #[error("Qdrant at {location}: {reason}")]
    Server {
        /// The server and collection.
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// The Qdrant server runs a version this build was not tested with.
    #[error(
        "Qdrant at {location} runs version {found}; this rag is tested with Qdrant {supported} only: \
         use a server of one of those versions"
    )]
    ServerVersion {
        /// The server and collection.
        location: String,
        /// The version the server reported.
        found: String,
        /// The supported minor versions.
        supported: String,
    },
    /// The storage engine reported an error.
    #[error("index storage: {0}")]
    Storage(String),
}
