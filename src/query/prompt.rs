//! [`Prompt`]: the numbered passages and the question, worded for grounded, cited answers.

use crate::retrieve::Passage;

/// A chat prompt: system instructions and one user turn. Generators render it with their chat template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The system message.
    pub system: String,
    /// The user message.
    pub user: String,
}

/// The instructions given to the model with every question.
pub const SYSTEM: &str = "You answer questions using only the numbered passages provided. \
Cite the passage that supports each statement with its number in brackets, like [1]. \
If the passages do not contain the answer, say that the documents do not contain the answer.";

/// One earlier question and its answer, shown to the model in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// What the user asked.
    pub question: String,
    /// What was answered (its citation numbers referred to that turn's passages, so they are removed).
    pub answer: String,
}

/// Builds the prompt for `question` over `passages` (numbered 1..n in the given order).
pub fn build(question: &str, passages: &[Passage]) -> Prompt {
    build_in_conversation(question, &[], passages)
}

/// Builds the prompt for `question` over `passages`, after the earlier exchanges of a conversation.
pub fn build_in_conversation(question: &str, history: &[Exchange], passages: &[Passage]) -> Prompt {
    let mut user = String::from("Passages:\n\n");
    for passage in passages {
        user.push_str(&header(passage));
        user.push('\n');
        user.push_str(passage.text.trim());
        user.push_str("\n\n");
    }
    if !history.is_empty() {
        user.push_str("Conversation so far:\n");
        for exchange in history {
            user.push_str("User: ");
            user.push_str(exchange.question.trim());
            user.push_str("\nAssistant: ");
            user.push_str(exchange.answer.trim());
            user.push('\n');
        }
        user.push('\n');
    }
    user.push_str("Question: ");
    user.push_str(question.trim());
    user.push_str("\nAnswer the question in one or two sentences, citing the passages you use like [1].");
    Prompt {
        system: SYSTEM.to_owned(),
        user,
    }
}

/// The line introducing a passage: its number and where it comes from.
pub(crate) fn header(passage: &Passage) -> String {
    format!("[{}] {}:", passage.n, passage.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieve::tests::passage;
    use expect_test::expect;

    #[test]
    fn prompt_numbers_passages() {
        let passages = vec![
            passage(1, "manuals/pump.pdf", Some((3, 3)), None, "Max pressure is 12 bar."),
            passage(2, "notes/ops.md", None, Some((12, 30)), "Check the seals weekly."),
        ];
        let prompt = build(" What is the max pressure? ", &passages);
        expect![[r#"
            Passages:

            [1] manuals/pump.pdf, page 3:
            Max pressure is 12 bar.

            [2] notes/ops.md, lines 12-30:
            Check the seals weekly.

            Question: What is the max pressure?
            Answer the question in one or two sentences, citing the passages you use like [1]."#]]
        .assert_eq(&prompt.user);
    }
}
