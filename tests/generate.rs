//! The real default generator (SmolLM2-135M): what it streams is exactly the text it returns, also when a
//! degenerate loop is cut off (issue 9.8: the repeats used to be streamed and then dropped from the answer).

use rag::generate::{GenerateOptions, StopReason};
use rag::prompt::Prompt;
use rag::{Config, Engine, Flow};

#[test]
fn streamed_text_equals_the_returned_text_when_a_loop_is_cut_off() {
    let engine = Engine::from_config(Config::default()).unwrap();
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
