//! A generator that streams from any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, llama.cpp's
//! server, Ollama, TGI): the model runs on a (GPU) server, everything else stays local.
//!
//! Prompt building, context packing and citation checking are the engine's, as for local generation. The
//! server's tokenizer is unknown here, so token counts for packing are a conservative estimate (one token per
//! three bytes; English BPE averages about four) against the configured context length.

use std::io::{BufRead, BufReader};
use std::time::Instant;

use serde_json::{json, Value};

use super::{Flow, GenerateOptions, Generation, Generator, StopReason};
use crate::error::{Error, Result};
use crate::prompt::Prompt;
use crate::remote::Endpoint;

/// Connection settings for an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiSettings {
    /// The server, model, key, timeout and retries.
    pub endpoint: Endpoint,
    /// The server's context length in tokens.
    pub context_tokens: usize,
}

/// The remote generator.
pub struct OpenAiGenerator {
    settings: OpenAiSettings,
    agent: ureq::Agent,
}

impl OpenAiGenerator {
    /// A generator for the server in `settings` (no request is made until `generate`).
    ///
    /// Fails when a key is set and the URL would carry it unprotected ([`Endpoint::check_key_transport`]).
    pub fn new(settings: OpenAiSettings) -> Result<OpenAiGenerator> {
        settings.endpoint.check_key_transport().map_err(Error::Config)?;
        let agent = settings.endpoint.agent();
        Ok(OpenAiGenerator { settings, agent })
    }

    fn url(&self) -> String {
        self.settings.endpoint.url("chat/completions")
    }
}

impl Generator for OpenAiGenerator {
    fn model_id(&self) -> &str {
        &self.settings.endpoint.model
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
        format!("OpenAI-compatible server {}", self.settings.endpoint.base_url)
    }

    fn generate(
        &self,
        prompt: &Prompt,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation> {
        let body = json!({
            "model": self.settings.endpoint.model,
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
        let response = self
            .settings
            .endpoint
            .post(&self.agent, "chat/completions", &body)
            .map_err(Error::Generate)?;
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
            endpoint: Endpoint {
                base_url: base_url.into(),
                model: "m".into(),
                api_key: None,
                allow_insecure_key: false,
                timeout: std::time::Duration::from_secs(5),
                attempts: 2,
            },
            context_tokens: 4096,
        })
        .unwrap()
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
