//! Plain text, markdown and source code: the decoded file is the document text, so locations are file lines.

use std::path::Path;

use crate::decode::decode_text;
use crate::{Connector, DocKind, Document, Error, LocationMap};

/// Loads text-like formats verbatim; the [`DocKind`] it carries is recorded on the document.
pub(crate) struct TextConnector(pub(crate) DocKind);

impl Connector for TextConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let (text, warning) = decode_text(path, bytes)?;
        let title = match self.0 {
            DocKind::Markdown => markdown_title(&text),
            _ => None,
        };
        let mut doc = Document::new(self.0, text, LocationMap::Lines);
        doc.title = title;
        doc.warnings.extend(warning);
        Ok(doc)
    }
}

/// The first level-one ATX heading of a markdown text, if any.
fn markdown_title(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim_start)
        .find(|line| line.starts_with("# "))
        .map(|line| line.trim_start_matches('#').trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_lines_and_title() {
        let doc = TextConnector(DocKind::Markdown)
            .load(Path::new("a.md"), b"intro\n# Pump manual\n\nPressure is 12 bar.\n")
            .unwrap();
        assert_eq!(doc.title.as_deref(), Some("Pump manual"));
        let start = doc.text.find("Pressure").unwrap();
        let location = doc.locate(start..doc.text.len());
        assert_eq!(location.lines, Some((4, 4)));
    }
}
