//! `rag`: retrieval-augmented generation over a folder of documents, offline, with citations.
//!
//! Data flow (see ARCHITECTURE.md):
//! `files → Connector → Document → Chunker → Chunk → Embedder → Record → VectorIndex`, then for a question
//! `Embedder → VectorIndex::search → Hit → retrieve::merge/pack → Passage → prompt::build → Generator → Answer`.
//!
//! Start with [`Engine::from_config`]. This crate never prints: progress goes through [`Progress`], results are
//! values, errors are [`Error`].

pub mod config;
pub mod device;
pub mod embed;
mod engine;
mod error;
pub mod generate;
pub mod index;
mod ingest;
pub mod json;
pub mod models;
pub mod progress;
mod query;
pub mod remote;
pub mod serve;
pub mod testing;

pub use ingest::{chunk, flag, manifest, walk};
pub use query::{answer, attribute, chat, evidence, prompt, rerank, retrieve, searcher};

pub use answer::{Answer, Refusal, Timings};
pub use chat::{Conversation, Turn};
pub use config::Config;
pub use engine::{dir_size, Engine, IndexStatus};
pub use error::{Error, Result};
pub use generate::Flow;
pub use ingest::{IngestFailure, IngestReport};
pub use progress::{NoProgress, Progress};
pub use rag_connectors as connectors;
pub use rag_indexes as indexes;
pub use searcher::{SearchOptions, SearchResult, Searcher};
