//! `rag-eval`: evaluation helpers for `rag`.
//!
//! `rag-eval beir-to-files DATASET_DIR OUT_DIR` writes a BEIR corpus as one text file per document, for
//! `rag ingest OUT_DIR` (the ingest benchmark in eval/RESULTS.md).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dataset, out] if cmd == "beir-to-files" => {
            let corpus = PathBuf::from(dataset).join("corpus.jsonl");
            let docs = match rag_eval::beir::read_corpus(&corpus) {
                Ok(docs) => docs,
                Err(e) => {
                    eprintln!("rag-eval: {e}");
                    return ExitCode::from(2);
                }
            };
            match rag_eval::beir::write_as_files(&docs, &PathBuf::from(out)) {
                Ok(n) => {
                    println!("wrote {n} documents to {out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rag-eval: {out}: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!("usage: rag-eval beir-to-files DATASET_DIR OUT_DIR");
            ExitCode::from(2)
        }
    }
}
