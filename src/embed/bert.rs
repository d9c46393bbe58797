//! candle BERT embedder: exact fp32 on CPU, or on CUDA/Metal when built with those features.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::{normalize, Embedder};
use crate::error::{Error, Result};

/// A BERT-family sentence embedder (mean pooling, L2 norm) running on candle.
pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    model_id: String,
    dim: usize,
    max_tokens: usize,
}

impl BertEmbedder {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from `dir` onto `device`.
    pub fn load(dir: &Path, model_id: String, device: Device) -> Result<BertEmbedder> {
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|e| Error::model(dir.display().to_string(), format!("config.json: {e}")))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the weights file is memory-mapped read-only; it lives in the model cache, which rag only
        // ever replaces by renaming a new directory into place, never by writing into an existing file.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| Error::model(weights.display().to_string(), e))?;
        let model = BertModel::load(vb, &config).map_err(|e| Error::model(dir.display().to_string(), e))?;
        let max_tokens = config.max_position_embeddings.min(256);
        let tokenizer = load_tokenizer(dir, max_tokens)?;
        Ok(BertEmbedder {
            model,
            tokenizer,
            device,
            model_id,
            dim: config.hidden_size,
            max_tokens,
        })
    }
}

/// Loads `tokenizer.json` with padding to the longest text and truncation at `max_tokens` (the shipped MiniLM
/// file truncates at 128, half the model's 256-token window).
pub(crate) fn load_tokenizer(dir: &Path, max_tokens: usize) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| Error::model(path.display().to_string(), e))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| Error::model(path.display().to_string(), e))?;
    let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
    tokenizer.with_padding(Some(PaddingParams {
        pad_id,
        pad_token: "[PAD]".into(),
        ..Default::default()
    }));
    Ok(tokenizer)
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn describe(&self) -> String {
        format!("candle BERT, {}", crate::device::name(&self.device))
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let err = |e: candle_core::Error| Error::Embed(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Embed(e.to_string()))?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let n = encodings.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        let mut types = Vec::with_capacity(n * len);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
            types.extend_from_slice(encoding.get_type_ids());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(err)?;
        let types = Tensor::from_vec(types, (n, len), &self.device).map_err(err)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(err)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(err)?;
        // Mean pooling over real tokens: sum(hidden * mask) / sum(mask).
        let mask = mask.to_dtype(DType::F32).map_err(err)?.unsqueeze(2).map_err(err)?;
        let summed = hidden.broadcast_mul(&mask).map_err(err)?.sum(1).map_err(err)?;
        let counts = mask.sum(1).map_err(err)?.clamp(1e-9, f64::MAX).map_err(err)?;
        let pooled = summed.broadcast_div(&counts).map_err(err)?;
        let mut vectors: Vec<Vec<f32>> = pooled.to_vec2().map_err(err)?;
        vectors.iter_mut().for_each(|v| normalize(v));
        Ok(vectors)
    }
}
