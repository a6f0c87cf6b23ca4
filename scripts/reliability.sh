#!/usr/bin/env bash
# Regenerates RELIABILITY.md (issue 19): runs the reliability tests with a
# JSON side-output (CODEINTEL_RELIABILITY_OUT, one figure per line), plus the
# older fault tests the matrix cites, and renders the figures into tables.
#
#   scripts/reliability.sh                     # the figures of RELIABILITY.md
#   FUZZ_SECONDS=600 scripts/reliability.sh    # fuzz each target 10 minutes
#   PROPTEST_CASES=5000 scripts/reliability.sh # more cases per target
#   CODEINTEL_LOAD_REQUESTS=2000 scripts/reliability.sh
#
# Defaults here: 256 cases per fuzz target (as in CI) and 10 800 load
# requests (CI runs the same tests with 540). Exits non-zero when a test
# failed; the tables still say which.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CODEINTEL_LOAD_REQUESTS="${CODEINTEL_LOAD_REQUESTS:-10800}"
export CODEINTEL_BIG_BODY_MB="${CODEINTEL_BIG_BODY_MB:-100}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CODEINTEL_RELIABILITY_OUT="$work/figures.jsonl"
: >"$CODEINTEL_RELIABILITY_OUT"
log="$work/cargo.log"
status=0
run() {
  echo "+ cargo test $*" | tee -a "$log" >&2
  cargo test "$@" 2>&1 | tee -a "$log" | grep -E '^test |test result|panicked' >&2
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
}
run -p codeintel-lint --test reliability_fuzz
run -p codeintel-conformance --test reliability_fuzz --test reliability_faults --test process_faults
run -p codeintel-server --test reliability --test embed_openai --test telemetry --test index_build \
  -- --skip load_searches_across_publish_and_rollback_have_no_errors
# The load test alone: its spans go through the batch processor into a
# discarding exporter, so the RSS figures are the server's, not the test's
# in-memory span capture.
CODEINTEL_LOAD_ALONE=1 run -p codeintel-server --test reliability \
  -- --exact load_searches_across_publish_and_rollback_have_no_errors
python3 scripts/reliability_render.py "$CODEINTEL_RELIABILITY_OUT" "$log" \
  --cases "${PROPTEST_CASES:-256}" --fuzz-seconds "${FUZZ_SECONDS:-}" >RELIABILITY.md.new \
  && mv RELIABILITY.md.new RELIABILITY.md || status=1
echo "RELIABILITY.md written ($(wc -l <"$CODEINTEL_RELIABILITY_OUT") figures)" >&2
exit $status
