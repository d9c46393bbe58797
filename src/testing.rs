//! Deterministic fakes for unit tests of pipeline logic: no model files, same output every run.
//!
//! They stand in for the real models only in tests of the engine's own logic (incremental ingest, citation
//! checking, refusals); the integration tests in `tests/` run the real models.

use crate::embed::{normalize, Embedder};
use crate::error::Result;
use crate::generate::{Flow, GenerateOptions, Generation, Generator, StopReason};
use crate::prompt::Prompt;

/// A hashed bag of words: texts sharing words get similar vectors.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    /// The vector dimension.
    pub dim: usize,
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "test:hash-bag-of-words"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        256
    }

    fn describe(&self) -> String {
        "hash embedder (test)".into()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut v = vec![0.0f32; self.dim];
                for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                    let h = word.to_lowercase().bytes().fold(0xcbf29ce484222325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
                    });
                    v[(h % self.dim as u64) as usize] += 1.0;
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}

/// Answers with the first sentence of passage 1 and cites it, plus any extra text configured.
#[derive(Debug, Clone, Default)]
pub struct EchoGenerator {
    /// Appended to every answer (for example an invalid citation, to test the checks).
    pub suffix: String,
    /// Answers with this text instead of echoing passage 1 (an answer the passages need not support).
    pub instead: Option<String>,
}

impl Generator for EchoGenerator {
    fn model_id(&self) -> &str {
        "test:echo"
    }

    fn context_tokens(&self) -> usize {
        4096
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }

    fn prompt_tokens(&self, prompt: &Prompt) -> Result<usize> {
        Ok(prompt.system.split_whitespace().count() + prompt.user.split_whitespace().count())
    }

    fn describe(&self) -> String {
        "echo generator (test)".into()
    }

    /// "yes" as likely as the share of the question's longer words that the passages hold.
    fn choose(&self, prompt: &Prompt, choices: &[&str]) -> Result<Option<Vec<f32>>> {
        let Some((passages, rest)) = prompt.user.rsplit_once("Question: ") else {
            return Ok(None);
        };
        let question = rest.lines().next().unwrap_or_default().to_lowercase();
        let words: Vec<&str> = question
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 3)
            .collect();
        let text = passages.to_lowercase();
        let p = words.iter().filter(|w| text.contains(**w)).count() as f32 / words.len().max(1) as f32;
        Ok(Some(
            (0..choices.len())
                .map(|i| match i {
                    0 => p,
                    1 => 1.0 - p,
                    _ => 0.0,
                })
                .collect(),
        ))
    }

    fn generate(
        &self,
        prompt: &Prompt,
        _options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation> {
        let first = prompt
            .user
            .split("\n\n")
            .find(|block| block.starts_with("[1]"))
            .and_then(|block| block.lines().nth(1))
            .unwrap_or("nothing");
        let text = match &self.instead {
            Some(text) => text.clone(),
            None => format!("{} [1]{}", first.trim(), self.suffix),
        };
        let mut stop = StopReason::EndOfTurn;
        for word in text.split_inclusive(' ') {
            if on_text(word) == Flow::Stop {
                stop = StopReason::Cancelled;
                break;
            }
        }
        Ok(Generation {
            generated_tokens: text.split_whitespace().count(),
            text,
            prompt_tokens: self.prompt_tokens(prompt)?,
            prefill: std::time::Duration::ZERO,
            decode: std::time::Duration::ZERO,
            stop,
        })
    }
}

/// A whitespace word-level tokenizer (every word is one token), for chunkers in tests.
pub fn word_tokenizer() -> tokenizers::Tokenizer {
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    let vocab = [("[UNK]".to_owned(), 0u32)].into_iter().collect();
    // The builder only fails for a vocabulary without the unknown token, which this one has.
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("[UNK]".to_owned())
        .build()
        .expect("a vocabulary holding its unknown token");
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer
}

/// A small deterministic pseudo-random generator (xorshift64*) for property tests over random inputs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// A passage as the engine gives it to the model: number `n`, from `source`, holding `text` (for prompt tests
/// that bypass retrieval).
pub fn passage_for_prompt(n: u32, source: &str, text: &str) -> crate::retrieve::Passage {
    crate::retrieve::Passage {
        n,
        source: source.into(),
        kind: "txt".into(),
        text: text.into(),
        lines: Some((1, 1)),
        pages: None,
        section: None,
        context: None,
        score: 1.0,
        similarity: 0.5,
        chunk_ids: vec![u64::from(n)],
        flagged: None,
        chunk_span: (0, 0),
        byte_span: (0, text.len()),
    }
}
