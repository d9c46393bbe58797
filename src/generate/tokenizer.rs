//! The generator's tokenizer, built from a GGUF file's metadata, so no `tokenizer.json` is needed: byte-level
//! BPE (`tokenizer.ggml.model = "gpt2"`: tokens, merges, special tokens) and SentencePiece (`"llama"`: tokens
//! and scores, as in Llama 2, Mistral, Gemma and Phi-3).
//!
//! candle's own `Tokenizer::from_gguf` prepends a space (the SentencePiece convention), which is wrong for the
//! GPT-2-style byte-level BPE of SmolLM2 and Qwen2; this builder follows the pre-tokenizer named by
//! `tokenizer.ggml.pre`, as llama.cpp does (llama-vocab.cpp, `LLAMA_VOCAB_PRE_TYPE_*`).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::{NormalizerWrapper, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// GGUF token type of ordinary vocabulary.
const TOKEN_TYPE_NORMAL: i32 = 1;
/// GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`, ...).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens, also matched whole in text.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The split regex of Qwen2 (and, with `{1,3}` digit groups, Llama 3), from their `tokenizer.json`.
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Builds a tokenizer from GGUF metadata; the error says which key is missing or malformed.
pub(crate) fn from_gguf(content: &Content) -> Result<Tokenizer, String> {
    let md = &content.metadata;
    let model = md
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("gpt2");
    match model {
        "gpt2" => byte_level(md),
        "llama" => sentencepiece(md),
        other => Err(format!(
            "tokenizer model {other:?} is not supported (byte-level BPE, \"gpt2\", and SentencePiece, \"llama\", are)"
        )),
    }
}

/// Byte-level BPE (GPT-2 style: SmolLM2, Qwen2, Llama 3).
fn byte_level(md: &HashMap<String, Value>) -> Result<Tokenizer, String> {
    let tokens = strings(md, "tokenizer.ggml.tokens")?;
    let merges = strings(md, "tokenizer.ggml.merges")?;
    let types = token_types(md, tokens.len());
    let vocab: ahash::AHashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(false)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre = md
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("default");
    let split = |pattern: &str| -> Result<PreTokenizerWrapper, String> {
        let split = Split::new(
            SplitPattern::Regex(pattern.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| format!("pre-tokenizer: {e}"))?;
        Ok(split.into())
    };
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "qwen2" | "deepseek-llm" => {
            Sequence::new(vec![split(QWEN2_PATTERN)?, ByteLevel::new(false, false, false).into()]).into()
        }
        "llama-bpe" | "llama3" | "smaug-bpe" => {
            Sequence::new(vec![split(LLAMA3_PATTERN)?, ByteLevel::new(false, false, false).into()]).into()
        }
        "smollm" | "starcoder" | "refact" => {
            Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]).into()
        }
        _ => ByteLevel::new(false, true, true).into(),
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let special = of_types(&tokens, &types, &[TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED], true);
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| format!("special tokens: {e}"))?;
    Ok(tokenizer)
}

/// SentencePiece BPE as llama.cpp runs it (`llm_tokenizer_spm`): spaces become `▁` (and one is prepended when
/// `tokenizer.ggml.add_space_prefix`, default true, says so), the text is split into characters, and the adjacent
/// pair whose concatenation is the highest-scoring token is merged until none is left; a character no token holds
/// is spelled as its UTF-8 bytes (`<0x..>` tokens). The merges are derived from the vocabulary: every split of a
/// normal token into two tokens, ranked by the merged token's score, which is the order llama.cpp merges in.
/// User-defined tokens (Gemma's runs of newlines and spaces) are matched whole in text, as llama.cpp does;
/// control tokens (`<start_of_turn>`) only where special tokens are enabled.
fn sentencepiece(md: &HashMap<String, Value>) -> Result<Tokenizer, String> {
    let tokens = strings(md, "tokenizer.ggml.tokens")?;
    let scores: Vec<f32> = match md.get("tokenizer.ggml.scores") {
        Some(Value::Array(values)) => values.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect(),
        Some(_) => return Err("tokenizer.ggml.scores is not an array".into()),
        None => return Err("tokenizer.ggml.scores is missing".into()),
    };
    if scores.len() != tokens.len() {
        return Err(format!(
            "tokenizer.ggml.scores has {} entries for {} tokens",
            scores.len(),
            tokens.len()
        ));
    }
    let types = token_types(md, tokens.len());
    let vocab: ahash::AHashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let mut ranked: Vec<usize> = (0..tokens.len()).filter(|&i| types[i] == TOKEN_TYPE_NORMAL).collect();
    // Highest score first; equal scores in id order (a stable sort keeps it).
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut merges = Vec::new();
    for &id in &ranked {
        let token = &tokens[id];
        for (split, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(split);
            if vocab.contains_key(left) && vocab.contains_key(right) {
                merges.push((left.to_owned(), right.to_owned()));
            }
        }
    }
    let unknown = md
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(|v| v.to_u32().ok())
        .and_then(|id| tokens.get(id as usize))
        .cloned()
        .unwrap_or_else(|| "<unk>".to_owned());
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .unk_token(unknown)
        .byte_fallback(true)
        .fuse_unk(true)
        .ignore_merges(false)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let space_prefix = md
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let replace = Replace::new(" ", "\u{2581}").map_err(|e| format!("normalizer: {e}"))?;
    let normalizer: NormalizerWrapper = if space_prefix {
        NormalizerSequence::new(vec![Prepend::new("\u{2581}".to_owned()).into(), replace.into()]).into()
    } else {
        replace.into()
    };
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| format!("normalizer: {e}"))?;
    let space = Replace::new("\u{2581}", " ").map_err(|e| format!("decoder: {e}"))?;
    let mut decoders: Vec<DecoderWrapper> = vec![space.into(), ByteFallback::new().into(), Fuse::new().into()];
    if space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    let user_defined = of_types(&tokens, &types, &[TOKEN_TYPE_USER_DEFINED], false);
    tokenizer
        .add_tokens(user_defined.into_iter().map(|t| t.normalized(false)))
        .map_err(|e| format!("user-defined tokens: {e}"))?;
    tokenizer
        .add_special_tokens(of_types(&tokens, &types, &[TOKEN_TYPE_CONTROL], true))
        .map_err(|e| format!("special tokens: {e}"))?;
    Ok(tokenizer)
}

/// The tokens of the given GGUF token types, as added tokens (`special`: matched only where special tokens are
/// enabled).
fn of_types(tokens: &[String], types: &[i32], wanted: &[i32], special: bool) -> Vec<AddedToken> {
    tokens
        .iter()
        .zip(types)
        .filter(|(_, t)| wanted.contains(t))
        .map(|(token, _)| AddedToken::from(token.clone(), special))
        .collect()
}

/// `tokenizer.ggml.token_type`, normal where absent.
fn token_types(md: &HashMap<String, Value>, count: usize) -> Vec<i32> {
    let mut types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
        Some(Value::Array(values)) => values.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
        _ => Vec::new(),
    };
    types.resize(count, TOKEN_TYPE_NORMAL);
    types
}

fn strings(md: &HashMap<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match md.get(key) {
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}")))
            .collect(),
        Some(_) => Err(format!("{key} is not an array")),
        None => Err(format!("{key} is missing")),
    }
}
