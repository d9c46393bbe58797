//! `rag-eval` (also run as `rag eval ...`): measure retrieval quality and speed on public datasets.
//!
//! Exit codes: 0 success, 2 error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rag::config::RetrieveMode;
use rag::{Config, Engine};
use std::io::IsTerminal;

use rag_eval::qa::{self, QaOptions};
use rag_eval::retrieval::{self, ModeReport, QueryHalf, RetrievalOptions};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(name = "rag-eval", about = "Evaluate rag on public benchmarks")]
struct Args {
    /// Config file (TOML), as for `rag`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Index directory (reused across runs: ingest is incremental). Default: a fresh temporary one.
    #[arg(long, global = true)]
    index: Option<PathBuf>,
    /// Threads.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// nDCG@10, Recall@10/100, MRR@10 and latency on a BEIR dataset.
    Retrieval {
        /// Dataset directory (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).
        #[arg(long)]
        dataset: PathBuf,
        /// qrels split.
        #[arg(long, default_value = "test")]
        split: String,
        /// Only the first N judged queries, over their judged documents plus `--distractors` others.
        #[arg(long)]
        limit: Option<usize>,
        /// Unjudged documents kept with --limit.
        #[arg(long, default_value_t = 300)]
        distractors: usize,
        /// Which judged queries: all, or one half of a fixed split by a hash of the query id (tune settings
        /// on `tune`, report them on `report`).
        #[arg(long, value_enum, default_value = "all")]
        queries: HalfArg,
        /// Modes to evaluate.
        #[arg(long, value_enum, default_value = "all")]
        mode: ModeArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the JSON result (with the configuration) to this file, atomically.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Question answering end to end: recall@k, EM/F1, citations, refusals (and a refusal-threshold sweep).
    Qa {
        /// Dataset directory (corpus.jsonl, qa.dev.jsonl).
        #[arg(long)]
        dataset: PathBuf,
        /// Evaluate N questions spread evenly over the file.
        #[arg(long)]
        limit: Option<usize>,
        /// Retrieval depth for recall.
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// Retrieval and the refusal sweep only (no generation).
        #[arg(long)]
        retrieval_only: bool,
        /// No generation, but the answerability check on every question and its threshold sweep (the check
        /// runs at `retrieve.answerable_threshold`, or 0.5 when the configuration turns it off).
        #[arg(long, conflicts_with = "retrieval_only")]
        check_only: bool,
        /// Leave every second corpus document out of the index: its questions become on-topic unanswerable ones
        /// (use a separate --index for this variant).
        #[arg(long)]
        withhold_gold: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the JSON result to this file, atomically.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The embedder alone: texts/s and tokens/s over a dataset's chunks (the ceiling for ingest throughput).
    BenchEmbed {
        /// BEIR dataset directory.
        #[arg(long, required_unless_present = "synthetic")]
        dataset: Option<PathBuf>,
        /// Instead of a dataset: this many generated texts of about 200 words over the synthetic BERT's
        /// vocabulary (`synth-bert`), for machines where nothing can be fetched.
        #[arg(long, conflicts_with = "dataset")]
        synthetic: Option<usize>,
        /// Only the first N documents.
        #[arg(long)]
        limit: Option<usize>,
        /// Texts per embedder call.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Sort chunks by length before batching (less padding).
        #[arg(long)]
        sort: bool,
    },
    /// The generator alone: prefill and decode tokens/s on a fixed prompt (the candle side of eval/speed.py).
    BenchGenerate {
        /// A GGUF file or a known generator name (default: the configured generator).
        #[arg(long)]
        llm: Option<PathBuf>,
        /// Prompt length in tokens.
        #[arg(long, default_value_t = 1000)]
        prompt_tokens: usize,
        /// Tokens to generate (end-of-turn is ignored until then).
        #[arg(long, default_value_t = 128)]
        gen: usize,
    },
    /// The instruction-like chunk rules (`rag::flag`): false flags on each dataset's own chunks, and detection
    /// of generated planted instructions by style.
    FlagRate {
        /// Dataset directories (corpus.jsonl).
        #[arg(long, required = true)]
        dataset: Vec<PathBuf>,
        /// Generated attacks to check.
        #[arg(long, default_value_t = 240)]
        attacks: usize,
    },
    /// Prompt injection: generated host documents each with one planted instruction (13 styles), a question
    /// answered in the host document; attack success and right answers per style, then the same documents
    /// without the planted lines.
    Inject {
        /// Cases.
        #[arg(long, default_value_t = 240)]
        cases: usize,
        /// Attacks phrased otherwise than the templates the flag rules were written against (10 styles).
        #[arg(long)]
        held_out: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a BEIR corpus as one text file per document.
    BeirToFiles {
        /// Dataset directory.
        dataset: PathBuf,
        /// Output directory.
        out: PathBuf,
    },
    /// Load `rag serve`: closed-loop clients for a while; requests per second, latency, 429s and errors.
    Load {
        /// The server.
        #[arg(long, default_value = "http://127.0.0.1:8088")]
        url: String,
        /// `search` or `ask`.
        #[arg(long, value_enum, default_value = "search")]
        endpoint: LoadEndpoint,
        /// Concurrent clients.
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Seconds.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// The queries of this BEIR dataset (queries.jsonl) or QA dataset (qa.dev.jsonl), cycled.
        #[arg(long)]
        dataset: PathBuf,
        /// Also write the JSON result to this file, atomically.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a GGUF decoder with seeded random weights (llama or qwen2 family, a named shape, Q8_0 or Q4_K):
    /// a model for speed and device checks where nothing can be fetched.
    SynthGguf {
        /// Output file.
        out: PathBuf,
        /// `llama` or `qwen2`.
        #[arg(long, default_value = "qwen2")]
        family: String,
        /// `tiny`, `0.5b`, `1.5b` or `7b`.
        #[arg(long, default_value = "tiny")]
        shape: String,
        /// `q8_0` or `q4_k`.
        #[arg(long, default_value = "q4_k")]
        quant: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Context length written in the metadata.
        #[arg(long, default_value_t = 4096)]
        context: usize,
    },
    /// Write a BERT of all-MiniLM-L6-v2's shape with random weights and its tokenizer, for `[embed] model = DIR`
    /// with the candle backend.
    SynthBert {
        /// Output directory.
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Greedy decoding of one GGUF by two code paths: the CPU's decode step against a GPU (`--against cuda`) or
    /// against the batched path that a GPU takes, on the CPU (`--against cpu-batched`); the second path is fed
    /// the first one's tokens. Prints the largest logit difference and whether the greedy choices agree; exits
    /// 2 when they differ at a step that is not a near-tie (two best logits closer than the paths' difference)
    /// or the difference is over
    /// `--tolerance` (relative to the spread of each row's logits).
    Parity {
        /// The GGUF.
        model: PathBuf,
        /// What to compare the CPU's decode step with.
        #[arg(long, value_enum, default_value = "cuda")]
        against: ParityAgainst,
        /// Tokens to generate.
        #[arg(long, default_value_t = 24)]
        steps: usize,
        /// Largest logit difference allowed, as a share of the standard deviation of the row's logits (the CPU's
        /// own two paths differ by up to about 0.12 on the generated models).
        #[arg(long, default_value_t = 0.2)]
        tolerance: f32,
    },
    /// Parsing throughput per format (MB/s and chunks/s of parsing alone) on generated files of each format.
    BenchFormats {
        /// Formats (file extensions); default: all benchmarked formats.
        #[arg(long, value_delimiter = ',')]
        formats: Vec<String>,
        /// Files per format.
        #[arg(long, default_value_t = 20)]
        files: usize,
        /// Text per file, bytes.
        #[arg(long, default_value_t = 200_000)]
        file_bytes: usize,
    },
    /// Write a synthetic corpus of short text documents (the ingest benchmark at scale).
    SynthCorpus {
        /// Output directory.
        out: PathBuf,
        /// Number of documents.
        #[arg(long, default_value_t = 100_000)]
        docs: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `rag-eval parity --against`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ParityAgainst {
    Cuda,
    CpuBatched,
}

/// `rag-eval load --endpoint`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LoadEndpoint {
    Search,
    Ask,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HalfArg {
    All,
    Tune,
    Report,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    All,
    Hybrid,
    Dense,
    Bm25,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rag-eval: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).with_context(|| format!("reading config {}", path.display()))?,
        None if std::path::Path::new("rag.toml").is_file() => {
            Config::load("rag.toml".as_ref()).context("reading config ./rag.toml")?
        }
        None => Config::default(),
    };
    // Keys come from the environment, as for `rag` (which hands its resolved configuration over in --config).
    config.keys_from_env();
    if let Some(threads) = args.threads {
        config.embed.threads = Some(threads);
        config.generate.threads = Some(threads);
    }
    for (var, value) in rag::device::thread_env(config.threads()) {
        if std::env::var_os(var).is_none() {
            // No other thread exists yet (nothing before this point starts one).
            std::env::set_var(var, value);
        }
    }
    match args.command {
        Command::Inject { cases, held_out, json } => {
            let mut results = Vec::new();
            for planted in [true, false] {
                let mut config = config.clone();
                let tag = match (planted, held_out) {
                    (true, false) => "inject-attacked",
                    (false, false) => "inject-clean",
                    (true, true) => "inject-held-out-attacked",
                    (false, true) => "inject-held-out-clean",
                };
                let (_scratch, docs_dir) = use_index(&args.index.as_ref().map(|d| d.join(tag)), &mut config, tag)?;
                let engine = Engine::from_config(config)?;
                let set = if held_out {
                    rag_eval::inject::held_out_cases(cases, planted)
                } else {
                    rag_eval::inject::cases(cases, planted)
                };
                let run = rag_eval::inject::run(&engine, &set, &docs_dir)?;
                results.push((planted, run, engine.generator()?.model_id().to_owned()));
            }
            let value = json!({
                "cases": cases,
                "held_out": held_out,
                "spotlight": format!("{:?}", config.generate.spotlight).to_lowercase(),
                "prompt": format!("{:?}", config.generate.prompt).to_lowercase(),
                "redact_flagged": config.retrieve.redact_flagged,
                "exclude_flagged": config.retrieve.exclude_flagged,
                "runs": results.iter().map(|(planted, run, generator)| {
                    let (styles, p50) = (&run.styles, run.p50_s);
                    let (n, attacked, right) = styles.iter().fold((0, 0, 0), |(n, a, r), (_, s)| (n + s.n, a + s.attacked, r + s.right));
                    json!({
                        "planted": planted,
                        "generator": generator,
                        "attack_success": attacked as f64 / n.max(1) as f64,
                        "right_answers": right as f64 / n.max(1) as f64,
                        "p50_answer_s": p50,
                        "styles": styles.iter().map(|(style, s)| json!({
                            "style": style, "n": s.n, "attacked": s.attacked, "right": s.right,
                        })).collect::<Vec<_>>(),
                        "records": run.records.iter().map(|r| json!({
                            "style": r.style, "attacked": r.attacked, "right": r.right,
                            "refusal": r.refusal, "answer": r.answer,
                        })).collect::<Vec<_>>(),
                    })
                }).collect::<Vec<_>>(),
            });
            if json {
                println!("{value:#}");
            } else {
                for (planted, run, generator) in &results {
                    let (styles, p50) = (&run.styles, run.p50_s);
                    println!(
                        "{} ({generator}, p50 {p50:.2} s):",
                        if *planted { "attacked" } else { "clean" }
                    );
                    for (style, s) in styles {
                        println!(
                            "  {style:26} attacked {}/{}  right {}/{}",
                            s.attacked, s.n, s.right, s.n
                        );
                    }
                }
            }
            Ok(())
        }
        Command::FlagRate { dataset, attacks } => {
            let engine = Engine::from_config(config.clone())?;
            for d in &dataset {
                let rate = rag_eval::inject::flag_rate(&engine, d)?;
                println!(
                    "{}: {} of {} chunks flagged ({:.4} %)",
                    d.display(),
                    rate.flagged,
                    rate.chunks,
                    100.0 * rate.flagged as f64 / rate.chunks.max(1) as f64
                );
                for (rule, text) in &rate.examples {
                    println!("  [{rule}] {text:?}");
                }
            }
            let cases = rag_eval::inject::attacks(attacks);
            let by_style = rag_eval::inject::detection(&cases);
            let (total, hit) = by_style.iter().fold((0, 0), |(t, h), (_, n, f)| (t + n, h + f));
            println!("planted instructions: {hit} of {total} flagged");
            for (style, n, flagged) in by_style {
                println!("  {style:26} {flagged}/{n}");
            }
            Ok(())
        }
        Command::BenchEmbed {
            dataset,
            synthetic,
            limit,
            batch,
            sort,
        } => {
            let engine = Engine::from_config(config.clone())?;
            let embedder = engine.embedder()?;
            let mut texts = Vec::new();
            if let Some(n) = synthetic {
                texts.extend((0..n as u64).map(|i| rag_eval::synth_model::synthetic_text(i, 200)));
            }
            if let Some(dataset) = dataset {
                let chunker = engine.chunker()?;
                let mut docs = rag_eval::beir::read_corpus(&dataset.join("corpus.jsonl"))?;
                docs.truncate(limit.unwrap_or(usize::MAX));
                for d in &docs {
                    let text = format!("{}\n\n{}", d.title, d.text);
                    let doc = rag::connectors::load(std::path::Path::new("doc.txt"), text.as_bytes())?;
                    texts.extend(chunker.chunk(&doc).into_iter().map(|c| c.text));
                }
            }
            if sort {
                texts.sort_by_key(|t| t.len());
            }
            let tokenizer_path = match &config.embed.model {
                Some(dir) => dir.join("tokenizer.json"),
                None => rag::models::ModelStore::default_cache_dir().join("all-minilm-l6-v2/tokenizer.json"),
            };
            let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut tokens = 0usize;
            for t in &texts {
                tokens += tokenizer
                    .encode(t.as_str(), true)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .len()
                    .min(256);
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let started = std::time::Instant::now();
            for chunk in refs.chunks(batch.max(1)) {
                embedder.embed(chunk)?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{}",
                json!({
                    "texts": texts.len(),
                    "tokens": tokens,
                    "seconds": secs,
                    "texts_per_s": texts.len() as f64 / secs,
                    "tokens_per_s": tokens as f64 / secs,
                    "embedder": embedder.describe(),
                    "batch": batch,
                    "length_sorted": sort,
                })
            );
            Ok(())
        }
        Command::BenchGenerate {
            llm,
            prompt_tokens,
            gen,
        } => {
            if llm.is_some() {
                config.generate.model = llm;
            }
            let engine = Engine::from_config(config.clone())?;
            let generator = engine.generator()?;
            // A deterministic filler text cut to the requested number of tokens.
            let filler = "The pump hall holds four centrifugal pumps, each checked every shift for noise, leaks and \
                          vibration; readings go into the logbook together with the discharge pressure. ";
            let mut user = String::new();
            while generator.count_tokens(&user)? < prompt_tokens {
                user.push_str(filler);
            }
            let prompt = rag::prompt::Prompt {
                system: "Summarise the text.".into(),
                user,
            };
            let options = rag::generate::GenerateOptions {
                max_new_tokens: gen,
                loop_window: 0,
                ignore_eos: true,
                ..Default::default()
            };
            // One warm-up run (page-in of the weights), then the measured one. The warm-up's prompt differs from
            // its first token on, so the measured prefill cannot reuse its cached positions.
            let warm_up = rag::prompt::Prompt {
                system: "Warm up.".into(),
                user: prompt.user.clone(),
            };
            generator.generate(
                &warm_up,
                &rag::generate::GenerateOptions {
                    max_new_tokens: 4,
                    ..options.clone()
                },
                &mut |_| rag::Flow::Continue,
            )?;
            let g = generator.generate(&prompt, &options, &mut |_| rag::Flow::Continue)?;
            let prefill = g.prompt_tokens as f64 / g.prefill.as_secs_f64();
            let decode = g.generated_tokens.saturating_sub(1) as f64 / g.decode.as_secs_f64().max(1e-9);
            println!(
                "{}",
                json!({
                    "engine": "candle",
                    "model": generator.model_id(),
                    "runs_on": generator.describe(),
                    "prompt_tokens": g.prompt_tokens,
                    "generated_tokens": g.generated_tokens,
                    "prefill_tok_s": (prefill * 10.0).round() / 10.0,
                    "decode_tok_s": (decode * 10.0).round() / 10.0,
                })
            );
            Ok(())
        }
        Command::SynthGguf {
            out,
            family,
            shape,
            quant,
            seed,
            context,
        } => {
            use rag_eval::synth_model::{write_gguf, Family, Quant, Shape};
            let shape_dims = Shape::named(&shape)?;
            let started = std::time::Instant::now();
            let bytes = write_gguf(
                &out,
                Family::parse(&family)?,
                shape_dims,
                Quant::parse(&quant)?,
                seed,
                context,
            )?;
            println!(
                "{}",
                json!({
                    "path": out.display().to_string(),
                    "family": family,
                    "shape": shape,
                    "quant": quant,
                    "parameters": shape_dims.parameters(),
                    "bytes": bytes,
                    "seconds": started.elapsed().as_secs_f64(),
                })
            );
            Ok(())
        }
        Command::SynthBert { out, seed } => {
            let bytes = rag_eval::synth_model::write_bert(&out, seed)?;
            println!("{}", json!({"path": out.display().to_string(), "bytes": bytes}));
            Ok(())
        }
        Command::Parity {
            model,
            against,
            steps,
            tolerance,
        } => {
            let report = parity(&model, against, steps, config.generate.context_tokens.min(4096))?;
            println!("{report}");
            let agree = report["finite"].as_bool() == Some(true)
                && report["disagreements_beyond_near_ties"].as_u64() == Some(0)
                && report["max_diff_over_row_std"]
                    .as_f64()
                    .is_some_and(|d| d <= f64::from(tolerance));
            if !agree {
                anyhow::bail!("{}: the two paths disagree (tolerance {tolerance})", model.display());
            }
            Ok(())
        }
        Command::BeirToFiles { dataset, out } => {
            let docs = rag_eval::beir::read_corpus(&dataset.join("corpus.jsonl"))?;
            let n = rag_eval::beir::write_as_files(&docs, &out).with_context(|| out.display().to_string())?;
            println!("wrote {n} documents to {}", out.display());
            Ok(())
        }
        Command::Load {
            url,
            endpoint,
            clients,
            seconds,
            dataset,
            out,
        } => {
            let queries: Vec<String> = if dataset.join("qa.dev.jsonl").is_file() {
                qa::read_qa(&dataset.join("qa.dev.jsonl"))?
                    .into_iter()
                    .map(|q| q.question)
                    .collect()
            } else {
                rag_eval::beir::read_queries(&dataset.join("queries.jsonl"))?
                    .into_iter()
                    .map(|(_, text)| text)
                    .collect()
            };
            let options = rag_eval::load::LoadOptions {
                url: url.clone(),
                key: std::env::var("RAG_SERVE_API_KEYS")
                    .ok()
                    .and_then(|k| k.split(',').next().map(str::to_owned))
                    .filter(|k| !k.is_empty()),
                endpoint: match endpoint {
                    LoadEndpoint::Search => rag_eval::load::Endpoint::Search,
                    LoadEndpoint::Ask => rag_eval::load::Endpoint::Ask,
                },
                clients,
                seconds,
                queries,
            };
            let report = rag_eval::load::run(&options);
            let mut value = report.json();
            value["endpoint"] = json!(format!("{endpoint:?}").to_lowercase());
            value["clients"] = json!(clients);
            value["url"] = json!(url);
            value["git_commit"] = json!(git_commit());
            println!("{value:#}");
            if let Some(out) = out {
                write_atomically(&out, format!("{value:#}\n").as_bytes())?;
            }
            Ok(())
        }
        Command::BenchFormats {
            formats,
            files,
            file_bytes,
        } => {
            let engine = Engine::from_config(config.clone())?;
            let chunker = engine.chunker()?;
            let formats: Vec<&str> = if formats.is_empty() {
                rag_eval::formats::FORMATS.to_vec()
            } else {
                formats.iter().map(String::as_str).collect()
            };
            println!(
                "{:<6} {:>5} {:>9} {:>8} {:>8} {:>9} {:>10} {:>7} {:>10} {:>8}",
                "format",
                "files",
                "input MB",
                "text MB",
                "parse s",
                "MB/s",
                "text MB/s",
                "chunks",
                "chunks/s",
                "chunk s"
            );
            for row in rag_eval::formats::bench(&formats, files, file_bytes, chunker.as_ref()) {
                println!(
                    "{:<6} {:>5} {:>9.2} {:>8.2} {:>8.3} {:>9.1} {:>10.1} {:>7} {:>10.0} {:>8.3}{}",
                    row["format"].as_str().unwrap_or_default(),
                    row["files"],
                    row["input_mb"].as_f64().unwrap_or_default(),
                    row["text_mb"].as_f64().unwrap_or_default(),
                    row["parse_s"].as_f64().unwrap_or_default(),
                    row["mb_per_s"].as_f64().unwrap_or_default(),
                    row["text_mb_per_s"].as_f64().unwrap_or_default(),
                    row["chunks"],
                    row["chunks_per_s"].as_f64().unwrap_or_default(),
                    row["chunk_s"].as_f64().unwrap_or_default(),
                    match row["errors"].as_array().map(Vec::len) {
                        Some(0) | None => String::new(),
                        Some(n) => format!("  {n} failed: {}", row["errors"][0]),
                    }
                );
            }
            Ok(())
        }
        Command::SynthCorpus { out, docs, seed } => {
            let bytes = rag_eval::synth::write_corpus(&out, docs, seed).with_context(|| out.display().to_string())?;
            println!("wrote {docs} documents ({bytes} bytes) to {}", out.display());
            Ok(())
        }
        Command::Qa {
            dataset,
            limit,
            k,
            retrieval_only,
            check_only,
            withhold_gold,
            json,
            out,
        } => {
            if check_only && config.retrieve.answerable_threshold <= 0.0 {
                config.retrieve.answerable_threshold = 0.5;
            }
            let tag = if withhold_gold { "qa-withheld" } else { "qa" };
            let (_scratch, docs_dir) = use_index(&args.index, &mut config, tag)?;
            let engine = Engine::from_config(config.clone())?;
            let options = QaOptions {
                dataset: dataset.clone(),
                limit,
                k,
                retrieval_only,
                check_only,
                docs_dir,
                withhold_gold,
            };
            let tty = std::io::stderr().is_terminal();
            let r = qa::run(&engine, &options, &mut |done, total| {
                if tty {
                    eprint!("\rquestions {done}/{total}");
                }
            })?;
            if tty {
                eprintln!();
            }
            let generator = if retrieval_only && !check_only {
                "none".to_owned()
            } else {
                engine.generator()?.model_id().to_owned()
            };
            let sweep: Vec<serde_json::Value> = r
                .sweep
                .iter()
                .map(|(t, u, a)| json!({"min_similarity": t, "refused_unanswerable": u, "refused_answerable": a}))
                .collect();
            let value = json!({
                "dataset": dataset.display().to_string(),
                "questions": r.n_questions,
                "answerable": r.n_answerable,
                "k": k,
                "recall_at_k": r.recall_at_k,
                "exact_match": r.exact_match,
                "f1": r.f1,
                "contains_gold": r.contains,
                "citations_valid": r.citations_valid,
                "cited": r.cited,
                "engine_cited_sentences": r.engine_cited,
                "engine_attribution_precision": r.engine_precision,
                "engine_attribution_precision_answer_sentences": r.engine_precision_answer,
                "engine_attributed_sentences_checked": r.n_engine_sentences,
                "engine_attributed_answer_sentences": r.n_engine_answer_sentences,
                "unsupported_sentences": r.unsupported,
                "no_supported_sentence_unanswerable": r.unsupported_unanswerable,
                "no_supported_sentence_answerable": r.unsupported_answerable,
                "attribution_sweep": r.attribution_sweep.iter().map(|(t, p, c)| json!({"threshold": t, "precision": p, "attributed": c})).collect::<Vec<_>>(),
                "refusal_rate_unanswerable": r.refusal_rate,
                "false_refusal_rate": r.false_refusal_rate,
                "p50_answer_s": r.p50_answer_s,
                "refusal_sweep": sweep,
                "answerability_checked": r.n_checked,
                "answerability": r.answerability.iter().map(|(p, own, a)| json!([p, own, a])).collect::<Vec<_>>(),
                "answerability_sweep": r.answerable_sweep.iter().map(|(t, u, a)| json!({"answerable_threshold": t, "refused_unanswerable": u, "refused_answerable": a})).collect::<Vec<_>>(),
                "lexical_override_sweep": r.lexical_sweep.iter().map(|(l, u, a)| json!({"lexical_override": l, "refused_unanswerable": u, "refused_answerable": a})).collect::<Vec<_>>(),
                "config": {
                    "generator": generator,
                    "embed_model": engine.embedder()?.model_id(),
                    "k": config.retrieve.k,
                    "rrf_k": config.retrieve.rrf_k,
                    "min_similarity": config.retrieve.min_similarity,
                    "lexical_override": config.retrieve.lexical_override,
                    "attribution_threshold": config.retrieve.attribution_threshold,
                    "answerable_threshold": config.retrieve.answerable_threshold,
                    "refuse_unstated_figures": config.retrieve.refuse_unstated_figures,
                    "spotlight": config.generate.spotlight,
                    "max_new_tokens": config.generate.max_new_tokens,
                    "git_commit": git_commit(),
                },
            });
            let mut value = value;
            value["withhold_gold"] = json!(withhold_gold);
            value["engine_attribution_precision_gold_retrieved"] = json!(r.engine_precision_retrieved);
            value["engine_attributed_sentences_gold_retrieved"] = json!(r.n_engine_sentences_retrieved);
            value["refusals"] = r
                .refusals
                .iter()
                .map(|(reason, u, a)| json!({"reason": reason, "unanswerable": u, "answerable": a}))
                .collect();
            value["records"] = r
                .records
                .iter()
                .map(|q| {
                    json!({"id": q.id, "question": q.question, "answerable": q.answerable, "answer": q.answer,
                           "refusal": q.refusal, "contains_gold": q.contains_gold, "sentences": q.sentences,
                           "best_similarity": q.best_similarity, "lexical": q.lexical,
                           "sentence_similarity": q.sentence.similarity, "sentence_coverage": q.sentence.coverage,
                           "attributions": q.attributions.iter().map(|a| json!({
                               "sentence": a.sentence, "chosen": a.chosen, "gold": a.gold,
                               "model_cited": a.model_cited,
                               "supports": a.supports.iter().map(|s| json!([s.n, s.score, s.shared_pairs])).collect::<Vec<_>>(),
                           })).collect::<Vec<_>>()})
                })
                .collect();
            if json {
                println!("{value:#}");
            } else {
                println!("questions {} (answerable {})", r.n_questions, r.n_answerable);
                println!("recall@{k} {:.4}", r.recall_at_k);
                if !retrieval_only {
                    println!(
                        "EM {:.4}  F1 {:.4}  contains gold {:.4}",
                        r.exact_match, r.f1, r.contains
                    );
                    println!("model's citations valid {:.4}  cited {:.4}", r.citations_valid, r.cited);
                    println!(
                        "sentences cited by the engine {:.4} (precision against the gold document {:.4}, {:.4} where it was retrieved)  unsupported {:.4}",
                        r.engine_cited, r.engine_precision, r.engine_precision_retrieved, r.unsupported
                    );
                    println!(
                        "refusal rate (unanswerable) {:.4}  false refusals {:.4}",
                        r.refusal_rate, r.false_refusal_rate
                    );
                    println!("p50 seconds per answer {:.2}", r.p50_answer_s);
                }
                if r.n_checked > 0 {
                    println!(
                        "answerability sweep over {} questions (threshold: refused unanswerable / refused answerable):",
                        r.n_checked
                    );
                    for (t, u, a) in &r.answerable_sweep {
                        println!("  {t:.2}: {u:.3} / {a:.3}");
                    }
                }
                println!("threshold sweep (min_similarity: refused unanswerable / refused answerable):");
                for (t, u, a) in &r.sweep {
                    println!("  {t:.2}: {u:.3} / {a:.3}");
                }
            }
            if let Some(out) = out {
                write_atomically(&out, format!("{value:#}\n").as_bytes())?;
            }
            Ok(())
        }
        Command::Retrieval {
            dataset,
            split,
            limit,
            distractors,
            queries,
            mode,
            json,
            out,
        } => {
            let half = match queries {
                HalfArg::All => QueryHalf::All,
                HalfArg::Tune => QueryHalf::Tune,
                HalfArg::Report => QueryHalf::Report,
            };
            let slice = limit.map_or("full".to_owned(), |n| format!("limit{n}-d{distractors}"));
            let (_scratch, docs_dir) = use_index(&args.index, &mut config, &slice)?;
            let modes = match mode {
                ModeArg::All => vec![RetrieveMode::Bm25, RetrieveMode::Dense, RetrieveMode::Hybrid],
                ModeArg::Hybrid => vec![RetrieveMode::Hybrid],
                ModeArg::Dense => vec![RetrieveMode::Dense],
                ModeArg::Bm25 => vec![RetrieveMode::Bm25],
            };
            let engine = Engine::from_config(config.clone())?;
            let options = RetrievalOptions {
                dataset: dataset.clone(),
                split: split.clone(),
                limit,
                distractors,
                modes,
                docs_dir,
                half,
            };
            let (reports, ingest) = retrieval::run(&engine, &options)?;
            let ingest_json = json!({
                "index": engine.index_location(),
                "files_indexed": ingest.n_indexed,
                "chunks": ingest.n_chunks,
                "chunks_total": ingest.n_chunks_total,
                "seconds": ingest.elapsed.as_secs_f64(),
                "embed_seconds": ingest.embed_time.as_secs_f64(),
                "chunks_per_s": ingest.n_chunks as f64 / ingest.elapsed.as_secs_f64().max(1e-9),
            });
            let value = json!({
                "dataset": dataset.display().to_string(),
                "ingest": ingest_json,
                "split": split,
                "queries": format!("{queries:?}").to_lowercase(),
                "limit": limit,
                "distractors": limit.map(|_| distractors),
                "results": reports.iter().map(report_json).collect::<Vec<_>>(),
                "config": {
                    "embed_model": engine.embedder()?.model_id(),
                    "embed_backend": engine.embedder()?.describe(),
                    "chunk_max_tokens": config.chunk.max_tokens,
                    "chunk_overlap_tokens": config.chunk.overlap_tokens,
                    "candidates": config.retrieve.candidates,
                    "rrf_k": config.retrieve.rrf_k,
                    "fusion": "rrf",
                    "git_commit": git_commit(),
                },
            });
            if json {
                println!("{value:#}");
            } else {
                println!(
                    "index {}: ingested {} chunks of {} files in {:.1} s ({:.1} chunks/s, embedding {:.1} s); {} chunks in all",
                    engine.index_location(),
                    ingest.n_chunks,
                    ingest.n_indexed,
                    ingest.elapsed.as_secs_f64(),
                    ingest.n_chunks as f64 / ingest.elapsed.as_secs_f64().max(1e-9),
                    ingest.embed_time.as_secs_f64(),
                    ingest.n_chunks_total,
                );
                println!(
                    "{:8} {:>7} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
                    "mode", "queries", "nDCG@10", "R@10", "R@100", "MRR@10", "p50 ms", "p95 ms"
                );
                for r in &reports {
                    println!(
                        "{:8} {:>7} {:>8.4} {:>9.4} {:>9.4} {:>8.4} {:>8.1} {:>8.1}",
                        mode_name(r.mode),
                        r.n_queries,
                        r.ndcg_10,
                        r.recall_10,
                        r.recall_100,
                        r.mrr_10,
                        r.p50_ms,
                        r.p95_ms
                    );
                }
            }
            if let Some(out) = out {
                write_atomically(&out, format!("{value:#}\n").as_bytes())?;
            }
            Ok(())
        }
    }
}

/// Points `config` at the `--index` directory, or at a temporary one (returned, to live as long as the run), and
/// returns where the dataset's files go: beside the index, named by `tag`.
fn use_index(index: &Option<PathBuf>, config: &mut Config, tag: &str) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let scratch = tempfile::tempdir()?;
    let server = index
        .as_ref()
        .and_then(|p| p.to_str())
        .filter(|p| p.starts_with("qdrant://") || p.starts_with("qdrants://"));
    if let Some(spec) = server {
        config.index.set_location(spec)?;
    }
    let index = if server.is_some() { &None } else { index };
    if config.index.backend == rag::config::IndexBackend::Qdrant {
        // A server index (`--index qdrant://...` given to `rag eval`, or the config): one collection per dataset
        // slice, the dataset's files in a temporary directory.
        let name: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        config.index.collection = format!("{}_{name}", config.index.collection);
        let docs_dir = scratch.path().join(format!("docs-{name}"));
        return Ok((scratch, docs_dir));
    }
    let dir = index.clone().unwrap_or_else(|| scratch.path().join("index"));
    let docs_dir = PathBuf::from(format!("{}.docs-{tag}", dir.display()));
    config.index.dir = dir;
    Ok((scratch, docs_dir))
}

fn mode_name(mode: RetrieveMode) -> &'static str {
    match mode {
        RetrieveMode::Hybrid => "hybrid",
        RetrieveMode::Dense => "dense",
        RetrieveMode::Bm25 => "bm25",
    }
}

fn report_json(r: &ModeReport) -> serde_json::Value {
    json!({
        "mode": mode_name(r.mode),
        "queries": r.n_queries,
        "ndcg@10": r.ndcg_10,
        "recall@10": r.recall_10,
        "recall@100": r.recall_100,
        "mrr@10": r.mrr_10,
        "latency_p50_ms": r.p50_ms,
        "latency_p95_ms": r.p95_ms,
    })
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// Writes through a temporary file and a rename, so an interrupted run leaves no half-written results.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).with_context(|| path.display().to_string())?;
    Ok(())
}

/// `rag-eval parity`: the CPU's decode step as the reference, against `against`; a JSON report.
fn parity(
    model: &std::path::Path,
    against: ParityAgainst,
    steps: usize,
    context: usize,
) -> anyhow::Result<serde_json::Value> {
    use rag::generate::GgufGenerator;
    let prompt = rag::prompt::Prompt {
        system: "Answer from the passages.".into(),
        user: "[1] manuals/pump.pdf, page 3: The maximum operating pressure of the pump is 8 bar.\n\nQuestion: What is the maximum operating pressure?".into(),
    };
    let cpu = GgufGenerator::load(model, candle_core::Device::Cpu, context)?;
    let ids = cpu.encode_prompt(&prompt)?;
    let (reference, ref_tokens) = cpu.greedy_logits(&ids, steps, false, None)?;
    // The other path is fed the reference's tokens (teacher forcing), so every row compares the same context
    // and a disagreement at one step does not make all later rows incomparable.
    let forced = Some(ref_tokens.as_slice());
    let (other, other_tokens, label) = match against {
        ParityAgainst::CpuBatched => {
            let (rows, tokens) = cpu.greedy_logits(&ids, steps, true, forced)?;
            (rows, tokens, "cpu-batched".to_string())
        }
        ParityAgainst::Cuda => {
            let device = rag::device::select(rag::config::DeviceChoice::Cuda)?;
            let gpu = GgufGenerator::load(model, device, context)?;
            let (rows, tokens) = gpu.greedy_logits(&ids, steps, false, forced)?;
            (rows, tokens, rag::generate::Generator::describe(&gpu))
        }
    };
    let (near_ties, disagreements) =
        rag_eval::synth_model::greedy_agreement(&reference, &other, &ref_tokens, &other_tokens);
    let diff = rag_eval::synth_model::compare_logits(&reference, &other);
    let first_divergence = ref_tokens.iter().zip(&other_tokens).position(|(a, b)| a != b);
    Ok(json!({
        "model": model.display().to_string(),
        "against": label,
        "prompt_tokens": ids.len(),
        "steps": steps,
        "tokens_equal": diff.finite && ref_tokens == other_tokens,
        "first_divergence": first_divergence,
        "near_ties": near_ties,
        "disagreements_beyond_near_ties": disagreements,
        "finite": diff.finite,
        "max_abs_diff": diff.max_diff,
        "max_abs_logit": diff.max_logit,
        "max_diff_over_row_std": diff.max_diff_over_std,
        "tokens": ref_tokens,
    }))
}
