//! The engine-level suite, the same code against both index backends: the embedded index on a directory and
//! a collection on a real Qdrant server (started here on loopback, with temporary storage). Ingest, search,
//! filters, ask, re-ingest, modify, rename (vectors reused), delete, status, a second writer, and `kill -9`
//! in the middle of an ingest followed by a re-run that ends with exactly the keys of an uninterrupted ingest.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::qdrant::Node;
use common::{keys, Sandbox};

const PRESSURE: &str = "What is the maximum operating pressure of the pump?";

fn hit_paths(hits: &serde_json::Value) -> Vec<String> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything a user does with an index, on whichever backend `sandbox` points at.
fn engine_suite(sandbox: &Sandbox) {
    let docs = sandbox.copy_corpus();
    let docs_arg = docs.to_str().unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(report["indexed"], 5, "{report}");
    let chunks = report["chunks_total"].as_u64().unwrap();
    assert!(chunks >= 8, "{report}");

    // Search: the right page of the PDF first, with its location.
    let hits = sandbox
        .rag(&["search", "maximum operating pressure", "-k", "5", "--json"])
        .expect_code(0)
        .json();
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("manuals/pump.pdf"),
        "{hits:#}"
    );
    assert_eq!(hits[0]["pages"], serde_json::json!([3, 3]));
    // Each retriever alone works too.
    for mode in ["dense", "bm25"] {
        let hits = sandbox
            .rag(&[
                "search",
                "cooling tower fan vibration",
                "-k",
                "1",
                "--mode",
                mode,
                "--json",
            ])
            .expect_code(0)
            .json();
        assert!(
            hits[0]["path"].as_str().unwrap().ends_with("notes/ops.md"),
            "{mode}: {hits:#}"
        );
    }

    // Filters run in the index: by kind and by path.
    let hits = sandbox
        .rag(&["search", "pressure", "-k", "10", "--type", "md", "--json"])
        .expect_code(0)
        .json();
    assert!(!hits.as_array().unwrap().is_empty());
    assert!(hit_paths(&hits).iter().all(|p| p.ends_with(".md")), "{hits:#}");
    let hits = sandbox
        .rag(&["search", "pressure", "-k", "10", "--path", "manuals/**", "--json"])
        .expect_code(0)
        .json();
    assert!(!hits.as_array().unwrap().is_empty());
    assert!(hit_paths(&hits).iter().all(|p| p.contains("manuals/")), "{hits:#}");

    // Ask, with the default generator: the answer is grounded in the PDF's page.
    let answer = sandbox.rag(&["ask", PRESSURE, "--json"]).expect_code(0).json();
    assert_eq!(answer["refused"], false, "{answer:#}");
    assert!(answer["answer"].as_str().unwrap().contains("12 bar"), "{answer:#}");
    assert!(
        answer["citations"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("manuals/pump.pdf"),
        "{answer:#}"
    );

    // Re-ingest: nothing changed, nothing done.
    let again = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(
        (again["indexed"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(5)),
        "{again}"
    );
    assert_eq!(again["chunks_total"].as_u64(), Some(chunks), "{again}");

    // Modify one file: only it is indexed again, and its new text is found.
    std::fs::write(
        docs.join("readme.txt"),
        "The archive is in building 7, room 12, open on Tuesdays.\n",
    )
    .unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(
        (report["indexed"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(4)),
        "{report}"
    );
    let hits = sandbox
        .rag(&["search", "archive building room", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(hits[0]["text"].as_str().unwrap().contains("building 7"), "{hits:#}");

    // Rename: recognised by content, nothing embedded again, the old path gone.
    std::fs::rename(docs.join("notes/ops.md"), docs.join("notes/operations.md")).unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(
        (report["renamed"].as_u64(), report["embedded"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let hits = sandbox
        .rag(&["search", "cooling tower fan", "-k", "3", "--json"])
        .expect_code(0)
        .json();
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("notes/operations.md"),
        "{hits:#}"
    );
    assert!(
        !hit_paths(&hits).iter().any(|p| p.ends_with("notes/ops.md")),
        "{hits:#}"
    );

    // Delete: the file leaves the index.
    std::fs::remove_file(docs.join("guide.html")).unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(report["removed"], 1, "{report}");
    let hits = sandbox
        .rag(&["search", "irrigation zone B watering", "-k", "10", "--json"])
        .expect_code(0)
        .json();
    assert!(!hit_paths(&hits).iter().any(|p| p.ends_with("guide.html")), "{hits:#}");

    // Status agrees with the manifest, and the index with the manifest, key for key.
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    assert_eq!(status["files"].as_array().unwrap().len(), 4, "{status:#}");
    let listed: u64 = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["chunks"].as_u64().unwrap())
        .sum();
    assert_eq!(status["chunks"].as_u64(), Some(listed), "{status:#}");
    let (stored, named) = keys(sandbox);
    assert_eq!(stored, named);
    assert_eq!(stored.len() as u64, listed);
}

/// `kill -9` at several moments of an ingest of 120 abstracts; after each, the manifest names no chunk the
/// index lacks and search answers; a re-run ends with exactly the keys of an uninterrupted ingest.
fn crash_suite(sandbox: &Sandbox, reference: &Sandbox, pause_after_kill: Duration) {
    let config = "[ingest]\ncommit_chunks = 24\n\n[index]\nlease_s = 3\n";
    std::fs::write(sandbox.path().join("rag.toml"), config).unwrap();
    std::fs::write(reference.path().join("rag.toml"), config).unwrap();
    let docs = common::scifact_docs(sandbox, 120);
    let docs_arg = docs.to_str().unwrap();
    let expected = reference.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json()["chunks_total"]
        .as_u64()
        .unwrap();
    let mut partial = 0;
    for delay_ms in [700u64, 1500, 3000, 5000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
            .current_dir(sandbox.path())
            .args(["--index", &sandbox.index_arg(), "--quiet", "ingest", docs_arg])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        // A killed writer's lease expires; nothing else unlocks the collection.
        std::thread::sleep(pause_after_kill);
        let Ok(index) = rag::index::open_for_reading(&sandbox.index_config(), None) else {
            continue; // killed before the index was created
        };
        drop(index);
        let (stored, named) = keys(sandbox);
        let missing: Vec<_> = named.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "after kill at {delay_ms} ms the manifest names missing chunks: {missing:?}"
        );
        assert!(
            stored.len() as u64 <= expected,
            "duplicates after kill at {delay_ms} ms"
        );
        if !named.is_empty() && (named.len() as u64) < expected {
            partial += 1;
            let hits = sandbox
                .rag(&["search", "cancer", "-k", "3", "--json"])
                .expect_code(0)
                .json();
            assert_eq!(hits.as_array().unwrap().len(), 3);
        }
    }
    assert!(
        partial >= 1,
        "no kill landed between two commits: the test proved nothing"
    );
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(report["chunks_total"].as_u64(), Some(expected), "{report}");
    let (stored, named) = keys(sandbox);
    assert_eq!(stored, named);
    let (reference_keys, _) = keys(reference);
    assert_eq!(
        stored, reference_keys,
        "the re-run did not reach the state of an uninterrupted ingest"
    );
}

#[test]
fn engine_suite_on_the_embedded_index() {
    engine_suite(&Sandbox::new());
}

#[test]
fn engine_suite_on_a_qdrant_server() {
    let servers = tempfile::tempdir().unwrap();
    let node = Node::single(servers.path());
    engine_suite(&Sandbox::on_server(node.index_spec("suite")));
}

#[test]
fn crash_suite_on_the_embedded_index() {
    crash_suite(&Sandbox::new(), &Sandbox::new(), Duration::ZERO);
}

#[test]
fn crash_suite_on_a_qdrant_server() {
    let servers = tempfile::tempdir().unwrap();
    let node = Node::single(servers.path());
    let sandbox = Sandbox::on_server(node.index_spec("crash"));
    let reference = Sandbox::on_server(node.index_spec("reference"));
    crash_suite(&sandbox, &reference, Duration::from_millis(3500));
}

/// The hits of one query, best first: (score rounded to 1e-4, key, text). Hits of equal fused score (RRF gives
/// ties: rank 1 + rank 2 and rank 2 + rank 1 score the same) are put in key order, since each backend breaks
/// ties its own way.
type Ranked = Vec<(i64, String, String)>;

/// The hits of each query.
fn results(sandbox: &Sandbox, queries: &[&str]) -> Vec<Ranked> {
    queries
        .iter()
        .map(|q| {
            let hits = sandbox.rag(&["search", q, "-k", "5", "--json"]).expect_code(0).json();
            let mut ranked: Ranked = hits
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        -(h["score"].as_f64().unwrap() * 1e4).round() as i64,
                        h["key"].as_str().unwrap().to_owned(),
                        h["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            ranked.sort();
            ranked
        })
        .collect()
}

#[test]
fn copying_an_index_between_backends_keeps_its_search_results() {
    let embedded = Sandbox::new();
    let docs = common::scifact_docs(&embedded, 60);
    embedded.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);
    let queries = [
        "cancer risk",
        "protein binding site",
        "vitamin D",
        "cell migration",
        "the",
    ];
    let before = results(&embedded, &queries);

    let servers = tempfile::tempdir().unwrap();
    let node = Node::single(servers.path());
    let spec = node.index_spec("copied");
    let report = embedded
        .rag(&["index", "copy", "--to", &spec, "--json"])
        .expect_code(0)
        .json();
    let (n, _) = keys(&embedded);
    assert_eq!(report["records"].as_u64(), Some(n.len() as u64), "{report}");
    let on_server = Sandbox::on_server(spec.clone());
    let after = results(&on_server, &queries);
    assert_eq!(after, before, "hits or scores differ after the copy to the server");
    assert_eq!(
        keys(&on_server),
        keys(&embedded),
        "keys or manifest differ after the copy"
    );
    // Re-ingesting the same files into the copy finds nothing to do: the manifest came along.
    let again = on_server
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(again["indexed"], 0, "{again}");

    // And back into a new directory.
    let back = embedded.path().join("back");
    embedded
        .rag(&["index", "copy", "--from", &spec, "--to", back.to_str().unwrap()])
        .expect_code(0);
    let returned = results(
        &Sandbox {
            dir: tempfile::tempdir().unwrap(),
            index_spec: Some(back.display().to_string()),
        },
        &queries,
    );
    assert_eq!(returned, before, "hits or scores differ after the copy back");
    // A copy never writes into a directory rag did not create.
    let foreign = embedded.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.txt"), "mine").unwrap();
    let run = embedded.rag(&["index", "copy", "--to", foreign.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}

#[test]
fn a_stopped_server_and_a_second_writer_are_clear_errors() {
    let servers = tempfile::tempdir().unwrap();
    let mut node = Node::single(servers.path());
    let spec = node.index_spec("locks");
    let sandbox = Sandbox::on_server(spec.clone());
    let docs = sandbox.copy_corpus();
    sandbox.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);

    // A writer holds the lease: a second ingest fails at once, naming the holder; searches still answer.
    let config = sandbox.index_config();
    let meta = {
        let index = rag::index::open_for_reading(&config, None).unwrap();
        index.meta().clone()
    };
    let writer = rag::index::open_for_writing(&config, &meta).unwrap();
    // The lease itself, not only the early check: a second writer cannot take it.
    match rag::index::open_for_writing(&config, &meta) {
        Err(rag::Error::Index(rag::indexes::Error::Leased { holder, .. })) => {
            assert!(holder.contains("rag pid"), "{holder}")
        }
        other => panic!("a second writer must be refused, got {:?}", other.map(|i| i.location())),
    }
    let run = sandbox.rag(&["ingest", docs.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is being written by rag pid"), "{}", run.stderr);
    sandbox.rag(&["search", "pump", "--json"]).expect_code(0);
    drop(writer);
    sandbox.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);

    // A collection rag did not create is refused, and left as it was.
    let created = node.send(
        "PUT",
        "/collections/theirs",
        r#"{"vectors": {"size": 4, "distance": "Dot"}}"#,
    );
    assert_eq!(created.map(|c| c.0), Some(200));
    let theirs = Sandbox::on_server(node.index_spec("theirs"));
    let run = theirs.rag(&["ingest", docs.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not a rag index"), "{}", run.stderr);
    let (_, listing) = node.get("/collections").unwrap();
    assert!(!listing.contains("theirs_rag_state"), "{listing}");

    // A server that is down: a clear error naming it, no panic.
    node.kill();
    let run = sandbox.rag(&["search", "pump"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("Qdrant at {spec}")), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}
