//! The query side, in data-flow order: [`retrieve`] turns index hits into passages (after the [`rerank`]
//! stage), [`prompt`] words them for the generator, [`answer`] checks the generated citations and
//! [`attribute`] attributes every sentence; [`searcher`] runs these over an open index for one request, and
//! [`chat`] for follow-up questions.

pub mod answer;
pub mod attribute;
pub mod chat;
pub mod prompt;
pub mod rerank;
pub mod retrieve;
pub mod searcher;
