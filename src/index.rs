//! Opening the configured index: the one place that turns `[index]` into a [`VectorIndex`] backend.

use rag_indexes::{EmbeddedIndex, IndexMeta, QdrantIndex, VectorIndex};

use crate::config::{IndexBackend, IndexConfig};
use crate::error::Result;

/// Fails at once when another writer holds the index (checked before models load); writes nothing.
pub fn check_writable(config: &IndexConfig) -> Result<()> {
    match config.backend {
        IndexBackend::Embedded => EmbeddedIndex::check_writable(&config.dir)?,
        IndexBackend::Qdrant => QdrantIndex::check_writable(&config.qdrant_options()?)?,
    }
    Ok(())
}

/// Opens the index for writing, creating it with `meta` if it does not exist.
pub fn open_for_writing(config: &IndexConfig, meta: &IndexMeta) -> Result<Box<dyn VectorIndex>> {
    Ok(match config.backend {
        IndexBackend::Embedded => Box::new(EmbeddedIndex::open_or_create(&config.dir, meta)?),
        IndexBackend::Qdrant => Box::new(QdrantIndex::open_or_create(&config.qdrant_options()?, meta)?),
    })
}

/// Opens an existing index for reading, checked against `expected` when given.
pub fn open_for_reading(config: &IndexConfig, expected: Option<&IndexMeta>) -> Result<Box<dyn VectorIndex>> {
    Ok(match config.backend {
        IndexBackend::Embedded => Box::new(EmbeddedIndex::open_read(&config.dir, expected)?),
        IndexBackend::Qdrant => Box::new(QdrantIndex::open_read(&config.qdrant_options()?, expected)?),
    })
}
