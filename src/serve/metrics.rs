//! `GET /metrics` in Prometheus' text format: requests and errors by route and status, request latency by
//! route, the stages of each answer (embed, search, prefill, decode, first token), tokens generated and the
//! time spent decoding them (their ratio is tokens/s), generation slots free and requests queued.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Shared;
use crate::answer::Timings;

/// Bucket bounds in seconds.
const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BOUNDS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BOUNDS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    stages: BTreeMap<&'static str, Histogram>,
    tokens: u64,
    decode_seconds: f64,
}

/// The server's counters.
#[derive(Default, Clone)]
pub(crate) struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn request(&self, route: &str, status: u16, took: Duration) {
        let mut inner = self.lock();
        *inner.requests.entry((route.to_owned(), status)).or_default() += 1;
        inner
            .latency
            .entry(route.to_owned())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// Records the stages of one answer.
    pub(crate) fn answer(&self, timings: &Timings) {
        let mut inner = self.lock();
        for (stage, took) in [
            ("embed", timings.embed),
            ("search", timings.search),
            ("prefill", timings.prefill),
            ("decode", timings.decode),
            ("first_token", timings.first_token),
        ] {
            inner.stages.entry(stage).or_default().observe(took.as_secs_f64());
        }
        inner.tokens += timings.generated_tokens as u64;
        inner.decode_seconds += timings.decode.as_secs_f64();
    }

    /// The text exposition.
    pub(crate) fn render(&self, slots_free: usize, waiting: usize, uptime: Duration) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str("# HELP rag_http_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE rag_http_requests_total counter\n");
        for ((route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "rag_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP rag_http_request_duration_seconds Time to the response head, by route.\n");
        out.push_str("# TYPE rag_http_request_duration_seconds histogram\n");
        for (route, histogram) in &inner.latency {
            histogram.write(
                &mut out,
                "rag_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        out.push_str("# HELP rag_answer_stage_seconds Time of each stage of an answer.\n");
        out.push_str("# TYPE rag_answer_stage_seconds histogram\n");
        for (stage, histogram) in &inner.stages {
            histogram.write(&mut out, "rag_answer_stage_seconds", &format!("stage=\"{stage}\""));
        }
        let gauges = [
            (
                "rag_generated_tokens_total",
                "counter",
                "Tokens generated.",
                inner.tokens as f64,
            ),
            (
                "rag_decode_seconds_total",
                "counter",
                "Seconds spent decoding (tokens/s = rate of tokens over rate of this).",
                inner.decode_seconds,
            ),
            (
                "rag_generation_slots_free",
                "gauge",
                "Generation slots free now.",
                slots_free as f64,
            ),
            (
                "rag_generation_queue_depth",
                "gauge",
                "Answers waiting for a slot.",
                waiting as f64,
            ),
            (
                "rag_uptime_seconds",
                "gauge",
                "Seconds since the server started.",
                uptime.as_secs_f64(),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// Counts every request by its route pattern (never the raw path, so labels stay bounded) and status.
pub(crate) async fn record(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    shared
        .metrics
        .request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    State(shared): State<Arc<Shared>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut text = shared
        .metrics
        .render(shared.slots.free(), shared.slots.waiting(), shared.started.elapsed());
    if let Some(ingestion) = &shared.ingestion {
        let (queued, running, done, total) = ingestion.gauges();
        text.push_str(&format!(
            "# HELP rag_ingest_jobs Ingest jobs by state.\n# TYPE rag_ingest_jobs gauge\n\
             rag_ingest_jobs{{state=\"queued\"}} {queued}\nrag_ingest_jobs{{state=\"running\"}} {running}\n\
             # HELP rag_ingest_chunks Chunks of the running ingest job: done, and its estimated total.\n\
             # TYPE rag_ingest_chunks gauge\nrag_ingest_chunks{{of=\"done\"}} {done}\nrag_ingest_chunks{{of=\"total\"}} {total}\n"
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_the_text_parses_as_lines() {
        let metrics = Metrics::default();
        metrics.request("/v1/search", 200, Duration::from_millis(3));
        metrics.request("/v1/search", 200, Duration::from_millis(30));
        metrics.request("/v1/ask", 429, Duration::from_micros(500));
        let text = metrics.render(1, 2, Duration::from_secs(5));
        assert!(
            text.contains("rag_http_requests_total{route=\"/v1/search\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("rag_http_requests_total{route=\"/v1/ask\",status=\"429\"} 1"));
        assert!(text.contains("rag_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.005\"} 1"));
        assert!(text.contains("rag_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.05\"} 2"));
        assert!(text.contains("rag_http_request_duration_seconds_count{route=\"/v1/search\"} 2"));
        assert!(text.contains("rag_generation_queue_depth 2"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
