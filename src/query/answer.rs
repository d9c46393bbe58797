//! [`Answer`]: generated text with checked citations, and the citation parser behind it.
//!
//! Citations are `[n]` groups (`[1]`, `[1, 3]`, `[2-4]`). A number that names no passage is removed from the
//! text and reported. The sources of an answer are exactly the passages it cites, or, when it cites none, the
//! passages it was given. [`CitationStream`] applies the same check to streamed text, so what the user sees
//! while the answer is generated is already clean.

use std::time::Duration;

use crate::retrieve::Passage;

/// The answer to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer text, invalid citations removed.
    pub text: String,
    /// The sources: cited passages in order of first citation, or all passages given if none was cited.
    pub sources: Vec<Passage>,
    /// True when the answer cited at least one valid passage.
    pub cited: bool,
    /// Citation numbers the model produced that name no passage (removed from the text).
    pub invalid_citations: Vec<u32>,
    /// All passages given to the model.
    pub passages: Vec<Passage>,
    /// Set when the engine answered without the model because retrieval found nothing relevant, or (with
    /// `retrieve.refuse_unsupported`) when no sentence of the model's answer is supported by the passages.
    pub refusal: Option<Refusal>,
    /// Each sentence of the answer with the passage it is attributed to, by the model or by the engine, or
    /// marked unsupported (empty for a refusal).
    pub sentences: Vec<crate::attribute::Sentence>,
    /// The answerability check's probability that the passages state the answer (`None` when it did not run).
    pub answerable: Option<f32>,
    /// Where the time went.
    pub timings: Timings,
}

/// Why the engine refused to answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Nothing was retrieved at all.
    NothingRetrieved,
    /// The best passage was less similar to the question than the configured threshold.
    NotRelevant {
        /// The best cosine similarity found.
        best_similarity: f32,
        /// The threshold.
        threshold: f32,
    },
    /// No sentence of the retrieved chunks says what is asked: none is as similar to the question as
    /// `retrieve.sentence_similarity` and no two adjacent ones hold `retrieve.sentence_coverage` of its content
    /// words (see [`crate::evidence`]).
    NoAnsweringSentence {
        /// The best question-sentence cosine similarity found.
        similarity: f32,
        /// The largest share of the question's content words two adjacent sentences hold.
        coverage: f32,
    },
    /// The model answered, but no sentence of its answer is supported by the passages (the text is kept).
    Unsupported,
    /// The model's answer states figures that neither the passages nor the question state: invented numbers
    /// (the text is kept, and flagged).
    UnstatedFigures,
    /// The model itself said that the passages do not answer the question (its text is kept).
    Declined,
    /// The answerability check: the model judged that the passages do not state the answer.
    NotAnswerable {
        /// The model's probability that they do.
        probability: f32,
        /// The threshold under which the engine refuses.
        threshold: f32,
    },
}

impl Refusal {
    /// A short name for reports: `nothing_retrieved`, `not_relevant`, `no_answering_sentence`, `unsupported`,
    /// `unstated_figures`, `not_answerable`, `declined`.
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::NothingRetrieved => "nothing_retrieved",
            Refusal::NotRelevant { .. } => "not_relevant",
            Refusal::NoAnsweringSentence { .. } => "no_answering_sentence",
            Refusal::Unsupported => "unsupported",
            Refusal::UnstatedFigures => "unstated_figures",
            Refusal::NotAnswerable { .. } => "not_answerable",
            Refusal::Declined => "declined",
        }
    }

    /// Whether the generator ran (the answer text is the model's, not [`REFUSAL_TEXT`]).
    pub fn generated(&self) -> bool {
        matches!(
            self,
            Refusal::Unsupported | Refusal::UnstatedFigures | Refusal::Declined
        )
    }
}

/// Whether `answer` opens by declining: its first sentence says that the documents (passages, context, text)
/// do not give the answer ("The documents do not say.", "The passages do not mention his age.").
pub fn declines(answer: &str) -> bool {
    static DECLINES: std::sync::LazyLock<Vec<regex::Regex>> = std::sync::LazyLock::new(|| {
        [
            // "The documents do not say", "the provided passages don't mention ..."
            concat!(
                r"(?i)\b(documents?|passages?|context|text|sources?)\b[^.]{0,40}?\b(do|does|did)\s*(not|n't)\s+",
                r"(contain|say|state|mention|provide|specify|give|include|answer|have|offer|discuss|indicate)"
            ),
            // "There is no information in the passages about ..."
            r"(?i)\bno\s+(information|mention|answer|data|details?)\b[^.]{0,60}?\b(documents?|passages?|context)\b",
            // "The answer is not stated in the documents"
            concat!(
                r"(?i)\bnot\s+(mentioned|stated|provided|specified|given|included|found|contained)\s+in\s+",
                r"(the|any)\s+(provided\s+|given\s+)?(documents?|passages?|context|text|sources?)"
            ),
        ]
        .iter()
        .filter_map(|re| regex::Regex::new(re).ok())
        .collect()
    });
    let first = crate::attribute::sentences(answer)
        .into_iter()
        .next()
        .unwrap_or_default();
    DECLINES.iter().any(|re| re.is_match(&first))
}

/// The text of a refusal.
pub const REFUSAL_TEXT: &str = "The documents do not contain an answer to this question.";

/// Time spent per stage of `ask`, and token counts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timings {
    /// Opening the index.
    pub open: Duration,
    /// Embedding the question.
    pub embed: Duration,
    /// Searching the index.
    pub search: Duration,
    /// Loading the generator (first use in this process only).
    pub load: Duration,
    /// Merging and packing passages, building the prompt.
    pub pack: Duration,
    /// The answerability check (its prompt pass).
    pub check: Duration,
    /// Prompt processing, up to the first generated token.
    pub prefill: Duration,
    /// Generating the rest of the tokens.
    pub decode: Duration,
    /// From the start of `ask` to the first generated text (what a user waits before the answer starts).
    pub first_token: Duration,
    /// Everything.
    pub total: Duration,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
}

impl Timings {
    /// Prompt tokens processed per second.
    pub fn prefill_tokens_per_s(&self) -> f64 {
        rate(self.prompt_tokens, self.prefill)
    }

    /// Generated tokens per second after the first.
    pub fn decode_tokens_per_s(&self) -> f64 {
        rate(self.generated_tokens.saturating_sub(1), self.decode)
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// The result of checking the citations of a text against `n_passages` passages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCitations {
    /// The text with invalid citation numbers removed.
    pub text: String,
    /// Valid passage numbers in order of first citation, without repeats.
    pub valid: Vec<u32>,
    /// Invalid numbers in order of appearance, without repeats.
    pub invalid: Vec<u32>,
}

/// Checks every citation group of `text` against passages `1..=n_passages`.
pub fn check_citations(text: &str, n_passages: u32) -> CheckedCitations {
    let mut out = CheckedCitations {
        text: String::with_capacity(text.len()),
        valid: Vec::new(),
        invalid: Vec::new(),
    };
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find(']')
            .and_then(|close| parse_group(&after[..close]).map(|nums| (close, nums)))
        {
            Some((close, numbers)) => {
                let kept: Vec<u32> = numbers.into_iter().filter(|&n| n >= 1 && n <= n_passages).collect();
                for n in parse_group(&after[..close]).unwrap_or_default() {
                    let list = if n >= 1 && n <= n_passages {
                        &mut out.valid
                    } else {
                        &mut out.invalid
                    };
                    if !list.contains(&n) {
                        list.push(n);
                    }
                }
                if kept.is_empty() {
                    // Drop the whole group, and the space before it.
                    while out.text.ends_with(' ') {
                        out.text.pop();
                    }
                } else {
                    let list: Vec<String> = kept.iter().map(u32::to_string).collect();
                    out.text.push('[');
                    out.text.push_str(&list.join(", "));
                    out.text.push(']');
                }
                rest = &after[close + 1..];
            }
            None => {
                out.text.push('[');
                rest = after;
            }
        }
    }
    out.text.push_str(rest);
    out
}

/// Parses the inside of a bracket group as citation numbers: `1`, `1, 2`, `2-4`. `None` if it is not one.
fn parse_group(inner: &str) -> Option<Vec<u32>> {
    let inner = inner.trim();
    if inner.is_empty() || inner.len() > 32 {
        return None;
    }
    let mut numbers = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        let part = part
            .strip_prefix("Passage ")
            .or_else(|| part.strip_prefix("passage "))
            .unwrap_or(part);
        if let Some((a, b)) = part.split_once(['-', '–']) {
            let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            if b < a || b - a > 20 {
                return None;
            }
            numbers.extend(a..=b);
        } else {
            numbers.push(part.parse().ok()?);
        }
    }
    Some(numbers)
}

/// Filters streamed text so that invalid citations never reach the reader, and so that the concatenation of
/// everything it returns is exactly the final answer text, [`CitationStream::final_text`]: the raw text with
/// its citations checked, trimmed.
///
/// It holds back only what later text could still change: from the first `[` that may yet close into a
/// citation group, and trailing whitespace (a dropped citation takes the spaces before it, and the final text
/// is trimmed). Everything before that is settled, whatever follows.
#[derive(Debug)]
pub struct CitationStream {
    n_passages: u32,
    rules: OutputRules,
    raw: String,
    shown: usize,
}

impl CitationStream {
    /// A filter for answers over `n_passages` passages, with no link allowed.
    pub fn new(n_passages: u32) -> CitationStream {
        Self::with_rules(n_passages, OutputRules::default())
    }

    /// A filter for answers over `n_passages` passages under `rules`.
    pub fn with_rules(n_passages: u32, rules: OutputRules) -> CitationStream {
        CitationStream {
            n_passages,
            rules,
            raw: String::new(),
            shown: 0,
        }
    }

    /// Takes the next piece of generated text and returns what can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        self.raw.push_str(piece);
        let settled = settled_len(&self.raw);
        let checked = check_citations(&self.raw[..settled], self.n_passages);
        // The output rules settle in turn: up to the first image or tag that later text could still close.
        let (_, hold) = self.rules.apply(&checked.text, false);
        let upto = hold.unwrap_or(checked.text.len());
        // The prefix before the hold ends where every image, tag and link in it is complete.
        let clean = self.rules.apply(checked.text[..upto].trim_end(), true).0;
        self.emit(clean.trim())
    }

    /// Returns the rest of the final text at the end of the stream.
    pub fn finish(&mut self) -> String {
        let text = self.final_text();
        self.emit(&text)
    }

    /// The whole answer: every piece pushed, citations checked, trimmed. Equal to everything returned by
    /// `push` and `finish` together.
    pub fn final_text(&self) -> String {
        self.checked().text
    }

    /// The citations of the whole answer, and its final text (citations checked, markup rules applied,
    /// trimmed).
    pub fn checked(&self) -> CheckedCitations {
        let mut checked = check_citations(&self.raw, self.n_passages);
        checked.text = self.rules.apply(&checked.text, true).0.trim().to_owned();
        checked
    }

    fn emit(&mut self, text: &str) -> String {
        // `text` always extends what was shown (see `settled_len`); `get` keeps a broken promise from panicking.
        let out = text.get(self.shown..).unwrap_or_default().to_owned();
        self.shown = self.shown.max(text.len());
        out
    }
}

/// What replaces a link that no passage contains.
pub const LINK_REMOVED: &str = "(link removed)";

/// Output rules in code, not in the prompt: an answer never carries a markdown image (`![alt](url)`, which a
/// renderer would fetch, carrying data out) or an HTML tag, and carries an `http(s)://` link only when a passage
/// its sentence cites contains it, or any passage given to the model when the sentence cites none (a link the
/// model composed, for example with data from the conversation in its query string, becomes [`LINK_REMOVED`]).
/// A markdown link `[text](url)` becomes plain text, `text (url)`, its URL under the same rule. A passage header the model copied from the prompt
/// (`docs/a.md, lines 1-13 (Title > Section):`) is not part of the answer either: it is removed, the citation
/// before it stays.
#[derive(Debug, Clone, Default)]
pub struct OutputRules {
    /// The texts links must come from (the passages' texts).
    sources: Vec<String>,
    /// The paths the prompt's passage headers show, longest first.
    paths: Vec<String>,
}

impl OutputRules {
    /// Rules that allow the links the given texts contain: the passages' texts, in passage order (the first is
    /// passage 1).
    pub fn allowing_links_in(sources: Vec<String>) -> OutputRules {
        OutputRules {
            sources,
            paths: Vec::new(),
        }
    }

    /// The same rules, removing copied passage headers that start with one of `paths` (as the prompt shows
    /// them).
    pub fn removing_headers_of(mut self, paths: impl IntoIterator<Item = String>) -> OutputRules {
        self.paths = paths.into_iter().filter(|p| !p.trim().is_empty()).collect();
        self.paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        self.paths.dedup();
        self
    }

    /// A copied header at the start of `rest`: one of the paths, then its place and context as a header writes
    /// them, then `:`.
    fn header_len(&self, rest: &str, at_end: bool) -> Markup {
        let mut unfinished = false;
        for path in &self.paths {
            if let Some(tail) = rest.strip_prefix(path.as_str()) {
                match header_tail(tail) {
                    Some(Ok(len)) => return Markup::Complete(path.len() + len),
                    Some(Err(())) => {}
                    None => unfinished |= !at_end,
                }
            } else if rest.len() < path.len() && path.starts_with(rest) {
                unfinished |= !at_end;
            }
        }
        if unfinished {
            Markup::Unfinished
        } else {
            Markup::Not
        }
    }

    /// The text with the rules applied, and where the first image, tag or link starts that the text so far
    /// leaves unfinished (later text could still complete it). With `at_end`, the text is all there is: a link
    /// reaching its end is complete, and an unfinished image or tag stays as it is, plain text.
    pub fn apply(&self, text: &str, at_end: bool) -> (String, Option<usize>) {
        let mut out = String::with_capacity(text.len());
        let mut hold = None;
        // A link decided by the citations of its sentence: where it starts and where its sentence ends. Text
        // held inside that sentence holds the link too (a shorter text would decide it otherwise).
        let mut decided: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let after_word = text[..i].chars().next_back().is_some_and(char::is_alphanumeric);
            let found = if rest.starts_with("![") {
                image_len(rest)
            } else if rest == "!" {
                // The text so far may stop between the `!` and the `[` of an image.
                Markup::Unfinished
            } else if rest.starts_with('<') {
                tag_len(rest)
            } else if rest.starts_with('[') {
                match markdown_link(rest) {
                    Ok(Some((len, label, target))) => match self.sentence_citations(text, i, i + len, at_end) {
                        Some((cited, span_end)) => {
                            out.push_str(&self.apply(label, true).0);
                            let shown =
                                if starts_link(target) && link_len(target, true) == Markup::Complete(target.len()) {
                                    if self.allows(target, &cited) {
                                        format!(" ({target})")
                                    } else {
                                        format!(" {LINK_REMOVED}")
                                    }
                                } else {
                                    format!(" ({})", self.apply(target, true).0)
                                };
                            out.push_str(&shown);
                            decided = Some(lock(decided, i, span_end));
                            i += len;
                            continue;
                        }
                        None => Markup::Unfinished,
                    },
                    Ok(None) => Markup::Not,
                    Err(()) => Markup::Unfinished,
                }
            } else if !after_path_char(&text[..i]) && self.paths.iter().any(|p| starts_alike(rest, p)) {
                self.header_len(rest, at_end)
            } else if !after_word && starts_link(rest) {
                match link_len(rest, at_end) {
                    Markup::Complete(len) => match self.sentence_citations(text, i, i + len, at_end) {
                        Some((cited, span_end)) => {
                            let url = &rest[..len];
                            out.push_str(if self.allows(url, &cited) { url } else { LINK_REMOVED });
                            decided = Some(lock(decided, i, span_end));
                            i += len;
                            continue;
                        }
                        None => Markup::Unfinished,
                    },
                    other => other,
                }
            } else {
                Markup::Not
            };
            match found {
                Markup::Complete(len) => {
                    i += len;
                    continue;
                }
                Markup::Unfinished if hold.is_none() => {
                    hold = Some(match decided {
                        Some((start, span_end)) if i < span_end => start,
                        _ => i,
                    });
                }
                Markup::Unfinished | Markup::Not => {}
            }
            // Copy one character.
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
        (out, hold)
    }

    /// Whether `url` may be shown in a sentence citing `cited`: a cited passage contains it, or, in a sentence
    /// that cites none, any passage.
    fn allows(&self, url: &str, cited: &[u32]) -> bool {
        let source = |n: &u32| self.sources.get((*n as usize).wrapping_sub(1));
        if cited.iter().any(|n| source(n).is_some()) {
            cited.iter().filter_map(source).any(|s| s.contains(url))
        } else {
            self.sources.iter().any(|s| s.contains(url))
        }
    }

    /// The citations of the sentence holding `text[start..end]`, and where that sentence ends (with a citation
    /// group right after its stop). `None` while the sentence may go on.
    fn sentence_citations(&self, text: &str, start: usize, end: usize, at_end: bool) -> Option<(Vec<u32>, usize)> {
        let from = sentence_start(&text[..start]);
        let to = end + sentence_end(&text[end..], at_end)?;
        let mut cited = Vec::new();
        let mut rest = &text[from..to];
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            match after
                .find(']')
                .and_then(|close| parse_group(&after[..close]).map(|n| (close, n)))
            {
                Some((close, numbers)) => {
                    cited.extend(numbers);
                    rest = &after[close + 1..];
                }
                None => rest = after,
            }
        }
        Some((cited, to))
    }
}

/// The earlier of a decided link's lock and a new one (`start`, its sentence ending at `span_end`).
fn lock(decided: Option<(usize, usize)>, start: usize, span_end: usize) -> (usize, usize) {
    match decided {
        Some((first, end)) if end > start => (first, end.max(span_end)),
        _ => (start, span_end),
    }
}

/// Where the sentence that `before` ends in starts: after the last `.`, `!` or `?` followed by whitespace, or
/// the last line break.
fn sentence_start(before: &str) -> usize {
    let b = before.as_bytes();
    (0..b.len())
        .rev()
        .find(|&j| b[j] == b'\n' || (b".!?".contains(&b[j]) && b.get(j + 1).is_some_and(u8::is_ascii_whitespace)))
        .map_or(0, |j| j + 1)
}

/// The length of the rest of a sentence in `after`: up to a line break, or past a `.`, `!` or `?` followed by
/// whitespace and the citation group that may follow it. `None` while `after` ends before that is known.
fn sentence_end(after: &str, at_end: bool) -> Option<usize> {
    let b = after.as_bytes();
    for j in 0..b.len() {
        if b[j] == b'\n' {
            return Some(j);
        }
        if !b".!?".contains(&b[j]) {
            continue;
        }
        match b.get(j + 1) {
            None => return at_end.then_some(b.len()),
            Some(c) if !c.is_ascii_whitespace() => continue,
            Some(_) => {}
        }
        // A citation group after the stop belongs to the sentence.
        let next = after[j + 1..].trim_start_matches([' ', '\t']);
        let at = b.len() - next.len();
        if next.is_empty() {
            return at_end.then_some(j + 1);
        }
        if let Some(inner) = next.strip_prefix('[') {
            match inner.find(']') {
                Some(close) if parse_group(&inner[..close]).is_some() => return Some(at + 1 + close + 1),
                Some(_) => {}
                None if !at_end && may_become_group(inner) => return None,
                None => {}
            }
        }
        return Some(j + 1);
    }
    at_end.then_some(b.len())
}

/// `[label](target)` that is not a citation group: `Ok(Some((len, label, target)))`; `Ok(None)`: not one,
/// whatever follows; `Err(())`: not known yet.
fn markdown_link(rest: &str) -> Result<Option<(usize, &str, &str)>, ()> {
    let after = &rest[1..];
    let Some(close) = after.find([']', '\n']) else {
        // A label runs at most a line; a long one without its `]` is not a link.
        return if after.len() < 200 { Err(()) } else { Ok(None) };
    };
    let label = &after[..close];
    if after.as_bytes()[close] == b'\n' || label.is_empty() || parse_group(label).is_some() {
        return Ok(None);
    }
    let tail = &after[close + 1..];
    match tail.chars().next() {
        None => return Err(()),
        Some('(') => {}
        Some(_) => return Ok(None),
    }
    let target = &tail[1..];
    match target.find([')', '\n']) {
        None => Err(()),
        Some(j) if target.as_bytes()[j] == b')' => Ok(Some((1 + close + 1 + 1 + j + 1, label, &target[..j]))),
        Some(_) => Ok(None),
    }
}

/// Whether `before` ends in a character that continues a path (so a header cannot start after it).
fn after_path_char(before: &str) -> bool {
    before
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || "/\\._-".contains(c))
}

/// Whether `rest` starts with `path`, or is a prefix of it.
fn starts_alike(rest: &str, path: &str) -> bool {
    rest.starts_with(path) || (rest.len() < path.len() && path.starts_with(rest))
}

/// What follows a path in a passage header: `, lines 1-13`, `, page 3`, `, section "Setup"` (optional), then
/// ` (Title > Section)` (optional), then `:` and the spaces after it. `Some(Ok(len))`: a header tail of `len`
/// bytes; `Some(Err(()))`: not one, whatever follows; `None`: `tail` ends before that is known.
fn header_tail(tail: &str) -> Option<Result<usize, ()>> {
    let b = tail.as_bytes();
    let mut i = 0;
    let blanks = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    if b.first() == Some(&b',') {
        i += 1;
        blanks(&mut i);
        let start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i == b.len() {
            let word = tail[start..].to_ascii_lowercase();
            let could = ["line", "lines", "page", "pages", "section"]
                .iter()
                .any(|w| w.starts_with(&word));
            return if could { None } else { Some(Err(())) };
        }
        let word = tail[start..i].to_ascii_lowercase();
        blanks(&mut i);
        match word.as_str() {
            "section" => {
                if i == b.len() {
                    return None;
                }
                if b[i] != b'"' {
                    return Some(Err(()));
                }
                match tail[i + 1..].find(['"', '\n']) {
                    None => return None,
                    Some(j) if b[i + 1 + j] == b'"' => i += j + 2,
                    Some(_) => return Some(Err(())),
                }
            }
            "line" | "lines" | "page" | "pages" => {
                let digits = |i: &mut usize| {
                    let from = *i;
                    while *i < b.len() && b[*i].is_ascii_digit() {
                        *i += 1;
                    }
                    *i > from
                };
                if !digits(&mut i) {
                    return if i == b.len() { None } else { Some(Err(())) };
                }
                let before_range = i;
                blanks(&mut i);
                let dash = if tail[i..].starts_with('-') {
                    1
                } else if tail[i..].starts_with('–') {
                    '–'.len_utf8()
                } else {
                    0
                };
                if i == b.len() {
                    return None;
                }
                if dash > 0 {
                    i += dash;
                    blanks(&mut i);
                    if !digits(&mut i) {
                        return if i == b.len() { None } else { Some(Err(())) };
                    }
                } else {
                    i = before_range;
                }
            }
            _ => return Some(Err(())),
        }
    }
    blanks(&mut i);
    if i == b.len() {
        return None;
    }
    if b[i] == b'(' {
        match tail[i..].find([')', '\n']) {
            None => return None,
            Some(j) if b[i + j] == b')' => i += j + 1,
            Some(_) => return Some(Err(())),
        }
        blanks(&mut i);
        if i == b.len() {
            return None;
        }
    }
    if b[i] != b':' {
        return Some(Err(()));
    }
    i += 1;
    blanks(&mut i);
    Some(Ok(i))
}

/// Whether `rest` starts with `http://` or `https://` (any case), or could still (it is a prefix of one).
fn starts_link(rest: &str) -> bool {
    let head: String = rest.chars().take(8).collect::<String>().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| head.starts_with(scheme) || (head.len() < scheme.len() && scheme.starts_with(&head)))
        && rest.starts_with(['h', 'H'])
}

/// A link's length: up to whitespace or a character that ends a URL in text (`<>"`()[]{}`), without trailing
/// sentence punctuation. Unfinished while it reaches the end of a text that may go on (or is only a prefix of
/// `http://`).
fn link_len(rest: &str, at_end: bool) -> Markup {
    let end = rest
        .find(|c: char| c.is_whitespace() || "<>\"`()[]{}".contains(c))
        .unwrap_or(rest.len());
    if end == rest.len() && !at_end {
        return Markup::Unfinished;
    }
    let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*', '_']);
    let lower = url.to_ascii_lowercase();
    let body = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match body {
        Some(host) if !host.is_empty() => Markup::Complete(url.len()),
        _ => Markup::Not,
    }
}

/// The output rules with no link allowed (see [`OutputRules`]), on a text that is all there is.
pub fn scan_markup(text: &str) -> (String, Option<usize>) {
    OutputRules::default().apply(text, true)
}

/// What a piece of text starting with `![` or `<` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Markup {
    /// Not an image or tag, whatever follows.
    Not,
    /// A whole image or tag of this many bytes.
    Complete(usize),
    /// The start of one, not finished yet.
    Unfinished,
}

/// `![alt](target)`: alt without `]`, target without `)` or a line break.
fn image_len(rest: &str) -> Markup {
    let after = &rest[2..];
    let Some(close) = after.find(']') else {
        return Markup::Unfinished;
    };
    let tail = &after[close + 1..];
    match tail.chars().next() {
        None => return Markup::Unfinished,
        Some('(') => {}
        Some(_) => return Markup::Not,
    }
    let target = &tail[1..];
    for (j, c) in target.char_indices() {
        match c {
            ')' => return Markup::Complete(2 + close + 1 + 1 + j + 1),
            '\n' => return Markup::Not,
            _ => {}
        }
    }
    Markup::Unfinished
}

/// `<name ...>`, `</name>` or `<name/>`: a letter after the `<` (or `</`), then no `<` before the `>`.
fn tag_len(rest: &str) -> Markup {
    let mut chars = rest.char_indices().skip(1).peekable();
    if let Some(&(_, '/')) = chars.peek() {
        chars.next();
    }
    match chars.next() {
        None => return Markup::Unfinished,
        Some((_, c)) if c.is_ascii_alphabetic() => {}
        Some(_) => return Markup::Not,
    }
    for (j, c) in chars {
        match c {
            '>' => return Markup::Complete(j + 1),
            '<' | '\n' => return Markup::Not,
            _ => {}
        }
    }
    Markup::Unfinished
}

/// The length of the prefix of `raw` whose checked text no continuation can change: up to the first `[` that
/// may still become a citation group, without the whitespace before it (or at the end).
fn settled_len(raw: &str) -> usize {
    let mut end = raw.len();
    for (i, c) in raw.char_indices() {
        if c == '[' && may_become_group(&raw[i + 1..]) {
            end = i;
            break;
        }
    }
    raw[..end].trim_end().len()
}

/// True when `after` (the text after a `[`) has no `]` yet and could still be the inside of a citation group.
fn may_become_group(after: &str) -> bool {
    if after.contains(']') {
        return false;
    }
    after.trim().len() <= 32
        && after
            .chars()
            .all(|c| c.is_whitespace() || c.is_ascii_digit() || ",-–+Passagep".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declining_answer_is_recognised_and_an_answer_is_not() {
        for declining in [
            "The documents do not say.",
            "The documents do not contain an answer to this question.",
            "The passages do not mention the company's revenue.",
            "The provided passages do not specify the CEO of Northwind Tools [1].",
            "There is no information in the passages about parental leave.",
            "The answer is not stated in the documents.",
        ] {
            assert!(declines(declining), "{declining}");
        }
        for answering in [
            "Staff get 27 days of paid leave per year [1].",
            "The documents say staff get 27 days of leave [1].",
            "He did not mention it in his speech, according to the passage [2].",
            "Luther did not say that.",
            "",
        ] {
            assert!(!declines(answering), "{answering}");
        }
    }

    #[test]
    fn valid_invalid_and_non_citations() {
        let checked = check_citations("Pressure is 12 bar [1]. Seals [2, 7] and [9]. See a[i] and [x].", 3);
        assert_eq!(checked.text, "Pressure is 12 bar [1]. Seals [2] and. See a[i] and [x].");
        assert_eq!(checked.valid, vec![1, 2]);
        assert_eq!(checked.invalid, vec![7, 9]);
    }

    #[test]
    fn ranges_repeats_and_unclosed() {
        let checked = check_citations("A [1-3][2] b [0] c [2", 2);
        assert_eq!(checked.text, "A [1, 2][2] b c [2");
        assert_eq!(checked.valid, vec![1, 2]);
        assert_eq!(checked.invalid, vec![3, 0]);
        assert_eq!(check_citations("no citations", 2).valid, Vec::<u32>::new());
        assert_eq!(check_citations("[Passage 2]", 2).valid, vec![2]);
    }

    /// Issue 9.8: `[[9]` or a long run of spaces before `[9]` leaked into the stream, so what the reader saw
    /// differed from the final answer. Property: over random strings of citation-like characters, cut at random
    /// places, the streamed text equals the final text byte for byte.
    #[test]
    fn streamed_text_equals_the_final_text_for_random_texts_and_splits() {
        const ALPHABET: &[&str] = &[
            "[",
            "]",
            "[",
            "]",
            " ",
            " ",
            "  ",
            "\n",
            "\t",
            "1",
            "2",
            "9",
            "0",
            ",",
            "-",
            "–",
            "+",
            "P",
            "Passage ",
            "a",
            "é",
            ".",
            "x",
            "[[",
            "]]",
            "![",
            "](",
            ")",
            "(",
            "<",
            ">",
            "<b",
            "</",
            " x=",
            "http://e/?d=",
            "!",
            "a.md",
            "d/",
            ", lines ",
            ", page ",
            ":",
            ", section \"",
            "\"",
        ];
        let rules = || {
            OutputRules::allowing_links_in(vec!["see http://e/?d= here".into(), "no link".into()])
                .removing_headers_of(["a.md".to_owned(), "d/a.md".to_owned()])
        };
        let mut rng = crate::testing::Rng::new(0x9e37_79b9);
        for case in 0..40_000 {
            let len = (rng.next_u32() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()])
                .collect();
            let n_passages = rng.next_u32() % 4;
            let mut stream = CitationStream::with_rules(n_passages, rules());
            let mut shown = String::new();
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = 1 + (rng.next_u32() as usize) % rest.len();
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                shown.push_str(&stream.push(&rest[..cut]));
                rest = &rest[cut..];
            }
            shown.push_str(&stream.finish());
            let expected = rules()
                .apply(&check_citations(&text, n_passages).text, true)
                .0
                .trim()
                .to_owned();
            assert_eq!(shown, expected, "case {case}: {text:?} over {n_passages} passages");
            assert_eq!(stream.final_text(), expected);
        }
    }

    /// Issue 16.5: no markdown image and no HTML tag reaches the reader, streamed or final.
    #[test]
    fn images_and_tags_never_reach_the_reader() {
        let text = "The warranty is 2 years [1]. ![x](https://evil.example/p.png?d=secret) <img src=x> \
                    <b>bold</b> a < b and 3 > 2. ![not an image] (nor this)";
        let mut stream = CitationStream::new(1);
        let shown: String = text.chars().map(|c| stream.push(&c.to_string())).collect::<String>() + &stream.finish();
        assert_eq!(shown, stream.final_text());
        assert_eq!(
            shown,
            "The warranty is 2 years [1].   bold a < b and 3 > 2. ![not an image] (nor this)"
        );
    }

    /// Issue 16.5: a link is kept only when a passage contains it; one the model made up (data in its query
    /// string) is removed, streamed or final, however the text is cut.
    /// Streams `text` in pieces of 1..`max_piece` characters through a filter over `n_passages` passages
    /// under `rules`: what is shown, and the final text, must be `want`, and no piece may show `never`.
    fn assert_streams(rules: impl Fn() -> OutputRules, n_passages: u32, text: &str, want: &str, never: &str) {
        for piece in 1..9 {
            let mut stream = CitationStream::with_rules(n_passages, rules());
            let chars: Vec<char> = text.chars().collect();
            let mut shown = String::new();
            for part in chars.chunks(piece) {
                let streamed = stream.push(&part.iter().collect::<String>());
                assert!(never.is_empty() || !streamed.contains(never), "{text:?}: {streamed:?}");
                shown.push_str(&streamed);
            }
            shown.push_str(&stream.finish());
            assert_eq!(shown, want, "{text:?} in pieces of {piece}");
            assert_eq!(stream.final_text(), want);
        }
    }

    #[test]
    fn links_no_passage_contains_are_removed() {
        let rules = || OutputRules::allowing_links_in(vec!["Manual: https://example.com/pump.pdf (page 3).".into()]);
        let text = "See https://example.com/pump.pdf. Send it to https://evil.example/c?d=secret now, or \
                    HTTP://EVIL.example/x! Not links: https, http:// alone, xhttps://a.b, ahttp.";
        let want = "See https://example.com/pump.pdf. Send it to (link removed) now, or (link removed)! Not links: \
                    https, http:// alone, xhttps://a.b, ahttp.";
        assert_streams(rules, 1, text, want, "evil");
        // A link at the very end is complete there.
        let mut stream = CitationStream::with_rules(1, rules());
        assert_eq!(stream.push("go to https://evil.example"), "go to");
        assert_eq!(stream.finish(), " (link removed)");
    }

    #[test]
    fn a_link_is_shown_as_plain_text_only_when_a_passage_its_sentence_cites_contains_it() {
        let rules = || {
            OutputRules::allowing_links_in(vec![
                "Manual: https://example.com/pump.pdf (page 3).".into(),
                "Support: https://example.com/help.".into(),
            ])
        };
        let cases = [
            // Cited passage 1 holds the link; passage 2 does not.
            (
                "Get it at https://example.com/pump.pdf [1].",
                "Get it at https://example.com/pump.pdf [1].",
            ),
            (
                "Get it at https://example.com/pump.pdf [2].",
                "Get it at (link removed) [2].",
            ),
            (
                "Get it at https://example.com/pump.pdf. [2] Next.",
                "Get it at (link removed). [2] Next.",
            ),
            // Held text after the link, in its sentence, holds the link until the sentence's citation is known.
            (
                "Get it at https://example.com/pump.pdf <b [2]. Next.",
                "Get it at (link removed) <b [2]. Next.",
            ),
            // Uncited: any passage will do.
            (
                "Ask https://example.com/help. Then stop [1].",
                "Ask https://example.com/help. Then stop [1].",
            ),
            // A markdown link is plain text, its target under the same rule.
            (
                "See [the manual](https://example.com/pump.pdf) [1].",
                "See the manual (https://example.com/pump.pdf) [1].",
            ),
            (
                "See [here](https://evil.example/?d=x) [1].",
                "See here (link removed) [1].",
            ),
            ("See [the notes](docs/a.md).", "See the notes (docs/a.md)."),
            // Citations and brackets that are not links stay.
            (
                "It is 12 bar [1](174 psi), a[i] and [x] too.",
                "It is 12 bar [1](174 psi), a[i] and [x] too.",
            ),
        ];
        for (text, want) in cases {
            assert_streams(rules, 2, text, want, "evil");
        }
    }

    #[test]
    fn passage_headers_the_model_copies_are_not_shown() {
        let rules = || {
            OutputRules::allowing_links_in(Vec::new())
                .removing_headers_of(["docs/a.md".to_owned(), "manuals/pump.pdf".to_owned()])
        };
        let cases = [
            (
                "[1] docs/a.md, lines 1-13: The pump runs at 12 bar.",
                "[1] The pump runs at 12 bar.",
            ),
            (
                "[2] manuals/pump.pdf, page 3 (Pump manual > Limits): At most 12 bar [2].",
                "[2] At most 12 bar [2].",
            ),
            ("docs/a.md, lines 1–10: Twelve. [1] docs/a.md: Bar.", "Twelve. [1] Bar."),
            (
                "manuals/pump.pdf, section \"Setup\": Open the valve.",
                "Open the valve.",
            ),
            // Prose about a file, and look-alikes, stay.
            ("See docs/a.md for the limits.", "See docs/a.md for the limits."),
            ("docs/a.md, the handbook, says 12.", "docs/a.md, the handbook, says 12."),
            ("xdocs/a.md: and docs/a.mdx: stay", "xdocs/a.md: and docs/a.mdx: stay"),
            ("It ends in docs/a.md, lines 1-", "It ends in docs/a.md, lines 1-"),
        ];
        for (text, want) in cases {
            assert_streams(rules, 2, text, want, "");
        }
    }

    #[test]
    fn the_cases_the_issue_names() {
        let spaces = " ".repeat(50);
        for pieces in [vec!["It is so [", "[9", "] here"], vec!["Twelve bar.", &spaces, "[9]"]] {
            let text = pieces.concat();
            let mut stream = CitationStream::new(2);
            let mut shown: String = pieces.iter().map(|p| stream.push(p)).collect();
            shown.push_str(&stream.finish());
            assert_eq!(shown, scan_markup(&check_citations(&text, 2).text).0.trim(), "{text:?}");
        }
    }

    #[test]
    fn stream_filter_matches_the_batch_check() {
        let text = "It is 12 bar [1] and 3 [4]; arrays a[i] stay [2].";
        for chunk_len in 1..6 {
            let mut stream = CitationStream::new(2);
            let mut shown = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(chunk_len) {
                shown.push_str(&stream.push(&piece.iter().collect::<String>()));
            }
            shown.push_str(&stream.finish());
            assert_eq!(shown, check_citations(text, 2).text.trim(), "pieces of {chunk_len}");
        }
    }
}
