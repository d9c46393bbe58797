//! [`Engine`]: the library's front door. Built once from a [`Config`]; it provisions and holds the models and
//! does the writing side (`ingest`, removal, status, copy). `search` and `ask` are conveniences over a
//! [`Searcher`], what a request needs (an open index, the loaded embedder), which services open once.
//!
//! `Engine::from_config` is the only place that turns configuration into backends. Models are loaded on first
//! use, so `rag search` never loads the generator and `rag ingest` never loads it either.
//! The API is synchronous (the work is CPU-bound); a tokio service calls it from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rag_indexes::{Bm25Params, IndexMeta, VectorIndex, FORMAT_VERSION};

use crate::answer::Answer;
use crate::chunk::{Chunker, TokenChunker};
use crate::config::{Config, DeviceChoice, EmbedBackend, GenerateBackend};
use crate::embed::{BertEmbedder, Embedder, OnnxEmbedder, OpenAiEmbedder, MINILM_ID};
use crate::error::{Error, Result};
use crate::generate::{requantize_if_needed, Flow, Generator, GgufGenerator, OpenAiGenerator, OpenAiSettings};
use crate::ingest::{Ingest, IngestReport};
use crate::manifest::Manifest;
use crate::models::{self, ModelStore};
use crate::progress::{Cancel, NoProgress, Progress};
use crate::remote::Endpoint;
use crate::searcher::{Answerer, SearchOptions, SearchResult, Searcher};
use crate::{device, prompt};

/// What `rag status` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexStatus {
    /// Where the index lives: its directory, or `qdrant://host:port/collection`.
    pub dir: PathBuf,
    /// The embedding model the index was built with.
    pub model_id: String,
    /// Its dimension.
    pub dim: usize,
    /// Chunks stored.
    pub n_chunks: usize,
    /// Ingested files, by source key.
    pub manifest: Manifest,
    /// Bytes on disk.
    pub size_bytes: u64,
}

/// The retrieval-augmented generation engine.
pub struct Engine {
    config: Config,
    models: ModelStore,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
    embedder: OnceLock<Arc<dyn Embedder>>,
    chunker: OnceLock<Arc<dyn Chunker>>,
    generator: OnceLock<Arc<dyn Generator>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds an engine from configuration. Cheap: models load on first use. Sizes the global rayon pool (on
    /// first call in the process) and never touches the process environment; see [`device::thread_env`] for
    /// the variables a binary may set before its threads start.
    pub fn from_config(config: Config) -> Result<Engine> {
        device::configure_threads(config.threads());
        let cache_dir = config
            .models
            .cache_dir
            .clone()
            .unwrap_or_else(ModelStore::default_cache_dir);
        let models = ModelStore::new(cache_dir, config.models.python.clone());
        Ok(Engine {
            config,
            models,
            progress: Arc::new(NoProgress),
            cancel: Cancel::new(),
            embedder: OnceLock::new(),
            chunker: OnceLock::new(),
            generator: OnceLock::new(),
        })
    }

    /// Builds an engine around given components instead of the configured models (tests, custom backends).
    pub fn with_components(
        config: Config,
        embedder: Arc<dyn Embedder>,
        chunker: Arc<dyn Chunker>,
        generator: Option<Arc<dyn Generator>>,
    ) -> Result<Engine> {
        let engine = Engine::from_config(config)?;
        let _ = engine.embedder.set(embedder);
        let _ = engine.chunker.set(chunker);
        if let Some(generator) = generator {
            let _ = engine.generator.set(generator);
        }
        Ok(engine)
    }

    /// Reports progress of long operations (model downloads, ingest) to `progress`.
    pub fn set_progress(&mut self, progress: Arc<dyn Progress>) {
        self.progress = progress;
    }

    /// Long operations (ingest, model downloads) stop cleanly once `cancel` is raised: ingest commits the files
    /// done and returns a report marked `interrupted`; a download returns [`Error::Cancelled`].
    pub fn set_cancel(&mut self, cancel: Cancel) {
        self.models.set_cancel(cancel.clone());
        self.cancel = cancel;
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The model store.
    pub fn models(&self) -> &ModelStore {
        &self.models
    }

    /// Fetches and verifies the named known models (generators are also requantized), returning where.
    pub fn pull_named(&self, names: &[String]) -> Result<Vec<(String, PathBuf)>> {
        let mut pulled = Vec::new();
        for name in names {
            let spec = models::find(name).ok_or_else(|| {
                let known: Vec<&str> = models::KNOWN.iter().map(|s| s.name).collect();
                Error::model(name.clone(), format!("unknown model (known: {})", known.join(", ")))
            })?;
            let dir = self.models.ensure(spec, &*self.progress)?;
            if models::GENERATORS.iter().any(|g| g.name == spec.name) && self.config.generate.requantize {
                let gguf = dir.join("model.gguf");
                let path = requantize_if_needed(&gguf, &self.models.cache_dir().join("requantized"), &*self.progress)?;
                pulled.push((name.clone(), path));
            } else {
                pulled.push((name.clone(), dir));
            }
        }
        Ok(pulled)
    }

    /// Fetches and verifies every model the configuration needs (and requantizes the generator), returning
    /// what was provisioned and where.
    pub fn pull_models(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut pulled = Vec::new();
        if self.config.embed.model.is_none() {
            pulled.push((
                models::MINILM.name.to_owned(),
                self.models.ensure(&models::MINILM, &*self.progress)?,
            ));
            if self.onnx_backend() {
                for spec in [&models::MINILM_ONNX, &models::ONNXRUNTIME] {
                    pulled.push((spec.name.to_owned(), self.models.ensure(spec, &*self.progress)?));
                }
            }
        }
        let gguf = self.generator_path()?;
        pulled.push(("generator".to_owned(), gguf));
        Ok(pulled)
    }

    /// The embedder, loaded on first use.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        if let Some(embedder) = self.embedder.get() {
            return Ok(embedder.clone());
        }
        // Concurrent queries (a server's searches) share model calls; ingest's batches pass straight through.
        let embedder: Arc<dyn Embedder> = Arc::new(crate::embed::Batching::new(self.build_embedder()?));
        self.progress
            .note(&format!("embedder: {} on {}", embedder.model_id(), embedder.describe()));
        Ok(self.embedder.get_or_init(|| embedder).clone())
    }

    /// The generator, loaded on first use.
    pub fn generator(&self) -> Result<Arc<dyn Generator>> {
        if let Some(generator) = self.generator.get() {
            return Ok(generator.clone());
        }
        let generate = &self.config.generate;
        let generator: Arc<dyn Generator> = match generate.backend {
            GenerateBackend::Local => {
                let path = self.generator_path()?;
                let device = device::select(generate.device)?;
                let name = self.generator_name();
                Arc::new(GgufGenerator::load(&path, device, generate.context_tokens)?.named(name))
            }
            GenerateBackend::Openai => Arc::new(OpenAiGenerator::new(OpenAiSettings {
                endpoint: Endpoint {
                    base_url: generate.base_url.clone(),
                    model: generate.api_model.clone(),
                    api_key: generate.api_key.clone(),
                    allow_insecure_key: generate.allow_insecure_key,
                    timeout: std::time::Duration::from_secs(generate.timeout_s.max(1)),
                    attempts: 4,
                },
                context_tokens: generate.context_tokens,
            })?),
        };
        self.progress.note(&format!(
            "generator: {} on {}",
            generator.model_id(),
            generator.describe()
        ));
        Ok(self.generator.get_or_init(|| generator).clone())
    }

    /// The chunker, built on first use from the embedding model's tokenizer.
    pub fn chunker(&self) -> Result<Arc<dyn Chunker>> {
        if let Some(chunker) = self.chunker.get() {
            return Ok(chunker.clone());
        }
        let embedder = self.embedder()?;
        let dir = self.embed_model_dir()?;
        let tokenizer = crate::embed::load_chunk_tokenizer(&dir)?;
        let max = self
            .config
            .chunk
            .max_tokens
            .min(embedder.max_tokens().saturating_sub(2));
        let chunk = &self.config.chunk;
        let chunker: Arc<dyn Chunker> = Arc::new(TokenChunker::with_context(
            tokenizer,
            max,
            chunk.overlap_tokens,
            chunk.context,
        )?);
        Ok(self.chunker.get_or_init(|| chunker).clone())
    }

    fn onnx_backend(&self) -> bool {
        match self.config.embed.backend {
            EmbedBackend::Onnx => true,
            EmbedBackend::Candle | EmbedBackend::Openai => false,
            // The packaged ONNX Runtime is the Linux x86-64 build, and the packaged ONNX model is MiniLM.
            // An explicit GPU device means candle, the backend that runs there.
            EmbedBackend::Auto => {
                cfg!(all(target_os = "linux", target_arch = "x86_64"))
                    && self.config.embed.model.is_none()
                    && matches!(self.config.embed.device, DeviceChoice::Auto | DeviceChoice::Cpu)
            }
        }
    }

    fn embed_model_dir(&self) -> Result<PathBuf> {
        match &self.config.embed.model {
            Some(dir) => Ok(dir.clone()),
            None => self.models.ensure(&models::MINILM, &*self.progress),
        }
    }

    fn build_embedder(&self) -> Result<Arc<dyn Embedder>> {
        let embed = &self.config.embed;
        if embed.backend == EmbedBackend::Openai {
            let endpoint = Endpoint {
                base_url: embed.base_url.clone(),
                model: embed.api_model.clone(),
                api_key: embed.api_key.clone(),
                allow_insecure_key: embed.allow_insecure_key,
                timeout: std::time::Duration::from_secs(embed.timeout_s.max(1)),
                attempts: 4,
            };
            return Ok(Arc::new(OpenAiEmbedder::connect(
                endpoint,
                embed.api_max_tokens,
                embed.batch_size,
            )?));
        }
        let dir = self.embed_model_dir()?;
        let model_id = match &self.config.embed.model {
            None => MINILM_ID.to_owned(),
            Some(dir) => crate::embed::model_id_of(dir),
        };
        let threads = self.config.embed.threads.unwrap_or_else(device::default_threads);
        if self.onnx_backend() {
            let onnx = if dir.join("model.onnx").is_file() {
                dir.join("model.onnx")
            } else if self.config.embed.model.is_none() {
                self.models
                    .ensure(&models::MINILM_ONNX, &*self.progress)?
                    .join("model.onnx")
            } else {
                return Err(Error::Config(format!(
                    "embed backend onnx: no model.onnx in {} (use backend = \"candle\" for safetensors)",
                    dir.display()
                )));
            };
            let runtime = self
                .models
                .ensure(&models::ONNXRUNTIME, &*self.progress)?
                .join("libonnxruntime.so");
            let embedder = OnnxEmbedder::load(&runtime, &onnx, &dir, model_id, threads, self.config.embed.batch_size)?;
            Ok(Arc::new(embedder))
        } else {
            let device = device::select(self.config.embed.device)?;
            Ok(Arc::new(BertEmbedder::load(&dir, model_id, device)?))
        }
    }

    /// What the local generator is called in reports: a known generator's name (`qwen2.5-0.5b`), else the GGUF
    /// file's name without `.gguf`, rather than the file's `general.name` ("Smollm2 135M 8k Lc100K Mix1 Ep2").
    fn generator_name(&self) -> String {
        match &self.config.generate.model {
            None => models::DEFAULT_GENERATOR.name.to_owned(),
            Some(path) => match models::GENERATORS.iter().find(|s| Path::new(s.name) == path.as_path()) {
                Some(spec) => spec.name.to_owned(),
                None => path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string()),
            },
        }
    }

    fn generator_path(&self) -> Result<PathBuf> {
        let path = match &self.config.generate.model {
            Some(path) if path.is_file() => path.clone(),
            // A known generator's name (`--llm qwen2.5-0.5b`) is provisioned like the default.
            Some(name) if models::GENERATORS.iter().any(|s| Path::new(s.name) == name.as_path()) => {
                let spec = models::GENERATORS
                    .iter()
                    .find(|s| Path::new(s.name) == name.as_path())
                    .ok_or_else(|| Error::model(name.display().to_string(), "unknown model"))?;
                self.models.ensure(spec, &*self.progress)?.join("model.gguf")
            }
            Some(path) => {
                let known: Vec<&str> = models::GENERATORS.iter().map(|s| s.name).collect();
                return Err(Error::model(
                    path.display().to_string(),
                    format!("no such GGUF file (known generator names: {})", known.join(", ")),
                ));
            }
            None => self
                .models
                .ensure(models::DEFAULT_GENERATOR, &*self.progress)?
                .join("model.gguf"),
        };
        if self.config.generate.requantize {
            requantize_if_needed(&path, &self.models.cache_dir().join("requantized"), &*self.progress)
        } else {
            Ok(path)
        }
    }

    fn index_meta(&self, embedder: &dyn Embedder) -> IndexMeta {
        IndexMeta {
            format_version: FORMAT_VERSION,
            model_id: embedder.model_id().to_owned(),
            dim: embedder.dim(),
            bm25: Bm25Params::default(),
        }
    }

    /// The index directory.
    pub fn index_dir(&self) -> &Path {
        self.config.index_dir()
    }

    /// Where the index lives, for messages: its directory or `qdrant://host:port/collection`.
    pub fn index_location(&self) -> String {
        self.config.index.location()
    }

    /// Fails at once when another writer holds the index (checked before models load).
    fn check_writable(&self) -> Result<()> {
        crate::index::check_writable(&self.config.index)
    }

    /// Opens the configured index for writing, creating it with `meta` if it does not exist.
    pub fn open_index_for_writing(&self, meta: &IndexMeta) -> Result<Box<dyn VectorIndex>> {
        crate::index::open_for_writing(&self.config.index, meta)
    }

    /// Opens the configured index for reading, checked against `expected` when given.
    pub fn open_index_for_reading(&self, expected: Option<&IndexMeta>) -> Result<Box<dyn VectorIndex>> {
        crate::index::open_for_reading(&self.config.index, expected)
    }

    /// Indexes the files under `paths` (files or directories), re-indexing only what changed.
    pub fn ingest(&self, paths: &[PathBuf]) -> Result<IngestReport> {
        // A second writer fails before models are loaded, not after.
        self.check_writable()?;
        let embedder = self.embedder()?;
        let mut index = self.open_index_for_writing(&self.index_meta(&*embedder))?;
        self.ingest_into(&mut *index, paths, &*self.progress, &self.cancel)
    }

    /// Indexes the files under `paths` into `index`, an index this engine opened for writing (a long-lived
    /// process's [`rag_indexes::SharedIndex`]), reporting to `progress` and stopping at `cancel`.
    pub fn ingest_into(
        &self,
        index: &mut dyn VectorIndex,
        paths: &[PathBuf],
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<IngestReport> {
        let embedder = self.embedder()?;
        let chunker = self.chunker()?;
        Ingest {
            index,
            embedder: &*embedder,
            chunker,
            batch_size: self.config.embed.batch_size,
            commit_chunks: self.config.ingest.commit_chunks,
            embed_window: self.config.ingest.embed_window,
            workers: self
                .config
                .ingest
                .workers
                .unwrap_or_else(crate::device::default_threads),
            file_timeout: std::time::Duration::from_secs_f64(self.config.ingest.file_timeout_s.max(0.001)),
            max_chunks: self.config.ingest.max_chunks_per_file.max(1),
            progress,
            rules: self.config.ingest.walk_rules(),
            cancel,
        }
        .run(paths)
    }

    /// Removes the indexed files at or under `path` from `index` (never from disk), whether or not they still
    /// exist; returns their keys (none when nothing indexed is there).
    pub fn remove_documents(&self, index: &mut dyn VectorIndex, path: &Path) -> Result<Vec<String>> {
        crate::ingest::remove(index, path)
    }

    /// Opens the configured index for writing (created if need be) for a long-lived process that both ingests
    /// and searches: searches go through clones of the one handle ([`Engine::searcher_over`]).
    pub fn open_shared(&self) -> Result<rag_indexes::SharedIndex> {
        self.check_writable()?;
        let embedder = self.embedder()?;
        let index = self.open_index_for_writing(&self.index_meta(&*embedder))?;
        Ok(rag_indexes::SharedIndex::new(index))
    }

    /// A searcher over an index opened elsewhere (an empty one too: its searches find nothing).
    pub fn searcher_over(&self, index: Box<dyn VectorIndex>) -> Result<Searcher<'_>> {
        let embedder = self.embedder()?;
        let expected = self.index_meta(&*embedder);
        rag_indexes::check_model(Path::new(&index.location()), index.meta(), &expected)?;
        Ok(Searcher::new(self, embedder, index))
    }

    /// Opens the index for reading, checking it against the embedder; an empty index is an error.
    fn open_for_search(&self, embedder: &dyn Embedder) -> Result<Box<dyn VectorIndex>> {
        let index = self.open_index_for_reading(Some(&self.index_meta(embedder)))?;
        if index.count()? == 0 {
            return Err(Error::EmptyIndex {
                path: index.location().into(),
            });
        }
        Ok(index)
    }

    /// Retrieves the best chunks for `query`, each as its own passage, best first.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchResult>> {
        self.searcher()?.search(query, options)
    }

    /// Opens the index once for many searches (evaluation, services).
    pub fn searcher(&self) -> Result<Searcher<'_>> {
        let embedder = self.embedder()?;
        let index = self.open_for_search(&*embedder)?;
        Ok(Searcher::new(self, embedder, index))
    }
}

impl Engine {
    /// Answers `question` from the indexed documents, streaming the answer text to `on_text` as it is
    /// generated (return [`Flow::Stop`] to cancel; it is also called with an empty piece between model steps
    /// that show no new text, so a caller can cancel during the prompt pass). Refuses without calling the model
    /// when nothing relevant is retrieved.
    pub fn ask(
        &self,
        question: &str,
        options: &SearchOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Answer> {
        self.ask_in_conversation(question, question, &[], options, on_text)
    }

    /// One turn of a conversation ([`crate::Conversation`]): retrieves for `query` (the standalone form of the
    /// question), and answers `question` with the `history` of earlier exchanges in the prompt, budgeted into
    /// the context window (oldest dropped first).
    pub(crate) fn ask_in_conversation(
        &self,
        question: &str,
        query: &str,
        history: &[prompt::Exchange],
        options: &SearchOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Answer> {
        let started = Instant::now();
        let searcher = self.searcher()?;
        let open = started.elapsed();
        let (hits, mut timings) = searcher.retrieve(query, options)?;
        timings.open = open;
        // Generation can take seconds: release the index first, so other processes can open it.
        drop(searcher);
        Answerer::new(self).answer((hits, timings, started), question, history, &mut |_| {}, on_text)
    }

    /// What the index holds.
    pub fn status(&self) -> Result<IndexStatus> {
        let index = self.open_index_for_reading(None)?;
        let meta = index.meta().clone();
        Ok(IndexStatus {
            dir: index.location().into(),
            model_id: meta.model_id,
            dim: meta.dim,
            n_chunks: index.count()?,
            manifest: Manifest::load(&*index)?,
            size_bytes: index.size_bytes().unwrap_or(0),
        })
    }

    /// Copies the index (vectors, payload, manifest) to the index `to` configures, without re-embedding; the
    /// target must be new or hold an index of the same embedder. Search results are the same after the copy.
    pub fn copy_index(
        &self,
        to: &crate::config::IndexConfig,
        progress: &mut dyn FnMut(u64),
    ) -> Result<rag_indexes::CopyReport> {
        let from = self.open_index_for_reading(None)?;
        crate::index::check_writable(to)?;
        let mut target = crate::index::open_for_writing(to, from.meta())?;
        if target.location() == from.location() {
            return Err(Error::Config(format!(
                "copy: {} is both the source and the target",
                from.location()
            )));
        }
        Ok(rag_indexes::copy_index(
            &*from,
            &mut *target,
            &[Manifest::STATE],
            progress,
        )?)
    }
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    /// Issue 9.7: `Engine::from_config` called `std::env::set_var`, undefined behaviour in a multi-threaded host.
    #[test]
    fn building_an_engine_leaves_the_process_environment_alone() {
        let before: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
        let mut config = Config::default();
        config.generate.threads = Some(3);
        let _engine = Engine::from_config(config).unwrap();
        let after: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
        assert_eq!(before, after, "the environment changed");
    }

    /// Issue 9.6: `Debug` of `Endpoint`, `Config` and `Engine` printed the key.
    #[test]
    fn no_formatting_of_config_engine_endpoint_or_errors_shows_a_key() {
        const KEY: &str = "sk-never-print-4f2a9c";
        let mut config = Config::default();
        config.generate.api_key = Some(Secret::new(KEY));
        config.embed.api_key = Some(Secret::new(KEY));
        config.embed.base_url = "http://127.0.0.1:9".into();
        config.generate.base_url = "http://gpu-box.invalid:8000".into();
        config.models.cache_dir = Some(std::env::temp_dir().join("rag-test-no-key-cache"));
        let endpoint = Endpoint {
            base_url: config.embed.base_url.clone(),
            model: "m".into(),
            api_key: config.embed.api_key.clone(),
            allow_insecure_key: false,
            timeout: std::time::Duration::from_secs(2),
            attempts: 1,
        };
        let mut shown = vec![
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{endpoint:?}"),
            format!("{endpoint:#?}"),
            format!("{:?}", config.generate),
            config.to_toml().unwrap(),
        ];
        // Errors that involve the endpoints: a refused connection (the key is sent to loopback), and a refused
        // insecure transport.
        let connect = OpenAiEmbedder::connect(endpoint.clone(), 512, 8).err().unwrap();
        shown.push(format!("{connect}"));
        shown.push(format!("{connect:?}"));
        let insecure = OpenAiGenerator::new(OpenAiSettings {
            endpoint: Endpoint {
                base_url: config.generate.base_url.clone(),
                ..endpoint.clone()
            },
            context_tokens: 2048,
        })
        .err()
        .unwrap();
        shown.push(format!("{insecure}"));
        shown.push(format!("{insecure:?}"));
        let engine = Engine::from_config(config).unwrap();
        shown.push(format!("{engine:?}"));
        shown.push(format!("{engine:#?}"));
        for text in &shown {
            assert!(!text.contains(KEY), "a key leaked into: {text}");
        }
        assert!(
            shown[0].contains("***"),
            "the key's place shows it is set: {}",
            shown[0]
        );
    }
}
