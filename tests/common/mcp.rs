//! The MCP Python SDK as a test client (tests/mcp_client.py), and what every MCP transport must do.

use serde_json::{json, Value};
use std::process::Command;

use super::root;

/// Runs tests/mcp_client.py with `args`; its JSON output.
pub fn python_client(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(root().join("tests/mcp_client.py"))
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "mcp client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// What every transport must do; `result` is tests/mcp_client.py's `session` output.
pub fn check_session(result: &Value, ingest_enabled: bool) {
    assert_eq!(result["server"], "rag", "{result:#}");
    let tools = result["tools"].as_object().unwrap();
    for (tool, property) in [
        ("search", "query"),
        ("ask", "question"),
        ("list_documents", "path"),
        ("read_document", "path"),
    ] {
        let props = tools[tool]["properties"].as_array().unwrap();
        assert!(props.contains(&json!(property)), "{tool}: {props:?}");
        assert!(tools[tool]["description"].as_str().unwrap().len() > 40, "{tool}");
    }
    assert!(tools.contains_key("status"));
    assert_eq!(tools.contains_key("ingest"), ingest_enabled, "{tools:?}");

    // search: ranked chunks with path, location, text; the pump manual's page 3 first.
    let search = &result["search"];
    assert_eq!(search["is_error"], false, "{search:#}");
    let first = &search["structured"]["results"][0];
    assert!(
        first["path"].as_str().unwrap().ends_with("manuals/pump.pdf"),
        "{search:#}"
    );
    assert_eq!(first["pages"], json!([3, 3]));
    assert!(first["text"].as_str().unwrap().contains("12 bar"));
    assert!(search["text"].as_str().unwrap().contains("pump.pdf, page 3"));

    // ask: the answer, its citations and sentences; a follow-up read with its history.
    let ask = &result["ask"];
    assert_eq!(ask["is_error"], false, "{ask:#}");
    let answer = &ask["structured"];
    assert!(answer["answer"].as_str().unwrap().contains("12 bar"), "{answer:#}");
    assert_eq!(answer["refused"], false);
    assert!(answer["citations"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("manuals/pump.pdf"));
    assert!(!answer["sentences"].as_array().unwrap().is_empty());
    assert!(ask["text"].as_str().unwrap().contains("Sources:"));
    // A question the documents do not answer: a refusal, as a normal result.
    let refusal = &result["refusal"];
    assert_eq!(refusal["is_error"], false, "{refusal:#}");
    assert_eq!(refusal["structured"]["refused"], true, "{refusal:#}");
    assert!(refusal["structured"]["refusal"]["reason"].is_string(), "{refusal:#}");
    let follow_up = &result["follow_up"];
    assert_eq!(follow_up["is_error"], false, "{follow_up:#}");
    assert!(
        follow_up["structured"]["citations"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("manuals/pump.pdf"),
        "{follow_up:#}"
    );

    // read_document: an indexed file's page and lines; a path outside the index is refused as a tool error.
    let page = &result["read_page"];
    assert_eq!(page["is_error"], false, "{page:#}");
    assert!(page["structured"]["text"].as_str().unwrap().contains("12 bar"));
    assert_eq!(page["structured"]["pages"], json!([3, 3]));
    let outside = &result["read_outside"];
    assert_eq!(outside["is_error"], true, "{outside:#}");
    assert!(
        outside["text"].as_str().unwrap().contains("not an indexed file"),
        "{outside:#}"
    );
    assert!(!outside["text"].as_str().unwrap().contains("root:"), "{outside:#}");
    let lines = &result["read_lines"];
    assert_eq!(lines["is_error"], false, "{lines:#}");
    assert_eq!(lines["structured"]["lines"], json!([1, 4]), "{lines:#}");
    let text = lines["structured"]["text"].as_str().unwrap();
    assert_eq!(text.split('\n').count(), 4, "{lines:#}");
    assert!(text.starts_with("# Plant operations notes"), "{lines:#}");

    // list_documents: paged, filtered.
    let list = &result["list"]["structured"];
    assert_eq!(list["total"], 5, "{list:#}");
    assert_eq!(list["documents"].as_array().unwrap().len(), 2);
    assert_eq!(list["next_offset"], 2);
    let glob = &result["list_glob"]["structured"];
    assert_eq!(glob["total"], 1, "{glob:#}");
    assert_eq!(result["status"]["structured"]["files"], 5);
    assert!(result["status"]["structured"]["chunks"].as_u64().unwrap() >= 5);

    // Bad arguments and unknown tools are errors (tool or protocol), and the server goes on.
    let bad = &result["bad_args"];
    assert!(bad["is_error"] == true || bad["protocol_error"].is_string(), "{bad:#}");
    assert_eq!(result["empty_query"]["is_error"], true);
    let unknown = &result["unknown_tool"];
    assert!(
        unknown["is_error"] == true || unknown["protocol_error"].is_string(),
        "{unknown:#}"
    );
    if !ingest_enabled {
        let ingest = &result["ingest"];
        assert!(
            ingest["is_error"] == true || ingest["protocol_error"].is_string(),
            "{ingest:#}"
        );
    }
    assert_eq!(result["after"]["structured"]["files"], 5, "{result:#}");
}
