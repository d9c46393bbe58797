//! Sentence evidence (issue 12.3): whether some sentence of the retrieved chunks says what is asked.
//!
//! A chunk of a long article can be on topic, close to the question as a whole and hold all of its words spread
//! over a page while no sentence states the answer: the question asks about a detail the article leaves out.
//! The chunk-level relevance refusal cannot see that; this looks where an answer would be: the best cosine
//! between the question and one sentence, and the largest share of the question's content words that two
//! adjacent sentences hold.

use crate::attribute;
use crate::embed::{cosine, Embedder};
use crate::error::Result;

/// Sentences embedded per question at most (the first ones of each chunk, in rank order): a bound on the cost.
const MAX_SENTENCES: usize = 160;

/// The strongest sentence-level evidence among some chunks.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evidence {
    /// The best cosine similarity between the question and one sentence.
    pub similarity: f32,
    /// The largest share of the question's content words that one sentence and the next hold together.
    pub coverage: f32,
}

/// The sentence evidence `texts` (chunk texts, best first) hold for `question`.
pub fn sentence_evidence(embedder: &dyn Embedder, question: &str, texts: &[&str]) -> Result<Evidence> {
    let mut coverage = 0.0f32;
    let mut sentences: Vec<String> = Vec::new();
    for text in texts {
        let own = attribute::sentences(text);
        for (i, sentence) in own.iter().enumerate() {
            let pair = match own.get(i + 1) {
                Some(next) => format!("{sentence} {next}"),
                None => sentence.clone(),
            };
            coverage = coverage.max(attribute::coverage(question, &pair));
        }
        sentences.extend(own);
    }
    sentences.truncate(MAX_SENTENCES);
    if sentences.is_empty() {
        return Ok(Evidence {
            similarity: 0.0,
            coverage,
        });
    }
    let mut inputs: Vec<&str> = Vec::with_capacity(sentences.len() + 1);
    inputs.push(question);
    inputs.extend(sentences.iter().map(String::as_str));
    let vectors = embedder.embed(&inputs)?;
    let similarity = match vectors.split_first() {
        Some((asked, rest)) => rest.iter().map(|v| cosine(asked, v)).fold(0.0f32, f32::max),
        None => 0.0,
    };
    Ok(Evidence { similarity, coverage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::HashEmbedder;

    #[test]
    fn coverage_counts_two_adjacent_sentences_not_a_whole_chunk() {
        let embedder = HashEmbedder { dim: 64 };
        let question = "When did the marketing team open its Paris office?";
        // Most content words are in the chunk (0.8 of them), but no two adjacent sentences hold half.
        let spread = "The marketing plan changed. Sales grew. The team met weekly. Sales fell. An office opened in \
                      Lyon. Costs rose. Paris is far.";
        let evidence = sentence_evidence(&embedder, question, &[spread]).unwrap();
        assert!(evidence.coverage < 0.5, "{evidence:?}");
        let stated = "Sales grew. The marketing team opened its Paris office in 2012. Costs rose.";
        let evidence = sentence_evidence(&embedder, question, &[spread, stated]).unwrap();
        assert!(evidence.coverage >= 0.8, "{evidence:?}");
        assert!(evidence.similarity > 0.5, "{evidence:?}");
    }

    #[test]
    fn no_text_is_no_evidence() {
        let embedder = HashEmbedder { dim: 64 };
        assert_eq!(
            sentence_evidence(&embedder, "Anything?", &[]).unwrap(),
            Evidence::default()
        );
    }
}
