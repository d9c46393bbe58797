//! [`Passage`]s: retrieved hits merged per source and packed into the generator's context budget.
//!
//! Hits come ranked from the index. Adjacent or overlapping chunks of one source are merged into one passage
//! (its rank is its best chunk's). Passages are then taken in rank order while they fit the token budget; the
//! lowest-ranked are the ones dropped, and the budget is never exceeded.

use rag_indexes::Hit;
use std::path::Path;

use crate::error::Result;

/// A piece of retrieved text given to the generator, numbered for citation.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The citation number (1-based, in prompt order).
    pub n: u32,
    /// The source path.
    pub source: String,
    /// The document format.
    pub kind: String,
    /// The text.
    pub text: String,
    /// First and last line, for line-mapped formats.
    pub lines: Option<(u32, u32)>,
    /// First and last page, for paged formats.
    pub pages: Option<(u32, u32)>,
    /// The path of headings it falls under, when its format has headings.
    pub section: Option<String>,
    /// The context line it was indexed with (document title and heading path), if any.
    pub context: Option<String>,
    /// The best ranking score among its chunks.
    pub score: f32,
    /// The best cosine similarity to the question among its chunks.
    pub similarity: f32,
    /// Ids of the chunks it was made from.
    pub chunk_ids: Vec<u64>,
    /// The instruction-like rule one of its chunks matched at ingest (`ingest::flag`), if any.
    pub flagged: Option<String>,
    /// Chunk indexes in the document, first and last.
    pub(crate) chunk_span: (u32, u32),
    /// Byte span in the extracted document text.
    pub(crate) byte_span: (usize, usize),
}

/// How a source key (a canonical absolute path) is shown: relative to the current directory when the file is
/// under it (`manuals/pump.pdf`), else absolute.
pub fn display_path(key: &str) -> String {
    let cwd = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    match cwd.as_deref().and_then(|cwd| Path::new(key).strip_prefix(cwd).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
        _ => key.to_owned(),
    }
}

impl Passage {
    /// Where the passage comes from: `manuals/pump.pdf, page 3`, `notes/ops.md, lines 12-30`.
    pub fn describe(&self) -> String {
        let path = display_path(&self.source);
        match rag_connectors::describe_place(&self.kind, self.lines, self.pages, self.section.as_deref()) {
            Some(place) => format!("{path}, {place}"),
            None => path,
        }
    }

    /// The byte span in the extracted document text.
    pub fn byte_span(&self) -> (usize, usize) {
        self.byte_span
    }

    fn from_hit(hit: &Hit) -> Passage {
        let p = &hit.payload;
        Passage {
            n: 0,
            source: p.source.clone(),
            kind: p.kind.clone(),
            text: hit.text.clone(),
            lines: p.lines,
            pages: p.pages,
            section: p.section.clone(),
            context: p.context.clone(),
            score: hit.score,
            similarity: hit.similarity,
            chunk_ids: vec![hit.id],
            flagged: p.flagged.clone(),
            chunk_span: (p.chunk_idx, p.chunk_idx),
            byte_span: (p.byte_start, p.byte_end),
        }
    }

    /// Appends `next`, a chunk of the same source that starts at or before this passage's end (or is the next
    /// chunk), keeping the text free of the duplicated overlap.
    fn absorb(&mut self, next: Passage) {
        let (start, end) = self.byte_span;
        if next.byte_span.1 <= end {
            // Entirely inside: nothing new.
        } else if next.byte_span.0 <= end {
            let skip = end - next.byte_span.0;
            match next.text.get(skip..) {
                Some(rest) => self.text.push_str(rest),
                None => {
                    self.text.push('\n');
                    self.text.push_str(&next.text);
                }
            }
        } else {
            self.text.push('\n');
            self.text.push_str(&next.text);
        }
        self.byte_span = (start, end.max(next.byte_span.1));
        self.chunk_span = (
            self.chunk_span.0.min(next.chunk_span.0),
            self.chunk_span.1.max(next.chunk_span.1),
        );
        self.lines = union(self.lines, next.lines);
        self.pages = union(self.pages, next.pages);
        if self.section.is_none() {
            self.section = next.section;
        }
        self.score = self.score.max(next.score);
        self.similarity = self.similarity.max(next.similarity);
        self.chunk_ids.extend(next.chunk_ids);
        if self.flagged.is_none() {
            self.flagged = next.flagged;
        }
    }
}

fn union(a: Option<(u32, u32)>, b: Option<(u32, u32)>) -> Option<(u32, u32)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

/// Merges ranked hits into ranked passages: chunks of one source that overlap or are consecutive become one
/// passage, ranked where its best chunk was. Passages are numbered 1..n in rank order.
pub fn merge(hits: &[Hit]) -> Vec<Passage> {
    // Group by source, remembering each group's best rank.
    let mut groups: Vec<(usize, Vec<Passage>)> = Vec::new();
    for (rank, hit) in hits.iter().enumerate() {
        let passage = Passage::from_hit(hit);
        match groups.iter_mut().find(|(_, g)| g[0].source == passage.source) {
            Some((_, group)) => group.push(passage),
            None => groups.push((rank, vec![passage])),
        }
    }
    let mut ranked: Vec<(usize, Passage)> = Vec::new();
    for (first_rank, mut group) in groups {
        // Remember each chunk's rank within the group to rank the merged runs.
        let ranks: Vec<(u64, usize)> = group
            .iter()
            .map(|p| {
                (
                    p.chunk_ids[0],
                    hits.iter().position(|h| h.id == p.chunk_ids[0]).unwrap_or(first_rank),
                )
            })
            .collect();
        group.sort_by_key(|p| p.byte_span.0);
        let mut runs: Vec<Passage> = Vec::new();
        for passage in group {
            match runs.last_mut() {
                Some(last)
                    if passage.byte_span.0 <= last.byte_span.1 || passage.chunk_span.0 == last.chunk_span.1 + 1 =>
                {
                    last.absorb(passage)
                }
                _ => runs.push(passage),
            }
        }
        for run in runs {
            let rank = run
                .chunk_ids
                .iter()
                .filter_map(|id| ranks.iter().find(|(i, _)| i == id).map(|(_, r)| *r))
                .min()
                .unwrap_or(first_rank);
            ranked.push((rank, run));
        }
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut p))| {
            p.n = i as u32 + 1;
            p
        })
        .collect()
}

/// Keeps the best-ranked passages whose text fits in `budget` tokens (as counted by `count`, which should
/// include each passage's header). Passages are taken in order; the first that does not fit ends the list,
/// except that a first passage larger than the whole budget is cut down to fit, so the model always gets the
/// best evidence. Passages are renumbered 1..n.
pub fn pack(passages: Vec<Passage>, budget: usize, count: &dyn Fn(&Passage) -> Result<usize>) -> Result<Vec<Passage>> {
    let mut used = 0;
    let mut packed: Vec<Passage> = Vec::new();
    for mut passage in passages {
        let n = count(&passage)?;
        if used + n <= budget {
            used += n;
            packed.push(passage);
            continue;
        }
        if packed.is_empty() && budget > 0 {
            // Cut by characters in proportion, then shrink until it fits.
            let mut keep = passage.text.len() * budget / n.max(1);
            loop {
                keep = passage.text.floor_char_boundary(keep.min(passage.text.len()));
                passage.text.truncate(keep);
                if keep == 0 || count(&passage)? <= budget {
                    break;
                }
                keep = keep * 9 / 10;
            }
            if !passage.text.is_empty() {
                packed.push(passage);
            }
        }
        break;
    }
    for (i, passage) in packed.iter_mut().enumerate() {
        passage.n = i as u32 + 1;
    }
    Ok(packed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rag_indexes::Payload;

    pub(crate) fn passage(
        n: u32,
        source: &str,
        pages: Option<(u32, u32)>,
        lines: Option<(u32, u32)>,
        text: &str,
    ) -> Passage {
        Passage {
            n,
            source: source.into(),
            kind: "txt".into(),
            text: text.into(),
            lines,
            pages,
            section: None,
            context: None,
            score: 1.0,
            similarity: 0.5,
            chunk_ids: vec![n as u64],
            flagged: None,
            chunk_span: (0, 0),
            byte_span: (0, text.len()),
        }
    }

    fn hit(id: u64, source: &str, idx: u32, bytes: (usize, usize), lines: (u32, u32), text: &str) -> Hit {
        Hit {
            id,
            score: 1.0 / id as f32,
            similarity: 0.5,
            vector: Vec::new(),
            text: text.into(),
            payload: Payload {
                source: source.into(),
                kind: "md".into(),
                chunk_idx: idx,
                byte_start: bytes.0,
                byte_end: bytes.1,
                lines: Some(lines),
                ..Payload::default()
            },
        }
    }

    #[test]
    fn overlapping_chunks_of_a_source_merge_without_duplicate_text() {
        // Document text: "aaaa bbbb cccc dddd"; chunk 0 = "aaaa bbbb", chunk 1 = "bbbb cccc" (overlap "bbbb").
        let hits = vec![
            hit(1, "x.md", 1, (5, 14), (2, 3), "bbbb cccc"),
            hit(2, "y.md", 0, (0, 4), (1, 1), "other"),
            hit(3, "x.md", 0, (0, 9), (1, 2), "aaaa bbbb"),
            hit(4, "x.md", 7, (100, 110), (20, 21), "far away"),
        ];
        let passages = merge(&hits);
        assert_eq!(passages.len(), 3);
        assert_eq!(passages[0].text, "aaaa bbbb cccc");
        assert_eq!(passages[0].lines, Some((1, 3)));
        assert_eq!(passages[0].chunk_ids, vec![3, 1]);
        assert_eq!(passages[0].n, 1);
        assert_eq!(passages[1].source, "y.md");
        assert_eq!(passages[2].text, "far away");
        assert_eq!(passages[2].n, 3);
        assert_eq!(passages[0].describe(), "x.md, lines 1-3");
    }

    #[test]
    fn consecutive_chunks_without_overlap_are_joined() {
        let hits = vec![
            hit(1, "x.md", 0, (0, 4), (1, 1), "aaaa"),
            hit(2, "x.md", 1, (6, 10), (3, 3), "cccc"),
        ];
        let passages = merge(&hits);
        assert_eq!(passages.len(), 1);
        assert_eq!(passages[0].text, "aaaa\ncccc");
    }

    #[test]
    fn packing_never_overflows_and_drops_lowest_ranked() {
        let words = |n: usize| vec!["w"; n].join(" ");
        let passages = vec![
            passage(1, "a", None, None, &words(40)),
            passage(2, "b", None, None, &words(30)),
            passage(3, "c", None, None, &words(50)),
        ];
        let count = |p: &Passage| Ok(p.text.split_whitespace().count());
        let packed = pack(passages.clone(), 75, &count).unwrap();
        assert_eq!(
            packed.iter().map(|p| p.source.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        // A first passage larger than the budget is cut to fit.
        let packed = pack(passages, 10, &count).unwrap();
        assert_eq!(packed.len(), 1);
        assert!(count(&packed[0]).unwrap() <= 10);
        assert!(pack(vec![], 10, &count).unwrap().is_empty());
    }
}
