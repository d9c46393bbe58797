//! Helpers for the integration tests: run the real `rag` binary in a temporary directory.
//!
//! Models come from the normal cache (fetched on first use, like a user's first run), so no test is skipped
//! when they are missing.

#![allow(dead_code, unreachable_pub)]

pub mod hostile;
pub mod mcp;
pub mod qdrant;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sample corpus shipped in the repository.
pub fn corpus() -> PathBuf {
    root().join("tests/data/corpus")
}

/// A scratch directory with an index inside it (or, with [`Sandbox::on_server`], an index on a Qdrant server).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// The `--index` value, when it is not the sandbox's own directory.
    pub index_spec: Option<String>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            index_spec: None,
        }
    }

    /// A sandbox whose index is `spec` (`qdrant://127.0.0.1:PORT/COLLECTION`).
    pub fn on_server(spec: String) -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            index_spec: Some(spec),
        }
    }

    /// The `--index` value this sandbox's runs use.
    pub fn index_arg(&self) -> String {
        self.index_spec
            .clone()
            .unwrap_or_else(|| self.index().display().to_string())
    }

    /// The index configuration of this sandbox, for opening the index from the library.
    pub fn index_config(&self) -> rag::config::IndexConfig {
        let mut config = rag::config::IndexConfig::default();
        match &self.index_spec {
            Some(spec) => config.set_location(spec).unwrap(),
            None => config.dir = self.index(),
        }
        config
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    /// Runs `rag --index <sandbox's index> ARGS` with the sandbox as working directory.
    pub fn rag(&self, args: &[&str]) -> Run {
        self.rag_with_index(Path::new(&self.index_arg()), args)
    }

    /// Runs `rag --index INDEX ARGS` with the sandbox as working directory.
    pub fn rag_with_index(&self, index: &Path, args: &[&str]) -> Run {
        self.rag_with_env(index, &[], args)
    }

    /// Runs `rag --index INDEX ARGS` with the sandbox as working directory and `env` set.
    pub fn rag_with_env(&self, index: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
        cmd.envs(env.iter().copied());
        cmd.current_dir(self.path())
            .arg("--index")
            .arg(index)
            .arg("--quiet")
            .args(args);
        Run::of(cmd.output().expect("run rag"))
    }

    /// Copies the sample corpus into the sandbox (for tests that modify it) and returns its path.
    pub fn copy_corpus(&self) -> PathBuf {
        let dest = self.path().join("docs");
        copy_dir(&corpus(), &dest);
        dest
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The outcome of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "a panic reached the user:\n{}",
            self.stderr
        );
        self
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// The first `n` SciFact abstracts (from ../shared) written as `docs/ID.txt` in the sandbox: title, blank line,
/// text.
pub fn scifact_docs(sandbox: &Sandbox, n: usize) -> PathBuf {
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let corpus = root().join("../shared/datasets/beir-scifact/corpus.jsonl");
    let text = std::fs::read_to_string(&corpus).unwrap_or_else(|e| panic!("{}: {e}", corpus.display()));
    for line in text.lines().take(n) {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let body = format!(
            "{}\n\n{}",
            doc["title"].as_str().unwrap(),
            doc["text"].as_str().unwrap()
        );
        std::fs::write(docs.join(format!("{}.txt", doc["_id"].as_str().unwrap())), body).unwrap();
    }
    docs
}

/// (source, chunk) keys: a set of them.
pub type Keys = std::collections::BTreeSet<(String, u32)>;

/// The exact (source, chunk) keys of the sandbox's index, whichever backend: those stored (checked to be
/// stored once each), and those the manifest names.
pub fn keys(sandbox: &Sandbox) -> (Keys, Keys) {
    let index = rag::index::open_for_reading(&sandbox.index_config(), None).unwrap();
    let stored: Vec<(String, u32)> = index
        .keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.source, k.chunk_idx))
        .collect();
    let n = stored.len();
    let stored: Keys = stored.into_iter().collect();
    assert_eq!(n, stored.len(), "a (file, chunk) key is stored twice");
    let manifest = rag::manifest::Manifest::load(&*index).unwrap();
    let named = manifest
        .files
        .iter()
        .flat_map(|(key, entry)| (0..entry.n_chunks).map(move |i| (key.clone(), i)))
        .collect();
    (stored, named)
}
