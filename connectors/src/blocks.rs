//! [`Blocks`]: the text of a structured document (Word, OpenDocument, slides, notebooks, books) built block by
//! block, markdown-shaped: a blank line between blocks, `#` before headings, tables as one line per row with
//! each cell under its column's header. The headings become the document's outline, so a citation names the
//! heading path a chunk falls under; numbered parts (slides, cells, messages, chapters) are recorded where
//! they start.

use std::path::Path;

use crate::document::{join_path, Document, Heading, LocationMap};
use crate::{DocKind, Error};

/// The text being built, its outline and where its numbered parts start.
#[derive(Default)]
pub(crate) struct Blocks {
    pub(crate) text: String,
    pub(crate) outline: Vec<Heading>,
    /// Byte offset and number of each numbered part (slide, cell, message, chapter).
    pub(crate) parts: Vec<(usize, u32)>,
}

/// The character of one of XML's five predefined entities (`amp`, `lt`, ...); others are never expanded.
pub(crate) fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Appends the text of a quick-xml text-like event to `out`: text, CDATA, a character reference or one of
/// the predefined entities. Other events append nothing; an undecodable text is an error message.
pub(crate) fn push_xml_text(event: &quick_xml::events::Event<'_>, out: &mut String) -> Result<(), String> {
    use quick_xml::events::Event;
    match event {
        Event::Text(t) => out.push_str(&t.decode().map_err(|e| format!("text encoding: {e}"))?),
        Event::CData(t) => out.push_str(&String::from_utf8_lossy(t)),
        Event::GeneralRef(r) => {
            if let Ok(Some(c)) = r.resolve_char_ref() {
                out.push(c);
            } else if let Some(c) = entity(&String::from_utf8_lossy(r)) {
                out.push(c);
            }
        }
        _ => {}
    }
    Ok(())
}

impl Blocks {
    /// Starts numbered part `n` (a slide, a cell, a message, a chapter) at the current end of the text.
    pub(crate) fn part(&mut self, n: u32) {
        if !self.text.is_empty() {
            self.text.push_str("\n\n");
        }
        self.parts.push((self.text.len(), n));
    }

    /// Appends a block: a paragraph (`level` 0) or a heading of `level`. Whitespace is collapsed; an empty
    /// block adds nothing.
    pub(crate) fn block(&mut self, line: &str, level: u8) {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        self.push(&line, level);
    }

    /// Appends a block whose lines are kept (code, preformatted text); blank runs are squeezed.
    pub(crate) fn verbatim(&mut self, text: &str) {
        let text = text.trim_end();
        if text.trim().is_empty() {
            return;
        }
        self.push(text, 0);
    }

    fn push(&mut self, line: &str, level: u8) {
        if line.trim().is_empty() {
            return;
        }
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push_str("\n\n");
        }
        let offset = self.text.len();
        if level > 0 {
            self.text.push_str(&"#".repeat(level as usize));
            self.text.push(' ');
        }
        self.text.push_str(line);
        if level > 0 {
            self.outline.push(Heading {
                offset,
                end: self.text.len(),
                level,
                text: line.to_owned(),
            });
        }
    }

    /// Appends a table: its first non-empty row is the header, each later row one line with each cell under
    /// its header ("Model: P-200; Pressure: 8 bar"); a table of one row is its cells as they are.
    pub(crate) fn table(&mut self, rows: Vec<Vec<String>>) {
        let mut rows = rows.into_iter().filter(|r| r.iter().any(|c| !c.trim().is_empty()));
        let Some(header) = rows.next() else { return };
        let mut any = false;
        for row in rows {
            any = true;
            self.block(&labelled_row(&header, &row), 0);
        }
        if !any {
            self.block(&header.join("; "), 0);
        }
    }

    /// The document, its location map the heading path of each section; [`Error::Empty`] without text.
    pub(crate) fn into_sectioned(self, path: &Path, kind: DocKind, title: Option<String>) -> Result<Document, Error> {
        if self.text.trim().is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let sections: Vec<(usize, String)> = self
            .outline
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let mut path: Vec<&Heading> = Vec::new();
                for heading in &self.outline[..=i] {
                    while path.last().is_some_and(|last| last.level >= heading.level) {
                        path.pop();
                    }
                    path.push(heading);
                }
                (h.offset, join_path(&path).unwrap_or_default())
            })
            .collect();
        let title = title.or_else(|| self.outline.first().map(|h| h.text.clone()));
        let mut doc = Document::new(kind, self.text, LocationMap::Sections(sections));
        doc.outline = self.outline;
        doc.title = title;
        Ok(doc)
    }

    /// The document, its location map the numbered parts; [`Error::Empty`] without text.
    pub(crate) fn into_parts(self, path: &Path, kind: DocKind, title: Option<String>) -> Result<Document, Error> {
        if self.text.trim().is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut doc = Document::new(kind, self.text, LocationMap::Parts(self.parts));
        doc.outline = self.outline;
        doc.title = title;
        Ok(doc)
    }
}

/// Tables being read from a document's XML, innermost last (Word's `w:tbl`, OpenDocument's `table:table`,
/// PowerPoint's `a:tbl`): rows of cells, each cell the text of its paragraphs; a table nested in a cell becomes
/// that cell's text.
#[derive(Default)]
pub(crate) struct Tables {
    open: Vec<Table>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    cell: Option<String>,
}

impl Tables {
    pub(crate) fn start_table(&mut self) {
        self.open.push(Table::default());
    }

    pub(crate) fn start_row(&mut self) {
        if let Some(t) = self.open.last_mut() {
            t.rows.push(Vec::new());
        }
    }

    pub(crate) fn start_cell(&mut self) {
        if let Some(t) = self.open.last_mut() {
            t.cell = Some(String::new());
        }
    }

    /// Adds a paragraph's text to the open cell; gives it back when no cell is open (it belongs to the
    /// document, not to a table).
    pub(crate) fn paragraph(&mut self, text: String) -> Option<String> {
        match self.open.last_mut().and_then(|t| t.cell.as_mut()) {
            Some(cell) => {
                let text = text.trim();
                if !text.is_empty() {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(text);
                }
                None
            }
            None => Some(text),
        }
    }

    /// Closes the open cell (an empty cell when none was opened, as an empty-element cell is).
    pub(crate) fn end_cell(&mut self) {
        if let Some(t) = self.open.last_mut() {
            let cell = t.cell.take().unwrap_or_default();
            if let Some(row) = t.rows.last_mut() {
                row.push(cell);
            }
        }
    }

    /// Closes the innermost table: its rows when it is outermost (a block of the document); `None` when it was
    /// nested, its rows then joined into the enclosing cell.
    pub(crate) fn end_table(&mut self) -> Option<Vec<Vec<String>>> {
        let table = self.open.pop()?;
        match self.open.last_mut().and_then(|t| t.cell.as_mut()) {
            Some(cell) => {
                for row in table.rows {
                    cell.push(' ');
                    cell.push_str(&row.join(" "));
                }
                None
            }
            None => Some(table.rows),
        }
    }
}

/// A table row with each non-empty cell under its column's header: `Model: P-200; Pressure: 8 bar`.
pub(crate) fn labelled_row(header: &[String], row: &[String]) -> String {
    let cells: Vec<String> = row
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.trim().is_empty())
        .map(
            |(i, c)| match header.get(i).map(|h| h.trim()).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {}", c.trim()),
                None => c.trim().to_string(),
            },
        )
        .collect();
    cells.join("; ")
}
