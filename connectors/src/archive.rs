//! Reading the parts of a zip-based document (OOXML, ODF, EPUB) with bounds: a file that is not a zip, an
//! encrypted part, a missing part, too many entries, or a part that inflates past its limit (a zip bomb) is an
//! error naming the file and the reason; memory never holds more than the limits.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::Error;

/// Most entries a document archive may list (a real office file or book has tens to a few thousand).
pub(crate) const MAX_ENTRIES: usize = 20_000;

/// Most bytes all the parts read from one archive may inflate to, together.
pub(crate) const MAX_TOTAL_BYTES: u64 = 256 << 20;

/// An open document archive: the file it is, what kind of document it should be, and the bytes still
/// allowed to be inflated from it.
pub(crate) struct Archive<'a> {
    path: &'a Path,
    what: &'static str,
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    budget: u64,
}

impl<'a> Archive<'a> {
    /// Opens `bytes` (the file `path`, a document of kind `what`, e.g. "a .docx") as a zip archive.
    pub(crate) fn open(path: &'a Path, bytes: &'a [u8], what: &'static str) -> Result<Archive<'a>, Error> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            what,
            reason: format!(
                "not a zip archive ({e}); a password-protected office file is not a zip and cannot be read"
            ),
        })?;
        let archive = Archive {
            path,
            what,
            zip,
            budget: MAX_TOTAL_BYTES,
        };
        if archive.zip.len() > MAX_ENTRIES {
            return Err(archive.invalid(format!(
                "{} entries in the archive, over the limit of {MAX_ENTRIES}",
                archive.zip.len()
            )));
        }
        Ok(archive)
    }

    /// An [`Error::Invalid`] for this archive.
    pub(crate) fn invalid(&self, reason: String) -> Error {
        Error::Invalid {
            path: self.path.to_path_buf(),
            what: self.what,
            reason,
        }
    }

    /// The names of the entries, in archive order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect()
    }

    /// The sum of the sizes the entries declare once inflated (what a reader that inflates everything, such
    /// as a spreadsheet library, would hold).
    pub(crate) fn declared_size(&mut self) -> u64 {
        (0..self.zip.len())
            .filter_map(|i| self.zip.by_index_raw(i).ok().map(|e| e.size()))
            .fold(0u64, u64::saturating_add)
    }

    /// The bytes of entry `name`, at most `max` once inflated (and within what is left of the archive's
    /// budget); `None` when there is no such entry.
    pub(crate) fn read_opt(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, Error> {
        let limit = max.min(self.budget);
        let mut entry = match self.zip.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(other) => {
                let reason = format!("{name}: {other}");
                return Err(Error::Invalid {
                    path: self.path.to_path_buf(),
                    what: self.what,
                    reason,
                });
            }
        };
        let bomb = |size: u64| {
            format!("{name} would inflate to {size} bytes or more, over the limit of {limit} (a zip bomb?)")
        };
        if entry.size() > limit {
            let reason = bomb(entry.size());
            drop(entry);
            return Err(self.invalid(reason));
        }
        let mut out = Vec::new();
        let read = (&mut entry).take(limit + 1).read_to_end(&mut out);
        drop(entry);
        read.map_err(|e| self.invalid(format!("{name}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(self.invalid(bomb(out.len() as u64)));
        }
        self.budget -= out.len() as u64;
        Ok(Some(out))
    }

    /// The bytes of entry `name`, at most `max` once inflated; a missing entry is an error.
    pub(crate) fn read(&mut self, name: &str, max: u64) -> Result<Vec<u8>, Error> {
        match self.read_opt(name, max)? {
            Some(bytes) => Ok(bytes),
            None => Err(self.invalid(format!("it has no {name}"))),
        }
    }
}

/// The bytes of the entry `name` of the zip archive `bytes` (the file `path`, a document of kind `what`), at
/// most `max` bytes once inflated.
pub(crate) fn read_entry(
    path: &Path,
    bytes: &[u8],
    name: &str,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    Archive::open(path, bytes, what)?.read(name, max)
}

/// `target` (a relative reference inside the archive, as in a relationship or a manifest) resolved against the
/// folder of the entry `base`: `../notesSlides/n1.xml` from `ppt/slides/slide1.xml` is
/// `ppt/notesSlides/n1.xml`. Percent-escapes are decoded; a leading `/` is from the archive's root.
pub(crate) fn resolve(base: &str, target: &str) -> String {
    let target = percent_decode(target.split('#').next().unwrap_or_default());
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let mut parts: Vec<&str> = base.split('/').collect();
        parts.pop();
        parts
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && s.is_char_boundary(i + 3) {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_against_the_base_folder() {
        assert_eq!(
            resolve("ppt/slides/slide1.xml", "../notesSlides/n1.xml"),
            "ppt/notesSlides/n1.xml"
        );
        assert_eq!(
            resolve("ppt/presentation.xml", "slides/slide2.xml"),
            "ppt/slides/slide2.xml"
        );
        assert_eq!(
            resolve("OEBPS/content.opf", "Text/ch%201.xhtml#x"),
            "OEBPS/Text/ch 1.xhtml"
        );
        assert_eq!(resolve("a/b.xml", "/c/d.xml"), "c/d.xml");
        assert_eq!(resolve("a.opf", "%zz"), "%zz");
    }
}
