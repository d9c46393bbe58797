//! EPUB books: `META-INF/container.xml` names the package document, whose spine gives the reading order of
//! the XHTML content documents; each is read by the HTML connector and becomes a numbered chapter (its
//! headings the outline beneath it). A citation names the chapter: `chapter 3 (The harbour)`. The book's
//! title is the package's `dc:title`.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::archive::{resolve, Archive};
use crate::blocks::{push_xml_text, Blocks};
use crate::document::{Document, Heading, LocationMap};
use crate::slides::attr;
use crate::{Connector, DocKind, Error};

/// One part of a book, at most this many bytes once inflated.
const MAX_PART_BYTES: u64 = 64 << 20;

/// Loads `.epub` files.
pub(crate) struct EpubConnector;

/// What the package document says: the title, and the spine's content documents in reading order.
#[derive(Debug, Default, PartialEq)]
struct Package {
    title: Option<String>,
    spine: Vec<String>,
}

fn rootfile(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"rootfile" => {
                return attr(&e, b"full-path");
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
    None
}

fn package(opf: &str, xml: &[u8]) -> Package {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut manifest: Vec<(String, String, String)> = Vec::new();
    let mut idrefs = Vec::new();
    let mut title: Option<String> = None;
    let mut in_title = false;
    let mut text = String::new();
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"item" => {
                    if let (Some(id), Some(href)) = (attr(e, b"id"), attr(e, b"href")) {
                        manifest.push((id, href, attr(e, b"media-type").unwrap_or_default()));
                    }
                }
                b"itemref" if attr(e, b"linear").as_deref() != Some("no") => {
                    idrefs.extend(attr(e, b"idref"));
                }
                b"title" if title.is_none() && matches!(event, Event::Start(_)) => {
                    in_title = true;
                    text.clear();
                }
                _ => {}
            },
            Event::End(e) if in_title && e.local_name().as_ref() == b"title" => {
                in_title = false;
                let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
                title = (!t.is_empty()).then_some(t);
            }
            t @ (Event::Text(_) | Event::GeneralRef(_)) if in_title => {
                let _ = push_xml_text(t, &mut text);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let spine = idrefs
        .iter()
        .filter_map(|id| manifest.iter().find(|(mid, _, _)| mid == id))
        .filter(|(_, _, media)| media.is_empty() || media.contains("html") || media.contains("xml"))
        .map(|(_, href, _)| resolve(opf, href))
        .collect();
    Package { title, spine }
}

impl Connector for EpubConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let mut archive = Archive::open(path, bytes, "an .epub")?;
        let container = archive.read("META-INF/container.xml", MAX_PART_BYTES)?;
        let opf = rootfile(&container)
            .ok_or_else(|| archive.invalid("META-INF/container.xml names no package document".into()))?;
        let package = package(&opf, &archive.read(&opf, MAX_PART_BYTES)?);
        if package.spine.is_empty() {
            return Err(archive.invalid(format!("{opf} lists no content documents in its spine")));
        }
        let mut out = Blocks::default();
        let mut chapter = 0u32;
        let mut warnings = Vec::new();
        for part in &package.spine {
            let Some(xhtml) = archive.read_opt(part, MAX_PART_BYTES)? else {
                warnings.push(format!("{part} is in the spine but not in the archive"));
                continue;
            };
            let doc = match crate::html::HtmlConnector.load(Path::new(part), &xhtml) {
                Ok(doc) => doc,
                Err(Error::Empty { .. }) => continue,
                Err(e) => {
                    warnings.push(format!("{part} skipped: {e}"));
                    continue;
                }
            };
            chapter += 1;
            out.part(chapter);
            let base = out.text.len();
            out.text.push_str(&doc.text);
            // The chapter's headings (the HTML connector's sections) become its outline; a chapter without
            // headings is named by its title, if any.
            let (sections, from_title) = match &doc.map {
                LocationMap::Sections(sections) if !sections.is_empty() => (sections.clone(), false),
                _ => (doc.title.iter().map(|t| (0, t.trim().to_owned())).collect(), true),
            };
            for (offset, text) in sections.into_iter().filter(|(_, t)| !t.is_empty()) {
                let offset = offset.min(doc.text.len());
                let end = match from_title {
                    true => offset,
                    false => doc.text[offset..].find('\n').map_or(doc.text.len(), |i| offset + i + 1),
                };
                out.outline.push(Heading {
                    offset: base + offset,
                    end: base + end,
                    level: 1,
                    text,
                });
            }
        }
        let mut doc = out.into_parts(path, DocKind::Epub, package.title)?;
        doc.warnings.extend(warnings);
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spine_orders_the_chapters() {
        let opf = br#"<package xmlns="http://www.idpf.org/2007/opf"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Tide &amp; Time</dc:title></metadata>
<manifest><item id="c2" href="Text/two.xhtml" media-type="application/xhtml+xml"/><item id="c1" href="Text/one.xhtml" media-type="application/xhtml+xml"/><item id="css" href="s.css" media-type="text/css"/></manifest>
<spine><itemref idref="c1"/><itemref idref="css"/><itemref idref="c2"/></spine></package>"#;
        let p = package("OEBPS/content.opf", opf);
        assert_eq!(p.title.as_deref(), Some("Tide & Time"));
        assert_eq!(p.spine, vec!["OEBPS/Text/one.xhtml", "OEBPS/Text/two.xhtml"]);
        assert_eq!(
            rootfile(br#"<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>"#)
                .as_deref(),
            Some("OEBPS/content.opf")
        );
    }
}
