//! Helpers for the integration tests: run the real `rag` binary in a temporary directory.
//!
//! Models come from the normal cache (fetched on first use, like a user's first run), so no test is skipped
//! when they are missing.

#![allow(dead_code, unreachable_pub)]

pub mod hostile;

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

/// A scratch directory with an index inside it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    /// Runs `rag --index <sandbox>/index ARGS` with the sandbox as working directory.
    pub fn rag(&self, args: &[&str]) -> Run {
        self.rag_with_index(&self.index(), args)
    }

    /// Runs `rag --index INDEX ARGS` with the sandbox as working directory.
    pub fn rag_with_index(&self, index: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
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
