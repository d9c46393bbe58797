//! BEIR-format datasets: `corpus.jsonl` (`_id`, `title`, `text`) read line by line, with errors naming the line.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::metrics::Judgements;

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

/// One non-empty line of a JSON-lines file, parsed, with what is needed to name it in an error.
pub(crate) struct JsonLine<'a> {
    value: serde_json::Value,
    path: &'a Path,
    line: usize,
}

impl JsonLine<'_> {
    /// An error naming this file and line.
    pub(crate) fn error(&self, reason: impl Into<String>) -> DatasetError {
        DatasetError::Line {
            path: self.path.to_path_buf(),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// A string field, if present.
    pub(crate) fn opt_str(&self, name: &str) -> Option<String> {
        self.value.get(name).and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// A required string field.
    pub(crate) fn str(&self, name: &str) -> Result<String, DatasetError> {
        self.opt_str(name)
            .ok_or_else(|| self.error(format!("missing string field {name}")))
    }

    /// The parsed value.
    pub(crate) fn value(&self) -> &serde_json::Value {
        &self.value
    }
}

/// Reads a JSON-lines file, skipping blank lines, turning each line into a `T` with `parse`.
pub(crate) fn read_jsonl<T>(
    path: &Path,
    mut parse: impl FnMut(&JsonLine<'_>) -> Result<T, DatasetError>,
) -> Result<Vec<T>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut items = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| DatasetError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            reason: format!("bad JSON: {e}"),
        })?;
        items.push(parse(&JsonLine {
            value,
            path,
            line: i + 1,
        })?);
    }
    Ok(items)
}

/// Reads every document of a BEIR `corpus.jsonl`.
pub fn read_corpus(path: &Path) -> Result<Vec<CorpusDoc>, DatasetError> {
    read_jsonl(path, |line| {
        Ok(CorpusDoc {
            id: line.str("_id")?,
            title: line.opt_str("title").unwrap_or_default(),
            text: line.str("text")?,
        })
    })
}

/// Reads a BEIR `queries.jsonl`: `(_id, text)` pairs, in file order. Only `_id` and `text` are read (SciFact's
/// `metadata` holds the qrels).
pub fn read_queries(path: &Path) -> Result<Vec<(String, String)>, DatasetError> {
    read_jsonl(path, |line| Ok((line.str("_id")?, line.str("text")?)))
}

/// Reads a BEIR qrels TSV (`query-id`, `corpus-id`, `score`, with a header line): query id → judgements.
/// Pairs naming a query or document not in `queries` / `doc_ids` are errors naming the line.
pub fn read_qrels(
    path: &Path,
    queries: &HashSet<&str>,
    doc_ids: &HashSet<&str>,
) -> Result<HashMap<String, Judgements>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut qrels: HashMap<String, Judgements> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (i == 0 && line.starts_with("query-id")) {
            continue;
        }
        let bad = |reason: String| DatasetError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [query, doc, score] = fields.as_slice() else {
            return Err(bad(format!("expected 3 tab-separated fields, found {}", fields.len())));
        };
        let score: u32 = score
            .trim()
            .parse()
            .map_err(|_| bad(format!("score {score:?} is not a number")))?;
        if !queries.contains(query) {
            return Err(bad(format!("query {query:?} is not in queries.jsonl")));
        }
        if !doc_ids.contains(doc) {
            return Err(bad(format!("document {doc:?} is not in corpus.jsonl")));
        }
        qrels
            .entry((*query).to_owned())
            .or_default()
            .insert((*doc).to_owned(), score);
    }
    Ok(qrels)
}

/// The file name a document id is written under by [`write_as_files`] (ids are kept when they are safe names).
pub fn file_name(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.txt")
}

/// Writes each document as `<out>/<id>.txt` (title, blank line, text), so the corpus can be ingested as files;
/// the document id is the file stem. Returns the number of files written.
pub fn write_as_files(docs: &[CorpusDoc], out: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(out)?;
    for doc in docs {
        let text = if doc.title.is_empty() {
            doc.text.clone()
        } else {
            format!("{}\n\n{}", doc.title, doc.text)
        };
        let path = out.join(file_name(&doc.id));
        // Unchanged files are left alone, so re-ingesting the corpus finds nothing to do.
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            std::fs::write(&path, text)?;
        }
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

    #[test]
    fn qrels_must_name_known_queries_and_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.tsv");
        let queries: HashSet<&str> = ["q1"].into_iter().collect();
        let docs: HashSet<&str> = ["d1", "d2"].into_iter().collect();
        std::fs::write(&path, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n").unwrap();
        let qrels = read_qrels(&path, &queries, &docs).unwrap();
        assert_eq!(qrels["q1"]["d2"], 2);
        std::fs::write(&path, "query-id\tcorpus-id\tscore\nq1\td9\t1\n").unwrap();
        let err = read_qrels(&path, &queries, &docs).unwrap_err().to_string();
        assert!(
            err.ends_with("test.tsv:2: document \"d9\" is not in corpus.jsonl"),
            "{err}"
        );
        std::fs::write(&path, "q1 d1 1\n").unwrap();
        assert!(read_qrels(&path, &queries, &docs)
            .unwrap_err()
            .to_string()
            .contains(":1: expected 3"));
    }
}
