//! Document loaders for `rag`: turn the bytes of a file into a [`Document`] whose text keeps its location.
//!
//! This crate is *not* about chunking, embeddings or indexes: it does no network I/O and knows nothing of the
//! engine.
//! Every byte of extracted text can be mapped back to where it came from ([`Document::locate`]): a line span
//! for plain text, markdown and code, a page for PDF, a heading path for HTML, Word and OpenDocument text, a
//! slide, a notebook cell, a mail message or a book chapter, a sheet and its rows for spreadsheets.
//!
//! The set of formats is closed: [`DocKind::from_path`] picks one by file extension, and
//! [`DocKind::connector`] returns the [`Connector`] for it.

mod archive;
mod blocks;
mod contain;
mod decode;
mod document;
mod docx;
mod epub;
mod error;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod html;
mod image;
mod json;
mod kind;
mod mail;
mod notebook;
mod ocr;
mod odf;
mod pdf;
mod rtf;
mod sheet;
mod slides;
mod text;

pub use contain::in_contained_parser;
pub use document::{describe_place, join_path, Document, Heading, Location, LocationMap, PATH_SEPARATOR};
pub use error::Error;
pub use kind::DocKind;

use std::path::Path;

/// A loader for one family of file formats.
///
/// Implementations are pure functions of the bytes: they never read the file system themselves, so the caller
/// decides how files are read, limited and timed.
pub trait Connector: Send + Sync {
    /// Extracts the text of `bytes` (the contents of `path`) with its locations.
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error>;
}

/// Loads `bytes` as the document at `path`, picking the connector from the extension.
///
/// Returns [`Error::Unsupported`] for extensions no connector handles.
pub fn load(path: &Path, bytes: &[u8]) -> Result<Document, Error> {
    let kind = DocKind::from_path(path).ok_or_else(|| Error::Unsupported {
        path: path.to_path_buf(),
    })?;
    kind.connector().load(path, bytes)
}
