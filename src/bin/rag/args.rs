//! Command-line arguments, and the only place where flags and `RAG_*` variables override the config file.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rag::config::{DeviceChoice, EmbedBackend, RetrieveMode};
use rag::Config;

/// rag: ask questions about your documents, answered offline by a local model, with citations.
#[derive(Debug, Parser)]
#[command(name = "rag", version, about, long_about = None)]
pub(crate) struct Args {
    /// Config file (TOML); default: ./rag.toml when present.
    #[arg(long, global = true, env = "RAG_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The index: a directory (default ./.rag), or a collection on a Qdrant server,
    /// qdrant://HOST:PORT/COLLECTION (qdrants:// for TLS; the API key comes from RAG_QDRANT_API_KEY).
    #[arg(long, global = true, env = "RAG_INDEX")]
    pub(crate) index: Option<PathBuf>,
    /// Threads for embedding and generation (default: physical cores).
    #[arg(long, global = true, env = "RAG_THREADS")]
    pub(crate) threads: Option<usize>,
    /// Model cache directory (default: $XDG_CACHE_HOME/rag/models).
    #[arg(long, global = true, env = "RAG_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Embedding model directory (BERT family: model.safetensors, config.json, tokenizer.json).
    #[arg(long, global = true, env = "RAG_EMBED_MODEL")]
    pub(crate) embed_model: Option<PathBuf>,
    /// Embedding runtime.
    #[arg(long, global = true, value_enum, env = "RAG_EMBED_BACKEND")]
    pub(crate) embed_backend: Option<BackendArg>,
    /// Use an OpenAI-compatible server for embeddings at this base URL (TEI, vLLM, Ollama, llama.cpp server);
    /// the API key comes from RAG_EMBED_API_KEY, RAG_API_KEY or OPENAI_API_KEY.
    #[arg(long, global = true, env = "RAG_EMBED_SERVER_URL")]
    pub(crate) embed_server: Option<String>,
    /// The embedding model's name on the server (with --embed-server).
    #[arg(long, global = true, env = "RAG_EMBED_SERVER_MODEL")]
    pub(crate) embed_server_model: Option<String>,
    /// Generator: a GGUF file (llama, qwen2, gemma or phi3 family), or a known name
    /// (smollm2-135m, qwen2.5-0.5b, gemma3-270m).
    #[arg(long, global = true, env = "RAG_LLM")]
    pub(crate) llm: Option<PathBuf>,
    /// Use an OpenAI-compatible server for generation at this base URL (vLLM, llama.cpp server, Ollama, TGI);
    /// the API key comes from RAG_API_KEY or OPENAI_API_KEY.
    #[arg(long, global = true, env = "RAG_SERVER_URL")]
    pub(crate) server: Option<String>,
    /// The model name on the server (with --server).
    #[arg(long, global = true, env = "RAG_SERVER_MODEL")]
    pub(crate) server_model: Option<String>,
    /// Send the API key over plain http to a server that is not on this machine (by default a key goes only
    /// over https, or over http to a loopback address).
    #[arg(long, global = true, env = "RAG_ALLOW_INSECURE_KEY")]
    pub(crate) allow_insecure_key: bool,
    /// Device for candle models.
    #[arg(long, global = true, value_enum, env = "RAG_DEVICE")]
    pub(crate) device: Option<DeviceArg>,
    /// Less output: no progress bars.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Index files and folders (only what changed since the last run).
    Ingest {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Index hidden files and folders too (names starting with '.'; `.git` is never entered).
        #[arg(long)]
        hidden: bool,
        /// Do not read .gitignore, .ignore and .ragignore files.
        #[arg(long)]
        no_ignore: bool,
        /// Include files matching GLOB (then only those), or exclude them with '!GLOB'; repeatable, as
        /// ripgrep's --glob (matched against the path under each given folder).
        #[arg(short = 'g', long = "glob", value_name = "GLOB")]
        globs: Vec<String>,
    },
    /// Answer a question from the indexed documents, with citations.
    Ask {
        /// The question.
        question: String,
        /// Chunks to retrieve.
        #[arg(short, long)]
        k: Option<usize>,
        /// Retrieval mode.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Only files whose path matches this glob (for example 'docs/**/*.pdf').
        #[arg(long)]
        path: Option<String>,
        /// Only documents of these kinds (pdf, md, html, txt, or a code extension such as rs).
        #[arg(long = "type", value_delimiter = ',')]
        kinds: Vec<String>,
        /// Print one JSON object (answer, citations, timings) instead of streaming text.
        #[arg(long)]
        json: bool,
        /// Most tokens to generate.
        #[arg(long)]
        max_tokens: Option<usize>,
    },
    /// A conversation: follow-up questions may refer to earlier ones ("and its pressure?"). Interactive with
    /// line editing and history on a terminal (`/clear` forgets the conversation, `/quit` or Ctrl-D ends it);
    /// otherwise one question per line of standard input.
    Chat {
        /// Chunks to retrieve per turn.
        #[arg(short, long)]
        k: Option<usize>,
        /// Retrieval mode.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Only files whose path matches this glob.
        #[arg(long)]
        path: Option<String>,
        /// Only documents of these kinds.
        #[arg(long = "type", value_delimiter = ',')]
        kinds: Vec<String>,
        /// Print one JSON object per turn instead of streaming text.
        #[arg(long)]
        json: bool,
    },
    /// Show the best-matching chunks, without generating an answer.
    Search {
        /// The query.
        query: String,
        /// How many results.
        #[arg(short, long, default_value_t = 5)]
        k: usize,
        /// Retrieval mode.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Only files whose path matches this glob (for example 'docs/**/*.pdf').
        #[arg(long)]
        path: Option<String>,
        /// Only documents of these kinds (pdf, md, html, txt, or a code extension such as rs).
        #[arg(long = "type", value_delimiter = ',')]
        kinds: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what the index holds.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate retrieval and answers on public benchmarks (runs the `rag-eval` binary built alongside).
    #[command(disable_help_flag = true)]
    Eval {
        /// Arguments for `rag-eval` (try `rag eval --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Serve the engine over HTTP: rag's API (/v1/search, /v1/ask) and an OpenAI-compatible one
    /// (/v1/chat/completions, /v1/models). API keys come from RAG_SERVE_API_KEYS (comma-separated) or
    /// serve.api_keys_file; binding beyond loopback needs one.
    Serve {
        /// Address and port (default 127.0.0.1:8088, or serve.bind).
        #[arg(long)]
        bind: Option<String>,
        /// Answers generated at once (serve.slots).
        #[arg(long)]
        slots: Option<usize>,
        /// Answers waiting for a slot before 429 (serve.queue).
        #[arg(long)]
        queue: Option<usize>,
    },
    /// Serve the index to agents over MCP (the Model Context Protocol) on stdin/stdout: tools search, ask,
    /// list_documents, read_document, status, and ingest when serve.ingest_roots allows it. stdout carries
    /// only the protocol; logs go to stderr. Put `rag mcp` (with --index) in the agent's MCP config.
    Mcp,
    /// Manage the index: copy it to another backend without re-embedding.
    Index {
        /// What to do.
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Print a shell completion script: `rag completions bash > /etc/bash_completion.d/rag` (bash, zsh, fish,
    /// powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `rag man > /usr/local/share/man/man1/rag.1`.
    Man,
    /// Manage models.
    Models {
        /// What to do.
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum IndexCommand {
    /// Copy an index (vectors, payload, manifest) to a new directory or Qdrant collection, for example
    /// `rag index copy --from .rag --to qdrant://127.0.0.1:6334/docs`; searches give the same results after.
    Copy {
        /// The index to copy (default: --index, or the configured one).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where to copy it: a new or empty directory, or qdrant://HOST:PORT/COLLECTION.
        #[arg(long)]
        to: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Fetch and verify models now (they are otherwise fetched on first use): the configured ones, or the
    /// named ones (see `rag models list`), for example `rag models pull qwen2.5-0.5b`.
    Pull {
        /// Known model names.
        names: Vec<String>,
    },
    /// List known models and whether they are cached.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BackendArg {
    Auto,
    Onnx,
    Candle,
    /// An OpenAI-compatible /v1/embeddings server (--embed-server).
    Openai,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ModeArg {
    Hybrid,
    Dense,
    Bm25,
}

impl From<ModeArg> for RetrieveMode {
    fn from(mode: ModeArg) -> RetrieveMode {
        match mode {
            ModeArg::Hybrid => RetrieveMode::Hybrid,
            ModeArg::Dense => RetrieveMode::Dense,
            ModeArg::Bm25 => RetrieveMode::Bm25,
        }
    }
}

impl Args {
    /// Reads the config file (if any) and applies the flags on top.
    pub(crate) fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).with_context(|| format!("reading config {}", path.display()))?,
            None if PathBuf::from("rag.toml").is_file() => {
                Config::load("rag.toml".as_ref()).context("reading config ./rag.toml")?
            }
            None => Config::default(),
        };
        if let Some(spec) = &self.index {
            set_index(&mut config.index, spec)?;
        }
        if let Some(threads) = self.threads {
            config.embed.threads = Some(threads);
            config.generate.threads = Some(threads);
        }
        if let Some(dir) = &self.cache_dir {
            config.models.cache_dir = Some(dir.clone());
        }
        if let Some(dir) = &self.embed_model {
            config.embed.model = Some(dir.clone());
        }
        if let Some(backend) = self.embed_backend {
            config.embed.backend = match backend {
                BackendArg::Auto => EmbedBackend::Auto,
                BackendArg::Onnx => EmbedBackend::Onnx,
                BackendArg::Candle => EmbedBackend::Candle,
                BackendArg::Openai => EmbedBackend::Openai,
            };
        }
        if let Some(url) = &self.embed_server {
            config.embed.backend = EmbedBackend::Openai;
            config.embed.base_url = url.clone();
        }
        if let Some(model) = &self.embed_server_model {
            config.embed.api_model = model.clone();
        }
        if let Some(path) = &self.llm {
            config.generate.model = Some(path.clone());
        }
        if let Some(url) = &self.server {
            config.generate.backend = rag::config::GenerateBackend::Openai;
            config.generate.base_url = url.clone();
        }
        if let Some(model) = &self.server_model {
            config.generate.api_model = model.clone();
        }
        // Environment variables are read here, at the edge, and passed down.
        config.keys_from_env();
        if self.allow_insecure_key {
            config.embed.allow_insecure_key = true;
            config.generate.allow_insecure_key = true;
            config.index.allow_insecure_key = true;
        }
        if let Some(device) = self.device {
            let device = match device {
                DeviceArg::Auto => DeviceChoice::Auto,
                DeviceArg::Cpu => DeviceChoice::Cpu,
                DeviceArg::Cuda => DeviceChoice::Cuda,
                DeviceArg::Metal => DeviceChoice::Metal,
            };
            config.embed.device = device;
            config.generate.device = device;
        }
        if let Command::Ask {
            max_tokens: Some(n), ..
        } = &self.command
        {
            config.generate.max_new_tokens = *n;
        }
        Ok(config)
    }
}

/// Points `index` at `spec`: a directory, or `qdrant://HOST:PORT/COLLECTION`.
pub(crate) fn set_index(index: &mut rag::config::IndexConfig, spec: &std::path::Path) -> anyhow::Result<()> {
    match spec.to_str() {
        Some(text) if text.starts_with("qdrant://") || text.starts_with("qdrants://") => {
            index.set_location(text)?;
        }
        _ => {
            index.backend = rag::config::IndexBackend::Embedded;
            index.dir = spec.to_path_buf();
        }
    }
    Ok(())
}
