//! HTML: the visible text only, with headings kept as their own lines and used as section locations.
//!
//! Scripts, styles, navigation and page chrome (`nav`, `header`, `footer`, `aside`, forms) are dropped.
//! The tree is walked iteratively, so deeply nested markup cannot overflow the stack.

use std::path::Path;

use scraper::node::Node;
use scraper::Html;

use crate::decode::decode_text;
use crate::{Connector, DocKind, Document, Error, LocationMap};

/// Loads `.html` files.
pub(crate) struct HtmlConnector;

/// Elements whose whole subtree is not visible body text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "head", "nav", "header", "footer", "aside", "form", "button", "select",
    "svg", "iframe", "object", "canvas",
];

/// Elements that start a new line of text.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "br",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "td",
    "th",
    "pre",
    "blockquote",
    "hr",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "body",
];

impl Connector for HtmlConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let (source, warning) = decode_text(path, bytes)?;
        let html = Html::parse_document(&source);
        let mut out = TextBuilder::default();
        let mut title = None;
        let mut skip_depth = 0usize;
        let mut heading_start: Option<usize> = None;
        let mut sections = Vec::new();
        for edge in html.root_element().traverse() {
            match edge {
                ego_tree::iter::Edge::Open(node) => match node.value() {
                    Node::Element(element) => {
                        let name = element.name();
                        if name == "title" && title.is_none() {
                            let text: String = node
                                .descendants()
                                .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
                                .collect();
                            let text = collapse_whitespace(&text);
                            title = (!text.is_empty()).then_some(text);
                        }
                        if skip_depth > 0 || SKIPPED.contains(&name) {
                            skip_depth += 1;
                        } else if is_heading(name) {
                            out.newline();
                            heading_start = Some(out.text.len());
                        } else if BLOCKS.contains(&name) {
                            out.newline();
                        }
                    }
                    Node::Text(text) if skip_depth == 0 => out.push_text(text),
                    _ => {}
                },
                ego_tree::iter::Edge::Close(node) => {
                    if let Node::Element(element) = node.value() {
                        let name = element.name();
                        if skip_depth > 0 {
                            skip_depth -= 1;
                        } else if is_heading(name) {
                            if let Some(start) = heading_start.take() {
                                let heading = out.text[start..].trim().to_owned();
                                if !heading.is_empty() {
                                    sections.push((start, heading));
                                }
                            }
                            out.newline();
                        } else if BLOCKS.contains(&name) {
                            out.newline();
                        }
                    }
                }
            }
        }
        let text = out.text.trim_end().to_owned();
        if text.trim().is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut doc = Document::new(DocKind::Html, text, LocationMap::Sections(sections));
        doc.title = title;
        doc.warnings.extend(warning);
        Ok(doc)
    }
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Accumulates visible text with collapsed whitespace and at most one blank line between blocks.
#[derive(Default)]
struct TextBuilder {
    text: String,
}

impl TextBuilder {
    fn push_text(&mut self, raw: &str) {
        let starts_with_space = raw.starts_with(char::is_whitespace);
        let ends_with_space = raw.ends_with(char::is_whitespace);
        let words = collapse_whitespace(raw);
        if words.is_empty() {
            if starts_with_space {
                self.space();
            }
            return;
        }
        if starts_with_space {
            self.space();
        }
        self.text.push_str(&words);
        if ends_with_space {
            self.space();
        }
    }

    fn space(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
            self.text.push(' ');
        }
    }

    fn newline(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if self.text.is_empty() || self.text.ends_with("\n\n") {
            return;
        }
        self.text.push('\n');
        if !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_and_headings() {
        let html = br#"<html><head><title>Ops guide</title><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu</a></nav>
<h1>Startup</h1><p>Open the <b>inlet</b> valve.</p><script>var secret = 1;</script>
<h2>Shutdown</h2><p>Close it.</p><footer>Copyright</footer></body></html>"#;
        let doc = HtmlConnector.load(Path::new("g.html"), html).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Ops guide"));
        assert_eq!(doc.text, "Startup\n\nOpen the inlet valve.\n\nShutdown\n\nClose it.");
        let at = doc.text.find("Close").unwrap();
        assert_eq!(doc.locate(at..at + 5).describe(), "§ Shutdown");
        let at = doc.text.find("inlet").unwrap();
        assert_eq!(doc.locate(at..at + 5).section.as_deref(), Some("Startup"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut html = String::new();
        for _ in 0..20_000 {
            html.push_str("<div>");
        }
        html.push_str("deep text");
        let doc = HtmlConnector.load(Path::new("d.html"), html.as_bytes()).unwrap();
        assert!(doc.text.contains("deep text"));
    }
}
