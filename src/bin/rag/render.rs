//! Everything the CLI prints: progress bars, reports, answers, and their `--json` forms.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use rag::{Answer, IndexStatus, IngestReport, SearchResult};
use serde_json::{json, Value};

/// Exit status of a run where some files failed.
pub(crate) const EXIT_PARTIAL: u8 = 1;

/// Seconds between two plain progress lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// Draws progress as a bar on a terminal, as plain lines (every 10 s, with rate and ETA) otherwise, or not at
/// all with `--quiet`.
pub(crate) struct TermProgress {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
    tty: bool,
    label: Mutex<String>,
    /// Off a terminal: (done, total, started, last line printed).
    plain: Mutex<(u64, u64, Instant, Instant)>,
}

impl TermProgress {
    pub(crate) fn new(quiet: bool) -> TermProgress {
        TermProgress {
            bar: Mutex::new(None),
            quiet,
            tty: std::io::stderr().is_terminal(),
            label: Mutex::new(String::new()),
            plain: Mutex::new((0, 0, Instant::now(), Instant::now())),
        }
    }

    /// One plain line: `rag: chunks 1200/15966 (84.1/s, ETA 2m55s)`.
    fn plain_line(&self, done: u64, total: u64, started: Instant) {
        let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
        let elapsed = started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 };
        let eta = if rate > 0.0 && total > done {
            let s = ((total - done) as f64 / rate) as u64;
            format!(", ETA {}m{:02}s", s / 60, s % 60)
        } else {
            String::new()
        };
        if label.starts_with("unpacking") {
            // Byte counts, as people read them: "87.00 MiB/87.00 MiB (128.00 MiB/s)".
            let (done, total, rate) = (HumanBytes(done), HumanBytes(total), HumanBytes(rate as u64));
            eprintln!("rag: {label} {done}/{total} ({rate}/s{eta})");
        } else {
            eprintln!("rag: {label} {done}/{total} ({rate:.1}/s{eta})");
        }
    }
}

impl rag::Progress for TermProgress {
    fn start(&self, label: &str, total: u64) {
        if self.quiet {
            return;
        }
        if let Ok(mut l) = self.label.lock() {
            *l = label.to_owned();
        }
        if !self.tty {
            eprintln!("rag: {label}...");
            if let Ok(mut plain) = self.plain.lock() {
                *plain = (0, total, Instant::now(), Instant::now());
            }
            return;
        }
        let bar = ProgressBar::new(total);
        let template = if label.starts_with("unpacking") {
            "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})"
        } else {
            "{msg} {bar:30} {pos}/{len} ({per_sec}, ETA {eta})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, n: u64) {
        if !self.tty && !self.quiet {
            if let Ok(mut plain) = self.plain.lock() {
                plain.0 += n;
                if plain.3.elapsed() >= LINE_EVERY {
                    plain.3 = Instant::now();
                    self.plain_line(plain.0, plain.1, plain.2);
                }
            }
            return;
        }
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.inc(n);
            }
        }
    }

    fn set_total(&self, total: u64) {
        if let Ok(mut plain) = self.plain.lock() {
            plain.1 = total;
        }
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.set_length(total);
            }
        }
    }

    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().as_ref().and_then(|slot| slot.as_ref()) {
            Some(bar) => bar.println(format!("rag: {message}")),
            None => eprintln!("rag: {message}"),
        }
    }

    fn finish(&self) {
        if !self.tty && !self.quiet {
            if let Ok(plain) = self.plain.lock() {
                if plain.0 > 0 {
                    self.plain_line(plain.0, plain.1, plain.2);
                }
            }
        }
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// Prints the ingest report and returns the exit code (0, or [`EXIT_PARTIAL`] when some file failed).
pub(crate) fn ingest_report(report: &IngestReport, json: bool) -> ExitCode {
    if json {
        let value = rag::json::ingest_report(report);
        println!("{value}");
    } else {
        if report.n_repaired > 0 {
            eprintln!(
                "rag: repaired the index: {} records or files left by an unfinished ingest no longer disagree with the manifest",
                report.n_repaired
            );
        }
        for failure in &report.failures {
            eprintln!("rag: failed: {}", failure.reason);
        }
        for (path, reason) in &report.warnings {
            eprintln!("rag: warning: {}: {reason}", path.display());
        }
        for (path, reason) in &report.flagged {
            eprintln!("rag: flagged: {}: {reason}", path.display());
        }
        for (path, reason) in &report.skipped {
            eprintln!("rag: skipped: {}: {reason}", path.display());
        }
        println!(
            "{} files: {} indexed, {} unchanged, {} renamed, {} removed, {} skipped, {} failed; {} chunks written ({} embedded, {} in index) in {:.1}s ({:.1} chunks/s)",
            report.n_files,
            report.n_indexed,
            report.n_unchanged,
            report.n_renamed,
            report.n_removed,
            report.skipped.len(),
            report.failures.len(),
            report.n_chunks,
            report.n_embedded,
            report.n_chunks_total,
            report.elapsed.as_secs_f64(),
            rate(report.n_chunks, report.elapsed),
        );
        if !report.skipped_by.is_empty() {
            let by: Vec<String> = report
                .skipped_by
                .iter()
                .map(|(rule, n)| format!("{n} {rule}"))
                .collect();
            println!("skipped: {}", by.join(", "));
        }
        if let Some(rss) = report.peak_rss_bytes {
            println!("peak memory (RSS): {:.0} MB", rss as f64 / 1e6);
        }
    }
    if report.is_partial() {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// Prints what follows a streamed answer: the sources, and any removed citations.
pub(crate) fn answer_sources(answer: &Answer) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    if !answer.invalid_citations.is_empty() {
        let list: Vec<String> = answer.invalid_citations.iter().map(|n| format!("[{n}]")).collect();
        eprintln!(
            "rag: removed citations to passages that do not exist: {}",
            list.join(" ")
        );
    }
    match answer.refusal {
        Some(rag::Refusal::Unsupported) => {
            let _ = writeln!(
                out,
                "\nrag: no sentence of this answer is supported by the passages: the documents may not answer \
                 this question."
            );
        }
        Some(rag::Refusal::UnstatedFigures) => {
            let figures: Vec<&str> = answer
                .sentences
                .iter()
                .flat_map(|s| s.unstated.iter().map(String::as_str))
                .collect();
            let _ = writeln!(
                out,
                "\nrag: this answer states figures no passage states ({}): the documents do not give this answer.",
                figures.join(", ")
            );
        }
        Some(_) => return,
        None => {}
    }
    let _ = writeln!(
        out,
        "\nSources{}:",
        if answer.cited {
            ""
        } else {
            " (passages given; none cited)"
        }
    );
    for p in &answer.sources {
        let flag = p
            .flagged
            .as_deref()
            .map(|rule| format!("  (flagged: reads like instructions to a model, rule {rule})"))
            .unwrap_or_default();
        let _ = writeln!(out, "[{}] {}{flag}", p.n, p.describe());
    }
    // Sentences the model left uncited: the passage the engine attributes each to, or "unsupported".
    let uncited: Vec<_> = answer
        .sentences
        .iter()
        .filter(|s| s.cited_by != rag::attribute::CitedBy::Model)
        .collect();
    if !uncited.is_empty() {
        let _ = writeln!(out, "\nUncited sentences:");
        for s in uncited {
            let mut marker = match s.citations.first() {
                Some(n) => format!("[{n}] (engine, support {:.2})", s.score),
                None => "unsupported by the passages".to_owned(),
            };
            if !s.unstated.is_empty() {
                marker.push_str(&format!(" (no passage states {})", s.unstated.join(", ")));
            }
            if !s.rejected.is_empty() {
                let cited: Vec<String> = s.rejected.iter().map(|n| format!("[{n}]")).collect();
                marker.push_str(&format!(
                    " (the model cited {}, which does not state its figures)",
                    cited.join(" ")
                ));
            }
            let _ = writeln!(out, "{marker}: {}", s.text);
        }
    }
}

/// Prints an answer as one JSON object.
pub(crate) fn answer_json(answer: &Answer, models: Value) {
    println!("{}", rag::json::answer(answer, models));
}

/// Prints search results.
pub(crate) fn search_results(results: &[SearchResult], json: bool) {
    if json {
        let value: Vec<Value> = results.iter().map(|r| rag::json::passage(&r.passage)).collect();
        println!("{}", Value::Array(value));
        return;
    }
    for r in results {
        let p = &r.passage;
        let snippet: String = p.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(160).collect();
        let flag = p
            .flagged
            .as_deref()
            .map(|rule| format!(" (flagged: {rule})"))
            .unwrap_or_default();
        println!(
            "{}. [{:.4} sim {:.3}] {}{flag}\n   {snippet}",
            p.n,
            p.score,
            p.similarity,
            p.describe()
        );
    }
}

/// Prints the index status.
pub(crate) fn status(status: &IndexStatus, json: bool) {
    let m = &status.manifest;
    if json {
        let files: Vec<Value> = m
            .files
            .iter()
            .map(|(k, f)| json!({"path": rag::retrieve::display_path(k), "key": k, "chunks": f.n_chunks, "kind": f.kind, "sha256": f.hash, "ingested_at": f.ingested_at}))
            .collect();
        let value = json!({
            "index": status.dir.display().to_string(),
            "model": status.model_id,
            "dim": status.dim,
            "chunks": status.n_chunks,
            "files": files,
            "last_ingest": m.last_ingest(),
            "size_bytes": status.size_bytes,
        });
        println!("{value}");
        return;
    }
    println!("index: {}", status.dir.display());
    println!("model: {} ({} dims)", status.model_id, status.dim);
    println!(
        "files: {}, chunks: {}, size: {:.1} MB",
        m.files.len(),
        status.n_chunks,
        status.size_bytes as f64 / 1e6
    );
    if let Some(t) = m.last_ingest() {
        println!("last ingest: {t} (unix time)");
    }
    for (key, f) in &m.files {
        println!(
            "  {}  [{}] {} chunks",
            rag::retrieve::display_path(key),
            f.kind,
            f.n_chunks
        );
    }
}

/// The streaming callback of `ask` and `chat`: prints each piece (unless `json`) and stops once `interrupted`
/// (Ctrl-C in the prompt pass too: the engine polls with empty pieces).
pub(crate) fn stream_to_stdout<'a>(
    json: bool,
    interrupted: &'a std::sync::atomic::AtomicBool,
) -> impl FnMut(&str) -> rag::Flow + 'a {
    let mut stdout = std::io::stdout();
    move |piece| {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return rag::Flow::Stop;
        }
        if !json && !piece.is_empty() {
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        }
        rag::Flow::Continue
    }
}

/// What `rag index copy` did.
pub(crate) fn copy_report(
    from: &str,
    to: &str,
    report: &rag::indexes::CopyReport,
    elapsed: std::time::Duration,
    json: bool,
) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "from": from,
                "to": to,
                "records": report.records,
                "states": report.states,
                "seconds": elapsed.as_secs_f64(),
            })
        );
    } else {
        eprintln!();
        println!(
            "copied {} records and the manifest from {from} to {to} in {:.1} s",
            report.records,
            elapsed.as_secs_f64()
        );
    }
}
