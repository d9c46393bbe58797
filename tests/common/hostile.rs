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
        Expect::Failed(&["no extractable text"]),
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

    (dir, cases)
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
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
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
