//! Real Qdrant servers for the tests: built once from the source kit in `../shared/vendor/qdrant` (its
//! `build.sh` prints the binary's path, compiling it on first use), started on free loopback ports with
//! temporary storage, killed when dropped. Only 127.0.0.1 is ever contacted; every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Qdrant server binary: `$RAG_QDRANT_BIN`, else what `build.sh` prints (it builds once, then answers at once).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("RAG_QDRANT_BIN") {
        return PathBuf::from(bin);
    }
    let script = super::root().join("../shared/vendor/qdrant/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(super::root())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(out.status.success(), "{} failed", script.display());
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let path = PathBuf::from(path);
    assert!(path.is_file(), "build.sh printed no binary: {}", path.display());
    path
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One Qdrant node: its ports, its directory, its process.
pub struct Node {
    pub http: u16,
    pub grpc: u16,
    pub p2p: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// `--bootstrap` peer URI for a cluster node that is not the first.
    bootstrap: Option<String>,
    cluster: bool,
    child: Option<Child>,
}

impl Node {
    /// A single node (no cluster), ready to answer.
    pub fn single(root: &Path) -> Node {
        Node::start(root, "single", false, None)
    }

    /// Starts a node in `root/name`; waits (bounded) until it answers `/readyz`.
    pub fn start(root: &Path, name: &str, cluster: bool, bootstrap: Option<String>) -> Node {
        let mut node = Node {
            http: free_port(),
            grpc: free_port(),
            p2p: free_port(),
            dir: root.join(name),
            bin: binary(),
            bootstrap,
            cluster,
            child: None,
        };
        std::fs::create_dir_all(&node.dir).unwrap();
        node.spawn();
        node
    }

    /// The gRPC URL rag uses.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// `--index` for `collection` on this node.
    pub fn index_spec(&self, collection: &str) -> String {
        format!("qdrant://127.0.0.1:{}/{collection}", self.grpc)
    }

    /// The p2p URI other nodes bootstrap from.
    pub fn peer_uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.p2p)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", self.http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", self.grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", self.dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", self.dir.join("snapshots"))
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .env("QDRANT__LOG_LEVEL", "WARN")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("qdrant.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            );
        if self.cluster {
            cmd.env("QDRANT__CLUSTER__ENABLED", "true")
                .env("QDRANT__CLUSTER__P2P__PORT", self.p2p.to_string())
                .arg("--uri")
                .arg(self.peer_uri());
            if let Some(peer) = &self.bootstrap {
                cmd.arg("--bootstrap").arg(peer);
            }
        }
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("{}: {e}", self.bin.display())));
        self.wait_ready(Duration::from_secs(90));
    }

    /// Waits until `/readyz` answers 200, at most `limit`.
    pub fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.join("qdrant.log")).unwrap_or_default();
                    panic!("qdrant exited with {status}:\n{log}");
                }
            }
            if http_get(self.http, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("qdrant.log")).unwrap_or_default();
        panic!("qdrant on port {} not ready after {limit:?}:\n{log}", self.http);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same ports and directory (a cluster node rejoins from its own state).
    pub fn restart(&mut self) {
        self.kill();
        // A restarted peer recovers its membership from its storage; no bootstrap needed.
        self.bootstrap = None;
        self.spawn();
    }

    /// `GET path` on this node's REST port: (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.http, path)
    }

    /// `METHOD path` with a JSON body on this node's REST port: (status, body).
    pub fn send(&self, method: &str, path: &str, json: &str) -> Option<(u16, String)> {
        http(self.http, method, path, Some(json))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bounded HTTP/1.0 GET on loopback.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(port, "GET", path, None)
}

/// A bounded HTTP/1.0 request on loopback.
fn http(port: u16, method: &str, path: &str, json: Option<&str>) -> Option<(u16, String)> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    match json {
        Some(body) => write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?,
        None => write!(stream, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?,
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}
