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
    /// Named places that are not headings, in text order: the byte offset where each starts and its name
    /// (a JSON pointer). A span's [`Location::section`] is the one holding its start, for formats without
    /// an outline.
    pub anchors: Vec<(usize, String)>,
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
    /// The text is a sequence of numbered parts (slides, notebook cells, messages, chapters); each entry is the
    /// byte offset where a part starts and its number. A part's number is stored as a page would be
    /// ([`Location::pages`]); the format names the unit ([`describe_place`]).
    Parts(Vec<(usize, u32)>),
    /// The text is rows of tables (spreadsheets); each entry is the byte offset where a line of text starts and
    /// the row number it came from in its sheet, stored as [`Location::lines`]. The sheet is the outline
    /// heading above (a level-1 heading per sheet).
    Rows(Vec<(usize, u32)>),
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
            anchors: Vec::new(),
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
            LocationMap::Parts(starts) => {
                location.pages = Some((number_at(starts, start), number_at(starts, last)));
            }
            LocationMap::Rows(starts) => {
                location.lines = Some((number_at(starts, start), number_at(starts, last)));
            }
        }
        if let Some(path) = self.section_path(start) {
            location.section = Some(path);
        } else if let Some(i) = self.anchors.partition_point(|(at, _)| *at <= start).checked_sub(1) {
            location.section = Some(self.anchors[i].1.clone());
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

    /// Byte offsets where the text may not be crossed by one chunk, so that a citation names one page, slide,
    /// cell, message, chapter or sheet; always starts with 0.
    pub fn hard_boundaries(&self) -> Vec<usize> {
        let mut starts: Vec<usize> = match &self.map {
            LocationMap::Pages(starts) => starts.clone(),
            LocationMap::Parts(starts) => starts.iter().map(|&(offset, _)| offset).collect(),
            LocationMap::Rows(_) => self.outline.iter().filter(|h| h.level == 1).map(|h| h.offset).collect(),
            LocationMap::Lines | LocationMap::Sections(_) => Vec::new(),
        };
        starts.retain(|&s| s > 0 && s < self.text.len());
        starts.insert(0, 0);
        starts.dedup();
        starts
    }

    /// The 1-based line number holding byte `offset`.
    fn line_of(&self, offset: usize) -> u32 {
        self.line_starts.partition_point(|&s| s <= offset) as u32
    }
}

/// The number of the part holding byte `offset` in a [`LocationMap::Parts`] or [`LocationMap::Rows`] table.
fn number_at(starts: &[(usize, u32)], offset: usize) -> u32 {
    let idx = starts.partition_point(|&(s, _)| s <= offset);
    idx.checked_sub(1)
        .map_or_else(|| starts.first().map_or(1, |s| s.1), |i| starts[i].1)
}

/// What a format's numbered parts and lines are called in a citation.
struct Units {
    /// The word for what [`Location::pages`] counts: `page`, `slide`, `cell`, `message`, `chapter`.
    part: &'static str,
    /// The word for what [`Location::lines`] counts: `line`, or `row` in a sheet.
    line: &'static str,
    /// The section is named with the part (`slide 3 (Results)`) or before the rows (`sheet Sales, rows 2-9`).
    section_with_part: bool,
}

fn units(kind: &str) -> Units {
    let (part, line) = match kind {
        "pptx" | "odp" => ("slide", "line"),
        "ipynb" => ("cell", "line"),
        "eml" | "mbox" | "msg" => ("message", "line"),
        "epub" => ("chapter", "line"),
        k if DocKind::is_sheet_name(k) => ("page", "row"),
        _ => ("page", "line"),
    };
    Units {
        part,
        line,
        section_with_part: part != "page" || line == "row",
    }
}

/// Where a span is, in words, for the document kind named `kind` ([`DocKind::name`]): `page 3`, `lines 12-30`,
/// `slide 4 (Results)`, `cell 7`, `message 2 (Re: pumps)`, `sheet Sales, rows 2-40`, `section "Setup"`; `None`
/// when nothing is known.
pub fn describe_place(
    kind: &str,
    lines: Option<(u32, u32)>,
    pages: Option<(u32, u32)>,
    section: Option<&str>,
) -> Option<String> {
    let span = |word: &str, (a, b): (u32, u32)| {
        if a == b {
            format!("{word} {a}")
        } else {
            format!("{word}s {a}-{b}")
        }
    };
    let units = units(kind);
    let section = section.map(str::trim).filter(|s| !s.is_empty());
    Some(match (pages, lines, section) {
        (Some(pages), _, Some(section)) if units.section_with_part => {
            format!("{} ({section})", span(units.part, pages))
        }
        (Some(pages), _, _) => span(units.part, pages),
        (None, Some(lines), Some(section)) if units.line == "row" => {
            format!("sheet {section}, {}", span(units.line, lines))
        }
        (None, Some(lines), Some(pointer)) if kind == "json" => format!("{} ({pointer})", span(units.line, lines)),
        (None, Some(lines), _) => span(units.line, lines),
        (None, None, Some(section)) => format!("section \"{section}\""),
        (None, None, None) => return None,
    })
}

impl Location {
    /// A short human-readable form for a document of kind `kind`: `page 3`, `pages 3-4`, `lines 12-30`,
    /// `slide 2 (Results)`, `sheet Sales, rows 2-9`, `section "Installation"` (see [`describe_place`]).
    pub fn describe(&self, kind: &str) -> String {
        describe_place(kind, self.lines, self.pages, self.section.as_deref())
            .unwrap_or_else(|| format!("bytes {}-{}", self.byte_start, self.byte_end))
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
        assert_eq!(doc.locate(2..9).describe("txt"), "lines 2-3");
        // Out-of-range spans are clamped, never panic.
        assert_eq!(doc.locate(100..200).lines, Some((4, 4)));
    }

    #[test]
    fn pages_come_from_page_starts() {
        let text = "one\n\ntwo\n\nthree".to_owned();
        let starts = vec![0, 5, 10];
        let doc = Document::new(DocKind::Pdf, text, LocationMap::Pages(starts));
        assert_eq!(doc.locate(0..3).pages, Some((1, 1)));
        assert_eq!(doc.locate(5..8).describe("pdf"), "page 2");
        assert_eq!(doc.locate(2..12).describe("pdf"), "pages 1-3");
    }

    #[test]
    fn sections_are_the_nearest_heading_before() {
        let map = LocationMap::Sections(vec![(0, "Intro".into()), (10, "Usage".into())]);
        let doc = Document::new(DocKind::Html, "x".repeat(20), map);
        assert_eq!(doc.locate(3..5).section.as_deref(), Some("Intro"));
        assert_eq!(doc.locate(12..15).describe("html"), "section \"Usage\"");
    }

    #[test]
    fn parts_and_rows_are_numbered_and_named_by_kind() {
        let doc = Document::new(
            DocKind::Slides("pptx"),
            "# One\na\n# Two\nb\n".into(),
            LocationMap::Parts(vec![(0, 1), (8, 2)]),
        );
        assert_eq!(doc.locate(8..12).pages, Some((2, 2)));
        assert_eq!(doc.hard_boundaries(), vec![0, 8]);
        assert_eq!(
            describe_place("pptx", None, Some((2, 2)), Some("Two")).unwrap(),
            "slide 2 (Two)"
        );
        assert_eq!(describe_place("ipynb", None, Some((3, 4)), None).unwrap(), "cells 3-4");
        assert_eq!(
            describe_place("xlsx", Some((2, 9)), None, Some("Sales")).unwrap(),
            "sheet Sales, rows 2-9"
        );
        assert_eq!(describe_place("pdf", None, Some((3, 3)), Some("x")).unwrap(), "page 3");
        assert_eq!(
            describe_place("md", Some((1, 3)), None, Some("x")).unwrap(),
            "lines 1-3"
        );
        let mut sheet = Document::new(
            DocKind::Sheet("xlsx"),
            "# S\nr2\nr3\n# T\nr5\n".into(),
            LocationMap::Rows(vec![(0, 1), (4, 2), (7, 3), (14, 5)]),
        );
        sheet.outline = vec![
            Heading {
                offset: 0,
                end: 4,
                level: 1,
                text: "S".into(),
            },
            Heading {
                offset: 10,
                end: 14,
                level: 1,
                text: "T".into(),
            },
        ];
        assert_eq!(sheet.locate(4..10).lines, Some((2, 3)));
        assert_eq!(sheet.locate(14..17).lines, Some((5, 5)));
        assert_eq!(sheet.hard_boundaries(), vec![0, 10]);
    }
}
