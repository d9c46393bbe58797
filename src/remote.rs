//! HTTP plumbing shared by the OpenAI-compatible backends (`/v1/chat/completions`, `/v1/embeddings`): one
//! agent configuration, bearer authentication, retries with exponential backoff on 429, 5xx and connection
//! errors, and errors that say what to check for 401/403 and 404.

use std::time::Duration;

/// Where and how to reach an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Base URL, for example `http://localhost:8080` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<String>,
    /// Timeout for one whole request.
    pub timeout: Duration,
    /// Attempts on 429, 5xx and connection errors (with exponential backoff from 0.5 s).
    pub attempts: u32,
}

impl Endpoint {
    /// The URL of `path` (`chat/completions`, `embeddings`) under the base URL's `/v1`.
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        format!("{base}/v1/{path}")
    }

    /// An agent with this endpoint's timeouts, which hands non-2xx statuses back instead of failing.
    pub fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// POSTs the JSON `body` to `path`, retrying what is worth retrying; the error is a message naming the URL.
    pub fn post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &str,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post_once(agent, path, body) {
                Ok(response) => return Ok(response),
                Err((true, _)) if attempt < self.attempts.max(1) => {
                    std::thread::sleep(Duration::from_millis(500 << (attempt - 1).min(6)));
                }
                Err((_, error)) => return Err(error),
            }
        }
    }

    /// One attempt; `Err((retryable, message))` on failure.
    fn post_once(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &str,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, (bool, String)> {
        let url = self.url(path);
        let mut request = agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(|e| {
            let retryable = !matches!(e, ureq::Error::BadUri(_));
            (retryable, format!("{url}: cannot connect: {e}"))
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
                self.model
            ),
            _ => format!("{url}: HTTP {status}: {detail}"),
        };
        Err((status == 429 || status >= 500, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_accept_a_trailing_v1() {
        let endpoint = |base: &str| Endpoint {
            base_url: base.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
            attempts: 1,
        };
        assert_eq!(
            endpoint("http://h:8080/").url("embeddings"),
            "http://h:8080/v1/embeddings"
        );
        assert_eq!(
            endpoint("http://h:8080/v1").url("chat/completions"),
            "http://h:8080/v1/chat/completions"
        );
    }
}
