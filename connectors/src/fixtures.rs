//! Generated documents of every format, for tests and benchmarks (feature `fixtures`): small writers that
//! produce the parts a real office suite, e-book tool or mail client writes, so that the connectors are tested
//! on files built by code here rather than on downloaded documents.
//!
//! Tables are given as rows of cells (the first row the header); slides, chapters and messages as
//! `(title, paragraphs)`.

use std::io::Write;

/// A zip archive of `(name, bytes)` entries, deflated (the first entry stored when `stored_first`, as the
/// OpenDocument and EPUB `mimetype` entry must be).
pub fn zip(entries: &[(&str, Vec<u8>)], stored_first: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (i, (name, bytes)) in entries.iter().enumerate() {
        let method = if stored_first && i == 0 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// `text` with XML's special characters escaped.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The column letters of 0-based column `c`: A, B, ..., Z, AA, ...
fn column(mut c: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// An `.xlsx` workbook with one worksheet per `(name, rows)`; cells that parse as numbers are numbers, the
/// rest inline strings.
pub fn xlsx(sheets: &[(&str, Vec<Vec<String>>)]) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let overrides: String = (1..=sheets.len())
        .map(|i| {
            format!(r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#)
        })
        .collect();
    entries.push(("[Content_Types].xml".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#).into_bytes()));
    entries.push(("_rels/.rels".into(), br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()));
    let sheet_list: String = sheets
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            format!(
                r#"<sheet name="{}" sheetId="{}" r:id="rId{}"/>"#,
                esc(name),
                i + 1,
                i + 1
            )
        })
        .collect();
    entries.push(("xl/workbook.xml".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheet_list}</sheets></workbook>"#).into_bytes()));
    let rels: String = (1..=sheets.len())
        .map(|i| format!(r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#))
        .collect();
    entries.push(("xl/_rels/workbook.xml.rels".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#).into_bytes()));
    for (i, (_, rows)) in sheets.iter().enumerate() {
        let mut data = String::new();
        for (r, row) in rows.iter().enumerate() {
            data.push_str(&format!(r#"<row r="{}">"#, r + 1));
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                let at = format!("{}{}", column(c), r + 1);
                if cell.parse::<f64>().is_ok() {
                    data.push_str(&format!(r#"<c r="{at}"><v>{cell}</v></c>"#));
                } else {
                    data.push_str(&format!(
                        r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#,
                        esc(cell)
                    ));
                }
            }
            data.push_str("</row>");
        }
        entries.push((
            format!("xl/worksheets/sheet{}.xml", i + 1),
            format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#).into_bytes(),
        ));
    }
    let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip(&entries, false)
}

/// UTF-16LE bytes of `text`.
fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A compound file (the OLE container of .xls and .msg; version 3, 512-byte sectors, as Excel and Outlook
/// write it) holding `(path, bytes)` streams; storages on a
/// stream's path are created as needed.
fn compound_file(streams: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
        .expect("compound file");
    for (path, bytes) in streams {
        let mut parent = String::new();
        let dirs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for dir in &dirs[..dirs.len() - 1] {
            parent.push('/');
            parent.push_str(dir);
            if !file.exists(&parent) {
                file.create_storage(&parent).expect("storage");
            }
        }
        let mut stream = file.create_stream(path).expect("stream");
        stream.write_all(bytes).expect("stream write");
    }
    file.flush().expect("compound file flush");
    file.into_inner().into_inner()
}

/// A BIFF8 record: type, length, data.
fn biff(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// A legacy Excel 97-2003 `.xls` workbook (BIFF8 in a compound file), one worksheet per `(name, rows)`;
/// cells that parse as numbers are NUMBER records, the rest LABEL records.
pub fn xls(sheets: &[(&str, Vec<Vec<String>>)]) -> Vec<u8> {
    let bof = |dt: u16| -> Vec<u8> {
        let mut d = vec![0x00, 0x06];
        d.extend_from_slice(&dt.to_le_bytes());
        d.extend_from_slice(&[0xBB, 0x0D, 0xCC, 0x07, 0, 0, 0, 0, 0x06, 0, 0, 0]);
        d
    };
    let mut substreams = Vec::new();
    for (_, rows) in sheets {
        let mut sheet = Vec::new();
        biff(&mut sheet, 0x0809, &bof(0x0010));
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                let mut d = Vec::new();
                d.extend_from_slice(&(r as u16).to_le_bytes());
                d.extend_from_slice(&(c as u16).to_le_bytes());
                d.extend_from_slice(&0u16.to_le_bytes());
                if let Ok(v) = cell.parse::<f64>() {
                    d.extend_from_slice(&v.to_le_bytes());
                    biff(&mut sheet, 0x0203, &d);
                } else {
                    d.extend_from_slice(&(cell.encode_utf16().count() as u16).to_le_bytes());
                    d.push(1);
                    d.extend_from_slice(&utf16(cell));
                    biff(&mut sheet, 0x0204, &d);
                }
            }
        }
        biff(&mut sheet, 0x000A, &[]);
        substreams.push(sheet);
    }
    // The globals substream, whose BoundSheet8 records point at each sheet's offset in the stream.
    let globals_len = |names: &[&str]| -> usize {
        20 + 6
            + 4
            + names
                .iter()
                .map(|n| 4 + 8 + 2 * n.encode_utf16().count())
                .sum::<usize>()
    };
    let names: Vec<&str> = sheets.iter().map(|(n, _)| *n).collect();
    let mut offset = globals_len(&names);
    let mut globals = Vec::new();
    biff(&mut globals, 0x0809, &bof(0x0005));
    biff(&mut globals, 0x0042, &1200u16.to_le_bytes());
    for (name, sheet) in names.iter().zip(&substreams) {
        let mut d = Vec::new();
        d.extend_from_slice(&(offset as u32).to_le_bytes());
        d.extend_from_slice(&[0, 0]);
        d.push(name.encode_utf16().count() as u8);
        d.push(1);
        d.extend_from_slice(&utf16(name));
        biff(&mut globals, 0x0085, &d);
        offset += sheet.len();
    }
    biff(&mut globals, 0x000A, &[]);
    debug_assert_eq!(globals.len(), globals_len(&names));
    let mut stream = globals;
    for sheet in substreams {
        stream.extend(sheet);
    }
    compound_file(&[("/Workbook".to_owned(), stream)])
}

/// An XLSB record: its type and length as the 7-bit varints of MS-XLSB 2.1.4, then the data.
fn xlsb_record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    if typ < 0x80 {
        out.push(typ as u8);
    } else {
        out.extend_from_slice(&[(typ & 0x7F) as u8 | 0x80, (typ >> 7) as u8]);
    }
    let mut len = data.len();
    loop {
        let byte = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(data);
}

/// An XLWideString: a u32 character count, then UTF-16LE.
fn wide(text: &str) -> Vec<u8> {
    let mut d = (text.encode_utf16().count() as u32).to_le_bytes().to_vec();
    d.extend(utf16(text));
    d
}

/// An Excel binary workbook (`.xlsb`), one worksheet per `(name, rows)`; cells that parse as numbers are
/// BrtCellReal records, the rest BrtCellSt.
pub fn xlsb(sheets: &[(&str, Vec<Vec<String>>)]) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    // BrtBeginBook, BrtBeginBundleShs, a BrtBundleSh per sheet, BrtEndBundleShs, BrtEndBook.
    let mut workbook = Vec::new();
    xlsb_record(&mut workbook, 0x0083, &[]);
    xlsb_record(&mut workbook, 0x008F, &[]);
    let mut rels = String::new();
    for (i, (name, rows)) in sheets.iter().enumerate() {
        let mut d = 0u32.to_le_bytes().to_vec();
        d.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        d.extend(wide(&format!("rId{}", i + 1)));
        d.extend(wide(name));
        xlsb_record(&mut workbook, 0x009C, &d);
        rels.push_str(&format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{}.bin"/>"#, i + 1, i + 1));
        let mut sheet = Vec::new();
        let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let dim: Vec<u8> = [0u32, rows.len().max(1) as u32 - 1, 0, width as u32 - 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        xlsb_record(&mut sheet, 0x0094, &dim);
        xlsb_record(&mut sheet, 0x0091, &[]);
        for (r, row) in rows.iter().enumerate() {
            xlsb_record(&mut sheet, 0x0000, &(r as u32).to_le_bytes());
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                let mut d = (c as u32).to_le_bytes().to_vec();
                d.extend_from_slice(&[0, 0, 0, 0]);
                if let Ok(v) = cell.parse::<f64>() {
                    d.extend_from_slice(&v.to_le_bytes());
                    xlsb_record(&mut sheet, 0x0005, &d);
                } else {
                    d.extend(wide(cell));
                    xlsb_record(&mut sheet, 0x0006, &d);
                }
            }
        }
        xlsb_record(&mut sheet, 0x0092, &[]);
        entries.push((format!("xl/worksheets/sheet{}.bin", i + 1), sheet));
    }
    xlsb_record(&mut workbook, 0x0090, &[]);
    xlsb_record(&mut workbook, 0x0084, &[]);
    entries.push(("xl/workbook.bin".into(), workbook));
    entries.push(("xl/_rels/workbook.bin.rels".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#).into_bytes()));
    let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip(&entries, false)
}

fn odf(mimetype: &str, body: &str, title: Option<&str>) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" office:version="1.3"><office:body>{body}</office:body></office:document-content>"#
    );
    let meta = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>{}</office:meta></office:document-meta>"#,
        title.map_or(String::new(), |t| format!("<dc:title>{}</dc:title>", esc(t)))
    );
    let manifest = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#
    );
    zip(
        &[
            ("mimetype", mimetype.as_bytes().to_vec()),
            ("content.xml", content.into_bytes()),
            ("meta.xml", meta.into_bytes()),
            ("META-INF/manifest.xml", manifest.into_bytes()),
        ],
        true,
    )
}

fn odf_table(rows: &[Vec<String>]) -> String {
    let rows: String = rows
        .iter()
        .map(|row| {
            let cells: String = row
                .iter()
                .map(|c| {
                    if c.parse::<f64>().is_ok() {
                        format!(r#"<table:table-cell office:value-type="float" office:value="{c}"><text:p>{c}</text:p></table:table-cell>"#)
                    } else {
                        format!(r#"<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>"#, esc(c))
                    }
                })
                .collect();
            format!("<table:table-row>{cells}</table:table-row>")
        })
        .collect();
    rows
}

/// An `.ods` spreadsheet with one table per `(name, rows)`.
pub fn ods(sheets: &[(&str, Vec<Vec<String>>)]) -> Vec<u8> {
    let tables: String = sheets
        .iter()
        .map(|(name, rows)| {
            format!(
                r#"<table:table table:name="{}">{}</table:table>"#,
                esc(name),
                odf_table(rows)
            )
        })
        .collect();
    odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        &format!("<office:spreadsheet>{tables}</office:spreadsheet>"),
        None,
    )
}

/// A block of a text document.
pub enum Block {
    /// A heading of a level (1 = top).
    Heading(u8, String),
    /// A paragraph.
    Paragraph(String),
    /// A table, its first row the header.
    Table(Vec<Vec<String>>),
}

/// An `.odt` text document titled `title`.
pub fn odt(title: &str, blocks: &[Block]) -> Vec<u8> {
    let body: String = blocks
        .iter()
        .map(|b| match b {
            Block::Heading(level, text) => format!(r#"<text:h text:outline-level="{level}">{}</text:h>"#, esc(text)),
            Block::Paragraph(text) => format!("<text:p>{}</text:p>", esc(text)),
            Block::Table(rows) => format!(r#"<table:table table:name="T">{}</table:table>"#, odf_table(rows)),
        })
        .collect();
    odf(
        "application/vnd.oasis.opendocument.text",
        &format!("<office:text>{body}</office:text>"),
        Some(title),
    )
}

/// A `.docx` Word document with the blocks (headings as `HeadingN` styles, the title as `Title`).
pub fn docx(title: &str, blocks: &[Block]) -> Vec<u8> {
    let para = |style: Option<String>, text: &str| {
        let style = style.map_or(String::new(), |s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#));
        format!(
            r#"<w:p>{style}<w:r><w:t xml:space="preserve">{}</w:t></w:r></w:p>"#,
            esc(text)
        )
    };
    let mut body = para(Some("Title".into()), title);
    for b in blocks {
        body.push_str(&match b {
            Block::Heading(level, text) => para(Some(format!("Heading{level}")), text),
            Block::Paragraph(text) => para(None, text),
            Block::Table(rows) => {
                let rows: String = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "<w:tr>{}</w:tr>",
                            r.iter()
                                .map(|c| format!("<w:tc>{}</w:tc>", para(None, c)))
                                .collect::<String>()
                        )
                    })
                    .collect();
                format!("<w:tbl>{rows}</w:tbl>")
            }
        });
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    zip(
        &[
            ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_vec()),
            ("word/document.xml", document.into_bytes()),
        ],
        false,
    )
}

/// A slide: its title, its paragraphs, its speaker notes.
pub struct Slide {
    /// The title placeholder's text.
    pub title: String,
    /// The body's paragraphs.
    pub body: Vec<String>,
    /// Speaker notes, if any.
    pub notes: Option<String>,
}

/// A `.pptx` deck. Slides are listed in `ppt/presentation.xml` in the order given, but their part names are
/// numbered in reverse, so a reader that orders by file name gets them wrong.
pub fn pptx(slides: &[Slide]) -> Vec<u8> {
    const P: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#;
    let n = slides.len();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    entries.push(("[Content_Types].xml".into(), br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>"#.to_vec()));
    let ids: String = (0..n)
        .map(|i| format!(r#"<p:sldId id="{}" r:id="rId{}"/>"#, 256 + i, i + 1))
        .collect();
    entries.push(("ppt/presentation.xml".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation {P}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#).into_bytes()));
    let rels: String = (0..n)
        .map(|i| format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide{}.xml"/>"#, i + 1, n - i))
        .collect();
    entries.push(("ppt/_rels/presentation.xml.rels".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#).into_bytes()));
    let shape = |ph: &str, paragraphs: &[String]| {
        let paras: String = paragraphs
            .iter()
            .map(|p| format!("<a:p><a:r><a:t>{}</a:t></a:r></a:p>", esc(p)))
            .collect();
        format!(
            r#"<p:sp><p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr>{ph}</p:nvPr></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/>{paras}</p:txBody></p:sp>"#
        )
    };
    for (i, slide) in slides.iter().enumerate() {
        let number = n - i;
        let tree = [
            shape(r#"<p:ph type="title"/>"#, std::slice::from_ref(&slide.title)),
            shape(r#"<p:ph idx="1"/>"#, &slide.body),
            shape(r#"<p:ph type="sldNum"/>"#, &[format!("{}", i + 1)]),
        ]
        .concat();
        entries.push((format!("ppt/slides/slide{number}.xml"), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld {P}><p:cSld><p:spTree>{tree}</p:spTree></p:cSld></p:sld>"#).into_bytes()));
        if let Some(notes) = &slide.notes {
            entries.push((format!("ppt/slides/_rels/slide{number}.xml.rels"), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide{number}.xml"/></Relationships>"#).into_bytes()));
            let tree = [
                shape(r#"<p:ph type="sldImg"/>"#, &[]),
                shape(r#"<p:ph type="body" idx="1"/>"#, std::slice::from_ref(notes)),
            ]
            .concat();
            entries.push((format!("ppt/notesSlides/notesSlide{number}.xml"), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:notes {P}><p:cSld><p:spTree>{tree}</p:spTree></p:cSld></p:notes>"#).into_bytes()));
        }
    }
    let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip(&entries, false)
}

/// An `.odp` presentation.
pub fn odp(slides: &[Slide]) -> Vec<u8> {
    let pages: String = slides
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let body: String = s.body.iter().map(|p| format!("<text:p>{}</text:p>", esc(p))).collect();
            let notes = s.notes.as_ref().map_or(String::new(), |n| {
                format!(r#"<presentation:notes><draw:frame presentation:class="notes"><draw:text-box><text:p>{}</text:p></draw:text-box></draw:frame></presentation:notes>"#, esc(n))
            });
            format!(
                r#"<draw:page draw:name="page{}"><draw:frame presentation:class="title"><draw:text-box><text:p>{}</text:p></draw:text-box></draw:frame><draw:frame presentation:class="outline"><draw:text-box>{body}</draw:text-box></draw:frame>{notes}</draw:page>"#,
                i + 1,
                esc(&s.title)
            )
        })
        .collect();
    odf(
        "application/vnd.oasis.opendocument.presentation",
        &format!("<office:presentation>{pages}</office:presentation>"),
        None,
    )
}

/// An `.epub` book titled `title`, one XHTML chapter per `(heading, paragraphs)`, with a cover page (no text
/// but an image) first in the spine.
pub fn epub(title: &str, chapters: &[(String, Vec<String>)]) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("mimetype".into(), b"application/epub+zip".to_vec()),
        ("META-INF/container.xml".into(), br#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#.to_vec()),
    ];
    let xhtml = |head: &str, body: &str| {
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{}</title></head><body>{body}</body></html>"#, esc(head)).into_bytes()
    };
    entries.push((
        "OEBPS/Text/cover.xhtml".into(),
        xhtml("Cover", r#"<div><img src="../cover.jpg" alt=""/></div>"#),
    ));
    let mut manifest = String::from(r#"<item id="cover" href="Text/cover.xhtml" media-type="application/xhtml+xml"/>"#);
    let mut spine = String::from(r#"<itemref idref="cover"/>"#);
    for (i, (heading, paragraphs)) in chapters.iter().enumerate() {
        let body: String = std::iter::once(format!("<h1>{}</h1>", esc(heading)))
            .chain(paragraphs.iter().map(|p| format!("<p>{}</p>", esc(p))))
            .collect();
        entries.push((format!("OEBPS/Text/chapter {}.xhtml", i + 1), xhtml(heading, &body)));
        manifest.push_str(&format!(
            r#"<item id="c{}" href="Text/chapter%20{}.xhtml" media-type="application/xhtml+xml"/>"#,
            i + 1,
            i + 1
        ));
        spine.push_str(&format!(r#"<itemref idref="c{}"/>"#, i + 1));
    }
    entries.push(("OEBPS/content.opf".into(), format!(r#"<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:rag-fixture</dc:identifier><dc:title>{}</dc:title><dc:language>en</dc:language></metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>"#, esc(title)).into_bytes()));
    let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip(&entries, true)
}

/// A notebook cell.
pub enum Cell {
    /// Markdown source.
    Markdown(String),
    /// Code source and its printed output.
    Code(String, String),
}

/// An `.ipynb` notebook (nbformat 4, Python kernel), sources as lists of lines as Jupyter writes them.
pub fn ipynb(cells: &[Cell]) -> Vec<u8> {
    let lines = |s: &str| serde_json::Value::from(s.split_inclusive('\n').collect::<Vec<_>>());
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| match c {
            Cell::Markdown(s) => serde_json::json!({"cell_type": "markdown", "metadata": {}, "source": lines(s)}),
            Cell::Code(s, out) => serde_json::json!({
                "cell_type": "code", "execution_count": 1, "metadata": {}, "source": lines(s),
                "outputs": [{"output_type": "stream", "name": "stdout", "text": lines(out)},
                            {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure size 640x480>"]}}]
            }),
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5
    }))
    .unwrap_or_default()
}

/// One e-mail message (RFC 5322) with a text body and `(file name, bytes)` attachments, base64-encoded.
pub fn eml(from: &str, subject: &str, date: &str, body: &str, attachments: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use base64_lite::encode;
    let mut out = format!(
        "From: {from}\r\nTo: team@example.com\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{}@example.com>\r\nMIME-Version: 1.0\r\n",
        subject.len() * 7919 + date.len()
    );
    if attachments.is_empty() {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        out.push_str(&body.replace('\n', "\r\n"));
        out.push_str("\r\n");
        return out.into_bytes();
    }
    out.push_str("Content-Type: multipart/mixed; boundary=\"rag-boundary\"\r\n\r\n--rag-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    out.push_str(&body.replace('\n', "\r\n"));
    out.push_str("\r\n");
    for (name, bytes) in attachments {
        out.push_str(&format!(
            "--rag-boundary\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        let encoded = encode(bytes);
        for line in encoded.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push_str("\r\n");
        }
    }
    out.push_str("--rag-boundary--\r\n");
    out.into_bytes()
}

/// An Outlook `.msg` message (MS-OXMSG: a compound file of `__substg1.0_` property streams): sender, one
/// recipient, subject, plain-text body, sent time (`unix_seconds`), and attachments `(file name, bytes)`.
pub fn msg(
    from: (&str, &str),
    to: &str,
    subject: &str,
    unix_seconds: u64,
    body: &str,
    attachments: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    msg_with(
        from,
        to,
        subject,
        unix_seconds,
        &MsgBody::Text(body.to_owned()),
        attachments,
    )
}

/// The body of an Outlook message, in the property Outlook stores it in.
pub enum MsgBody {
    /// Plain text (`PR_BODY`).
    Text(String),
    /// HTML only (`PR_HTML`, a binary property).
    Html(String),
    /// RTF only (`PR_RTF_COMPRESSED`, here in its uncompressed `MELA` form).
    Rtf(String),
}

/// [`msg`] with its body given as [`MsgBody`].
pub fn msg_with(
    from: (&str, &str),
    to: &str,
    subject: &str,
    unix_seconds: u64,
    body: &MsgBody,
    attachments: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    let prop = |id: &str, kind: &str| format!("__substg1.0_{id}{kind}");
    let body = match body {
        MsgBody::Text(text) => (prop("1000", "001F"), utf16(text)),
        MsgBody::Html(html) => (prop("1013", "0102"), html.as_bytes().to_vec()),
        MsgBody::Rtf(rtf) => {
            let raw = rtf.as_bytes();
            let mut data = ((raw.len() + 12) as u32).to_le_bytes().to_vec();
            data.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            data.extend_from_slice(&0x414C_454Du32.to_le_bytes());
            data.extend_from_slice(&[0; 4]);
            data.extend_from_slice(raw);
            (prop("1009", "0102"), data)
        }
    };
    let mut streams = vec![
        (format!("/{}", prop("0037", "001F")), utf16(subject)),
        (format!("/{}", body.0), body.1),
        (format!("/{}", prop("0C1A", "001F")), utf16(from.0)),
        (format!("/{}", prop("5D01", "001F")), utf16(from.1)),
        (format!("/{}", prop("001A", "001F")), utf16("IPM.Note")),
    ];
    // Fixed-size properties: a 32-byte header, then 16-byte entries (tag, flags, value): ClientSubmitTime.
    let mut fixed = vec![0u8; 32];
    fixed.extend_from_slice(&0x0040u16.to_le_bytes());
    fixed.extend_from_slice(&0x0039u16.to_le_bytes());
    fixed.extend_from_slice(&[0; 4]);
    fixed.extend_from_slice(&((unix_seconds + 11_644_473_600) * 10_000_000).to_le_bytes());
    streams.push(("/__properties_version1.0".to_owned(), fixed));
    let recipient = "/__recip_version1.0_#00000000";
    streams.push((format!("{recipient}/{}", prop("3001", "001F")), utf16(to)));
    streams.push((format!("{recipient}/{}", prop("39FE", "001F")), utf16(to)));
    for (i, (name, bytes)) in attachments.iter().enumerate() {
        let dir = format!("/__attach_version1.0_#{i:08X}");
        streams.push((format!("{dir}/{}", prop("3707", "001F")), utf16(name)));
        streams.push((format!("{dir}/{}", prop("3701", "0102")), bytes.clone()));
    }
    compound_file(&streams)
}

/// An mbox mailbox of messages (each as [`eml`] writes them), `From ` lines escaped in bodies.
pub fn mbox(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(b"From sender@example.com Mon Jan  1 00:00:00 2024\n");
        let text = String::from_utf8_lossy(m).replace("\r\n", "\n");
        for line in text.lines() {
            if line.starts_with("From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// An `.rtf` document: a font table, then one paragraph per line; non-ASCII as `\uN?`.
pub fn rtf(paragraphs: &[String]) -> Vec<u8> {
    let mut out = String::from("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\froman Times New Roman;}}\n{\\*\\generator rag fixtures;}\\f0\\fs24\n");
    for p in paragraphs {
        for c in p.chars() {
            match c {
                '\\' | '{' | '}' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_ascii() => out.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{}?", *unit as i16));
                    }
                }
            }
        }
        out.push_str("\\par\n");
    }
    out.push('}');
    out.into_bytes()
}

/// Rows as CSV (quoted where needed).
pub fn csv(rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                if c.contains([',', '"', '\n']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// A PDF from object bodies, see [`pdf_with_trailer`].
fn pdf_file(objects: &[Vec<u8>]) -> Vec<u8> {
    pdf_with_trailer(objects, "")
}

/// A PDF from object bodies (object `i + 1` is `objects[i]`, object 1 the catalog), with a correct
/// cross-reference table and `trailer_extra` in the trailer (an `/Encrypt` entry, for example).
pub fn pdf_with_trailer<B: AsRef<[u8]>>(objects: &[B], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(body.as_ref());
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let size = objects.len() + 1;
    out.extend(
        format!("trailer\n<< /Size {size} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

fn pdf_stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

/// A one-page PDF (US Letter) with a text layer: `lines` in 14 pt Helvetica from the top left.
pub fn text_pdf(lines: &[&str]) -> Vec<u8> {
    text_pdf_pages(&[lines.iter().map(|l| l.to_string()).collect()])
}

/// A PDF with a text layer, one page (US Letter, 14 pt Helvetica from the top left) per list of lines.
pub fn text_pdf_pages(pages: &[Vec<String>]) -> Vec<u8> {
    let pages: Vec<PdfPage> = pages.iter().map(|lines| PdfPage::Text(lines.clone())).collect();
    pdf_pages(&pages)
}

/// A page of [`pdf_pages`].
pub enum PdfPage {
    /// A page with a text layer: lines in 14 pt Helvetica from the top left of a US Letter page.
    Text(Vec<String>),
    /// A scanned page: an 8-bit grey image (`width` × `height` pixels, row by row) at `dpi`, filling the
    /// page, with no text layer.
    Scan {
        /// Pixels across.
        width: usize,
        /// Pixels down.
        height: usize,
        /// `width × height` grey levels, row by row from the top.
        pixels: Vec<u8>,
        /// The resolution the page was scanned at, which sets its size.
        dpi: u32,
    },
}

/// A PDF of text pages and scanned pages, in order.
pub fn pdf_pages(pages: &[PdfPage]) -> Vec<u8> {
    let n = pages.len();
    // Objects 1-3: catalog, page tree, font; then per page: the page, its contents, its image if scanned.
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        Vec::new(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut kids = String::new();
    for page in pages {
        let page_id = objects.len() + 1;
        kids.push_str(&format!("{page_id} 0 R "));
        match page {
            PdfPage::Text(lines) => {
                let mut content = String::from("BT /F1 14 Tf 72 720 Td 20 TL\n");
                for line in lines {
                    let escaped = line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
                    content.push_str(&format!("({escaped}) Tj T*\n"));
                }
                content.push_str("ET");
                objects.push(
                    format!(
                        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
                        page_id + 1
                    )
                    .into_bytes(),
                );
                objects.push(pdf_stream("", content.as_bytes()));
            }
            PdfPage::Scan {
                width,
                height,
                pixels,
                dpi,
            } => {
                let (w, h) = (
                    *width as f64 * 72.0 / f64::from(*dpi),
                    *height as f64 * 72.0 / f64::from(*dpi),
                );
                let content = format!("q {w:.2} 0 0 {h:.2} 0 0 cm /Im1 Do Q");
                objects.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:.2} {h:.2}] /Contents {} 0 R /Resources << /XObject << /Im1 {} 0 R >> >> >>", page_id + 1, page_id + 2).into_bytes());
                objects.push(pdf_stream("", content.as_bytes()));
                objects.push(pdf_stream(&format!("/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray /BitsPerComponent 8"), pixels));
            }
        }
    }
    objects[1] = format!("<< /Type /Pages /Kids [{kids}] /Count {n} >>").into_bytes();
    pdf_file(&objects)
}

/// Page 1 of `pdf` rendered by poppler's `pdftoppm` (`args` after the page and resolution), its output.
fn render(pdf: &[u8], dpi: u32, args: &[&str]) -> Result<Vec<u8>, String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("pdftoppm")
        .args(["-f", "1", "-l", "1", "-r", &dpi.to_string()])
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run pdftoppm (apt-get install poppler-utils): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = pdf.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!("pdftoppm failed: {}", out.status));
    }
    Ok(out.stdout)
}

/// Page 1 of `pdf` rendered as a grey PNG image at `dpi`.
pub fn render_png(pdf: &[u8], dpi: u32) -> Result<Vec<u8>, String> {
    render(pdf, dpi, &["-gray", "-png"])
}

/// Page 1 of `pdf` rendered by poppler's `pdftoppm` as an 8-bit grey image at `dpi`: (width, height, pixels).
pub fn render_gray(pdf: &[u8], dpi: u32) -> Result<(usize, usize, Vec<u8>), String> {
    // A binary PGM: "P5\n<w> <h>\n255\n" then the pixels.
    let data = render(pdf, dpi, &["-gray"])?;
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 && at < data.len() {
        while at < data.len() && data[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while at < data.len() && !data[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&data[start..at]).into_owned());
    }
    if fields.len() < 4 || fields[0] != "P5" {
        return Err(format!("pdftoppm wrote no PGM image ({} bytes)", data.len()));
    }
    let width: usize = fields[1].parse().map_err(|_| "bad width")?;
    let height: usize = fields[2].parse().map_err(|_| "bad height")?;
    let pixels = data[at + 1..].to_vec();
    if pixels.len() < width * height {
        return Err("short PGM image".into());
    }
    Ok((width, height, pixels[..width * height].to_vec()))
}

/// A one-page PDF whose page is nothing but the grey image given (a scan: no text layer).
pub fn image_pdf(width: usize, height: usize, pixels: &[u8], dpi: u32) -> Vec<u8> {
    pdf_pages(&[PdfPage::Scan {
        width,
        height,
        pixels: pixels.to_vec(),
        dpi,
    }])
}

/// Character accuracy of `read` against `truth`: 1 − (edit distance / characters of `truth`), whitespace
/// runs counted as one space.
pub fn char_accuracy(truth: &str, read: &str) -> f64 {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect::<Vec<char>>()
    };
    let (a, b) = (norm(truth), norm(read));
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / a.len().max(1) as f64
}

/// Base64 without a dependency (fixtures only).
mod base64_lite {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    out.push(TABLE[(n >> shift & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DocKind, Error};
    use std::path::Path;

    fn load(name: &str, bytes: &[u8]) -> crate::Document {
        let path = Path::new(name);
        DocKind::from_path(path).unwrap().connector().load(path, bytes).unwrap()
    }

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
    }

    #[test]
    fn an_outlook_message_without_a_text_body_is_read_from_its_html_or_rtf_body() {
        let bodies = [
            MsgBody::Html("<html><body><p>The <b>slipway</b> winch is serviced in March.</p></body></html>".into()),
            MsgBody::Rtf(r"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 The slipway winch is serviced in March.\par}".into()),
            MsgBody::Rtf(
                r"{\rtf1\ansi\fromhtml1{\*\htmltag <p>}The slipway winch is serviced in March.{\*\htmltag </p>}}"
                    .into(),
            ),
        ];
        for body in &bodies {
            let bytes = msg_with(("A", "a@example.com"), "b@example.com", "Winch", 0, body, &[]);
            let doc = load("a.msg", &bytes);
            assert!(
                doc.text.contains("The slipway winch is serviced in March."),
                "{}",
                doc.text
            );
            assert!(!doc.text.contains("3c68746d6c"), "hex, not text: {}", doc.text);
        }
    }

    #[test]
    fn cut_compound_files_are_errors_not_panics() {
        let sheet = xls(&[("Tally", vec![vec!["Item".to_string()]; 3000])]);
        let message = msg(
            ("A", "a@example.com"),
            "b@example.com",
            "S",
            0,
            &"body ".repeat(2000),
            &[],
        );
        for (name, bytes) in [("a.xls", sheet), ("a.msg", message)] {
            for cut in [8, 512, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
                let path = Path::new(name);
                let kind = DocKind::from_path(path).unwrap();
                let loaded = std::panic::catch_unwind(|| kind.connector().load(path, &bytes[..cut]));
                match loaded {
                    Ok(Err(Error::Invalid { .. } | Error::Empty { .. })) => {}
                    Ok(Ok(doc)) => assert!(cut > bytes.len() / 3, "{name} cut at {cut} loaded: {:?}", doc.text),
                    Ok(Err(e)) => panic!("{name} cut at {cut}: unexpected error {e}"),
                    Err(_) => panic!("{name} cut at {cut}: the reader panicked"),
                }
            }
        }
    }

    #[test]
    fn every_generated_format_loads_with_its_locations() {
        let table = rows(&[&["Pump", "Pressure"], &["Kestrel", "11"], &["Osprey", "16"]]);
        let doc = load(
            "a.xlsx",
            &xlsx(&[("Intro", rows(&[&["Note"], &["hello"]])), ("Limits", table.clone())]),
        );
        let at = doc.text.find("Pump: Osprey; Pressure: 16").unwrap();
        assert_eq!(doc.locate(at..at + 5).describe("xlsx"), "sheet Limits, row 3");
        let doc = load("a.ods", &ods(&[("Limits", table.clone())]));
        let at = doc.text.find("Pump: Kestrel; Pressure: 11").unwrap();
        assert_eq!(doc.locate(at..at + 5).describe("ods"), "sheet Limits, row 2");
        let doc = load("a.csv", &csv(&table));
        assert!(doc.text.contains("Pump: Osprey; Pressure: 16"), "{}", doc.text);
        let sheets = [("Intro", rows(&[&["Note"], &["hello"]])), ("Limits", table.clone())];
        for (name, bytes) in [
            ("a.xls", xls(&sheets)),
            ("a.xlsb", xlsb(&sheets)),
            ("a.xlsm", xlsx(&sheets)),
        ] {
            let doc = load(name, &bytes);
            let at = doc
                .text
                .find("Pump: Osprey; Pressure: 16")
                .unwrap_or_else(|| panic!("{name}: {}", doc.text));
            assert_eq!(
                doc.locate(at..at + 5).describe(doc.kind.name()),
                "sheet Limits, row 3",
                "{name}"
            );
        }
        let blocks = [
            Block::Heading(1, "Operation".into()),
            Block::Paragraph("Start slowly.".into()),
            Block::Heading(2, "Limits".into()),
            Block::Table(table.clone()),
        ];
        for name in ["a.odt", "a.docx"] {
            let bytes = if name.ends_with("odt") {
                odt("Handbook", &blocks)
            } else {
                docx("Handbook", &blocks)
            };
            let doc = load(name, &bytes);
            assert_eq!(doc.title.as_deref(), Some("Handbook"));
            let at = doc.text.find("Pump: Osprey; Pressure: 16").unwrap();
            assert_eq!(
                doc.locate(at..at + 5).section.as_deref(),
                Some("Operation › Limits"),
                "{name}"
            );
        }
        let slides = [
            Slide {
                title: "Welcome".into(),
                body: vec!["Agenda".into()],
                notes: None,
            },
            Slide {
                title: "Results".into(),
                body: vec!["Revenue grew 12 percent".into()],
                notes: Some("Mention the Osprey order".into()),
            },
        ];
        for name in ["a.pptx", "a.odp"] {
            let bytes = if name.ends_with("pptx") {
                pptx(&slides)
            } else {
                odp(&slides)
            };
            let doc = load(name, &bytes);
            let kind = doc.kind.name();
            let at = doc.text.find("Revenue grew").unwrap();
            assert_eq!(
                doc.locate(at..at + 5).describe(kind),
                "slide 2 (Results)",
                "{name}: {}",
                doc.text
            );
            assert!(
                doc.text.contains("Speaker notes: Mention the Osprey order"),
                "{name}: {}",
                doc.text
            );
            assert!(
                !doc.text.contains("\n1\n") && doc.text.find("Welcome") < doc.text.find("Results"),
                "{name}: {}",
                doc.text
            );
        }
        let doc = load(
            "a.epub",
            &epub(
                "Tides",
                &[
                    ("Harbour".into(), vec!["Boats dock here.".into()]),
                    ("Storms".into(), vec!["Waves rise at night.".into()]),
                ],
            ),
        );
        let at = doc.text.find("Waves").unwrap();
        assert_eq!(doc.locate(at..at + 5).describe("epub"), "chapter 2 (Storms)");
        assert_eq!(doc.title.as_deref(), Some("Tides"));
        let doc = load(
            "a.ipynb",
            &ipynb(&[
                Cell::Markdown("# Setup\nInstall it.".into()),
                Cell::Code("print(4)".into(), "4\n".into()),
            ]),
        );
        let at = doc.text.find("print(4)").unwrap();
        assert_eq!(doc.locate(at..at + 5).describe("ipynb"), "cell 2 (Setup)");
        let message = eml(
            "Ann <ann@example.com>",
            "Pump limits",
            "Mon, 1 Jan 2024 09:00:00 +0000",
            "See the attached sheet.",
            &[("limits.csv", csv(&table))],
        );
        let doc = load("a.eml", &message);
        assert!(doc.text.contains("Pump: Osprey; Pressure: 16"), "{}", doc.text);
        let doc = load(
            "a.mbox",
            &mbox(&[
                eml(
                    "b@example.com",
                    "First",
                    "Mon, 1 Jan 2024 09:00:00 +0000",
                    "From the start, hello.",
                    &[],
                ),
                message,
            ]),
        );
        let at = doc.text.find("Pump: Osprey").unwrap();
        assert!(
            doc.locate(at..at + 5)
                .describe("mbox")
                .starts_with("message 2 (Pump limits"),
            "{}",
            doc.text
        );
        assert!(doc.text.contains(">From the start") || doc.text.contains("From the start"));
        let doc = load(
            "a.msg",
            &msg(
                ("Ann Lee", "ann@example.com"),
                "ops@example.com",
                "Pump limits",
                1_704_099_600,
                "See the attached sheet.\r\nCall me about the Osprey.",
                &[("limits.csv", csv(&table))],
            ),
        );
        assert!(
            doc.text.starts_with(
                "# Pump limits\n\nFrom: Ann Lee <ann@example.com>; To: ops@example.com; Date: 2024-01-01T09:00:00"
            ),
            "{}",
            doc.text
        );
        assert_eq!(doc.title.as_deref(), Some("Pump limits"));
        let at = doc.text.find("Pump: Osprey").unwrap();
        assert_eq!(
            doc.locate(at..at + 5).describe("msg"),
            "message 1 (Pump limits › Attachment: limits.csv › limits)"
        );
        assert!(doc.text.contains("Call me about the Osprey."), "{}", doc.text);
        let doc = load(
            "a.rtf",
            &rtf(&["Title line".into(), "Caf\u{e9} pumps run at 11 bar.".into()]),
        );
        let at = doc.text.find("Café").unwrap();
        assert_eq!(doc.locate(at..at + 4).describe("rtf"), "line 4");
    }
}
