//! Errors of the connectors: one variant per reason a file cannot be loaded.

use std::path::PathBuf;

/// Why a file could not be turned into a [`crate::Document`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The extension is not one of the supported formats.
    #[error("{path}: unsupported file type")]
    Unsupported {
        /// The file.
        path: PathBuf,
    },
    /// The file has no bytes, or only whitespace.
    #[error("{path}: empty file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A text format holds binary data (NUL bytes or mostly control characters).
    #[error("{path}: binary data in a text file")]
    Binary {
        /// The file.
        path: PathBuf,
    },
    /// The PDF could not be parsed.
    #[error("{path}: cannot parse PDF: {reason}")]
    Pdf {
        /// The file.
        path: PathBuf,
        /// What the PDF parser reported.
        reason: String,
    },
    /// The PDF parsed but holds no text, neither in a text layer nor by OCR of its pages.
    #[error("{path}: PDF has no extractable text (no text layer, and OCR found none)")]
    PdfNoText {
        /// The file.
        path: PathBuf,
    },
    /// The file's text can only be had by OCR (a scan, an image), and the OCR programs are not installed.
    #[error("{path}: needs OCR: {hint}")]
    NeedsOcr {
        /// The file.
        path: PathBuf,
        /// What to install (`install tesseract-ocr`).
        hint: &'static str,
    },
    /// OCR read an image and found no text in it (a photo): nothing to index, not a fault of the file.
    #[error("{path}: no text found in the image by OCR")]
    ImageNoText {
        /// The file.
        path: PathBuf,
    },
    /// OCR ran on the file and failed (a corrupt image, a program that stopped).
    #[error("{path}: OCR failed: {reason}")]
    Ocr {
        /// The file.
        path: PathBuf,
        /// What the OCR program reported.
        reason: String,
    },
    /// A container format (a zip-based office document, for example) that cannot be read, with why.
    #[error("{path}: unreadable as {what}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should have been ("a .docx").
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The PDF is encrypted and no password is known.
    #[error("{path}: PDF is encrypted")]
    PdfEncrypted {
        /// The file.
        path: PathBuf,
    },
}
