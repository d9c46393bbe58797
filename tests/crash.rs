//! Crash safety: `kill -9` the real binary at several moments of an ingest, then check that the index opens,
//! holds exactly what the manifest says was committed (no duplicates, nothing half-written), that search works,
//! and that a re-run completes the work to the same state as an uninterrupted ingest.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Sandbox;

/// 120 SciFact abstracts as files: enough chunks for several commits at `commit_chunks = 24`.
fn corpus(sandbox: &Sandbox) -> std::path::PathBuf {
    common::scifact_docs(sandbox, 120)
}

/// The exact (source, chunk) keys: those stored in the index, and those the manifest names.
type Keys = BTreeSet<(String, u32)>;

fn keys(sandbox: &Sandbox) -> (Keys, Keys) {
    use rag::indexes::VectorIndex;
    let index = rag::indexes::EmbeddedIndex::open_read(&sandbox.index(), None).unwrap();
    let stored = index
        .keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.source, k.chunk_idx))
        .collect();
    let manifest = rag::manifest::Manifest::load(&sandbox.index()).unwrap();
    let named = manifest
        .files
        .iter()
        .flat_map(|(key, entry)| (0..entry.n_chunks).map(move |i| (key.clone(), i)))
        .collect();
    (stored, named)
}

/// (chunks in the index, chunks the manifest lists) as reported by `rag status`.
fn state(sandbox: &Sandbox) -> (u64, u64) {
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    let listed = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["chunks"].as_u64().unwrap())
        .sum();
    (status["chunks"].as_u64().unwrap(), listed)
}

#[test]
fn kill_9_during_ingest_loses_nothing_committed_and_rerun_completes() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("rag.toml"), "[ingest]\ncommit_chunks = 24\n").unwrap();
    let docs = corpus(&sandbox);
    // Reference: an uninterrupted ingest into another index.
    let reference = sandbox
        .rag_with_index(
            &sandbox.path().join("ref"),
            &["ingest", docs.to_str().unwrap(), "--json"],
        )
        .expect_code(0)
        .json();
    let expected = reference["chunks_total"].as_u64().unwrap();
    assert!(expected > 100, "{reference}");

    let mut partial_states = 0;
    for delay_ms in [700u64, 1500, 2600, 4000, 6000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
            .current_dir(sandbox.path())
            .arg("--index")
            .arg(sandbox.index())
            .args(["--quiet", "ingest", docs.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if !sandbox.index().join("rag_index.json").exists() {
            continue; // killed before the index was created
        }
        let (in_index, _) = state(&sandbox);
        let (stored, named) = keys(&sandbox);
        let missing: Vec<_> = named.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "after kill at {delay_ms} ms: the manifest names chunks the index lacks: {missing:?}"
        );
        assert!(
            in_index <= expected,
            "after kill at {delay_ms} ms: {in_index} chunks > {expected}: duplicates"
        );
        eprintln!("killed at {delay_ms} ms: {in_index} of {expected} chunks committed");
        // Records no manifest entry names (written after the last commit) are removed by the next ingest.
        let orphans: Vec<_> = stored.difference(&named).collect();
        eprintln!("  {} records not named by the manifest before repair", orphans.len());
        if in_index > 0 && in_index < expected {
            partial_states += 1;
        }
        if in_index > 0 {
            let hits = sandbox
                .rag(&["search", "cancer", "-k", "3", "--json"])
                .expect_code(0)
                .json();
            assert_eq!(hits.as_array().unwrap().len(), 3);
        }
    }
    assert!(
        partial_states >= 1,
        "no kill landed between two commits: the test proved nothing"
    );
    let report = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(report["chunks_total"].as_u64().unwrap(), expected, "{report}");
    assert_eq!(state(&sandbox), (expected, expected));
    // Exactly the same (file, chunk) keys as the manifest names, and as the uninterrupted reference holds.
    let (stored, named) = keys(&sandbox);
    assert_eq!(stored, named, "index and manifest name different chunks");
    let reference_keys: BTreeSet<(String, u32)> = {
        use rag::indexes::VectorIndex;
        let index = rag::indexes::EmbeddedIndex::open_read(&sandbox.path().join("ref"), None).unwrap();
        index
            .keys()
            .unwrap()
            .into_iter()
            .map(|k| (k.source, k.chunk_idx))
            .collect()
    };
    assert_eq!(
        stored, reference_keys,
        "the re-run did not reach the state of an uninterrupted ingest"
    );
    let again = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(again["indexed"], 0, "{again}");
}
