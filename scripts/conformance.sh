#!/usr/bin/env bash
# The main job: the conformance suite against the reference server, linked
# in-process on embedded defaults (fixture repository, harness-hosted
# embeddings server, in-memory spans, the real :9464-style scrape on a free
# port). Extra arguments go to `codeintel-conformance run`, e.g.
#   scripts/conformance.sh --markdown report.md --strict
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The official MCP conformance suite (MCP-* rows); without it they are skipped.
scripts/setup-node.sh >/dev/null
cargo run -p codeintel-conformance --bin codeintel-conformance -- run --sut reference "$@"
