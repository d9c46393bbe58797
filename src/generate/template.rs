//! Chat templates: how a [`Prompt`]'s system and user messages become model input.
//!
//! The template is chosen from the GGUF's `tokenizer.chat_template` metadata by its markers rather than run as
//! Jinja: ChatML (`<|im_start|>`: SmolLM2, Qwen2), Llama 3 (`<|start_header_id|>`) and Gemma
//! (`<start_of_turn>`), which covers the families the generator loads.

use crate::prompt::Prompt;

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
    /// Picks the template from the GGUF `tokenizer.chat_template` text (ChatML when absent or unknown).
    pub fn detect(template: Option<&str>) -> ChatTemplate {
        match template {
            Some(t) if t.contains("<|start_header_id|>") => ChatTemplate::Llama3,
            Some(t) if t.contains("<start_of_turn>") => ChatTemplate::Gemma,
            _ => ChatTemplate::ChatMl,
        }
    }

    /// Renders the prompt, ending where the assistant's answer starts.
    pub fn render(&self, prompt: &Prompt) -> String {
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
        assert_eq!(ChatTemplate::detect(None), ChatTemplate::ChatMl);
        assert_eq!(
            ChatTemplate::ChatMl.render(&prompt),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
        let llama3 = ChatTemplate::detect(Some("{{ '<|start_header_id|>' + role }}"));
        assert_eq!(llama3, ChatTemplate::Llama3);
        assert!(llama3.render(&prompt).ends_with("assistant<|end_header_id|>\n\n"));
        assert_eq!(ChatTemplate::detect(Some("<start_of_turn>")), ChatTemplate::Gemma);
    }
}
