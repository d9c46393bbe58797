#!/usr/bin/env bash
# Issue 11's load figures for `rag serve`, on loopback, each phase bounded in time:
#   1. /v1/search on the SciFact index (3,683 documents indexed ahead, the other 1,500 kept for phase 2):
#      CLIENTS (200) concurrent connections for SECONDS (30).
#   2. The same search load while POST /v1/ingest adds the 1,500 held-back SciFact files: the load runs in
#      15 s windows until the job is done (at most 40 windows); errors and p99 per window.
#   3. /v1/ask (streamed) on XQuAD-en with 16 clients, 1 generation slot and a queue of 4, for ASK_SECONDS
#      (90): answers, 429s, 5xx, time to first text, and the server's peak RSS.
# Usage: bash eval/serve-load.sh [OUT_DIR]   (binaries from $CARGO_TARGET_DIR/debug, built by `cargo build`;
# ASK=0 skips phase 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source eval/scifact-files.sh
OUT="${1:-$WORK/out}"
CLIENTS="${CLIENTS:-200}"
SECONDS_SEARCH="${SECONDS_SEARCH:-30}"
ASK_SECONDS="${ASK_SECONDS:-90}"
PORT="${PORT:-18088}"
URL="http://127.0.0.1:$PORT"
mkdir -p "$OUT"

# The index of the pre-indexed part (kept between runs: phase 2 first removes what a previous run ingested
# through the API, over the API).
"$RAG" --index "$WORK/scifact-index" ingest "$WORK/scifact/pre" --json > "$OUT/pre-ingest.json"

server=""
stop_server() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
  fi
  server=""
}
trap stop_server EXIT
start_server() { # INDEX CONFIG LOG
  "$RAG" --index "$1" --config "$2" serve --bind "127.0.0.1:$PORT" > "$3" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    if curl -sf "$URL/readyz" > /dev/null; then return 0; fi
    kill -0 "$server" 2>/dev/null || { cat "$3"; return 1; }
    sleep 0.5
  done
  echo "server not ready in 300 s" >&2
  return 1
}
peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server/status"; }

# 1 and 2: search, then search during an ingest.
cat > "$WORK/search.toml" <<EOF
[serve]
ingest_roots = ["$WORK/scifact"]
EOF
start_server "$WORK/scifact-index" "$WORK/search.toml" "$OUT/server-search.log"
"$EVAL" load --url "$URL" --endpoint search --clients "$CLIENTS" --seconds "$SECONDS_SEARCH" \
  --dataset "$SHARED/datasets/beir-scifact" --out "$OUT/search.json" > /dev/null
curl -sf -X DELETE "$URL/v1/documents" -H 'Content-Type: application/json' \
  -d "{\"paths\": [\"$WORK/scifact/api\"]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["removed"]), "removed")'
job="$(curl -sf "$URL/v1/ingest" -H 'Content-Type: application/json' \
  -d "{\"paths\": [\"$WORK/scifact/api\"]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
started=$(date +%s)
for window in $(seq 1 40); do
  "$EVAL" load --url "$URL" --endpoint search --clients "$CLIENTS" --seconds 15 \
    --dataset "$SHARED/datasets/beir-scifact" --out "$OUT/during-ingest-$window.json" > /dev/null
  state="$(curl -sf "$URL/v1/ingest/$job" | tee "$OUT/ingest-job.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
  [ "$state" = running ] || [ "$state" = queued ] || break
done
echo "{\"job\": \"$job\", \"windows\": $window, \"seconds_until_seen_done\": $(( $(date +%s) - started ))}" \
  > "$OUT/ingest-timing.json"
curl -sf "$URL/metrics" > "$OUT/metrics-search.txt"
echo "{\"peak_rss_mb\": $(peak_rss_mb)}" > "$OUT/search-rss.json"
stop_server

# 3: ask under overload, on XQuAD-en.
if [ "${ASK:-1}" = 1 ]; then
  if [ ! -d "$WORK/xquad/docs" ]; then
    "$EVAL" beir-to-files "$SHARED/datasets/xquad-en" "$WORK/xquad/docs"
  fi
  "$RAG" --index "$WORK/xquad/index" ingest "$WORK/xquad/docs" --json > "$OUT/xquad-ingest.json"
  printf '[serve]\nslots = 1\nqueue = 4\n' > "$WORK/ask.toml"
  start_server "$WORK/xquad/index" "$WORK/ask.toml" "$OUT/server-ask.log"
  "$EVAL" load --url "$URL" --endpoint ask --clients 16 --seconds "$ASK_SECONDS" \
    --dataset "$SHARED/datasets/xquad-en" --out "$OUT/ask.json" > /dev/null
  curl -sf "$URL/metrics" > "$OUT/metrics-ask.txt"
  echo "{\"peak_rss_mb\": $(peak_rss_mb)}" > "$OUT/ask-rss.json"
  stop_server
fi

python3 - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name)))
s = load("search.json")
print(f"search, {s['clients']} clients, {s['seconds']:.0f} s: {s['ok']} ok, {s['errors']} errors, {s['busy_429']} 429, "
      f"{s['ok_per_s']:.1f} QPS, p50 {s['latency_ms']['p50']:.1f} ms, p99 {s['latency_ms']['p99']:.1f} ms")
windows = sorted(glob.glob(os.path.join(out, "during-ingest-*.json")), key=lambda p: int(p.rsplit("-", 1)[1][:-5]))
for path in windows:
    w = json.load(open(path))
    print(f"  during ingest {os.path.basename(path)}: {w['ok']} ok, {w['errors']} errors, {w['ok_per_s']:.1f} QPS, "
          f"p50 {w['latency_ms']['p50']:.1f} ms, p99 {w['latency_ms']['p99']:.1f} ms")
job = load("ingest-job.json")
print(f"ingest job: {job['state']}, report: {json.dumps(job.get('report', job.get('error')))[:400]}")
print(f"ingest timing: {load('ingest-timing.json')}, search server peak RSS {load('search-rss.json')['peak_rss_mb']} MB")
if not os.path.exists(os.path.join(out, "ask.json")):
    sys.exit(0)
a = load("ask.json")
print(f"ask, 16 clients, 1 slot, queue 4, {a['seconds']:.0f} s: {a['ok']} answered, {a['busy_429']} 429 "
      f"(p50 {a['busy_latency_ms']['p50']:.1f} ms, max {a['busy_latency_ms']['max']:.1f} ms), {a['errors']} errors "
      f"{a['error_samples']}, first text p50 {a['first_text_ms']['p50']:.0f} ms p99 {a['first_text_ms']['p99']:.0f} ms, "
      f"total p50 {a['latency_ms']['p50']:.0f} ms, peak RSS {load('ask-rss.json')['peak_rss_mb']} MB")
EOF
