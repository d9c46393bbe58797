//! Chat templates: how a [`Prompt`]'s system and user messages become model input.
//!
//! The template is chosen from the GGUF's `tokenizer.chat_template` metadata by its markers rather than run as
//! Jinja: ChatML (`<|im_start|>`: SmolLM2, Qwen2), Llama 3 (`<|start_header_id|>`) and Gemma
//! (`<start_of_turn>`), which covers the families the generator loads.

use crate::prompt::Prompt;

/// A piece of a rendered prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'p> {
    /// One of the template's control tokens (`<|im_start|>`): encoded as that token.
    Control(&'static str),
    /// Text: encoded with special tokens disabled, whatever it contains.
    Text(&'p str),
}

/// A chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n...<|im_end|>` (SmolLM2, Qwen2, many others).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>` (Llama 3).
    Llama3,
    /// `<start_of_turn>user\n...<end_of_turn>` (Gemma; no system role, so it is prepended to the user turn).
    Gemma,
}

impl ChatTemplate {
    /// Picks the template from the GGUF `tokenizer.chat_template` text; when the file has none (or one this
    /// does not recognise), the architecture's own format (Gemma's for `gemma*`), else ChatML.
    pub fn detect(template: Option<&str>, architecture: &str) -> ChatTemplate {
        match template {
            Some(t) if t.contains("<|start_header_id|>") => ChatTemplate::Llama3,
            Some(t) if t.contains("<start_of_turn>") => ChatTemplate::Gemma,
            Some(t) if t.contains("<|im_start|>") => ChatTemplate::ChatMl,
            _ if architecture.starts_with("gemma") => ChatTemplate::Gemma,
            _ => ChatTemplate::ChatMl,
        }
    }

    /// The prompt as the template's own control tokens and plain text, ending where the assistant's answer
    /// starts. Only `Control` pieces may become control tokens: the text (system message, passages, question,
    /// history) is tokenized with special tokens disabled, so a `<|im_start|>` inside a document is plain text.
    pub fn pieces<'p>(&self, prompt: &'p Prompt) -> Vec<Piece<'p>> {
        use Piece::{Control as C, Text as T};
        let (system, user) = (prompt.system.as_str(), prompt.user.as_str());
        match self {
            ChatTemplate::ChatMl => vec![
                C("<|im_start|>"),
                T("system\n"),
                T(system),
                C("<|im_end|>"),
                T("\n"),
                C("<|im_start|>"),
                T("user\n"),
                T(user),
                C("<|im_end|>"),
                T("\n"),
                C("<|im_start|>"),
                T("assistant\n"),
            ],
            ChatTemplate::Llama3 => vec![
                C("<|begin_of_text|>"),
                C("<|start_header_id|>"),
                T("system"),
                C("<|end_header_id|>"),
                T("\n\n"),
                T(system),
                C("<|eot_id|>"),
                C("<|start_header_id|>"),
                T("user"),
                C("<|end_header_id|>"),
                T("\n\n"),
                T(user),
                C("<|eot_id|>"),
                C("<|start_header_id|>"),
                T("assistant"),
                C("<|end_header_id|>"),
                T("\n\n"),
            ],
            ChatTemplate::Gemma => vec![
                C("<bos>"),
                C("<start_of_turn>"),
                T("user\n"),
                T(system),
                T("\n\n"),
                T(user),
                C("<end_of_turn>"),
                T("\n"),
                C("<start_of_turn>"),
                T("model\n"),
            ],
        }
    }

    /// Renders the prompt as one string (what [`ChatTemplate::pieces`] spell), ending where the assistant's
    /// answer starts.
    pub fn render(&self, prompt: &Prompt) -> String {
        self.pieces(prompt)
            .iter()
            .map(|piece| match piece {
                Piece::Control(t) => *t,
                Piece::Text(t) => t,
            })
            .collect()
    }

    /// The control tokens this template uses.
    pub fn control_tokens(&self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl => &["<|im_start|>", "<|im_end|>"],
            ChatTemplate::Llama3 => &[
                "<|begin_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
            ],
            ChatTemplate::Gemma => &["<bos>", "<start_of_turn>", "<end_of_turn>"],
        }
    }

    /// The rendering as one format string (the reference the pieces are checked against).
    #[cfg(test)]
    fn old_render(&self, prompt: &Prompt) -> String {
        match self {
            ChatTemplate::ChatMl => format!(
                "<|im_start|>system\n{}<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
                prompt.system, prompt.user
            ),
            ChatTemplate::Llama3 => format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{}<|eot_id|>\
                 <|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>\
                 <|start_header_id|>assistant<|end_header_id|>\n\n",
                prompt.system, prompt.user
            ),
            ChatTemplate::Gemma => format!(
                "<bos><start_of_turn>user\n{}\n\n{}<end_of_turn>\n<start_of_turn>model\n",
                prompt.system, prompt.user
            ),
        }
    }

    /// Tokens that end the assistant's turn.
    pub fn stop_tokens(&self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
            ChatTemplate::Gemma => &["<end_of_turn>", "<eos>"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_renders() {
        let prompt = Prompt {
            system: "S".into(),
            user: "U".into(),
        };
        assert_eq!(ChatTemplate::detect(None, "llama"), ChatTemplate::ChatMl);
        assert_eq!(ChatTemplate::detect(None, "gemma3"), ChatTemplate::Gemma);
        assert_eq!(
            ChatTemplate::detect(Some("<|im_start|>"), "gemma3"),
            ChatTemplate::ChatMl
        );
        assert_eq!(
            ChatTemplate::ChatMl.render(&prompt),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
        let llama3 = ChatTemplate::detect(Some("{{ '<|start_header_id|>' + role }}"), "llama");
        assert_eq!(llama3, ChatTemplate::Llama3);
        assert!(llama3.render(&prompt).ends_with("assistant<|end_header_id|>\n\n"));
        assert_eq!(
            ChatTemplate::detect(Some("<start_of_turn>"), "llama"),
            ChatTemplate::Gemma
        );
        for template in [ChatTemplate::ChatMl, ChatTemplate::Llama3, ChatTemplate::Gemma] {
            assert_eq!(template.render(&prompt), template.old_render(&prompt), "{template:?}");
        }
    }
}
