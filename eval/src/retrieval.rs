//! `rag eval retrieval`: nDCG@10, Recall@10/100, MRR@10 and query latency on a BEIR dataset.
//!
//! The corpus is written as one file per document (`<id>.txt`, title then text) and ingested with the normal
//! pipeline, so what is measured is what users run. A document's rank is the rank of its best chunk.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rag::config::RetrieveMode;
use rag::{Engine, SearchOptions};

use crate::beir::{self, DatasetError};
use crate::metrics::{mrr_at, ndcg_at, percentile, recall_at};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct RetrievalOptions {
    /// The dataset directory (corpus.jsonl, queries.jsonl, qrels/).
    pub dataset: PathBuf,
    /// The qrels split (`test`, `train`, `dev`).
    pub split: String,
    /// Only the first N judged queries; the corpus is then cut to their judged documents plus the first
    /// `distractors` others (a quick slice for CI; the numbers are not comparable to full runs).
    pub limit: Option<usize>,
    /// Unjudged documents kept with `limit`.
    pub distractors: usize,
    /// Retrieval modes to run.
    pub modes: Vec<RetrieveMode>,
    /// Where the corpus files are written for ingestion.
    pub docs_dir: PathBuf,
    /// Which half of the judged queries: a setting is tuned on one half and reported on the other.
    pub half: QueryHalf,
}

/// A fixed split of the queries by a hash of their id, so tuning and reporting never share a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryHalf {
    /// Every judged query.
    #[default]
    All,
    /// Queries whose id hashes (SHA-256, first byte) to an even number: for choosing settings.
    Tune,
    /// The other queries: for reporting the chosen settings.
    Report,
}

impl QueryHalf {
    /// Whether query `id` belongs to this half.
    pub fn contains(self, id: &str) -> bool {
        use sha2::{Digest, Sha256};
        let even = Sha256::digest(id.as_bytes())[0] % 2 == 0;
        match self {
            QueryHalf::All => true,
            QueryHalf::Tune => even,
            QueryHalf::Report => !even,
        }
    }
}

/// Metrics of one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeReport {
    /// The mode.
    pub mode: RetrieveMode,
    /// Queries evaluated.
    pub n_queries: usize,
    /// Mean nDCG@10.
    pub ndcg_10: f64,
    /// Mean Recall@10.
    pub recall_10: f64,
    /// Mean Recall@100.
    pub recall_100: f64,
    /// Mean MRR@10.
    pub mrr_10: f64,
    /// Median query latency (embedding + search), milliseconds.
    pub p50_ms: f64,
    /// 95th-percentile query latency, milliseconds.
    pub p95_ms: f64,
}

/// Errors of an evaluation run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The dataset is malformed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] rag::Error),
    /// Writing the corpus files failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `corpus` as files under `docs_dir`, ingests them (incrementally), and returns file name → document id,
/// with the ingest's report.
pub(crate) fn ingest_corpus(
    engine: &Engine,
    corpus: &[beir::CorpusDoc],
    docs_dir: &Path,
) -> Result<(HashMap<String, String>, rag::IngestReport), EvalError> {
    beir::write_as_files(corpus, docs_dir).map_err(|source| EvalError::Io {
        path: docs_dir.to_path_buf(),
        source,
    })?;
    let report = engine.ingest(&[docs_dir.to_path_buf()])?;
    Ok((
        corpus.iter().map(|d| (beir::file_name(&d.id), d.id.clone())).collect(),
        report,
    ))
}

/// Ingests the dataset's corpus into `engine`'s index (incrementally) and evaluates every mode; returns the
/// metrics of each mode and the ingest's report.
pub fn run(engine: &Engine, options: &RetrievalOptions) -> Result<(Vec<ModeReport>, rag::IngestReport), EvalError> {
    let dataset = &options.dataset;
    let corpus = beir::read_corpus(&dataset.join("corpus.jsonl"))?;
    let queries = beir::read_queries(&dataset.join("queries.jsonl"))?;
    let query_ids: HashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
    let doc_ids: HashSet<&str> = corpus.iter().map(|d| d.id.as_str()).collect();
    let qrels_path = dataset.join("qrels").join(format!("{}.tsv", options.split));
    let qrels = beir::read_qrels(&qrels_path, &query_ids, &doc_ids)?;
    let mut judged: Vec<&(String, String)> = queries
        .iter()
        .filter(|(id, _)| qrels.contains_key(id) && options.half.contains(id))
        .collect();
    let corpus = match options.limit {
        Some(n) => {
            judged.truncate(n);
            let wanted: HashSet<&str> = judged
                .iter()
                .flat_map(|(q, _)| qrels[q].keys().map(String::as_str))
                .collect();
            let mut distractors = 0;
            corpus
                .into_iter()
                .filter(|d| {
                    let keep = wanted.contains(d.id.as_str()) || distractors < options.distractors;
                    if !wanted.contains(d.id.as_str()) && keep {
                        distractors += 1;
                    }
                    keep
                })
                .collect()
        }
        None => corpus,
    };
    let (by_file, ingest) = ingest_corpus(engine, &corpus, &options.docs_dir)?;
    let searcher = engine.searcher()?;
    let mut reports = Vec::new();
    for &mode in &options.modes {
        let search = SearchOptions {
            k: Some(200),
            mode: Some(mode),
            ..SearchOptions::default()
        };
        let (mut ndcg, mut r10, mut r100, mut mrr) = (0.0, 0.0, 0.0, 0.0);
        let mut latencies = Vec::with_capacity(judged.len());
        for (qid, text) in &judged {
            let started = Instant::now();
            let results = searcher.search(text, &search)?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            let mut seen = HashSet::new();
            let ranking: Vec<String> = results
                .iter()
                .filter_map(|r| {
                    let name = Path::new(&r.passage.source).file_name()?.to_str()?;
                    by_file.get(name).cloned()
                })
                .filter(|id| seen.insert(id.clone()))
                .collect();
            let judgements = &qrels[qid];
            ndcg += ndcg_at(&ranking, judgements, 10);
            r10 += recall_at(&ranking, judgements, 10);
            r100 += recall_at(&ranking, judgements, 100);
            mrr += mrr_at(&ranking, judgements, 10);
        }
        let n = judged.len().max(1) as f64;
        reports.push(ModeReport {
            mode,
            n_queries: judged.len(),
            ndcg_10: ndcg / n,
            recall_10: r10 / n,
            recall_100: r100 / n,
            mrr_10: mrr / n,
            p50_ms: percentile(&latencies, 50.0),
            p95_ms: percentile(&latencies, 95.0),
        });
    }
    Ok((reports, ingest))
}
