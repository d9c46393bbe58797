//! Rich Text Format (`.rtf`), read by hand: no maintained Rust crate reads RTF text with source positions
//! (`rtf-parser`, the one published reader, keeps no line numbers and panics on some malformed input). The
//! reader keeps the text of the body: `\par` and `\line` end a line, `\tab` is a space, `\'hh` is a byte of
//! the document's ANSI code page (`\ansicpgN`, Windows-1252 by default), `\uN` a Unicode character (its
//! `\ucN` fallback skipped); destinations that are not body text (font and colour tables, stylesheets, info,
//! pictures, objects, `{\*\...}` groups) are left out. A citation names the lines of the `.rtf` file a span
//! came from.

use std::path::Path;

use crate::document::{Document, LocationMap};
use crate::{Connector, DocKind, Error};

/// Deepest group nesting read; deeper groups are an error (a real document nests a few levels).
const MAX_DEPTH: usize = 512;

/// Loads `.rtf` files.
pub(crate) struct RtfConnector;

/// Destinations whose text is not body text.
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "header",
    "footer",
    "headerl",
    "headerr",
    "headerf",
    "footerl",
    "footerr",
    "footerf",
    "listtable",
    "listoverridetable",
    "revtbl",
    "rsidtbl",
    "xmlnstbl",
    "generator",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "filetbl",
    "fldinst",
    "bkmkstart",
    "bkmkend",
    "field_instruction",
];

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    /// Characters to skip after `\uN` (`\ucN`).
    uc: u32,
}

impl Connector for RtfConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let invalid = |reason: String| Error::Invalid {
            path: path.to_path_buf(),
            what: "an .rtf",
            reason,
        };
        if !bytes.starts_with(b"{\\rtf") {
            return Err(invalid("it does not start with {\\rtf".into()));
        }
        let mut encoding = encoding_rs::WINDOWS_1252;
        let mut text = String::new();
        // Byte offset in `text` of each output line's start, with the source line it started on.
        let mut rows: Vec<(usize, u32)> = vec![(0, 1)];
        let mut line = 1u32;
        let mut stack = vec![Group { skip: false, uc: 1 }];
        let mut pending_skip = 0u32;
        let mut bytes_run: Vec<u8> = Vec::new();
        let mut i = 0;
        let n = bytes.len();
        // Flushes \'hh bytes gathered in a run through the code page.
        let flush = |run: &mut Vec<u8>, text: &mut String, encoding: &'static encoding_rs::Encoding| {
            if !run.is_empty() {
                let (decoded, _, _) = encoding.decode(run);
                text.push_str(&decoded);
                run.clear();
            }
        };
        let newline = |text: &mut String, rows: &mut Vec<(usize, u32)>, line: u32| {
            text.push('\n');
            rows.push((text.len(), line));
        };
        while i < n {
            let b = bytes[i];
            let skip = stack.last().is_some_and(|g| g.skip);
            match b {
                b'{' => {
                    flush(&mut bytes_run, &mut text, encoding);
                    if stack.len() >= MAX_DEPTH {
                        return Err(invalid(format!("groups nested over {MAX_DEPTH} deep")));
                    }
                    let top = *stack.last().unwrap_or(&Group { skip: false, uc: 1 });
                    stack.push(top);
                    // `{\*\dest ...}`: an optional destination, never body text.
                    if bytes.get(i + 1..i + 3) == Some(b"\\*") {
                        if let Some(g) = stack.last_mut() {
                            g.skip = true;
                        }
                    }
                    i += 1;
                }
                b'}' => {
                    flush(&mut bytes_run, &mut text, encoding);
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    i += 1;
                }
                b'\\' => {
                    i += 1;
                    let Some(&c) = bytes.get(i) else { break };
                    if c == b'\'' {
                        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                        if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            if pending_skip > 0 {
                                pending_skip -= 1;
                            } else if !skip {
                                bytes_run.push(v);
                            }
                        }
                        i += 3;
                        continue;
                    }
                    flush(&mut bytes_run, &mut text, encoding);
                    if !c.is_ascii_alphabetic() {
                        // A control symbol.
                        match c {
                            b'\\' | b'{' | b'}' if !skip => text.push(c as char),
                            b'~' if !skip => text.push('\u{a0}'),
                            b'\n' | b'\r' if !skip => newline(&mut text, &mut rows, line),
                            _ => {}
                        }
                        if c == b'\n' {
                            line += 1;
                        }
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while i < n && bytes[i].is_ascii_alphabetic() && i - start < 32 {
                        i += 1;
                    }
                    let word = std::str::from_utf8(&bytes[start..i]).unwrap_or_default();
                    let num_start = i;
                    if i < n && bytes[i] == b'-' {
                        i += 1;
                    }
                    while i < n && bytes[i].is_ascii_digit() && i - num_start < 11 {
                        i += 1;
                    }
                    let param: Option<i64> = std::str::from_utf8(&bytes[num_start..i])
                        .ok()
                        .and_then(|s| s.parse().ok());
                    if i < n && bytes[i] == b' ' {
                        i += 1;
                    }
                    if SKIPPED.contains(&word) {
                        if let Some(g) = stack.last_mut() {
                            g.skip = true;
                        }
                        continue;
                    }
                    match word {
                        "ansicpg" => {
                            if let Some(cp) = param {
                                encoding = code_page(cp).unwrap_or(encoding);
                            }
                        }
                        "uc" => {
                            if let Some(g) = stack.last_mut() {
                                g.uc = param.unwrap_or(1).clamp(0, 8) as u32;
                            }
                        }
                        "u" => {
                            if let Some(v) = param {
                                let v = if v < 0 { v + 65_536 } else { v };
                                if !skip {
                                    text.push(char::from_u32(v as u32).unwrap_or('\u{fffd}'));
                                }
                                pending_skip = stack.last().map_or(1, |g| g.uc);
                                // The fallback characters follow; plain ones are skipped below.
                                while pending_skip > 0 && i < n && !matches!(bytes[i], b'\\' | b'{' | b'}') {
                                    i += 1;
                                    pending_skip -= 1;
                                }
                            }
                        }
                        "par" | "line" | "sect" | "page" | "row" if !skip => newline(&mut text, &mut rows, line),
                        "tab" | "cell" if !skip => text.push(' '),
                        "emdash" if !skip => text.push('—'),
                        "endash" if !skip => text.push('–'),
                        "bullet" if !skip => text.push('•'),
                        "lquote" if !skip => text.push('‘'),
                        "rquote" if !skip => text.push('’'),
                        "ldblquote" if !skip => text.push('“'),
                        "rdblquote" if !skip => text.push('”'),
                        "bin" => {
                            // Raw binary data of the given length.
                            i = i.saturating_add(param.unwrap_or(0).max(0) as usize).min(n);
                        }
                        _ => {}
                    }
                }
                b'\n' => {
                    flush(&mut bytes_run, &mut text, encoding);
                    line += 1;
                    // A line of output that has no text yet starts on the source line that brings it.
                    if let Some(last) = rows.last_mut().filter(|last| last.0 == text.len()) {
                        last.1 = line;
                    }
                    i += 1;
                }
                b'\r' => i += 1,
                _ => {
                    flush(&mut bytes_run, &mut text, encoding);
                    if pending_skip > 0 {
                        pending_skip -= 1;
                    } else if !skip {
                        // Plain text runs to the next special byte.
                        let end = bytes[i..]
                            .iter()
                            .position(|b| matches!(b, b'\\' | b'{' | b'}' | b'\n' | b'\r'))
                            .map_or(n, |p| i + p);
                        let (decoded, _, _) = encoding.decode(&bytes[i..end]);
                        text.push_str(&decoded);
                        i = end;
                        continue;
                    }
                    i += 1;
                }
            }
        }
        flush(&mut bytes_run, &mut text, encoding);
        if text.trim().is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        // Keep only the starts of lines that remain, each trimmed of its trailing spaces.
        rows.retain(|&(offset, _)| offset <= text.len());
        let mut doc = Document::new(DocKind::Rtf, text, LocationMap::Rows(rows));
        doc.title = doc
            .text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(120).collect());
        Ok(doc)
    }
}

/// The encoding of a Windows code page number.
fn code_page(cp: i64) -> Option<&'static encoding_rs::Encoding> {
    let label = match cp {
        65001 => "utf-8".to_owned(),
        932 => "shift_jis".to_owned(),
        936 => "gbk".to_owned(),
        949 => "euc-kr".to_owned(),
        950 => "big5".to_owned(),
        874 => "windows-874".to_owned(),
        1250..=1258 => format!("windows-{cp}"),
        _ => return None,
    };
    encoding_rs::Encoding::for_label(label.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_text_with_escapes_and_source_lines() {
        let rtf = b"{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Times;}}{\\colortbl;\\red0\\green0\\blue0;}\n\
{\\*\\generator Writer;}\\f0 Pump handbook\\par\n\
The caf\\'e9 pump runs at 11\\~bar \\{max\\}.\\par\n\
Unicode: \\u8364? sign\\par\n\
}";
        let doc = RtfConnector.load(Path::new("a.rtf"), rtf).unwrap();
        assert_eq!(
            doc.text,
            "Pump handbook\nThe caf\u{e9} pump runs at 11\u{a0}bar {max}.\nUnicode: \u{20ac} sign\n"
        );
        let at = doc.text.find("Unicode").unwrap();
        assert_eq!(doc.locate(at..at + 3).describe("rtf"), "line 4");
        let at = doc.text.find("The").unwrap();
        assert_eq!(doc.locate(at..at + 3).lines, Some((3, 3)));
        assert!(RtfConnector.load(Path::new("b.rtf"), b"hello").is_err());
        let deep = format!("{{\\rtf1 {}x{}}}", "{".repeat(10_000), "}".repeat(10_000));
        assert!(RtfConnector.load(Path::new("c.rtf"), deep.as_bytes()).is_err());
    }
}
