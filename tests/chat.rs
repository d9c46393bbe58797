//! `rag chat` on the real binary and models: a follow-up that only makes sense after the first question is
//! retrieved for with the conversation, and each turn is cited like `ask`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Sandbox;

#[test]
fn a_follow_up_is_answered_from_the_document_the_first_question_named() {
    let sandbox = Sandbox::new();
    let docs = sandbox.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    // Two machines with parallel facts; on its own, "how much does it weigh?" finds the compressor, whose
    // document asks exactly that.
    std::fs::write(
        docs.join("compressor.md"),
        "# Alpha compressor\n\nThe Alpha compressor runs at 300 rpm. How much does it weigh? It weighs 40 kg.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("turbine.md"),
        "# Beta turbine\n\nThe Beta turbine runs at 900 rpm. Its blades are forged steel and its housing is cast \
         iron, inspected every spring by the plant engineers. The Beta turbine weighs 75 kg.\n",
    )
    .unwrap();
    sandbox.rag(&["ingest", docs.to_str().unwrap()]).expect_code(0);
    let follow_up = "And how much does it weigh?";
    // Alone, the follow-up lands on the compressor: the conversation is what makes it about the turbine.
    let alone = sandbox
        .rag(&["search", follow_up, "-k", "1", "--json"])
        .expect_code(0)
        .json();
    assert!(
        alone[0]["path"].as_str().unwrap().ends_with("compressor.md"),
        "{alone:#}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_rag"))
        .current_dir(sandbox.path())
        .arg("--index")
        .arg(sandbox.index())
        .args(["--quiet", "chat", "--json", "-k", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("How fast does the Beta turbine run?\n{follow_up}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let turns: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(turns.len(), 2, "one JSON object per turn");
    assert_eq!(turns[1]["question"], follow_up);
    assert!(
        turns[1]["standalone_question"]
            .as_str()
            .unwrap()
            .contains("Beta turbine"),
        "{:#}",
        turns[1]
    );
    for turn in &turns {
        assert_eq!(turn["refused"], false, "{turn:#}");
        let first = turn["passages"][0]["path"].as_str().unwrap();
        assert!(first.ends_with("turbine.md"), "{turn:#}");
        assert!(!turn["citations"].as_array().unwrap().is_empty(), "{turn:#}");
    }
    // The follow-up's answer gives the turbine's weight, not the compressor's.
    let second = turns[1]["answer"].as_str().unwrap();
    assert!(second.contains("75") && !second.contains("40 kg"), "{:#}", turns[1]);
}
