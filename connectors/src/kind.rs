//! The closed set of supported formats, chosen by file extension.

use std::path::Path;

use crate::Connector;

/// The format of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Plain text (`.txt`, `.text`, `.log`, `.rst`, `.adoc`, `.org`, `.tex`).
    Text,
    /// Markdown (`.md`, `.markdown`).
    Markdown,
    /// HTML (`.html`, `.htm`, `.xhtml`).
    Html,
    /// PDF with a text layer.
    Pdf,
    /// Word (`.docx`, Office Open XML).
    Docx,
    /// OpenDocument text (`.odt`).
    Odt,
    /// Spreadsheets and delimited data: `xlsx`, `xlsm`, `xlsb`, `xls`, `ods`, `csv`, `tsv`.
    Sheet(&'static str),
    /// Slide decks: `pptx`, `odp`.
    Slides(&'static str),
    /// EPUB books.
    Epub,
    /// Jupyter notebooks (`.ipynb`).
    Notebook,
    /// Saved mail: `eml` (one message), `mbox` (a mailbox), `msg` (one Outlook message).
    Mail(&'static str),
    /// Rich Text Format.
    Rtf,
    /// Images (`png`, `jpg`, `jpeg`, `tif`, `tiff`, `bmp`, `gif`, `webp`), read by OCR.
    Image(&'static str),
    /// Source code; the payload names the language as its usual extension.
    Code(&'static str),
}

/// Spreadsheet and delimited-data extensions.
const SHEET_EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xlsb", "xls", "ods", "csv", "tsv"];

/// Image extensions, read by OCR.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif", "webp"];

/// Source-code extensions that are indexed as text with line numbers.
const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java", "kt", "kts", "scala", "c", "h", "cc", "cpp",
    "cxx", "hpp", "hh", "cs", "rb", "php", "swift", "m", "mm", "sh", "bash", "zsh", "fish", "ps1", "lua", "pl", "r",
    "jl", "hs", "ml", "ex", "exs", "erl", "clj", "dart", "sql", "toml", "yaml", "yml", "json", "jsonl", "ndjson",
    "xml", "ini", "cfg", "proto", "gradle", "cmake", "mk", "vue", "svelte", "css", "scss", "zig", "nim", "v", "tf",
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
            "txt" | "text" | "log" | "rst" | "adoc" | "org" | "tex" => DocKind::Text,
            "md" | "markdown" | "mdx" => DocKind::Markdown,
            "html" | "htm" | "xhtml" => DocKind::Html,
            "pdf" => DocKind::Pdf,
            "docx" => DocKind::Docx,
            "odt" => DocKind::Odt,
            "pptx" => DocKind::Slides("pptx"),
            "odp" => DocKind::Slides("odp"),
            "epub" => DocKind::Epub,
            "ipynb" => DocKind::Notebook,
            "eml" => DocKind::Mail("eml"),
            "mbox" => DocKind::Mail("mbox"),
            "msg" => DocKind::Mail("msg"),
            "rtf" => DocKind::Rtf,
            other if IMAGE_EXTENSIONS.contains(&other) => {
                DocKind::Image(IMAGE_EXTENSIONS.iter().copied().find(|e| *e == other)?)
            }
            other if Self::is_sheet_name(other) => {
                DocKind::Sheet(SHEET_EXTENSIONS.iter().copied().find(|e| *e == other)?)
            }
            other => DocKind::Code(CODE_EXTENSIONS.iter().copied().find(|e| *e == other)?),
        })
    }

    /// A short lowercase name: `txt`, `md`, `html`, `pdf`, `docx`, `odt`, `epub`, `ipynb`, `rtf`, or the
    /// extension of a sheet, deck, mail or code file.
    pub fn name(&self) -> &'static str {
        match self {
            DocKind::Text => "txt",
            DocKind::Markdown => "md",
            DocKind::Html => "html",
            DocKind::Pdf => "pdf",
            DocKind::Docx => "docx",
            DocKind::Odt => "odt",
            DocKind::Epub => "epub",
            DocKind::Notebook => "ipynb",
            DocKind::Rtf => "rtf",
            DocKind::Sheet(ext)
            | DocKind::Slides(ext)
            | DocKind::Mail(ext)
            | DocKind::Image(ext)
            | DocKind::Code(ext) => ext,
        }
    }

    /// Whether `name` (a [`DocKind::name`] or an extension) is a spreadsheet or delimited-data format.
    pub fn is_sheet_name(name: &str) -> bool {
        SHEET_EXTENSIONS.contains(&name)
    }

    /// Whether the extracted text is markdown-shaped (`#` headings, blank lines between blocks), so the
    /// chunker splits it at markdown structure.
    pub fn is_markdown_shaped(&self) -> bool {
        matches!(
            self,
            DocKind::Markdown | DocKind::Docx | DocKind::Odt | DocKind::Epub | DocKind::Notebook | DocKind::Slides(_)
        )
    }

    /// The connector that loads this format.
    pub fn connector(self) -> Box<dyn Connector> {
        match self {
            DocKind::Code("json") => Box::new(crate::json::JsonConnector(self)),
            DocKind::Text | DocKind::Markdown | DocKind::Code(_) => Box::new(crate::text::TextConnector(self)),
            DocKind::Html => Box::new(crate::html::HtmlConnector),
            DocKind::Pdf => Box::new(crate::pdf::PdfConnector),
            DocKind::Docx => Box::new(crate::docx::DocxConnector),
            DocKind::Odt => Box::new(crate::odf::OdtConnector),
            DocKind::Sheet(_) => Box::new(crate::sheet::SheetConnector(self)),
            DocKind::Slides(_) => Box::new(crate::slides::SlidesConnector(self)),
            DocKind::Epub => Box::new(crate::epub::EpubConnector),
            DocKind::Notebook => Box::new(crate::notebook::NotebookConnector),
            DocKind::Mail(_) => Box::new(crate::mail::MailConnector(self)),
            DocKind::Rtf => Box::new(crate::rtf::RtfConnector),
            DocKind::Image(_) => Box::new(crate::image::ImageConnector(self)),
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
        assert_eq!(kind("Budget.XLSX"), Some("xlsx"));
        assert_eq!(kind("data.csv"), Some("csv"));
        assert_eq!(kind("deck.odp"), Some("odp"));
        assert_eq!(kind("inbox.mbox"), Some("mbox"));
        assert_eq!(kind("Re Budget.MSG"), Some("msg"));
        assert_eq!(kind("a.ipynb"), Some("ipynb"));
        assert_eq!(kind("Makefile"), Some("make"));
        assert_eq!(kind("photo.JPG"), Some("jpg"));
        assert_eq!(kind("movie.mp4"), None);
        assert_eq!(kind("noext"), None);
    }
}
