#!/usr/bin/env bash
# Issue 17's figures for `rag mcp`: one stdio session of N (1,000) `search` calls from the official MCP Python
# SDK (tests/mcp_client.py), on the SciFact index of eval/serve-load.sh (3,683 documents; built here if absent),
# with SciFact's queries in turn: errors, p50/p99 latency per call as the client sees it, and the server's
# resident memory idle (after initialize) and after the calls (with its peak).
# Usage: bash eval/mcp-load.sh [N]   (the binary from $CARGO_TARGET_DIR/debug, built by `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/.."
source eval/scifact-files.sh
N="${1:-1000}"
"$RAG" --quiet --index "$WORK/scifact-index" ingest "$WORK/scifact/pre" > /dev/null
python3 tests/mcp_client.py stdio "$RAG" "$WORK/scifact-index" "$WORK" bench "$N" "$SHARED/datasets/beir-scifact/queries.jsonl"
