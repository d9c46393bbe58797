//! The query side, in data-flow order: [`retrieve`] turns index hits into passages (after the [`rerank`]
//! stage), [`evidence`] says whether a sentence of them states what is asked, [`prompt`] words them for the generator, [`answer`] checks the generated citations and
//! [`attribute`] attributes every sentence; [`searcher`] runs these over an open index for one request, and
//! [`chat`] for follow-up questions.

pub mod answer;
pub mod attribute;
pub mod chat;
pub mod evidence;
pub mod prompt;
pub mod rerank;
pub mod retrieve;
pub mod searcher;
