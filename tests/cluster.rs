//! A real 3-node Qdrant cluster on loopback (cluster mode, each node its own ports and directory), a
//! 6-shard collection with replication factor 2: ingest while one node is killed with SIGKILL and restarted;
//! searches keep answering during the outage; after a re-run the collection holds exactly the (file, chunk)
//! keys of an uninterrupted ingest, none lost, none duplicated. A write consistency the cluster cannot meet
//! while a node is down is a clear error, not a silent loss.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::qdrant::Node;
use common::{keys, Keys, Sandbox};

/// Three nodes that agree they are a cluster of three (bounded wait).
fn cluster(root: &std::path::Path) -> Vec<Node> {
    let first = Node::start(root, "node1", true, None);
    let peer = first.peer_uri();
    let mut nodes = vec![first];
    for name in ["node2", "node3"] {
        nodes.push(Node::start(root, name, true, Some(peer.clone())));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let peers = nodes[0]
            .get("/cluster")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["result"]["peers"].as_object().map(|p| p.len()))
            .unwrap_or(0);
        if peers == 3 {
            return nodes;
        }
        assert!(Instant::now() < deadline, "the cluster did not form: {peers} peers");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn write_config(sandbox: &Sandbox, extra: &str) {
    let config = format!(
        "[ingest]\ncommit_chunks = 32\n\n[index]\nshards = 6\nreplication_factor = 2\nlease_s = 5\ntimeout_s = 10\n{extra}"
    );
    std::fs::write(sandbox.path().join("rag.toml"), config).unwrap();
}

#[test]
fn a_node_killed_during_ingest_loses_nothing_and_searches_keep_answering() {
    let servers = tempfile::tempdir().unwrap();
    let mut nodes = cluster(servers.path());
    let sandbox = Sandbox::on_server(nodes[0].index_spec("docs"));
    write_config(&sandbox, "");
    let docs = common::scifact_docs(&sandbox, 300);
    let docs_arg = docs.to_str().unwrap();

    // The reference: the same files into an embedded index.
    let reference = Sandbox::new();
    let expected: Keys = {
        let report = reference.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
        assert!(report["chunks_total"].as_u64().unwrap() > 300, "{report}");
        keys(&reference).0
    };

    // A first batch so that searches have something to find during the outage.
    let first: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .take(40)
        .map(|e| e.unwrap().path())
        .collect();
    let first_args: Vec<&str> = first.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["ingest"];
    args.extend(&first_args);
    sandbox.rag(&args).expect_code(0);
    let info = nodes[0].get("/collections/docs/cluster").unwrap().1;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let local = info["result"]["local_shards"].as_array().unwrap().len();
    let remote = info["result"]["remote_shards"].as_array().unwrap().len();
    assert_eq!(local + remote, 12, "6 shards x 2 replicas: {info:#}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .args(["--index", &sandbox.index_arg(), "--quiet", "ingest", docs_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nodes[2].kill();
    // The outage: searches through the first node keep answering.
    for query in ["cancer treatment", "protein folding", "vitamin D deficiency"] {
        let hits = sandbox
            .rag(&["search", query, "-k", "3", "--json"])
            .expect_code(0)
            .json();
        assert_eq!(hits.as_array().unwrap().len(), 3, "{query}: {hits:#}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    nodes[2].restart();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    eprintln!("ingest during the outage: {status}; {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (stored, named) = keys(&sandbox);
    assert!(
        named.difference(&stored).next().is_none(),
        "the manifest names chunks the collection lacks"
    );

    // The re-run completes the work: exactly the reference keys, none duplicated (checked in `keys`).
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        // The interrupted writer's lease, if it died with it, expires within lease_s.
        let run = sandbox.rag(&["ingest", docs_arg, "--json"]);
        if run.code == 0 || Instant::now() > deadline {
            break run.expect_code(0).json();
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(report["failed"].as_array().unwrap().len(), 0, "{report}");
    let (stored, named) = keys(&sandbox);
    assert_eq!(stored, named);
    assert_eq!(
        stored, expected,
        "the collection does not hold exactly the reference keys"
    );
}

#[test]
fn a_write_consistency_the_cluster_cannot_meet_is_a_clear_error() {
    let servers = tempfile::tempdir().unwrap();
    let mut nodes = cluster(servers.path());
    let sandbox = Sandbox::on_server(nodes[0].index_spec("strict"));
    // Every write needs both replicas of its shard.
    write_config(&sandbox, "write_consistency_factor = 2\n");
    let docs = common::scifact_docs(&sandbox, 40);
    let docs_arg = docs.to_str().unwrap();
    let first: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .take(5)
        .map(|e| e.unwrap().path())
        .collect();
    sandbox
        .rag(&["ingest", first[0].to_str().unwrap(), "--json"])
        .expect_code(0);
    nodes[2].kill();
    let run = sandbox.rag(&["ingest", docs_arg, "--json"]);
    // Where the shards' replicas lie is the cluster's choice: when rag's own state collection has a replica on
    // the stopped node, the run fails as a whole (2); otherwise files whose shard does are each reported
    // failed with the server's reason (1), and the files whose shards live on the other two nodes are written.
    match run.code {
        2 => assert!(run.stderr.contains("Qdrant at qdrant://127.0.0.1:"), "{}", run.stderr),
        1 => {
            let report = run.json();
            let failed = report["failed"].as_array().unwrap();
            assert!(!failed.is_empty(), "{report}");
            for f in failed {
                let reason = f["reason"].as_str().unwrap();
                assert!(reason.contains("Qdrant at qdrant://127.0.0.1:"), "{reason}");
            }
        }
        code => panic!(
            "a write that cannot reach its replicas must fail (exit {code}):\n{}\n{}",
            run.stdout, run.stderr
        ),
    }
    // Nothing the manifest names is missing: what failed is simply not recorded as done.
    let (stored, named) = keys(&sandbox);
    assert!(named.difference(&stored).next().is_none());
    nodes[2].restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let run = sandbox.rag(&["ingest", docs_arg, "--json"]);
        if run.code == 0 || Instant::now() > deadline {
            break run.expect_code(0).json();
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(report["failed"].as_array().unwrap().len(), 0, "{report}");
    let (stored, named) = keys(&sandbox);
    assert_eq!(stored, named);
    assert_eq!(named.iter().map(|(k, _)| k).collect::<BTreeSet<_>>().len(), 40);
}
