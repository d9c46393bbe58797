//! `rag-eval load`: a closed-loop load generator for `rag serve` (issue 11's figures).
//!
//! `clients` threads each send one request at a time for `seconds`, cycling through the given queries, over
//! keep-alive connections; every response is counted by status and timed. Requests that get 429 (the bounded
//! queue) are counted apart from errors: they are the server saying no at once, as it should under overload; the
//! client then waits the `Retry-After` it was given before its next request, as a well-behaved client does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::metrics::percentile;

/// Which endpoint to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/search`.
    Search,
    /// `POST /v1/ask`, streamed: the time to the first text is measured as the client sees it.
    Ask,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server, `http://127.0.0.1:8088`.
    pub url: String,
    /// A bearer key, if the server wants one.
    pub key: Option<String>,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// Concurrent clients.
    pub clients: usize,
    /// How long.
    pub seconds: f64,
    /// Queries or questions, cycled.
    pub queries: Vec<String>,
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Requests answered 200.
    pub ok: usize,
    /// Requests answered 429.
    pub busy: usize,
    /// Anything else (other statuses, transport errors).
    pub errors: usize,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Wall seconds of the run.
    pub seconds: f64,
    /// 200s per second.
    pub ok_per_s: f64,
    /// Latency of the 200s, milliseconds: p50, p95, p99, max.
    pub latency_ms: [f64; 4],
    /// Latency of the 429s, milliseconds: p50, max (how fast "no" comes).
    pub busy_latency_ms: [f64; 2],
    /// Streamed answers: milliseconds from sending to the first text delta, p50 and p99 (queue wait included).
    pub first_text_ms: [f64; 2],
}

impl LoadReport {
    /// The JSON form.
    pub fn json(&self) -> Value {
        json!({
            "ok": self.ok,
            "busy_429": self.busy,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "seconds": self.seconds,
            "ok_per_s": self.ok_per_s,
            "latency_ms": {"p50": self.latency_ms[0], "p95": self.latency_ms[1], "p99": self.latency_ms[2], "max": self.latency_ms[3]},
            "busy_latency_ms": {"p50": self.busy_latency_ms[0], "max": self.busy_latency_ms[1]},
            "first_text_ms": {"p50": self.first_text_ms[0], "p99": self.first_text_ms[1]},
        })
    }
}

#[derive(Default)]
struct Tally {
    ok: Vec<f64>,
    busy: Vec<f64>,
    first_text: Vec<f64>,
    errors: usize,
    samples: Vec<String>,
}

/// Runs the load and reports; the threads stop by themselves at the deadline (a request in flight then
/// finishes, bounded by the agent's timeout).
pub fn run(options: &LoadOptions) -> LoadReport {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(options.seconds.max(0.1));
    let queries = Arc::new(if options.queries.is_empty() {
        vec!["test".to_owned()]
    } else {
        options.queries.clone()
    });
    let path = match options.endpoint {
        Endpoint::Search => "/v1/search",
        Endpoint::Ask => "/v1/ask",
    };
    let url = format!("{}{path}", options.url.trim_end_matches('/'));
    let threads: Vec<_> = (0..options.clients.max(1))
        .map(|client| {
            let (tally, queries, url, key, endpoint) = (
                tally.clone(),
                queries.clone(),
                url.clone(),
                options.key.clone(),
                options.endpoint,
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(600)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut i = client;
                while Instant::now() < deadline {
                    let query = &queries[i % queries.len()];
                    i += options_stride(queries.len());
                    let body = match endpoint {
                        Endpoint::Search => json!({"query": query, "k": 10}),
                        Endpoint::Ask => json!({"question": query, "stream": true}),
                    };
                    let mut request = agent.post(&url).header("Content-Type", "application/json");
                    if let Some(key) = &key {
                        request = request.header("Authorization", &format!("Bearer {key}"));
                    }
                    let sent = Instant::now();
                    let mut first_text = None;
                    let mut retry_after = None;
                    let result = request.send(body.to_string()).map(|mut r| {
                        let status = r.status().as_u16();
                        retry_after = r
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<f64>().ok());
                        let mut text = String::new();
                        let mut reader = std::io::BufReader::new(r.body_mut().as_reader());
                        let mut line = String::new();
                        // Server-Sent Events arrive line by line: note when the first text delta does.
                        while std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) > 0 {
                            if first_text.is_none() && line.strip_prefix("event:").is_some_and(|e| e.trim() == "delta")
                            {
                                first_text = Some(sent.elapsed().as_secs_f64() * 1e3);
                            }
                            text.push_str(&line);
                            line.clear();
                        }
                        let failed = text
                            .lines()
                            .any(|l| l.strip_prefix("event:").is_some_and(|e| e.trim() == "error"));
                        (if failed { 500 } else { status }, text)
                    });
                    let ms = sent.elapsed().as_secs_f64() * 1e3;
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(first) = first_text {
                        t.first_text.push(first);
                    }
                    match result {
                        Ok((200, _)) => t.ok.push(ms),
                        Ok((429, _)) => {
                            t.busy.push(ms);
                            drop(t);
                            // A well-behaved client waits as told (up to the end of the run) before retrying.
                            let wait = Duration::from_secs_f64(retry_after.unwrap_or(1.0).clamp(0.0, 60.0));
                            std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
                        }
                        Ok((status, text)) => {
                            t.errors += 1;
                            if t.samples.len() < 5 {
                                t.samples
                                    .push(format!("{status}: {}", text.chars().take(200).collect::<String>()));
                            }
                        }
                        Err(e) => {
                            t.errors += 1;
                            if t.samples.len() < 5 {
                                t.samples.push(e.to_string());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let seconds = started.elapsed().as_secs_f64();
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    LoadReport {
        ok: t.ok.len(),
        busy: t.busy.len(),
        errors: t.errors,
        error_samples: t.samples.clone(),
        seconds,
        ok_per_s: t.ok.len() as f64 / seconds.max(1e-9),
        latency_ms: [
            percentile(&t.ok, 50.0),
            percentile(&t.ok, 95.0),
            percentile(&t.ok, 99.0),
            max(&t.ok),
        ],
        busy_latency_ms: [percentile(&t.busy, 50.0), max(&t.busy)],
        first_text_ms: [percentile(&t.first_text, 50.0), percentile(&t.first_text, 99.0)],
    }
}

/// Clients walk the queries with a stride prime to most lengths, so they do not send the same query together.
fn options_stride(n: usize) -> usize {
    if n > 7 && !n.is_multiple_of(7) {
        7
    } else {
        1
    }
}
