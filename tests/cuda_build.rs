//! The CUDA build (`--features cuda`), run where there is no GPU and no driver: it starts, `--device cuda`
//! fails with a message naming what is missing, and `--device auto` says so once and runs on the CPU. The
//! binary is `$RAG_CUDA_BIN`, which `.ci/run` builds with `eval/gpu-check.sh --prepare` (CUDA's compiler from
//! PyPI); next to it, `lib/` holds the libcudart it needs at start.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn cuda_binary() -> PathBuf {
    let bin = std::env::var_os("RAG_CUDA_BIN").unwrap_or_else(|| {
        panic!(
            "RAG_CUDA_BIN is not set: run the suite with `bash .ci/run`, or build the CUDA binary with \
             `bash eval/gpu-check.sh --prepare` and set RAG_CUDA_BIN=.gpu/rag"
        )
    });
    let bin = PathBuf::from(bin);
    assert!(bin.is_file(), "RAG_CUDA_BIN={} is not a file", bin.display());
    bin
}

fn run(bin: &PathBuf, args: &[&str]) -> std::process::Output {
    let lib = bin.parent().map(|d| d.join("lib")).unwrap_or_default();
    Command::new(bin)
        .args(args)
        .env("LD_LIBRARY_PATH", lib)
        .output()
        .expect("run the CUDA build of rag")
}

#[test]
fn a_cuda_build_without_a_driver_says_so_and_falls_back_only_on_auto() {
    if std::path::Path::new("/dev/nvidia0").exists() {
        eprintln!("this machine has a GPU: the fallback is checked where there is none (CI); gpu-check.sh runs here");
        return;
    }
    let bin = cuda_binary();
    // The driver and the CUDA libraries are opened at run time, not linked: only libcudart is needed to start.
    let ldd = Command::new("ldd").arg(&bin).output().expect("ldd");
    let linked = String::from_utf8_lossy(&ldd.stdout);
    for lib in ["libcuda.so", "libcublas", "libcurand", "libnvrtc"] {
        assert!(!linked.contains(lib), "{lib} is linked:\n{linked}");
    }
    let version = run(&bin, &["--version"]);
    assert!(version.status.success(), "{}", String::from_utf8_lossy(&version.stderr));

    let sandbox = common::Sandbox::new();
    let index = sandbox.dir.path().join("index");
    let corpus = common::corpus();
    let ingest = |device: &str| {
        run(
            &bin,
            &[
                "--index",
                index.to_str().unwrap_or_default(),
                "--device",
                device,
                "--embed-backend",
                "candle",
                "ingest",
                corpus.to_str().unwrap_or_default(),
            ],
        )
    };
    let cuda = ingest("cuda");
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    assert_eq!(cuda.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--device cuda"), "{stderr}");
    assert!(
        stderr.contains("not available") && stderr.contains("--device cpu"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let auto = ingest("auto");
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no GPU").count(), 1, "{stderr}");
    assert!(stderr.contains("running on the CPU"), "{stderr}");
    let search = run(
        &bin,
        &[
            "--index",
            index.to_str().unwrap_or_default(),
            "--device",
            "auto",
            "--embed-backend",
            "candle",
            "search",
            "maximum operating pressure",
        ],
    );
    assert!(search.status.success(), "{}", String::from_utf8_lossy(&search.stderr));
    assert!(
        String::from_utf8_lossy(&search.stdout).contains("pump"),
        "{}",
        String::from_utf8_lossy(&search.stdout)
    );
}
