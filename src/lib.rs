//! `rag`: retrieval-augmented generation over a folder of documents, offline, with citations.
//!
//! Data flow (see ARCHITECTURE.md):
//! `files → Connector → Document → Chunker → Chunk → Embedder → Record → VectorIndex`, then for a question
//! `Embedder → VectorIndex::search → Hit → retrieve::merge/pack → Passage → prompt::build → Generator → Answer`.
//!
//! Start with [`Engine::from_config`]. This crate never prints: progress goes through [`Progress`], results are
//! values, errors are [`Error`].

pub mod answer;
pub mod attribute;
pub mod chat;
pub mod chunk;
pub mod config;
pub mod device;
pub mod embed;
mod engine;
mod error;
pub mod generate;
mod ingest;
pub mod manifest;
pub mod models;
pub mod progress;
pub mod prompt;
pub mod remote;
pub mod rerank;
pub mod retrieve;
pub mod testing;

pub use answer::{Answer, Refusal, Timings};
pub use chat::{Conversation, Turn};
pub use config::Config;
pub use engine::{dir_size, Engine, IndexStatus, SearchOptions, SearchResult, Searcher};
pub use error::{Error, Result};
pub use generate::Flow;
pub use ingest::{IngestFailure, IngestReport};
pub use progress::{NoProgress, Progress};
pub use rag_connectors as connectors;
pub use rag_indexes as indexes;
