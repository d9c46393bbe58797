//! fastembed on ONNX Runtime: the default CPU embedder.
//!
//! ONNX Runtime is loaded at run time (`ort` with `load-dynamic`) from the shared library of the PyPI
//! `onnxruntime` wheel, through `ort::init_from`, so a missing or wrong library is an error, not a panic.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};

use super::{normalize, Embedder};
use crate::error::{Error, Result};

/// The dimension of MiniLM-L6 vectors.
const MINILM_DIM: usize = 384;

/// Builds one more session of the same model.
type Build = Box<dyn Fn() -> Result<TextEmbedding> + Send + Sync>;

/// An embedder running an ONNX model through fastembed.
///
/// A session runs one call at a time. A second session is made on the first call that finds the first one
/// busy (a server's queries during an ingest job, or concurrent query batches), so queries never wait for a
/// whole ingest batch; a process that embeds from one thread (the CLI) holds one session only.
pub struct OnnxEmbedder {
    model: Mutex<TextEmbedding>,
    second: OnceLock<Option<Mutex<TextEmbedding>>>,
    build: Build,
    model_id: String,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
}

/// The result of loading ONNX Runtime, once per process (the library cannot be swapped after loading).
static RUNTIME: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` (once per process; later calls return the first result).
pub(crate) fn init_runtime(library: &Path) -> Result<()> {
    RUNTIME
        .get_or_init(|| {
            // Loading the library (and checking its API version) is all that is needed here: sessions then
            // create ONNX Runtime's default environment on first use.
            ort::init_from(library)
                .map(drop)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))
        })
        .clone()
        .map_err(|reason| Error::model("onnxruntime", reason))
}

impl OnnxEmbedder {
    /// Loads `onnx_file` with the tokenizer files of `tokenizer_dir`, using ONNX Runtime from `runtime`.
    pub fn load(
        runtime: &Path,
        onnx_file: &Path,
        tokenizer_dir: &Path,
        model_id: String,
        threads: usize,
        batch_size: usize,
    ) -> Result<OnnxEmbedder> {
        init_runtime(runtime)?;
        let read = |path: &Path| std::fs::read(path).map_err(|e| Error::io(path, e));
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&tokenizer_dir.join("tokenizer.json"))?,
            config_file: read(&tokenizer_dir.join("config.json"))?,
            special_tokens_map_file: read(&tokenizer_dir.join("special_tokens_map.json"))?,
            tokenizer_config_file: read(&tokenizer_dir.join("tokenizer_config.json"))?,
        };
        let max_tokens = 256;
        let onnx = read(onnx_file)?;
        let name = onnx_file.display().to_string();
        let build: Build = Box::new(move || {
            let files = TokenizerFiles {
                tokenizer_file: tokenizer_files.tokenizer_file.clone(),
                config_file: tokenizer_files.config_file.clone(),
                special_tokens_map_file: tokenizer_files.special_tokens_map_file.clone(),
                tokenizer_config_file: tokenizer_files.tokenizer_config_file.clone(),
            };
            let model = UserDefinedEmbeddingModel::new(onnx.clone(), files).with_pooling(Pooling::Mean);
            let options = InitOptionsUserDefined::new()
                .with_max_length(max_tokens)
                .with_intra_threads(threads.max(1));
            TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| Error::model(&name, e))
        });
        let model = build()?;
        Ok(OnnxEmbedder {
            model: Mutex::new(model),
            second: OnceLock::new(),
            build,
            model_id,
            dim: MINILM_DIM,
            max_tokens,
            batch_size: batch_size.max(1),
        })
    }
}

impl Embedder for OnnxEmbedder {
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
        "ONNX Runtime (fastembed, cpu)".to_owned()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let poisoned = |_| Error::Embed("embedder poisoned by an earlier panic".into());
        let mut model = match self.model.try_lock() {
            Ok(model) => model,
            Err(std::sync::TryLockError::Poisoned(e)) => return Err(poisoned(e)),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Busy: the second session (made now if need be; without it, wait for the first).
                let second = self.second.get_or_init(|| match (self.build)() {
                    Ok(model) => Some(Mutex::new(model)),
                    Err(e) => {
                        tracing::warn!("no second embedding session: {e}");
                        None
                    }
                });
                match second {
                    Some(second) => second.lock().map_err(poisoned)?,
                    None => self.model.lock().map_err(poisoned)?,
                }
            }
        };
        let mut vectors = model
            .embed(texts, Some(self.batch_size))
            .map_err(|e| Error::Embed(e.to_string()))?;
        for v in &mut vectors {
            if v.len() != self.dim {
                return Err(Error::Embed(format!(
                    "model returned {} dims, expected {}",
                    v.len(),
                    self.dim
                )));
            }
            normalize(v);
        }
        Ok(vectors)
    }
}
