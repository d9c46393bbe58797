//! Data safety on the real binary (issue 9): rag never writes into a folder it did not create, one file has one
//! key whichever way it is spelled, hidden and doubly reached files are reported, Ctrl-C stops cleanly, and
//! `rag eval` sees the same configuration as `rag ask`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;

/// Every path under `dir` with its content.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let content = if entry.is_dir() {
            Vec::new()
        } else {
            std::fs::read(&entry).unwrap()
        };
        out.push((entry, content));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Issue 9.1: `rag --index ~/project` deleted `~/project/shard`. Now the folder is refused, named, and left
/// exactly as it was: no file deleted or changed, no lock file dropped.
#[test]
fn an_index_flag_naming_a_user_folder_is_refused_and_nothing_in_it_is_touched() {
    let sandbox = Sandbox::new();
    let project = sandbox.path().join("project");
    std::fs::create_dir_all(project.join("shard")).unwrap();
    std::fs::write(project.join("shard/design.md"), "# The shard design\nyears of notes\n").unwrap();
    std::fs::write(project.join("README.md"), "my project\n").unwrap();
    let before = snapshot(&project);
    let docs = sandbox.copy_corpus();
    for args in [
        vec!["ingest", docs.to_str().unwrap()],
        vec!["search", "pump"],
        vec!["status"],
    ] {
        let run = sandbox.rag_with_index(&project, &args).expect_code(2);
        assert!(run.stderr.contains("is not a rag index"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("project"), "{args:?}: {}", run.stderr);
        assert_eq!(snapshot(&project), before, "{args:?} touched the folder");
    }
    // A new folder, or an empty one, becomes an index, marked as rag's.
    let empty = sandbox.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    sandbox
        .rag_with_index(&empty, &["ingest", docs.to_str().unwrap()])
        .expect_code(0);
    assert!(empty.join("RAG_INDEX").is_file());
}

/// The source keys of the index, by `rag status --json`.
fn indexed_files(sandbox: &Sandbox, cwd: &Path) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(cwd)
        .arg("--index")
        .arg(sandbox.index())
        .args(["--quiet", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<String> = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

fn ingest_from(sandbox: &Sandbox, cwd: &Path, path: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(cwd)
        .arg("--index")
        .arg(sandbox.index())
        .args(["--quiet", "ingest", path, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Issue 9.2: keys were paths as typed, so `./docs` and `/abs/docs` stored every chunk twice, and "gone" checks
/// resolved keys against the current directory.
#[test]
fn one_folder_by_three_spellings_from_two_directories_is_stored_once() {
    let sandbox = Sandbox::new();
    let docs = sandbox.copy_corpus();
    let sub = sandbox.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let first = ingest_from(&sandbox, sandbox.path(), "docs");
    let files = indexed_files(&sandbox, sandbox.path());
    let chunks = first["chunks_total"].as_u64().unwrap();
    assert!(
        files.iter().all(|k| k.starts_with('/')),
        "keys are absolute: {files:#?}"
    );
    for (cwd, spelling) in [
        (sandbox.path(), "./docs/"),
        (sub.as_path(), "../docs"),
        (sub.as_path(), docs.to_str().unwrap()),
    ] {
        let report = ingest_from(&sandbox, cwd, spelling);
        assert_eq!(report["indexed"], 0, "{spelling} from {}: {report:#}", cwd.display());
        assert_eq!(
            report["chunks_total"].as_u64().unwrap(),
            chunks,
            "{spelling}: {report:#}"
        );
        assert_eq!(indexed_files(&sandbox, cwd), files, "{spelling}");
    }
    // Paths are shown relative to where rag runs.
    let hits = sandbox
        .rag(&["search", "pump pressure", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(hits[0]["path"].as_str().unwrap().starts_with("docs/"), "{hits:#}");
    // A deleted file leaves the index whichever spelling the next ingest uses.
    let gone = files.iter().find(|k| k.ends_with("ops.md")).unwrap().clone();
    std::fs::remove_file(&gone).unwrap();
    let report = ingest_from(&sandbox, &sub, "../docs/.");
    assert_eq!(report["removed"], 1, "{report:#}");
    assert!(!indexed_files(&sandbox, &sub).contains(&gone));
    // The README's filter example now matches.
    let hits = sandbox
        .rag(&["search", "pressure", "--path", "manuals/**", "--json"])
        .expect_code(0)
        .json();
    assert!(!hits.as_array().unwrap().is_empty(), "{hits:#}");
    assert!(hits
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["path"].as_str().unwrap().starts_with("docs/manuals/")));
}

/// Issue 9.16: hidden files were skipped silently, and a link inside the root indexed its target twice.
#[test]
fn hidden_and_doubly_reached_files_are_reported_and_indexed_once() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(docs.join(".git")).unwrap();
    std::fs::write(docs.join(".git/config"), "[core]\n").unwrap();
    std::fs::write(docs.join(".draft.md"), "# Draft\nA hidden draft about turbines.\n").unwrap();
    std::fs::write(docs.join("pump.md"), "# Pump\nThe pump runs at 12 bar.\n").unwrap();
    std::os::unix::fs::symlink(docs.join("pump.md"), docs.join("pump-link.md")).unwrap();
    let report = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not reported: {skipped:#?}"))
    };
    assert!(reason(".git").contains("hidden directory"), "{skipped:#?}");
    assert!(reason(".draft.md").contains("hidden file"), "{skipped:#?}");
    assert!(reason("pump.md").contains("reached twice"), "{skipped:#?}");
    assert_eq!(report["indexed"], 1, "{report:#}");
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    assert_eq!(status["files"].as_array().unwrap().len(), 1, "{status:#}");
}

fn sigint(child: &std::process::Child) {
    // SAFETY: kill(2) with the pid of a child we spawned and have not reaped, and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill failed");
}

/// Waits for `child` at most `limit`; returns its exit code and how long it took.
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 9.17: the first Ctrl-C during ingest was ignored until a second one. Now one SIGINT stops within 2 s,
/// commits what is done (the index and manifest agree), exits 130, and a re-run finishes the rest.
#[test]
fn one_ctrl_c_stops_an_ingest_within_two_seconds_and_keeps_what_is_done() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("rag.toml"),
        "[ingest]\ncommit_chunks = 16\nembed_window = 32\n",
    )
    .unwrap();
    let docs = common::scifact_docs(&sandbox, 400);
    let reference = sandbox
        .rag_with_index(
            &sandbox.path().join("ref"),
            &["ingest", docs.to_str().unwrap(), "--json"],
        )
        .expect_code(0)
        .json();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .arg("--index")
        .arg(sandbox.index())
        .args(["--quiet", "ingest", docs.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once some work is committed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !sandbox.index().join("manifest.json").exists() {
        assert!(Instant::now() < deadline, "the ingest never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    sigint(&child);
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(130), "exit code after one SIGINT (took {took:?})");
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    let listed: u64 = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["chunks"].as_u64().unwrap())
        .sum();
    assert_eq!(status["chunks"].as_u64().unwrap(), listed, "{status:#}");
    let total = reference["chunks_total"].as_u64().unwrap();
    assert!(
        listed > 0 && listed < total,
        "interrupted with {listed} of {total} chunks"
    );
    let rest = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(rest["chunks_total"].as_u64().unwrap(), total, "{rest:#}");
}

/// Issue 9.17, the download half: a fetch that hangs (a stand-in `python3` whose pip never answers) stops on
/// one SIGINT within 2 s with exit 130, leaving no half-provisioned model.
#[test]
fn one_ctrl_c_stops_a_model_download_within_two_seconds() {
    let sandbox = Sandbox::new();
    let python = sandbox.path().join("slow-python");
    std::fs::write(&python, "#!/bin/sh\nsleep 60\n").unwrap();
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cache = sandbox.path().join("cache");
    std::fs::write(
        sandbox.path().join("rag.toml"),
        format!(
            "[models]\npython = \"{}\"\ncache_dir = \"{}\"\n",
            python.display(),
            cache.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .args(["--quiet", "models", "pull"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&child);
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(130), "exit code after one SIGINT (took {took:?})");
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    let left: Vec<_> = std::fs::read_dir(&cache)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a half-fetched model was left behind: {left:?}");
}

/// Issue 9.13: `rag --llm X eval ...` evaluated the default model. Every global flag, `RAG_*` variable and
/// `./rag.toml` now reaches `rag eval`; a generator that does not exist must be named in the error, which
/// proves the setting arrived (the default model would have run).
#[test]
fn rag_eval_sees_the_flags_variables_and_config_file_that_ask_sees() {
    let sandbox = Sandbox::new();
    let bench = ["eval", "bench-generate", "--prompt-tokens", "8", "--gen", "2"];
    let mut args = vec!["--llm", "/nonexistent/from-flag.gguf"];
    args.extend(bench);
    let run = sandbox.rag(&args).expect_code(2);
    assert!(run.stderr.contains("/nonexistent/from-flag.gguf"), "{}", run.stderr);

    let out = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .env("RAG_LLM", "/nonexistent/from-env.gguf")
        .args(bench)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/from-env.gguf"), "{stderr}");

    std::fs::write(
        sandbox.path().join("rag.toml"),
        "[generate]\nmodel = \"/nonexistent/from-config.gguf\"\n",
    )
    .unwrap();
    let run = sandbox.rag(&bench).expect_code(2);
    assert!(run.stderr.contains("/nonexistent/from-config.gguf"), "{}", run.stderr);
}

/// Issue 9.5 on the real binary: with a key set, a plain-http server that is not loopback is refused before any
/// request, naming the flag that allows it; with the flag the request is attempted (and here fails to connect).
#[test]
fn a_key_is_not_sent_over_plain_http_to_another_host_unless_allowed() {
    let sandbox = Sandbox::new();
    let docs = sandbox.copy_corpus();
    let ingest = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rag"))
            .current_dir(sandbox.path())
            .env("OPENAI_API_KEY", "sk-test-not-for-the-wire")
            .arg("--index")
            .arg(sandbox.index())
            .args(["--quiet", "--embed-server", "http://embedder.invalid:8080"])
            .args(extra)
            .args(["ingest", docs.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = ingest(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--allow-insecure-key"), "{stderr}");
    assert!(!stderr.contains("sk-test-not-for-the-wire"), "{stderr}");
    let (code, stderr) = ingest(&["--allow-insecure-key"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        !stderr.contains("--allow-insecure-key"),
        "allowed, yet refused: {stderr}"
    );
    assert!(stderr.contains("cannot connect"), "{stderr}");
}
