//! Tests of the embedded backend on a real on-disk qdrant-edge shard.

use super::*;
use crate::{Bm25Params, Payload};

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

/// Every file under `dir` with its content, to show that nothing was written, changed or deleted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                out.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Issue 9.1: `--index ~/project` on a folder that is not a rag index used to delete `~/project/shard`.
#[test]
fn a_folder_that_is_not_an_index_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("shard")).unwrap();
    fs::write(dir.path().join("shard/thesis.tex"), "three years of work").unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let before = snapshot(dir.path());
    let err = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap_err();
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    let err = EmbeddedIndex::open_read(dir.path(), None).unwrap_err();
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "nothing may be written, changed or deleted"
    );
    // A plain file given as the index is refused too.
    let file = dir.path().join("notes.txt");
    assert!(matches!(
        EmbeddedIndex::open_or_create(&file, &meta(3)),
        Err(Error::NotAnIndex { .. })
    ));
    assert_eq!(snapshot(dir.path()), before);
}

/// Issue 9.1: a create that stopped after the marker (metadata missing) is recognised and started again.
#[test]
fn a_half_created_index_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("idx");
    drop(EmbeddedIndex::open_or_create(&index_dir, &meta(3)).unwrap());
    assert!(index_dir.join(MARKER_FILE).is_file());
    fs::remove_file(index_dir.join(META_FILE)).unwrap();
    fs::write(index_dir.join(SHARD_DIR).join("junk"), "half written").unwrap();
    let mut index = EmbeddedIndex::open_or_create(&index_dir, &meta(3)).unwrap();
    corpus(&mut index);
    index.commit().unwrap();
    assert_eq!(index.count().unwrap(), 3);
    assert!(!index_dir.join(SHARD_DIR).join("junk").exists());
}

/// Issue 9.2: an index of format 1 (paths as typed, no marker) is refused with the way to rebuild it, untouched.
#[test]
fn an_index_of_the_old_format_is_refused_with_the_rebuild_command() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(META_FILE),
        r#"{"format_version":1,"model_id":"test-model","dim":3,"bm25_k1":1.2,"bm25_b":0.75,"bm25_avg_len":256.0}"#,
    )
    .unwrap();
    fs::create_dir(dir.path().join(SHARD_DIR)).unwrap();
    let before = snapshot(dir.path());
    for err in [
        EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap_err(),
        EmbeddedIndex::open_read(dir.path(), None).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Format { found: 1, .. }), "{err}");
        assert!(err.to_string().contains("rag --index NEW_DIR ingest"), "{err}");
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn keys_list_every_record_and_delete_ids_removes_exactly_those() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::open_or_create(dir.path(), &meta(3)).unwrap();
    corpus(&mut index);
    index.commit().unwrap();
    let mut keys = index.keys().unwrap();
    keys.sort();
    let summary: Vec<(u64, &str, &str)> = keys
        .iter()
        .map(|k| (k.id, k.source.as_str(), k.doc_hash.as_str()))
        .collect();
    assert_eq!(summary, vec![(1, "a.txt", "h"), (2, "a.txt", "h"), (3, "b.md", "h")]);
    index.delete_ids(&[2]).unwrap();
    index.commit().unwrap();
    let ids: Vec<u64> = index.keys().unwrap().iter().map(|k| k.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&2));
}
