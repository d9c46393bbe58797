//! `rag chat`: a conversation on the terminal (line editing and history through rustyline), or one question
//! per line of standard input for scripts.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use rag::{Conversation, Engine, SearchOptions};

use crate::render;

/// Runs the conversation until end of input; `--json` prints one object per turn.
pub(crate) fn run(
    engine: &Engine,
    options: &SearchOptions,
    json: bool,
    interrupted: &AtomicBool,
) -> anyhow::Result<ExitCode> {
    let mut conversation = Conversation::new(engine);
    if std::io::stdin().is_terminal() && !json {
        interactive(engine, &mut conversation, options, interrupted)
    } else {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading standard input")?;
            let question = line.trim();
            if question.is_empty() {
                continue;
            }
            turn(engine, &mut conversation, question, options, json, interrupted)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn interactive(
    engine: &Engine,
    conversation: &mut Conversation<'_>,
    options: &SearchOptions,
    interrupted: &AtomicBool,
) -> anyhow::Result<ExitCode> {
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    let history = rag::models::ModelStore::default_cache_dir()
        .parent()
        .map(|dir| dir.join("chat_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!("rag chat: ask about the indexed documents; /clear forgets the conversation, /quit or Ctrl-D ends");
    loop {
        match editor.readline("? ") {
            Ok(line) => {
                let question = line.trim();
                if question.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(question);
                match question {
                    "/quit" | "/exit" => break,
                    "/clear" => {
                        conversation.clear();
                        eprintln!("(conversation cleared)");
                        continue;
                    }
                    _ => {}
                }
                interrupted.store(false, Ordering::SeqCst);
                // A failed turn is reported and the conversation goes on.
                if let Err(err) = turn(engine, conversation, question, options, false, interrupted) {
                    eprintln!("rag: {err:#}");
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(err) => return Err(err).context("reading the question"),
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
    Ok(ExitCode::SUCCESS)
}

fn turn(
    engine: &Engine,
    conversation: &mut Conversation<'_>,
    question: &str,
    options: &SearchOptions,
    json: bool,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let turn = conversation.ask(question, options, &mut render::stream_to_stdout(json, interrupted))?;
    if json {
        let mut value = rag::json::answer(&turn.answer, rag::json::models(engine, &turn.answer)?);
        value["question"] = serde_json::json!(turn.question);
        value["standalone_question"] = serde_json::json!(turn.standalone);
        println!("{value}");
    } else {
        render::answer_sources(&turn.answer);
        println!();
    }
    Ok(())
}
