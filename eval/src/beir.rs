//! BEIR-format datasets: `corpus.jsonl` (`_id`, `title`, `text`) read line by line, with errors naming the line.

use std::io::BufRead;
use std::path::{Path, PathBuf};

/// One corpus document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusDoc {
    /// The document id (`_id`).
    pub id: String,
    /// The title (may be empty).
    pub title: String,
    /// The text.
    pub text: String,
}

/// A malformed dataset: the file, the line and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not what the format says.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads every document of a BEIR `corpus.jsonl`.
pub fn read_corpus(path: &Path) -> Result<Vec<CorpusDoc>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| DatasetError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| bad(format!("bad JSON: {e}")))?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let id = field("_id").ok_or_else(|| bad("missing string field _id".into()))?;
        docs.push(CorpusDoc {
            id,
            title: field("title").unwrap_or_default(),
            text: field("text").ok_or_else(|| bad("missing string field text".into()))?,
        });
    }
    Ok(docs)
}

/// Writes each document as `<out>/<id>.txt` (title, blank line, text), so the corpus can be ingested as files;
/// the document id is the file stem. Returns the number of files written.
pub fn write_as_files(docs: &[CorpusDoc], out: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(out)?;
    for doc in docs {
        let name: String = doc
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let text = if doc.title.is_empty() {
            doc.text.clone()
        } else {
            format!("{}\n\n{}", doc.title, doc.text)
        };
        std::fs::write(out.join(format!("{name}.txt")), text)?;
    }
    Ok(docs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_corpus_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.jsonl");
        std::fs::write(
            &path,
            "{\"_id\": \"1\", \"title\": \"T\", \"text\": \"body\"}\n\n{\"_id\": 2}\n",
        )
        .unwrap();
        let err = read_corpus(&path).unwrap_err().to_string();
        assert!(err.ends_with("corpus.jsonl:3: missing string field _id"), "{err}");
        std::fs::write(&path, "{\"_id\": \"1\", \"title\": \"T\", \"text\": \"body\"}\n").unwrap();
        let docs = read_corpus(&path).unwrap();
        assert_eq!(
            docs,
            vec![CorpusDoc {
                id: "1".into(),
                title: "T".into(),
                text: "body".into()
            }]
        );
        let out = dir.path().join("files");
        assert_eq!(write_as_files(&docs, &out).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(out.join("1.txt")).unwrap(), "T\n\nbody");
    }
}
