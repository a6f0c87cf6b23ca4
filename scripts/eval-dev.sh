#!/usr/bin/env bash
# Retrieval evaluation on a development set (default: ../shared/eval-dev):
# the built-in model in process, then the same model over HTTP through
# `codeintel-server embed-serve` (an OpenAI-compatible /v1/embeddings on
# loopback), so both paths can be compared; each prints hit@5 / MRR@10 /
# nDCG@10 per channel (sparse, dense, plain RRF, the gated hybrid) and kind.
#
#   scripts/eval-dev.sh [EVAL_DIR] [OUT_DIR]
#
# Tables go to OUT_DIR (default: $CARGO_TARGET_DIR/eval): local.md, http.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
eval_dir="${1:-../shared/eval-dev}"
[ -f "$eval_dir/queries.jsonl" ] || { echo "eval-dev: no $eval_dir/queries.jsonl" >&2; exit 2; }
model_dir="$(scripts/setup-model.sh)"
out="${2:-$CARGO_TARGET_DIR/eval}"
mkdir -p "$out"
cargo build -q -p codeintel-server --bin codeintel-server
bin="$CARGO_TARGET_DIR/debug/codeintel-server"
export OTEL_SDK_DISABLED=true RUST_LOG=warn CODEINTEL_MODEL_DIR="$model_dir"

echo "eval-dev: local model, in process" >&2
t0=$(date +%s)
CODEINTEL_EMBEDDER=local "$bin" eval --queries "$eval_dir/queries.jsonl" \
  --corpus "$eval_dir/corpus" --markdown "$out/local.md"
echo "eval-dev: local took $(( $(date +%s) - t0 )) s" >&2

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" embed-serve --addr "127.0.0.1:$port" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
echo "eval-dev: the same model over HTTP (embed-serve on 127.0.0.1:$port)" >&2
t0=$(date +%s)
CODEINTEL_EMBEDDER=http CODEINTEL_VLLM_URL="http://127.0.0.1:$port" \
  CODEINTEL_EMBED_MODEL=sentence-transformers/all-MiniLM-L6-v2 \
  "$bin" eval --queries "$eval_dir/queries.jsonl" --corpus "$eval_dir/corpus" \
  --markdown "$out/http.md"
echo "eval-dev: http took $(( $(date +%s) - t0 )) s" >&2
echo "eval-dev: tables in $out" >&2
