//! CPU and CUDA give the same greedy tokens, and logits within 0.2 of each row's spread (standard deviation), on
//! the generated tiny
//! decoders of both families and both storage types. Runs where this crate is built with `--features cuda`
//! and a CUDA device opens (eval/gpu-check.sh runs the same comparison from the carried binary); elsewhere it
//! says why it did not run.

#[test]
fn cpu_and_cuda_agree_on_the_tiny_generated_models() -> Result<(), Box<dyn std::error::Error>> {
    if !cfg!(feature = "cuda") {
        eprintln!("not run: rag-eval was built without the `cuda` feature (eval/gpu-check.sh builds it)");
        return Ok(());
    }
    let device = match rag::device::select(rag::config::DeviceChoice::Cuda) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("not run: no CUDA device here: {e}");
            return Ok(());
        }
    };
    let dir = tempfile::tempdir()?;
    let prompt = rag::prompt::Prompt {
        system: "Answer from the passages.".into(),
        user: "[1] pump.md, lines 1-3: The maximum operating pressure is 8 bar.\n\nQuestion: what is the pressure?"
            .into(),
    };
    use rag_eval::synth_model::{write_gguf, Family, Quant, Shape};
    for family in [Family::Llama, Family::Qwen2] {
        for quant in [Quant::Q8_0, Quant::Q4K] {
            let path = dir.path().join(format!("{family:?}-{quant:?}.gguf"));
            write_gguf(&path, family, Shape::named("tiny")?, quant, 42, 1024)?;
            let cpu = rag::generate::GgufGenerator::load(&path, candle_core::Device::Cpu, 1024)?;
            let gpu = rag::generate::GgufGenerator::load(&path, device.clone(), 1024)?;
            let ids = cpu.encode_prompt(&prompt)?;
            let (a, ta) = cpu.greedy_logits(&ids, 24, false, None)?;
            let (b, tb) = gpu.greedy_logits(&ids, 24, false, Some(&ta))?;
            let report = rag_eval::synth_model::compare_logits(&a, &b);
            eprintln!("{family:?} {quant:?}: {report:?}");
            assert!(report.finite, "{family:?} {quant:?}: {report:?}");
            let (ties, disagreements) = rag_eval::synth_model::greedy_agreement(&a, &b, &ta, &tb);
            eprintln!("{family:?} {quant:?}: {ties} near-ties, {disagreements} disagreements");
            assert_eq!(disagreements, 0, "{family:?} {quant:?}: {ta:?} / {tb:?}");
            assert!(report.max_diff_over_std <= 0.2, "{family:?} {quant:?}: {report:?}");
        }
    }
    Ok(())
}
