//! OpenDocument text (`.odt`) and presentations (`.odp`): the `content.xml` part read as a stream. Text
//! documents: `text:h` headings (their outline level) as the outline a citation names, paragraphs and list
//! items as blocks, tables as rows under their header; tracked deletions are left out. Presentations: each
//! `draw:page` a numbered slide, its title frame the heading, its speaker notes (`presentation:notes`) after
//! its text. The document title comes from `meta.xml` (`dc:title`) when set.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::archive::Archive;
use crate::blocks::{push_xml_text, Blocks, Tables};
use crate::document::Document;
use crate::slides::{attr, Slide, SlideBlock};
use crate::{Connector, DocKind, Error};

/// One XML part, at most this many bytes once inflated.
const MAX_PART_BYTES: u64 = 64 << 20;

/// Loads `.odt` files.
pub(crate) struct OdtConnector;

impl Connector for OdtConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        load(path, bytes, DocKind::Odt)
    }
}

/// Where the reader is: a paragraph or heading being read, tables, the slide's parts.
#[derive(Default)]
struct State {
    /// Text of the paragraph or heading being read, with its heading level (0 for a paragraph). Nested
    /// paragraphs (a note's body inside a paragraph) join their enclosing one.
    paragraphs: Vec<(String, u8)>,
    tables: Tables,
    /// Depth inside a subtree whose text is left out (tracked deletions, a note's citation mark).
    skip: u32,
    /// Inside the title frame of a slide.
    title_frame: bool,
    /// The slide being read.
    slide: Slide,
    /// Inside the slide's speaker notes.
    in_notes: bool,
    /// Slides begun so far.
    slides: u32,
}

impl State {
    /// A paragraph or heading of the document (not of a table, not nested) ends: it goes to the slide being
    /// read (its title, its notes or its body) or, in a text document, to `out`.
    fn paragraph(&mut self, text: String, level: u8, presentation: bool, out: &mut Blocks) {
        if !presentation {
            out.block(&text, level);
        } else if text.is_empty() {
        } else if self.in_notes {
            self.slide.notes.push(text);
        } else if self.title_frame && self.slide.title.is_none() {
            self.slide.title = Some(text);
        } else {
            self.slide.blocks.push(SlideBlock::Paragraph(text));
        }
    }
}

/// Reads an OpenDocument text or presentation.
pub(crate) fn load(path: &Path, bytes: &[u8], kind: DocKind) -> Result<Document, Error> {
    let what = if kind == DocKind::Odt { "an .odt" } else { "an .odp" };
    let mut archive = Archive::open(path, bytes, what)?;
    let content = archive.read("content.xml", MAX_PART_BYTES)?;
    let title = archive
        .read_opt("meta.xml", MAX_PART_BYTES)?
        .and_then(|meta| meta_title(&meta));
    let presentation = kind != DocKind::Odt;
    let mut reader = Reader::from_reader(content.as_slice());
    let mut buf = Vec::new();
    let mut state = State::default();
    let mut out = Blocks::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| archive.invalid(format!("content.xml at byte {}: {e}", reader.buffer_position())))?;
        let empty = matches!(event, Event::Empty(_));
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name();
                let name = name.as_ref();
                if state.skip > 0 {
                    if !empty {
                        state.skip += 1;
                    }
                } else {
                    match name {
                        b"text:tracked-changes" | b"text:note-citation" | b"office:annotation" if !empty => {
                            state.skip = 1
                        }
                        b"text:p" | b"text:h" if !empty => {
                            let level = if name == b"text:h" {
                                attr(e, b"outline-level")
                                    .and_then(|l| l.parse::<u8>().ok())
                                    .unwrap_or(1)
                                    .clamp(1, 9)
                            } else {
                                0
                            };
                            state.paragraphs.push((String::new(), level));
                        }
                        b"text:s" => {
                            let n = attr(e, b"c").and_then(|c| c.parse::<usize>().ok()).unwrap_or(1).min(64);
                            if let Some((p, _)) = state.paragraphs.last_mut() {
                                p.push_str(&" ".repeat(n));
                            }
                        }
                        b"text:tab" | b"text:line-break" => {
                            if let Some((p, _)) = state.paragraphs.last_mut() {
                                p.push(' ');
                            }
                        }
                        b"table:table" if !empty => state.tables.start_table(),
                        b"table:table-row" if !empty => state.tables.start_row(),
                        b"table:table-cell" | b"table:covered-table-cell" if !empty => state.tables.start_cell(),
                        b"table:table-cell" | b"table:covered-table-cell" => state.tables.end_cell(),
                        b"draw:page" if presentation && !empty => {
                            state.slides += 1;
                            state.slide = Slide::default();
                        }
                        b"draw:frame" if presentation => {
                            let class = attr(e, b"class").unwrap_or_default();
                            state.title_frame = class == "title";
                        }
                        b"presentation:notes" if !empty => state.in_notes = true,
                        _ => {}
                    }
                }
            }
            Event::End(e) => {
                let name = e.name();
                let name = name.as_ref();
                if state.skip > 0 {
                    state.skip -= 1;
                } else {
                    match name {
                        b"text:p" | b"text:h" => {
                            let (text, level) = state.paragraphs.pop().unwrap_or_default();
                            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                            if let Some((outer, _)) = state.paragraphs.last_mut() {
                                outer.push(' ');
                                outer.push_str(&text);
                            } else if let Some(text) = state.tables.paragraph(text) {
                                state.paragraph(text, level, presentation, &mut out);
                            }
                        }
                        b"table:table-cell" | b"table:covered-table-cell" => state.tables.end_cell(),
                        b"table:table" => match state.tables.end_table() {
                            Some(rows) if presentation => state.slide.blocks.push(SlideBlock::Table(rows)),
                            Some(rows) => out.table(rows),
                            None => {}
                        },
                        b"draw:frame" => state.title_frame = false,
                        b"presentation:notes" => state.in_notes = false,
                        b"draw:page" if presentation => std::mem::take(&mut state.slide).write(&mut out, state.slides),
                        _ => {}
                    }
                }
            }
            text @ (Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)) if state.skip == 0 => {
                if let Some((p, _)) = state.paragraphs.last_mut() {
                    push_xml_text(text, p).map_err(|e| archive.invalid(format!("content.xml: {e}")))?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if presentation {
        let title = title.or_else(|| out.outline.first().map(|h| h.text.clone()));
        out.into_parts(path, kind, title)
    } else {
        out.into_sectioned(path, kind, title)
    }
}

/// `dc:title` of a `meta.xml` part.
fn meta_title(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    let mut title = String::new();
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match &event {
            Event::Start(e) if e.local_name().as_ref() == b"title" => inside = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => break,
            text @ (Event::Text(_) | Event::GeneralRef(_)) if inside => {
                push_xml_text(text, &mut title).ok()?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}
