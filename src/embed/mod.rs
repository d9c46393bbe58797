//! [`Embedder`]: text to dense vectors. Two real backends share one trait.
//!
//! - [`OnnxEmbedder`]: fastembed on ONNX Runtime (int8 MiniLM), the default on CPU;
//! - [`BertEmbedder`]: candle BERT on the safetensors weights, exact fp32, and the path to CUDA/Metal;
//! - [`OpenAiEmbedder`]: any OpenAI-compatible `/v1/embeddings` server (TEI, vLLM, Ollama, llama.cpp);
//! - [`Batching`]: wraps any of them so that concurrent one-text calls (a server's queries) share model calls.
//!
//! The local ones tokenize with the model's own `tokenizer.json` (window 256 word pieces for MiniLM, overriding the
//! 128 the shipped file truncates at), mean-pool over the attention mask and L2-normalise.

mod batch;
mod bert;
mod onnx;
mod openai;

pub use batch::Batching;
pub use bert::BertEmbedder;
pub use onnx::OnnxEmbedder;
pub use openai::OpenAiEmbedder;

use crate::error::Result;

/// The model id recorded in indexes built with the default embedding model.
pub const MINILM_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Turns texts into L2-normalised vectors of a fixed dimension.
pub trait Embedder: Send + Sync {
    /// The model's id, stored in the index so that a different model is refused at open.
    fn model_id(&self) -> &str;
    /// The vector dimension.
    fn dim(&self) -> usize;
    /// The model's window in tokens, special tokens included; longer texts are truncated.
    fn max_tokens(&self) -> usize;
    /// Embeds every text; the result has one vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// A short description of backend and device, for logs and reports.
    fn describe(&self) -> String;
}

/// L2-normalises `v` in place (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The model id of a user-supplied model directory: `local:` and the directory name.
pub(crate) fn model_id_of(dir: &std::path::Path) -> String {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    format!("local:{name}")
}

/// The embedding model's tokenizer as the chunker needs it (the chunker turns truncation and padding off).
pub(crate) fn load_chunk_tokenizer(dir: &std::path::Path) -> Result<tokenizers::Tokenizer> {
    let path = dir.join("tokenizer.json");
    tokenizers::Tokenizer::from_file(&path).map_err(|e| crate::error::Error::model(path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_and_cosine() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
