//! The hostile-corpus generator: a folder of files that break naive loaders, next to a few good ones.
//!
//! [`make`] writes it and returns what a correct ingest must report for each file.

use std::path::{Path, PathBuf};

use super::corpus;

/// What ingest must do with one generated file.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Indexed; the text given must then be findable by search.
    Indexed(&'static str),
    /// Indexed with a warning whose reason contains the text given.
    Warned(&'static str),
    /// Reported as failed, the reason containing one of the texts given.
    Failed(&'static [&'static str]),
    /// Reported as skipped, the reason containing the text given.
    Skipped(&'static str),
    /// Failed or indexed, either is right (the report names it when it fails); never a crash.
    Either,
}

/// One generated file and what ingest must do with it.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub path: PathBuf,
    pub expect: Expect,
}

/// Most chunks per file in the configuration the hostile test writes (the two huge text files exceed it).
pub const MAX_CHUNKS: usize = 2000;

/// Writes the hostile corpus under `root/hostile` (and an `outside` folder the symbolic links point to);
/// returns the cases.
pub fn make(root: &Path) -> (PathBuf, Vec<Case>) {
    let dir = root.join("hostile");
    let outside = root.join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let mut cases = Vec::new();
    let mut add = |name: &'static str, path: PathBuf, expect: Expect| cases.push(Case { name, path, expect });

    // Good files, which must all be indexed whatever their neighbours do.
    let good = dir.join("good.md");
    std::fs::copy(corpus().join("notes/ops.md"), &good).unwrap();
    add("good markdown", good, Expect::Indexed("cooling tower fan"));
    let good = dir.join("good.pdf");
    std::fs::copy(corpus().join("manuals/pump.pdf"), &good).unwrap();
    add(
        "good pdf",
        good,
        Expect::Indexed("mechanical seal every 8000 operating hours"),
    );

    // PDFs.
    let pdf = std::fs::read(corpus().join("manuals/pump.pdf")).unwrap();
    let path = dir.join("truncated.pdf");
    std::fs::write(&path, &pdf[..pdf.len() / 3]).unwrap();
    add("truncated pdf", path, Expect::Failed(&["PDF"]));
    let mut damaged = pdf.clone();
    let start = find(&damaged, b"stream\n").unwrap() + 7;
    for b in &mut damaged[start..start + 200] {
        *b = 0x8f;
    }
    let path = dir.join("corrupt-stream.pdf");
    std::fs::write(&path, &damaged).unwrap();
    add("pdf with a corrupted content stream", path, Expect::Either);
    let path = dir.join("locked-a.pdf");
    std::fs::write(&path, encrypted_pdf()).unwrap();
    add("encrypted pdf", path, Expect::Failed(&["encrypted", "PDF"]));
    let path = dir.join("scan.pdf");
    std::fs::write(&path, image_only_pdf()).unwrap();
    add(
        "pdf without a text layer",
        path,
        Expect::Failed(&["no extractable text", "needs OCR"]),
    );

    // Binary data behind text extensions.
    let binary: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let path = dir.join("binary.txt");
    std::fs::write(&path, &binary).unwrap();
    add("binary .txt", path, Expect::Failed(&["binary data"]));
    let path = dir.join("binary.md");
    std::fs::write(&path, &binary[100..]).unwrap();
    add("binary .md", path, Expect::Failed(&["binary data"]));

    // Encodings.
    let path = dir.join("invalid-utf8.txt");
    std::fs::write(
        &path,
        b"The relief valve \xc3\x28 opens at 9 bar \xa0 on the condensate line.\n",
    )
    .unwrap();
    add("invalid UTF-8", path, Expect::Warned("Windows-1252"));
    let path = dir.join("utf16le.txt");
    let mut bytes = vec![0xff, 0xfe];
    for unit in "Die Kühlpumpe läuft jede Nacht im Sparbetrieb.\n".encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    add("UTF-16 with BOM", path, Expect::Indexed("Kühlpumpe"));
    let path = dir.join("latin1.txt");
    std::fs::write(&path, b"Le caf\xe9 de l'usine ouvre \xe0 sept heures.\n").unwrap();
    add("Latin-1", path, Expect::Warned("Windows-1252"));
    let path = dir.join("empty.txt");
    std::fs::write(&path, b"").unwrap();
    add("0-byte file", path, Expect::Failed(&["empty file"]));

    // Size.
    let path = dir.join("one-line.txt");
    let words = [
        "pump ",
        "valve ",
        "pressure ",
        "flow ",
        "seal ",
        "bearing ",
        "motor ",
        "shaft ",
    ];
    let mut line = String::with_capacity(50 << 20);
    let mut i = 0usize;
    while line.len() < 50 << 20 {
        line.push_str(words[(i * 7 + i / 3) % words.len()]);
        i += 1;
    }
    std::fs::write(&path, line).unwrap();
    add("50 MB single line", path, Expect::Failed(&["more than 2000 chunks"]));
    let path = dir.join("million-lines.txt");
    let lines: String = (0..1_000_000).map(|i| format!("r{i}\n")).collect();
    std::fs::write(&path, lines).unwrap();
    add(
        "1 million short lines",
        path,
        Expect::Failed(&["more than 2000 chunks"]),
    );
    let path = dir.join("nested.html");
    let depth = 1_000_000;
    let html = format!(
        "<html><body>{}<p>The nested page says the boiler feed pump trips at 140 degrees.</p>{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    std::fs::write(&path, html).unwrap();
    add("10 MB of nested HTML", path, Expect::Warned("nested"));

    // Layout of the tree.
    let mut deep = dir.join("deep");
    for level in 0..120 {
        deep = deep.join(format!("l{level}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let path = deep.join("bottom.txt");
    std::fs::write(&path, "The deepest folder holds the spare impeller inventory.\n").unwrap();
    add(
        "120 nested directories",
        path,
        Expect::Indexed("spare impeller inventory"),
    );
    let path = dir.join("cycle");
    std::os::unix::fs::symlink(".", &path).unwrap();
    add("symbolic link loop", path, Expect::Failed(&["loop"]));
    std::fs::write(outside.join("secret.txt"), "Outside secret: the vault code is 4711.\n").unwrap();
    let path = dir.join("outside-dir");
    std::os::unix::fs::symlink(&outside, &path).unwrap();
    add("link to a folder outside the root", path, Expect::Skipped("outside"));
    let path = dir.join("outside-file.txt");
    std::os::unix::fs::symlink(outside.join("secret.txt"), &path).unwrap();
    add("link to a file outside the root", path, Expect::Skipped("outside"));
    let path = dir.join("etc");
    std::os::unix::fs::symlink("/etc", &path).unwrap();
    add("link to /etc", path, Expect::Skipped("outside"));
    let path = dir.join("dangling.txt");
    std::os::unix::fs::symlink(dir.join("gone.txt"), &path).unwrap();
    add(
        "link to a file that disappeared",
        path,
        Expect::Failed(&["No such file"]),
    );

    // Permissions and names.
    let path = dir.join("unreadable.txt");
    std::fs::write(&path, "Only the owner may read the unreadable maintenance log.\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads anything: then the file is simply indexed.
    let expect = if is_root() {
        Expect::Indexed("unreadable maintenance log")
    } else {
        Expect::Failed(&["Permission denied"])
    };
    add("file without read permission", path, expect);
    // A file that cannot be read whoever runs the test (root included): a named pipe behind a text name.
    let path = dir.join("pipe.txt");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    add(
        "named pipe behind a text name",
        path,
        Expect::Failed(&["cannot read: not a regular file"]),
    );
    let path = dir.join("new\nline.txt");
    std::fs::write(&path, "A name with a newline holds the lubrication schedule.\n").unwrap();
    add("name with a newline", path, Expect::Indexed("lubrication schedule"));
    let path = dir.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
        b"caf\xe9-name.txt",
    ));
    std::fs::write(&path, "A Latin-1 file name holds the gasket torque table.\n").unwrap();
    add(
        "name with non-UTF-8 bytes",
        path,
        Expect::Indexed("gasket torque table"),
    );

    documents(&dir, &mut add);

    (dir, cases)
}

/// Hostile office files, books, mail, notebooks and images (issue 13).
fn documents(dir: &Path, add: &mut impl FnMut(&'static str, PathBuf, Expect)) {
    use rag_connectors::fixtures;
    use std::io::Write;

    // Zip bombs: a tiny file whose part inflates to 300 MB.
    let bomb = |first: &[(&str, &[u8])], part: &str| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in first {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.start_file(part, options.large_file(true)).unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..300 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    let path = dir.join("bomb.xlsx");
    std::fs::write(&path, bomb(&[], "xl/worksheets/sheet1.xml")).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 2 << 20);
    add("zip bomb in an .xlsx", path, Expect::Failed(&["zip bomb"]));
    let path = dir.join("bomb.epub");
    let container: &[u8] = br#"<container><rootfiles><rootfile full-path="content.opf"/></rootfiles></container>"#;
    std::fs::write(&path, bomb(&[("META-INF/container.xml", container)], "content.opf")).unwrap();
    add("zip bomb in an .epub", path, Expect::Failed(&["zip bomb"]));

    // Archives with many entries: a few thousand are read; past the limit, one clear failure.
    let many = |n: usize| {
        let mut entries: Vec<(String, Vec<u8>)> = (0..n).map(|i| (format!("junk/{i}.txt"), vec![b'x'; 8])).collect();
        let doc = fixtures::docx(
            "Crowded",
            &[fixtures::Block::Paragraph(
                "The crowded archive names the slipway winch.".into(),
            )],
        );
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(doc)).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            let name = entry.name().unwrap().into_owned();
            entries.push((name, bytes));
        }
        let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        fixtures::zip(&refs, false)
    };
    let path = dir.join("crowded.docx");
    std::fs::write(&path, many(5_000)).unwrap();
    add("a .docx with 5,000 entries", path, Expect::Indexed("slipway winch"));
    let path = dir.join("overcrowded.docx");
    std::fs::write(&path, many(30_000)).unwrap();
    add("a .docx with 30,000 entries", path, Expect::Failed(&["entries"]));

    // A sheet of a million empty rows, then one that says something.
    let mut sheet = String::from(
        r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Note</t></is></c></row>"#,
    );
    for r in 2..1_000_002 {
        sheet.push_str(&format!(r#"<row r="{r}"/>"#));
    }
    sheet.push_str(r#"<row r="1000002"><c r="A1000002" t="inlineStr"><is><t>the forklift battery charger is in bay four</t></is></c></row></sheetData></worksheet>"#);
    let mut book =
        zip::ZipArchive::new(std::io::Cursor::new(fixtures::xlsx(&[("Log", vec![vec!["x".into()]])]))).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..book.len() {
        let mut entry = book.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if entry.name().unwrap() == "xl/worksheets/sheet1.xml" {
            bytes = sheet.clone().into_bytes();
        }
        let name = entry.name().unwrap().into_owned();
        entries.push((name, bytes));
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let path = dir.join("million-empty-rows.xlsx");
    std::fs::write(&path, fixtures::zip(&refs, false)).unwrap();
    add(
        "a sheet with a million empty rows",
        path,
        Expect::Indexed("forklift battery charger"),
    );

    // A mailbox whose one message carries a 100 MB attachment: the message is read, the attachment not.
    let big: Vec<u8> = (0..100u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let message = fixtures::eml(
        "Ops <ops@example.com>",
        "Drone survey",
        "Thu, 4 Jan 2024 12:00:00 +0000",
        "The drone survey of the north pier is attached.",
        &[("survey.pdf", big)],
    );
    let path = dir.join("huge-attachment.mbox");
    std::fs::write(&path, fixtures::mbox(&[message])).unwrap();
    add(
        "a mailbox with a 100 MB attachment",
        path,
        Expect::Warned("over the 32 MiB limit"),
    );

    // A notebook with a 50 MB output cell.
    let output = "tick ".repeat(10 << 20);
    let path = dir.join("chatty.ipynb");
    std::fs::write(
        &path,
        fixtures::ipynb(&[
            fixtures::Cell::Markdown("The chatty notebook measures the crane cable tension.".into()),
            fixtures::Cell::Code("run()".into(), output),
        ]),
    )
    .unwrap();
    add("a notebook with a 50 MB output cell", path, Expect::Warned("cut"));

    // A password-protected spreadsheet: an OLE container, not a zip.
    let path = dir.join("locked.xlsx");
    std::fs::write(&path, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 encrypted package").unwrap();
    add("password-protected .xlsx", path, Expect::Failed(&["not a zip archive"]));

    // Compound files (legacy Excel, Outlook) cut in half: their sector chains point past the end.
    let sheet = fixtures::xls(&[("Tally", vec![vec!["Item".to_string()]; 3000])]);
    let path = dir.join("truncated.xls");
    std::fs::write(&path, &sheet[..sheet.len() / 2]).unwrap();
    add("truncated .xls", path, Expect::Failed(&["unreadable as an .xls"]));
    let message = fixtures::msg(
        ("Ops", "ops@example.com"),
        "team@example.com",
        "Tide tables",
        1_704_362_400,
        &"The spring tide tables are attached. ".repeat(400),
        &[],
    );
    let path = dir.join("truncated.msg");
    std::fs::write(&path, &message[..message.len() / 2]).unwrap();
    add(
        "truncated .msg",
        path,
        Expect::Failed(&["unreadable as an Outlook .msg"]),
    );

    // A corrupt image: OCR fails (or, without Tesseract, the file needs it).
    let path = dir.join("corrupt.png");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage after the header").unwrap();
    add("corrupt image", path, Expect::Failed(&["OCR failed", "needs OCR"]));
}

/// Whether the tests run as root (who can read files without read permission).
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A PDF from numbered object bodies, with a correct cross-reference table and `trailer_extra` in the trailer.
fn pdf(objects: &[String], trailer_extra: &str) -> Vec<u8> {
    rag_connectors::fixtures::pdf_with_trailer(objects, trailer_extra)
}

fn stream(content: &str) -> String {
    format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len())
}

/// One page that only paints a rectangle: a PDF without a text layer, like a scan.
fn image_only_pdf() -> Vec<u8> {
    pdf(
        &[
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>".into(),
            stream("0.2 0.4 0.6 rg 72 72 300 400 re f"),
        ],
        "",
    )
}

/// A PDF encrypted with the standard security handler (RC4, 40-bit) under a password nobody knows.
fn encrypted_pdf() -> Vec<u8> {
    let hex32 = |seed: u8| -> String {
        (0..32u8)
            .map(|i| format!("{:02x}", i.wrapping_mul(37) ^ seed))
            .collect()
    };
    pdf(
        &[
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 6 0 R >> >> >>".into(),
            stream("\u{7f}\u{3}garbled-ciphertext\u{1}\u{2}"),
            format!("<< /Filter /Standard /V 1 /R 2 /O <{}> /U <{}> /P -44 >>", hex32(0x5a), hex32(0xa5)),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
        ],
        "/Encrypt 5 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]",
    )
}
