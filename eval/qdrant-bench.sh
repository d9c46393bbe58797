#!/usr/bin/env bash
# SciFact retrieval and ingest, side by side, on one machine in one run: the embedded index, a 1-node Qdrant
# server (1 shard) and a 3-node Qdrant cluster on loopback (6 shards, replication factor 2). Then, with
# SYNTH_DOCS=N (default 0: skipped), N synthetic documents into the cluster and `rag index copy` of the same
# index from an embedded directory into the cluster.
#
#   bash eval/qdrant-bench.sh            # about 12 minutes on 2 cores
#   SYNTH_DOCS=100000 bash eval/qdrant-bench.sh
#   SYNTH_DOCS=100000 SCIFACT=0 bash eval/qdrant-bench.sh   # the synthetic part alone
#   EMBEDDED=0 CLUSTER=0 bash eval/qdrant-bench.sh            # SciFact on the single node alone
#   QDRANT_PROFILE=perf bash eval/qdrant-bench.sh             # an optimised server (the default kit build is
#                                                             # Qdrant's `ci` profile, opt-level 0)
#
# Servers listen on 127.0.0.1 only, on free ports, with storage in a temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rag-target}"
cargo build -q --bin rag && cargo build -q -p rag-eval --bin rag-eval
RAG="$CARGO_TARGET_DIR/debug/rag"
if [ -n "${QDRANT_PROFILE:-}" ]; then
  QDRANT="$(bash ../shared/vendor/qdrant/build.sh)"
else
  QDRANT="${RAG_QDRANT_BIN:-$(bash ../shared/vendor/qdrant/build.sh)}"
fi
echo "server: $QDRANT"
DATASET=../shared/datasets/beir-scifact
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK"; }
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # http port
  python3 - "$1" <<'EOF'
import sys, time, urllib.request
port = sys.argv[1]
deadline = time.time() + 90
while time.time() < deadline:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(f"qdrant on {port} not ready")
EOF
}

# start_node NAME [BOOTSTRAP_P2P_PORT]: prints "HTTP GRPC P2P"; CLUSTER_MODE=1 for cluster mode.
start_node() {
  local name=$1 bootstrap=${2:-} http grpc p2p
  http=$(free_port); grpc=$(free_port); p2p=$(free_port)
  mkdir -p "$WORK/$name"
  local args=()
  if [ "${CLUSTER_MODE:-0}" = 1 ]; then
    args+=(--uri "http://127.0.0.1:$p2p")
    [ -n "$bootstrap" ] && args+=(--bootstrap "http://127.0.0.1:$bootstrap")
  fi
  (cd "$WORK/$name" && \
    QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=$http QDRANT__SERVICE__GRPC_PORT=$grpc \
    QDRANT__STORAGE__STORAGE_PATH="$WORK/$name/storage" QDRANT__STORAGE__SNAPSHOTS_PATH="$WORK/$name/snapshots" \
    QDRANT__TELEMETRY_DISABLED=true QDRANT__LOG_LEVEL=WARN \
    QDRANT__CLUSTER__ENABLED=$([ "${CLUSTER_MODE:-0}" = 1 ] && echo true || echo false) QDRANT__CLUSTER__P2P__PORT=$p2p \
    exec "$QDRANT" "${args[@]}" >"$WORK/$name/log" 2>&1) &
  PIDS+=($!)
  wait_ready "$http"
  echo "$http $grpc $p2p"
}

if [ "${SCIFACT:-1}" = 1 ] && [ "${EMBEDDED:-1}" = 1 ]; then
  echo "== SciFact, embedded index"
  "$RAG" --quiet --index "$WORK/embedded" eval retrieval --dataset "$DATASET"
fi
if [ "${SCIFACT:-1}" = 1 ]; then
  echo "== SciFact, Qdrant 1.16.3, 1 node, 1 shard"
  read -r _ G1 _ < <(start_node single)
  "$RAG" --quiet --index "qdrant://127.0.0.1:$G1/scifact" eval retrieval --dataset "$DATASET"
fi

if [ "${CLUSTER:-1}" = 0 ] && [ "${SYNTH_DOCS:-0}" = 0 ]; then exit 0; fi
echo "== Qdrant 1.16.3, 3-node cluster, 6 shards, replication factor 2"
read -r _ C1 P1 < <(CLUSTER_MODE=1 start_node c1)
CLUSTER_MODE=1 start_node c2 "$P1" >/dev/null
CLUSTER_MODE=1 start_node c3 "$P1" >/dev/null
sleep 3
printf '[index]\nshards = 6\nreplication_factor = 2\n' > "$WORK/cluster.toml"
if [ "${SCIFACT:-1}" = 1 ] && [ "${CLUSTER:-1}" = 1 ]; then
  "$RAG" --quiet --config "$WORK/cluster.toml" --index "qdrant://127.0.0.1:$C1/scifact" eval retrieval --dataset "$DATASET"
fi

if [ "${SYNTH_DOCS:-0}" -gt 0 ]; then
  echo "== $SYNTH_DOCS synthetic documents into the cluster"
  "$CARGO_TARGET_DIR/debug/rag-eval" synth-corpus "$WORK/synth" --docs "$SYNTH_DOCS"
  /usr/bin/time -f "cluster ingest: %e s wall, %M KB peak RSS of rag" \
    "$RAG" --quiet --config "$WORK/cluster.toml" --index "qdrant://127.0.0.1:$C1/synth" ingest "$WORK/synth" --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print({k: r[k] for k in ("files","chunks","elapsed_s","embed_s","chunks_per_s")})'
  echo "== rag index copy: cluster -> embedded directory, then embedded -> a new cluster collection"
  "$RAG" --quiet --index "qdrant://127.0.0.1:$C1/synth" index copy --to "$WORK/synth-embedded" --json
  "$RAG" --quiet --config "$WORK/cluster.toml" --index "$WORK/synth-embedded" index copy \
    --to "qdrant://127.0.0.1:$C1/synth_copy" --json
  for index in "qdrant://127.0.0.1:$C1/synth" "$WORK/synth-embedded" "qdrant://127.0.0.1:$C1/synth_copy"; do
    "$RAG" --quiet --index "$index" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["index"], r["chunks"], "chunks,", len(r["files"]), "files")'
  done
fi
