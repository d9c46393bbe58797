//! JSON (`.json`): the file is the text, so a citation names its lines, and each line also carries the JSON
//! pointer (RFC 6901) of the value it is in (`/pumps/2/pressure`), found by a scan that keeps only the path
//! it is on: no tree in memory, linear in the file. A file that is not valid JSON keeps its lines, without
//! pointers, and says so in a warning. JSON Lines (`.jsonl`) are one record a line: the line is the place.

use std::path::Path;

use crate::decode::decode_text;
use crate::document::{Document, LocationMap};
use crate::{Connector, DocKind, Error};

/// Pointers deeper than this are cut at this depth (the place is still named, less precisely).
const MAX_DEPTH: usize = 32;

/// Loads `.json` files (and `.jsonl`, whose lines are their records).
pub(crate) struct JsonConnector(pub(crate) DocKind);

impl Connector for JsonConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let (text, warning) = decode_text(path, bytes)?;
        let mut doc = Document::new(self.0, text, LocationMap::Lines);
        doc.warnings.extend(warning);
        if self.0.name() == "json" {
            match pointers(&doc.text) {
                Ok(anchors) => doc.anchors = anchors,
                Err(at) => doc.warnings.push(format!(
                    "not valid JSON (at byte {at}): indexed as text, cited by lines only"
                )),
            }
        }
        Ok(doc)
    }
}

enum Frame {
    /// An object: the key of the member being read, once known.
    Object(Option<String>),
    /// An array: the index of the element being read.
    Array(usize),
}

fn pointer(stack: &[Frame]) -> String {
    let mut out = String::new();
    for frame in stack.iter().take(MAX_DEPTH) {
        out.push('/');
        match frame {
            Frame::Object(Some(key)) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Frame::Object(None) => {}
            Frame::Array(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// For each line where the innermost value changes, the byte offset of the line and the pointer of the
/// value open there; `Err(byte)` where the text stops being JSON.
fn pointers(text: &str) -> Result<Vec<(usize, String)>, usize> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, String)> = Vec::new();
    let mut line_start = 0usize;
    let mut line_marked = false;
    let mut i = 0;
    let mut expect_key = false;
    let mut seen_root = false;
    let mark = |anchors: &mut Vec<(usize, String)>, stack: &[Frame], at: usize| {
        let p = pointer(stack);
        if anchors.last().is_none_or(|(_, last)| *last != p) {
            anchors.push((at, p));
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line_start = i + 1;
                line_marked = false;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b',' | b':' => {
                if b == b',' {
                    match stack.last_mut() {
                        Some(Frame::Array(n)) => *n += 1,
                        Some(Frame::Object(key)) => {
                            *key = None;
                            expect_key = true;
                        }
                        None => return Err(i),
                    }
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        if !line_marked {
            line_marked = true;
            mark(&mut anchors, &stack, line_start);
        }
        match b {
            b'{' | b'[' => {
                if stack.is_empty() && seen_root {
                    return Err(i);
                }
                seen_root = true;
                stack.push(if b == b'{' {
                    Frame::Object(None)
                } else {
                    Frame::Array(0)
                });
                expect_key = b == b'{';
                i += 1;
            }
            b'}' | b']' => {
                match (stack.pop(), b) {
                    (Some(Frame::Object(_)), b'}') | (Some(Frame::Array(_)), b']') => {}
                    _ => return Err(i),
                }
                expect_key = false;
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(start - 1);
                }
                let raw = &text[start..i];
                i += 1;
                if expect_key {
                    let key = serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned());
                    if let Some(Frame::Object(slot)) = stack.last_mut() {
                        *slot = Some(key);
                    }
                    expect_key = false;
                    // The member's value starts on this line: name it from here.
                    if let Some(last) = anchors.last_mut().filter(|(at, _)| *at == line_start) {
                        last.1 = pointer(&stack);
                    } else {
                        mark(&mut anchors, &stack, line_start);
                    }
                } else if stack.is_empty() {
                    seen_root = true;
                }
            }
            _ => {
                // A number, true, false, null.
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    i += 1;
                }
                let word = &text[start..i];
                let valid = matches!(word, "true" | "false" | "null") || word.parse::<f64>().is_ok();
                if !valid {
                    return Err(start);
                }
                if stack.is_empty() {
                    seen_root = true;
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(bytes.len());
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_pointer_of_their_value() {
        let text = "{\n  \"name\": \"station\",\n  \"pumps\": [\n    {\"id\": \"K-40\",\n     \"limit\": 11},\n    {\n      \"id\": \"O-90\",\n      \"a/b\": 16\n    }\n  ]\n}\n";
        let doc = JsonConnector(DocKind::Code("json"))
            .load(Path::new("s.json"), text.as_bytes())
            .unwrap();
        let at = |s: &str| doc.text.find(s).unwrap();
        let place = |s: &str| doc.locate(at(s)..at(s) + 2).describe("json");
        assert_eq!(place("\"limit\""), "line 5 (/pumps/0/limit)");
        assert_eq!(place("\"O-90\""), "line 7 (/pumps/1/id)");
        assert_eq!(place("\"a/b\""), "line 8 (/pumps/1/a~1b)");
        assert_eq!(place("\"name\""), "line 2 (/name)");
        let bad = JsonConnector(DocKind::Code("json"))
            .load(Path::new("b.json"), b"{\"a\": tru }")
            .unwrap();
        assert!(bad.warnings[0].contains("not valid JSON"), "{:?}", bad.warnings);
        assert_eq!(bad.locate(0..3).describe("json"), "line 1");
    }
}
