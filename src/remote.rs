//! HTTP plumbing shared by the OpenAI-compatible backends (`/v1/chat/completions`, `/v1/embeddings`): one
//! agent configuration, bearer authentication, retries with exponential backoff on 429, 5xx and connection
//! errors, and errors that say what to check for 401/403 and 404.

use std::time::Duration;

use crate::config::Secret;

/// Where and how to reach an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Base URL, for example `http://localhost:8080` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// Bearer token, if the server wants one (redacted in `Debug`).
    pub api_key: Option<Secret>,
    /// Allow sending the key over plain http to a host that is not loopback.
    pub allow_insecure_key: bool,
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

    /// Refuses to send a key where it could be read on the way: a key goes only over https, or over http to a
    /// loopback address (`localhost`, `127.0.0.0/8`, `::1`), unless `allow_insecure_key`. `flag` names the
    /// setting that allows it, for the message.
    pub fn check_key_transport(&self) -> std::result::Result<(), String> {
        if self.api_key.is_none() || self.allow_insecure_key {
            return Ok(());
        }
        let uri: ureq::http::Uri = self
            .base_url
            .parse()
            .map_err(|e| format!("{}: not a URL: {e}", self.base_url))?;
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let host = uri.host().unwrap_or("");
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match scheme.as_str() {
            "https" => Ok(()),
            "http" if loopback => Ok(()),
            "http" => Err(format!(
                "{}: refusing to send the API key over plain http to {host}, where it can be read on the way: \
                 use https, or pass --allow-insecure-key (config: allow_insecure_key = true) to send it anyway",
                self.base_url
            )),
            _ => Err(format!(
                "{}: unsupported URL scheme {scheme:?} (use http or https)",
                self.base_url
            )),
        }
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
        self.check_key_transport().map_err(|e| (false, e))?;
        let mut request = agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {}", key.expose()));
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

    fn endpoint(base: &str) -> Endpoint {
        Endpoint {
            base_url: base.into(),
            model: "m".into(),
            api_key: None,
            allow_insecure_key: false,
            timeout: Duration::from_secs(5),
            attempts: 1,
        }
    }

    /// Issue 9.5: the key went as a bearer token to any URL, plain http to other hosts included.
    #[test]
    fn a_key_goes_only_over_https_or_to_loopback() {
        let with_key = |base: &str| Endpoint {
            api_key: Some(Secret::new("sk-test-transport")),
            ..endpoint(base)
        };
        for ok in [
            "https://api.example.com",
            "http://localhost:8080",
            "http://127.0.0.1:8080/v1",
            "http://127.3.2.1",
            "http://[::1]:8000",
        ] {
            assert_eq!(with_key(ok).check_key_transport(), Ok(()), "{ok}");
        }
        for refused in [
            "http://gpu-box:8000",
            "http://10.0.0.5:8000",
            "http://localhost.evil.com",
        ] {
            let err = with_key(refused).check_key_transport().unwrap_err();
            assert!(err.contains("--allow-insecure-key"), "{err}");
            assert!(!err.contains("sk-test-transport"), "{err}");
            // The refusal happens before any connection: the host does not exist.
            let sent = with_key(refused).post(&with_key(refused).agent(), "embeddings", "{}");
            assert!(sent.is_err_and(|e| e.contains("--allow-insecure-key")));
            let allowed = Endpoint {
                allow_insecure_key: true,
                ..with_key(refused)
            };
            assert_eq!(allowed.check_key_transport(), Ok(()));
        }
        // Without a key, any URL is fine.
        assert_eq!(endpoint("http://gpu-box:8000").check_key_transport(), Ok(()));
    }

    #[test]
    fn urls_accept_a_trailing_v1() {
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
