//! A generator that streams from any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, llama.cpp's
//! server, Ollama, TGI): the model runs on a (GPU) server, everything else stays local.
//!
//! Prompt building, context packing and citation checking are the engine's, as for local generation. The
//! server's tokenizer is unknown here, so token counts for packing are a conservative estimate (one token per
//! three bytes; English BPE averages about four) against the configured context length.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Flow, GenerateOptions, Generation, Generator, StopReason};
use crate::error::{Error, Result};
use crate::prompt::Prompt;

/// Connection settings for an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiSettings {
    /// Base URL, for example `http://localhost:8080` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<String>,
    /// The server's context length in tokens.
    pub context_tokens: usize,
    /// Timeout for the whole request.
    pub timeout: Duration,
    /// Attempts on 429, 5xx and connection errors before any text arrived (with exponential backoff).
    pub attempts: u32,
}

/// The remote generator.
pub struct OpenAiGenerator {
    settings: OpenAiSettings,
    agent: ureq::Agent,
}

impl OpenAiGenerator {
    /// A generator for the server in `settings` (no request is made until `generate`).
    pub fn new(settings: OpenAiSettings) -> OpenAiGenerator {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build();
        OpenAiGenerator {
            settings,
            agent: config.into(),
        }
    }

    fn url(&self) -> String {
        let base = self.settings.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        format!("{base}/v1/chat/completions")
    }

    /// Sends the request; `Err((retryable, error))` on failure.
    fn send(&self, body: &str) -> std::result::Result<ureq::http::Response<ureq::Body>, (bool, Error)> {
        let url = self.url();
        let mut request = self.agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.settings.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(|e| {
            let retryable = !matches!(e, ureq::Error::BadUri(_));
            (retryable, Error::Generate(format!("{url}: cannot connect: {e}")))
        })?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(response);
        }
        let mut response = response;
        let detail = response.body_mut().read_to_string().unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        let error = match status {
            401 | 403 => {
                format!("{url}: HTTP {status} unauthorized: check the API key (RAG_API_KEY or OPENAI_API_KEY)")
            }
            404 => format!(
                "{url}: HTTP 404: no such endpoint or model {:?}: check the base URL and model name",
                self.settings.model
            ),
            _ => format!("{url}: HTTP {status}: {detail}"),
        };
        Err((status == 429 || status >= 500, Error::Generate(error)))
    }
}

impl Generator for OpenAiGenerator {
    fn model_id(&self) -> &str {
        &self.settings.model
    }

    fn context_tokens(&self) -> usize {
        self.settings.context_tokens
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.len().div_ceil(3))
    }

    fn prompt_tokens(&self, prompt: &Prompt) -> Result<usize> {
        // Each message carries a few template tokens.
        Ok(self.count_tokens(&prompt.system)? + self.count_tokens(&prompt.user)? + 16)
    }

    fn describe(&self) -> String {
        format!("OpenAI-compatible server {}", self.settings.base_url)
    }

    fn generate(
        &self,
        prompt: &Prompt,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation> {
        let body = json!({
            "model": self.settings.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "seed": options.seed,
        })
        .to_string();
        let started = Instant::now();
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            match self.send(&body) {
                Ok(response) => break response,
                Err((true, _)) if attempt < self.settings.attempts.max(1) => {
                    std::thread::sleep(Duration::from_millis(500 << (attempt - 1).min(6)));
                }
                Err((_, error)) => return Err(error),
            }
        };
        let mut text = String::new();
        let mut first_token = None;
        let mut chunks = 0usize;
        let mut usage: Option<(usize, usize)> = None;
        let mut stop = StopReason::Length;
        let reader = BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| Error::Generate(format!("{}: stream broke off: {e}", self.url())))?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                break;
            }
            let event: Value = serde_json::from_str(data)
                .map_err(|e| Error::Generate(format!("{}: bad stream event: {e}", self.url())))?;
            if let Some(u) = event.get("usage").filter(|u| !u.is_null()) {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
                usage = Some((n("prompt_tokens"), n("completion_tokens")));
            }
            let Some(choice) = event.get("choices").and_then(|c| c.get(0)) else {
                continue;
            };
            if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
                if !piece.is_empty() {
                    first_token.get_or_insert_with(|| started.elapsed());
                    chunks += 1;
                    text.push_str(piece);
                    if on_text(piece) == Flow::Stop {
                        stop = StopReason::Cancelled;
                        break;
                    }
                }
            }
            match choice.get("finish_reason").and_then(Value::as_str) {
                Some("stop") => stop = StopReason::EndOfTurn,
                Some("length") => stop = StopReason::Length,
                _ => {}
            }
        }
        let prefill = first_token.unwrap_or_else(|| started.elapsed());
        let (prompt_tokens, generated_tokens) = usage.unwrap_or((self.prompt_tokens(prompt)?, chunks));
        Ok(Generation {
            text,
            prompt_tokens,
            generated_tokens,
            prefill,
            decode: started.elapsed().saturating_sub(prefill),
            stop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(base_url: &str) -> OpenAiGenerator {
        OpenAiGenerator::new(OpenAiSettings {
            base_url: base_url.into(),
            model: "m".into(),
            api_key: None,
            context_tokens: 4096,
            timeout: Duration::from_secs(5),
            attempts: 2,
        })
    }

    #[test]
    fn urls_accept_a_trailing_v1() {
        assert_eq!(generator("http://h:8080/").url(), "http://h:8080/v1/chat/completions");
        assert_eq!(generator("http://h:8080/v1").url(), "http://h:8080/v1/chat/completions");
    }

    #[test]
    fn connection_refused_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens there.
        let prompt = Prompt {
            system: "s".into(),
            user: "u".into(),
        };
        let err = generator("http://127.0.0.1:9")
            .generate(&prompt, &GenerateOptions::default(), &mut |_| Flow::Continue)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot connect"), "{err}");
    }
}
