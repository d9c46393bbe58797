//! Ignore rules as ripgrep has them (issue 13): .gitignore, .ignore and .ragignore files, hidden files, and
//! --no-ignore / --hidden / --glob, on the real binary; the report counts what each rule left out, and a rule
//! added later removes the newly ignored files from the index (never from disk).

mod common;

use common::Sandbox;
use std::path::Path;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A folder like a code repository: build output, dependencies, drafts and logs beside the documents.
fn repository(root: &Path) {
    write(&root.join(".gitignore"), "target/\n*.log\n!keep.log\n");
    write(&root.join(".ragignore"), "drafts/\n");
    write(
        &root.join("guide.md"),
        "# Guide\nThe boiler is serviced every spring.\n",
    );
    write(&root.join("keep.log"), "The boiler log: serviced in April.\n");
    write(&root.join("debug.log"), "The boiler debug output.\n");
    write(
        &root.join("target/out.md"),
        "# Build\nA generated page about the boiler.\n",
    );
    write(&root.join("drafts/plan.md"), "# Plan\nA draft about the boiler.\n");
    write(&root.join("sub/.ignore"), "secret.md\n");
    write(&root.join("sub/secret.md"), "# Secret\nThe boiler code is 4417.\n");
    write(&root.join("sub/ok.md"), "# Ok\nThe boiler room is in the basement.\n");
    write(&root.join(".notes.md"), "# Notes\nHidden notes about the boiler.\n");
    std::fs::write(root.join("photo.bin"), [0u8, 159, 146, 150, 0, 1, 2, 3]).unwrap();
}

fn indexed_files(sandbox: &Sandbox) -> Vec<String> {
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    let mut files: Vec<String> = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let key = f["key"].as_str().unwrap_or_default();
            key.rsplit("/docs/").next().unwrap_or_default().to_owned()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn ignore_files_hidden_files_and_globs_are_respected_and_counted() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    repository(&docs);
    let d = docs.to_str().unwrap();

    let report = sandbox.rag(&["ingest", d, "--json"]).expect_code(0).json();
    assert_eq!(
        indexed_files(&sandbox),
        ["guide.md", "keep.log", "sub/ok.md"],
        "{report:#}"
    );
    let by = &report["skipped_by"];
    // target/, debug.log, drafts/ and sub/secret.md by ignore files; .gitignore, .ragignore, sub/.ignore and
    // .notes.md as hidden; photo.bin has no connector.
    assert_eq!(by["ignore file"], 4, "{report:#}");
    assert_eq!(by["hidden"], 4, "{report:#}");
    assert_eq!(by["unsupported"], 1, "{report:#}");
    let reason_of = |name: &str| reason_of_in(&report, name);
    assert!(reason_of("target").contains(".gitignore (target/)"), "{report:#}");
    assert!(reason_of("drafts").contains(".ragignore (drafts/)"), "{report:#}");
    assert!(reason_of("secret.md").contains(".ignore (secret.md)"), "{report:#}");
    // The plain report says the same in one line.
    let plain = sandbox.rag(&["ingest", d]).expect_code(0);
    assert!(
        plain.stdout.contains("skipped: 4 hidden, 4 ignore file, 1 unsupported"),
        "{}",
        plain.stdout
    );

    // A rule added later removes what it now ignores from the index, not from disk.
    write(&docs.join(".ragignore"), "drafts/\nguide.md\n");
    let report = sandbox.rag(&["ingest", d, "--json"]).expect_code(0).json();
    assert_eq!(report["removed"], 1, "{report:#}");
    assert_eq!(indexed_files(&sandbox), ["keep.log", "sub/ok.md"]);
    assert!(docs.join("guide.md").is_file());

    // --no-ignore and --hidden take everything a connector reads (but never .git).
    write(&docs.join(".git/HEAD.md"), "# not a document\n");
    let report = sandbox
        .rag(&["ingest", d, "--no-ignore", "--hidden", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(
        indexed_files(&sandbox),
        [
            ".notes.md",
            "debug.log",
            "drafts/plan.md",
            "guide.md",
            "keep.log",
            "sub/ok.md",
            "sub/secret.md",
            "target/out.md"
        ],
        "{report:#}"
    );
    assert!(reason_of_in(&report, ".git").contains("never indexed"), "{report:#}");

    // Globs as ripgrep's: an include glob keeps only what matches, '!' excludes.
    let report = sandbox
        .rag(&[
            "ingest",
            d,
            "--no-ignore",
            "--hidden",
            "-g",
            "*.md",
            "-g",
            "!sub/**",
            "--json",
        ])
        .expect_code(0)
        .json();
    assert_eq!(
        indexed_files(&sandbox),
        [".notes.md", "drafts/plan.md", "guide.md", "target/out.md"],
        "{report:#}"
    );
    assert!(report["skipped_by"]["glob"].as_u64().unwrap() >= 3, "{report:#}");
    assert!(
        reason_of_in(&report, "sub/ok.md").contains("excluded by --glob '!sub/**'"),
        "{report:#}"
    );
    assert!(reason_of_in(&report, "keep.log").contains("not matched"), "{report:#}");

    // A glob that does not parse is an error naming it, and nothing indexed is lost.
    let bad = sandbox.rag(&["ingest", d, "-g", "a[", "--json"]).expect_code(1).json();
    assert!(
        bad["failed"][0]["reason"].as_str().unwrap().contains("--glob \"a[\""),
        "{bad:#}"
    );
    assert_eq!(indexed_files(&sandbox).len(), 4);
}

fn reason_of_in(report: &serde_json::Value, name: &str) -> String {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().ends_with(name))
        .map(|s| s["reason"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{name} not reported: {report:#}"))
}
