//! The walk: which files under the roots are candidates for ingest, and what was left out by which rule.
//!
//! As ripgrep does, by default: `.gitignore`, `.ignore` and `.ragignore` files are respected (in and below a
//! root, whether or not it is a git repository; a deeper file overrides a shallower one, and in one directory
//! `.ragignore` overrides `.ignore`, which overrides `.gitignore`), hidden files and folders (names starting
//! with `.`) are skipped, and `.git` folders are never entered. `--no-ignore`, `--hidden` and `--glob` (include
//! globs, `!`-prefixed exclude globs, matched against the path under the root) change that. Symbolic links are
//! followed only within the roots, loops end the descent with a failure, and the index directory is not
//! entered. Every path left out is listed with its reason and counted by rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::overrides::{Override, OverrideBuilder};
use ignore::Match;
use walkdir::WalkDir;

use super::{source_key, IngestFailure, IngestReport};

/// Ignore files read in each directory, the strongest first.
pub const IGNORE_FILES: [&str; 3] = [".ragignore", ".ignore", ".gitignore"];

/// What the walk leaves out besides unsupported files (`[ingest]` in the config, `rag ingest` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkRules {
    /// Respect `.gitignore`, `.ignore` and `.ragignore` (default true; `--no-ignore` turns it off).
    pub ignore_files: bool,
    /// Enter hidden files and folders (default false; `--hidden`).
    pub hidden: bool,
    /// ripgrep-style globs (`--glob`): `*.md` includes (when any include glob is given, only matching files
    /// are candidates), `!drafts/**` excludes.
    pub globs: Vec<String>,
}

impl Default for WalkRules {
    fn default() -> WalkRules {
        WalkRules {
            ignore_files: true,
            hidden: false,
            globs: Vec::new(),
        }
    }
}

/// The rules a path can be left out by, as counted in [`IngestReport::skipped_by`].
pub mod rule {
    /// A name starting with `.`.
    pub const HIDDEN: &str = "hidden";
    /// A `.gitignore`, `.ignore` or `.ragignore` pattern.
    pub const IGNORE_FILE: &str = "ignore file";
    /// A `--glob`.
    pub const GLOB: &str = "glob";
    /// No connector reads the format (binary files included).
    pub const UNSUPPORTED: &str = "unsupported";
    /// A symbolic link leading out of the root.
    pub const OUTSIDE: &str = "link outside root";
    /// The same file reached twice.
    pub const DUPLICATE: &str = "duplicate";
    /// An image in which OCR found no text (a photo).
    pub const NO_TEXT: &str = "no text";
}

/// A file to load.
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    pub(crate) key: String,
}

/// The walk's result.
pub(crate) struct Walked {
    pub(crate) candidates: Vec<Candidate>,
    /// Keys (canonical paths) of the files and folders left out by an ignore rule, a glob or the hidden rule:
    /// what the index held under them is removed, as when the file is deleted.
    pub(crate) excluded: Vec<String>,
}

/// The ignore files of one directory, the strongest first.
struct Level {
    depth: usize,
    matchers: Vec<Gitignore>,
}

pub(crate) fn skip(report: &mut IngestReport, path: PathBuf, rule: &'static str, reason: String) {
    *report.skipped_by.entry(rule.to_string()).or_insert(0) += 1;
    report.skipped.push((path, reason));
}

/// Reads the ignore files of `dir`; a malformed line is a warning, the rest of the file still applies.
fn level(dir: &Path, depth: usize, report: &mut IngestReport) -> Option<Level> {
    let mut matchers = Vec::new();
    for name in IGNORE_FILES {
        let file = dir.join(name);
        if !file.is_file() {
            continue;
        }
        let mut builder = GitignoreBuilder::new(dir);
        if let Some(err) = builder.add(&file) {
            report.warnings.push((file.clone(), format!("ignore file: {err}")));
        }
        match builder.build() {
            Ok(matcher) if !matcher.is_empty() => matchers.push(matcher),
            Ok(_) => {}
            Err(err) => report
                .warnings
                .push((file.clone(), format!("ignore file not used: {err}"))),
        }
    }
    (!matchers.is_empty()).then_some(Level { depth, matchers })
}

/// The deepest decision of the ignore files in force for `path`: `Some(reason)` when it is ignored.
fn ignored_by(levels: &[Level], path: &Path, is_dir: bool) -> Option<String> {
    for level in levels.iter().rev() {
        for matcher in &level.matchers {
            match matcher.matched(path, is_dir) {
                Match::None => continue,
                Match::Whitelist(_) => return None,
                Match::Ignore(glob) => {
                    let from = glob
                        .from()
                        .map_or_else(|| "an ignore file".to_string(), |f| f.display().to_string());
                    return Some(format!("ignored by {from} ({})", glob.original()));
                }
            }
        }
    }
    None
}

fn overrides(root: &Path, globs: &[String]) -> Result<Option<Override>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = OverrideBuilder::new(root);
    for glob in globs {
        builder.add(glob).map_err(|e| format!("--glob {glob:?}: {e}"))?;
    }
    builder.build().map(Some).map_err(|e| format!("--glob: {e}"))
}

/// Finds the supported files under `roots` by the rules above. A file reached twice (through a link, or under
/// two roots) is one candidate: its key is its canonical path.
pub(crate) fn walk(
    roots: &[PathBuf],
    index_dir: Option<&Path>,
    rules: &WalkRules,
    report: &mut IngestReport,
) -> Walked {
    let index_dir = index_dir.and_then(|d| d.canonicalize().ok());
    let mut found = Vec::new();
    let mut excluded = Vec::new();
    let mut keys: HashMap<String, PathBuf> = HashMap::new();
    for root in roots {
        let canonical_root = match root.canonicalize() {
            Ok(p) => p,
            Err(e) => {
                report.failures.push(IngestFailure {
                    path: root.clone(),
                    reason: format!("{}: cannot open: {e}", root.display()),
                });
                continue;
            }
        };
        let excludes: Vec<(String, Override)> = rules
            .globs
            .iter()
            .filter(|g| g.starts_with('!'))
            .filter_map(|g| Some((g.clone(), overrides(root, std::slice::from_ref(g)).ok()??)))
            .collect();
        let globs = match overrides(root, &rules.globs) {
            Ok(globs) => globs,
            Err(reason) => {
                report.failures.push(IngestFailure {
                    path: root.clone(),
                    reason,
                });
                continue;
            }
        };
        // What the filter decides is gathered here and reported after the walk (the filter cannot borrow the
        // report while the walk runs).
        let mut left_out: Vec<(PathBuf, &'static str, String)> = Vec::new();
        let mut levels: Vec<Level> = Vec::new();
        let mut level_warnings = IngestReport::default();
        if rules.ignore_files && root.is_dir() {
            levels.extend(level(root, 0, &mut level_warnings));
        }
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                let depth = entry.depth();
                if depth == 0 {
                    return true;
                }
                // Leaving a folder: its ignore files no longer apply.
                while levels.last().is_some_and(|l| l.depth >= depth) {
                    levels.pop();
                }
                let is_dir = entry.file_type().is_dir();
                let path = entry.path();
                let name = entry.file_name().to_string_lossy();
                if rules.hidden && is_dir && name == ".git" {
                    let reason = "git's own folder, never indexed".to_string();
                    left_out.push((path.to_path_buf(), rule::HIDDEN, reason));
                    return false;
                }
                if !rules.hidden && name.starts_with('.') {
                    let what = if is_dir { "directory" } else { "file" };
                    left_out.push((
                        path.to_path_buf(),
                        rule::HIDDEN,
                        format!("hidden {what} (name starts with '.'), not indexed (--hidden indexes it)"),
                    ));
                    return false;
                }
                if let Some(reason) = ignored_by(&levels, path, is_dir) {
                    left_out.push((
                        path.to_path_buf(),
                        rule::IGNORE_FILE,
                        format!("{reason} (--no-ignore indexes it)"),
                    ));
                    return false;
                }
                if let Some(globs) = &globs {
                    match globs.matched(path, is_dir) {
                        Match::Ignore(_) => {
                            // The matcher does not say which glob matched: the first exclude glob that alone
                            // matches is named, else no include glob matched.
                            let reason = match excludes.iter().find(|(_, o)| o.matched(path, is_dir).is_ignore()) {
                                Some((g, _)) => format!("excluded by --glob '{g}'"),
                                None => "not matched by any --glob".to_string(),
                            };
                            left_out.push((path.to_path_buf(), rule::GLOB, reason));
                            return false;
                        }
                        Match::Whitelist(_) | Match::None => {}
                    }
                }
                if !is_dir {
                    return true;
                }
                let target = path.canonicalize().ok();
                // Only directories can be the index; files need no canonicalisation here.
                if target.is_some() && target == index_dir {
                    return false;
                }
                if entry.path_is_symlink() {
                    if let Some(target) = target.filter(|t| !t.starts_with(&canonical_root)) {
                        left_out.push((
                            path.to_path_buf(),
                            rule::OUTSIDE,
                            format!(
                                "symbolic link to {} outside {}, not followed",
                                target.display(),
                                root.display()
                            ),
                        ));
                        return false;
                    }
                }
                if rules.ignore_files {
                    levels.extend(level(path, depth, &mut level_warnings));
                }
                true
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    let reason = if err.loop_ancestor().is_some() {
                        format!("{}: symbolic link loop, not followed", path.display())
                    } else {
                        format!(
                            "{}: {}",
                            path.display(),
                            err.io_error().map_or(err.to_string(), |e| e.to_string())
                        )
                    };
                    report.failures.push(IngestFailure { path, reason });
                    continue;
                }
            };
            if entry.file_type().is_dir() {
                continue;
            }
            let path = entry.path().to_path_buf();
            let canonical = match path.canonicalize() {
                Ok(target) => target,
                Err(e) => {
                    report.failures.push(IngestFailure {
                        reason: format!("{}: cannot resolve: {e}", path.display()),
                        path,
                    });
                    continue;
                }
            };
            // A link (or a path through a linked directory) must stay inside the root.
            if !canonical.starts_with(&canonical_root) {
                let reason = format!("symbolic link to {} outside {}", canonical.display(), root.display());
                skip(report, path.clone(), rule::OUTSIDE, reason);
                continue;
            }
            if rag_connectors::DocKind::from_path(&path).is_none() {
                skip(report, path, rule::UNSUPPORTED, "unsupported file type".into());
                continue;
            }
            let key = source_key(&canonical);
            match keys.get(&key) {
                Some(first) => {
                    let reason = format!("the same file as {} (reached twice), indexed once", first.display());
                    skip(report, path.clone(), rule::DUPLICATE, reason);
                }
                None => {
                    keys.insert(key.clone(), path.clone());
                    found.push(Candidate { path, key });
                }
            }
        }
        report.warnings.append(&mut level_warnings.warnings);
        for (path, rule, reason) in left_out {
            if rule != rule::OUTSIDE {
                if let Ok(canonical) = path.canonicalize() {
                    // Only what lies inside the root: a link's target elsewhere is not this root's to remove.
                    if canonical.starts_with(&canonical_root) {
                        excluded.push(source_key(&canonical));
                    }
                }
            }
            skip(report, path, rule, reason);
        }
    }
    Walked {
        candidates: found,
        excluded,
    }
}
