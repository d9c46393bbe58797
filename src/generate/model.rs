//! The decoder for the llama and qwen2 GGUF families, written for CPU speed on candle's quantized tensors.
//!
//! It follows candle-transformers' `quantized_llama`/`quantized_qwen2` (same tensor names, same maths; the
//! tests compare the two on the real models) and changes what the profiles pointed at (eval/RESULTS.md):
//! - Q8_0 rows whose width is not a multiple of 256 are padded with zero blocks, so candle runs its repacked
//!   AVX-512/AVX VNNI integer kernels instead of one AVX2 dot product per row (3.5-5x per matmul);
//! - prefill multiplies by the repacked kernels when they apply (2-2.6x a dense f32 GEMM) and otherwise by the
//!   weights dequantized to f32 with a tiled GEMM, never one quantized dot product per (row, column);
//! - q/k/v and gate/up are fused into one matrix each: one activation quantization, one parallel region;
//! - the decode step runs on plain vectors (candle ops cost microseconds each whatever their size, and a step
//!   is hundreds of them): only the projections go through candle; attention reads a position-major KV cache
//!   once per step, split over positions across threads, every query head of a group at once;
//! - candle's thread-count lookup no longer parses /proc/cpuinfo on every matmul (see `device`).

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::kv_cache::KvCache;
use candle_transformers::quantized_nn::RmsNorm;

/// Fewest cached positions one thread attends over in the decode step.
const ATTENTION_SPAN: usize = 64;

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
    /// Whether candle multiplies many rows by `weight` with its repacked integer kernels, 2-2.6x faster than a
    /// dense f32 GEMM on the dequantized weights (eval/RESULTS.md); otherwise prefill takes the dense path.
    repacked: bool,
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

/// Whether candle 0.11 has repacked x86 kernels for a `(n, k)` matrix of `dtype` with several rows: the
/// conditions of its `repack_x86::select`.
fn has_repacked_kernels(dtype: candle_core::quantized::GgmlDType, n: usize, k: usize) -> bool {
    use candle_core::quantized::GgmlDType;
    if !k.is_multiple_of(VNNI_K) || !n.is_multiple_of(VNNI_N) {
        return false;
    }
    match dtype {
        GgmlDType::Q8_0 => has_vnni(),
        GgmlDType::Q4K | GgmlDType::Q6K => has_avx2_fma(),
        _ => false,
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
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
        let (n, padded_k) = weight.shape().dims2()?;
        let repacked = weight.device().is_cpu() && has_repacked_kernels(weight.dtype(), n, padded_k);
        let weight = Arc::new(weight);
        let matmul = QMatMul::from_arc(weight.clone())?;
        Ok(Linear {
            weight,
            matmul,
            bias,
            k,
            padded_k,
            repacked,
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

    /// One row on the CPU, from and to plain vectors (the decode step).
    fn forward_row(&self, x: &[f32]) -> Result<Vec<f32>> {
        let mut row = Vec::with_capacity(self.padded_k);
        row.extend_from_slice(x);
        row.resize(self.padded_k, 0.0);
        let input = Tensor::from_vec(row, (1, self.padded_k), &Device::Cpu)?;
        let mut y = self.matmul.forward(&input)?.flatten_all()?.to_vec1::<f32>()?;
        if let Some(b) = &self.bias {
            for (y, b) in y.iter_mut().zip(b.to_vec1::<f32>()?) {
                *y += b;
            }
        }
        Ok(y)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (k, rows) = match x.dims().split_last() {
            Some((&k, batch)) => (k, batch.iter().product::<usize>()),
            None => candle_core::bail!("projection input has no dimensions"),
        };
        let y = match &self.matmul {
            QMatMul::QTensor(_) if rows >= DENSE_MIN_ROWS && !self.repacked && x.device().is_cpu() => {
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

    /// One row on the CPU: the outputs one after the other.
    fn forward_row(&self, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            Group::Fused(linear, _) => linear.forward_row(x),
            Group::Apart(linears) => {
                let mut out = Vec::new();
                for l in linears {
                    out.extend(l.forward_row(x)?);
                }
                Ok(out)
            }
        }
    }
}

/// A copy of a quantized tensor (QTensor is not Clone).
fn requote(w: &QTensor) -> Result<QTensor> {
    let storage = QStorage::from_data(w.data()?, &w.device(), w.dtype())?;
    QTensor::new(storage, w.shape().clone())
}

/// Keys and values of the positions seen so far.
enum Cache {
    /// On the CPU: plain vectors, position-major (`[pos][kv_head][head_dim]`), appended to in place.
    Host { k: Vec<f32>, v: Vec<f32> },
    /// On a GPU: candle's preallocated cache.
    Device(KvCache),
}

struct Layer {
    /// The norms' weights, for the CPU decode step.
    attn_norm_w: Vec<f32>,
    ffn_norm_w: Vec<f32>,
    attn_norm: RmsNorm,
    qkv: Group,
    out: Linear,
    ffn_norm: RmsNorm,
    gate_up: Group,
    down: Linear,
    cache: Cache,
}

/// A llama/qwen2 decoder with its KV cache.
pub(crate) struct Decoder {
    embedding: Arc<QTensor>,
    layers: Vec<Layer>,
    norm: RmsNorm,
    norm_w: Vec<f32>,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    rope_neox: bool,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    max_seq: usize,
    eps: f32,
    /// `cos`/`sin` as plain vectors, `[pos][head_dim / 2]`.
    cos_host: Vec<f32>,
    sin_host: Vec<f32>,
    device: Device,
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
        let norm = tensor("output_norm.weight", reader)?;
        let norm_host: Vec<f32> = norm.dequantize(&Device::Cpu)?.to_vec1()?;
        let norm = RmsNorm::from_qtensor(norm, eps)?;
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
            let attn_norm = tensor(&format!("{p}.attn_norm.weight"), reader)?;
            let ffn_norm = tensor(&format!("{p}.ffn_norm.weight"), reader)?;
            layers.push(Layer {
                attn_norm_w: attn_norm.dequantize(&Device::Cpu)?.to_vec1()?,
                ffn_norm_w: ffn_norm.dequantize(&Device::Cpu)?.to_vec1()?,
                attn_norm: RmsNorm::from_qtensor(attn_norm, eps)?,
                qkv: Group::new(vec![q, k, v])?,
                out: Linear::new(tensor(&format!("{p}.attn_output.weight"), reader)?, None)?,
                ffn_norm: RmsNorm::from_qtensor(ffn_norm, eps)?,
                gate_up: Group::new(vec![gate, up])?,
                down: Linear::new(tensor(&format!("{p}.ffn_down.weight"), reader)?, None)?,
                cache: match device.is_cpu() {
                    true => Cache::Host {
                        k: Vec::new(),
                        v: Vec::new(),
                    },
                    false => Cache::Device(KvCache::new(2, max_seq)),
                },
            });
        }
        let norm_w = norm_host;
        Ok(Decoder {
            norm_w,
            eps: eps as f32,
            cos_host: cos.flatten_all()?.to_vec1()?,
            sin_host: sin.flatten_all()?.to_vec1()?,
            device: device.clone(),
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

    /// Keeps the first `len` cached positions and forgets the rest, so that a prompt sharing them with the last
    /// one is processed from `len` on. Returns the positions kept: `len` on the CPU, 0 on a GPU (candle's cache
    /// there can only be reset).
    pub(crate) fn truncate_kv_cache(&mut self, len: usize) -> usize {
        let row = self.n_kv_head * self.head_dim;
        let mut kept = len;
        for layer in &self.layers {
            match &layer.cache {
                Cache::Host { k, .. } => kept = kept.min(k.len() / row),
                Cache::Device(_) => kept = 0,
            }
        }
        for layer in &mut self.layers {
            match &mut layer.cache {
                Cache::Host { k, v } => {
                    k.truncate(kept * row);
                    v.truncate(kept * row);
                }
                Cache::Device(c) => c.reset(),
            }
        }
        kept
    }

    /// Runs `tokens` (shape `(1, n)`) at positions `pos..pos + n`; returns the logits of the last one.
    pub(crate) fn forward(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = tokens.dims2()?;
        if pos + seq > self.max_seq {
            candle_core::bail!("{} positions exceed the context of {}", pos + seq, self.max_seq);
        }
        if seq == 1 && self.device.is_cpu() {
            let token = tokens.flatten_all()?.to_vec1::<u32>()?[0];
            return self.step(token, pos);
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
            let (k, v) = match &mut layer.cache {
                Cache::Device(c) => c.append(&k, &v)?,
                Cache::Host { k: hk, v: hv } => {
                    let expected = pos * n_kv * hd;
                    if hk.len() != expected {
                        candle_core::bail!("cache holds {} values, position {pos} needs {expected}", hk.len());
                    }
                    let rows = |t: &Tensor| t.transpose(1, 2)?.flatten_all()?.to_vec1::<f32>();
                    hk.extend(rows(&k)?);
                    hv.extend(rows(&v)?);
                    if pos == 0 {
                        (k, v)
                    } else {
                        let all = |c: &[f32]| {
                            Tensor::from_slice(c, (1, pos + seq, n_kv, hd), &Device::Cpu)?
                                .transpose(1, 2)?
                                .contiguous()
                        };
                        (all(hk)?, all(hv)?)
                    }
                }
            };
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

impl Decoder {
    /// One token at `pos` on the CPU, on plain vectors: the decode step. A candle op costs microseconds of
    /// dispatch and allocation whatever its size, and a step of a small model is hundreds of tiny ops; here
    /// only the four projections per layer go through candle's kernels.
    fn step(&mut self, token: u32, pos: usize) -> Result<Tensor> {
        let (n_head, n_kv, hd) = (self.n_head, self.n_kv_head, self.head_dim);
        let half = hd / 2;
        let cos = &self.cos_host[pos * half..(pos + 1) * half];
        let sin = &self.sin_host[pos * half..(pos + 1) * half];
        let scale = 1.0 / (hd as f32).sqrt();
        let mut x: Vec<f32> = self
            .embedding
            .embedding(&Tensor::new(&[token], &Device::Cpu)?)?
            .flatten_all()?
            .to_vec1()?;
        let mut y = vec![0f32; n_head * hd];
        for layer in &mut self.layers {
            let h = rms_norm(&x, &layer.attn_norm_w, self.eps);
            let mut qkv = layer.qkv.forward_row(&h)?;
            if qkv.len() != (n_head + 2 * n_kv) * hd {
                candle_core::bail!("q/k/v projections return {} values", qkv.len());
            }
            let (q, kv) = qkv.split_at_mut(n_head * hd);
            let (k, v) = kv.split_at_mut(n_kv * hd);
            for head in q.chunks_exact_mut(hd).chain(k.chunks_exact_mut(hd)) {
                rope(head, cos, sin, self.rope_neox);
            }
            let Cache::Host { k: kc, v: vc } = &mut layer.cache else {
                candle_core::bail!("the CPU step needs the host cache");
            };
            if kc.len() != pos * n_kv * hd {
                candle_core::bail!(
                    "cache holds {} values, position {pos} needs {}",
                    kc.len(),
                    pos * n_kv * hd
                );
            }
            kc.extend_from_slice(k);
            vc.extend_from_slice(v);
            // Split-K attention: ranges of cached positions in parallel on candle's pool (the projections'
            // threads, idle between kernels), each giving every head a partial softmax, merged below. Each
            // cached row is read once, by one thread, for all the query heads that share it.
            let positions = pos + 1;
            let span = ATTENTION_SPAN.max(positions.div_ceil(candle_core::utils::get_num_threads().max(1) * 4));
            let parts: Vec<std::sync::Mutex<Option<simd::Partial>>> = (0..positions.div_ceil(span))
                .map(|_| std::sync::Mutex::new(None))
                .collect();
            let heads = simd::Heads {
                q,
                kc,
                vc,
                n_kv,
                hd,
                scale,
            };
            candle_core::utils::barrier_pool().execute_chunked(parts.len(), |items| {
                for item in items {
                    let range = item * span..((item + 1) * span).min(positions);
                    let part = simd::attend(&heads, range);
                    *parts[item].lock().unwrap_or_else(|e| e.into_inner()) = Some(part);
                }
            });
            let parts: Vec<simd::Partial> = parts
                .into_iter()
                .filter_map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
                .collect();
            simd::merge(&parts, hd, &mut y);
            let o = layer.out.forward_row(&y)?;
            add_assign(&mut x, &o);
            let h = rms_norm(&x, &layer.ffn_norm_w, self.eps);
            let gu = layer.gate_up.forward_row(&h)?;
            let (gate, up) = gu.split_at(gu.len() / 2);
            let act: Vec<f32> = gate.iter().zip(up).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u).collect();
            let d = layer.down.forward_row(&act)?;
            add_assign(&mut x, &d);
        }
        let h = rms_norm(&x, &self.norm_w, self.eps);
        let logits = self.output.forward_row(&h)?;
        let n = logits.len();
        Tensor::from_vec(logits, (1, n), &Device::Cpu)
    }
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mean = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (mean + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * r * w).collect()
}

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

/// Rotates one head at one position: pairs `(i, i + d/2)` (neox, qwen2) or `(2i, 2i + 1)` (llama).
fn rope(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    let half = x.len() / 2;
    for i in 0..half {
        let (a, b) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (x[a], x[b]);
        x[a] = x0 * cos[i] - x1 * sin[i];
        x[b] = x0 * sin[i] + x1 * cos[i];
    }
}

/// Attention of one query head over the cached positions, compiled for AVX2+FMA when the CPU has it (the
/// default x86-64 target stops at SSE2).
mod simd {
    // No closures in here: a closure is a function of its own and does not inherit the target features, so
    // `mul_add` there would become a call to the software `fmaf`.
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let mut ca = a.chunks_exact(16);
        let mut cb = b.chunks_exact(16);
        for (x, y) in ca.by_ref().zip(cb.by_ref()) {
            for l in 0..16 {
                acc[l] = x[l].mul_add(y[l], acc[l]);
            }
        }
        let mut sum = 0.0;
        for v in acc {
            sum += v;
        }
        for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
            sum += x * y;
        }
        sum
    }

    /// One decode step's attention inputs: `q` holds all the query heads (`hd` wide), the caches are
    /// position-major over `n_kv` key/value heads.
    #[derive(Clone, Copy)]
    pub(super) struct Heads<'a> {
        pub(super) q: &'a [f32],
        pub(super) kc: &'a [f32],
        pub(super) vc: &'a [f32],
        pub(super) n_kv: usize,
        pub(super) hd: usize,
        pub(super) scale: f32,
    }

    /// Attention of every query head over a range of cached positions: per head the largest score, the sum
    /// of `exp(score - max)`, and the value rows weighted by those exponentials.
    pub(super) struct Partial {
        max: Vec<f32>,
        sum: Vec<f32>,
        out: Vec<f32>,
    }

    #[inline(always)]
    fn attend_body(heads: &Heads<'_>, range: std::ops::Range<usize>) -> Partial {
        let Heads {
            q,
            kc,
            vc,
            n_kv,
            hd,
            scale,
        } = *heads;
        let n_head = q.len() / hd;
        let rep = n_head / n_kv;
        let stride = n_kv * hd;
        let len = range.len();
        let mut scores = vec![0f32; n_head * len];
        for (i, j) in range.clone().enumerate() {
            for group in 0..n_kv {
                let at = j * stride + group * hd;
                let k = &kc[at..at + hd];
                for r in 0..rep {
                    let head = group * rep + r;
                    scores[head * len + i] = dot(&q[head * hd..(head + 1) * hd], k) * scale;
                }
            }
        }
        let mut max = vec![f32::NEG_INFINITY; n_head];
        let mut sum = vec![0f32; n_head];
        for (head, row) in scores.chunks_exact_mut(len.max(1)).enumerate() {
            for &s in row.iter() {
                if s > max[head] {
                    max[head] = s;
                }
            }
            for s in row.iter_mut() {
                *s = (*s - max[head]).exp();
                sum[head] += *s;
            }
        }
        let mut out = vec![0f32; n_head * hd];
        for (i, j) in range.enumerate() {
            for group in 0..n_kv {
                let at = j * stride + group * hd;
                let v = &vc[at..at + hd];
                for r in 0..rep {
                    let head = group * rep + r;
                    let p = scores[head * len + i];
                    for (o, v) in out[head * hd..(head + 1) * hd].iter_mut().zip(v) {
                        *o = p.mul_add(*v, *o);
                    }
                }
            }
        }
        Partial { max, sum, out }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn attend_avx2(heads: &Heads<'_>, range: std::ops::Range<usize>) -> Partial {
        attend_body(heads, range)
    }

    /// See [`Partial`] and [`Heads`].
    pub(super) fn attend(heads: &Heads<'_>, range: std::ops::Range<usize>) -> Partial {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for (checked just above).
            return unsafe { attend_avx2(heads, range) };
        }
        attend_body(heads, range)
    }

    /// Combines partial softmaxes over disjoint ranges into the attention output `y` (heads of `hd`).
    pub(super) fn merge(parts: &[Partial], hd: usize, y: &mut [f32]) {
        for (head, yh) in y.chunks_exact_mut(hd).enumerate() {
            let max = parts.iter().map(|p| p.max[head]).fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0;
            yh.fill(0.0);
            for p in parts {
                let w = (p.max[head] - max).exp();
                total += w * p.sum[head];
                for (y, o) in yh.iter_mut().zip(&p.out[head * hd..(head + 1) * hd]) {
                    *y += w * o;
                }
            }
            for y in yh.iter_mut() {
                *y /= total;
            }
        }
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

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// Runs our decoder and candle-transformers' reference implementation of the same maths on a real model:
    /// a 40-token prompt (dense or repacked prefill), single steps (the CPU decode step), a 20-token chunk at
    /// a later position (prefill over the host cache), more single steps. Teacher-forced on the reference's
    /// choice, which must be at (or within 0.5 logit of) the top of ours, with logits pointing the same way.
    fn compare_with_reference<R>(
        spec: &crate::models::ModelSpec,
        arch: &str,
        load: impl FnOnce(&mut std::fs::File, Content) -> Result<R>,
        forward: impl Fn(&mut R, &Tensor, usize) -> Result<Tensor>,
    ) -> TestResult {
        let store = crate::models::ModelStore::new(crate::models::ModelStore::default_cache_dir(), "python3".into());
        let dir = store.ensure(spec, &crate::progress::NoProgress)?;
        let path = crate::generate::requantize_if_needed(
            &dir.join("model.gguf"),
            &store.cache_dir().join("requantized"),
            &crate::progress::NoProgress,
        )?;
        let dev = Device::Cpu;
        let mut f = std::fs::File::open(&path)?;
        let c = Content::read(&mut f)?;
        let mut ours = Decoder::from_gguf(arch, &c, &mut f, &dev, 256)?;
        let mut f = std::fs::File::open(&path)?;
        let c = Content::read(&mut f)?;
        let mut reference = load(&mut f, c)?;
        let mut pos = 0;
        let mut next = 0u32;
        let chunk = |n: u32, from: u32| (0..n).map(|i| from + i * 37).collect::<Vec<u32>>();
        let schedule = [
            chunk(40, 100),
            vec![],
            vec![],
            vec![],
            chunk(20, 3000),
            vec![],
            vec![],
            vec![],
        ];
        for (step, tokens) in schedule.iter().enumerate() {
            let tokens = if tokens.is_empty() { vec![next] } else { tokens.clone() };
            let input = Tensor::new(tokens.as_slice(), &dev)?.unsqueeze(0)?;
            let a = ours.forward(&input, pos)?.squeeze(0)?;
            let b = forward(&mut reference, &input, pos)?.squeeze(0)?;
            next = b.argmax(0)?.to_scalar::<u32>()?;
            let ours_best = a.max(0)?.to_scalar::<f32>()?;
            let ours_next = a.get(next as usize)?.to_scalar::<f32>()?;
            assert!(
                ours_best - ours_next < 0.5,
                "{arch} step {step}: reference token {next} scores {ours_next}, best {ours_best}"
            );
            // Both quantize activations to 8 bits, in different block layouts: compare directions.
            let dot = (&a * &b)?.sum_all()?.to_scalar::<f32>()?;
            let norm = |t: &Tensor| t.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>();
            let cosine = dot / (norm(&a)? * norm(&b)?);
            assert!(cosine > 0.998, "{arch} step {step}: logits cosine {cosine}");
            pos += tokens.len();
        }
        Ok(())
    }

    #[test]
    fn smollm2_matches_the_reference_decoder() -> TestResult {
        use candle_transformers::models::quantized_llama::ModelWeights;
        let load = |f: &mut std::fs::File, c| ModelWeights::from_gguf(c, f, &Device::Cpu);
        compare_with_reference(&crate::models::SMOLLM2, "llama", load, |m, x, pos| m.forward(x, pos))
    }

    #[test]
    fn qwen25_matches_the_reference_decoder() -> TestResult {
        use candle_transformers::models::quantized_qwen2::ModelWeights;
        let load = |f: &mut std::fs::File, c| ModelWeights::from_gguf(c, f, &Device::Cpu);
        compare_with_reference(&crate::models::QWEN25_05B, "qwen2", load, |m, x, pos| m.forward(x, pos))
    }
}
