//! Text by OCR, for images and for PDF pages without a text layer (scans): Tesseract's command-line
//! program reads the image, poppler's `pdftoppm` renders a PDF page to one. Both are run as programs rather
//! than linked (the `tesseract`/`leptess` bindings need the C libraries' headers at build time and would make
//! every build of rag depend on them; the programs are one `apt-get install` away and are optional: without
//! them such files fail with one "needs OCR" line and everything else indexes).
//!
//! `RAG_TESSERACT` and `RAG_PDFTOPPM` name other programs (or a missing one, to test the fallback). Each
//! run has a deadline ([`DEADLINE`]) and is killed past it. Rendering writes into a temporary folder that
//! this module creates and removes; nothing else is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest one program run may take (one page or one image).
const DEADLINE: Duration = Duration::from_secs(60);

/// Resolution PDF pages are rendered at for OCR: Tesseract reads 10-12 pt text best at 200-300 dpi.
const DPI: u32 = 200;

/// Most pages of one PDF read by OCR; later ones are left out with a warning.
pub(crate) const MAX_PAGES: usize = 200;

/// An external program, looked for once per process: the one its environment variable names, else its
/// usual name on `PATH`; found when it answers its version flag.
struct Program {
    env: &'static str,
    name: &'static str,
    version_flag: &'static str,
    found: OnceLock<Option<String>>,
}

impl Program {
    const fn new(env: &'static str, name: &'static str, version_flag: &'static str) -> Program {
        Program {
            env,
            name,
            version_flag,
            found: OnceLock::new(),
        }
    }

    fn get(&'static self) -> Option<&'static str> {
        self.found
            .get_or_init(|| {
                let program = std::env::var(self.env).unwrap_or_else(|_| self.name.into());
                let runs = Command::new(&program)
                    .arg(self.version_flag)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok();
                runs.then_some(program)
            })
            .as_deref()
    }
}

static TESSERACT: Program = Program::new("RAG_TESSERACT", "tesseract", "--version");
static PDFTOPPM: Program = Program::new("RAG_PDFTOPPM", "pdftoppm", "-v");

/// The Tesseract program, if it runs.
pub(crate) fn tesseract() -> Option<&'static str> {
    TESSERACT.get()
}

/// poppler's `pdftoppm`, if it runs.
pub(crate) fn pdftoppm() -> Option<&'static str> {
    PDFTOPPM.get()
}

/// Runs `command` with `input` on its standard input; its standard output, or why not.
fn run(mut command: Command, input: &[u8]) -> Result<Vec<u8>, String> {
    let name = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            if let Some(mut stdin) = stdin.take() {
                // A program that stops reading early (a corrupt image) closes the pipe: not an error here.
                let _ = stdin.write_all(input);
            }
        });
        let reader = scope.spawn(move || {
            let mut out = Vec::new();
            if let Some(stdout) = stdout.as_mut() {
                let _ = stdout.read_to_end(&mut out);
            }
            out
        });
        let errors = scope.spawn(move || {
            let mut err = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.take(64 << 10).read_to_end(&mut err);
            }
            err
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if start.elapsed() > DEADLINE => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("{name} took over {} s; stopped", DEADLINE.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(format!("{name}: {e}")),
            }
        };
        let _ = writer.join();
        let out = reader.join().unwrap_or_default();
        let err = errors.join().unwrap_or_default();
        let status = status?;
        if status.success() {
            Ok(out)
        } else {
            let err = String::from_utf8_lossy(&err);
            let last = err
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("no message");
            Err(format!("{name} failed ({status}): {last}"))
        }
    })
}

/// The text Tesseract reads in `image` (PNG, JPEG, TIFF, BMP, GIF, PNM); pages of a multi-page TIFF are
/// separated by form feeds.
pub(crate) fn image_text(tesseract: &str, image: &[u8]) -> Result<String, String> {
    let mut command = Command::new(tesseract);
    command.args(["stdin", "stdout", "-l", "eng", "--psm", "3"]);
    // One thread per page: OCR runs beside the other loaders.
    command.env("OMP_THREAD_LIMIT", "1");
    let out = run(command, image)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A folder of this module's own, removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rag-ocr-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PDF written once into a scratch folder, whose pages are rendered by `pdftoppm` and read by Tesseract,
/// one program run per page.
pub(crate) struct PdfPages<'a> {
    tesseract: &'a str,
    pdftoppm: &'a str,
    scratch: Scratch,
    input: PathBuf,
}

impl<'a> PdfPages<'a> {
    /// Writes `pdf` for the programs to read.
    pub(crate) fn new(tesseract: &'a str, pdftoppm: &'a str, pdf: &[u8]) -> Result<PdfPages<'a>, String> {
        let scratch = Scratch::new()?;
        let input = scratch.0.join("in.pdf");
        std::fs::write(&input, pdf).map_err(|e| format!("cannot write {}: {e}", input.display()))?;
        Ok(PdfPages {
            tesseract,
            pdftoppm,
            scratch,
            input,
        })
    }

    /// The text of page `page` (1-based). Pages may be read from several threads at once.
    pub(crate) fn text(&self, page: u32) -> Result<String, String> {
        let stem = self.scratch.0.join(format!("page-{page}"));
        let image = stem.with_extension("png");
        let mut command = Command::new(self.pdftoppm);
        command
            .args(["-f", &page.to_string(), "-l", &page.to_string(), "-r", &DPI.to_string()])
            .args(["-gray", "-png", "-singlefile"])
            .arg(&self.input)
            .arg(&stem);
        run(command, &[])?;
        let read = std::fs::read(&image);
        let _ = std::fs::remove_file(&image);
        let image = read.map_err(|e| format!("{} rendered no image of page {page}: {e}", self.pdftoppm))?;
        image_text(self.tesseract, &image)
    }

    /// The text of each of `pages` (1-based), read by as many programs at once as there are cores.
    pub(crate) fn texts(&self, pages: &[u32]) -> Vec<(u32, Result<String, String>)> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, pages.len().max(1));
        let next = AtomicUsize::new(0);
        let mut read: Vec<(u32, Result<String, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        while let Some(&page) = pages.get(next.fetch_add(1, Ordering::Relaxed)) {
                            out.push((page, self.text(page)));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        read.sort_by_key(|(page, _)| *page);
        read
    }
}

/// What to install for OCR of `path`'s kind: Tesseract, and poppler for PDFs.
pub(crate) fn install_hint(path: &Path) -> &'static str {
    let pdf = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    match (tesseract().is_some(), pdftoppm().is_some() || !pdf) {
        (false, true) => "install tesseract-ocr",
        (true, false) => "install poppler-utils",
        _ if pdf => "install tesseract-ocr and poppler-utils",
        _ => "install tesseract-ocr",
    }
}
