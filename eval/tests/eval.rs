//! `rag-eval` on small slices of the shared datasets, with the real models and index: the numbers must be in
//! sane ranges, and malformed datasets must be named by file and line.

use std::path::PathBuf;
use std::process::Command;

fn datasets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")
}

fn rag_eval(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rag-eval"))
        .args(args)
        .output()
        .expect("run rag-eval");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn retrieval_slice_of_scifact() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let dataset = datasets().join("beir-scifact");
    let out = dir.path().join("result.json");
    let (code, stdout, stderr) = rag_eval(&[
        "--index",
        index.to_str().unwrap(),
        "retrieval",
        "--dataset",
        dataset.to_str().unwrap(),
        "--limit",
        "12",
        "--distractors",
        "150",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(value, written);
    assert!(value["config"]["git_commit"].is_string());
    let results = value["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r["queries"], 12);
        let ndcg = r["ndcg@10"].as_f64().unwrap();
        assert!((0.3..=1.0).contains(&ndcg), "{r}");
        assert!(r["recall@100"].as_f64().unwrap() >= r["recall@10"].as_f64().unwrap());
        assert!(r["mrr@10"].as_f64().unwrap() > 0.2, "{r}");
        assert!(r["latency_p50_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn qa_slice_of_xquad() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let dataset = datasets().join("xquad-en");
    let (code, stdout, stderr) = rag_eval(&[
        "--index",
        index.to_str().unwrap(),
        "qa",
        "--dataset",
        dataset.to_str().unwrap(),
        "--limit",
        "3",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["questions"], 3);
    assert!(v["recall_at_k"].as_f64().unwrap() >= 0.66, "{v:#}");
    // `sources_valid` (true by construction: sources are built from the passages) is no longer reported.
    assert!(v.get("sources_valid").is_none(), "{v:#}");
    for key in [
        "exact_match",
        "f1",
        "contains_gold",
        "false_refusal_rate",
        "citations_valid",
        "cited",
    ] {
        assert!((0.0..=1.0).contains(&v[key].as_f64().unwrap()), "{key}: {v:#}");
    }
    assert!(v["p50_answer_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["refusal_sweep"].as_array().unwrap().len(), 10);
}

#[test]
fn malformed_datasets_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("bad");
    std::fs::create_dir_all(ds.join("qrels")).unwrap();
    std::fs::write(
        ds.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"x\"}\n{oops\n",
    )
    .unwrap();
    std::fs::write(ds.join("queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"x\"}\n").unwrap();
    std::fs::write(ds.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n").unwrap();
    let index = dir.path().join("index");
    let args = [
        "--index",
        index.to_str().unwrap(),
        "retrieval",
        "--dataset",
        ds.to_str().unwrap(),
    ];
    let (code, _, stderr) = rag_eval(&args);
    assert_eq!(code, 2);
    assert!(stderr.contains("corpus.jsonl:2: bad JSON"), "{stderr}");

    std::fs::write(
        ds.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"x\"}\n",
    )
    .unwrap();
    std::fs::write(ds.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td7\t1\n").unwrap();
    let (code, _, stderr) = rag_eval(&args);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("test.tsv:2: document \"d7\" is not in corpus.jsonl"),
        "{stderr}"
    );

    std::fs::remove_file(ds.join("queries.jsonl")).unwrap();
    let (code, _, stderr) = rag_eval(&args);
    assert_eq!(code, 2);
    assert!(stderr.contains("queries.jsonl"), "{stderr}");
}

/// `rag-eval inject` end to end with the default model: one case per style, attacked and clean. Without the
/// planted lines no canary can appear; with them the counts are per style.
#[test]
fn inject_runs_attacked_and_clean_with_the_real_model() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let (code, stdout, stderr) = rag_eval(&["--index", index.to_str().unwrap(), "inject", "--cases", "12", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["planted"], true);
    for run in runs {
        let styles = run["styles"].as_array().unwrap();
        assert_eq!(styles.len(), 12, "{run:#}");
        assert!(styles.iter().all(|s| s["n"] == 1), "{run:#}");
    }
    let clean = &runs[1];
    for s in clean["styles"].as_array().unwrap() {
        if s["style"] != "refusal-jamming" {
            assert_eq!(
                s["attacked"], 0,
                "a canary appeared without its planted line: {clean:#}"
            );
        }
    }
    // The host documents answer their questions: the clean run gets some right.
    assert!(clean["right_answers"].as_f64().unwrap() > 0.2, "{clean:#}");
}
