//! Typed configuration: `rag.toml` parsed into plain data with documented defaults.
//!
//! The CLI applies flags and `RAG_*` environment variables on top (in `src/bin/rag/args.rs`, and only there);
//! [`crate::Engine::from_config`] is the only place that turns this data into backends.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The whole configuration. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where chunks are stored.
    pub index: IndexConfig,
    /// Where models are cached and fetched from.
    pub models: ModelsConfig,
    /// How ingest batches its writes.
    pub ingest: IngestConfig,
    /// How documents are cut into chunks.
    pub chunk: ChunkConfig,
    /// Which embedding model and backend.
    pub embed: EmbedConfig,
    /// How chunks are retrieved for a question.
    pub retrieve: RetrieveConfig,
    /// Which generator and how it samples.
    pub generate: GenerateConfig,
    /// `rag serve`: where it listens and how much load it takes.
    pub serve: ServeConfig,
}

/// `rag serve`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port to listen on (default `127.0.0.1:8088`). Anything but loopback needs an API key.
    pub bind: String,
    /// A file of API keys, one per line (`#` comments); also `RAG_SERVE_API_KEYS` (comma-separated).
    pub api_keys_file: Option<PathBuf>,
    /// Answers generated at once (default 1: generation takes every core).
    pub slots: usize,
    /// Answers waiting for a slot (default 4); past it a request gets 429 with `Retry-After` at once.
    pub queue: usize,
    /// Searches run at once (default 8); more wait for a turn.
    pub searches: usize,
    /// Largest request body in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Seconds one request may take before it is cancelled with 504 (default 300).
    pub request_timeout_s: u64,
    /// Folders whose files clients may ingest (`POST /v1/ingest`) and remove from the index
    /// (`DELETE /v1/documents`); empty (the default) turns both off. Paths are compared after resolving
    /// symlinks, so nothing outside these folders can be reached.
    pub ingest_roots: Vec<PathBuf>,
    /// More indexes served beside the default one, by name: `docs = "/srv/rag/docs"` or
    /// `tickets = "qdrant://db:6334/tickets"`, reached at `/v1/indexes/NAME/...` (names: letters, digits, `-`, `_`).
    /// They share the models, the generation slots and the limits; `ingest_roots` applies to each.
    pub indexes: std::collections::BTreeMap<String, String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: "127.0.0.1:8088".into(),
            api_keys_file: None,
            slots: 1,
            queue: 4,
            searches: 8,
            max_body_bytes: 1 << 20,
            request_timeout_s: 300,
            ingest_roots: Vec::new(),
            indexes: std::collections::BTreeMap::new(),
        }
    }
}

/// Where chunks are stored.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// The vector index backend (default `embedded`).
    pub backend: IndexBackend,
    /// The index directory (default `.rag`). rag writes only into a new or empty directory, or one it marked
    /// as its index; anything else is refused.
    pub dir: PathBuf,
    /// The Qdrant server's gRPC URL for `backend = "qdrant"` (default `http://127.0.0.1:6334`).
    pub url: String,
    /// The collection holding the chunks (default `rag`); rag keeps its state in `<collection>_rag_state`.
    pub collection: String,
    /// Qdrant's API key; never read from or written to the file: the CLI takes it from `RAG_QDRANT_API_KEY`.
    /// Sent only over https, or over http to a loopback address, unless `allow_insecure_key`.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    /// Send the Qdrant key over plain http to a host that is not loopback (default false).
    pub allow_insecure_key: bool,
    /// Shards of a new collection (default 1).
    pub shards: u32,
    /// Replicas of each shard of a new collection (default 1).
    pub replication_factor: u32,
    /// Replicas that must acknowledge each write, for a new collection (default 1).
    pub write_consistency_factor: u32,
    /// How searches read a replicated collection: `one`, `majority`, `quorum`, `all`, or a number of replicas
    /// (default `one`).
    pub read_consistency: String,
    /// Seconds one request to the server may take (default 30).
    pub timeout_s: u64,
    /// Seconds to wait for a connection (default 5).
    pub connect_timeout_s: u64,
    /// Seconds a writer's lease on the collection lasts without renewal (default 60): a crashed ingest blocks
    /// other writers at most this long.
    pub lease_s: u64,
    /// Upsert requests in flight at once during ingest (default 4).
    pub in_flight: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            backend: IndexBackend::Embedded,
            dir: PathBuf::from(".rag"),
            url: "http://127.0.0.1:6334".into(),
            collection: "rag".into(),
            api_key: None,
            allow_insecure_key: false,
            shards: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            read_consistency: "one".into(),
            timeout_s: 30,
            connect_timeout_s: 5,
            lease_s: 60,
            in_flight: 4,
        }
    }
}

impl IndexConfig {
    /// Points the configuration at `spec`: `qdrant://HOST:PORT/COLLECTION` (`qdrants://` for TLS) selects the
    /// Qdrant backend; anything else is an index directory.
    pub fn set_location(&mut self, spec: &str) -> Result<()> {
        let server = spec
            .strip_prefix("qdrant://")
            .map(|rest| ("http", rest))
            .or_else(|| spec.strip_prefix("qdrants://").map(|rest| ("https", rest)));
        match server {
            Some((scheme, rest)) => {
                let (host, collection) = rest.split_once('/').unwrap_or((rest, ""));
                if host.is_empty() {
                    return Err(Error::Config(format!(
                        "--index {spec:?}: no host (use qdrant://HOST:PORT/COLLECTION)"
                    )));
                }
                let host = if host.contains(':') && !host.ends_with(']') {
                    host.to_owned()
                } else {
                    format!("{host}:6334")
                };
                self.backend = IndexBackend::Qdrant;
                self.url = format!("{scheme}://{host}");
                let collection = collection.trim_end_matches('/');
                if !collection.is_empty() {
                    self.collection = collection.to_owned();
                }
            }
            None => {
                self.backend = IndexBackend::Embedded;
                self.dir = PathBuf::from(spec);
            }
        }
        Ok(())
    }

    /// How the index is named in messages: its directory, or `qdrant://host:port/collection`.
    pub fn location(&self) -> String {
        match self.backend {
            IndexBackend::Embedded => self.dir.display().to_string(),
            IndexBackend::Qdrant => self.qdrant_options().map(|o| o.location()).unwrap_or_default(),
        }
    }

    /// The Qdrant backend's options; fails on a `read_consistency` it does not know, or a key that would be
    /// sent where it can be read on the way.
    pub fn qdrant_options(&self) -> Result<rag_indexes::QdrantOptions> {
        use rag_indexes::ReadConsistency;
        let read_consistency = match self.read_consistency.trim().to_ascii_lowercase().as_str() {
            "" | "one" => ReadConsistency::One,
            "majority" => ReadConsistency::Majority,
            "quorum" => ReadConsistency::Quorum,
            "all" => ReadConsistency::All,
            n => match n.parse::<u64>() {
                Ok(n) if n > 0 => ReadConsistency::Factor(n),
                _ => {
                    return Err(Error::Config(format!(
                        "index.read_consistency = {:?}: use one, majority, quorum, all or a number of replicas",
                        self.read_consistency
                    )))
                }
            },
        };
        if self.api_key.is_some() {
            let endpoint = crate::remote::Endpoint {
                base_url: self.url.clone(),
                model: String::new(),
                api_key: self.api_key.clone(),
                allow_insecure_key: self.allow_insecure_key,
                timeout: std::time::Duration::from_secs(1),
                attempts: 1,
            };
            endpoint.check_key_transport().map_err(Error::Config)?;
        }
        Ok(rag_indexes::QdrantOptions {
            url: self.url.clone(),
            collection: self.collection.clone(),
            api_key: self.api_key.as_ref().map(|k| k.expose().to_owned()),
            shards: self.shards,
            replication_factor: self.replication_factor,
            write_consistency_factor: self.write_consistency_factor,
            read_consistency,
            timeout: std::time::Duration::from_secs(self.timeout_s.max(1)),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_s.max(1)),
            lease: std::time::Duration::from_secs(self.lease_s.max(3)),
            in_flight: self.in_flight.max(1),
        })
    }
}

/// Vector index backends.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IndexBackend {
    /// In-process Qdrant (qdrant-edge) on a local directory.
    Embedded,
    /// A collection on a Qdrant server or cluster, through `qdrant-client`.
    Qdrant,
}

/// A secret (an API key): kept out of every `Debug` and `Display` output, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Model cache and fetching.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Cache directory (default: `$XDG_CACHE_HOME/rag/models`).
    pub cache_dir: Option<PathBuf>,
    /// The Python interpreter whose pip fetches packaged models (default `python3`).
    pub python: String,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            cache_dir: None,
            python: "python3".into(),
        }
    }
}

/// Ingest.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Commit the index and the manifest after at least this many new chunks (default 4096): a crash loses at
    /// most the work since the last commit, and a re-run redoes it.
    pub commit_chunks: usize,
    /// Chunks gathered across files, sorted by length and embedded together (default 1024): similar lengths
    /// in a batch mean less padding.
    pub embed_window: usize,
    /// Threads reading and chunking files (default: the physical cores).
    pub workers: Option<usize>,
    /// Seconds one file may take to read, parse and chunk before it is reported as failed and abandoned
    /// (default 120).
    pub file_timeout_s: f64,
    /// Most chunks one file may give (default 50,000, about ten million tokens, an hour of embedding on two
    /// cores); a file over it is reported as failed and not indexed.
    pub max_chunks_per_file: usize,
    /// Respect `.gitignore`, `.ignore` and `.ragignore` files under the paths (default true; `--no-ignore`).
    pub ignore_files: bool,
    /// Index hidden files and folders, whose names start with `.` (default false; `--hidden`). `.git` folders
    /// are never entered.
    pub hidden: bool,
    /// Include and exclude globs as ripgrep's `--glob`: `*.md` keeps only matching files, `!drafts/**` leaves
    /// matching ones out (default none; `--glob`).
    pub globs: Vec<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            commit_chunks: 4096,
            embed_window: 1024,
            workers: None,
            file_timeout_s: 120.0,
            max_chunks_per_file: 50_000,
            ignore_files: true,
            hidden: false,
            globs: Vec::new(),
        }
    }
}

impl IngestConfig {
    /// The walk's rules.
    pub fn walk_rules(&self) -> crate::ingest::WalkRules {
        crate::ingest::WalkRules {
            ignore_files: self.ignore_files,
            hidden: self.hidden,
            globs: self.globs.clone(),
        }
    }
}

/// Chunking.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkConfig {
    /// Largest chunk, in the embedding model's tokens, special tokens excluded (default 200; clamped to the
    /// model's window minus its special tokens, 254 for MiniLM).
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks (default 32).
    pub overlap_tokens: usize,
    /// Embed and index each chunk with its context line, the document title and the path of headings above it,
    /// show that line in the prompt, and drop chunks that would hold headings alone. Default false: on the
    /// shared corpora it scored lower on two of three (SciFact hybrid nDCG@10 0.751 against 0.764, CMU recall@5
    /// 0.963 against 0.965; XQuAD 0.994 against 0.991; eval/RESULTS.md). Worth trying on heading-rich
    /// documents (manuals, handbooks). Changing it re-chunks every file on the next ingest.
    pub context: bool,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            max_tokens: 200,
            overlap_tokens: 32,
            context: false,
        }
    }
}

/// The embedding model.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Which runtime computes embeddings (default `onnx` where ONNX Runtime is available, else `candle`).
    pub backend: EmbedBackend,
    /// A directory holding a BERT-family model (`model.safetensors`, `config.json`, `tokenizer.json`); default:
    /// the packaged all-MiniLM-L6-v2.
    pub model: Option<PathBuf>,
    /// Texts per batch (default 8: with length-sorted batches as fast as 32 on 2 cores, and ONNX Runtime's
    /// memory for a batch of 32 texts of 256 tokens took peak RSS from 0.45 to 1.15 GB on SciFact).
    pub batch_size: usize,
    /// Threads for the embedder (default: physical cores).
    pub threads: Option<usize>,
    /// Device for the candle backend (default `auto`).
    pub device: DeviceChoice,
    /// The server's base URL for `backend = "openai"` (default `http://localhost:8080`).
    pub base_url: String,
    /// The embedding model's name on the server (default `default`).
    pub api_model: String,
    /// Bearer token for the server; never read from or written to the file: the CLI takes it from
    /// `RAG_EMBED_API_KEY`, else `RAG_API_KEY` or `OPENAI_API_KEY`. Sent only over https, or over http to a
    /// loopback address, unless `allow_insecure_key`.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    /// Send the key over plain http to a host that is not loopback (default false: such a URL is refused
    /// while a key is set). Also `--allow-insecure-key`.
    pub allow_insecure_key: bool,
    /// The server model's window in tokens, for chunk sizes (default 512).
    pub api_max_tokens: usize,
    /// Seconds before a server request is abandoned (default 120).
    pub timeout_s: u64,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            backend: EmbedBackend::Auto,
            model: None,
            batch_size: 8,
            threads: None,
            device: DeviceChoice::Auto,
            base_url: "http://localhost:8080".into(),
            api_model: "default".into(),
            api_key: None,
            allow_insecure_key: false,
            api_max_tokens: 512,
            timeout_s: 120,
        }
    }
}

/// Embedding runtimes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmbedBackend {
    /// ONNX Runtime on CPU when this platform has the packaged runtime, else candle.
    Auto,
    /// fastembed on ONNX Runtime (int8 MiniLM): the fastest on CPU.
    Onnx,
    /// candle BERT on the safetensors weights: exact fp32, and the path to CUDA/Metal.
    Candle,
    /// An OpenAI-compatible `/v1/embeddings` server (TEI, vLLM, Ollama, llama.cpp).
    Openai,
}

/// Where candle runs.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// A GPU if the binary was built with one and it is present, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device (needs the `cuda` feature).
    Cuda,
    /// The Metal device (needs the `metal` feature).
    Metal,
}

/// Retrieval.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetrieveConfig {
    /// Which retrievers (default `hybrid`: dense + BM25 fused with RRF).
    pub mode: RetrieveMode,
    /// Chunks retrieved per question (default 5).
    pub k: usize,
    /// Candidates each retriever contributes before fusion (default 50).
    pub candidates: usize,
    /// The RRF constant k in score = Σ 1/(k + rank) (default 10: on SciFact's reporting half of the queries it
    /// beats the tuning half's pick, 15, and the customary 60; see eval/RESULTS.md).
    pub rrf_k: usize,
    /// Below this cosine similarity of the best chunk, `ask` answers that the documents do not contain the
    /// answer, without calling the generator, unless `lexical_override` says otherwise (default 0.45: with the
    /// override at 0.5 it refuses 51 % of on-topic unanswerable XQuAD questions and 3.6 % of answerable ones,
    /// 0.1 % of CMU's answerable; see "Refusing what the documents do not say" in eval/RESULTS.md).
    pub min_similarity: f32,
    /// A question whose best chunk is under `min_similarity` is still answered when some retrieved chunk holds
    /// at least this share of the question's content words (strong lexical evidence, as BM25 sees it);
    /// above 1 disables the override (default 0.5; the two-way sweep is in eval/RESULTS.md).
    pub lexical_override: f32,
    /// Sentence evidence (issue 12.3): a question is refused when no sentence of the retrieved chunks has at
    /// least this cosine similarity to it and no two adjacent sentences hold `sentence_coverage` of its content
    /// words: the chunks are on topic but none says what is asked. 0 turns the check off (default 0.5: with
    /// `sentence_coverage` 0.5 it adds 3 points to the on-topic unanswerable XQuAD questions refused, at no
    /// answerable one; see "Sentence evidence" in eval/RESULTS.md).
    pub sentence_similarity: f32,
    /// The share of the question's content words two adjacent sentences must hold to count as evidence when
    /// no sentence reaches `sentence_similarity` (default 0.5).
    pub sentence_coverage: f32,
    /// `ask` gives the generator only chunks at least this fraction as similar to the question as the best
    /// chunk (default 0.6): small models answer better from less, more relevant text.
    pub min_relative_similarity: f32,
    /// Keep chunks flagged at ingest as instruction-like (text addressing a model) out of search results and
    /// prompts (default false: they are shown, marked).
    pub exclude_flagged: bool,
    /// Remove, in prompts, the sentences of flagged chunks that the rules match, keeping the rest of the chunk
    /// (default true: attack success 13.3 % → 0.8 % at no cost in right answers with `rag eval inject`; see
    /// eval/RESULTS.md).
    pub redact_flagged: bool,
    /// Reranking of the fused hits (default `none`).
    pub rerank: RerankChoice,
    /// MMR's relevance weight λ when `rerank = "mmr"` (default 0.7).
    pub mmr_lambda: f32,
    /// A sentence the model did not cite is attributed to the passage holding at least this share of its
    /// content words (and every figure it states); below it, the sentence is marked unsupported (default 0.6;
    /// the precision sweep is in eval/RESULTS.md).
    pub attribution_threshold: f32,
    /// Mark as refused an answer in which no sentence is supported by the passages (no valid citation, no
    /// passage holding `attribution_threshold` of its content words): the documents likely do not answer the
    /// question. The streamed text stays as it was; the answer carries `Refusal::Unsupported` and the terminal
    /// says so (default false; its refusal and false-refusal rates per generator are in eval/RESULTS.md).
    pub refuse_unsupported: bool,
    /// Mark as refused an answer that states a figure (a number) that neither the passages nor the question
    /// state: an invented number, often cited as if grounded (`Refusal::UnstatedFigures`; the text stays as
    /// streamed, the sentence is marked unsupported and the terminal names the figures). Default true; its
    /// refusal and false-refusal rates are in eval/RESULTS.md.
    pub refuse_unstated_figures: bool,
    /// The answerability check: before answering, the generator is asked whether the passages state the
    /// answer (a yes/no prompt over the same passages, sharing their cached positions); when its probability
    /// of "yes" is under this threshold, `ask` refuses. 0 turns the check off; generators that cannot score
    /// (a remote server) skip it (default: see eval/RESULTS.md, "Refusing what the documents do not say").
    pub answerable_threshold: f32,
}

/// Rerankers.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RerankChoice {
    /// Keep the index's order.
    None,
    /// Maximal marginal relevance (diversity).
    Mmr,
}

impl Default for RetrieveConfig {
    fn default() -> Self {
        RetrieveConfig {
            mode: RetrieveMode::Hybrid,
            k: 5,
            candidates: 50,
            rrf_k: 10,
            min_similarity: 0.45,
            lexical_override: 0.5,
            sentence_similarity: 0.5,
            sentence_coverage: 0.5,
            exclude_flagged: false,
            redact_flagged: true,
            min_relative_similarity: 0.6,
            rerank: RerankChoice::None,
            mmr_lambda: 0.7,
            attribution_threshold: 0.6,
            refuse_unsupported: false,
            refuse_unstated_figures: true,
            answerable_threshold: 0.0,
        }
    }
}

/// Retrieval modes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RetrieveMode {
    /// Dense and BM25, fused with reciprocal-rank fusion.
    Hybrid,
    /// Dense kNN only.
    Dense,
    /// BM25 only.
    Bm25,
}

/// Generation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateConfig {
    /// Where the model runs: `local` (in-process candle, the default) or `openai` (an OpenAI-compatible
    /// server: vLLM, llama.cpp server, Ollama, TGI).
    pub backend: GenerateBackend,
    /// The server's base URL for `backend = "openai"` (default `http://localhost:8080`).
    pub base_url: String,
    /// The model name on the server (default `default`).
    pub api_model: String,
    /// Bearer token for the server; never read from or written to the file: it comes from `RAG_API_KEY` or
    /// `OPENAI_API_KEY`. Sent only over https, or over http to a loopback address, unless `allow_insecure_key`.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    /// Send the key over plain http to a host that is not loopback (default false). Also
    /// `--allow-insecure-key`.
    pub allow_insecure_key: bool,
    /// Seconds before a server request is abandoned (default 300).
    pub timeout_s: u64,
    /// A GGUF file (llama, qwen2, gemma or phi3 family) or a known generator name (`rag models list`); default:
    /// `models::DEFAULT_GENERATOR`.
    pub model: Option<PathBuf>,
    /// Most tokens generated per answer (default 256).
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy and reproducible (default 0).
    pub temperature: f64,
    /// Seed for sampling when temperature > 0 (default 42).
    pub seed: u64,
    /// Context window used for prompt + answer, in generator tokens (default 2048; never more than the model's).
    pub context_tokens: usize,
    /// Threads for the generator (default: physical cores).
    pub threads: Option<usize>,
    /// Requantize tensors whose type has only scalar CPU kernels in candle (Q4_1, Q5_0, ...) to Q8_0 once, and
    /// cache the result (default true).
    pub requantize: bool,
    /// Device (default `auto`).
    pub device: DeviceChoice,
    /// How passages are marked in the prompt: `none` (numbered headers) or `delimit` (quoted between markers
    /// the system turn declares to be data, never instructions). Default `none`; the measurement is in
    /// eval/RESULTS.md.
    pub spotlight: crate::prompt::Spotlight,
    /// How the answer is asked for: `standard`, or `strict` (a rule against guessing, fixed words for
    /// declining, a worked example). Default: see eval/RESULTS.md, "Prompt style".
    pub prompt: crate::prompt::Style,
}

impl GenerateConfig {
    /// The prompt framing this configuration asks for.
    pub fn framing(&self) -> crate::prompt::Framing {
        crate::prompt::Framing {
            spotlight: self.spotlight,
            style: self.prompt,
        }
    }
}

/// Generator backends.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GenerateBackend {
    /// In-process candle on a GGUF file.
    Local,
    /// An OpenAI-compatible `/v1/chat/completions` server.
    Openai,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            backend: GenerateBackend::Local,
            base_url: "http://localhost:8080".into(),
            api_model: "default".into(),
            api_key: None,
            allow_insecure_key: false,
            timeout_s: 300,
            model: None,
            max_new_tokens: 256,
            temperature: 0.0,
            seed: 42,
            context_tokens: 2048,
            threads: None,
            requantize: true,
            device: DeviceChoice::Auto,
            spotlight: crate::prompt::Spotlight::None,
            prompt: crate::prompt::Style::Standard,
        }
    }
}

impl Config {
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The CPU threads the engine uses: the generator's, else the embedder's setting, else the physical cores.
    pub fn threads(&self) -> usize {
        self.generate
            .threads
            .or(self.embed.threads)
            .unwrap_or_else(crate::device::default_threads)
    }

    /// The index directory.
    pub fn index_dir(&self) -> &Path {
        &self.index.dir
    }

    /// Takes the API keys from the environment, as both binaries do: `RAG_EMBED_API_KEY`, else `RAG_API_KEY`,
    /// else `OPENAI_API_KEY` for the embedding server; `RAG_API_KEY`, else `OPENAI_API_KEY` for generation;
    /// `RAG_QDRANT_API_KEY` for a Qdrant server.
    /// (Binaries call this; the library never reads the environment by itself.)
    pub fn keys_from_env(&mut self) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        self.embed.api_key = var("RAG_EMBED_API_KEY")
            .or_else(|| var("RAG_API_KEY"))
            .or_else(|| var("OPENAI_API_KEY"))
            .map(Secret::new);
        self.generate.api_key = var("RAG_API_KEY").or_else(|| var("OPENAI_API_KEY")).map(Secret::new);
        self.index.api_key = var("RAG_QDRANT_API_KEY").map(Secret::new);
    }

    /// The configuration as TOML (without keys), as [`Config::from_toml`] reads it back.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
        assert_eq!(Config::default().index_dir(), Path::new(".rag"));
    }

    #[test]
    fn sections_parse_into_types() {
        let config = Config::from_toml(
            r#"
            [index]
            backend = "embedded"
            dir = "/tmp/idx"
            [embed]
            backend = "candle"
            [retrieve]
            mode = "bm25"
            k = 3
            [generate]
            temperature = 0.7
            "#,
        )
        .unwrap();
        assert_eq!(config.index_dir(), Path::new("/tmp/idx"));
        assert_eq!(config.embed.backend, EmbedBackend::Candle);
        assert_eq!(config.retrieve.mode, RetrieveMode::Bm25);
        assert_eq!(config.retrieve.k, 3);
        assert_eq!(config.retrieve.candidates, 50);
        assert_eq!(config.generate.temperature, 0.7);
    }

    /// Issue 9.15: "every key is optional" held for every section but `[index]`, which needed `backend`.
    #[test]
    fn every_key_is_optional_index_included() {
        let config = Config::from_toml("[index]\ndir = \"/tmp/x\"").unwrap();
        assert_eq!(config.index_dir(), Path::new("/tmp/x"));
        assert_eq!(config.index.backend, IndexBackend::Embedded);
        assert_eq!(Config::from_toml("[index]").unwrap(), Config::default());
    }

    #[test]
    fn the_toml_form_reads_back_to_the_same_config_without_keys() {
        let mut config = Config::from_toml("[generate]\nmodel = \"/m.gguf\"\n[retrieve]\nk = 3").unwrap();
        config.generate.api_key = Some(Secret::new("sk-roundtrip-secret"));
        let text = config.to_toml().unwrap();
        assert!(!text.contains("sk-roundtrip-secret"), "{text}");
        let mut back = Config::from_toml(&text).unwrap();
        assert_eq!(back.generate.api_key, None);
        back.generate.api_key = config.generate.api_key.clone();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(Config::from_toml("[chunk]\nmax_tokns = 3").is_err());
        assert!(Config::from_toml("[retrieve]\nmode = \"fuzzy\"").is_err());
    }
}
