//! [`Generator`]: a [`Prompt`] in, a streamed answer out.
//!
//! The default backend, [`GgufGenerator`], runs a quantized GGUF model (llama, qwen2, gemma, phi3 families)
//! in-process on candle, with the tokenizer built from the file's metadata (byte-level BPE or SentencePiece). Generation is synchronous and streams through a callback; a service on tokio runs it inside
//! `spawn_blocking` and forwards the pieces through a channel.

mod gguf;
mod model;
mod openai;
mod template;
mod tokenizer;

pub use gguf::{gguf_tokenizer, requantize_if_needed, GgufGenerator};
pub use openai::{OpenAiGenerator, OpenAiSettings};
pub use template::{ChatTemplate, Piece};

use std::time::Duration;

use crate::error::Result;
use crate::prompt::Prompt;

/// What a token callback tells the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep generating.
    Continue,
    /// Stop now (the caller cancelled).
    Stop,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-turn token.
    EndOfTurn,
    /// `max_new_tokens` was reached.
    Length,
    /// The callback asked to stop.
    Cancelled,
    /// The model started repeating itself; the repeated tail was dropped.
    Repetition,
}

/// Sampling options for one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Temperature; 0 means greedy decoding.
    pub temperature: f64,
    /// Seed for sampling.
    pub seed: u64,
    /// Penalty for repeating recent tokens (1.0 = none; small models copy facts worse with a penalty).
    pub repeat_penalty: f32,
    /// Stop when the last this-many generated tokens already occurred in the answer (a degenerate loop);
    /// 0 disables the guard.
    pub loop_window: usize,
    /// Keep generating through end-of-turn tokens (benchmarks that need a fixed output length).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 256,
            temperature: 0.0,
            seed: 42,
            repeat_penalty: 1.0,
            loop_window: 12,
            ignore_eos: false,
        }
    }
}

/// The result of one generation, with its timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Time to process the prompt (prefill).
    pub prefill: Duration,
    /// Time to generate the tokens after the first (decode).
    pub decode: Duration,
    /// Why it stopped.
    pub stop: StopReason,
}

/// A language model that answers a prompt, streaming text pieces to `on_text`.
pub trait Generator: Send + Sync {
    /// The model's id, for reports.
    fn model_id(&self) -> &str;
    /// The context window available to prompt plus answer, in tokens.
    fn context_tokens(&self) -> usize;
    /// How many tokens `text` takes, for context packing.
    fn count_tokens(&self, text: &str) -> Result<usize>;
    /// How many tokens the rendered `prompt` takes (template and special tokens included).
    fn prompt_tokens(&self, prompt: &Prompt) -> Result<usize>;
    /// The probability of each of `choices` as the first word of the answer to `prompt` (all its spellings:
    /// "yes", "Yes", " yes"), renormalised over the choices, from one pass over the prompt; nothing is generated.
    /// `None` where the backend cannot tell (a remote server without token probabilities).
    fn choose(&self, prompt: &Prompt, choices: &[&str]) -> Result<Option<Vec<f32>>> {
        let _ = (prompt, choices);
        Ok(None)
    }
    /// Generates an answer to `prompt`, calling `on_text` with each new piece of text, and with an empty piece
    /// (a poll) between steps that show nothing new, at least once per generated token and per part of the
    /// prompt pass where the backend can pause: returning [`Flow::Stop`] to either ends the generation
    /// ([`StopReason::Cancelled`]).
    fn generate(
        &self,
        prompt: &Prompt,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation>;
    /// A short description of backend and device, for logs and reports.
    fn describe(&self) -> String;
}
