//! The two real embedding backends agree: fastembed/ONNX Runtime (int8) and candle BERT (fp32) on the same
//! MiniLM give cosine >= 0.99 on the same texts, including texts longer than the 128 tokens the shipped
//! tokenizer truncates at.

use rag::config::EmbedBackend;
use rag::embed::cosine;
use rag::{Config, Engine};

fn engine(backend: EmbedBackend) -> Engine {
    let mut config = Config::default();
    config.embed.backend = backend;
    Engine::from_config(config).expect("engine")
}

#[test]
fn onnx_and_candle_agree() {
    let long = "The maximum operating pressure of the P-200 pump is 12 bar. ".repeat(20);
    let texts = [
        "What is the maximum operating pressure of the pump?",
        "The night shift checks the cooling tower fan every 4 hours.",
        "fn must_open(pressure_bar: f64) -> bool { pressure_bar >= RELIEF_VALVE_SETPOINT_BAR }",
        "Le café de l'usine ouvre à 7 heures.",
        long.as_str(),
        "x",
    ];
    let onnx = engine(EmbedBackend::Onnx).embedder().expect("onnx embedder");
    let candle = engine(EmbedBackend::Candle).embedder().expect("candle embedder");
    assert_eq!(onnx.model_id(), candle.model_id());
    assert_eq!((onnx.dim(), candle.dim()), (384, 384));
    let a = onnx.embed(&texts).unwrap();
    let b = candle.embed(&texts).unwrap();
    for ((text, x), y) in texts.iter().zip(&a).zip(&b) {
        let norm: f32 = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "not normalised: {norm}");
        let c = cosine(x, y);
        assert!(c >= 0.99, "cosine {c} for {text:?}");
    }
    // Batching does not change results.
    let single = candle.embed(&texts[..1]).unwrap();
    assert!(cosine(&single[0], &b[0]) > 0.9999);
    // Related texts are closer than unrelated ones.
    assert!(cosine(&a[0], &a[4]) > cosine(&a[0], &a[1]));
}
