//! [`SharedIndex`]: one open index shared by the threads of a long-lived process (`rag serve`), so that searches
//! go on while an ingest writes.
//!
//! An embedded index can be open in one place only (qdrant-edge locks its write-ahead log even for searching),
//! so a server that ingests must search through the handle it writes with. Each call takes the lock for its
//! own duration: a read (search, count, state) shares it, a write (upsert, delete, commit) holds it alone.
//! Searches therefore never wait for more than one write call, and see every write made before they started.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{Error, Hit, IndexMeta, Query, Record, StoredKey, VectorIndex};

/// A [`VectorIndex`] behind a read-write lock; clones share the one index.
#[derive(Clone)]
pub struct SharedIndex {
    inner: Arc<RwLock<Box<dyn VectorIndex>>>,
    meta: IndexMeta,
    location: String,
    local_dir: Option<PathBuf>,
}

impl SharedIndex {
    /// Shares `index`.
    pub fn new(index: Box<dyn VectorIndex>) -> SharedIndex {
        SharedIndex {
            meta: index.meta().clone(),
            location: index.location(),
            local_dir: index.local_dir().map(Path::to_path_buf),
            inner: Arc::new(RwLock::new(index)),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Box<dyn VectorIndex>> {
        // A panic in another holder cannot leave the index half-written in memory: every write is one call of
        // the backend, which is consistent between calls; so the lock's poison is ignored.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Box<dyn VectorIndex>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl VectorIndex for SharedIndex {
    fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    fn upsert(&mut self, records: Vec<Record>) -> Result<(), Error> {
        self.write().upsert(records)
    }

    fn delete_source(&mut self, source: &str) -> Result<usize, Error> {
        self.write().delete_source(source)
    }

    fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, Error> {
        self.read().search(query)
    }

    fn count(&self) -> Result<usize, Error> {
        self.read().count()
    }

    fn chunk_vectors(&self, source: &str) -> Result<Vec<(String, Vec<f32>)>, Error> {
        self.read().chunk_vectors(source)
    }

    fn keys(&self) -> Result<Vec<StoredKey>, Error> {
        self.read().keys()
    }

    fn delete_ids(&mut self, ids: &[u64]) -> Result<(), Error> {
        self.write().delete_ids(ids)
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.write().commit()
    }

    fn scroll_records(&self, each: &mut dyn FnMut(Vec<Record>) -> Result<(), Error>) -> Result<(), Error> {
        self.read().scroll_records(each)
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        self.read().read_state(name)
    }

    fn write_state(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        self.write().write_state(name, bytes)
    }

    fn remove_state(&mut self, name: &str) -> Result<(), Error> {
        self.write().remove_state(name)
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    fn size_bytes(&self) -> Option<u64> {
        self.read().size_bytes()
    }
}
