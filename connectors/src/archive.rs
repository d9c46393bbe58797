//! Reading one part of a zip-based document (OOXML, ODF, EPUB) with bounds: a file that is not a zip, an
//! encrypted part, a missing part, or a part that inflates past its limit (a zip bomb) is an error naming the
//! file and the reason; memory never holds more than the limit.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::Error;

/// The bytes of the entry `name` of the zip archive `bytes` (the file `path`, a document of kind `what`), at
/// most `max` bytes once inflated.
pub(crate) fn read_entry(
    path: &Path,
    bytes: &[u8],
    name: &str,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        what,
        reason,
    };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        invalid(format!(
            "not a zip archive ({e}); a password-protected office file is not a zip and cannot be read"
        ))
    })?;
    let mut entry = zip.by_name(name).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => invalid(format!("it has no {name}")),
        other => invalid(format!("{name}: {other}")),
    })?;
    if entry.size() > max {
        return Err(invalid(format!(
            "{name} would inflate to {} bytes, over the limit of {max} (a zip bomb?)",
            entry.size()
        )));
    }
    let mut out = Vec::new();
    (&mut entry)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| invalid(format!("{name}: {e}")))?;
    if out.len() as u64 > max {
        return Err(invalid(format!(
            "{name} inflates past the limit of {max} bytes (a zip bomb?)"
        )));
    }
    Ok(out)
}
