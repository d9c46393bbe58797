//! Copying an index between backends without re-embedding: every record (vector, text, payload) and the named
//! pieces of state the engine keeps with it (the manifest).

use crate::{Error, VectorIndex};

/// What a copy moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyReport {
    /// Records copied.
    pub records: u64,
    /// Pieces of state copied.
    pub states: usize,
}

/// Copies every record of `from` into `to` (ids kept, so a repeated copy replaces rather than duplicates),
/// commits, then copies the named state. `to` must have been created with `from`'s metadata; `progress` is
/// told the running record count after each page.
pub fn copy_index(
    from: &dyn VectorIndex,
    to: &mut dyn VectorIndex,
    states: &[&str],
    progress: &mut dyn FnMut(u64),
) -> Result<CopyReport, Error> {
    crate::stored::check_model(std::path::Path::new(&to.location()), to.meta(), from.meta())?;
    let mut report = CopyReport::default();
    from.scroll_records(&mut |page| {
        report.records += page.len() as u64;
        to.upsert(page)?;
        progress(report.records);
        Ok(())
    })?;
    to.commit()?;
    for name in states {
        if let Some(bytes) = from.read_state(name)? {
            to.write_state(name, &bytes)?;
            report.states += 1;
        }
    }
    to.commit()?;
    Ok(report)
}
