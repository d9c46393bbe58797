//! `rag eval qa`: question answering over a document corpus, end to end.
//!
//! Per question: retrieval recall@k of the gold document, the generated answer's SQuAD exact match and token
//! F1 (standard normalisation: lowercase, no punctuation, no articles, single spaces) and whether it contains a
//! gold answer, citation validity, and on unanswerable questions whether the engine refused. A refusal-threshold
//! sweep over the best retrieval similarity shows the trade-off behind `retrieve.min_similarity`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rag::answer::REFUSAL_TEXT;
use rag::attribute::CitedBy;
use rag::{Engine, Flow, SearchOptions};

use crate::beir::{self, DatasetError};
use crate::metrics::percentile;
use crate::retrieval::EvalError;

/// One question of a QA dataset (`qa.dev.jsonl`).
#[derive(Debug, Clone, PartialEq)]
pub struct QaItem {
    /// Question id.
    pub id: String,
    /// The question.
    pub question: String,
    /// Gold answers (empty for unanswerable questions).
    pub answers: Vec<String>,
    /// The corpus document holding the answer.
    pub doc_id: String,
    /// False when annotators found no answer in the document.
    pub answerable: bool,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct QaOptions {
    /// Dataset directory (corpus.jsonl, qa.dev.jsonl).
    pub dataset: PathBuf,
    /// Evaluate N questions spread evenly over the file (all when `None`).
    pub limit: Option<usize>,
    /// Retrieval depth for recall.
    pub k: usize,
    /// Skip generation: retrieval recall and the refusal sweep only.
    pub retrieval_only: bool,
    /// Skip generation but run the answerability check on each question (its sweep), which needs
    /// `retrieve.answerable_threshold` above 0.
    pub check_only: bool,
    /// Where the corpus files are written for ingestion.
    pub docs_dir: PathBuf,
    /// Leave every second document of the corpus (in file order) out of the index, so that the questions about
    /// it become on-topic unanswerable ones: the rest of the same article is still there, the answer is not.
    pub withhold_gold: bool,
}

/// One evaluated question, for reading the run afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct QaRecord {
    /// Question id.
    pub id: String,
    /// The question.
    pub question: String,
    /// Whether the documents in the index answer it.
    pub answerable: bool,
    /// The answer's text (empty without generation).
    pub answer: String,
    /// Why the engine refused, if it did (`Refusal::name`), or `"text"` when only the wording is a refusal.
    pub refusal: Option<&'static str>,
    /// Whether the answer contains a gold answer.
    pub contains_gold: bool,
    /// Each sentence: who cited it and the figures no passage states.
    pub sentences: Vec<(String, &'static str, Vec<String>)>,
    /// The best cosine similarity among the retrieved chunks.
    pub best_similarity: f32,
    /// The largest share of the question's content words a retrieved chunk holds.
    pub lexical: f32,
    /// Sentence evidence among the retrieved chunks: best question-sentence cosine, best two-sentence coverage.
    pub sentence: rag::evidence::Evidence,
    /// Answerable questions: each sentence the engine attributed, with what its choice was made from.
    pub attributions: Vec<AttributionTrace>,
}

/// One engine attribution of an answerable question, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionTrace {
    /// The sentence.
    pub sentence: String,
    /// The passage the engine chose.
    pub chosen: u32,
    /// The passages from the gold document.
    pub gold: Vec<u32>,
    /// The passages the model cited elsewhere in the answer.
    pub model_cited: Vec<u32>,
    /// Each passage's support for the sentence.
    pub supports: Vec<rag::attribute::Support>,
}

/// Aggregated results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QaReport {
    /// Questions evaluated.
    pub n_questions: usize,
    /// Of which answerable.
    pub n_answerable: usize,
    /// Gold document among the top-k retrieved documents (answerable questions).
    pub recall_at_k: f64,
    /// Mean exact match (answerable, generated).
    pub exact_match: f64,
    /// Mean token F1 (answerable, generated).
    pub f1: f64,
    /// Answers containing a gold answer (answerable, generated).
    pub contains: f64,
    /// Answers in which the model cited only passages that exist (before the engine's check removes the rest).
    pub citations_valid: f64,
    /// Answers citing at least one passage.
    pub cited: f64,
    /// Of all answer sentences: the share the engine attributed (the model cited none in them).
    pub engine_cited: f64,
    /// Of the engine's attributions in answerable questions: the share that name the gold document.
    pub engine_precision: f64,
    /// Of the engine's attributions of sentences that state a gold answer: the share that name the gold
    /// document (where that answer is).
    pub engine_precision_answer: f64,
    /// How many engine-attributed sentences stated a gold answer (the denominator of the line above).
    pub n_engine_answer_sentences: usize,
    /// How many engine-attributed sentences of answerable questions there were.
    pub n_engine_sentences: usize,
    /// Of the engine's attributions in answerable questions whose gold document is among the passages (an
    /// attribution can name it): the share that do. The others are retrieval misses, which `recall_at_k` counts.
    pub engine_precision_retrieved: f64,
    /// The denominator of the line above.
    pub n_engine_sentences_retrieved: usize,
    /// Of all answer sentences: the share no passage supports.
    pub unsupported: f64,
    /// Unanswerable questions whose generated answer has no supported sentence (what a support check would
    /// refuse), over the unanswerable questions.
    pub unsupported_unanswerable: f64,
    /// Answerable questions whose generated answer has no supported sentence, over the answerable questions.
    pub unsupported_answerable: f64,
    /// Attribution threshold sweep over uncited sentences of answerable questions:
    /// (threshold, precision against the gold document, share of those sentences attributed).
    pub attribution_sweep: Vec<(f32, f64, f64)>,
    /// Refused unanswerable questions / unanswerable questions.
    pub refusal_rate: f64,
    /// Refused answerable questions / answerable questions.
    pub false_refusal_rate: f64,
    /// Median seconds per answer.
    pub p50_answer_s: f64,
    /// (threshold, refusal rate on unanswerable, false-refusal rate on answerable) by best similarity.
    pub sweep: Vec<(f32, f64, f64)>,
    /// At the configured `min_similarity`: (lexical_override, refused unanswerable, refused answerable) when a
    /// question is refused only if no retrieved chunk holds that share of its content words.
    pub lexical_sweep: Vec<(f32, f64, f64)>,
    /// Questions the answerability check scored.
    pub n_checked: usize,
    /// (threshold, refused unanswerable, refused answerable) when `ask` refuses below that answerability
    /// probability, on top of the refusals of the run itself (the relevance refusal, and with generation the
    /// model's own "the documents do not contain ..."). Exact for thresholds at or above the configured one.
    pub answerable_sweep: Vec<(f32, f64, f64)>,
    /// Per question the check scored: (probability, refused by the run itself, answerable).
    pub answerability: Vec<(f32, bool, bool)>,
    /// Refusals by reason: (reason, unanswerable questions, answerable questions).
    pub refusals: Vec<(String, usize, usize)>,
    /// Every question with its answer.
    pub records: Vec<QaRecord>,
}

/// Reads `qa.dev.jsonl`.
pub fn read_qa(path: &Path) -> Result<Vec<QaItem>, DatasetError> {
    beir::read_jsonl(path, |line| {
        let answers = line
            .value()
            .get("answers")
            .and_then(|a| a.as_array())
            .ok_or_else(|| line.error("missing array field answers"))?
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        Ok(QaItem {
            id: line.str("id")?,
            question: line.str("question")?,
            doc_id: line.str("doc_id")?,
            answerable: line.value().get("answerable").and_then(|a| a.as_bool()).unwrap_or(true),
            answers,
        })
    })
}

/// SQuAD answer normalisation: lowercase, drop punctuation and the articles a/an/the, collapse whitespace.
pub fn normalize_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punct: String = lower
        .chars()
        .map(|c| if c.is_ascii_punctuation() { ' ' } else { c })
        .collect();
    no_punct
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// SQuAD exact match: 1 if the normalised prediction equals a normalised gold answer.
pub fn exact_match(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize_answer(prediction);
    if golds.iter().any(|g| normalize_answer(g) == p) {
        1.0
    } else {
        0.0
    }
}

/// SQuAD token F1, the best over the gold answers.
pub fn f1(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize_answer(prediction);
    let p: Vec<&str> = p.split_whitespace().collect();
    golds
        .iter()
        .map(|g| {
            let g = normalize_answer(g);
            let g: Vec<&str> = g.split_whitespace().collect();
            let mut counts: HashMap<&str, i32> = HashMap::new();
            for t in &g {
                *counts.entry(t).or_default() += 1;
            }
            let mut common = 0;
            for t in &p {
                if let Some(c) = counts.get_mut(t) {
                    if *c > 0 {
                        *c -= 1;
                        common += 1;
                    }
                }
            }
            if common == 0 {
                return 0.0;
            }
            let precision = common as f64 / p.len() as f64;
            let recall = common as f64 / g.len() as f64;
            2.0 * precision * recall / (precision + recall)
        })
        .fold(0.0, f64::max)
}

/// Whether the normalised prediction contains a normalised gold answer.
pub fn contains_answer(prediction: &str, golds: &[String]) -> bool {
    let p = format!(" {} ", normalize_answer(prediction));
    golds.iter().any(|g| {
        let g = normalize_answer(g);
        !g.is_empty() && p.contains(&format!(" {g} "))
    })
}

/// Picks `n` items spread evenly over `items` (all of them when `n` is `None` or larger).
fn spread<T: Clone>(items: &[T], n: Option<usize>) -> Vec<T> {
    match n {
        Some(n) if n < items.len() => (0..n).map(|i| items[i * items.len() / n].clone()).collect(),
        _ => items.to_vec(),
    }
}

/// Ingests the corpus and evaluates the questions. `progress` is called after each question.
pub fn run(
    engine: &Engine,
    options: &QaOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<QaReport, EvalError> {
    let corpus = beir::read_corpus(&options.dataset.join("corpus.jsonl"))?;
    let items = read_qa(&options.dataset.join("qa.dev.jsonl"))?;
    let doc_ids: HashSet<&str> = corpus.iter().map(|d| d.id.as_str()).collect();
    for (i, item) in items.iter().enumerate() {
        if !doc_ids.contains(item.doc_id.as_str()) {
            return Err(EvalError::Dataset(DatasetError::Line {
                path: options.dataset.join("qa.dev.jsonl"),
                line: i + 1,
                reason: format!("document {:?} is not in corpus.jsonl", item.doc_id),
            }));
        }
    }
    let (corpus, items) = if options.withhold_gold {
        let withheld: HashSet<String> = corpus.iter().skip(1).step_by(2).map(|d| d.id.clone()).collect();
        let kept = corpus
            .into_iter()
            .filter(|d| !withheld.contains(&d.id))
            .collect::<Vec<_>>();
        let items = items
            .into_iter()
            .map(|mut item| {
                if withheld.contains(&item.doc_id) {
                    item.answerable = false;
                }
                item
            })
            .collect::<Vec<_>>();
        (kept, items)
    } else {
        (corpus, items)
    };
    let (by_file, _) = crate::retrieval::ingest_corpus(engine, &corpus, &options.docs_dir)?;
    let doc_of = |source: &str| {
        Path::new(source)
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| by_file.get(n))
    };

    let items = spread(&items, options.limit);
    let searcher = engine.searcher()?;
    let search = SearchOptions {
        k: Some(options.k),
        ..SearchOptions::default()
    };
    let mut report = QaReport {
        n_questions: items.len(),
        ..QaReport::default()
    };
    let mut best_similarity = Vec::with_capacity(items.len());
    let mut best_lexical: Vec<f32> = Vec::with_capacity(items.len());
    let (mut found, mut em, mut f1_sum, mut contains, mut valid, mut cited) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut refused_unanswerable, mut refused_answerable, mut generated) = (0.0, 0.0, 0.0);
    let mut seconds = Vec::new();
    let (mut n_sentences, mut n_engine, mut n_unsupported) = (0.0, 0.0, 0.0);
    let (mut engine_checked, mut engine_right) = (0.0, 0.0);
    let (mut retrieved_checked, mut retrieved_right) = (0.0, 0.0);
    let (mut answer_checked, mut answer_right) = (0.0, 0.0);
    let (mut unsupported_u, mut unsupported_a) = (0.0, 0.0);
    // (best support, whether that passage is the gold document) of every uncited sentence, answerable questions.
    let mut uncited: Vec<(f32, bool)> = Vec::new();
    // (answerability probability, refused by the run itself, answerable) of every question the check scored.
    let mut checked: Vec<(f32, bool, bool)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let results = searcher.search(&item.question, &search)?;
        let best = results
            .iter()
            .map(|r| r.passage.similarity)
            .fold(f32::NEG_INFINITY, f32::max);
        best_similarity.push((best, item.answerable));
        let lexical = results
            .iter()
            .map(|r| rag::attribute::coverage(&item.question, &r.passage.text))
            .fold(0.0f32, f32::max);
        best_lexical.push(lexical);
        let texts: Vec<&str> = results.iter().map(|r| r.passage.text.as_str()).collect();
        let sentence = searcher.sentence_evidence(&item.question, &texts)?;
        if item.answerable {
            report.n_answerable += 1;
            if results.iter().any(|r| doc_of(&r.passage.source) == Some(&item.doc_id)) {
                found += 1.0;
            }
        }
        if options.retrieval_only {
            report.records.push(QaRecord {
                id: item.id.clone(),
                question: item.question.clone(),
                answerable: item.answerable,
                answer: String::new(),
                refusal: None,
                contains_gold: false,
                sentences: Vec::new(),
                best_similarity: best,
                lexical,
                sentence,
                attributions: Vec::new(),
            });
        }
        if options.check_only {
            if let Some(p) = searcher.answerability(&item.question, &SearchOptions::default())? {
                checked.push((p, p == 0.0, item.answerable));
            }
        } else if !options.retrieval_only {
            let started = Instant::now();
            let answer = searcher.ask(&item.question, &SearchOptions::default(), &mut |_| Flow::Continue)?;
            seconds.push(started.elapsed().as_secs_f64());
            let refused =
                answer.refusal.is_some() || answer.text.contains(REFUSAL_TEXT) || rag::answer::declines(&answer.text);
            let reason = answer.refusal.map(|r| r.name()).or(refused.then_some("text"));
            if let Some(reason) = reason {
                match report.refusals.iter_mut().find(|(r, _, _)| r == reason) {
                    Some(entry) if item.answerable => entry.2 += 1,
                    Some(entry) => entry.1 += 1,
                    None => report.refusals.push((
                        reason.to_owned(),
                        usize::from(!item.answerable),
                        usize::from(item.answerable),
                    )),
                }
            }
            report.records.push(QaRecord {
                id: item.id.clone(),
                question: item.question.clone(),
                answerable: item.answerable,
                answer: answer.text.clone(),
                refusal: reason,
                contains_gold: contains_answer(&answer.text, &item.answers),
                sentences: answer
                    .sentences
                    .iter()
                    .map(|s| (s.text.clone(), s.cited_by.name(), s.unstated.clone()))
                    .collect(),
                best_similarity: best,
                lexical,
                sentence,
                attributions: Vec::new(),
            });
            if let Some(p) = answer.answerable {
                checked.push((
                    p,
                    refused && !matches!(answer.refusal, Some(rag::Refusal::NotAnswerable { .. })),
                    item.answerable,
                ));
            }
            if item.answerable {
                if refused {
                    refused_answerable += 1.0;
                }
                em += exact_match(&answer.text, &item.answers);
                f1_sum += f1(&answer.text, &item.answers);
                if contains_answer(&answer.text, &item.answers) {
                    contains += 1.0;
                }
            } else if refused {
                refused_unanswerable += 1.0;
            }
            if answer.refusal.is_none_or(|r| r.generated()) {
                generated += 1.0;
                if answer.invalid_citations.is_empty() {
                    valid += 1.0;
                }
                if answer.cited {
                    cited += 1.0;
                }
                let is_gold = |n: u32| {
                    answer
                        .passages
                        .iter()
                        .find(|p| p.n == n)
                        .and_then(|p| doc_of(&p.source))
                        .is_some_and(|d| *d == item.doc_id)
                };
                let grounded = answer.sentences.iter().any(|s| s.cited_by != CitedBy::Unsupported);
                if !grounded && !refused {
                    if item.answerable {
                        unsupported_a += 1.0;
                    } else {
                        unsupported_u += 1.0;
                    }
                }
                for sentence in &answer.sentences {
                    n_sentences += 1.0;
                    match sentence.cited_by {
                        CitedBy::Model => {}
                        CitedBy::Engine => {
                            n_engine += 1.0;
                            if item.answerable {
                                engine_checked += 1.0;
                                let right = sentence.citations.first().is_some_and(|&n| is_gold(n));
                                if right {
                                    engine_right += 1.0;
                                }
                                if answer.passages.iter().any(|p| is_gold(p.n)) {
                                    retrieved_checked += 1.0;
                                    if right {
                                        retrieved_right += 1.0;
                                    }
                                }
                                if contains_answer(&sentence.text, &item.answers) {
                                    answer_checked += 1.0;
                                    if right {
                                        answer_right += 1.0;
                                    }
                                }
                            }
                        }
                        CitedBy::Unsupported => n_unsupported += 1.0,
                    }
                }
                if item.answerable {
                    for sentence in rag::attribute::attribute(&answer.text, &answer.passages, 0.0) {
                        if sentence.cited_by == CitedBy::Engine {
                            uncited.push((sentence.score, sentence.citations.first().is_some_and(|&n| is_gold(n))));
                        }
                    }
                    let model_cited: Vec<u32> = answer
                        .sentences
                        .iter()
                        .filter(|s| s.cited_by == CitedBy::Model)
                        .flat_map(|s| s.citations.iter().copied())
                        .collect();
                    let supports = rag::attribute::supports(&answer.text, &answer.passages);
                    let traces = answer
                        .sentences
                        .iter()
                        .zip(supports)
                        .filter(|(s, _)| s.cited_by == CitedBy::Engine)
                        .map(|(s, (_, supports))| AttributionTrace {
                            sentence: s.text.clone(),
                            chosen: s.citations.first().copied().unwrap_or_default(),
                            gold: answer.passages.iter().map(|p| p.n).filter(|&n| is_gold(n)).collect(),
                            model_cited: model_cited.clone(),
                            supports,
                        })
                        .collect();
                    if let Some(record) = report.records.last_mut() {
                        record.attributions = traces;
                    }
                }
            }
        }
        progress(i + 1, items.len());
    }
    let answerable = report.n_answerable.max(1) as f64;
    let unanswerable = (report.n_questions - report.n_answerable).max(1) as f64;
    report.recall_at_k = found / answerable;
    report.exact_match = em / answerable;
    report.f1 = f1_sum / answerable;
    report.contains = contains / answerable;
    report.citations_valid = valid / f64::max(generated, 1.0);
    report.cited = cited / f64::max(generated, 1.0);
    report.refusal_rate = refused_unanswerable / unanswerable;
    report.false_refusal_rate = refused_answerable / answerable;
    report.p50_answer_s = percentile(&seconds, 50.0);
    report.engine_cited = n_engine / f64::max(n_sentences, 1.0);
    report.unsupported = n_unsupported / f64::max(n_sentences, 1.0);
    report.engine_precision = engine_right / f64::max(engine_checked, 1.0);
    report.engine_precision_answer = answer_right / f64::max(answer_checked, 1.0);
    report.n_engine_answer_sentences = answer_checked as usize;
    report.n_engine_sentences = engine_checked as usize;
    report.engine_precision_retrieved = retrieved_right / f64::max(retrieved_checked, 1.0);
    report.n_engine_sentences_retrieved = retrieved_checked as usize;
    report.unsupported_unanswerable = unsupported_u / unanswerable;
    report.unsupported_answerable = unsupported_a / answerable;
    report.attribution_sweep = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        .iter()
        .map(|&t| {
            let kept: Vec<&(f32, bool)> = uncited.iter().filter(|(s, _)| *s >= t).collect();
            let right = kept.iter().filter(|(_, gold)| *gold).count() as f64;
            (
                t,
                right / f64::max(kept.len() as f64, 1.0),
                kept.len() as f64 / f64::max(uncited.len() as f64, 1.0),
            )
        })
        .collect();
    report.n_checked = checked.len();
    report.answerability = checked.clone();
    report.answerable_sweep = [
        0.05f32, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7,
    ]
    .iter()
    .map(|&t| {
        let refused = |answerable: bool| {
            let all: Vec<_> = checked.iter().filter(|c| c.2 == answerable).collect();
            let n = all.iter().filter(|(p, own, _)| *own || *p < t).count();
            n as f64 / f64::max(all.len() as f64, 1.0)
        };
        (t, refused(false), refused(true))
    })
    .collect();
    let threshold = engine.config().retrieve.min_similarity;
    report.lexical_sweep = [0.5f32, 0.6, 0.7, 0.8, 0.9, 1.0, 1.01]
        .iter()
        .map(|&l| {
            let refuse = |(i, (s, _)): (usize, &(f32, bool))| *s < threshold && best_lexical[i] < l;
            let refused_u = best_similarity
                .iter()
                .enumerate()
                .filter(|(_, (_, a))| !a)
                .filter(|&x| refuse(x))
                .count();
            let refused_a = best_similarity
                .iter()
                .enumerate()
                .filter(|(_, (_, a))| *a)
                .filter(|&x| refuse(x))
                .count();
            (l, refused_u as f64 / unanswerable, refused_a as f64 / answerable)
        })
        .collect();
    report.sweep = [0.1f32, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6]
        .iter()
        .map(|&t| {
            let refused_u = best_similarity.iter().filter(|(s, a)| !a && *s < t).count() as f64;
            let refused_a = best_similarity.iter().filter(|(s, a)| *a && *s < t).count() as f64;
            (t, refused_u / unanswerable, refused_a / answerable)
        })
        .collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golds(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn squad_metrics_by_hand() {
        assert_eq!(normalize_answer("The  Eiffel-Tower!"), "eiffel tower");
        assert_eq!(exact_match("the Eiffel Tower.", &golds(&["Eiffel Tower"])), 1.0);
        assert_eq!(exact_match("Paris", &golds(&["Eiffel Tower"])), 0.0);
        // prediction "in paris france" vs gold "paris": common 1, p = 1/3, r = 1, F1 = 0.5
        assert!((f1("in Paris, France", &golds(&["Paris"])) - 0.5).abs() < 1e-12);
        assert_eq!(f1("x", &golds(&[])), 0.0);
        assert!(contains_answer("It is 12 bar (174 psi).", &golds(&["12 bar"])));
        assert!(!contains_answer("It is 112 bar.", &golds(&["12 bar"])));
    }

    #[test]
    fn spread_is_even_and_deterministic() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&v, Some(3)), vec![0, 3, 6]);
        assert_eq!(spread(&v, None).len(), 10);
        assert_eq!(spread(&v, Some(20)).len(), 10);
    }
}
