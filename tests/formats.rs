//! Every format end to end on the real binary (issue 13): a folder of generated documents (spreadsheets in
//! every Excel format and OpenDocument, delimited data, slide decks, OpenDocument and Word text, an e-book, a
//! notebook, mail (mbox, eml, Outlook msg), RTF, JSON, YAML, a scanned page, an image, and a PDF mixing text
//! and scanned pages, read by OCR) is ingested; `rag search` finds a fact that only one file states, and its citation names the
//! place in that file: the sheet and row, the slide, the chapter, the cell, the message, the heading path,
//! the line, the page.

mod common;

use std::path::Path;

use common::Sandbox;
use rag_connectors::fixtures::{self, Block, Cell, Slide};

fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

/// Filler rows so that a sheet spans several chunks (a fact far down must still carry its header).
fn ledger(n: usize, fact_at: usize, fact: &[&str]) -> Vec<Vec<String>> {
    let mut out = rows(&[&["Region", "Quarter", "Product line", "Revenue (EUR)"]]);
    for i in 0..n {
        if i == fact_at {
            out.push(fact.iter().map(|c| c.to_string()).collect());
        }
        out.push(vec![
            format!("District {i}"),
            format!("Q{}", i % 4 + 1),
            ["valves", "seals", "bearings", "gauges"][i % 4].to_string(),
            format!("{}", 1000 + i * 37),
        ]);
    }
    out
}

/// Whether a location ending in `row N`, `rows A-B`, `line N` or `lines A-B` covers `n`.
fn covers(location: &str, n: u32) -> bool {
    let span = location.rsplit(' ').next().unwrap_or_default();
    let mut ends = span.split('-').map(|x| x.parse::<u32>().ok());
    match (ends.next().flatten(), ends.next()) {
        (Some(a), None) => a == n,
        (Some(a), Some(Some(b))) => a <= n && n <= b,
        _ => false,
    }
}

fn write(dir: &Path, name: &str, bytes: Vec<u8>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn make_folder(docs: &Path) {
    std::fs::create_dir_all(docs).unwrap();
    write(
        docs,
        "budget.xlsx",
        fixtures::xlsx(&[
            ("Summary", rows(&[&["Item", "Note"], &["Owner", "Finance office"]])),
            (
                "Revenue",
                ledger(120, 90, &["Fjordland", "Q3", "dredging services", "48210"]),
            ),
        ]),
    );
    write(
        docs,
        "inventory.ods",
        fixtures::ods(&[(
            "Spares",
            rows(&[
                &["Part", "Storage bin", "Count"],
                &["bronze impeller", "B-17", "42"],
                &["gland packing", "C-02", "9"],
            ]),
        )]),
    );
    write(
        docs,
        "readings.csv",
        fixtures::csv(&ledger(200, 150, &["Tarn Valley", "Q2", "turbine overhaul", "77120"])),
    );
    let slides = |fact: &str, notes: &str| {
        vec![
            Slide {
                title: "Welcome".into(),
                body: vec!["Agenda for the quarterly review".into()],
                notes: None,
            },
            Slide {
                title: "Quarterly results".into(),
                body: vec![fact.into()],
                notes: Some(notes.into()),
            },
            Slide {
                title: "Next steps".into(),
                body: vec!["Hire two technicians".into()],
                notes: None,
            },
        ]
    };
    write(
        docs,
        "review.pptx",
        fixtures::pptx(&slides(
            "Harbour ferry ticket sales rose 12 percent after the timetable change",
            "Mention that the Osprey crane order slipped to November",
        )),
    );
    write(
        docs,
        "board.odp",
        fixtures::odp(&slides(
            "The glasshouse heating trial cut gas use by a third",
            "Remind the board about the solar panel tender",
        )),
    );
    write(
        docs,
        "policy.odt",
        fixtures::odt(
            "Workshop safety policy",
            &[
                Block::Heading(1, "Workshop rules".into()),
                Block::Paragraph("Everyone signs in at the front desk before entering the workshop.".into()),
                Block::Paragraph(
                    "Tools go back on the shadow board at the end of each shift, and the last person out switches \
                     off the compressor, the extraction fan and the lights, then locks the side door."
                        .into(),
                ),
                Block::Heading(2, "Lathe operation".into()),
                Block::Paragraph(
                    "The lathe guard stays closed while the chuck turns; loose sleeves are forbidden.".into(),
                ),
                Block::Heading(1, "Visitors".into()),
                Block::Paragraph("Visitors wear a yellow vest at all times.".into()),
            ],
        ),
    );
    write(
        docs,
        "tides.epub",
        fixtures::epub(
            "A Year at the Harbour",
            &[
                (
                    "Spring".into(),
                    vec!["The herring boats return in March and the quay is busy.".into()],
                ),
                (
                    "Winter storms".into(),
                    vec!["In January the breakwater lighthouse keeper logged waves of nine metres.".into()],
                ),
            ],
        ),
    );
    write(
        docs,
        "analysis.ipynb",
        fixtures::ipynb(&[
            Cell::Markdown("# Vibration analysis\nWe load the accelerometer data.".into()),
            Cell::Code("import pandas as pd\ndf = pd.read_csv('vib.csv')".into(), String::new()),
            Cell::Code(
                "print(df.peak.max())".into(),
                "Peak bearing vibration: 14.7 mm/s on pump seven\n".into(),
            ),
        ]),
    );
    let attachment = fixtures::docx(
        "Dredging contract",
        &[Block::Paragraph(
            "The dredging contractor must finish the outer channel by the end of May.".into(),
        )],
    );
    write(
        docs,
        "ops.mbox",
        fixtures::mbox(&[
            fixtures::eml(
                "Ann <ann@example.com>",
                "Canteen menu",
                "Mon, 1 Jan 2024 09:00:00 +0000",
                "Soup on Mondays.",
                &[],
            ),
            fixtures::eml(
                "Bo <bo@example.com>",
                "Dredging schedule",
                "Tue, 2 Jan 2024 10:30:00 +0000",
                "The contract is attached.",
                &[("contract.docx", attachment)],
            ),
        ]),
    );
    write(
        docs,
        "notice.eml",
        fixtures::eml(
            "Facilities <fac@example.com>",
            "Water shut-off",
            "Wed, 3 Jan 2024 08:00:00 +0000",
            "The water supply to building C is shut off on Thursday between 6 and 9 in the morning.",
            &[],
        ),
    );
    // A scanned page (an image-only PDF) and a photographed notice, read by OCR.
    let page = fixtures::text_pdf(&[
        "Harbour pump station, maintenance record.",
        "The Kestrel pump seal water flow was 3.2 litres per minute.",
    ]);
    let (width, height, pixels) = fixtures::render_gray(&page, 200).expect("pdftoppm (poppler-utils)");
    write(docs, "scan.pdf", fixtures::image_pdf(width, height, &pixels, 200));
    let notice = fixtures::text_pdf(&["NOTICE", "The east gate closes at ten in the evening from Monday."]);
    write(
        docs,
        "notice.png",
        fixtures::render_png(&notice, 150).expect("pdftoppm (poppler-utils)"),
    );
    let stations: Vec<serde_json::Value> = (0..60)
        .map(|i| {
            let note = if i == 41 {
                "the tide gauge at Skerry Point was recalibrated after the storm".to_string()
            } else {
                format!("routine check of station {i}, nothing to report")
            };
            serde_json::json!({"id": format!("ST-{i}"), "depth_m": 10 + i, "notes": [note]})
        })
        .collect();
    let data = serde_json::to_vec_pretty(&serde_json::json!({"network": "harbour", "stations": stations})).unwrap();
    write(docs, "stations.json", data);
    // The other spreadsheet formats: legacy Excel, Excel binary, macro-enabled Excel, tab-separated values.
    let moorings = |fact: &[&str]| {
        let mut sheet = rows(&[&["Berth", "Vessel", "Draught (m)"]]);
        for i in 1..40 {
            if i == 30 {
                sheet.push(fact.iter().map(|c| c.to_string()).collect());
            }
            sheet.push(vec![
                format!("Berth {i}"),
                format!("Coaster {i}"),
                format!("{}", 3 + i % 5),
            ]);
        }
        sheet
    };
    let intro = ("Notes", rows(&[&["Note"], &["Kept by the harbour master"]]));
    write(
        docs,
        "moorings-1998.xls",
        fixtures::xls(&[intro.clone(), ("Moorings", moorings(&["Pier 9", "MV Gannet", "7.4"]))]),
    );
    write(
        docs,
        "moorings-2010.xlsb",
        fixtures::xlsb(&[
            intro.clone(),
            ("Moorings", moorings(&["Pier 12", "MV Cormorant", "6.1"])),
        ]),
    );
    write(
        docs,
        "moorings-2020.xlsm",
        fixtures::xlsx(&[intro, ("Moorings", moorings(&["Pier 14", "MV Shearwater", "8.2"]))]),
    );
    let tsv: String = moorings(&["Pier 21", "MV Fulmar", "5.5"])
        .iter()
        .map(|row| row.join("\t") + "\n")
        .collect();
    std::fs::write(docs.join("moorings-2024.tsv"), tsv).unwrap();
    // An Outlook message with a spreadsheet attached.
    write(
        docs,
        "crane.msg",
        fixtures::msg(
            ("Dana Holt", "dana@example.com"),
            "ops@example.com",
            "Crane inspection",
            1_704_362_400,
            "Hello all,\r\n\r\nThe harbour crane failed its load test; its hoist brake must be relined before use.\r\n",
            &[(
                "loads.csv",
                fixtures::csv(&rows(&[&["Crane", "Rated load"], &["Quay crane 3", "40 tonnes"]])),
            )],
        ),
    );
    // A PDF of a text page, a scanned page (no text layer: OCR) and another text page.
    let scanned = fixtures::text_pdf(&["Survey, page two.", "The bollard at berth four has a deep crack."]);
    let (width, height, pixels) = fixtures::render_gray(&scanned, 200).expect("pdftoppm (poppler-utils)");
    write(
        docs,
        "survey.pdf",
        fixtures::pdf_pages(&[
            fixtures::PdfPage::Text(vec![
                "Quay survey, page one.".into(),
                "The fenders are in good order.".into(),
            ]),
            fixtures::PdfPage::Scan {
                width,
                height,
                pixels,
                dpi: 200,
            },
            fixtures::PdfPage::Text(vec![
                "Page three.".into(),
                "The crane rails need regreasing before winter.".into(),
            ]),
        ]),
    );
    // YAML: cited by lines.
    let mut yaml = String::from("plant:\n  name: Harbour pumping station\n  pumps:\n");
    for i in 0..30 {
        yaml.push_str(&format!("    - id: P{i}\n      duty: standby\n"));
    }
    yaml.push_str("  alarms:\n    flood_level_cm: 180  # the sump alarm sounds at 180 centimetres\n");
    std::fs::write(docs.join("plant.yaml"), yaml).unwrap();
    write(
        docs,
        "memo.rtf",
        fixtures::rtf(&[
            "Memo to all staff".into(),
            "The canteen coffee machine is descaled every Friday afternoon.".into(),
        ]),
    );
}

#[test]
fn every_format_is_searchable_and_cited_where_it_came_from() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    make_folder(&docs);
    let report = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(report["failed"].as_array().map(Vec::len), Some(0), "{report:#}");
    assert_eq!(report["indexed"], 21, "{report:#}");

    // (query, file, the location's words, the row/line its range must cover (0: none), text of the hit)
    let cases: &[(&str, &str, &str, u32, &str)] = &[
        (
            "Fjordland dredging services revenue",
            "budget.xlsx",
            "sheet Revenue, row",
            92,
            "Region: Fjordland",
        ),
        (
            "which bin holds the bronze impeller",
            "inventory.ods",
            "sheet Spares, row",
            2,
            "Storage bin: B-17",
        ),
        (
            "Tarn Valley turbine overhaul revenue",
            "readings.csv",
            "sheet readings, row",
            152,
            "Revenue (EUR): 77120",
        ),
        (
            "ferry ticket sales after the timetable change",
            "review.pptx",
            "slide 2 (Quarterly results)",
            0,
            "12 percent",
        ),
        (
            "Osprey crane order slipped",
            "review.pptx",
            "slide 2 (Quarterly results)",
            0,
            "Speaker notes",
        ),
        (
            "glasshouse heating trial gas use",
            "board.odp",
            "slide 2 (Quarterly results)",
            0,
            "a third",
        ),
        (
            "lathe guard and loose sleeves",
            "policy.odt",
            "section \"Workshop rules",
            0,
            "chuck turns",
        ),
        (
            "breakwater lighthouse keeper waves",
            "tides.epub",
            "chapter 2 (Winter storms)",
            0,
            "nine metres",
        ),
        (
            "peak bearing vibration on pump seven",
            "analysis.ipynb",
            "cell 3 (Vibration analysis)",
            0,
            "14.7 mm/s",
        ),
        (
            "when must the dredging contractor finish the outer channel",
            "ops.mbox",
            "message 2 (Dredging schedule",
            0,
            "end of May",
        ),
        (
            "water supply to building C shut off",
            "notice.eml",
            "message 1 (Water shut-off)",
            0,
            "Thursday",
        ),
        ("canteen coffee machine descaled", "memo.rtf", "line", 4, "every Friday"),
        (
            "Kestrel pump seal water flow",
            "scan.pdf",
            "page 1",
            0,
            "litres per minute",
        ),
        ("when does the east gate close", "notice.png", "page 1", 0, "east gate"),
        (
            "MV Gannet draught at Pier 9",
            "moorings-1998.xls",
            "sheet Moorings, row",
            31,
            "Vessel: MV Gannet",
        ),
        (
            "MV Cormorant draught at Pier 12",
            "moorings-2010.xlsb",
            "sheet Moorings, row",
            31,
            "Vessel: MV Cormorant",
        ),
        (
            "MV Shearwater draught at Pier 14",
            "moorings-2020.xlsm",
            "sheet Moorings, row",
            31,
            "Vessel: MV Shearwater",
        ),
        (
            "MV Fulmar draught at Pier 21",
            "moorings-2024.tsv",
            "sheet moorings-2024, row",
            31,
            "Draught (m): 5.5",
        ),
        (
            "harbour crane load test hoist brake",
            "crane.msg",
            "message 1 (Crane inspection)",
            0,
            "relined",
        ),
        (
            "rated load of quay crane 3",
            "crane.msg",
            "message 1 (Crane inspection",
            0,
            "40 tonnes",
        ),
        (
            "crack in the bollard at berth four",
            "survey.pdf",
            "page 2",
            0,
            "deep crack",
        ),
        (
            "crane rails regreasing before winter",
            "survey.pdf",
            "page 3",
            0,
            "regreasing",
        ),
        (
            "flood level of the sump alarm",
            "plant.yaml",
            "line",
            65,
            "180 centimetres",
        ),
    ];
    let mut wrong = Vec::new();
    for (query, file, place, number, text) in cases {
        let hits = sandbox
            .rag(&["search", query, "-k", "3", "--json"])
            .expect_code(0)
            .json();
        let hit = &hits[0];
        let path = hit["path"].as_str().unwrap_or_default();
        let location = hit["location"].as_str().unwrap_or_default();
        let body = hit["text"].as_str().unwrap_or_default();
        let covered = *number == 0 || covers(location, *number);
        if !path.ends_with(file) || !location.contains(place) || !covered || !body.contains(text) {
            wrong.push(format!(
                "{query:?}: expected {file}, {place} {number}, text with {text:?}; got {location}: {body:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn without_tesseract_scans_and_images_say_they_need_ocr_and_the_rest_indexes() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let page = fixtures::text_pdf(&["The night ferry leaves at eleven."]);
    let (width, height, pixels) = fixtures::render_gray(&page, 150).expect("pdftoppm (poppler-utils)");
    write(&docs, "scan-a.pdf", fixtures::image_pdf(width, height, &pixels, 150));
    write(&docs, "scan-b.pdf", fixtures::image_pdf(width, height, &pixels, 150));
    write(&docs, "photo.png", fixtures::render_png(&page, 100).expect("pdftoppm"));
    write(&docs, "text.pdf", page);
    // A photo without text: read (here, not at all) and skipped, never a failure.
    write(
        &docs,
        "blank.png",
        fixtures::render_png(&fixtures::text_pdf(&[]), 50).expect("pdftoppm"),
    );
    std::fs::write(docs.join("note.md"), "# Ferry\nThe day ferry leaves at nine.\n").unwrap();
    let index = std::path::PathBuf::from(sandbox.index_arg());
    let run = sandbox.rag_with_env(
        &index,
        &[("RAG_TESSERACT", "/nonexistent/tesseract")],
        &["ingest", docs.to_str().unwrap(), "--json"],
    );
    let report = run.expect_code(1).json();
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 4, "{report:#}");
    for f in failed {
        let reason = f["reason"].as_str().unwrap();
        assert!(reason.ends_with("needs OCR: install tesseract-ocr"), "{reason}");
    }
    // One line per file, not one per page; the text PDF and the markdown are indexed.
    assert_eq!(report["indexed"], 2, "{report:#}");

    // With Tesseract, the photo without text is skipped and counted, the scans indexed, the run clean.
    let report = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("blank.png")
                && s["reason"].as_str().unwrap().contains("no text found in the image")),
        "{report:#}"
    );
    assert_eq!(report["skipped_by"]["no text"], 1, "{report:#}");
    assert_eq!(report["failed"].as_array().map(Vec::len), Some(0), "{report:#}");
}
