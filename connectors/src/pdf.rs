//! PDF: text per page through `pdf-extract`, isolated so that a damaged file is an error, never a crash.
//!
//! `pdf-extract` (and `lopdf` below it) panic on some damaged content streams; extraction runs
//! [contained](crate::contain), and such a panic is reported as [`Error::Pdf`].

use std::path::Path;

use crate::contain::contain;
use crate::{Connector, DocKind, Document, Error, LocationMap};

/// Loads `.pdf` files page by page.
pub(crate) struct PdfConnector;

impl Connector for PdfConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let pages = match contain(|| pdf_extract::extract_text_from_mem_by_pages(bytes)) {
            Ok(Ok(pages)) => pages,
            Ok(Err(err)) => {
                let reason = err.to_string();
                let lower = reason.to_ascii_lowercase();
                if lower.contains("decrypt") || lower.contains("encrypt") || lower.contains("password") {
                    return Err(Error::PdfEncrypted {
                        path: path.to_path_buf(),
                    });
                }
                return Err(Error::Pdf {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            Err(panic) => {
                return Err(Error::Pdf {
                    path: path.to_path_buf(),
                    reason: format!("damaged content ({panic})"),
                });
            }
        };
        let mut pages = pages;
        let warnings = ocr_blank_pages(path, bytes, &mut pages)?;
        let (text, starts) = join_pages(&pages);
        if text.trim().is_empty() {
            return Err(Error::PdfNoText {
                path: path.to_path_buf(),
            });
        }
        let mut doc = Document::new(DocKind::Pdf, text, LocationMap::Pages(starts));
        doc.warnings = warnings;
        Ok(doc)
    }
}

/// Reads the pages without a text layer (scans) by OCR, when the OCR programs are installed; the warnings
/// to report. Without them, a PDF with no text at all is [`Error::NeedsOcr`], and one with some text gets a
/// warning counting the pages left out.
fn ocr_blank_pages(path: &Path, bytes: &[u8], pages: &mut [String]) -> Result<Vec<String>, Error> {
    let blank: Vec<usize> = (0..pages.len()).filter(|&i| pages[i].trim().is_empty()).collect();
    if blank.is_empty() {
        return Ok(Vec::new());
    }
    let all = blank.len() == pages.len();
    let (Some(tesseract), Some(pdftoppm)) = (crate::ocr::tesseract(), crate::ocr::pdftoppm()) else {
        let hint = crate::ocr::install_hint(path);
        if all {
            return Err(Error::NeedsOcr {
                path: path.to_path_buf(),
                hint,
            });
        }
        return Ok(vec![format!(
            "{} page(s) without a text layer not read: they need OCR ({hint})",
            blank.len()
        )]);
    };
    let mut warnings = Vec::new();
    let mut read = 0;
    let mut errors = Vec::new();
    let scan = crate::ocr::PdfPages::new(tesseract, pdftoppm, bytes).map_err(|reason| Error::Ocr {
        path: path.to_path_buf(),
        reason,
    })?;
    let numbers: Vec<u32> = blank
        .iter()
        .take(crate::ocr::MAX_PAGES)
        .map(|&i| i as u32 + 1)
        .collect();
    for (page, text) in scan.texts(&numbers) {
        match text {
            Ok(text) => {
                read += usize::from(!text.trim().is_empty());
                pages[page as usize - 1] = text;
            }
            Err(e) => errors.push(format!("page {page}: {e}")),
        }
    }
    if all && read == 0 && !errors.is_empty() {
        return Err(Error::Ocr {
            path: path.to_path_buf(),
            reason: errors.swap_remove(0),
        });
    }
    if read > 0 {
        warnings.push(format!("{read} page(s) without a text layer read by OCR"));
    }
    if blank.len() > crate::ocr::MAX_PAGES {
        warnings.push(format!(
            "{} page(s) past the first {} without a text layer not read by OCR",
            blank.len() - crate::ocr::MAX_PAGES,
            crate::ocr::MAX_PAGES
        ));
    }
    warnings.extend(errors.into_iter().map(|e| format!("OCR failed on {e}")));
    Ok(warnings)
}

/// Joins page texts with blank lines, returning the text and the byte offset where each page starts.
fn join_pages(pages: &[String]) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut starts = Vec::with_capacity(pages.len());
    for page in pages {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        starts.push(text.len());
        text.push_str(page.trim());
    }
    (text, starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_joined_with_their_starts() {
        let (text, starts) = join_pages(&["  one ".into(), "two".into(), String::new(), "four".into()]);
        assert_eq!(text, "one\n\ntwo\n\n\n\nfour");
        assert_eq!(starts, vec![0, 5, 10, 12]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = PdfConnector
            .load(Path::new("bad.pdf"), b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
            .unwrap_err();
        assert!(matches!(err, Error::Pdf { .. }), "{err}");
        assert!(!crate::in_contained_parser());
    }
}
