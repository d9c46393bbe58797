//! Word documents end to end on the real binary (issue 13): a generated .docx is ingested, `rag search` finds a
//! fact from its table, and the citation names the heading path; hostile .docx files (a zip bomb, a file that is
//! not a zip, a "billion laughs" entity bomb) are one failure line each or harmless, and the rest is indexed.

mod common;

use std::io::Write;
use std::path::Path;

use common::Sandbox;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

fn paragraph(style: Option<&str>, text: &str) -> String {
    let style = style.map_or(String::new(), |s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#));
    format!(r#"<w:p>{style}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#)
}

fn row(cells: &[&str]) -> String {
    let cells: String = cells
        .iter()
        .map(|c| format!("<w:tc>{}</w:tc>", paragraph(None, c)))
        .collect();
    format!("<w:tr>{cells}</w:tr>")
}

fn document(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    )
}

fn docx(path: &Path, document_xml: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(CONTENT_TYPES.as_bytes()).unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(document_xml).unwrap();
    zip.finish().unwrap();
}

#[test]
fn a_word_document_is_searchable_and_cited_by_heading_and_hostile_ones_fail_cleanly() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let body = [
        paragraph(Some("Title"), "Harbour pump station handbook"),
        paragraph(None, "This handbook covers the pumps of the harbour station."),
        paragraph(Some("Heading1"), "Operation"),
        paragraph(
            None,
            "Start the pumps one at a time and wait for the pressure to settle.",
        ),
        // Enough text that the sections are chunks of their own.
        (1..=12)
            .map(|i| {
                let step = format!(
                    "Step {i}: check the suction valve, the seal water flow, the motor temperature and the \
                     discharge gauge of pump {i}, and write the readings in the shift log before the next start."
                );
                paragraph(None, &step)
            })
            .collect::<String>(),
        paragraph(Some("Heading2"), "Pressure limits"),
        format!(
            "<w:tbl>{}{}{}</w:tbl>",
            row(&["Pump model", "Maximum operating pressure"]),
            row(&["Kestrel K-40", "11 bar"]),
            row(&["Osprey O-90", "16 bar"])
        ),
        paragraph(Some("Heading1"), "Maintenance"),
        paragraph(None, "Grease the bearings of every pump each quarter."),
    ]
    .concat();
    docx(&docs.join("handbook.docx"), document(&body).as_bytes());

    // Hostile files beside it.
    // 1. A zip bomb: 300 MB of the same byte inflate from a few hundred kilobytes.
    {
        let file = std::fs::File::create(docs.join("bomb.docx")).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("word/document.xml", options).unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..300 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    assert!(std::fs::metadata(docs.join("bomb.docx")).unwrap().len() < 2 << 20);
    // 2. Not a zip at all (an encrypted office file is an OLE container, not a zip).
    std::fs::write(docs.join("locked.docx"), b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 not a zip").unwrap();
    // 3. Entity expansion: declared entities are never expanded.
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{}</w:body></w:document>"#,
        paragraph(None, "Laughs &lol9; about the quay crane.")
    );
    docx(&docs.join("laughs.docx"), laughs.as_bytes());

    let report = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(1)
        .json();
    let failed = report["failed"].as_array().unwrap();
    let reason = |name: &str| {
        failed
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{name} did not fail: {report:#}"))
    };
    assert!(reason("bomb.docx").contains("zip bomb"), "{report:#}");
    assert!(reason("locked.docx").contains("not a zip archive"), "{report:#}");
    assert_eq!(failed.len(), 2, "{report:#}");
    assert_eq!(report["indexed"], 2, "{report:#}");
    assert!(report["peak_rss_mb"].as_f64().unwrap() < 1000.0, "{report:#}");

    let hits = sandbox
        .rag(&[
            "search",
            "maximum operating pressure of the Osprey pump",
            "-k",
            "1",
            "--json",
        ])
        .expect_code(0)
        .json();
    let hit = &hits[0];
    assert!(hit["path"].as_str().unwrap().ends_with("handbook.docx"), "{hits:#}");
    assert!(
        hit["text"]
            .as_str()
            .unwrap()
            .contains("Pump model: Osprey O-90; Maximum operating pressure: 16 bar"),
        "{hits:#}"
    );
    // The citation names the heading path where the chunk starts (here the chunk runs from the last steps of
    // "Operation" into "Pressure limits"; the connector's unit test pins the path of the table's own text).
    let section = hit["section"].as_str().unwrap_or_default();
    assert!(
        section == "Operation" || section == "Operation › Pressure limits",
        "{hits:#}"
    );
    assert!(hit["location"].as_str().unwrap().contains(section), "{hits:#}");
    // The entity bomb was read without expanding anything.
    let hits = sandbox
        .rag(&["search", "quay crane", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    let text = hits[0]["text"].as_str().unwrap();
    assert!(hits[0]["path"].as_str().unwrap().ends_with("laughs.docx"), "{hits:#}");
    assert!(
        text.contains("about the quay crane") && !text.contains("lollol"),
        "{text}"
    );
}
