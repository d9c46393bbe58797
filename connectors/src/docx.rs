//! Word documents (`.docx`, Office Open XML): the text of `word/document.xml`, headings (paragraph styles
//! `Title`, `Heading1`..`Heading9`) as the outline a citation names, tables as one line per row with each cell
//! under its column's header ("Model: P-200; Pressure: 8 bar").
//!
//! A .docx is a zip archive: the part is read through [`crate::archive`], which bounds what decompression may
//! produce (a zip bomb is an error, not a gigabyte in memory). The XML is read as a stream by quick-xml, which
//! never expands entity declarations (a "billion laughs" document stays small); `&amp;`-style references and
//! character references are resolved, anything else is dropped.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::archive;
use crate::blocks::{push_xml_text, Blocks, Tables};
use crate::document::Document;
use crate::{Connector, DocKind, Error};

/// The document part, at most this many bytes once inflated.
const MAX_PART_BYTES: u64 = 64 << 20;

/// Loads `.docx` files.
pub(crate) struct DocxConnector;

impl Connector for DocxConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let xml = archive::read_entry(path, bytes, "word/document.xml", MAX_PART_BYTES, "a .docx")?;
        parse(path, &xml)
    }
}

/// What the reader is inside.
#[derive(Default)]
struct State {
    /// Text of the paragraph being read.
    paragraph: String,
    /// Heading level of the paragraph being read (from its style), 0 for body text.
    level: u8,
    /// The paragraph being read has the `Title` style.
    title: bool,
    /// The first `Title` paragraph.
    doc_title: Option<String>,
    /// Inside `<w:t>`: text that counts.
    in_text: bool,
    /// Tables being read.
    tables: Tables,
}

/// Heading level of a paragraph style: `Heading1`..`Heading9`; 0 for others. (`Title` is the document's title,
/// not a level of its outline: Word puts its first heading level beside it.)
fn heading_level(style: &str) -> u8 {
    let lower = style.to_ascii_lowercase();
    lower
        .strip_prefix("heading")
        .and_then(|n| n.trim().parse::<u8>().ok())
        .filter(|n| (1..=9).contains(n))
        .unwrap_or(0)
}

fn parse(path: &Path, xml: &[u8]) -> Result<Document, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        what: "a .docx",
        reason,
    };
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut state = State::default();
    let mut out = Blocks::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| invalid(format!("word/document.xml at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"p" => {
                    state.paragraph.clear();
                    state.level = 0;
                    state.title = false;
                }
                b"pStyle" => {
                    if let Some(val) = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"val")
                        .and_then(|a| String::from_utf8(a.value.into_owned()).ok())
                    {
                        state.level = heading_level(&val);
                        state.title = val.eq_ignore_ascii_case("title");
                    }
                }
                b"t" => state.in_text = true,
                b"tab" => state.paragraph.push(' '),
                b"br" | b"cr" => state.paragraph.push(' '),
                b"tbl" => state.tables.start_table(),
                b"tr" => state.tables.start_row(),
                b"tc" => state.tables.start_cell(),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => state.in_text = false,
                b"p" => {
                    let text = std::mem::take(&mut state.paragraph);
                    if let Some(text) = state.tables.paragraph(text) {
                        if state.title && state.doc_title.is_none() && !text.trim().is_empty() {
                            state.doc_title = Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
                        }
                        out.block(&text, state.level)
                    }
                    state.level = 0;
                }
                b"tc" => state.tables.end_cell(),
                b"tbl" => {
                    if let Some(rows) = state.tables.end_table() {
                        out.table(rows);
                    }
                }
                _ => {}
            },
            ref text @ (Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)) if state.in_text => {
                push_xml_text(text, &mut state.paragraph).map_err(invalid)?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let title = state.doc_title;
    out.into_sectioned(path, DocKind::Docx, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Pump manual</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Read this </w:t></w:r><w:r><w:t>first &amp; keep it.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Limits</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Model</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Pressure</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>P-200</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>8 bar</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
</w:body></w:document>"#;

    #[test]
    fn paragraphs_headings_and_tables_with_their_header() {
        let doc = parse(Path::new("m.docx"), BODY.as_bytes()).unwrap();
        assert_eq!(
            doc.text,
            "Pump manual\n\nRead this first & keep it.\n\n## Limits\n\nModel: P-200; Pressure: 8 bar"
        );
        assert_eq!(doc.title.as_deref(), Some("Pump manual"));
        let at = doc.text.find("P-200").unwrap();
        assert_eq!(doc.locate(at..at + 5).section.as_deref(), Some("Limits"));
    }

    #[test]
    fn malformed_xml_is_an_error_naming_the_part() {
        let err = parse(Path::new("m.docx"), b"<w:document><w:body><w:p></w:body>").unwrap_err();
        assert!(err.to_string().contains("word/document.xml"), "{err}");
    }
}
