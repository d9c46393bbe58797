//! Per-format parsing throughput (`rag-eval bench-formats`, issue 13): a generated corpus of each format
//! (`rag_connectors::fixtures`, text from [`crate::synth::sentences`]) is parsed by its connector and chunked by
//! the engine's chunker; the figures say where ingest time goes before embedding.

use std::path::Path;
use std::time::Instant;

use rag::chunk::Chunker;
use rag_connectors::fixtures::{self, Block, Cell, Slide};
use serde_json::{json, Value};

use crate::synth::sentences;

/// The formats benchmarked, by file extension.
pub const FORMATS: &[&str] = &[
    "txt", "md", "html", "pdf", "docx", "odt", "pptx", "odp", "xlsx", "xlsb", "xls", "ods", "csv", "tsv", "epub",
    "ipynb", "eml", "mbox", "msg", "rtf", "json", "yaml", "png",
];

/// One generated file of `format` holding about `bytes` of text (`n` numbers the file).
pub fn file(format: &str, bytes: usize, n: u64) -> Vec<u8> {
    let mut words = sentences(n + 1);
    let mut para = |size: usize| {
        let mut out = String::new();
        while out.len() < size {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&words.next().unwrap_or_default());
        }
        out
    };
    let paragraphs = |para: &mut dyn FnMut(usize) -> String, total: usize| {
        let mut out = Vec::new();
        let mut size = 0;
        while size < total {
            let p = para(400);
            size += p.len();
            out.push(p);
        }
        out
    };
    let table = |para: &mut dyn FnMut(usize) -> String, total: usize| {
        let mut rows = vec![vec!["Unit".to_string(), "Date".into(), "Reading".into(), "Note".into()]];
        let mut size = 0;
        let mut i = 0;
        while size < total {
            let row = vec![
                format!("U-{i}"),
                format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
                format!("{}", i * 7 % 1000),
                para(60),
            ];
            size += row.iter().map(String::len).sum::<usize>();
            rows.push(row);
            i += 1;
        }
        rows
    };
    match format {
        "txt" => paragraphs(&mut para, bytes).join("\n\n").into_bytes(),
        "md" => paragraphs(&mut para, bytes)
            .chunks(5)
            .enumerate()
            .map(|(i, ps)| format!("## Section {i}\n\n{}\n", ps.join("\n\n")))
            .collect::<String>()
            .into_bytes(),
        "html" => format!(
            "<html><head><title>Log</title></head><body>{}</body></html>",
            paragraphs(&mut para, bytes)
                .chunks(5)
                .enumerate()
                .map(|(i, ps)| format!(
                    "<h2>Section {i}</h2>{}",
                    ps.iter().map(|p| format!("<p>{p}</p>")).collect::<String>()
                ))
                .collect::<String>()
        )
        .into_bytes(),
        "pdf" => {
            let pages: Vec<Vec<String>> = paragraphs(&mut para, bytes)
                .chunks(4)
                .map(|ps| ps.iter().flat_map(|p| wrap(p, 90)).collect())
                .collect();
            fixtures::text_pdf_pages(&pages)
        }
        "docx" | "odt" => {
            let blocks: Vec<Block> = paragraphs(&mut para, bytes)
                .chunks(5)
                .enumerate()
                .flat_map(|(i, ps)| {
                    std::iter::once(Block::Heading(1 + (i % 2) as u8, format!("Section {i}")))
                        .chain(ps.iter().map(|p| Block::Paragraph(p.clone())))
                })
                .collect();
            if format == "docx" {
                fixtures::docx("Log", &blocks)
            } else {
                fixtures::odt("Log", &blocks)
            }
        }
        "pptx" | "odp" => {
            let slides: Vec<Slide> = paragraphs(&mut para, bytes)
                .chunks(2)
                .enumerate()
                .map(|(i, ps)| Slide {
                    title: format!("Slide {i}"),
                    body: vec![ps[0].clone()],
                    notes: ps.get(1).cloned(),
                })
                .collect();
            if format == "pptx" {
                fixtures::pptx(&slides)
            } else {
                fixtures::odp(&slides)
            }
        }
        "xlsx" => fixtures::xlsx(&[("Log", table(&mut para, bytes))]),
        "ods" => fixtures::ods(&[("Log", table(&mut para, bytes))]),
        "xlsb" => fixtures::xlsb(&[("Log", table(&mut para, bytes))]),
        "xls" => fixtures::xls(&[("Log", table(&mut para, bytes))]),
        "csv" => fixtures::csv(&table(&mut para, bytes)),
        "tsv" => table(&mut para, bytes)
            .iter()
            .map(|row| row.join("\t") + "\n")
            .collect::<String>()
            .into_bytes(),
        "epub" => {
            let chapters: Vec<(String, Vec<String>)> = paragraphs(&mut para, bytes)
                .chunks(10)
                .enumerate()
                .map(|(i, ps)| (format!("Chapter {i}"), ps.to_vec()))
                .collect();
            fixtures::epub("Log", &chapters)
        }
        "ipynb" => {
            let cells: Vec<Cell> = paragraphs(&mut para, bytes)
                .iter()
                .enumerate()
                .map(|(i, p)| match i % 2 {
                    0 => Cell::Markdown(p.clone()),
                    _ => Cell::Code(format!("print({i})"), p.clone()),
                })
                .collect();
            fixtures::ipynb(&cells)
        }
        "eml" => fixtures::eml(
            "a@example.com",
            "Log",
            "Mon, 1 Jan 2024 09:00:00 +0000",
            &paragraphs(&mut para, bytes).join("\n\n"),
            &[],
        ),
        "mbox" => {
            let messages: Vec<Vec<u8>> = paragraphs(&mut para, bytes)
                .chunks(3)
                .enumerate()
                .map(|(i, ps)| {
                    fixtures::eml(
                        "a@example.com",
                        &format!("Log {i}"),
                        "Mon, 1 Jan 2024 09:00:00 +0000",
                        &ps.join("\n\n"),
                        &[],
                    )
                })
                .collect();
            fixtures::mbox(&messages)
        }
        "msg" => fixtures::msg(
            ("A", "a@example.com"),
            "b@example.com",
            "Log",
            1_704_099_600,
            &paragraphs(&mut para, bytes).join("\r\n\r\n"),
            &[],
        ),
        "rtf" => fixtures::rtf(&paragraphs(&mut para, bytes)),
        "yaml" => {
            let mut out = String::from("records:\n");
            for (i, p) in paragraphs(&mut para, bytes).iter().enumerate() {
                out.push_str(&format!("  - id: {i}\n    unit: unit-{}\n    note: \"{p}\"\n", i % 50));
            }
            out.into_bytes()
        }
        "json" => {
            let records: Vec<Value> = paragraphs(&mut para, bytes)
                .iter()
                .enumerate()
                .map(|(i, p)| json!({"id": i, "tags": ["log", format!("unit-{}", i % 50)], "note": p}))
                .collect();
            serde_json::to_vec_pretty(&json!({"records": records})).unwrap_or_default()
        }
        "scan" => {
            // Four scanned pages of about 600 characters each, 200 dpi grey.
            let pages: Vec<fixtures::PdfPage> = (0..4)
                .filter_map(|_| {
                    let lines: Vec<String> = wrap(&para(600), 60);
                    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                    let (width, height, pixels) = fixtures::render_gray(&fixtures::text_pdf(&refs), 200).ok()?;
                    Some(fixtures::PdfPage::Scan {
                        width,
                        height,
                        pixels,
                        dpi: 200,
                    })
                })
                .collect();
            fixtures::pdf_pages(&pages)
        }
        "png" => {
            let lines: Vec<String> = wrap(&para(bytes.min(1500)), 60);
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            fixtures::render_png(&fixtures::text_pdf(&refs), 150).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// `text` broken into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.len() + word.len() + 1 > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Parses and chunks `files` generated files of each format of about `file_bytes` of text each; one JSON
/// object per format: input bytes, text bytes, parse seconds, MB/s of input and of text, chunks, chunks/s of parsing, chunking
/// seconds.
pub fn bench(formats: &[&str], files: usize, file_bytes: usize, chunker: &dyn Chunker) -> Vec<Value> {
    let mut out = Vec::new();
    for format in formats {
        // `scan`: a PDF of scanned pages (no text layer), read by OCR.
        let name = format!("bench.{}", if *format == "scan" { "pdf" } else { format });
        let path = Path::new(&name);
        let inputs: Vec<Vec<u8>> = (0..files).map(|i| file(format, file_bytes, i as u64)).collect();
        let input_bytes: usize = inputs.iter().map(Vec::len).sum();
        let start = Instant::now();
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        for bytes in &inputs {
            match rag_connectors::load(path, bytes) {
                Ok(doc) => docs.push(doc),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let parse_s = start.elapsed().as_secs_f64();
        let text_bytes: usize = docs.iter().map(|d| d.text.len()).sum();
        let start = Instant::now();
        let chunks: usize = docs.iter().map(|d| chunker.chunk(d).len()).sum();
        let chunk_s = start.elapsed().as_secs_f64();
        let mb = input_bytes as f64 / 1e6;
        out.push(json!({
            "format": format,
            "files": files,
            "input_mb": mb,
            "text_mb": text_bytes as f64 / 1e6,
            "parse_s": parse_s,
            "mb_per_s": mb / parse_s.max(1e-9),
            "text_mb_per_s": text_bytes as f64 / 1e6 / parse_s.max(1e-9),
            "chunks": chunks,
            "chunks_per_s": chunks as f64 / parse_s.max(1e-9),
            "chunk_s": chunk_s,
            "errors": errors,
        }));
    }
    out
}
