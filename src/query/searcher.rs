//! [`Searcher`]: what a request needs (an open index and the loaded embedder, with the engine's generator and
//! settings), split from the [`Engine`] that provisions models, builds and ingests. A long-lived service holds
//! one searcher per index and calls it from many threads; the CLI opens one per command.
//!
//! Data flow: [`Searcher::retrieve`] (embed the query, search the index, rerank), then [`Answerer`] (relevance
//! refusal, packing into the window, the answerability check, generation, citation checks and attribution).

use std::sync::Arc;
use std::time::Instant;

use rag_indexes::{Hit, Query, SearchFilter, SearchMode, VectorIndex};

use crate::answer::{Answer, CitationStream, OutputRules, Refusal, Timings, REFUSAL_TEXT};
use crate::config::{RerankChoice, RetrieveMode};
use crate::embed::Embedder;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::generate::{Flow, GenerateOptions, Generator};
use crate::manifest::Manifest;
use crate::prompt;
use crate::rerank::{Mmr, NoRerank, Reranker};
use crate::retrieve::{self, Passage};

/// Per-call retrieval options (defaults come from the config).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchOptions {
    /// How many hits; `None` for the configured `k`.
    pub k: Option<usize>,
    /// Which retrievers; `None` for the configured mode.
    pub mode: Option<RetrieveMode>,
    /// Only documents whose source path matches this glob (`docs/**/*.pdf`); resolved against the ingested
    /// files and pushed down to the index as a payload filter.
    pub path_glob: Option<String>,
    /// Only documents of these kinds (`pdf`, `md`, `html`, `txt`, or a code extension); pushed down.
    pub kinds: Vec<String>,
}

/// One search result, ranked.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The passage (a single chunk).
    pub passage: Passage,
}

/// An open index and a loaded embedder, for repeated searches and answers without reopening.
pub struct Searcher<'a> {
    engine: &'a Engine,
    embedder: Arc<dyn Embedder>,
    index: Box<dyn VectorIndex>,
}

impl<'a> Searcher<'a> {
    pub(crate) fn new(engine: &'a Engine, embedder: Arc<dyn Embedder>, index: Box<dyn VectorIndex>) -> Searcher<'a> {
        Searcher {
            engine,
            embedder,
            index,
        }
    }

    /// Answers `question` like [`Engine::ask`], over this already open index.
    pub fn ask(
        &self,
        question: &str,
        options: &SearchOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Answer> {
        let started = Instant::now();
        let (hits, timings) = self.retrieve(question, options)?;
        Answerer::new(self.engine).answer((hits, timings, started), question, &[], &mut |_| {}, on_text)
    }

    /// Answers `question` over this open index, retrieving for `query` (its standalone form, see
    /// [`crate::chat::standalone`]) with `history` in the prompt; `on_passages` gets the passages given to the
    /// model (none when the engine refuses) before any text is streamed to `on_text`.
    pub fn answer(
        &self,
        question: &str,
        query: &str,
        history: &[prompt::Exchange],
        options: &SearchOptions,
        on_passages: &mut dyn FnMut(&[Passage]),
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Answer> {
        let started = Instant::now();
        let (hits, timings) = self.retrieve(query, options)?;
        Answerer::new(self.engine).answer((hits, timings, started), question, history, on_passages, on_text)
    }

    /// What the answerability check says of `question` over this index (for evaluation): the model's
    /// probability that the passages `ask` would give it state the answer; 0 when the relevance refusal refuses
    /// it before the model is asked, `None` when the check is off or the generator cannot score.
    pub fn answerability(&self, question: &str, options: &SearchOptions) -> Result<Option<f32>> {
        let (hits, _) = self.retrieve(question, options)?;
        let answerer = Answerer::new(self.engine);
        if answerer.relevance_refusal(&hits, question)?.is_some() {
            return Ok(Some(0.0));
        }
        let generator = self.engine.generator()?;
        let (passages, history) = answerer.pack(&*generator, hits, question, &[])?;
        answerer.answerability(&*generator, question, history, &passages)
    }

    /// The sentence evidence (see [`crate::evidence`]) that `texts`, chunk texts best first, hold for
    /// `question`.
    pub fn sentence_evidence(&self, question: &str, texts: &[&str]) -> Result<crate::evidence::Evidence> {
        crate::evidence::sentence_evidence(&*self.embedder, question, texts)
    }

    /// The engine this searcher belongs to.
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Where the open index lives.
    pub fn location(&self) -> String {
        self.index.location()
    }

    /// Chunks in the open index.
    pub fn count(&self) -> Result<usize> {
        Ok(self.index.count()?)
    }

    /// The files the index holds, by key.
    pub fn manifest(&self) -> Result<Manifest> {
        Manifest::load(&*self.index)
    }

    /// Every chunk stored for the file under `key`, in document order (a scan of the index).
    pub fn chunks_of(&self, key: &str) -> Result<Vec<rag_indexes::Record>> {
        let mut chunks = Vec::new();
        self.index.scroll_records(&mut |batch| {
            chunks.extend(batch.into_iter().filter(|r| r.payload.source == key));
            Ok(())
        })?;
        chunks.sort_by_key(|r| r.payload.chunk_idx);
        Ok(chunks)
    }

    /// Retrieves the best chunks for `query`, each as its own passage, best first.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchResult>> {
        let (hits, _) = self.retrieve(query, options)?;
        Ok(hits
            .iter()
            .enumerate()
            .map(|(i, hit)| {
                let mut passage = retrieve::merge(std::slice::from_ref(hit)).remove(0);
                passage.n = i as u32 + 1;
                SearchResult { passage }
            })
            .collect())
    }

    /// Embeds `query` and searches the open index: the ranked hits (flagged ones dropped when configured,
    /// reranked) and the embed and search timings.
    pub(crate) fn retrieve(&self, query: &str, options: &SearchOptions) -> Result<(Vec<Hit>, Timings)> {
        let mut timings = Timings::default();
        let started = Instant::now();
        let vector = self
            .embedder
            .embed(&[query])?
            .pop()
            .ok_or_else(|| Error::Embed("embedder returned no vector".into()))?;
        timings.embed = started.elapsed();
        let started = Instant::now();
        let retrieve = &self.engine.config().retrieve;
        let mode = match options.mode.unwrap_or(retrieve.mode) {
            RetrieveMode::Hybrid => SearchMode::Hybrid,
            RetrieveMode::Dense => SearchMode::Dense,
            RetrieveMode::Bm25 => SearchMode::Sparse,
        };
        let Some(filter) = filter(&*self.index, options)? else {
            // A path glob that matches no ingested file: nothing can be found.
            return Ok((Vec::new(), timings));
        };
        let k = options.k.unwrap_or(retrieve.k);
        let reranker: Box<dyn Reranker> = match retrieve.rerank {
            RerankChoice::None => Box::new(NoRerank),
            RerankChoice::Mmr => Box::new(Mmr {
                lambda: retrieve.mmr_lambda,
            }),
        };
        // Diversity reranking needs a deeper pool to choose from.
        let depth = match retrieve.rerank {
            RerankChoice::None => k,
            RerankChoice::Mmr => k + k.min(20),
        };
        let hits = self.index.search(&Query {
            vector: &vector,
            text: query,
            mode,
            k: depth,
            candidates: retrieve.candidates,
            rrf_k: retrieve.rrf_k,
            filter,
        })?;
        let mut hits: Vec<_> = if retrieve.exclude_flagged {
            hits.into_iter().filter(|h| h.payload.flagged.is_none()).collect()
        } else {
            hits
        };
        // Equal scores (RRF gives ties: rank 1 + rank 2 and rank 2 + rank 1) in id order, so that every backend
        // ranks alike (each index breaks ties its own way).
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        let hits = reranker.rerank(&vector, hits, k);
        timings.search = started.elapsed();
        Ok((hits, timings))
    }
}

/// The keys of `manifest` that the path glob `glob` matches. Keys are absolute. An absolute glob matches them as
/// they are; a relative one matches the path as shown (relative to the current directory), or any trailing part
/// of the path (`manuals/**` is every file under a folder named `manuals`).
pub fn matching_keys(manifest: &Manifest, glob: &str) -> Result<Vec<String>> {
    let build = |pattern: &str| {
        globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map(|g| g.compile_matcher())
            .map_err(|e| Error::Config(format!("path glob (--path) {glob:?}: {e}")))
    };
    let absolute = glob.starts_with('/');
    let matcher = build(glob)?;
    let anywhere = build(&format!("**/{glob}"))?;
    Ok(manifest
        .files
        .keys()
        .filter(|k| {
            matcher.is_match(k.as_str())
                || !absolute && (matcher.is_match(retrieve::display_path(k)) || anywhere.is_match(k.as_str()))
        })
        .cloned()
        .collect())
}

/// The index filter for `options`: `Ok(None)` when a path glob matches no ingested file.
fn filter(index: &dyn VectorIndex, options: &SearchOptions) -> Result<Option<Option<SearchFilter>>> {
    let mut filter = SearchFilter::default();
    if !options.kinds.is_empty() {
        filter.kinds = Some(options.kinds.iter().map(|k| k.trim().to_ascii_lowercase()).collect());
    }
    if let Some(glob) = &options.path_glob {
        let manifest = Manifest::load(index)?;
        let sources: Vec<String> = matching_keys(&manifest, glob)?;
        if sources.is_empty() {
            return Ok(None);
        }
        filter.sources = Some(sources);
    }
    Ok(Some((filter != SearchFilter::default()).then_some(filter)))
}

/// The generation half of a request, over hits already retrieved (the index may be closed by then).
pub(crate) struct Answerer<'a> {
    engine: &'a Engine,
}

impl<'a> Answerer<'a> {
    pub(crate) fn new(engine: &'a Engine) -> Answerer<'a> {
        Answerer { engine }
    }

    /// The generation half of `ask`: refusal check, packing, generation, citation checking.
    /// `retrieved`: the hits, the timings so far and when the request started.
    pub(crate) fn answer(
        &self,
        retrieved: (Vec<Hit>, Timings, Instant),
        question: &str,
        history: &[prompt::Exchange],
        on_passages: &mut dyn FnMut(&[Passage]),
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Answer> {
        let (hits, mut timings, started) = retrieved;
        let mut refuse = |refusal: Refusal, mut timings: Timings, answerable: Option<f32>| {
            on_passages(&[]);
            on_text(REFUSAL_TEXT);
            timings.total = started.elapsed();
            Ok(Answer {
                text: REFUSAL_TEXT.to_owned(),
                sources: Vec::new(),
                cited: false,
                invalid_citations: Vec::new(),
                passages: Vec::new(),
                refusal: Some(refusal),
                sentences: Vec::new(),
                answerable,
                timings,
            })
        };
        if let Some(refusal) = self.relevance_refusal(&hits, question)? {
            return refuse(refusal, timings, None);
        }
        let load_started = Instant::now();
        let generator = self.engine.generator()?;
        timings.load = load_started.elapsed();
        let pack_started = Instant::now();
        let (passages, history) = self.pack(&*generator, hits, question, history)?;
        let framing = self.engine.config().generate.framing();
        let prompt = prompt::build_in_conversation(question, history, &passages, framing);
        timings.pack = pack_started.elapsed();

        // The answerability check (issue 12.3): asked on the same passages, it shares their cached positions with
        // the answer's prompt, so it costs only its own closing lines.
        let threshold = self.engine.config().retrieve.answerable_threshold;
        let check_started = Instant::now();
        let answerable = self.answerability(&*generator, question, history, &passages)?;
        timings.check = check_started.elapsed();
        if let Some(p) = answerable.filter(|&p| p < threshold) {
            let refusal = Refusal::NotAnswerable {
                probability: p,
                threshold,
            };
            return refuse(refusal, timings, answerable);
        }
        on_passages(&passages);
        let max_new = self.engine.config().generate.max_new_tokens;
        let options = GenerateOptions {
            max_new_tokens: max_new,
            temperature: self.engine.config().generate.temperature,
            seed: self.engine.config().generate.seed,
            ..GenerateOptions::default()
        };
        let rules = OutputRules::allowing_links_in(passages.iter().map(|p| p.text.clone()).collect())
            .removing_headers_of(passages.iter().map(|p| crate::retrieve::display_path(&p.source)));
        let mut stream = CitationStream::with_rules(passages.len() as u32, rules);
        let mut cancelled = false;
        let mut first_token = None;
        let generation = generator.generate(&prompt, &options, &mut |piece| {
            if !piece.is_empty() {
                first_token.get_or_insert_with(|| started.elapsed());
            }
            // An empty piece is the generator's poll; `on_text` gets it as one too.
            let shown = stream.push(piece);
            if on_text(&shown) == Flow::Stop {
                cancelled = true;
                return Flow::Stop;
            }
            Flow::Continue
        })?;
        let rest = stream.finish();
        if !rest.is_empty() && !cancelled {
            on_text(&rest);
        }
        if cancelled {
            return Err(Error::Cancelled);
        }
        timings.first_token = first_token.unwrap_or_else(|| started.elapsed());
        timings.prefill = generation.prefill;
        timings.decode = generation.decode;
        timings.prompt_tokens = generation.prompt_tokens;
        timings.generated_tokens = generation.generated_tokens;
        timings.total = started.elapsed();

        // The final text is what was streamed: the stream's own check of every piece pushed.
        let checked = stream.checked();
        let cited = !checked.valid.is_empty();
        let sources = if cited {
            checked
                .valid
                .iter()
                .filter_map(|n| passages.iter().find(|p| p.n == *n).cloned())
                .collect()
        } else {
            passages.clone()
        };
        let sentences = crate::attribute::attribute(
            &checked.text,
            &passages,
            self.engine.config().retrieve.attribution_threshold,
        );
        let supported = sentences
            .iter()
            .any(|s| s.cited_by != crate::attribute::CitedBy::Unsupported);
        let config = &self.engine.config().retrieve;
        // A figure the question itself states is the question's premise, not one the model made up.
        let asked = crate::attribute::figures(question);
        let invented = sentences.iter().any(|s| s.unstated.iter().any(|f| !asked.contains(f)));
        let refusal = if crate::answer::declines(&checked.text) {
            Some(Refusal::Declined)
        } else if config.refuse_unstated_figures && invented {
            Some(Refusal::UnstatedFigures)
        } else if config.refuse_unsupported && !supported {
            Some(Refusal::Unsupported)
        } else {
            None
        };
        Ok(Answer {
            sentences,
            text: checked.text,
            sources,
            cited,
            invalid_citations: checked.invalid,
            passages,
            refusal,
            answerable,
            timings,
        })
    }

    /// The answerability check (issue 12.3): the model's probability that the passages state the answer to
    /// `question`, asked as a yes/no question over the same passages (it shares their cached positions with the
    /// answer's prompt, so it costs only its own closing lines). `None` when the check is off
    /// (`retrieve.answerable_threshold` 0) or the generator cannot score choices (a remote server).
    fn answerability(
        &self,
        generator: &dyn Generator,
        question: &str,
        history: &[prompt::Exchange],
        passages: &[Passage],
    ) -> Result<Option<f32>> {
        if self.engine.config().retrieve.answerable_threshold <= 0.0 {
            return Ok(None);
        }
        let check = prompt::build_check(question, history, passages, self.engine.config().generate.framing());
        Ok(generator.choose(&check, &["yes", "no"])?.map(|p| p[0]))
    }

    /// The relevance refusal: nothing retrieved, or the best chunk less similar to the question than
    /// `retrieve.min_similarity` while no chunk holds `retrieve.lexical_override` of its content words, or (when
    /// `retrieve.sentence_similarity` is above 0) no sentence of the chunks says what is asked.
    fn relevance_refusal(&self, hits: &[Hit], question: &str) -> Result<Option<Refusal>> {
        let config = &self.engine.config().retrieve;
        let threshold = config.min_similarity;
        let best = hits.iter().map(|h| h.similarity).fold(f32::NEG_INFINITY, f32::max);
        // Weak semantic similarity alone does not refuse when a chunk holds most of the question's words.
        let lexical = hits
            .iter()
            .map(|h| crate::attribute::coverage(question, &h.text))
            .fold(0.0f32, f32::max);
        if hits.is_empty() {
            return Ok(Some(Refusal::NothingRetrieved));
        }
        if best < threshold && lexical < config.lexical_override {
            return Ok(Some(Refusal::NotRelevant {
                best_similarity: best,
                threshold,
            }));
        }
        if config.sentence_similarity > 0.0 {
            let texts: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();
            let evidence = crate::evidence::sentence_evidence(&*self.engine.embedder()?, question, &texts)?;
            if evidence.similarity < config.sentence_similarity && evidence.coverage < config.sentence_coverage {
                return Ok(Some(Refusal::NoAnsweringSentence {
                    similarity: evidence.similarity,
                    coverage: evidence.coverage,
                }));
            }
        }
        Ok(None)
    }

    /// The passages given to the model (merged, packed into the window, flagged sentences redacted) and the
    /// part of `history` that fits in a quarter of the window.
    fn pack<'h>(
        &self,
        generator: &dyn Generator,
        hits: Vec<Hit>,
        question: &str,
        history: &'h [prompt::Exchange],
    ) -> Result<(Vec<Passage>, &'h [prompt::Exchange])> {
        let best = hits.iter().map(|h| h.similarity).fold(f32::NEG_INFINITY, f32::max);
        let floor = best * self.engine.config().retrieve.min_relative_similarity;
        let hits: Vec<_> = hits.into_iter().filter(|h| h.similarity >= floor).collect();
        let max_new = self.engine.config().generate.max_new_tokens;
        let spotlight = self.engine.config().generate.framing();
        // The history takes at most a quarter of the window, most recent exchanges first.
        let mut kept = history.len();
        while kept > 0 {
            let shown = prompt::build_in_conversation(question, &history[history.len() - kept..], &[], spotlight);
            let alone = prompt::build_in_conversation(question, &[], &[], spotlight);
            if generator.prompt_tokens(&shown)? - generator.prompt_tokens(&alone)? <= generator.context_tokens() / 4 {
                break;
            }
            kept -= 1;
        }
        let history = &history[history.len() - kept..];
        let empty = prompt::build_in_conversation(question, history, &[], spotlight);
        let overhead = generator.prompt_tokens(&empty)?;
        let budget = generator.context_tokens().saturating_sub(overhead + max_new);
        let count = |p: &Passage| -> Result<usize> {
            Ok(generator.count_tokens(&prompt::header(p))? + generator.count_tokens(&p.text)? + 3)
        };
        let mut passages = retrieve::pack(retrieve::merge(&hits), budget, &count)?;
        if self.engine.config().retrieve.redact_flagged {
            for passage in passages.iter_mut().filter(|p| p.flagged.is_some()) {
                passage.text = crate::flag::redact(&passage.text);
            }
        }
        Ok((passages, history))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service shares one engine and one searcher between its request threads.
    #[test]
    fn the_engine_and_a_searcher_are_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Engine>();
        shared::<Searcher<'static>>();
    }
}
