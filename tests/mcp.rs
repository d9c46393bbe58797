//! `rag mcp` over stdio, driven by the official MCP Python SDK (PyPI `mcp`, tests/mcp_client.py) with the real
//! binary, models and index; malformed JSON-RPC written raw. `/mcp` in `rag serve` is in tests/serve.rs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mcp::{check_session, python_client};
use common::{corpus, Sandbox};
use serde_json::{json, Value};

fn indexed() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    sandbox
}

#[test]
fn the_python_sdk_searches_asks_and_reads_over_stdio() {
    let sandbox = indexed();
    let index = sandbox.index_arg();
    let result = python_client(&[
        "stdio",
        env!("CARGO_BIN_EXE_rag"),
        &index,
        sandbox.path().to_str().unwrap(),
        "session",
    ]);
    check_session(&result, false);
}

/// With `serve.ingest_roots` set, `ingest` is offered, takes paths under the roots only, and what it ingests
/// is searchable at once.
#[test]
fn ingest_is_offered_only_under_the_allowed_roots() {
    let sandbox = indexed();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("valves.md"),
        "# Valves\n\nThe Zorblat valve handle is painted teal so that night crews can find it.\n",
    )
    .unwrap();
    let config = sandbox.path().join("rag.toml");
    std::fs::write(
        &config,
        format!("[serve]\ningest_roots = [{:?}]\n", docs.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(common::root().join("tests/mcp_client.py"))
        .args([
            "stdio",
            env!("CARGO_BIN_EXE_rag"),
            &sandbox.index_arg(),
            sandbox.path().to_str().unwrap(),
            "ingest",
            docs.to_str().unwrap(),
            "/etc",
        ])
        .env("RAG_CONFIG", &config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        result["tools"].as_array().unwrap().contains(&json!("ingest")),
        "{result:#}"
    );
    let ingest = &result["ingest"];
    assert_eq!(ingest["is_error"], false, "{ingest:#}");
    assert_eq!(ingest["structured"]["state"], "done", "{ingest:#}");
    assert_eq!(ingest["structured"]["report"]["indexed"], 1, "{ingest:#}");
    for refused in ["forbidden", "relative"] {
        assert_eq!(result[refused]["is_error"], true, "{result:#}");
    }
    assert!(result["forbidden"]["text"].as_str().unwrap().contains("ingest_roots"));
    let hit = &result["search"]["structured"]["results"][0];
    assert!(hit["path"].as_str().unwrap().ends_with("docs/valves.md"), "{result:#}");
}

/// An agent configured before the first ingest: the server starts, its tools say the index is missing (a tool
/// error, not a crash), and once `rag ingest` has built it the same session answers.
#[test]
fn a_missing_index_is_a_tool_error_until_it_is_built() {
    let sandbox = Sandbox::new();
    let result = python_client(&[
        "stdio",
        env!("CARGO_BIN_EXE_rag"),
        &sandbox.index_arg(),
        sandbox.path().to_str().unwrap(),
        "missing",
        corpus().to_str().unwrap(),
    ]);
    for before in ["before", "search_before"] {
        assert_eq!(result[before]["is_error"], true, "{result:#}");
        assert!(
            result[before]["text"].as_str().unwrap().contains("ingest"),
            "{result:#}"
        );
    }
    assert_eq!(result["after"]["is_error"], false, "{result:#}");
    assert_eq!(result["after"]["structured"]["files"], 5, "{result:#}");
}

/// Reads one line from `lines` within `deadline`, parsed as JSON.
fn next_message(lines: &std::sync::mpsc::Receiver<String>, deadline: Instant) -> Value {
    let wait = deadline.saturating_duration_since(Instant::now());
    let line = lines.recv_timeout(wait).expect("an answer from rag mcp in time");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only JSON-RPC: {line:?}: {e}"))
}

#[test]
fn malformed_messages_get_an_error_and_the_server_goes_on() {
    let sandbox = indexed();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .args(["--index", &sandbox.index_arg(), "--quiet", "mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut send = |message: &str| {
        stdin.write_all(message.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    send(&init.to_string());
    let answer = next_message(&lines, deadline);
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "rag", "{answer}");
    send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());

    // Not JSON; then JSON that is not JSON-RPC; then a call with arguments of the wrong type.
    send("{this is not json");
    send(&json!({"jsonrpc": "2.0", "id": 2, "method": 42}).to_string());
    send(
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "search", "arguments": {"query": ["not", "text"]}}})
        .to_string(),
    );
    send(
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "status", "arguments": {}}})
        .to_string(),
    );
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &Value| m["id"] == 4) {
        seen.push(next_message(&lines, deadline));
    }
    // Every malformed message got an error answer, and the good call after them was answered.
    let errors = seen
        .iter()
        .filter(|m| m["error"].is_object() || m["result"]["isError"] == true)
        .count();
    assert!(errors >= 2, "{seen:#?}");
    let status = seen.iter().find(|m| m["id"] == 4).unwrap();
    assert_eq!(status["result"]["structuredContent"]["files"], 5, "{status:#}");

    let _ = child.kill();
    let _ = child.wait();
}
