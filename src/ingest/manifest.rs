//! [`Manifest`]: what has been ingested from which file, so re-running ingest only touches what changed.
//!
//! Stored with the index as its state `manifest.json` (a file in the index directory, or a piece of the
//! state collection on a Qdrant server), replaced atomically, and written only after the index
//! commit that made its entries durable: after a crash the manifest may lag the index (the work is redone,
//! idempotently, since chunk ids are stable), never lead it.

use std::collections::BTreeMap;

use rag_indexes::VectorIndex;
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
    /// Reads the manifest kept with `index` (empty if there is none yet).
    pub fn load(index: &dyn VectorIndex) -> Result<Manifest> {
        match index.read_state(FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{}: damaged manifest: {e}", index.location()))),
            None => Ok(Manifest {
                version: VERSION,
                files: BTreeMap::new(),
            }),
        }
    }

    /// Writes the manifest with `index`, replacing the old one atomically.
    pub fn save(&self, index: &mut dyn VectorIndex) -> Result<()> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Config(e.to_string()))?;
        index.write_state(FILE, &json)?;
        Ok(())
    }

    /// The name of the state the manifest is kept under (`manifest.json`).
    pub const STATE: &'static str = FILE;

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
        let meta = rag_indexes::IndexMeta {
            format_version: rag_indexes::FORMAT_VERSION,
            model_id: "test".into(),
            dim: 4,
            bm25: rag_indexes::Bm25Params::default(),
        };
        let mut index = rag_indexes::EmbeddedIndex::open_or_create(dir.path(), &meta).unwrap();
        assert!(Manifest::load(&index).unwrap().files.is_empty());
        let mut manifest = Manifest::load(&index).unwrap();
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
        manifest.save(&mut index).unwrap();
        let loaded = Manifest::load(&index).unwrap();
        assert_eq!(loaded, manifest);
        assert_eq!(loaded.n_chunks(), 2);
        assert_eq!(loaded.last_ingest(), Some(9));
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(Manifest::load(&index).is_err());
    }
}
