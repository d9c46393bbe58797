#!/usr/bin/env bash
# The GPU check (issue 18): one prepared script for a lent GPU machine, where nothing can be fetched and at most
# 64 MiB travels. It needs no model download and no Rust toolchain there:
#
#   bash eval/gpu-check.sh --prepare [--pack]
#                                       # here: builds rag and rag-eval with `--features cuda`
#                                       # (toolkit from PyPI, eval/cuda-toolkit.sh), strips them into .gpu/
#                                       # with libcudart (.ci/run does this too, and tests/cuda_build.rs runs
#                                       # the result without a driver)
#                                       # --pack: rag-eval xz-compressed for the trip (the stripped CUDA
#                                       # binary is 111 MB, 21 MB packed; at most 64 MiB travel)
#   bash eval/gpu-check.sh              # there (carry .gpu/rag-eval.xz and .gpu/lib): parity, then speed;
#                                       # writes $OUT/gpu-check.json
#
# On the device, in order, each step bounded by `timeout`:
# 1. parity: the generated tiny decoders (llama and qwen2 families, Q8_0 and Q4_K) decoded greedily on the CPU
#    and on CUDA: same tokens, largest logit difference (rag-eval parity; exits 1 on disagreement);
# 2. generation speed on CUDA: prefill and decode tokens/s of generated 0.5B-, 1.5B- (qwen2) and 7B-shaped
#    (llama) models in Q4_K and Q8_0 (rag-eval synth-gguf + bench-generate, 1,000 prompt tokens, 128 generated);
# 3. embedder speed on CUDA: a random BERT of all-MiniLM-L6-v2's shape (synth-bert), 20,000 texts of about 200
#    words (bench-embed --synthetic).
# Everything is generated from seeds on the device; the results are one JSON file.
set -uo pipefail
cd "$(dirname "$0")/.."
carried=.gpu

if [ "${1:-}" = "--prepare" ]; then
  set -e
  eval "$(bash eval/cuda-toolkit.sh)"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rag-target}"
  cp Cargo.lock "$CARGO_TARGET_DIR/Cargo.lock.before-cuda"
  # shellcheck disable=SC2086 # RAG_CUDA_CARGO is two words on purpose
  cargo build -p rag -p rag-eval --bins --features rag/cuda,rag-eval/cuda $RAG_CUDA_CARGO
  # The patched cudarc changes the lock file's source line for it; the repository keeps the registry one.
  cp "$CARGO_TARGET_DIR/Cargo.lock.before-cuda" Cargo.lock
  mkdir -p "$carried/lib"
  for bin in rag rag-eval; do
    cp "$CARGO_TARGET_DIR/debug/$bin" "$carried/$bin"
    strip "$carried/$bin"
  done
  cp -L "$CUDA_ROOT/lib/libcudart.so.13" "$carried/lib/"
  if [ "${2:-}" = "--pack" ]; then
    xz -T0 -6 -c "$carried/rag-eval" > "$carried/rag-eval.xz"
  fi
  du -h "$carried"/rag* "$carried"/lib/*
  echo "prepared: carry .gpu/rag-eval.xz and .gpu/lib (run: bash eval/gpu-check.sh)"
  exit 0
fi

started=$(date +%s)
out="${OUT:-/tmp/gpu-check}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
exec > >(tee "$out/gpu-check.log") 2>&1

eval_bin="$carried/rag-eval"
if [ ! -x "$eval_bin" ] && [ -f "$carried/rag-eval.xz" ]; then
  eval_bin="$work/rag-eval"
  if command -v xz >/dev/null; then
    xz -d -c "$carried/rag-eval.xz" > "$eval_bin"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$carried/rag-eval.xz" "$eval_bin"
  fi
  chmod +x "$eval_bin"
fi
[ -x "$eval_bin" ] || { echo "no $eval_bin: run bash eval/gpu-check.sh --prepare --pack first, and carry .gpu"; exit 2; }

# The CUDA libraries opened at run time: the carried libcudart, and cuBLAS, cuRAND and NVRTC from wherever the
# machine has them (a CUDA toolkit, or the nvidia-* wheels beside PyTorch).
libdirs="$PWD/$carried/lib"
for lib in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  found="$(find /usr/local/cuda* /opt /usr/lib /usr/local/lib -name "$lib*" 2>/dev/null | head -1)"
  if [ -n "$found" ]; then libdirs="$libdirs:$(dirname "$found")"; else echo "warning: $lib not found"; fi
done
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$work/gpu.txt"

step() { # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s.%N)
  echo "== $name"
  timeout "$limit" "$@" > "$work/$name.json" 2> "$work/$name.err"
  local rc=$?
  cat "$work/$name.json"; tail -3 "$work/$name.err"
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')}" >> "$work/steps.jsonl"
}

# 1. Parity on the tiny models.
for family in llama qwen2; do
  for quant in q8_0 q4_k; do
    model="$work/tiny-$family-$quant.gguf"
    "$eval_bin" synth-gguf "$model" --family "$family" --shape tiny --quant "$quant" --seed 42 >/dev/null
    step "parity-$family-$quant" 120 "$eval_bin" parity "$model" --against cuda --steps 32
  done
done

# 2. Generation speed on CUDA at each shape.
gen_config="$work/gen.toml"
for spec in qwen2:0.5b:q4_k qwen2:0.5b:q8_0 qwen2:1.5b:q4_k llama:7b:q4_k llama:7b:q8_0; do
  IFS=: read -r family shape quant <<<"$spec"
  model="$work/$family-$shape-$quant.gguf"
  step "synth-$family-$shape-$quant" 180 "$eval_bin" synth-gguf "$model" --family "$family" --shape "$shape" \
    --quant "$quant" --seed 1 --context 4096
  printf '[generate]\ndevice = "cuda"\nrequantize = false\ncontext_tokens = 4096\n' > "$gen_config"
  step "generate-$family-$shape-$quant" 180 "$eval_bin" --config "$gen_config" bench-generate --llm "$model" \
    --prompt-tokens 1000 --gen 128
  rm -f "$model"
done

# 3. Embedder speed on CUDA.
"$eval_bin" synth-bert "$work/bert" --seed 1 >/dev/null
printf '[embed]\nbackend = "candle"\ndevice = "cuda"\nmodel = "%s"\n' "$work/bert" > "$work/embed.toml"
step "embed-minilm-shape" 180 "$eval_bin" --config "$work/embed.toml" bench-embed --synthetic 20000 --batch 64 --sort

python3 - "$work" "$out/gpu-check.json" "$started" <<'PY'
import glob, json, os, sys, time
work, dest, started = sys.argv[1], sys.argv[2], int(sys.argv[3])
steps = [json.loads(l) for l in open(os.path.join(work, "steps.jsonl"))]
result = {"gpu": open(os.path.join(work, "gpu.txt")).read().strip(), "steps": []}
for s in steps:
    path = os.path.join(work, s["step"] + ".json")
    text = open(path).read().strip() if os.path.exists(path) else ""
    try:
        s["result"] = json.loads(text.splitlines()[-1]) if text else None
    except Exception:
        s["result"] = text[-2000:]
    err = os.path.join(work, s["step"] + ".err")
    if s["rc"] != 0 and os.path.exists(err):
        s["stderr"] = open(err).read()[-2000:]
    result["steps"].append(s)
result["wall_seconds"] = round(time.time() - started, 1)
result["all_ok"] = all(s["rc"] == 0 for s in steps)
json.dump(result, open(dest, "w"), indent=1)
print(json.dumps({"wall_seconds": result["wall_seconds"], "all_ok": result["all_ok"]}))
PY
