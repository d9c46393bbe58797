//! The `rag` command: a thin layer over the `rag` library. Parses arguments, prints, picks exit codes.
//!
//! Exit codes: 0 success; 1 partial (`ingest` indexed the good files but some failed); 2 error;
//! 130 interrupted.

mod args;
mod chat;
mod render;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use rag::{Engine, SearchOptions};

use args::{Args, Command, IndexCommand, ModelsCommand};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// `rag search ... | head` must end quietly when `head` closes the pipe, as Unix tools do. Rust ignores
/// SIGPIPE, which turns every later `println!` into a panic; the default action ends the process instead.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    install_panic_hook();
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let config = match args.load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("rag: {err:#}");
            return ExitCode::from(2);
        }
    };
    set_thread_env(config.threads());
    match run(args, config) {
        Ok(code) => code,
        Err(err) => {
            if INTERRUPTED.load(Ordering::SeqCst) {
                eprintln!("rag: interrupted");
                return ExitCode::from(130);
            }
            eprintln!("rag: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Panics inside a contained third-party parser (PDF, legacy Excel, Outlook) are caught and reported as errors
/// for that file; keep them off the terminal.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !rag::connectors::in_contained_parser() {
            default(info);
        }
    }));
}

/// The retrieval options of `ask` and `chat`.
fn search_options(
    k: Option<usize>,
    mode: Option<args::ModeArg>,
    path: &Option<String>,
    kinds: &[String],
) -> SearchOptions {
    SearchOptions {
        k,
        mode: mode.map(Into::into),
        path_glob: path.clone(),
        kinds: kinds.to_vec(),
    }
}

/// candle sizes its CPU pool from environment variables; they are set here, while this is the only thread, and
/// never by the library (setting the environment races with threads reading it). Exported values win.
fn set_thread_env(threads: usize) {
    for (var, value) in rag::device::thread_env(threads) {
        if std::env::var_os(var).is_none() {
            // Edition 2021: `set_var` is safe to call; it is sound here because no other thread exists yet.
            std::env::set_var(var, value);
        }
    }
}

fn run(args: Args, mut config: rag::Config) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Eval { args: eval_args } => return run_eval(&config, eval_args, args.index.as_deref()),
        Command::Completions { shell } => {
            let mut command = <Args as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "rag", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            let command = <Args as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .context("writing the man page")?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ingest {
            hidden,
            no_ignore,
            globs,
            ..
        } => {
            config.ingest.hidden |= *hidden;
            config.ingest.ignore_files &= !*no_ignore;
            config.ingest.globs.extend(globs.iter().cloned());
        }
        _ => {}
    }
    let mut engine = Engine::from_config(config).context("building the engine")?;
    engine.set_progress(Arc::new(render::TermProgress::new(args.quiet)));
    // The first Ctrl-C stops cleanly (ingest commits what is done, a download is killed, generation stops);
    // a second one ends the process at once.
    let cancel = rag::progress::Cancel::new();
    engine.set_cancel(cancel.clone());
    let engine_cancel = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        cancel.cancel();
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    match &args.command {
        Command::Ingest { paths, json, .. } => {
            let report = engine.ingest(paths)?;
            let code = render::ingest_report(&report, *json);
            if report.interrupted {
                eprintln!("rag: interrupted: the files done so far are committed; run the same ingest again to finish");
                return Ok(ExitCode::from(130));
            }
            Ok(code)
        }
        Command::Search {
            query,
            k,
            mode,
            path,
            kinds,
            json,
        } => {
            let options = SearchOptions {
                k: Some(*k),
                mode: mode.map(Into::into),
                path_glob: path.clone(),
                kinds: kinds.clone(),
            };
            let results = engine.search(query, &options)?;
            render::search_results(&results, *json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask {
            question,
            k,
            mode,
            path,
            kinds,
            json,
            ..
        } => {
            let options = search_options(*k, *mode, path, kinds);
            let answer = engine.ask(question, &options, &mut render::stream_to_stdout(*json, &INTERRUPTED))?;
            if *json {
                render::answer_json(&answer, rag::json::models(&engine, &answer)?);
            } else {
                render::answer_sources(&answer);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat {
            k,
            mode,
            path,
            kinds,
            json,
        } => {
            let options = search_options(*k, *mode, path, kinds);
            chat::run(&engine, &options, *json, &INTERRUPTED)
        }
        Command::Eval { .. } | Command::Completions { .. } | Command::Man => {
            unreachable!("handled before the engine is built")
        }
        Command::Status { json } => {
            let status = engine.status()?;
            render::status(&status, *json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { bind, slots, queue } => {
            let mut config = engine.config().serve.clone();
            if let Some(bind) = bind {
                config.bind = bind.clone();
            }
            if let Some(slots) = slots {
                config.slots = *slots;
            }
            if let Some(queue) = queue {
                config.queue = *queue;
            }
            let keys = std::env::var("RAG_SERVE_API_KEYS").ok();
            let options = rag::serve::ServeOptions::from_config(&config, keys.as_deref())?;
            let location = engine.index_location();
            let cancel = engine_cancel.clone();
            rag::serve::run(engine, options, cancel, |addr| {
                eprintln!("rag: serving {location} on http://{addr}");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mcp => {
            let config = engine.config().serve.clone();
            let options = rag::serve::ServeOptions::from_config(&config, None)?;
            eprintln!("rag: MCP on stdio over {}", engine.index_location());
            rag::serve::run_mcp_stdio(engine, options, engine_cancel.clone())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Index {
            command: IndexCommand::Copy { from, to, json },
        } => {
            let mut source = engine.config().clone();
            if let Some(from) = from {
                args::set_index(&mut source.index, from)?;
            }
            let mut target = engine.config().index.clone();
            args::set_index(&mut target, to)?;
            let source_engine = Engine::from_config(source).context("building the engine")?;
            let started = std::time::Instant::now();
            let report = source_engine.copy_index(&target, &mut |n| {
                if !args.quiet && !*json {
                    eprint!("\rcopied {n} records");
                }
            })?;
            render::copy_report(
                &source_engine.index_location(),
                &target.location(),
                &report,
                started.elapsed(),
                *json,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { command } => match command {
            ModelsCommand::Pull { names } => {
                let pulled = if names.is_empty() {
                    engine.pull_models()?
                } else {
                    engine.pull_named(names)?
                };
                for (name, path) in pulled {
                    println!("{name}: {}", path.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            ModelsCommand::List => {
                for spec in rag::models::KNOWN {
                    let state = match engine.models().cached(spec) {
                        Some(dir) => format!("cached at {}", dir.display()),
                        None => "not cached".to_owned(),
                    };
                    println!("{:28} {}  [{}]", spec.name, spec.description, state);
                }
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

/// `rag eval ARGS`: runs `rag-eval` with the configuration this invocation resolved (config file, `RAG_*`
/// variables and every global flag), written to a temporary TOML file; API keys go through the environment as
/// before, never into the file.
fn run_eval(config: &rag::Config, eval_args: &[String], index: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the rag binary")?;
    let eval = exe.with_file_name(format!("rag-eval{}", std::env::consts::EXE_SUFFIX));
    if !eval.is_file() {
        anyhow::bail!("{} not found: build it with `cargo build -p rag-eval`", eval.display());
    }
    let mut file = tempfile::Builder::new()
        .prefix("rag-eval-config-")
        .suffix(".toml")
        .tempfile()
        .context("writing the configuration for rag-eval")?;
    file.write_all(config.to_toml()?.as_bytes())
        .and_then(|()| file.flush())
        .context("writing the configuration for rag-eval")?;
    let mut command = std::process::Command::new(&eval);
    command.arg("--config").arg(file.path());
    // The index flag keeps its meaning for rag-eval: an explicit index to reuse (else a fresh temporary one).
    if let Some(dir) = index {
        command.arg("--index").arg(dir);
    }
    let status = command
        .args(eval_args)
        .status()
        .with_context(|| format!("running {}", eval.display()))?;
    Ok(ExitCode::from(status.code().map_or(2, |c| c.clamp(0, 255) as u8)))
}
