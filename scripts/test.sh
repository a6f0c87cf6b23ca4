#!/usr/bin/env bash
# Runs every test of the workspace: unit and integration tests of all crates,
# and one pass of each criterion bench in test mode (so benches never rot).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo test --workspace --all-targets "$@"
