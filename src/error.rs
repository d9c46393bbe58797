//! The engine's error type: leaf errors wrapped, plus the engine's own failures.

use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document could not be loaded.
    #[error(transparent)]
    Connector(#[from] rag_connectors::Error),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] rag_indexes::Error),
    /// The embedder failed.
    #[error("embedding: {0}")]
    Embed(String),
    /// The generator failed.
    #[error("generation: {0}")]
    Generate(String),
    /// A model could not be provisioned.
    #[error("model {model}: {reason}")]
    Model {
        /// The model name or path.
        model: String,
        /// What went wrong.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index holds no chunks yet.
    #[error("the index at {path} is empty: run `rag ingest <paths>` first")]
    EmptyIndex {
        /// The index directory.
        path: PathBuf,
    },
    /// The operation was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model(model: impl Into<String>, reason: impl std::fmt::Display) -> Error {
        Error::Model {
            model: model.into(),
            reason: reason.to_string(),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
