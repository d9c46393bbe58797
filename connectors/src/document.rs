//! [`Document`]: extracted text plus the map from byte offsets back to the source file.

use std::ops::Range;

use crate::DocKind;

/// The text of one file, with what is needed to say where any part of it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// The format the text was extracted from.
    pub kind: DocKind,
    /// The extracted text (UTF-8).
    pub text: String,
    /// How offsets into `text` map to locations in the source file.
    pub map: LocationMap,
    /// A title, when the format has one (HTML `<title>`, first markdown `# heading`).
    pub title: Option<String>,
    /// Things worth telling the user that did not stop the load (for example a fallback encoding).
    pub warnings: Vec<String>,
    /// The document's headings in order. A span's [`Location::section`] is the path of headings it falls
    /// under (`Leave › Sick leave`).
    pub outline: Vec<Heading>,
    /// Byte offset of the start of every line of `text`, for line lookups.
    line_starts: Vec<usize>,
}

/// A heading of a document's outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// Byte offset of the heading's first line in [`Document::text`].
    pub offset: usize,
    /// Byte offset just past the heading's last line (its newline included).
    pub end: usize,
    /// 1 for a top-level heading, 2 under it, and so on.
    pub level: u8,
    /// The heading text, without markup.
    pub text: String,
}

/// Separator between the headings of a section path.
pub const PATH_SEPARATOR: &str = " › ";

/// Headings joined by [`PATH_SEPARATOR`]; `None` for none.
pub fn join_path(headings: &[&Heading]) -> Option<String> {
    if headings.is_empty() {
        return None;
    }
    let texts: Vec<&str> = headings.iter().map(|h| h.text.as_str()).collect();
    Some(texts.join(PATH_SEPARATOR))
}

/// How byte offsets of [`Document::text`] map back to the source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationMap {
    /// The text is the file itself (decoded), so line `n` of the text is line `n` of the file.
    Lines,
    /// The text is the concatenation of pages; each entry is the byte offset where page `i + 1` starts.
    Pages(Vec<usize>),
    /// The text is extracted markup; each entry is the byte offset of a heading and the heading's text.
    Sections(Vec<(usize, String)>),
}

/// Where a span of document text came from in its source file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Start byte offset in [`Document::text`].
    pub byte_start: usize,
    /// End byte offset (exclusive) in [`Document::text`].
    pub byte_end: usize,
    /// First and last line (1-based, inclusive) in the source file, for line-mapped formats.
    pub lines: Option<(u32, u32)>,
    /// First and last page (1-based, inclusive), for paged formats.
    pub pages: Option<(u32, u32)>,
    /// The nearest heading before the span, for sectioned formats.
    pub section: Option<String>,
}

impl Document {
    /// Builds a document from its text and location map.
    pub fn new(kind: DocKind, text: String, map: LocationMap) -> Document {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Document {
            kind,
            text,
            map,
            title: None,
            warnings: Vec::new(),
            outline: Vec::new(),
            line_starts,
        }
    }

    /// The location of the bytes `range` of [`Document::text`].
    ///
    /// The span's last byte decides where it ends, so a chunk ending in a newline does not claim the next line.
    pub fn locate(&self, range: Range<usize>) -> Location {
        let start = range.start.min(self.text.len());
        let end = range.end.clamp(start, self.text.len());
        let last = end.saturating_sub(1).max(start);
        let mut location = Location {
            byte_start: start,
            byte_end: end,
            ..Location::default()
        };
        match &self.map {
            LocationMap::Lines => {
                location.lines = Some((self.line_of(start), self.line_of(last)));
            }
            LocationMap::Pages(starts) => {
                let page_of = |offset: usize| starts.partition_point(|&s| s <= offset).max(1) as u32;
                location.pages = Some((page_of(start), page_of(last)));
            }
            LocationMap::Sections(headings) => {
                let idx = headings.partition_point(|(offset, _)| *offset <= start);
                location.section = idx.checked_sub(1).map(|i| headings[i].1.clone());
            }
        }
        if let Some(path) = self.section_path(start) {
            location.section = Some(path);
        }
        location
    }

    /// The headings the byte `offset` falls under, outermost first, joined by [`PATH_SEPARATOR`]; `None`
    /// before the first heading or without an outline.
    pub fn section_path(&self, offset: usize) -> Option<String> {
        join_path(&self.headings_at(offset))
    }

    /// The headings whose sections hold byte `offset`, outermost first (a heading starting at `offset`
    /// included).
    pub fn headings_at(&self, offset: usize) -> Vec<&Heading> {
        let mut path: Vec<&Heading> = Vec::new();
        for heading in self.outline.iter().take_while(|h| h.offset <= offset) {
            while path.last().is_some_and(|last| last.level >= heading.level) {
                path.pop();
            }
            path.push(heading);
        }
        path
    }

    /// Whether every non-blank line of the byte span `range` belongs to a heading of the outline (a chunk
    /// that would say nothing but its headings).
    pub fn is_headings_only(&self, range: Range<usize>) -> bool {
        let Some(span) = self.text.get(range.clone()) else {
            return false;
        };
        let mut any = false;
        let mut at = range.start;
        for line in span.split_inclusive('\n') {
            let start = at;
            at += line.len();
            if line.trim().is_empty() {
                continue;
            }
            any = true;
            if !self.outline.iter().any(|h| h.offset <= start && start < h.end) {
                return false;
            }
        }
        any
    }

    /// The 1-based line number holding byte `offset`.
    fn line_of(&self, offset: usize) -> u32 {
        self.line_starts.partition_point(|&s| s <= offset) as u32
    }
}

impl Location {
    /// A short human-readable form: `page 3`, `pages 3-4`, `lines 12-30`, `§ Installation`.
    pub fn describe(&self) -> String {
        let span = |word: &str, (a, b): (u32, u32)| {
            if a == b {
                format!("{word} {a}")
            } else {
                format!("{word}s {a}-{b}")
            }
        };
        if let Some(pages) = self.pages {
            span("page", pages)
        } else if let Some(lines) = self.lines {
            span("line", lines)
        } else if let Some(section) = &self.section {
            format!("§ {section}")
        } else {
            format!("bytes {}-{}", self.byte_start, self.byte_end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_paths_follow_heading_levels() {
        let text = "# A\nx\n## B\ny\n### C\nz\n## D\nw\n".to_owned();
        let mut doc = Document::new(DocKind::Markdown, text, LocationMap::Lines);
        doc.outline = crate::text::markdown_outline(&doc.text);
        let at = |s: &str| doc.text.find(s).unwrap();
        assert_eq!(doc.section_path(at("x")).as_deref(), Some("A"));
        assert_eq!(doc.section_path(at("z")).as_deref(), Some("A › B › C"));
        assert_eq!(doc.section_path(at("w")).as_deref(), Some("A › D"));
        assert_eq!(doc.locate(at("z")..at("z") + 1).section.as_deref(), Some("A › B › C"));
        assert!(doc.is_headings_only(at("## B")..at("y")));
        assert!(doc.is_headings_only(0..at("x")));
        assert!(!doc.is_headings_only(at("## B")..at("### C")));
    }

    #[test]
    fn lines_are_one_based_and_inclusive() {
        let doc = Document::new(DocKind::Text, "a\nbb\nccc\n".into(), LocationMap::Lines);
        assert_eq!(doc.locate(0..1).lines, Some((1, 1)));
        // "bb\n" ends with a newline: still only line 2.
        assert_eq!(doc.locate(2..5).lines, Some((2, 2)));
        assert_eq!(doc.locate(2..9).lines, Some((2, 3)));
        assert_eq!(doc.locate(2..9).describe(), "lines 2-3");
        // Out-of-range spans are clamped, never panic.
        assert_eq!(doc.locate(100..200).lines, Some((4, 4)));
    }

    #[test]
    fn pages_come_from_page_starts() {
        let text = "one\n\ntwo\n\nthree".to_owned();
        let starts = vec![0, 5, 10];
        let doc = Document::new(DocKind::Pdf, text, LocationMap::Pages(starts));
        assert_eq!(doc.locate(0..3).pages, Some((1, 1)));
        assert_eq!(doc.locate(5..8).describe(), "page 2");
        assert_eq!(doc.locate(2..12).describe(), "pages 1-3");
    }

    #[test]
    fn sections_are_the_nearest_heading_before() {
        let map = LocationMap::Sections(vec![(0, "Intro".into()), (10, "Usage".into())]);
        let doc = Document::new(DocKind::Html, "x".repeat(20), map);
        assert_eq!(doc.locate(3..5).section.as_deref(), Some("Intro"));
        assert_eq!(doc.locate(12..15).describe(), "§ Usage");
    }
}
