//! [`Conversation`]: follow-up questions over the same documents.
//!
//! Each turn is answered like [`Engine::ask`], with two differences. Retrieval runs on a *standalone* form of
//! the question: a follow-up that leans on the conversation ("and what about its pressure?": a pronoun, a
//! leading "and"/"what about", or almost no content words of its own) is searched together with the
//! standalone form of the turn before, so "its" finds the machine the first question named. And the prompt
//! shows the earlier exchanges (oldest dropped first when they would take more than a quarter of the context
//! window). Every turn's answer is cited and checked like `ask`'s.

use crate::answer::{check_citations, Answer};
use crate::engine::Engine;
use crate::error::Result;
use crate::generate::Flow;
use crate::prompt::Exchange;
use crate::searcher::SearchOptions;

/// One answered turn.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The question as asked.
    pub question: String,
    /// What retrieval searched for: the question, or with the previous turn's standalone question before it.
    pub standalone: String,
    /// The answer, with its passages, citations and attribution.
    pub answer: Answer,
}

/// A conversation with the engine: questions that may refer to earlier turns.
#[derive(Debug)]
pub struct Conversation<'e> {
    engine: &'e Engine,
    turns: Vec<Turn>,
}

impl<'e> Conversation<'e> {
    /// An empty conversation.
    pub fn new(engine: &'e Engine) -> Conversation<'e> {
        Conversation {
            engine,
            turns: Vec::new(),
        }
    }

    /// The turns so far.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// Forgets the history.
    pub fn clear(&mut self) {
        self.turns.clear();
    }

    /// Answers `question` in the context of the earlier turns, streaming like [`Engine::ask`].
    pub fn ask(
        &mut self,
        question: &str,
        options: &SearchOptions,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<&Turn> {
        let previous = self.turns.last().map(|t| t.standalone.as_str());
        let standalone = standalone(question, previous);
        let history: Vec<Exchange> = self
            .turns
            .iter()
            .map(|t| Exchange {
                question: t.question.clone(),
                answer: strip_citations(&t.answer.text),
            })
            .collect();
        let answer = self
            .engine
            .ask_in_conversation(question, &standalone, &history, options, on_text)?;
        self.turns.push(Turn {
            question: question.to_owned(),
            standalone,
            answer,
        });
        Ok(self.turns.last().expect("just pushed"))
    }
}

/// The question to retrieve for: `question` itself, unless it leans on the conversation, then the previous
/// standalone question followed by it.
pub fn standalone(question: &str, previous: Option<&str>) -> String {
    let question = question.trim();
    match previous {
        Some(previous) if is_follow_up(question) => format!("{} {question}", previous.trim()),
        _ => question.to_owned(),
    }
}

/// Whether `question` refers back: a pronoun or demonstrative, a leading "and"/"what about"/"how about", or
/// fewer than two content words.
fn is_follow_up(question: &str) -> bool {
    const REFERS: &[&str] = &[
        "it", "its", "it's", "they", "them", "their", "theirs", "this", "that", "these", "those", "he", "him", "his",
        "she", "her", "hers", "there", "same", "former", "latter", "one",
    ];
    const STOP: &[&str] = &[
        "what", "which", "who", "whom", "when", "where", "why", "how", "is", "are", "was", "were", "do", "does", "did",
        "the", "a", "an", "of", "and", "about", "to", "in", "on", "for", "much", "many", "often", "long", "can",
        "could", "should", "would", "will", "be",
    ];
    let words: Vec<String> = question
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let leading = words.first().is_some_and(|w| w == "and" || w == "also")
        || words.len() >= 2 && matches!((words[0].as_str(), words[1].as_str()), ("what" | "how", "about"));
    let refers = words.iter().any(|w| REFERS.contains(&w.as_str()));
    let content = words.iter().filter(|w| !STOP.contains(&w.as_str())).count();
    leading || refers || content < 2
}

/// The answer text without its `[n]` citations (they named that turn's passages, not the next one's).
fn strip_citations(text: &str) -> String {
    check_citations(text, 0).text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_are_searched_with_the_question_before() {
        let first = "How fast does the Beta turbine run?";
        assert_eq!(standalone(first, None), first);
        assert_eq!(
            standalone("And how much does it weigh?", Some(first)),
            "How fast does the Beta turbine run? And how much does it weigh?"
        );
        assert_eq!(
            standalone("What about the pressure?", Some(first)),
            "How fast does the Beta turbine run? What about the pressure?"
        );
        // A question that stands on its own is searched as it is.
        assert_eq!(
            standalone("What is the rated flow of the P-200 pump?", Some(first)),
            "What is the rated flow of the P-200 pump?"
        );
    }

    #[test]
    fn citations_of_earlier_answers_are_removed() {
        assert_eq!(strip_citations("It runs at 900 rpm [1, 2]."), "It runs at 900 rpm.");
    }
}
