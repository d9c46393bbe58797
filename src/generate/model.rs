//! The decoder for the llama and qwen2 GGUF families, written for CPU speed on candle's quantized tensors.
//!
//! It follows candle-transformers' `quantized_llama`/`quantized_qwen2` (same tensor names, same maths) and
//! changes what the profile pointed at (see eval/RESULTS.md, "Generation speed"):
//! - prefill (many rows at once) multiplies by the weights dequantized to f32 with a tiled GEMM instead of one
//!   quantized dot product per (row, column) pair: 1.8x faster prefill on SmolLM2, 2x on Qwen2.5-0.5B;
//! - decode (one row) keeps the quantized weights, with the q/k/v and gate/up projections fused into one
//!   matrix each, so the activation is quantized once and the thread pool is woken once per group;
//! - the KV cache is preallocated to the context length (no copy of the whole cache per token);
//! - grouped-query attention reshapes the queries instead of copying keys and values per head.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::kv_cache::KvCache;
use candle_transformers::quantized_nn::RmsNorm;

/// From this many rows on, a projection dequantizes its weights and runs a dense GEMM.
const DENSE_MIN_ROWS: usize = 16;

/// A projection `x W^T (+ b)` with `W` quantized.
struct Linear {
    weight: Arc<QTensor>,
    matmul: QMatMul,
    bias: Option<Tensor>,
    /// Input width of the layer.
    k: usize,
    /// Input width of `weight`: `k`, or `k` padded with zero columns (see [`pad_for_vnni`]).
    padded_k: usize,
}

/// Width multiple candle's repacked Q8_0 kernels need (its K-quant super-block).
const VNNI_K: usize = 256;
/// Row multiple of those kernels' tiles.
const VNNI_N: usize = 16;

/// Whether candle's repacked integer-dot kernels for Q8_0 run on this CPU (AVX-512 VNNI or AVX-VNNI).
fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vnni"))
            || (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("avxvnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// candle multiplies a one-row activation by a Q8_0 matrix with repacked VNNI kernels only when the width is
/// a multiple of 256; otherwise with one AVX2 dot product per row, 3.5-5x slower (eval/RESULTS.md). Padding
/// each row with zero blocks to the next multiple costs 14-33 % more work and wins the rest: returns the
/// padded copy when that applies.
fn pad_for_vnni(w: &QTensor) -> Result<Option<QTensor>> {
    use candle_core::quantized::GgmlDType;
    let (n, k) = w.shape().dims2()?;
    if w.dtype() != GgmlDType::Q8_0
        || !w.device().is_cpu()
        || k.is_multiple_of(VNNI_K)
        || !n.is_multiple_of(VNNI_N)
        || !has_vnni()
    {
        return Ok(None);
    }
    let padded_k = k.div_ceil(VNNI_K) * VNNI_K;
    let block_bytes = GgmlDType::Q8_0.type_size();
    let row = k / GgmlDType::Q8_0.block_size() * block_bytes;
    let padded_row = padded_k / GgmlDType::Q8_0.block_size() * block_bytes;
    let data = w.data()?;
    // An all-zero block is a zero scale with zero quants: it adds nothing to the dot product.
    let mut out = vec![0u8; n * padded_row];
    for (dst, src) in out.chunks_exact_mut(padded_row).zip(data.chunks_exact(row)) {
        dst[..row].copy_from_slice(src);
    }
    let storage = QStorage::from_data(Cow::Owned(out), &w.device(), GgmlDType::Q8_0)?;
    Ok(Some(QTensor::new(storage, (n, padded_k))?))
}

impl Linear {
    fn new(weight: QTensor, bias: Option<Tensor>) -> Result<Linear> {
        let k = weight.shape().dims2()?.1;
        let weight = match pad_for_vnni(&weight)? {
            Some(padded) => padded,
            None => weight,
        };
        let padded_k = weight.shape().dims2()?.1;
        let weight = Arc::new(weight);
        let matmul = QMatMul::from_arc(weight.clone())?;
        Ok(Linear {
            weight,
            matmul,
            bias,
            k,
            padded_k,
        })
    }

    /// Stacks the output rows of several projections that read the same input into one matrix, when their
    /// storage types match (then one call computes all of them); `None` otherwise.
    fn fuse(parts: &[(QTensor, Option<Tensor>)]) -> Result<Option<(Linear, Vec<usize>)>> {
        let dtype = parts[0].0.dtype();
        let k = parts[0].0.shape().dims2()?.1;
        let device = parts[0].0.device();
        if !device.is_cpu()
            || parts
                .iter()
                .any(|(w, _)| w.dtype() != dtype || w.shape().dims2().map(|d| d.1).ok() != Some(k))
        {
            return Ok(None);
        }
        if parts.iter().any(|(_, b)| b.is_some()) && parts.iter().any(|(_, b)| b.is_none()) {
            return Ok(None);
        }
        let mut rows = Vec::with_capacity(parts.len());
        let mut data = Vec::new();
        let mut biases = Vec::new();
        for (w, b) in parts {
            rows.push(w.shape().dims2()?.0);
            data.extend_from_slice(&w.data()?);
            if let Some(b) = b {
                biases.push(b.clone());
            }
        }
        let storage = QStorage::from_data(Cow::Owned(data), &device, dtype)?;
        let weight = QTensor::new(storage, (rows.iter().sum::<usize>(), k))?;
        let bias = if biases.is_empty() {
            None
        } else {
            Some(Tensor::cat(&biases, 0)?)
        };
        Ok(Some((Linear::new(weight, bias)?, rows)))
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (k, rows) = match x.dims().split_last() {
            Some((&k, batch)) => (k, batch.iter().product::<usize>()),
            None => candle_core::bail!("projection input has no dimensions"),
        };
        let y = match &self.matmul {
            QMatMul::QTensor(_) if rows >= DENSE_MIN_ROWS && x.device().is_cpu() => {
                let w = self.weight.dequantize(x.device())?.narrow(1, 0, self.k)?.contiguous()?;
                let mut dims = x.dims().to_vec();
                let y = x.reshape((rows, k))?.matmul(&w.t()?)?;
                if let Some(last) = dims.last_mut() {
                    *last = y.dim(1)?;
                }
                y.reshape(dims)?
            }
            m if self.padded_k > self.k => m.forward(&x.pad_with_zeros(D::Minus1, 0, self.padded_k - self.k)?)?,
            m => m.forward(x)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// Projections reading the same input: fused into one matrix or kept apart.
enum Group {
    Fused(Linear, Vec<usize>),
    Apart(Vec<Linear>),
}

impl Group {
    fn new(parts: Vec<(QTensor, Option<Tensor>)>) -> Result<Group> {
        match Linear::fuse(&parts)? {
            Some((linear, rows)) => Ok(Group::Fused(linear, rows)),
            None => Ok(Group::Apart(
                parts
                    .into_iter()
                    .map(|(w, b)| Linear::new(w, b))
                    .collect::<Result<_>>()?,
            )),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Group::Fused(linear, rows) => {
                let y = linear.forward(x)?;
                let mut out = Vec::with_capacity(rows.len());
                let mut start = 0;
                for &n in rows {
                    out.push(y.narrow(D::Minus1, start, n)?);
                    start += n;
                }
                Ok(out)
            }
            Group::Apart(linears) => linears.iter().map(|l| l.forward(x)).collect(),
        }
    }
}

/// A copy of a quantized tensor (QTensor is not Clone).
fn requote(w: &QTensor) -> Result<QTensor> {
    let storage = QStorage::from_data(w.data()?, &w.device(), w.dtype())?;
    QTensor::new(storage, w.shape().clone())
}

struct Layer {
    attn_norm: RmsNorm,
    qkv: Group,
    out: Linear,
    ffn_norm: RmsNorm,
    gate_up: Group,
    down: Linear,
    cache: KvCache,
}

/// A llama/qwen2 decoder with its KV cache.
pub(crate) struct Decoder {
    embedding: Arc<QTensor>,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    rope_neox: bool,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    max_seq: usize,
}

impl Decoder {
    /// Reads a decoder of architecture `arch` (`llama` or `qwen2`) from `content`, with room for `max_seq`
    /// positions.
    pub(crate) fn from_gguf<R: std::io::Seek + std::io::Read>(
        arch: &str,
        content: &Content,
        reader: &mut R,
        device: &Device,
        max_seq: usize,
    ) -> Result<Decoder> {
        let md = |key: &str| {
            content
                .metadata
                .get(&format!("{arch}.{key}"))
                .ok_or_else(|| candle_core::Error::Msg(format!("GGUF metadata lacks {arch}.{key}")))
        };
        let n_head = md("attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("attention.head_count_kv")?.to_u32()? as usize;
        let n_layer = md("block_count")?.to_u32()? as usize;
        let hidden = md("embedding_length")?.to_u32()? as usize;
        let eps = md("attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = md("rope.freq_base").and_then(|v| v.to_f32()).unwrap_or(10_000.0);
        if n_head == 0 || !hidden.is_multiple_of(n_head) {
            candle_core::bail!("unsupported attention shape: {hidden} wide over {n_head} heads");
        }
        let head_dim = hidden / n_head;
        let rope_dim = md("rope.dimension_count")
            .and_then(|v| v.to_u32())
            .map_or(head_dim, |v| v as usize);
        if rope_dim != head_dim || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            candle_core::bail!(
                "unsupported attention shape: rope over {rope_dim} of {head_dim}, {n_head} heads over {n_kv_head}"
            );
        }
        // Matches llama.cpp's llama_model_rope_type: qwen2 rotates halves, llama rotates pairs.
        let rope_neox = arch == "qwen2";
        let (cos, sin) = rope_tables(head_dim, rope_base, max_seq, device)?;

        let tensor = |name: &str, r: &mut R| content.tensor(r, name, device);
        let embedding = Arc::new(tensor("token_embd.weight", reader)?);
        let output = match tensor("output.weight", reader) {
            Ok(w) => w,
            Err(_) => requote(&embedding)?,
        };
        let output = Linear::new(output, None)?;
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight", reader)?, eps)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let bias = |name: &str, r: &mut R| -> Result<Option<Tensor>> {
                match content.tensor_infos.contains_key(name) {
                    true => Ok(Some(tensor(name, r)?.dequantize(device)?)),
                    false => Ok(None),
                }
            };
            let q = (
                tensor(&format!("{p}.attn_q.weight"), reader)?,
                bias(&format!("{p}.attn_q.bias"), reader)?,
            );
            let k = (
                tensor(&format!("{p}.attn_k.weight"), reader)?,
                bias(&format!("{p}.attn_k.bias"), reader)?,
            );
            let v = (
                tensor(&format!("{p}.attn_v.weight"), reader)?,
                bias(&format!("{p}.attn_v.bias"), reader)?,
            );
            let gate = (tensor(&format!("{p}.ffn_gate.weight"), reader)?, None);
            let up = (tensor(&format!("{p}.ffn_up.weight"), reader)?, None);
            layers.push(Layer {
                attn_norm: RmsNorm::from_qtensor(tensor(&format!("{p}.attn_norm.weight"), reader)?, eps)?,
                qkv: Group::new(vec![q, k, v])?,
                out: Linear::new(tensor(&format!("{p}.attn_output.weight"), reader)?, None)?,
                ffn_norm: RmsNorm::from_qtensor(tensor(&format!("{p}.ffn_norm.weight"), reader)?, eps)?,
                gate_up: Group::new(vec![gate, up])?,
                down: Linear::new(tensor(&format!("{p}.ffn_down.weight"), reader)?, None)?,
                cache: KvCache::new(2, max_seq),
            });
        }
        Ok(Decoder {
            embedding,
            layers,
            norm,
            output,
            cos,
            sin,
            rope_neox,
            n_head,
            n_kv_head,
            head_dim,
            max_seq,
        })
    }

    /// Forgets the cached positions.
    pub(crate) fn clear_kv_cache(&mut self) {
        for layer in &mut self.layers {
            layer.cache.reset();
        }
    }

    /// Runs `tokens` (shape `(1, n)`) at positions `pos..pos + n`; returns the logits of the last one.
    pub(crate) fn forward(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = tokens.dims2()?;
        if pos + seq > self.max_seq {
            candle_core::bail!("{} positions exceed the context of {}", pos + seq, self.max_seq);
        }
        let mask = if seq > 1 {
            Some(causal_mask(seq, pos, tokens.device())?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let mut x = self.embedding.embedding(tokens)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let (n_head, n_kv, hd) = (self.n_head, self.n_kv_head, self.head_dim);
        let rep = n_head / n_kv;
        for layer in &mut self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let qkv = layer.qkv.forward(&h)?;
            let heads = |t: &Tensor, n: usize| t.reshape((1, seq, n, hd))?.transpose(1, 2)?.contiguous();
            let (q, k, v) = (heads(&qkv[0], n_head)?, heads(&qkv[1], n_kv)?, heads(&qkv[2], n_kv)?);
            let rope = |t: &Tensor| match self.rope_neox {
                true => candle_nn::rotary_emb::rope(t, &cos, &sin),
                false => candle_nn::rotary_emb::rope_i(t, &cos, &sin),
            };
            let q = (rope(&q)? * scale)?;
            let k = rope(&k)?;
            let (k, v) = layer.cache.append(&k, &v)?;
            let kv_len = k.dim(2)?;
            // Query heads sharing a key/value head are consecutive: fold them into rows.
            let q = q.reshape((1, n_kv, rep * seq, hd))?;
            let att = q.matmul(&k.t()?)?;
            let att = match &mask {
                Some(mask) => att
                    .reshape((1, n_kv, rep, seq, kv_len))?
                    .broadcast_add(mask)?
                    .reshape((1, n_kv, rep * seq, kv_len))?,
                None => att,
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v.contiguous()?)?;
            let y = y
                .reshape((1, n_head, seq, hd))?
                .transpose(1, 2)?
                .reshape((1, seq, n_head * hd))?;
            x = (layer.out.forward(&y)? + x)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gu = layer.gate_up.forward(&h)?;
            let h = (candle_nn::ops::silu(&gu[0])? * &gu[1])?;
            x = (layer.down.forward(&h)? + x)?;
        }
        let x = self.norm.forward(&x.i((.., seq - 1.., ..))?)?;
        self.output.forward(&x)?.squeeze(1)
    }
}

fn rope_tables(head_dim: usize, base: f32, max_seq: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
    let positions = Tensor::arange(0, max_seq as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((max_seq, 1))?;
    let angles = positions.broadcast_mul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Additive mask `(seq, pos + seq)`: 0 where query `pos + i` may see key `j`, -inf after it.
fn causal_mask(seq: usize, pos: usize, device: &Device) -> Result<Tensor> {
    let kv = pos + seq;
    let data: Vec<f32> = (0..seq)
        .flat_map(|i| (0..kv).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (seq, kv), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_only_the_future() -> Result<()> {
        let m = causal_mask(2, 3, &Device::Cpu)?.to_vec2::<f32>()?;
        assert_eq!(m[0], vec![0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY]);
        assert_eq!(m[1], vec![0.0; 5]);
        Ok(())
    }

    #[test]
    fn fused_projection_equals_separate_ones() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 64), &dev)?;
        let w1 = Tensor::randn(0f32, 1.0, (32, 64), &dev)?;
        let w2 = Tensor::randn(0f32, 1.0, (64, 64), &dev)?;
        let b1 = Tensor::randn(0f32, 1.0, 32, &dev)?;
        let b2 = Tensor::randn(0f32, 1.0, 64, &dev)?;
        let q = |w: &Tensor| QTensor::quantize(w, candle_core::quantized::GgmlDType::Q8_0);
        let group = Group::new(vec![(q(&w1)?, Some(b1.clone())), (q(&w2)?, Some(b2.clone()))])?;
        assert!(matches!(group, Group::Fused(..)));
        let apart = [Linear::new(q(&w1)?, Some(b1))?, Linear::new(q(&w2)?, Some(b2))?];
        for rows in [1, DENSE_MIN_ROWS + 1] {
            let x = x.broadcast_as((1, rows, 3, 64))?.reshape((1, rows * 3, 64))?;
            let fused = group.forward(&x)?;
            for (f, l) in fused.iter().zip(&apart) {
                let diff = (f - l.forward(&x)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 0.5, "fused and separate projections differ by {diff}");
            }
        }
        Ok(())
    }

    /// The real default model against candle-transformers' reference implementation of the same maths: the
    /// prompt (dense prefill) and the following steps (quantized decode) give the same next tokens and close
    /// logits.
    #[test]
    fn smollm2_matches_the_reference_decoder() -> std::result::Result<(), Box<dyn std::error::Error>> {
        use candle_transformers::models::quantized_llama::ModelWeights;
        let store = crate::models::ModelStore::new(crate::models::ModelStore::default_cache_dir(), "python3".into());
        let dir = store.ensure(&crate::models::SMOLLM2, &crate::progress::NoProgress)?;
        let progress = crate::progress::NoProgress;
        let path = crate::generate::requantize_if_needed(
            &dir.join("model.gguf"),
            &store.cache_dir().join("requantized"),
            &progress,
        )?;
        let dev = Device::Cpu;
        let read = || -> std::result::Result<(std::fs::File, Content), Box<dyn std::error::Error>> {
            let mut f = std::fs::File::open(&path)?;
            let c = Content::read(&mut f)?;
            Ok((f, c))
        };
        let (mut f, c) = read()?;
        let mut ours = Decoder::from_gguf("llama", &c, &mut f, &dev, 256)?;
        let (mut f, c) = read()?;
        let mut reference = ModelWeights::from_gguf(c, &mut f, &dev)?;
        let prompt: Vec<u32> = (0..40u32).map(|i| 100 + i * 37).collect();
        let mut input = Tensor::new(prompt.as_slice(), &dev)?.unsqueeze(0)?;
        let mut pos = 0;
        for step in 0..8 {
            let a = ours.forward(&input, pos)?.squeeze(0)?;
            let b = reference.forward(&input, pos)?.squeeze(0)?;
            // Teacher-forced on the reference's choice, which must be (near) the top of ours too.
            let next = b.argmax(0)?.to_scalar::<u32>()?;
            let ours_best = a.max(0)?.to_scalar::<f32>()?;
            let ours_next = a.get(next as usize)?.to_scalar::<f32>()?;
            assert!(
                ours_best - ours_next < 0.5,
                "step {step}: reference token {next} scores {ours_next}, best {ours_best}"
            );
            // Both quantize activations to 8 bits, in different block layouts: compare directions.
            let dot = (&a * &b)?.sum_all()?.to_scalar::<f32>()?;
            let norm = |t: &Tensor| t.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>();
            let cosine = dot / (norm(&a)? * norm(&b)?);
            assert!(cosine > 0.998, "step {step}: logits cosine {cosine}");
            pos += input.dim(1)?;
            input = Tensor::new(&[next], &dev)?.unsqueeze(0)?;
        }
        Ok(())
    }
}
