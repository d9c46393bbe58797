//! An embedder that calls any OpenAI-compatible `/v1/embeddings` endpoint (TEI, vLLM, Ollama, llama.cpp's
//! server, OpenAI itself): the model runs on a (GPU) server, behind the same [`Embedder`] trait.
//!
//! The dimension is learned from the server with one probe at construction. Vectors are L2-normalised here,
//! as the local backends' are, whatever the server does. Chunk sizes are still counted with the local
//! tokenizer (MiniLM's by default): the server's tokenizer is unknown, and `max_tokens` tells the chunker how
//! much the server's model reads.

use serde_json::{json, Value};

use super::{normalize, Embedder};
use crate::error::{Error, Result};
use crate::remote::Endpoint;

/// The remote embedder.
pub struct OpenAiEmbedder {
    endpoint: Endpoint,
    agent: ureq::Agent,
    model_id: String,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
}

impl OpenAiEmbedder {
    /// Connects to the server in `endpoint`, learning the vector dimension with one request. `max_tokens` is
    /// the server model's window; `batch_size` the texts per request.
    pub fn connect(endpoint: Endpoint, max_tokens: usize, batch_size: usize) -> Result<OpenAiEmbedder> {
        endpoint.check_key_transport().map_err(Error::Config)?;
        let agent = endpoint.agent();
        let model_id = format!("openai:{}", endpoint.model);
        let mut embedder = OpenAiEmbedder {
            endpoint,
            agent,
            model_id,
            dim: 0,
            max_tokens,
            batch_size: batch_size.max(1),
        };
        let probe = embedder.request(&["dimension probe"])?;
        embedder.dim = probe.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(Error::Embed(format!(
                "{}: the server returned an empty embedding",
                embedder.endpoint.url("embeddings")
            )));
        }
        Ok(embedder)
    }

    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let url = self.endpoint.url("embeddings");
        let body = json!({"model": self.endpoint.model, "input": texts}).to_string();
        let response = self
            .endpoint
            .post(&self.agent, "embeddings", &body)
            .map_err(Error::Embed)?;
        // Per-token vectors from a server that does not pool run to tens of megabytes per batch.
        let text = response
            .into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| Error::Embed(format!("{url}: reading the response: {e}")))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| Error::Embed(format!("{url}: response is not JSON: {e}")))?;
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Embed(format!("{url}: response has no \"data\" list")))?;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (position, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(position, |i| i as usize);
            let embedding = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Embed(format!("{url}: item {index} has no embedding")))?;
            let mut vector =
                pooled(embedding).ok_or_else(|| Error::Embed(format!("{url}: item {index} holds non-numbers")))?;
            normalize(&mut vector);
            match vectors.get_mut(index) {
                Some(slot) => *slot = Some(vector),
                None => return Err(Error::Embed(format!("{url}: item index {index} out of range"))),
            }
        }
        vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| Error::Embed(format!("{url}: no embedding for input {i}"))))
            .collect()
    }
}

/// The vector of one item: a list of numbers, or (servers that do not pool, like llama-cpp-python's for a model
/// without a pooling type) a list of per-token vectors, mean-pooled here.
fn pooled(embedding: &[Value]) -> Option<Vec<f32>> {
    let numbers = |row: &[Value]| -> Option<Vec<f32>> { row.iter().map(|x| x.as_f64().map(|x| x as f32)).collect() };
    match embedding.first() {
        Some(Value::Array(_)) => {
            let rows: Vec<Vec<f32>> = embedding
                .iter()
                .map(|row| row.as_array().and_then(|r| numbers(r)))
                .collect::<Option<_>>()?;
            let dim = rows.first()?.len();
            if rows.iter().any(|r| r.len() != dim) {
                return None;
            }
            let mut mean = vec![0f32; dim];
            for row in &rows {
                for (m, x) in mean.iter_mut().zip(row) {
                    *m += x / rows.len() as f32;
                }
            }
            Some(mean)
        }
        _ => numbers(embedding),
    }
}

impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            let vectors = self.request(batch)?;
            if let Some(v) = vectors.iter().find(|v| v.len() != self.dim) {
                return Err(Error::Embed(format!(
                    "{}: got a vector of {} dimensions, expected {}",
                    self.endpoint.url("embeddings"),
                    v.len(),
                    self.dim
                )));
            }
            out.extend(vectors);
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("OpenAI-compatible server {}", self.endpoint.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_per_token_vectors_are_read() {
        let flat: Vec<Value> = serde_json::from_str("[1.0, 2.0]").unwrap();
        assert_eq!(pooled(&flat), Some(vec![1.0, 2.0]));
        let tokens: Vec<Value> = serde_json::from_str("[[1.0, 2.0], [3.0, 4.0]]").unwrap();
        assert_eq!(pooled(&tokens), Some(vec![2.0, 3.0]));
        let ragged: Vec<Value> = serde_json::from_str("[[1.0, 2.0], [3.0]]").unwrap();
        assert_eq!(pooled(&ragged), None);
        let words: Vec<Value> = serde_json::from_str(r#"["a", 1.0]"#).unwrap();
        assert_eq!(pooled(&words), None);
    }

    #[test]
    fn connection_refused_is_a_clear_error() {
        let endpoint = Endpoint {
            base_url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            api_key: None,
            allow_insecure_key: false,
            timeout: std::time::Duration::from_secs(5),
            attempts: 1,
        };
        let err = OpenAiEmbedder::connect(endpoint, 512, 8)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("/v1/embeddings") && err.contains("cannot connect"),
            "{err}"
        );
    }
}
