//! `rag serve` over real HTTP: the real binary on a free loopback port with the real models and index; the
//! official `openai` Python package as a client; auth, bad input, 429 under load, a client that disconnects,
//! SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::qdrant::free_port;
use common::{corpus, Sandbox};
use serde_json::{json, Value};

const PRESSURE: &str = "What is the maximum operating pressure of the pump?";

/// A running `rag serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    key: Option<String>,
}

impl Server {
    fn start(sandbox: &Sandbox, key: Option<&str>, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rag"));
        cmd.current_dir(sandbox.path())
            .args(["--index", &sandbox.index_arg(), "--quiet", "serve", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match key {
            Some(key) => cmd.env("RAG_SERVE_API_KEYS", key),
            None => cmd.env_remove("RAG_SERVE_API_KEYS"),
        };
        let child = cmd.spawn().unwrap();
        let server = Server {
            child,
            port,
            // The first of the comma-separated keys.
            key: key.and_then(|k| k.split(',').next()).map(str::to_owned),
        };
        // Models load before the server listens: bounded wait.
        let deadline = Instant::now() + Duration::from_secs(180);
        while server.get("/healthz").0 != 200 {
            assert!(Instant::now() < deadline, "rag serve did not come up");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(300)))
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut request = Server::agent().get(self.url(path));
        if let Some(key) = &self.key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        match request.call() {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    /// POSTs `body` (raw) with `key` as bearer: (status, Retry-After, JSON body).
    fn post_raw(&self, path: &str, body: &str, key: Option<&str>) -> (u16, Option<String>, Value) {
        let mut request = Server::agent()
            .post(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send(body).unwrap();
        let retry = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (response.status().as_u16(), retry, value)
    }

    fn delete(&self, path: &str, body: Value) -> (u16, Value) {
        let mut request = Server::agent()
            .delete(self.url(path))
            .force_send_body()
            .header("Content-Type", "application/json");
        if let Some(key) = &self.key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send(body.to_string()).unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (response.status().as_u16(), value)
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, value) = self.post_raw(path, &body.to_string(), self.key.as_deref());
        (status, value)
    }

    /// Sends SIGTERM and waits at most `within` for the server to exit.
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rag serve did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens a streaming ask on a raw socket and returns it once the first bytes of the answer arrived.
    fn open_stream(&self, question: &str) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let body = json!({"question": question, "stream": true}).to_string();
        let auth = self
            .key
            .as_ref()
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("200"), "{line}");
        reader
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An index of the sample corpus.
fn indexed() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    sandbox
}

/// The events of a Server-Sent Events body: (event name, data).
fn sse_events(body: &str) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
            }
        }
        if !data.is_empty() {
            events.push((name, data.join("\n")));
        }
    }
    events
}

#[test]
fn search_and_ask_answer_over_http_streamed_and_not() {
    let sandbox = indexed();
    let server = Server::start(&sandbox, None, &[]);

    let (status, body) = server.post("/v1/search", json!({"query": "maximum operating pressure", "k": 3}));
    assert_eq!(status, 200, "{body}");
    let first = &body["results"][0];
    assert!(
        first["path"].as_str().unwrap().ends_with("manuals/pump.pdf"),
        "{body:#}"
    );
    assert_eq!(first["pages"], json!([3, 3]));
    let (status, body) = server.post("/v1/search", json!({"query": "pressure", "type": ["md"], "k": 5}));
    assert_eq!(status, 200);
    assert!(body["results"].as_array().unwrap().iter().all(|r| r["kind"] == "md"));

    let (status, answer) = server.post("/v1/ask", json!({"question": PRESSURE}));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["answer"].as_str().unwrap().contains("12 bar"), "{answer:#}");
    assert!(answer["citations"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("manuals/pump.pdf"));
    assert!(answer["timings"]["total_ms"].as_f64().unwrap() > 0.0);

    // Streamed: the sources first, then the text, then the checked answer; the deltas add up to its text.
    let mut response = Server::agent()
        .post(server.url("/v1/ask"))
        .header("Content-Type", "application/json")
        .send(json!({"question": PRESSURE, "stream": true}).to_string())
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.body_mut().read_to_string().unwrap();
    let events = sse_events(&body);
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("sources"), "{body}");
    let sources: Value = serde_json::from_str(&events[0].1).unwrap();
    assert!(!sources["passages"].as_array().unwrap().is_empty());
    let (last_name, last_data) = events.last().unwrap();
    assert_eq!(last_name, "done", "{body}");
    let done: Value = serde_json::from_str(last_data).unwrap();
    let streamed: String = events
        .iter()
        .filter(|e| e.0 == "delta")
        .map(|e| {
            serde_json::from_str::<Value>(&e.1).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(!streamed.is_empty());
    assert_eq!(streamed, done["answer"].as_str().unwrap());
    assert!(streamed.contains("12 bar"), "{streamed}");

    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("rag_http_requests_total{route=\"/v1/ask\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rag_answer_stage_seconds_count{stage=\"prefill\"} 2"),
        "{metrics}"
    );
    let (status, state) = server.get("/v1/status");
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&state).unwrap();
    assert!(state["chunks"].as_u64().unwrap() >= 8, "{state}");
}

#[test]
fn the_official_openai_client_works_streaming_and_not() {
    let sandbox = indexed();
    let server = Server::start(&sandbox, Some("sk-test-key"), &[]);
    let script = r#"
import json, sys
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1], api_key="sk-test-key", max_retries=0, timeout=300)
models = [m.id for m in client.models.list()]
q = "What is the maximum operating pressure of the pump?"
r = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": q}])
text = r.choices[0].message.content
extra = (r.model_extra or {}).get("rag") or {}
parts, final = [], None
for chunk in client.chat.completions.create(model="rag", stream=True, messages=[
        {"role": "user", "content": "Which pump is described?"},
        {"role": "assistant", "content": "The P-200 pump."},
        {"role": "user", "content": q}]):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if (chunk.model_extra or {}).get("rag"):
        final = chunk.model_extra["rag"]
bad = None
try:
    OpenAI(base_url=sys.argv[1], api_key="wrong", max_retries=0).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": q}])
except Exception as e:
    bad = type(e).__name__
print(json.dumps({"models": models, "text": text, "citations": extra.get("citations", []),
                  "streamed": "".join(parts), "final": final, "bad_key": bad}))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &server.url("/v1")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["models"], json!(["rag"]));
    assert!(result["text"].as_str().unwrap().contains("12 bar"), "{result:#}");
    assert!(result["citations"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("manuals/pump.pdf"));
    assert!(result["streamed"].as_str().unwrap().contains("12 bar"), "{result:#}");
    assert_eq!(
        result["streamed"].as_str().unwrap(),
        result["final"]["answer"].as_str().unwrap(),
        "the streamed text must be the final answer"
    );
    assert_eq!(result["bad_key"], "AuthenticationError");
}

#[test]
fn auth_bad_input_busy_and_disconnect() {
    let sandbox = indexed();
    let server = Server::start(&sandbox, Some("k1,k2"), &["--slots", "1", "--queue", "0"]);
    let search = json!({"query": "pump"}).to_string();
    // Auth: none, wrong, and each right key.
    assert_eq!(server.post_raw("/v1/search", &search, None).0, 401);
    let (status, _, body) = server.post_raw("/v1/search", &search, Some("k3"));
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert_eq!(server.post_raw("/v1/search", &search, Some("k2")).0, 200);
    assert_eq!(server.get("/healthz").0, 200);

    // Bad input: each a 4xx with the error shape.
    let key = Some("k1");
    for (body, want) in [
        ("{not json", 400),
        (r#"{"query": 7}"#, 422),
        (r#"{"query": "pump", "colour": "red"}"#, 422),
        (r#"{"query": "   "}"#, 400),
        (r#"{"query": "pump", "k": 0}"#, 400),
        (r#"{"query": "pump", "mode": "telepathy"}"#, 422),
    ] {
        let (status, _, value) = server.post_raw("/v1/search", body, key);
        assert_eq!(status, want, "{body}: {value}");
        assert!(value["error"]["message"].is_string(), "{body}: {value}");
    }
    // A body over the limit (1 MiB) is refused once the server has read past the limit: the client sends a
    // little more than the limit of a declared 2 MiB and reads the answer (sending all 2 MiB would race the
    // server closing the connection).
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        raw,
        "POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"query\": \"",
        2 << 20
    )
    .unwrap();
    raw.write_all(&vec![b'a'; (1 << 20) + (16 << 10)]).unwrap();
    let mut status_line = String::new();
    BufReader::new(raw).read_line(&mut status_line).unwrap();
    assert!(status_line.contains(" 413 "), "{status_line}");
    let invalid_utf8 = unsafe { String::from_utf8_unchecked(b"{\"query\": \"\xff\xfe\"}".to_vec()) };
    assert_eq!(server.post_raw("/v1/search", &invalid_utf8, key).0, 400);
    assert_eq!(server.post_raw("/v1/nowhere", &search, key).0, 404);

    // One slot, no queue: while a streamed answer holds the slot, another ask is refused at once.
    let mut stream = server.open_stream(PRESSURE);
    let started = Instant::now();
    let (status, retry, body) = server.post_raw("/v1/ask", &json!({"question": PRESSURE}).to_string(), key);
    assert_eq!(status, 429, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(retry.as_deref(), Some("2"));
    // Searches do not wait for generation.
    assert_eq!(server.post_raw("/v1/search", &search, key).0, 200);
    // The client goes away mid-stream (text is flowing): its slot is free again within a second.
    let mut line = String::new();
    while !line.starts_with("event: delta") {
        line.clear();
        assert!(
            stream.read_line(&mut line).unwrap() > 0,
            "the stream ended before any text"
        );
    }
    drop(stream);
    std::thread::sleep(Duration::from_secs(1));
    let (status, _, body) = server.post_raw("/v1/ask", &json!({"question": PRESSURE}).to_string(), key);
    assert_eq!(status, 200, "the disconnected client's slot was not freed: {body}");

    // The client goes away before any text, while the model reads the prompt: the slot is free as soon.
    let mut stream = server.open_stream(PRESSURE);
    let mut line = String::new();
    while !line.starts_with("event: sources") {
        line.clear();
        assert!(stream.read_line(&mut line).unwrap() > 0, "no sources event");
    }
    drop(stream);
    std::thread::sleep(Duration::from_secs(1));
    let (status, _, body) = server.post_raw("/v1/ask", &json!({"question": PRESSURE}).to_string(), key);
    assert_eq!(
        status, 200,
        "a client gone during the prompt pass kept its slot: {body}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_and_open_binds_need_a_key() {
    let sandbox = indexed();
    let mut server = Server::start(&sandbox, None, &[]);
    let stream = server.open_stream(PRESSURE);
    let status = server.terminate(Duration::from_secs(20));
    drop(stream);
    assert_eq!(status.code(), Some(0));

    let run = sandbox.rag(&["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("without an API key"), "{}", run.stderr);
}

/// Issue 11: `POST /v1/ingest` and `DELETE /v1/documents`, only under `serve.ingest_roots` (symlinks and `..`
/// resolved first); the job runs in the background with its progress at `GET /v1/ingest/{id}`, searches answer
/// while it runs, and what it indexed (or what was deleted) is what searches then see.
#[test]
fn ingest_and_delete_over_http_under_the_allowed_roots_only() {
    let sandbox = indexed();
    let allowed = common::scifact_docs(&sandbox, 200);
    std::fs::write(
        allowed.join("valve.md"),
        "# Valve V-9\n\nThe V-9 relief valve opens at 4.5 bar and closes again at 4.1 bar.\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(corpus(), allowed.join("escape")).unwrap();
    // A second, named index, built by the CLI beforehand.
    let notes = sandbox.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(
        notes.join("kettle.txt"),
        "The K-3 kettle boils a litre of water in 140 seconds.\n",
    )
    .unwrap();
    let notes_index = sandbox.path().join("notes-index");
    sandbox
        .rag_with_index(&notes_index, &["ingest", notes.to_str().unwrap()])
        .expect_code(0);
    let config = sandbox.path().join("serve.toml");
    let roots = toml_string(allowed.to_str().unwrap());
    let named = toml_string(notes_index.to_str().unwrap());
    std::fs::write(
        &config,
        format!("[serve]\ningest_roots = [{roots}]\n\n[serve.indexes]\nnotes = {named}\n"),
    )
    .unwrap();
    let server = Server::start(&sandbox, None, &["--config", config.to_str().unwrap()]);

    // The named index answers at its own prefix, the default one does not see its documents.
    let (status, listed) = server.get("/v1/indexes");
    assert_eq!(status, 200, "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["indexes"][1]["name"], "notes", "{listed:#}");
    assert_eq!(listed["indexes"][1]["chunks"], 1, "{listed:#}");
    let kettle = json!({"query": "how long does the kettle take to boil", "k": 1});
    let (status, body) = server.post("/v1/indexes/notes/search", kettle.clone());
    assert_eq!(status, 200, "{body}");
    assert!(
        body["results"][0]["path"].as_str().unwrap().ends_with("kettle.txt"),
        "{body}"
    );
    let (_, body) = server.post("/v1/search", kettle);
    assert!(
        !body["results"][0]["path"].as_str().unwrap().ends_with("kettle.txt"),
        "{body}"
    );
    let (status, _) = server.post("/v1/indexes/nothing/search", json!({"query": "kettle"}));
    assert_eq!(status, 404);

    // Outside the roots, by name, by `..` or through a symlink: refused before anything is read.
    for path in [
        corpus(),
        allowed.join(".."),
        allowed.join("escape"),
        allowed.join("escape/manuals"),
    ] {
        let (status, body) = server.post("/v1/ingest", json!({"paths": [path]}));
        assert_eq!(status, 403, "{path:?}: {body}");
        assert_eq!(body["error"]["type"], "permission_error", "{body}");
    }
    let (status, _) = server.post("/v1/ingest", json!({"paths": ["relative/path"]}));
    assert_eq!(status, 400);

    let (status, job) = server.post("/v1/ingest", json!({"paths": [allowed]}));
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let mut searched_while_running = false;
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        assert!(Instant::now() < deadline, "the ingest job did not finish");
        let (status, body) = server.get(&format!("/v1/ingest/{id}"));
        assert_eq!(status, 200, "{body}");
        let state: Value = serde_json::from_str(&body).unwrap();
        match state["state"].as_str().unwrap() {
            "done" => break state,
            "failed" => panic!("{state:#}"),
            "running" if !searched_while_running => {
                let (status, body) = server.post("/v1/search", json!({"query": "maximum operating pressure"}));
                assert_eq!(status, 200, "{body}");
                searched_while_running = true;
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(done["report"]["indexed"], 201, "{done:#}");
    assert!(
        searched_while_running,
        "the job finished before a search could run during it"
    );
    assert!(done["progress"]["chunks_done"].as_u64().unwrap() >= 201, "{done:#}");
    let valve = |server: &Server| {
        let (status, body) = server.post(
            "/v1/search",
            json!({"query": "V-9 relief valve opening pressure", "k": 3}),
        );
        assert_eq!(status, 200, "{body}");
        body["results"][0]["path"]
            .as_str()
            .unwrap_or_default()
            .ends_with("valve.md")
    };
    assert!(valve(&server));

    // Deletion: outside the roots refused; inside, the file leaves the index (not the disk).
    let (status, _) = server.delete("/v1/documents", json!({"paths": [corpus().join("notes")]}));
    assert_eq!(status, 403);
    let (status, body) = server.delete("/v1/documents", json!({"paths": [allowed.join("valve.md")]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"].as_array().unwrap().len(), 1, "{body}");
    assert!(!valve(&server));
    assert!(allowed.join("valve.md").exists());
    let (status, missing) = server.get("/v1/ingest/ingest-999");
    assert_eq!(status, 404, "{missing}");
}

/// Issue 11: SIGTERM while an ingest job runs stops it at its next file, commits the files it finished, and the
/// server exits 0; the index then holds those files whole and a later ingest adds exactly the rest. The job's
/// progress shows in `/metrics` while it runs.
#[test]
fn sigterm_during_an_ingest_job_commits_what_it_finished() {
    const DOCS: usize = 400;
    let sandbox = indexed();
    let docs = common::scifact_docs(&sandbox, DOCS);
    let config = sandbox.path().join("serve.toml");
    let roots = toml_string(docs.to_str().unwrap());
    // Small embedding windows, so that files are finished (embedded and written) early in the job: a window
    // stopped half-way leaves its files for the next run.
    std::fs::write(
        &config,
        format!("[serve]\ningest_roots = [{roots}]\n\n[ingest]\nembed_window = 64\n"),
    )
    .unwrap();
    let mut server = Server::start(&sandbox, None, &["--config", config.to_str().unwrap()]);
    let (status, job) = server.post("/v1/ingest", json!({"paths": [docs]}));
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "the job made no progress");
        let (_, body) = server.get(&format!("/v1/ingest/{id}"));
        let state: Value = serde_json::from_str(&body).unwrap();
        let state_name = state["state"].as_str().unwrap();
        assert!(
            matches!(state_name, "queued" | "running"),
            "the job ended before SIGTERM: {state:#}"
        );
        if state_name == "running" && state["progress"]["chunks_done"].as_u64().unwrap() >= 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("rag_ingest_jobs{state=\"running\"} 1"), "{metrics}");
    let done: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rag_ingest_chunks{of=\"done\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no chunk gauge: {metrics}"));
    assert!(done >= 300, "{metrics}");

    let status = server.terminate(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0));

    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    let canonical = docs.canonicalize().unwrap();
    let committed = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["key"].as_str().unwrap().starts_with(canonical.to_str().unwrap()))
        .count();
    assert!(
        committed > 0 && committed < DOCS,
        "{committed} of {DOCS} files committed: {:#}",
        status["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].clone())
            .take(3)
            .collect::<Value>()
    );
    let rest = sandbox
        .rag(&["ingest", docs.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(rest["indexed"], DOCS - committed, "{rest:#}");
    assert_eq!(rest["unchanged"], committed, "{rest:#}");
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A generator that panics on questions holding "boom" and echoes otherwise.
struct Boom(rag::testing::EchoGenerator);

impl rag::generate::Generator for Boom {
    fn model_id(&self) -> &str {
        self.0.model_id()
    }
    fn context_tokens(&self) -> usize {
        self.0.context_tokens()
    }
    fn count_tokens(&self, text: &str) -> rag::Result<usize> {
        self.0.count_tokens(text)
    }
    fn prompt_tokens(&self, prompt: &rag::prompt::Prompt) -> rag::Result<usize> {
        self.0.prompt_tokens(prompt)
    }
    fn generate(
        &self,
        prompt: &rag::prompt::Prompt,
        options: &rag::generate::GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> rag::Flow,
    ) -> rag::Result<rag::generate::Generation> {
        assert!(!prompt.user.contains("boom"), "the generator blew up");
        self.0.generate(prompt, options, on_text)
    }
    fn describe(&self) -> String {
        "boom (test)".into()
    }
}

/// Issue 11: a panic while answering one request is a 500 (or an `error` event in a stream) and a log line; the
/// server goes on answering the others. The server runs in-process here (`rag::serve::run`) so that its
/// generator can be one that panics on demand; it is still driven over real HTTP.
#[test]
fn a_panic_in_one_request_is_a_500_and_the_server_goes_on() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("pump.md"),
        "# Pump\n\nThe pump pressure limit is twelve bar.\n",
    )
    .unwrap();
    let mut config = rag::Config::default();
    config.index.dir = sandbox.path().join("index");
    config.retrieve.min_similarity = 0.0;
    let engine = rag::Engine::with_components(
        config.clone(),
        std::sync::Arc::new(rag::testing::HashEmbedder { dim: 64 }),
        std::sync::Arc::new(rag::chunk::TokenChunker::new(rag::testing::word_tokenizer(), 40, 5).unwrap()),
        Some(std::sync::Arc::new(Boom(rag::testing::EchoGenerator::default()))),
    )
    .unwrap();
    engine.ingest(&[docs]).unwrap();
    config.serve.bind = "127.0.0.1:0".into();
    let options = rag::serve::ServeOptions::from_config(&config.serve, None).unwrap();
    let cancel = rag::progress::Cancel::new();
    let (ready, port) = std::sync::mpsc::channel();
    let stop = cancel.clone();
    let server = std::thread::spawn(move || rag::serve::run(engine, options, stop, |addr| ready.send(addr).unwrap()));
    let addr = port.recv_timeout(Duration::from_secs(60)).unwrap();
    let agent = Server::agent();
    let post = |path: &str, body: Value| {
        let mut response = agent
            .post(format!("http://{addr}{path}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), text)
    };

    let (status, body) = post("/v1/ask", json!({"question": "boom: what is the pump pressure limit?"}));
    assert_eq!(status, 500, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "server_error", "{body}");
    let (status, body) = post(
        "/v1/ask",
        json!({"question": "boom: what is the pump pressure limit?", "stream": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("event: error"), "{body}");
    // The server goes on: the same slot answers the next question, and searches work.
    let (status, body) = post("/v1/ask", json!({"question": "What is the pump pressure limit?"}));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("twelve bar"), "{body}");
    let (status, body) = post("/v1/search", json!({"query": "pump pressure"}));
    assert_eq!(status, 200, "{body}");
    cancel.cancel();
    server.join().unwrap().unwrap();
}

/// Issue 17: MCP over streamable HTTP at `/mcp`, behind the server's keys; the official Python SDK as client.
#[test]
fn mcp_over_streamable_http_behind_the_keys() {
    let sandbox = indexed();
    let server = Server::start(&sandbox, Some("k1"), &[]);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
    .to_string();
    // No key, a wrong key: 401 before any MCP.
    assert_eq!(server.post_raw("/mcp", &init, None).0, 401);
    assert_eq!(server.post_raw("/mcp", &init, Some("k2")).0, 401);
    // Malformed JSON-RPC: a 4xx, and the server goes on.
    let (status, _, body) = server.post_raw("/mcp", "{this is not json", Some("k1"));
    assert!((400..500).contains(&status), "{status} {body}");
    let result = common::mcp::python_client(&["http", &server.url("/mcp"), "k1", "session"]);
    common::mcp::check_session(&result, false);
    assert_eq!(server.get("/healthz").0, 200);
}
