//! [`Chunk`] and [`Chunker`]: cutting a [`Document`] into pieces that fit the embedding model's window.
//!
//! Chunks are sized in the embedding model's own tokens (`text-splitter` with the model's `tokenizers`
//! tokenizer), split at the largest semantic boundary that fits (markdown structure for markdown; paragraphs,
//! sentences, words otherwise), and overlap by a configurable number of tokens. Every chunk keeps its
//! [`Location`] in the source (its `section` is the path of headings it falls under, `Handbook › Leave › Sick
//! leave`). With `chunk.context` (off by default, see eval/RESULTS.md) a chunk also carries a context line, the
//! document title and the headings above it, embedded and indexed with its text, and a chunk that would hold
//! nothing but headings is not kept when a chunk follows it (those headings are in the next chunk's context).

use rag_connectors::{Document, Location};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// A piece of a document, small enough to embed whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Position in its document (0-based).
    pub idx: u32,
    /// The chunk text, exactly as it appears in the document text.
    pub text: String,
    /// Where it came from.
    pub location: Location,
    /// The document title and heading path (`Handbook › Leave`), when the chunker adds context.
    pub context: Option<String>,
}

impl Chunk {
    /// What is embedded and indexed for this chunk: its context line, a blank line, its text.
    pub fn indexed_text(&self) -> std::borrow::Cow<'_, str> {
        rag_indexes::indexed_text(self.context.as_deref(), &self.text)
    }
}

/// The context line of a chunk starting at byte `start`: the title and the headings above it that its own text
/// does not show (a chunk that begins with its heading, or a first chunk that begins with the title, is
/// embedded as written).
fn context_before(doc: &Document, start: usize) -> Option<String> {
    let mut above = doc.headings_at(start);
    above.retain(|h| h.offset < start);
    let section = rag_connectors::join_path(&above);
    let title = doc.title.as_deref().filter(|title| {
        // A title that is a heading of the text counts only once the chunk starts past it.
        match doc.outline.iter().find(|h| h.text == *title) {
            Some(heading) => heading.offset < start,
            None => true,
        }
    });
    context_line(title, section.as_deref())
}

/// The context line of a chunk: the document title and the chunk's heading path, the title left out when the
/// path already starts with it.
pub fn context_line(title: Option<&str>, section: Option<&str>) -> Option<String> {
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let section = section.map(str::trim).filter(|s| !s.is_empty());
    match (title, section) {
        (Some(t), Some(s)) if s == t || s.starts_with(&format!("{t}{}", rag_connectors::PATH_SEPARATOR)) => {
            Some(s.to_owned())
        }
        (Some(t), Some(s)) => Some(format!("{t}{}{s}", rag_connectors::PATH_SEPARATOR)),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(s)) => Some(s.to_owned()),
        (None, None) => None,
    }
}

/// Cuts documents into chunks. Cannot fail: a document always yields its chunks (possibly none).
pub trait Chunker: Send + Sync {
    /// The chunks of `doc`, in document order.
    fn chunk(&self, doc: &Document) -> Vec<Chunk>;

    /// The chunks of `doc`, or `None` as soon as there would be more than `max` (a per-file bound on the
    /// work and memory one document can claim).
    fn chunk_at_most(&self, doc: &Document, max: usize) -> Option<Vec<Chunk>> {
        let chunks = self.chunk(doc);
        (chunks.len() <= max).then_some(chunks)
    }

    /// The settings that decide the chunks of a document: a file ingested under other settings is chunked
    /// again.
    fn fingerprint(&self) -> String;
}

/// Longest stretch of text handed to the splitter at once. `text-splitter` searches for the best boundary by
/// tokenizing candidate spans, which takes minutes on a 50 MB line without breaks; cutting the text first
/// into segments of at most this size, at the largest break available (blank line, line, space), keeps it
/// linear and changes nothing for ordinary documents (chunks are about 1 KB).
const SEGMENT_BYTES: usize = 64 << 10;

/// Splits `text` into consecutive segments of at most [`SEGMENT_BYTES`] (one char more if it must), each
/// ending at the last blank line, else line end, else whitespace in its second half.
fn segments(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    while text.len() - start > SEGMENT_BYTES {
        let mut limit = start + SEGMENT_BYTES;
        while !text.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &text[start..limit];
        let half = window.len() / 2;
        let cut = [
            window.rfind("\n\n"),
            window.rfind('\n'),
            window.rfind(char::is_whitespace),
        ]
        .into_iter()
        .flatten()
        .find(|&i| i >= half)
        .map_or(limit, |i| start + i + 1);
        let cut = if cut <= start { limit.max(start + 1) } else { cut };
        let mut cut = cut;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        out.push((start, &text[start..cut]));
        start = cut;
    }
    if start < text.len() {
        out.push((start, &text[start..]));
    }
    out
}

/// The default chunker: token-sized, structure-aware, overlapping.
pub struct TokenChunker {
    text: TextSplitter<Tokenizer>,
    markdown: MarkdownSplitter<Tokenizer>,
    fingerprint: String,
    context: bool,
}

/// Bumped whenever the chunking rules change (so existing indexes re-chunk on the next ingest).
/// 2: heading-only chunks dropped, context lines.
const CHUNKER_VERSION: u32 = 2;

impl std::fmt::Debug for TokenChunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenChunker")
    }
}

impl TokenChunker {
    /// A chunker counting with `tokenizer` (truncation and padding are switched off here, since a truncating
    /// tokenizer would under-count long chunks), at most `max_tokens` tokens per chunk, `overlap` shared.
    /// Chunks carry no context line (the default, `chunk.context = false`).
    pub fn new(tokenizer: Tokenizer, max_tokens: usize, overlap: usize) -> Result<TokenChunker> {
        Self::with_context(tokenizer, max_tokens, overlap, false)
    }

    /// As [`TokenChunker::new`], with each chunk's context line (title and heading path) if `context`.
    pub fn with_context(
        mut tokenizer: Tokenizer,
        max_tokens: usize,
        overlap: usize,
        context: bool,
    ) -> Result<TokenChunker> {
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Config(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        let max_tokens = max_tokens.max(8);
        let config = || {
            ChunkConfig::new(max_tokens)
                .with_sizer(tokenizer.clone())
                .with_overlap(overlap.min(max_tokens / 2))
                .map_err(|e| Error::Config(format!("chunking: {e}")))
        };
        let overlap = overlap.min(max_tokens / 2);
        Ok(TokenChunker {
            text: TextSplitter::new(config()?),
            markdown: MarkdownSplitter::new(config()?),
            fingerprint: format!("v{CHUNKER_VERSION} tokens={max_tokens} overlap={overlap} context={context}"),
            context,
        })
    }
}

impl Chunker for TokenChunker {
    fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        self.chunk_at_most(doc, usize::MAX).unwrap_or_default()
    }

    fn chunk_at_most(&self, doc: &Document, max: usize) -> Option<Vec<Chunk>> {
        // Pages (slides, cells, messages, chapters, sheets) are hard boundaries: a chunk never spans two, so a
        // citation names one.
        let starts = doc.hard_boundaries();
        let sections: Vec<(usize, &str)> = starts
            .iter()
            .enumerate()
            .filter_map(|(i, &start)| {
                let end = starts.get(i + 1).copied().unwrap_or(doc.text.len());
                doc.text.get(start..end).map(|text| (start, text))
            })
            .collect();
        let mut pieces: Vec<(usize, &str)> = Vec::new();
        for (base, section) in sections {
            for (offset, text) in segments(section) {
                let base = base + offset;
                let found: Box<dyn Iterator<Item = (usize, &str)>> = match doc.kind {
                    kind if kind.is_markdown_shaped() => Box::new(self.markdown.chunk_indices(text)),
                    _ => Box::new(self.text.chunk_indices(text)),
                };
                for (o, t) in found {
                    if t.trim().is_empty() {
                        continue;
                    }
                    if pieces.len() == max {
                        return None;
                    }
                    pieces.push((base + o, t));
                }
            }
        }
        // A chunk of headings alone says nothing a search can use: with context lines, drop it when a chunk
        // follows (the headings are that chunk's context; without them, it is the only place they are indexed).
        let last = pieces.len().saturating_sub(1);
        let kept = pieces.into_iter().enumerate().filter(|&(i, (offset, text))| {
            !self.context || i == last || !doc.is_headings_only(offset..offset + text.len())
        });
        Some(
            kept.enumerate()
                .map(|(idx, (_, (offset, text)))| {
                    let location = doc.locate(offset..offset + text.len());
                    let context = if self.context {
                        context_before(doc, offset)
                    } else {
                        None
                    };
                    Chunk {
                        idx: idx as u32,
                        text: text.to_owned(),
                        location,
                        context,
                    }
                })
                .collect(),
        )
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rag_connectors::{DocKind, LocationMap};

    pub(crate) use crate::testing::word_tokenizer;

    #[test]
    fn chunks_fit_and_map_to_lines() {
        let text: String = (1..=40).map(|i| format!("line {i} has five words.\n")).collect();
        let doc = Document::new(DocKind::Text, text, LocationMap::Lines);
        let chunker = TokenChunker::new(word_tokenizer(), 30, 6).unwrap();
        let chunks = chunker.chunk(&doc);
        assert!(chunks.len() > 5);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.idx as usize, i);
            assert!(chunk.text.split_whitespace().count() <= 30, "{:?}", chunk.text);
            assert_eq!(
                &doc.text[chunk.location.byte_start..chunk.location.byte_end],
                chunk.text
            );
        }
        assert_eq!(chunks[0].location.lines.map(|l| l.0), Some(1));
        let last = chunks.last().unwrap();
        assert_eq!(last.location.lines.map(|l| l.1), Some(40));
        // Consecutive chunks overlap.
        assert!(chunks[1].location.byte_start < chunks[0].location.byte_end);
    }

    #[test]
    fn markdown_splits_at_headings() {
        let text = "# A\n\nalpha alpha alpha alpha\n\n# B\n\nbeta beta beta beta\n".to_owned();
        let doc = Document::new(DocKind::Markdown, text, LocationMap::Lines);
        let chunks = TokenChunker::new(word_tokenizer(), 8, 0).unwrap().chunk(&doc);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert!(chunks[1].text.starts_with("# B"));
        assert_eq!(chunks[1].location.lines, Some((5, 7)));
    }

    #[test]
    fn chunks_carry_their_heading_path_and_no_chunk_is_headings_alone() {
        let body = |w: &str| format!("{}.\n", [w; 12].join(" "));
        let text = format!(
            "# Handbook\n\n## Leave\n\n### Sick leave\n\n{}\n## Travel\n\n{}",
            body("sick"),
            body("travel")
        );
        let doc = rag_connectors::load(std::path::Path::new("handbook.md"), text.as_bytes()).unwrap();
        let chunker = TokenChunker::with_context(word_tokenizer(), 14, 0, true).unwrap();
        let chunks = chunker.chunk(&doc);
        for chunk in &chunks {
            assert!(
                !doc.is_headings_only(chunk.location.byte_start..chunk.location.byte_end),
                "{chunk:?}"
            );
        }
        let sick = chunks.iter().find(|c| c.text.contains("sick sick")).unwrap();
        assert_eq!(sick.context.as_deref(), Some("Handbook › Leave › Sick leave"));
        assert!(sick.indexed_text().starts_with("Handbook › Leave › Sick leave\n\n"));
        let travel = chunks.iter().find(|c| c.text.contains("travel travel")).unwrap();
        assert_eq!(travel.context.as_deref(), Some("Handbook › Travel"));
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.idx as usize, i);
        }
        // Without context, no context line and the headings-only chunks kept (the only place their words are
        // indexed); the settings differ, so files re-chunk.
        let plain = TokenChunker::with_context(word_tokenizer(), 14, 0, false).unwrap();
        let bare = plain.chunk(&doc);
        assert!(bare.len() > chunks.len(), "{bare:?}");
        assert!(bare.iter().all(|c| c.context.is_none() && c.indexed_text() == c.text));
        assert_ne!(plain.fingerprint(), chunker.fingerprint());
        // A file that is only a heading keeps it (nothing follows).
        let doc = rag_connectors::load(std::path::Path::new("t.md"), b"# Title only\n").unwrap();
        assert_eq!(chunker.chunk(&doc).len(), 1);
    }

    #[test]
    fn context_lines_do_not_repeat_the_title() {
        assert_eq!(context_line(Some("A"), Some("A › B")).as_deref(), Some("A › B"));
        assert_eq!(context_line(Some("A"), Some("A")).as_deref(), Some("A"));
        assert_eq!(context_line(Some("T"), Some("B")).as_deref(), Some("T › B"));
        assert_eq!(context_line(Some(" "), None), None);
        assert_eq!(context_line(None, Some("B")).as_deref(), Some("B"));
    }

    #[test]
    fn chunks_never_span_pages() {
        let text = "one two three\n\nfour five six".to_owned();
        let doc = Document::new(DocKind::Pdf, text, LocationMap::Pages(vec![0, 15]));
        let chunks = TokenChunker::new(word_tokenizer(), 50, 0).unwrap().chunk(&doc);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].location.pages, Some((1, 1)));
        assert_eq!(chunks[1].location.pages, Some((2, 2)));
        assert_eq!(chunks[1].text, "four five six");
    }

    #[test]
    fn long_texts_are_segmented_at_breaks_and_bounded() {
        let line: String = (0..40_000).map(|i| format!("w{i} ")).collect();
        let text = format!("{line}\n\n{line}");
        let segs = segments(&text);
        assert!(segs.len() > 4, "{}", segs.len());
        let mut next = 0;
        for (offset, seg) in &segs {
            assert_eq!(*offset, next);
            assert!(seg.len() <= SEGMENT_BYTES);
            next += seg.len();
        }
        assert_eq!(next, text.len());
        // Cuts fall after whitespace, never inside a word.
        for (_, seg) in &segs[..segs.len() - 1] {
            assert!(seg.ends_with(char::is_whitespace), "{:?}", &seg[seg.len() - 10..]);
        }
        let doc = Document::new(DocKind::Text, text, LocationMap::Lines);
        let chunker = TokenChunker::new(word_tokenizer(), 100, 0).unwrap();
        let all = chunker.chunk(&doc);
        assert!(all.len() > 700, "{}", all.len());
        assert!(chunker.chunk_at_most(&doc, 100).is_none());
        assert_eq!(chunker.chunk_at_most(&doc, all.len()).map(|c| c.len()), Some(all.len()));
    }

    #[test]
    fn whitespace_only_documents_give_no_chunks() {
        let doc = Document::new(DocKind::Text, "   \n\n ".into(), LocationMap::Lines);
        assert!(TokenChunker::new(word_tokenizer(), 10, 2)
            .unwrap()
            .chunk(&doc)
            .is_empty());
    }
}
