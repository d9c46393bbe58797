//! Slide decks: PowerPoint (`.pptx`, read here from its XML parts) and OpenDocument presentations (`.odp`,
//! read by [`crate::odf`]). Each slide is a numbered part whose title (the title placeholder) is its heading;
//! its text, its tables (rows under their header) and its speaker notes follow. A citation names the slide:
//! `slide 4 (Quarterly results)`.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::archive::{resolve, Archive};
use crate::blocks::{push_xml_text, Blocks, Tables};
use crate::document::Document;
use crate::{Connector, DocKind, Error};

/// One XML part of a deck, at most this many bytes once inflated.
const MAX_PART_BYTES: u64 = 64 << 20;

/// Loads slide decks; the [`DocKind`] it carries says which format.
pub(crate) struct SlidesConnector(pub(crate) DocKind);

impl Connector for SlidesConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        match self.0.name() {
            "odp" => crate::odf::load(path, bytes, self.0),
            _ => pptx(path, bytes),
        }
    }
}

/// The attribute `name` (local name) of an element.
pub(crate) fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// The `Target` of each relationship of a `.rels` part, by `Id`, with its `Type`.
fn relationships(xml: &[u8]) -> Vec<(String, String, String)> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                if let (Some(id), Some(target)) = (attr(&e, b"Id"), attr(&e, b"Target")) {
                    out.push((id, target, attr(&e, b"Type").unwrap_or_default()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

/// The slide parts in presentation order: from `ppt/presentation.xml`'s slide list through its
/// relationships, else the `ppt/slides/slideN.xml` entries by number.
fn slide_parts(archive: &mut Archive<'_>) -> Result<Vec<String>, Error> {
    let rels = archive
        .read_opt("ppt/_rels/presentation.xml.rels", MAX_PART_BYTES)?
        .map(|x| relationships(&x))
        .unwrap_or_default();
    let mut ordered = Vec::new();
    if let Some(xml) = archive.read_opt("ppt/presentation.xml", MAX_PART_BYTES)? {
        let mut reader = Reader::from_reader(xml.as_slice());
        let mut buf = Vec::new();
        while let Ok(event) = reader.read_event_into(&mut buf) {
            match event {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sldId" => {
                    if let Some(id) = attr_r_id(&e) {
                        if let Some((_, target, _)) = rels.iter().find(|(rid, _, _)| *rid == id) {
                            ordered.push(resolve("ppt/presentation.xml", target));
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
    }
    let names = archive.names();
    ordered.retain(|p| names.contains(p));
    if ordered.is_empty() {
        let mut numbered: Vec<(u32, String)> = names
            .into_iter()
            .filter_map(|n| {
                let number = n.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?.parse().ok()?;
                Some((number, n))
            })
            .collect();
        numbered.sort();
        ordered = numbered.into_iter().map(|(_, n)| n).collect();
    }
    Ok(ordered)
}

/// The `r:id` attribute of a slide id (the relationships namespace's `id`, beside the plain numeric `id`).
fn attr_r_id(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().ends_with(b":id") && a.key.local_name().as_ref() == b"id")
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// What one slide (or notes page) says, in either format: its title, its paragraphs and tables in order,
/// its speaker notes.
#[derive(Default)]
pub(crate) struct Slide {
    pub(crate) title: Option<String>,
    pub(crate) blocks: Vec<SlideBlock>,
    pub(crate) notes: Vec<String>,
}

pub(crate) enum SlideBlock {
    Paragraph(String),
    Table(Vec<Vec<String>>),
}

impl Slide {
    /// Appends the slide to `out` as part `n`: its title as the heading, its paragraphs and tables, then
    /// `Speaker notes: ...`.
    pub(crate) fn write(self, out: &mut Blocks, n: u32) {
        out.part(n);
        if let Some(title) = &self.title {
            out.block(title, 1);
        }
        for block in self.blocks {
            match block {
                SlideBlock::Paragraph(p) => out.block(&p, 0),
                SlideBlock::Table(rows) => out.table(rows),
            }
        }
        if !self.notes.is_empty() {
            out.block(&format!("Speaker notes: {}", self.notes.join(" ")), 0);
        }
    }
}

/// Reads a slide or notes part: shapes' paragraphs; placeholders of type `title`/`ctrTitle` give the title,
/// `sldNum`, `dt`, `ftr`, `hdr` and `sldImg` are left out.
fn read_slide(xml: &[u8]) -> Result<Slide, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Slide::default();
    // Per shape: its placeholder type; per paragraph: its text.
    let mut placeholder: Option<String> = None;
    let mut paragraph: Option<String> = None;
    let mut in_text = false;
    let mut tables = Tables::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"sp" => placeholder = None,
                b"ph" => placeholder = Some(attr(e, b"type").unwrap_or_else(|| "body".into())),
                b"p" if matches!(event, Event::Start(_)) => paragraph = Some(String::new()),
                b"t" => in_text = matches!(event, Event::Start(_)),
                b"br" => {
                    if let Some(p) = paragraph.as_mut() {
                        p.push(' ');
                    }
                }
                b"tbl" => tables.start_table(),
                b"tr" => tables.start_row(),
                b"tc" => tables.start_cell(),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    let text = paragraph.take().unwrap_or_default();
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if text.is_empty() {
                        // Nothing.
                    } else if let Some(text) = tables.paragraph(text) {
                        match placeholder.as_deref() {
                            Some("title" | "ctrTitle") => match out.title.as_mut() {
                                Some(t) => {
                                    t.push(' ');
                                    t.push_str(&text);
                                }
                                None => out.title = Some(text),
                            },
                            Some("sldNum" | "dt" | "ftr" | "hdr" | "sldImg") => {}
                            _ => out.blocks.push(SlideBlock::Paragraph(text)),
                        }
                    }
                }
                b"tc" => tables.end_cell(),
                b"tbl" => {
                    if let Some(rows) = tables.end_table() {
                        out.blocks.push(SlideBlock::Table(rows));
                    }
                }
                b"sp" => placeholder = None,
                _ => {}
            },
            text @ (Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)) if in_text => {
                if let Some(p) = paragraph.as_mut() {
                    push_xml_text(text, p)?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

fn pptx(path: &Path, bytes: &[u8]) -> Result<Document, Error> {
    let mut archive = Archive::open(path, bytes, "a .pptx")?;
    let slides = slide_parts(&mut archive)?;
    if slides.is_empty() {
        return Err(archive.invalid("it has no slides (ppt/slides/slideN.xml)".into()));
    }
    let mut out = Blocks::default();
    let mut deck_title = None;
    for (i, part) in slides.iter().enumerate() {
        let xml = archive.read(part, MAX_PART_BYTES)?;
        let mut slide = read_slide(&xml).map_err(|e| archive.invalid(format!("{part}: {e}")))?;
        // Speaker notes: the slide's relationship of type notesSlide.
        let rels_name = resolve(
            part,
            &format!("_rels/{}.rels", part.rsplit('/').next().unwrap_or_default()),
        );
        let notes = match archive.read_opt(&rels_name, MAX_PART_BYTES)? {
            Some(rels) => match relationships(&rels)
                .into_iter()
                .find(|(_, _, t)| t.ends_with("/notesSlide"))
            {
                Some((_, target, _)) => {
                    let notes_part = resolve(part, &target);
                    match archive.read_opt(&notes_part, MAX_PART_BYTES)? {
                        Some(xml) => Some(read_slide(&xml).map_err(|e| archive.invalid(format!("{notes_part}: {e}")))?),
                        None => None,
                    }
                }
                None => None,
            },
            None => None,
        };
        if let Some(title) = &slide.title {
            deck_title.get_or_insert_with(|| title.clone());
        }
        // The notes page's paragraphs (its slide image and tables left out).
        slide.notes = notes
            .map(|n| n.blocks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| match b {
                SlideBlock::Paragraph(p) => Some(p),
                SlideBlock::Table(_) => None,
            })
            .collect();
        slide.write(&mut out, i as u32 + 1);
    }
    out.into_parts(path, DocKind::Slides("pptx"), deck_title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slide_has_its_title_body_table_and_leaves_the_slide_number_out() {
        let xml = br#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>
<p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Quarterly &amp; yearly</a:t></a:r></a:p></p:txBody></p:sp>
<p:sp><p:nvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Revenue grew</a:t></a:r><a:r><a:t> 12 percent</a:t></a:r></a:p></p:txBody></p:sp>
<p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>7</a:t></a:r></a:p></p:txBody></p:sp>
<p:graphicFrame><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Region</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Sales</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
<a:tr><a:tc><a:txBody><a:p><a:r><a:t>North</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>40</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></p:graphicFrame>
</p:spTree></p:cSld></p:sld>"#;
        let slide = read_slide(xml).unwrap();
        assert_eq!(slide.title.as_deref(), Some("Quarterly & yearly"));
        let mut out = Blocks::default();
        slide.write(&mut out, 1);
        assert_eq!(
            out.text,
            "# Quarterly & yearly\n\nRevenue grew 12 percent\n\nRegion: North; Sales: 40"
        );
    }
}
