# Sourced by eval/serve-load.sh and eval/mcp-load.sh: the binaries, the shared data, the work folder, and SciFact
# as one file per document in $WORK/scifact, split into what is indexed ahead (pre/, 3,683 documents) and what
# serve-load's phase 2 ingests through the API (api/, 1,500).
BIN="${CARGO_TARGET_DIR:-$HOME/.cache/rag-target}/debug"
RAG="$BIN/rag"
EVAL="$BIN/rag-eval"
SHARED="$(cd ../shared && pwd)"
WORK="${WORK:-/tmp/rag-load}"
mkdir -p "$WORK"
if [ ! -d "$WORK/scifact/api" ]; then
  rm -rf "$WORK/scifact"
  "$EVAL" beir-to-files "$SHARED/datasets/beir-scifact" "$WORK/scifact/all"
  mkdir -p "$WORK/scifact/api" "$WORK/scifact/pre"
  (cd "$WORK/scifact/all" && ls | sort | head -n 1500 | xargs mv -t ../api && ls | xargs mv -t ../pre)
  rmdir "$WORK/scifact/all"
fi
