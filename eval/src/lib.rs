//! `rag-eval`: evaluation of `rag` on public benchmarks, kept out of the engine.
//!
//! - [`metrics`]: nDCG, recall, MRR with trec_eval / BEIR definitions;
//! - [`beir`]: BEIR-format dataset readers, with errors that name the file and line;
//! - [`retrieval`]: the retrieval evaluation behind `rag eval retrieval`.

pub mod beir;
pub mod formats;
pub mod inject;
pub mod load;
pub mod metrics;
pub mod qa;
pub mod retrieval;
pub mod synth;
pub mod synth_model;
