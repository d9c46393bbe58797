//! The OpenAI-compatible generator and embedder against a real server started here: llama.cpp's server
//! (`python3 -m llama_cpp.server`, from the PyPI package llama-cpp-python, which .ci/run installs when missing)
//! serving the default SmolLM2 GGUF on a loopback port.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{corpus, Sandbox};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts llama.cpp's OpenAI-compatible server on the packaged SmolLM2 model and waits until it answers.
fn start_server(api_key: &str) -> Server {
    start_server_with(api_key, &[])
}

fn start_server_with(api_key: &str, extra: &[&str]) -> Server {
    let model = rag::models::ModelStore::new(rag::models::ModelStore::default_cache_dir(), "python3".into())
        .ensure(&rag::models::SMOLLM2, &rag::NoProgress)
        .expect("fetch SmolLM2")
        .join("model.gguf");
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ])
        .args(["--model_alias", "smollm2", "--api_key", api_key])
        // One token per batch: llama-cpp-python 0.3.36 built natively on this CI machine's CPU (AVX-512/AMX)
        // segfaults on batched prefill; rag's client is what is under test, not the server's speed.
        .args(["--n_batch", "1", "--n_ubatch", "1"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m llama_cpp.server (pip install 'llama-cpp-python[server]==0.3.36')");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "llama.cpp server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

#[test]
fn answers_stream_from_an_openai_compatible_server() {
    let server = start_server("secret-key");
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);

    let remote = |key: &str, args: &[&str]| {
        let mut all = vec!["--server", server.url.as_str(), "--server-model", "smollm2"];
        all.extend_from_slice(args);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
        cmd.current_dir(sandbox.path())
            .arg("--index")
            .arg(sandbox.index())
            .arg("--quiet")
            .args(&all);
        cmd.env("RAG_API_KEY", key);
        cmd.output().unwrap()
    };
    let out = remote(
        "secret-key",
        &["ask", "--json", "What is the maximum operating pressure of the pump?"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["refused"], false);
    assert!(!answer["answer"].as_str().unwrap().trim().is_empty(), "{answer:#}");
    assert!(answer["answer"].as_str().unwrap().contains("12"), "{answer:#}");
    assert!(
        answer["citations"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("manuals/pump.pdf"),
        "{answer:#}"
    );
    assert!(answer["timings"]["generated_tokens"].as_u64().unwrap() > 0);
    assert_eq!(answer["models"]["generator"], "smollm2");

    // Streamed text form works the same way.
    let out = remote(
        "secret-key",
        &["ask", "What is the maximum operating pressure of the pump?"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Sources"));

    // A wrong key is a clear 401, not a hang or a panic.
    let out = remote("wrong", &["ask", "What is the maximum operating pressure of the pump?"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401") && stderr.contains("API key"), "{stderr}");
}

/// Ingest and search with embeddings from the server's `/v1/embeddings` (llama.cpp serving SmolLM2 with
/// `--embedding true`: per-token vectors, mean-pooled by the client), everything else local.
#[test]
fn embeddings_come_from_an_openai_compatible_server() {
    let server = start_server_with("emb-key", &["--embedding", "true"]);
    let sandbox = Sandbox::new();
    let run = |key: &str, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
        cmd.current_dir(sandbox.path())
            .arg("--index")
            .arg(sandbox.index())
            .args([
                "--quiet",
                "--embed-server",
                server.url.as_str(),
                "--embed-server-model",
                "smollm2",
            ])
            .args(args)
            .env("RAG_EMBED_API_KEY", key);
        cmd.output().unwrap()
    };
    let out = run("emb-key", &["ingest", corpus().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["embedded"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(report["embedded"], report["chunks"], "{report:#}");

    let out = run("emb-key", &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["model"], "openai:smollm2", "{status:#}");
    assert_eq!(status["dim"], 576, "{status:#}");

    // Dense retrieval alone, so the server's vectors are what finds the passage.
    let out = run(
        "emb-key",
        &[
            "search",
            "--mode",
            "dense",
            "-k",
            "8",
            "--json",
            "maximum operating pressure of the pump",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!hits.as_array().unwrap().is_empty(), "{hits:#}");

    // The index remembers its embedding model: the local default is refused on it.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
    let out = cmd
        .current_dir(sandbox.path())
        .arg("--index")
        .arg(sandbox.index())
        .args(["--quiet", "search", "pump"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("openai:smollm2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong key is a clear 401 naming the endpoint.
    let out = run("wrong", &["search", "pump"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/v1/embeddings") && stderr.contains("401"), "{stderr}");
}
