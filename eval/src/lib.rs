//! `rag-eval`: evaluation of `rag` on public benchmarks (BEIR retrieval, QA), kept out of the engine.
//!
//! For now it holds the dataset conversion used by the ingest benchmark; metrics and runners come with the
//! evaluation work.

pub mod beir;
