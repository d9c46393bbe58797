//! Images (`.png`, `.jpg`, `.tiff`, ...): their text read by OCR ([`crate::ocr`]). Each page of a multi-page
//! TIFF is a page of the document, so a citation names it (`scan.tiff, page 2`); a single image is page 1.

use std::path::Path;

use crate::document::{Document, LocationMap};
use crate::{Connector, DocKind, Error};

/// Loads images by OCR; the [`DocKind`] it carries names the format.
pub(crate) struct ImageConnector(pub(crate) DocKind);

impl Connector for ImageConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let Some(tesseract) = crate::ocr::tesseract() else {
            return Err(Error::NeedsOcr {
                path: path.to_path_buf(),
                hint: crate::ocr::install_hint(path),
            });
        };
        let text = crate::ocr::image_text(tesseract, bytes).map_err(|reason| Error::Ocr {
            path: path.to_path_buf(),
            reason,
        })?;
        // Tesseract ends each page with a form feed; a blank page keeps its number.
        let mut pages: Vec<&str> = text.split('\u{c}').map(str::trim).collect();
        while pages.len() > 1 && pages.last().is_some_and(|p| p.is_empty()) {
            pages.pop();
        }
        let mut out = String::new();
        let mut starts = Vec::new();
        for page in pages {
            if !starts.is_empty() {
                out.push_str("\n\n");
            }
            starts.push(out.len());
            out.push_str(page);
        }
        if out.trim().is_empty() {
            return Err(Error::ImageNoText {
                path: path.to_path_buf(),
            });
        }
        Ok(Document::new(self.0, out, LocationMap::Pages(starts)))
    }
}
