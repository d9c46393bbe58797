//! The JSON forms of what the engine returns (answers, passages, search results), shared by the CLI's
//! `--json` and the HTTP server, so both speak the same shapes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::retrieve::Passage;
use crate::{Answer, Engine, Result};

/// A passage: its number, where it came from (path shown and key), location, scores and text.
pub fn passage(p: &Passage) -> Value {
    json!({
        "n": p.n,
        "path": crate::retrieve::display_path(&p.source),
        "key": p.source,
        "flagged": p.flagged,
        "kind": p.kind,
        "pages": p.pages.map(|(a, b)| json!([a, b])),
        "lines": p.lines.map(|(a, b)| json!([a, b])),
        "section": p.section,
        "location": p.describe(),
        "score": p.score,
        "similarity": p.similarity,
        "text": p.text,
    })
}

/// An answer as a JSON value: text, citations, per-sentence attribution, passages, timings.
pub fn answer(answer: &Answer, models: Value) -> Value {
    let t = &answer.timings;
    json!({
        "answer": answer.text,
        "refused": answer.refusal.is_some(),
        "answerable": answer.answerable,
        "refusal": answer.refusal.map(|r| match r {
            crate::Refusal::NothingRetrieved => json!({"reason": "nothing retrieved"}),
            crate::Refusal::NotRelevant { best_similarity, threshold } =>
                json!({"reason": "not relevant", "best_similarity": best_similarity, "threshold": threshold}),
            crate::Refusal::NoAnsweringSentence { similarity, coverage } => json!({
                "reason": "no sentence of the passages says what is asked",
                "sentence_similarity": similarity,
                "sentence_coverage": coverage,
            }),
            crate::Refusal::Unsupported => json!({"reason": "no sentence of the answer is supported by the passages"}),
            crate::Refusal::UnstatedFigures => json!({
                "reason": "the answer states figures no passage states"
            }),
            crate::Refusal::Declined => json!({"reason": "the model said the passages do not answer the question"}),
            crate::Refusal::NotAnswerable { probability, threshold } => json!({
                "reason": "the passages do not state the answer",
                "answerable": probability,
                "threshold": threshold,
            }),
        }),
        "models": models,
        "cited": answer.cited,
        "citations": answer.sources.iter().map(passage).collect::<Vec<_>>(),
        "invalid_citations": answer.invalid_citations,
        "sentences": answer.sentences.iter().map(|s| json!({
            "text": s.text,
            "citations": s.citations,
            "cited_by": s.cited_by.name(),
            "score": s.score,
            "rejected_citations": s.rejected,
            "unstated_figures": s.unstated,
        })).collect::<Vec<_>>(),
        "passages": answer.passages.iter().map(passage).collect::<Vec<_>>(),
        "timings": {
            "open_ms": ms(t.open),
            "embed_ms": ms(t.embed),
            "search_ms": ms(t.search),
            "load_ms": ms(t.load),
            "pack_ms": ms(t.pack),
            "check_ms": ms(t.check),
            "prefill_ms": ms(t.prefill),
            "decode_ms": ms(t.decode),
            "first_token_ms": ms(t.first_token),
            "total_ms": ms(t.total),
            "prompt_tokens": t.prompt_tokens,
            "generated_tokens": t.generated_tokens,
            "prefill_tokens_per_s": t.prefill_tokens_per_s(),
            "decode_tokens_per_s": t.decode_tokens_per_s(),
        },
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The models behind an answer, for `--json` (no generator when the engine refused without it).
pub fn models(engine: &Engine, answer: &Answer) -> Result<Value> {
    let generator = match answer.refusal {
        Some(refusal) if !refusal.generated() => None,
        _ => Some(engine.generator()?),
    };
    let embedder = engine.embedder()?;
    Ok(json!({
        "embedder": embedder.model_id(),
        "embedder_backend": embedder.describe(),
        "generator": generator.as_ref().map(|g| g.model_id().to_owned()),
        "generator_backend": generator.as_ref().map(|g| g.describe()),
    }))
}

/// An ingest report as a JSON value (`rag ingest --json`, `GET /v1/ingest/{id}`).
pub fn ingest_report(report: &crate::IngestReport) -> Value {
    let listed = |items: &[(std::path::PathBuf, String)]| {
        items
            .iter()
            .map(|(p, r)| json!({"path": p.display().to_string(), "reason": r}))
            .collect::<Vec<_>>()
    };
    let seconds = report.elapsed.as_secs_f64();
    json!({
        "files": report.n_files,
        "indexed": report.n_indexed,
        "unchanged": report.n_unchanged,
        "removed": report.n_removed,
        "renamed": report.n_renamed,
        "chunks": report.n_chunks,
        "embedded": report.n_embedded,
        "chunks_total": report.n_chunks_total,
        "skipped": listed(&report.skipped),
        "skipped_by": report.skipped_by,
        "failed": report.failures.iter().map(|f| json!({"path": f.path.display().to_string(), "reason": f.reason})).collect::<Vec<_>>(),
        "flagged": listed(&report.flagged),
        "warnings": listed(&report.warnings),
        "elapsed_s": seconds,
        "embed_s": report.embed_time.as_secs_f64(),
        "chunks_per_s": if seconds > 0.0 { report.n_chunks as f64 / seconds } else { 0.0 },
        "peak_rss_mb": report.peak_rss_bytes.map(|b| b as f64 / 1e6),
        "repaired": report.n_repaired,
        "interrupted": report.interrupted,
    })
}
