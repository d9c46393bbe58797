//! The query side, in data-flow order: [`retrieve`] turns index hits into passages (after the [`rerank`]
//! stage), [`prompt`] words them for the generator, [`answer`] checks the generated citations and
//! [`attribute`] attributes every sentence; [`chat`] runs these for follow-up questions.

pub mod answer;
pub mod attribute;
pub mod chat;
pub mod prompt;
pub mod rerank;
pub mod retrieve;
