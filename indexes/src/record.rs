//! The types that cross the index boundary: [`Record`] in, [`Hit`] out, [`IndexMeta`] alongside.

/// The on-disk format version written by this build; bumped whenever the layout or payload changes.
///
/// 2: the `RAG_INDEX` marker, and sources stored as canonical absolute paths (1 stored paths as typed).
pub const FORMAT_VERSION: u32 = 2;

/// What an index was created with; stored in the index and checked at open.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexMeta {
    /// The on-disk format version.
    pub format_version: u32,
    /// The embedding model id (for example `sentence-transformers/all-MiniLM-L6-v2`).
    pub model_id: String,
    /// The embedding dimension.
    pub dim: usize,
    /// BM25 parameters used for the sparse document vectors.
    pub bm25: Bm25Params,
}

/// BM25 parameters (Robertson et al.; defaults as in Lucene and Qdrant).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation (default 1.2).
    pub k1: f64,
    /// Length normalisation (default 0.75).
    pub b: f64,
    /// Expected average document length in tokens, used for length normalisation (default 256).
    pub avg_len: f64,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params {
            k1: 1.2,
            b: 0.75,
            avg_len: 256.0,
        }
    }
}

/// What is embedded and BM25-indexed for a chunk: its context line (document title and heading path), a
/// blank line, its text; the text alone when there is no context.
pub fn indexed_text<'a>(context: Option<&str>, text: &'a str) -> std::borrow::Cow<'a, str> {
    match context {
        Some(context) if !context.is_empty() => std::borrow::Cow::Owned(format!("{context}\n\n{text}")),
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// One chunk to store: its stable id, dense vector, text and payload.
#[derive(Debug, Clone)]
pub struct Record {
    /// Stable id: the same chunk of the same source always gets the same id.
    pub id: u64,
    /// The dense embedding (L2-normalised).
    pub vector: Vec<f32>,
    /// The chunk text, also indexed with BM25.
    pub text: String,
    /// Where the chunk came from.
    pub payload: Payload,
}

/// Where a chunk came from, stored alongside it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// The source key: the file's canonical absolute path.
    pub source: String,
    /// The document format (`pdf`, `md`, `html`, `txt`, or a code extension).
    pub kind: String,
    /// The document title, when known.
    pub title: Option<String>,
    /// Position of the chunk in its document (0-based).
    pub chunk_idx: u32,
    /// Start byte offset in the extracted document text.
    pub byte_start: usize,
    /// End byte offset (exclusive) in the extracted document text.
    pub byte_end: usize,
    /// First and last line, for line-mapped formats.
    pub lines: Option<(u32, u32)>,
    /// First and last page, for paged formats.
    pub pages: Option<(u32, u32)>,
    /// The path of headings the chunk falls under (`Leave › Sick leave`), when the format has headings.
    pub section: Option<String>,
    /// The context line indexed with the chunk (see [`indexed_text`]), if any.
    pub context: Option<String>,
    /// Hex SHA-256 of the whole source file.
    pub doc_hash: String,
    /// Hex SHA-256 of what was embedded: [`indexed_text`] (empty in indexes written before it was recorded).
    pub chunk_hash: String,
    /// The instruction-like rule this chunk matched at ingest (text addressing a model), if any.
    pub flagged: Option<String>,
}

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Dense kNN and BM25, fused with reciprocal-rank fusion (the default).
    #[default]
    Hybrid,
    /// Dense kNN only.
    Dense,
    /// BM25 only.
    Sparse,
}

/// Restricts a search to some records; evaluated inside the index, not after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    /// Only records whose source is one of these.
    pub sources: Option<Vec<String>>,
    /// Only records whose kind is one of these.
    pub kinds: Option<Vec<String>>,
}

/// A search request.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The query's dense embedding.
    pub vector: &'a [f32],
    /// The query text, for BM25.
    pub text: &'a str,
    /// Which retrievers to use.
    pub mode: SearchMode,
    /// How many hits to return.
    pub k: usize,
    /// How many candidates each retriever contributes before fusion.
    pub candidates: usize,
    /// The `k` constant of reciprocal-rank fusion (score = Σ 1 / (k + rank)).
    pub rrf_k: usize,
    /// Restriction, if any.
    pub filter: Option<SearchFilter>,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The record id.
    pub id: u64,
    /// The ranking score (fused score in hybrid mode; cosine in dense mode; BM25 in sparse mode).
    pub score: f32,
    /// Cosine similarity between the query vector and the record's vector, whatever the mode.
    pub similarity: f32,
    /// The record's dense vector (for diversity reranking).
    pub vector: Vec<f32>,
    /// The chunk text.
    pub text: String,
    /// Where it came from.
    pub payload: Payload,
}

/// What identifies a stored record, without its text or vector: enough to check it against the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredKey {
    /// The record id.
    pub id: u64,
    /// Its source key.
    pub source: String,
    /// Its chunk number within the source.
    pub chunk_idx: u32,
    /// The hash of the source's content it was made from.
    pub doc_hash: String,
}
