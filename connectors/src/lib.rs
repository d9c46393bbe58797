//! Document loaders for `rag`: turn the bytes of a file into a [`Document`] whose text keeps its location.
//!
//! This crate is *not* about chunking, embeddings or indexes: it does no network I/O and knows nothing of the
//! engine.
//! Every byte of extracted text can be mapped back to where it came from ([`Document::locate`]): a line span
//! for plain text, markdown and code, a page for PDF, a section heading for HTML and Word.
//!
//! The set of formats is closed: [`DocKind::from_path`] picks one by file extension, and
//! [`DocKind::connector`] returns the [`Connector`] for it.

mod archive;
mod decode;
mod document;
mod docx;
mod error;
mod html;
mod kind;
mod pdf;
mod text;

pub use document::{join_path, Document, Heading, Location, LocationMap, PATH_SEPARATOR};
pub use error::Error;
pub use kind::DocKind;
pub use pdf::in_pdf_extraction;

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
