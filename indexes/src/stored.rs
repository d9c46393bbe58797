//! What both backends store alike: the payload's JSON form, the metadata's JSON form, BM25 sparse vectors
//! (qdrant-edge's tokenizer, so both backends give the same token ids), and the cosine used for `Hit::similarity`.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;
use serde::{Deserialize, Serialize};

use crate::{Bm25Params, Error, IndexMeta, Payload, StoredKey, FORMAT_VERSION};

/// The payload as stored in Qdrant: flat JSON, so fields can be filtered and indexed.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredPayload {
    source: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    chunk_idx: u32,
    byte_start: usize,
    byte_end: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lines: Option<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pages: Option<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    doc_hash: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    chunk_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flagged: Option<String>,
    text: String,
}

impl StoredPayload {
    pub(crate) fn from_record(text: String, p: Payload) -> StoredPayload {
        StoredPayload {
            source: p.source,
            kind: p.kind,
            title: p.title,
            chunk_idx: p.chunk_idx,
            byte_start: p.byte_start,
            byte_end: p.byte_end,
            lines: p.lines,
            pages: p.pages,
            section: p.section,
            context: p.context,
            doc_hash: p.doc_hash,
            chunk_hash: p.chunk_hash,
            flagged: p.flagged,
            text,
        }
    }

    pub(crate) fn into_parts(self) -> (String, Payload) {
        let payload = Payload {
            source: self.source,
            kind: self.kind,
            title: self.title,
            chunk_idx: self.chunk_idx,
            byte_start: self.byte_start,
            byte_end: self.byte_end,
            lines: self.lines,
            pages: self.pages,
            section: self.section,
            context: self.context,
            doc_hash: self.doc_hash,
            chunk_hash: self.chunk_hash,
            flagged: self.flagged,
        };
        (self.text, payload)
    }
}

/// The metadata file's JSON form.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredMeta {
    pub(crate) format_version: u32,
    pub(crate) model_id: String,
    pub(crate) dim: usize,
    pub(crate) bm25_k1: f64,
    pub(crate) bm25_b: f64,
    pub(crate) bm25_avg_len: f64,
}

impl StoredMeta {
    pub(crate) fn from_meta(meta: &IndexMeta) -> StoredMeta {
        StoredMeta {
            format_version: FORMAT_VERSION,
            model_id: meta.model_id.clone(),
            dim: meta.dim,
            bm25_k1: meta.bm25.k1,
            bm25_b: meta.bm25.b,
            bm25_avg_len: meta.bm25.avg_len,
        }
    }

    pub(crate) fn into_meta(self) -> IndexMeta {
        IndexMeta {
            format_version: self.format_version,
            model_id: self.model_id,
            dim: self.dim,
            bm25: Bm25Params {
                k1: self.bm25_k1,
                b: self.bm25_b,
                avg_len: self.bm25_avg_len,
            },
        }
    }
}

/// BM25 sparse vectors of documents and queries, with the index's parameters.
pub(crate) struct Bm25 {
    inner: EdgeBm25,
}

impl Bm25 {
    pub(crate) fn new(params: &Bm25Params) -> Result<Bm25, Error> {
        Ok(Bm25 { inner: bm25(params)? })
    }

    /// The document-side vector: term ids and BM25 term weights (IDF is applied by the index at query time).
    pub(crate) fn document(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        let v = self.inner.embed_document(text);
        (v.indices, v.values)
    }

    /// The query-side vector.
    pub(crate) fn query(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        let v = self.inner.embed_query(text);
        (v.indices, v.values)
    }
}

pub(crate) fn bm25(params: &Bm25Params) -> Result<EdgeBm25, Error> {
    let nn = |v: f64, what: &str| NotNan::new(v).map_err(|_| Error::Storage(format!("BM25 {what} is NaN")));
    EdgeBm25::new(EdgeBm25Config {
        k: nn(params.k1, "k1")?,
        b: nn(params.b, "b")?,
        avg_len: nn(params.avg_len, "avg_len")?,
        language: Some("english".to_owned()),
        ..Default::default()
    })
    .map_err(|e| Error::Storage(format!("BM25: {e}")))
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// A record's key from its payload fields (`field` looks one up as JSON); missing fields give values no
/// manifest entry names, so reconciliation removes such a record.
pub(crate) fn stored_key(id: u64, field: impl Fn(&str) -> Option<serde_json::Value>) -> StoredKey {
    StoredKey {
        id,
        source: field("source")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        chunk_idx: field("chunk_idx")
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(u32::MAX),
        doc_hash: field("doc_hash")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// Refuses an index built with another embedder (`location`: its directory or server collection).
pub fn check_model(location: &std::path::Path, stored: &IndexMeta, expected: &IndexMeta) -> Result<(), Error> {
    if stored.model_id != expected.model_id || stored.dim != expected.dim {
        return Err(Error::ModelMismatch {
            path: location.to_path_buf(),
            found_model: stored.model_id.clone(),
            found_dim: stored.dim,
            expected_model: expected.model_id.clone(),
            expected_dim: expected.dim,
        });
    }
    Ok(())
}
