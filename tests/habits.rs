//! CLI habits (issue 13): shell completions and the man page come from the same clap definitions as the CLI.

mod common;

use common::Sandbox;

#[test]
fn completions_and_the_man_page_name_the_subcommands_and_flags() {
    let sandbox = Sandbox::new();
    let bash = sandbox.rag(&["completions", "bash"]).expect_code(0).stdout;
    assert!(bash.contains("complete -F") && bash.contains("rag"), "{bash}");
    assert!(
        bash.contains("--no-ignore") && bash.contains("ingest"),
        "bash completion lacks ingest's flags"
    );
    let fish = sandbox.rag(&["completions", "fish"]).expect_code(0).stdout;
    assert!(fish.contains("complete -c rag"), "{fish}");
    let zsh = sandbox.rag(&["completions", "zsh"]).expect_code(0).stdout;
    assert!(zsh.starts_with("#compdef rag"), "{zsh}");
    // An unknown shell is a usage error, not a script.
    let bad = sandbox.rag(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    let man = sandbox.rag(&["man"]).expect_code(0).stdout;
    assert!(man.contains(".TH rag"), "{man}");
    for word in ["ingest", "ask", "serve", "mcp", "completions"] {
        assert!(man.contains(word), "the man page does not mention {word}");
    }
}
