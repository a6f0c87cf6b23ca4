#!/usr/bin/env bash
# Runs every test of the workspace: unit and integration tests of all crates,
# one pass of each criterion bench in test mode (so benches never rot), and
# the conformance matrix over fixtures/suts/ (the Python implementation and its
# known-bad variants) with the official MCP conformance suite.
#
# Besides the system packages (scripts/setup.sh), it sets up — cached outside
# the checkout, under ~/.cache/codeintel, and a quick no-op when up to date —
# the Python virtualenv of fixtures/suts/python-otel and the pinned npm
# install of the official MCP suite (Node 22).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
fixtures/suts/python-otel/setup.sh
benches/peers/setup-ruff.sh
scripts/setup-node.sh >/dev/null
# Missing Python or Node set-up is then a test failure, not a skip.
export CODEINTEL_REQUIRE_SUTS=1
cargo test --workspace --all-targets "$@"
