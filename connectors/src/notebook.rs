//! Jupyter notebooks (`.ipynb`, nbformat 4): each cell is a numbered part (1-based, in notebook order):
//! markdown cells as written (their headings the outline), code cells fenced with the kernel's language, then
//! their text outputs (stream text, `text/plain` results, errors); images and other rich outputs are left
//! out. An output over [`MAX_OUTPUT_BYTES`] is cut with a note. A citation names the cell: `cell 7 (Setup)`.

use std::path::Path;

use serde_json::Value;

use crate::blocks::Blocks;
use crate::document::{Document, Heading};
use crate::{Connector, DocKind, Error};

/// Most bytes of one cell's outputs kept; the rest is cut (a 50 MB log printed by a cell says little).
const MAX_OUTPUT_BYTES: usize = 64 << 10;

/// Loads `.ipynb` files.
pub(crate) struct NotebookConnector;

/// A notebook field that is a string or a list of strings (nbformat allows both), joined.
fn joined(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// The text outputs of a code cell, cut at [`MAX_OUTPUT_BYTES`].
fn outputs(cell: &Value) -> (String, usize) {
    let mut text = String::new();
    for output in cell.get("outputs").and_then(Value::as_array).into_iter().flatten() {
        let piece = match output.get("output_type").and_then(Value::as_str) {
            Some("stream") => joined(output.get("text")),
            Some("execute_result" | "display_data") => joined(output.get("data").and_then(|d| d.get("text/plain"))),
            Some("error") => format!(
                "{}: {}",
                output.get("ename").and_then(Value::as_str).unwrap_or("Error"),
                output.get("evalue").and_then(Value::as_str).unwrap_or_default()
            ),
            _ => String::new(),
        };
        text.push_str(piece.trim_end());
        if !piece.trim().is_empty() {
            text.push('\n');
        }
    }
    if text.len() <= MAX_OUTPUT_BYTES {
        return (text, 0);
    }
    let mut cut = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = text.len() - cut;
    text.truncate(cut);
    (text, dropped)
}

impl Connector for NotebookConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let invalid = |reason: String| Error::Invalid {
            path: path.to_path_buf(),
            what: "an .ipynb notebook",
            reason,
        };
        let notebook: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let cells = notebook
            .get("cells")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("it has no \"cells\" list (nbformat 4 is read)".into()))?;
        let language = notebook
            .pointer("/metadata/kernelspec/language")
            .or_else(|| notebook.pointer("/metadata/language_info/name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut out = Blocks::default();
        let mut cut = 0;
        for (i, cell) in cells.iter().enumerate() {
            let source = joined(cell.get("source"));
            let kind = cell.get("cell_type").and_then(Value::as_str).unwrap_or_default();
            let (outputs, dropped) = if kind == "code" {
                outputs(cell)
            } else {
                (String::new(), 0)
            };
            if source.trim().is_empty() && outputs.trim().is_empty() {
                continue;
            }
            out.part(i as u32 + 1);
            match kind {
                "markdown" => {
                    let base = out.text.len();
                    let text = source.trim_end();
                    out.text.push_str(text);
                    out.outline
                        .extend(crate::text::markdown_outline(text).into_iter().map(|h| Heading {
                            offset: base + h.offset,
                            end: base + h.end,
                            ..h
                        }));
                }
                "code" => {
                    if !source.trim().is_empty() {
                        out.verbatim(&format!("```{language}\n{}\n```", source.trim_end()));
                    }
                    if !outputs.trim().is_empty() {
                        let note = match dropped {
                            0 => String::new(),
                            n => format!("\n[output cut: {n} more bytes]"),
                        };
                        out.verbatim(&format!("Output:\n{}{note}", outputs.trim_end()));
                    }
                    cut += usize::from(dropped > 0);
                }
                _ => out.verbatim(&source),
            }
        }
        let title = out.outline.iter().find(|h| h.level == 1).map(|h| h.text.clone());
        let mut doc = out.into_parts(path, DocKind::Notebook, title)?;
        if cut > 0 {
            doc.warnings.push(format!(
                "{cut} cell output(s) over {} KiB cut to that size",
                MAX_OUTPUT_BYTES >> 10
            ));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_numbered_parts_with_their_outputs() {
        let nb = br##"{"cells":[
 {"cell_type":"markdown","source":["# Setup\n","Install the pump driver."]},
 {"cell_type":"code","source":"print(2+2)","outputs":[{"output_type":"stream","name":"stdout","text":["4\n"]},
   {"output_type":"display_data","data":{"image/png":"AAAA","text/plain":["<Figure>"]}}]},
 {"cell_type":"code","source":[],"outputs":[]},
 {"cell_type":"code","source":"1/0","outputs":[{"output_type":"error","ename":"ZeroDivisionError","evalue":"division by zero","traceback":[]}]}
],"metadata":{"kernelspec":{"language":"python"}},"nbformat":4,"nbformat_minor":5}"##;
        let doc = NotebookConnector.load(Path::new("a.ipynb"), nb).unwrap();
        assert!(
            doc.text.contains("```python\nprint(2+2)\n```\n\nOutput:\n4\n<Figure>"),
            "{}",
            doc.text
        );
        assert!(!doc.text.contains("AAAA"));
        let at = doc.text.find("ZeroDivisionError").unwrap();
        assert_eq!(doc.locate(at..at + 4).pages, Some((4, 4)));
        assert_eq!(doc.locate(at..at + 4).describe("ipynb"), "cell 4 (Setup)");
        let at = doc.text.find("Install").unwrap();
        assert_eq!(doc.locate(at..at + 4).pages, Some((1, 1)));
    }

    #[test]
    fn a_huge_output_is_cut() {
        let big = "x".repeat(MAX_OUTPUT_BYTES * 3);
        let nb = format!(
            r#"{{"cells":[{{"cell_type":"code","source":"run()","outputs":[{{"output_type":"stream","text":"{big}"}}]}}]}}"#
        );
        let doc = NotebookConnector.load(Path::new("a.ipynb"), nb.as_bytes()).unwrap();
        assert!(doc.text.len() < MAX_OUTPUT_BYTES + 200);
        assert!(doc.warnings[0].contains("cut"), "{:?}", doc.warnings);
        let err = NotebookConnector.load(Path::new("b.ipynb"), b"{not json").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}
