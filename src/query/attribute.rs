//! Per-sentence attribution: which passage supports each sentence of an answer.
//!
//! A sentence that carries a valid `[n]` is cited by the model, unless it states a figure that none of the passages
//! it cites states: then the model's citation is set aside (kept in [`Sentence::rejected`]) and the sentence is
//! treated as uncited. For an uncited sentence the engine looks for the passage that supports it: the share of
//! the sentence's content words (lower-cased, stop words removed, a plural `s` folded) that occur in the passage. A figure the passage does not state disqualifies that passage, so a
//! number no passage contains makes its sentence unsupported. The best passage at or above the threshold
//! (`retrieve.attribution_threshold`, measured in eval/RESULTS.md) is the engine's citation; below it the
//! sentence is marked unsupported.

use std::collections::HashSet;

use crate::answer::check_citations;
use crate::retrieve::Passage;

/// Who cited a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CitedBy {
    /// The model wrote a valid `[n]` in the sentence.
    Model,
    /// The engine found the supporting passage.
    Engine,
    /// No passage supports it well enough.
    Unsupported,
}

impl CitedBy {
    /// `model`, `engine` or `unsupported`.
    pub fn name(self) -> &'static str {
        match self {
            CitedBy::Model => "model",
            CitedBy::Engine => "engine",
            CitedBy::Unsupported => "unsupported",
        }
    }
}

/// One sentence of an answer and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    /// The sentence as it appears in the answer (with any citation the model wrote).
    pub text: String,
    /// The passages it is attributed to: the model's valid citations, or the engine's best passage.
    pub citations: Vec<u32>,
    /// Who cited it.
    pub cited_by: CitedBy,
    /// Support of the best passage in [0, 1] (share of content words found); 1 for model citations.
    pub score: f32,
    /// Passages the model cited that do not state a figure of the sentence (its citation was set aside).
    pub rejected: Vec<u32>,
    /// Figures of the sentence (numbers, normalised: `8,000` is `8000`) that no passage states.
    pub unstated: Vec<String>,
}

/// A passage's number, its words and its word pairs.
type PassageWords = (u32, HashSet<String>, HashSet<(String, String)>);

/// How well one passage supports one sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    /// The passage's number.
    pub n: u32,
    /// Share of the sentence's content words the passage holds; 0 when it lacks one of the sentence's figures.
    pub score: f32,
    /// Word pairs of the sentence the passage holds too.
    pub shared_pairs: usize,
}

/// Per sentence of `answer` (as [`attribute`] splits it), how well each passage supports it: what the engine's
/// choice is made from, for diagnostics (`rag eval qa` records it).
pub fn supports(answer: &str, passages: &[Passage]) -> Vec<(String, Vec<Support>)> {
    let evidence = Evidence::new(passages);
    sentences(answer)
        .into_iter()
        .map(|text| {
            let scores = evidence.supports(&evidence.claim(&text));
            (text, scores)
        })
        .collect()
}

/// The passages' words, and how a sentence of an answer becomes the claim compared with them.
struct Evidence {
    passages: Vec<PassageWords>,
    echoes: EchoedHeaders,
}

/// A sentence as a claim: its valid citations, its content words and word pairs (citation groups and echoed
/// passage headers left out).
struct Claim {
    valid: Vec<u32>,
    content: Vec<String>,
    pairs: HashSet<(String, String)>,
}

impl Evidence {
    fn new(passages: &[Passage]) -> Evidence {
        Evidence {
            passages: passages
                .iter()
                .map(|p| (p.n, words(&p.text), bigrams(&p.text)))
                .collect(),
            echoes: EchoedHeaders::new(passages),
        }
    }

    fn claim(&self, sentence: &str) -> Claim {
        // A passage header the model echoed (`docs/a.md, lines 1-13:`) is not a claim: its figures are not
        // checked, its words are not counted.
        let checked = check_citations(&self.echoes.strip(sentence), self.passages.len() as u32);
        let bare = without_citations(&checked.text);
        Claim {
            valid: checked.valid,
            content: content_words(&bare),
            pairs: bigrams(&bare),
        }
    }

    /// The support of each passage for `claim`.
    fn supports(&self, claim: &Claim) -> Vec<Support> {
        self.passages
            .iter()
            .map(|(n, known, known_pairs)| Support {
                n: *n,
                score: support(&claim.content, known),
                shared_pairs: claim.pairs.intersection(known_pairs).count(),
            })
            .collect()
    }
}

/// Splits `answer` into sentences and attributes each one to `passages`.
pub fn attribute(answer: &str, passages: &[Passage], threshold: f32) -> Vec<Sentence> {
    let evidence = Evidence::new(passages);
    let passage_words = &evidence.passages;
    sentences(answer)
        .into_iter()
        .map(|text| {
            let claim = evidence.claim(&text);
            let content = &claim.content;
            let figures: Vec<&String> = content.iter().filter(|w| is_figure(w)).collect();
            let unstated: Vec<String> = figures
                .iter()
                .filter(|f| !passage_words.iter().any(|(_, known, _)| known.contains(**f)))
                .map(|f| (*f).clone())
                .collect();
            let mut rejected = Vec::new();
            if !claim.valid.is_empty() {
                let cited_state_all = figures.iter().all(|f| {
                    passage_words
                        .iter()
                        .any(|(n, known, _)| claim.valid.contains(n) && known.contains(*f))
                });
                if cited_state_all {
                    return Sentence {
                        text,
                        citations: claim.valid,
                        cited_by: CitedBy::Model,
                        score: 1.0,
                        rejected,
                        unstated,
                    };
                }
                rejected = claim.valid.clone();
            }
            // The best support; among passages within 0.05 of it, the one sharing the most word pairs (the
            // passage a copied phrase came from), then the earliest.
            let scored = evidence.supports(&claim);
            let top = scored.iter().map(|s| s.score).fold(f32::NEG_INFINITY, f32::max);
            let best = scored
                .iter()
                .filter(|s| s.score >= top - 0.05)
                .fold(None::<&Support>, |best, s| match best {
                    Some(b) if b.shared_pairs >= s.shared_pairs => Some(b),
                    _ => Some(s),
                })
                .map(|s| (s.n, s.score));
            match best {
                Some((n, score)) if score >= threshold && !content.is_empty() => Sentence {
                    text,
                    citations: vec![n],
                    cited_by: CitedBy::Engine,
                    score,
                    rejected,
                    unstated,
                },
                other => Sentence {
                    text,
                    citations: Vec::new(),
                    cited_by: CitedBy::Unsupported,
                    score: other.map_or(0.0, |(_, s)| s),
                    rejected,
                    unstated,
                },
            }
        })
        .collect()
}

/// `text` without its citation groups (`[1]`, `[2, 3]`, `[4-6]`), whose numbers are not figures of the claim.
fn without_citations(text: &str) -> String {
    static GROUP: std::sync::LazyLock<Option<regex::Regex>> =
        // A closed group, or one the answer ended before closing (`... [2`).
        std::sync::LazyLock::new(|| regex::Regex::new(r"\[\s*\d+(\s*[-–,]\s*\d+)*\s*(\]|$)").ok());
    match &*GROUP {
        Some(group) => group.replace_all(text, " ").into_owned(),
        None => text.to_owned(),
    }
}

/// The figures of `text` (numbers as attribution compares them: `8,000` is `8000`), citation groups left out.
pub fn figures(text: &str) -> HashSet<String> {
    content_words(&without_citations(text))
        .into_iter()
        .filter(|w| is_figure(w))
        .collect()
}

/// Whether a word is a figure (holds a digit).
fn is_figure(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit())
}

/// Passage headers the model may have copied from the prompt, exactly or altered: a passage's path, or any
/// file name with a document extension, with the `, line 3` / `, lines 1-13` / `, pages 2-3` place after it and
/// a closing `:`. Built once per answer.
struct EchoedHeaders {
    paths: Vec<regex::Regex>,
}

/// The place after a path in a header, and its closing `:`.
const PLACE: &str = r"(,\s*(lines?|pages?|rows?|slides?|cells?|messages?|chapters?)\s*\d+(\s*[-–]\s*\d+)?)?\s*:?";

impl EchoedHeaders {
    fn new(passages: &[Passage]) -> EchoedHeaders {
        let mut paths: Vec<String> = passages
            .iter()
            .map(|p| crate::retrieve::display_path(&p.source))
            .filter(|p| !p.is_empty())
            .collect();
        paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        paths.dedup();
        let paths = paths
            .iter()
            .filter_map(|path| regex::Regex::new(&format!("{}{PLACE}", regex::escape(path))).ok())
            .collect();
        EchoedHeaders { paths }
    }

    /// `sentence` without the headers.
    fn strip(&self, sentence: &str) -> String {
        static FILE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
            let file = r"(?i)[^\s(\[]*\.(txt|md|markdown|mdx|pdf|html?|xhtml|rst|adoc|org|tex|csv|tsv|jsonl?|xml|ya?ml|toml|docx?|pptx?|xls[xmb]?|od[tps]|rtf|epub|eml|mbox|msg|ndjson|ipynb|rs|py|js|ts|go|java|c|h|cc|cpp|hpp|rb|sh)\b";
            regex::Regex::new(&format!("{file}{PLACE}")).ok()
        });
        // The place alone, as a header writes it (`lines 1-10:`).
        static PLACE_ALONE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
            regex::Regex::new(
                r"(?i)\b(lines?|pages?|rows?|slides?|cells?|messages?|chapters?)\s*\d+(\s*[-–]\s*\d+)?\s*:",
            )
            .ok()
        });
        let mut out = sentence.to_owned();
        for path in &self.paths {
            out = path.replace_all(&out, " ").into_owned();
        }
        for re in [&*FILE, &*PLACE_ALONE].into_iter().flatten() {
            out = re.replace_all(&out, " ").into_owned();
        }
        out
    }
}

/// `sentence` without the passage headers the model may have copied (see [`EchoedHeaders`]).
#[cfg(test)]
fn strip_echoed_headers(sentence: &str, passages: &[Passage]) -> String {
    EchoedHeaders::new(passages).strip(sentence)
}

/// The share of `question`'s content words (stop words removed, plurals folded) that occur in `text`: the
/// lexical evidence that `text` is about what is asked. 0 for a question without content words.
pub fn coverage(question: &str, text: &str) -> f32 {
    let content = content_words(question);
    if content.is_empty() {
        return 0.0;
    }
    let known = words(text);
    content.iter().filter(|w| known.contains(*w)).count() as f32 / content.len() as f32
}

/// The share of `content` words found in `known`; 0 when a figure of the sentence is not in `known`.
fn support(content: &[String], known: &HashSet<String>) -> f32 {
    if content.is_empty() {
        return 0.0;
    }
    let figures_missing = content.iter().any(|w| is_figure(w) && !known.contains(w));
    if figures_missing {
        return 0.0;
    }
    content.iter().filter(|w| known.contains(*w)).count() as f32 / content.len() as f32
}

/// Sentences of `text`: ends at `.`, `!` or `?` followed by whitespace (a citation group after the stop stays
/// with its sentence), or at a blank line. Empty pieces are dropped.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        let next = chars.get(i + 1).copied();
        let ends =
            matches!(c, '.' | '!' | '?') && next.is_none_or(char::is_whitespace) || c == '\n' && next == Some('\n');
        if ends {
            // Keep a following ` [n]` with the sentence it closes.
            let mut j = i + 1;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if chars.get(j) == Some(&'[') {
                if let Some(close) = chars[j..].iter().position(|&c| c == ']') {
                    current.extend(&chars[i + 1..=j + close]);
                    i = j + close;
                }
            }
            push_sentence(&mut out, &mut current);
        }
        i += 1;
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let sentence = current.trim();
    if sentence.chars().any(char::is_alphanumeric) {
        out.push(sentence.to_owned());
    }
    current.clear();
}

/// Consecutive word pairs of `text` (lower-cased, folded).
fn bigrams(text: &str) -> HashSet<(String, String)> {
    let words: Vec<String> = tokens(text).collect();
    words.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect()
}

/// Lower-cased words of `text` with a plural `s` folded, as a set.
fn words(text: &str) -> HashSet<String> {
    tokens(text).collect()
}

/// The words of `text` that carry content: not stop words, not one letter.
fn content_words(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    tokens(text)
        .filter(|w| (w.len() > 1 || w.chars().all(|c| c.is_ascii_digit())) && !STOP.contains(&w.as_str()))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == ','))
        .flat_map(|w| {
            // A decimal or thousands separator inside a number stays ("12.5", "8,000"); elsewhere it splits.
            let keep = w.trim_matches(|c| c == '.' || c == ',');
            if keep.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
                vec![keep.replace(',', "")]
            } else {
                keep.split(['.', ',']).map(str::to_owned).collect()
            }
        })
        .filter(|w| !w.is_empty())
        .map(|w| fold(&w.to_lowercase()))
}

/// Folds a plural `s` (not `ss`, not short words).
fn fold(word: &str) -> String {
    match word.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// English stop words, and words every answer uses about its sources.
const STOP: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "doe",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "ha",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "hi",
    "his",
    "how",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thi",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "wa",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "passage",
    "document",
    "according",
    "answer",
    "question",
    "based",
    "provided",
    "mentioned",
    "stated",
    "state",
    "text",
    "context",
    "information",
    "yes",
    "many",
    "much",
    "often",
    "long",
    "whose",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieve::tests::passage;

    fn passages() -> Vec<Passage> {
        vec![
            passage(
                1,
                "pump.pdf",
                Some((3, 3)),
                None,
                "The maximum operating pressure is 12 bar (174 psi).",
            ),
            passage(
                2,
                "ops.md",
                None,
                Some((1, 9)),
                "Replace the mechanical seal every 8,000 operating hours.",
            ),
        ]
    }

    #[test]
    fn sentences_keep_their_citations_and_decimals() {
        assert_eq!(
            sentences("It is 12.5 bar. [1] Seals last 8,000 hours! Really?\n\nDone"),
            vec!["It is 12.5 bar. [1]", "Seals last 8,000 hours!", "Really?", "Done"]
        );
        assert!(sentences("  \n ").is_empty());
    }

    #[test]
    fn model_citations_engine_citations_and_unsupported_sentences() {
        let answer = "The pump's maximum pressure is 12 bar [1]. \
                      The mechanical seal is replaced every 8000 operating hours. \
                      The pump delivers 40 cubic metres per hour.";
        let attributed = attribute(answer, &passages(), 0.5);
        assert_eq!(attributed.len(), 3, "{attributed:#?}");
        assert_eq!(attributed[0].cited_by, CitedBy::Model);
        assert_eq!(attributed[0].citations, vec![1]);
        assert_eq!(attributed[1].cited_by, CitedBy::Engine, "{attributed:#?}");
        assert_eq!(attributed[1].citations, vec![2]);
        assert!(attributed[1].score >= 0.8, "{attributed:#?}");
        // A figure no passage states: unsupported, whatever words it shares.
        assert_eq!(attributed[2].cited_by, CitedBy::Unsupported, "{attributed:#?}");
        assert!(attributed[2].citations.is_empty());
    }

    #[test]
    fn coverage_counts_the_question_words_a_text_holds() {
        let text = "Replace the mechanical seal every 8,000 operating hours.";
        // "How often" asks; it is not content.
        assert_eq!(coverage("How often is the mechanical seal replaced?", text), 2.0 / 3.0);
        assert_eq!(coverage("mechanical seals operating hours", text), 1.0);
        assert_eq!(coverage("What is it?", text), 0.0);
    }

    #[test]
    fn a_model_citation_of_a_passage_that_does_not_state_the_figure_is_set_aside() {
        // The model cites [1] for a figure only passage 2 states: the engine attributes it to passage 2.
        let attributed = attribute(
            "The seal is replaced every 8,000 operating hours [1].",
            &passages(),
            0.5,
        );
        assert_eq!(attributed[0].cited_by, CitedBy::Engine, "{attributed:#?}");
        assert_eq!(attributed[0].citations, vec![2]);
        assert_eq!(attributed[0].rejected, vec![1]);
        assert!(attributed[0].unstated.is_empty());
        // A figure no passage states, cited as if grounded: unsupported, and the figure is named.
        let attributed = attribute("The pump's revenue in 2023 was 140,000 euros [1].", &passages(), 0.5);
        assert_eq!(attributed[0].cited_by, CitedBy::Unsupported, "{attributed:#?}");
        assert_eq!(attributed[0].rejected, vec![1]);
        assert_eq!(attributed[0].unstated, vec!["2023".to_owned(), "140000".to_owned()]);
        // A cited figure the passage states stays the model's citation.
        let attributed = attribute("The maximum pressure is 12 bar [1].", &passages(), 0.5);
        assert_eq!(attributed[0].cited_by, CitedBy::Model, "{attributed:#?}");
        assert!(attributed[0].rejected.is_empty() && attributed[0].unstated.is_empty());
    }

    #[test]
    fn citation_numbers_are_not_figures_even_when_left_open() {
        assert_eq!(
            figures("It runs at 12 bar [1]. See [2, 3] and [4-6]"),
            HashSet::from(["12".to_owned()])
        );
        assert!(figures("The pump [1] [1] [1] [1").is_empty());
        let attributed = attribute("Civil disobedience\n[2", &passages(), 0.5);
        assert!(attributed.iter().all(|s| s.unstated.is_empty()), "{attributed:#?}");
    }

    #[test]
    fn an_echoed_passage_header_is_not_a_claim() {
        let answer = "[2] ops.md, lines 1-9: Replace the seal every 8,000 operating hours.";
        let attributed = attribute(answer, &passages(), 0.5);
        assert_eq!(attributed[0].cited_by, CitedBy::Model, "{attributed:#?}");
        assert!(attributed[0].unstated.is_empty(), "{attributed:#?}");
        assert_eq!(
            strip_echoed_headers("see pump.pdf, page 3: 12 bar", &passages()),
            "see   12 bar"
        );
        // Altered echoes: another file's name, a line the passage does not have.
        let answer = "[1] /tmp/docs/Warsaw_3.txt, line 3: The pump runs at 12 bar.";
        assert_eq!(
            strip_echoed_headers(answer, &passages()),
            "[1]   The pump runs at 12 bar."
        );
        let attributed = attribute(answer, &passages(), 0.5);
        assert_eq!(attributed[0].cited_by, CitedBy::Model, "{attributed:#?}");
        assert!(attributed[0].unstated.is_empty(), "{attributed:#?}");
        let attributed = attribute(
            "[2] lines 1-10: Replace the seal every 8,000 operating hours.",
            &passages(),
            0.5,
        );
        assert!(attributed[0].unstated.is_empty(), "{attributed:#?}");
        // Decimals and abbreviations are not file names.
        assert_eq!(
            strip_echoed_headers("It is 12.5 bar in the U.S.", &passages()),
            "It is 12.5 bar in the U.S."
        );
    }

    #[test]
    fn an_invented_figure_is_never_attributed() {
        let attributed = attribute("The maximum operating pressure is 16 bar.", &passages(), 0.1);
        assert_eq!(attributed[0].cited_by, CitedBy::Unsupported, "{attributed:#?}");
        let attributed = attribute("The maximum operating pressure is 12 bar.", &passages(), 0.5);
        assert_eq!(attributed[0].cited_by, CitedBy::Engine, "{attributed:#?}");
        assert_eq!(attributed[0].citations, vec![1]);
    }
}
