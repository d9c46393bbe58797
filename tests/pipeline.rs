//! Pipeline logic with deterministic fakes (no models): citation checking, refusal, cancellation and
//! incremental ingest through the real on-disk index.

use std::sync::Arc;

use rag::chunk::TokenChunker;
use rag::testing::{word_tokenizer, EchoGenerator, HashEmbedder};
use rag::{Config, Engine, Error, Flow, SearchOptions};

fn engine(dir: &std::path::Path, suffix: &str, min_similarity: f32) -> Engine {
    let mut config = Config::default();
    config.retrieve.min_similarity = min_similarity;
    engine_with(dir, suffix, config)
}

fn engine_with(dir: &std::path::Path, suffix: &str, mut config: Config) -> Engine {
    config.index.dir = dir.join("index");
    Engine::with_components(
        config,
        Arc::new(HashEmbedder { dim: 64 }),
        Arc::new(TokenChunker::new(word_tokenizer(), 40, 5).unwrap()),
        Some(Arc::new(EchoGenerator {
            suffix: suffix.into(),
            instead: None,
        })),
    )
    .unwrap()
}

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("pump.md"),
        "# Pump\n\nThe pump pressure limit is twelve bar.\n",
    )
    .unwrap();
    std::fs::write(docs.join("fan.txt"), "The cooling fan is checked every four hours.\n").unwrap();
    docs
}

#[test]
fn invalid_citations_are_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), " and more [9].", 0.1);
    engine.ingest(&[corpus(dir.path())]).unwrap();
    let mut streamed = String::new();
    let answer = engine
        .ask("pump pressure limit", &SearchOptions::default(), &mut |piece| {
            streamed.push_str(piece);
            Flow::Continue
        })
        .unwrap();
    assert_eq!(answer.invalid_citations, vec![9]);
    assert!(!answer.text.contains("[9]"), "{}", answer.text);
    assert!(!streamed.contains("[9]"), "{streamed}");
    assert!(answer.text.ends_with("[1] and more."), "{}", answer.text);
    assert!(answer.cited);
    assert_eq!(answer.sources.len(), 1);
    assert!(answer.sources[0].source.ends_with("pump.md"));
    assert_eq!(answer.sources[0].lines, Some((1, 3)));
}

#[test]
fn low_similarity_is_refused_and_cancellation_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.retrieve.min_similarity = 0.99;
    config.retrieve.lexical_override = 1.01;
    let strict = engine_with(dir.path(), "", config);
    strict.ingest(&[corpus(dir.path())]).unwrap();
    let answer = strict
        .ask("pump pressure limit", &SearchOptions::default(), &mut |_| {
            Flow::Continue
        })
        .unwrap();
    assert!(
        matches!(answer.refusal, Some(rag::Refusal::NotRelevant { .. })),
        "{answer:?}"
    );
    drop(strict);

    let lenient = engine(dir.path(), "", 0.1);
    let result = lenient.ask("pump pressure limit", &SearchOptions::default(), &mut |_| Flow::Stop);
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
}

/// Issue 12.6: a chunk that matches the question's exact words is not refused for a weak embedding similarity
/// (a section blurred by the rest of its file); a question whose words no chunk holds still is.
#[test]
fn strong_lexical_evidence_overrides_a_weak_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let strict = engine(dir.path(), "", 0.99);
    strict.ingest(&[corpus(dir.path())]).unwrap();
    let ask = |q: &str| {
        strict
            .ask(q, &SearchOptions::default(), &mut |_| Flow::Continue)
            .unwrap()
    };
    let answer = ask("pump pressure limit");
    assert!(answer.refusal.is_none(), "{answer:?}");
    assert!(answer.passages[0].text.contains("twelve bar"), "{answer:?}");
    let answer = ask("turbine blade alloy pressure");
    assert!(
        matches!(answer.refusal, Some(rag::Refusal::NotRelevant { .. })),
        "{answer:?}"
    );
}

/// Asks `question` of an engine with the echo generator (answering `instead` when given) over `docs`, with
/// `config` (no relevance refusal); checks that what was streamed is the final text.
fn echo_ask(
    dir: &std::path::Path,
    docs: &std::path::Path,
    mut config: Config,
    instead: Option<&str>,
    question: &str,
) -> rag::Answer {
    config.retrieve.min_similarity = 0.0;
    config.retrieve.sentence_similarity = 0.0;
    config.index.dir = dir.join("index");
    let engine = Engine::with_components(
        config,
        Arc::new(HashEmbedder { dim: 64 }),
        Arc::new(TokenChunker::new(word_tokenizer(), 40, 5).unwrap()),
        Some(Arc::new(EchoGenerator {
            suffix: String::new(),
            instead: instead.map(str::to_owned),
        })),
    )
    .unwrap();
    engine.ingest(&[docs.to_path_buf()]).unwrap();
    let mut streamed = String::new();
    let answer = engine
        .ask(question, &SearchOptions::default(), &mut |piece| {
            streamed.push_str(piece);
            Flow::Continue
        })
        .unwrap();
    assert_eq!(streamed, answer.text);
    answer
}

/// Issue 12.3: with `refuse_unsupported`, an answer none of whose sentences the passages support (an invented
/// figure) is marked refused, its streamed text kept; a supported answer is not; and without the setting the
/// unsupported answer stands.
#[test]
fn answers_with_no_supported_sentence_are_refused_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let docs = corpus(dir.path());
    let ask = |instead: Option<&str>, refuse: bool| {
        let mut config = Config::default();
        config.retrieve.refuse_unsupported = refuse;
        config.retrieve.refuse_unstated_figures = false;
        echo_ask(dir.path(), &docs, config, instead, "What is the pump pressure limit?")
    };
    let invented = "Revenue in 2023 was 4.2 million euros.";
    let answer = ask(Some(invented), true);
    assert_eq!(answer.refusal, Some(rag::Refusal::Unsupported), "{answer:?}");
    assert_eq!(answer.text, invented);
    assert!(ask(Some(invented), false).refusal.is_none());
    // Supported without a citation (the engine attributes it), and supported by the model's citation.
    let supported = ask(Some("The pump pressure limit is twelve bar."), true);
    assert!(supported.refusal.is_none(), "{supported:?}");
    assert!(ask(None, true).refusal.is_none());
}

/// Issue 12.2 and 16.5: an answer whose figures no passage states is refused by default even when the model
/// cites a passage for it (the citation is set aside and the figures named); without the setting it stands; a
/// model that declines in words is a refusal of its own kind.
#[test]
fn an_invented_figure_cited_as_if_grounded_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let docs = corpus(dir.path());
    let ask = |instead: Option<&str>, figures: bool| {
        let mut config = Config::default();
        config.retrieve.refuse_unstated_figures = figures;
        echo_ask(dir.path(), &docs, config, instead, "What is the pump pressure limit?")
    };
    let invented = "The pump earned 4.2 million euros in 2023 [1].";
    let answer = ask(Some(invented), true);
    assert_eq!(answer.refusal, Some(rag::Refusal::UnstatedFigures), "{answer:?}");
    assert_eq!(answer.text, invented);
    let sentence = &answer.sentences[0];
    assert_eq!(sentence.cited_by, rag::attribute::CitedBy::Unsupported, "{answer:?}");
    assert_eq!(sentence.rejected, vec![1]);
    assert_eq!(sentence.unstated, vec!["4.2".to_owned(), "2023".to_owned()]);
    assert!(ask(Some(invented), false).refusal.is_none());
    // A figure the question states is its premise, not an invention of the model.
    let premise = {
        let mut config = Config::default();
        config.retrieve.refuse_unstated_figures = true;
        echo_ask(
            dir.path(),
            &docs,
            config,
            Some("The pump ran in 2023 [1]."),
            "What did the pump do in 2023?",
        )
    };
    assert!(premise.refusal.is_none(), "{premise:?}");
    // One invented figure among supported sentences is enough.
    let mixed = ask(
        Some("The pump pressure limit is twelve bar [1]. It earned 4.2 million euros."),
        true,
    );
    assert_eq!(mixed.refusal, Some(rag::Refusal::UnstatedFigures), "{mixed:?}");
    assert_ne!(
        mixed.sentences[0].cited_by,
        rag::attribute::CitedBy::Unsupported,
        "{mixed:?}"
    );
    let declined = ask(Some("The documents do not say."), true);
    assert_eq!(declined.refusal, Some(rag::Refusal::Declined), "{declined:?}");
    assert!(ask(None, true).refusal.is_none());
}

/// Issue 12.3: with the answerability check on, a question the passages do not answer is refused after the
/// check (the model never generates; the refusal is streamed and carries the probability), one they answer is
/// answered, and with the check off the check's probability is not computed.
#[test]
fn the_answerability_check_refuses_what_the_passages_do_not_state() {
    let dir = tempfile::tempdir().unwrap();
    let docs = corpus(dir.path());
    let ask = |question: &str, threshold: f32| {
        let mut config = Config::default();
        config.retrieve.answerable_threshold = threshold;
        echo_ask(dir.path(), &docs, config, None, question)
    };
    let unanswered = ask("What was the turbine revenue forecast?", 0.5);
    assert!(
        matches!(unanswered.refusal, Some(rag::Refusal::NotAnswerable { probability, threshold })
            if probability < 0.5 && threshold == 0.5),
        "{unanswered:?}"
    );
    assert_eq!(unanswered.text, rag::answer::REFUSAL_TEXT);
    assert!(unanswered.passages.is_empty());
    let answered = ask("What is the pump pressure limit?", 0.5);
    assert!(answered.refusal.is_none(), "{answered:?}");
    assert!(answered.answerable.is_some_and(|p| p >= 0.5), "{answered:?}");
    let off = ask("What was the turbine revenue forecast?", 0.0);
    assert!(off.refusal.is_none() && off.answerable.is_none(), "{off:?}");
}

/// Issue 12.6: files chunked under other chunker settings are chunked again on the next ingest (not skipped as
/// unchanged), and the context line reaches the index (BM25 finds a chunk by its heading alone).
#[test]
fn changed_chunker_settings_rechunk_and_context_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let body: String = (0..120).map(|i| format!("word{i} ")).collect();
    std::fs::write(
        docs.join("h.md"),
        format!("# Handbook\n\n## Zeppelin maintenance\n\n{body}\n"),
    )
    .unwrap();
    let with = |context: bool| {
        let mut config = Config::default();
        config.index.dir = dir.path().join("index");
        Engine::with_components(
            config,
            Arc::new(HashEmbedder { dim: 64 }),
            Arc::new(TokenChunker::with_context(word_tokenizer(), 40, 5, context).unwrap()),
            Some(Arc::new(EchoGenerator::default())),
        )
        .unwrap()
    };
    let search = |engine: &Engine| {
        let options = SearchOptions {
            mode: Some(rag::config::RetrieveMode::Bm25),
            ..SearchOptions::default()
        };
        engine.search("zeppelin", &options).unwrap()
    };
    let report = with(true).ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!(report.n_indexed, 1);
    let engine = with(true);
    assert_eq!(engine.ingest(std::slice::from_ref(&docs)).unwrap().n_unchanged, 1);
    let hits = search(&engine);
    assert!(
        !hits.is_empty(),
        "the heading, only in the context line, is not indexed"
    );
    // Chunks past the first do not hold the heading in their text, yet BM25 finds them by it.
    let deep: Vec<_> = hits.iter().filter(|h| !h.passage.text.contains("Zeppelin")).collect();
    assert!(!deep.is_empty(), "{hits:?}");
    for hit in deep {
        assert_eq!(hit.passage.context.as_deref(), Some("Handbook › Zeppelin maintenance"));
    }
    drop(engine);
    let engine = with(false);
    let report = engine.ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!((report.n_indexed, report.n_unchanged), (1, 0), "{report:?}");
    let hits = search(&engine);
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h.passage.text.contains("Zeppelin")),
        "{hits:?}"
    );
}

#[test]
fn reingest_skips_unchanged_and_replaces_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), "", 0.1);
    let docs = corpus(dir.path());
    let first = engine.ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!((first.n_indexed, first.n_chunks_total), (2, 2));
    let again = engine.ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!((again.n_indexed, again.n_unchanged, again.n_chunks), (0, 2, 0));
    // Same size and content but a new modification time: hashed, found unchanged, not re-embedded.
    std::fs::write(docs.join("fan.txt"), "The cooling fan is checked every four hours.\n").unwrap();
    let touched = engine.ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!((touched.n_indexed, touched.n_chunks), (0, 0));
    let long: String = (0..30).map(|i| format!("Line {i} about the fan.\n")).collect();
    std::fs::write(docs.join("fan.txt"), long).unwrap();
    let changed = engine.ingest(std::slice::from_ref(&docs)).unwrap();
    assert_eq!(changed.n_indexed, 1);
    assert!(changed.n_chunks > 1);
    assert_eq!(changed.n_chunks_total, 1 + changed.n_chunks);
}

#[test]
fn an_index_inside_the_ingested_folder_is_not_ingested() {
    let dir = tempfile::tempdir().unwrap();
    // The engine's index lives at <dir>/index, and <dir> itself is ingested: its JSON files must be left alone.
    std::fs::write(dir.path().join("notes.txt"), "The pump pressure limit is twelve bar.\n").unwrap();
    let engine = engine(dir.path(), "", 0.1);
    engine.ingest(&[dir.path().to_path_buf()]).unwrap();
    let again = engine.ingest(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(again.n_files, 1, "{again:?}");
    assert_eq!(again.n_chunks_total, 1);
}

/// Issue 9.8: what `ask` streams is byte for byte the final answer text, for outputs that used to leak (`[[9]`,
/// long runs of spaces before an invalid citation, trailing spaces and newlines).
#[test]
fn the_streamed_answer_equals_the_final_answer() {
    for suffix in [
        " and [[9] more.",
        &format!(" and more{}[9].", " ".repeat(60)),
        " [1]   \n\n  ",
        " see [2-",
        " [Passage 1] and [ 3 ] ok",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path(), suffix, 0.1);
        engine.ingest(&[corpus(dir.path())]).unwrap();
        let mut streamed = String::new();
        let answer = engine
            .ask("pump pressure limit", &SearchOptions::default(), &mut |piece| {
                streamed.push_str(piece);
                Flow::Continue
            })
            .unwrap();
        assert_eq!(streamed, answer.text, "suffix {suffix:?}");
    }
}
