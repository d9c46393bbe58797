//! The generated models load and run in the engine, and the decoder's two code paths agree on them: the CPU's
//! decode step (plain vectors) and the batched path that prefill and a GPU take (candle tensors). The same
//! comparison against CUDA is `gpu_parity.rs`.

use std::path::Path;

use rag::generate::{Generator, GgufGenerator};
use rag_eval::synth_model::{write_bert, write_gguf, Family, Quant, Shape};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn tiny(dir: &Path, family: Family, quant: Quant) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let path = dir.join(format!("{family:?}-{quant:?}.gguf"));
    write_gguf(&path, family, Shape::named("tiny")?, quant, 42, 1024)?;
    Ok(path)
}

#[test]
fn generated_decoders_load_tokenize_and_agree_across_code_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    let prompt = rag::prompt::Prompt {
        system: "Answer from the passages.".into(),
        user: "[1] pump.md, lines 1-3: The maximum operating pressure of the pump is 8 bar.\n\nQuestion: what is the pressure?"
            .into(),
    };
    for family in [Family::Llama, Family::Qwen2] {
        for quant in [Quant::Q8_0, Quant::Q4K] {
            let path = tiny(dir.path(), family, quant)?;
            let generator = GgufGenerator::load(&path, candle_core::Device::Cpu, 1024)?;
            let what = format!("{family:?} {quant:?}");
            // The tokenizer built from the generated metadata round-trips text and knows the template's tokens.
            let text = "The maximum operating pressure is 8 bar.";
            let ids = generator
                .tokenizer()
                .encode(text, false)
                .map_err(|e| format!("{what}: {e}"))?;
            assert!(
                ids.len() < text.len(),
                "{what}: merges should shorten the text: {} tokens",
                ids.len()
            );
            let back = generator
                .tokenizer()
                .decode(ids.get_ids(), false)
                .map_err(|e| format!("{e}"))?;
            assert_eq!(back.trim_start(), text, "{what}");
            assert!(generator.tokenizer().token_to_id("<|im_end|>").is_some(), "{what}");

            let ids = generator.encode_prompt(&prompt)?;
            let (step, step_tokens) = generator.greedy_logits(&ids, 12, false, None)?;
            let (batched, batched_tokens) = generator.greedy_logits(&ids, 12, true, Some(&step_tokens))?;
            assert_eq!(step.len(), 13, "{what}");
            let report = rag_eval::synth_model::compare_logits(&step, &batched);
            eprintln!("{what}: {report:?}");
            assert!(report.finite, "{what}: non-finite logits");
            assert!(report.max_logit > 0.1, "{what}: logits all near zero ({report:?})");
            // Both paths multiply by the same quantized weights but quantize the activations differently
            // (one row, or a batch of rows): on these random models that moves a logit by up to ~0.12 of the
            // row's spread; a wrong rotary, cache or mask moves it by more than the spread.
            assert!(report.max_diff_over_std <= 0.2, "{what}: paths differ: {report:?}");
            let (ties, disagreements) =
                rag_eval::synth_model::greedy_agreement(&step, &batched, &step_tokens, &batched_tokens);
            assert_eq!(
                disagreements, 0,
                "{what}: {ties} near-ties; {step_tokens:?} / {batched_tokens:?}"
            );
            // Not one token over and over: the weights are random, not degenerate.
            let distinct: std::collections::HashSet<_> = step_tokens.iter().collect();
            assert!(distinct.len() > 1, "{what}: {step_tokens:?}");
            // And a plain answer streams through the engine's generation loop.
            let options = rag::generate::GenerateOptions {
                max_new_tokens: 8,
                ignore_eos: true,
                ..Default::default()
            };
            let g = generator.generate(&prompt, &options, &mut |_| rag::Flow::Continue)?;
            assert_eq!(g.generated_tokens, 8, "{what}");
        }
    }
    Ok(())
}

#[test]
fn the_generated_bert_embeds_with_the_candle_backend() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_bert(dir.path(), 3)?;
    let embedder = rag::embed::BertEmbedder::load(dir.path(), "synthetic".into(), candle_core::Device::Cpu)?;
    let texts = [
        rag_eval::synth_model::synthetic_text(1, 200),
        rag_eval::synth_model::synthetic_text(2, 50),
    ];
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = rag::embed::Embedder::embed(&embedder, &refs)?;
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0].len(), 384);
    assert!(vectors.iter().flatten().all(|v| v.is_finite()));
    assert_ne!(vectors[0], vectors[1]);
    // One token per word (plus [CLS]/[SEP]), as for the real model on plain English.
    let tokenizer = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).map_err(|e| e.to_string())?;
    let n = tokenizer
        .encode(texts[1].as_str(), true)
        .map_err(|e| e.to_string())?
        .len();
    assert!((50..=60).contains(&n), "{n} tokens for 50 words");
    Ok(())
}
