//! [`Manifest`]: what has been ingested from which file, so re-running ingest only touches what changed.
//!
//! Stored as `manifest.json` in the index directory, replaced atomically, and written only after the index
//! commit that made its entries durable: after a crash the manifest may lag the index (the work is redone,
//! idempotently, since chunk ids are stable), never lead it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FILE: &str = "manifest.json";
const VERSION: u32 = 1;

/// The ingested files of an index, by source key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    version: u32,
    /// Source key → what was ingested from it.
    pub files: BTreeMap<String, FileEntry>,
}

/// What was ingested from one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Hex SHA-256 of the file's bytes.
    pub hash: String,
    /// Size in bytes when ingested.
    pub size: u64,
    /// Modification time (nanoseconds since the Unix epoch) when ingested.
    pub mtime_ns: u128,
    /// Number of chunks stored.
    pub n_chunks: u32,
    /// Document format.
    pub kind: String,
    /// The chunker settings it was chunked with ([`crate::chunk::Chunker::fingerprint`]; empty in manifests
    /// written before they were recorded): under other settings the file is chunked again.
    #[serde(default)]
    pub chunking: String,
    /// When it was ingested (seconds since the Unix epoch).
    pub ingested_at: u64,
}

impl Manifest {
    /// Reads the manifest of the index at `dir` (empty if there is none yet).
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let manifest: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Config(format!("{}: damaged manifest: {e}", path.display())))?;
                Ok(manifest)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: VERSION,
                files: BTreeMap::new(),
            }),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes the manifest atomically (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path: PathBuf = dir.join(FILE);
        let json = serde_json::to_vec(self).map_err(|e| Error::Config(e.to_string()))?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        std::fs::write(tmp.path(), json).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    /// Total chunks over all files.
    pub fn n_chunks(&self) -> u64 {
        self.files.values().map(|f| u64::from(f.n_chunks)).sum()
    }

    /// The most recent ingest time.
    pub fn last_ingest(&self) -> Option<u64> {
        self.files.values().map(|f| f.ingested_at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Manifest::load(dir.path()).unwrap().files.is_empty());
        let mut manifest = Manifest::load(dir.path()).unwrap();
        manifest.files.insert(
            "a.md".into(),
            FileEntry {
                hash: "ab".into(),
                size: 3,
                mtime_ns: 7,
                n_chunks: 2,
                kind: "md".into(),
                chunking: "v2".into(),
                ingested_at: 9,
            },
        );
        manifest.save(dir.path()).unwrap();
        let loaded = Manifest::load(dir.path()).unwrap();
        assert_eq!(loaded, manifest);
        assert_eq!(loaded.n_chunks(), 2);
        assert_eq!(loaded.last_ingest(), Some(9));
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(Manifest::load(dir.path()).is_err());
    }
}
