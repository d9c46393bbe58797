//! The closed set of supported formats, chosen by file extension.

use std::path::Path;

use crate::Connector;

/// The format of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Plain text (`.txt`, `.text`, `.log`, `.rst`, `.csv`, ...).
    Text,
    /// Markdown (`.md`, `.markdown`).
    Markdown,
    /// HTML (`.html`, `.htm`, `.xhtml`).
    Html,
    /// PDF with a text layer.
    Pdf,
    /// Word (`.docx`, Office Open XML).
    Docx,
    /// Source code; the payload names the language as its usual extension.
    Code(&'static str),
}

/// Source-code extensions that are indexed as text with line numbers.
const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java", "kt", "kts", "scala", "c", "h", "cc", "cpp",
    "cxx", "hpp", "hh", "cs", "rb", "php", "swift", "m", "mm", "sh", "bash", "zsh", "fish", "ps1", "lua", "pl", "r",
    "jl", "hs", "ml", "ex", "exs", "erl", "clj", "dart", "sql", "toml", "yaml", "yml", "json", "xml", "ini", "cfg",
    "proto", "gradle", "cmake", "mk", "vue", "svelte", "css", "scss", "zig", "nim", "v", "tf",
];

impl DocKind {
    /// Picks the format from the file extension (case-insensitive); `None` for unsupported files.
    pub fn from_path(path: &Path) -> Option<DocKind> {
        // A name that is not valid UTF-8 is still typed by its extension.
        let name = path.file_name()?.to_string_lossy();
        if matches!(name.as_ref(), "Makefile" | "Dockerfile" | "CMakeLists.txt") {
            return Some(DocKind::Code("make"));
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "rst" | "csv" | "tsv" | "adoc" | "org" | "tex" => DocKind::Text,
            "md" | "markdown" | "mdx" => DocKind::Markdown,
            "html" | "htm" | "xhtml" => DocKind::Html,
            "pdf" => DocKind::Pdf,
            "docx" => DocKind::Docx,
            other => DocKind::Code(CODE_EXTENSIONS.iter().copied().find(|e| *e == other)?),
        })
    }

    /// A short lowercase name: `txt`, `md`, `html`, `pdf`, or the code extension.
    pub fn name(&self) -> &'static str {
        match self {
            DocKind::Text => "txt",
            DocKind::Markdown => "md",
            DocKind::Html => "html",
            DocKind::Pdf => "pdf",
            DocKind::Docx => "docx",
            DocKind::Code(ext) => ext,
        }
    }

    /// The connector that loads this format.
    pub fn connector(self) -> Box<dyn Connector> {
        match self {
            DocKind::Text | DocKind::Markdown | DocKind::Code(_) => Box::new(crate::text::TextConnector(self)),
            DocKind::Html => Box::new(crate::html::HtmlConnector),
            DocKind::Pdf => Box::new(crate::pdf::PdfConnector),
            DocKind::Docx => Box::new(crate::docx::DocxConnector),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_extensions() {
        let kind = |p: &str| DocKind::from_path(Path::new(p)).map(|k| k.name());
        assert_eq!(kind("a/b.TXT"), Some("txt"));
        assert_eq!(kind("notes.md"), Some("md"));
        assert_eq!(kind("x.htm"), Some("html"));
        assert_eq!(kind("m.pdf"), Some("pdf"));
        assert_eq!(kind("Report.DOCX"), Some("docx"));
        assert_eq!(kind("main.rs"), Some("rs"));
        assert_eq!(kind("Makefile"), Some("make"));
        assert_eq!(kind("photo.jpg"), None);
        assert_eq!(kind("noext"), None);
    }
}
