//! Tests of the embedded backend on a real on-disk qdrant-edge shard.

use super::*;

fn meta(dim: usize) -> IndexMeta {
    IndexMeta {
        format_version: FORMAT_VERSION,
        model_id: "test-model".into(),
        dim,
        bm25: Bm25Params::default(),
    }
}

fn record(id: u64, source: &str, vector: [f32; 3], text: &str) -> Record {
    Record {
        id,
        vector: vector.to_vec(),
        text: text.into(),
        payload: Payload {
            source: source.into(),
            kind: "txt".into(),
            lines: Some((1, 2)),
            doc_hash: "h".into(),
            ..Payload::default()
        },
    }
}

fn query<'a>(vector: &'a [f32], text: &'a str, mode: SearchMode) -> Query<'a> {
    Query {
        vector,
        text,
        mode,
        k: 3,
        candidates: 10,
        rrf_k: 60,
        filter: None,
    }
}

fn corpus(index: &mut EmbeddedIndex) {
    index
        .upsert(vec![
            record(1, "a.txt", [1.0, 0.0, 0.0], "the pump runs at twelve bar"),
            record(2, "a.txt", [0.0, 1.0, 0.0], "valves must be closed before service"),
            record(3, "b.md", [0.0, 0.0, 1.0], "the turbine spins quickly"),
        ])
        .unwrap();
}

#[test]
fn dense_sparse_and_hybrid_find_the_right_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap();
    corpus(&mut index);
    let dense = index.search(&query(&[0.9, 0.1, 0.0], "", SearchMode::Dense)).unwrap();
    assert_eq!(dense[0].id, 1);
    assert!((dense[0].similarity - dense[0].score).abs() < 1e-4);
    let sparse = index
        .search(&query(&[0.0, 0.0, 1.0], "valves service", SearchMode::Sparse))
        .unwrap();
    assert_eq!(sparse[0].id, 2);
    assert_eq!(sparse.len(), 1, "BM25 only returns records sharing a term");
    let hybrid = index
        .search(&query(&[0.0, 0.1, 0.9], "turbine", SearchMode::Hybrid))
        .unwrap();
    assert_eq!(hybrid[0].id, 3);
    assert_eq!(hybrid[0].payload.source, "b.md");
    assert_eq!(hybrid[0].text, "the turbine spins quickly");
    assert!(hybrid[0].similarity > 0.9);
}

#[test]
fn filters_are_applied_in_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap();
    corpus(&mut index);
    let mut q = query(&[0.0, 0.0, 1.0], "the", SearchMode::Hybrid);
    q.filter = Some(SearchFilter {
        sources: Some(vec!["a.txt".into()]),
        kinds: None,
    });
    let hits = index.search(&q).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.payload.source == "a.txt"));
}

#[test]
fn delete_commit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut index = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap();
        corpus(&mut index);
        assert_eq!(index.delete_source("a.txt").unwrap(), 2);
        assert_eq!(index.delete_source("missing.txt").unwrap(), 0);
        index.commit().unwrap();
    }
    let index = EmbeddedIndex::open_read(dir.path(), Some(&meta(3))).unwrap();
    assert_eq!(index.count().unwrap(), 1);
    let hits = index
        .search(&query(&[1.0, 0.0, 0.0], "pump", SearchMode::Hybrid))
        .unwrap();
    assert_eq!(hits[0].id, 3);
    assert_eq!(hits[0].payload.lines, Some((1, 2)));
}

#[test]
fn model_mismatch_missing_and_lock_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = EmbeddedIndex::open_read(&dir.path().join("nope"), None).unwrap_err();
    assert!(matches!(missing, Error::Missing { .. }), "{missing}");
    let writer = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap();
    let locked = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap_err();
    assert!(matches!(locked, Error::Locked { .. }), "{locked}");
    drop(writer);
    let mut other = meta(4);
    other.model_id = "other-model".into();
    let err = EmbeddedIndex::open_or_create(dir.path(), &other).unwrap_err();
    assert!(err.to_string().contains("other-model"), "{err}");
    assert!(err.to_string().contains("test-model"), "{err}");
}
