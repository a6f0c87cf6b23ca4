#!/bin/sh
# Create the virtualenv holding the pinned ruff that the lint peer bench
# (benches/src/bin/peer-lint.rs) and lints/tests/ruff_agreement.rs compare
# codeintel-lint with. Outside the clone; idempotent: does nothing when the
# venv already holds the pinned version.
#   CODEINTEL_CACHE   cache root (default ~/.cache/codeintel)
#   PYTHON            interpreter to build the venv with (default python3)
set -eu
RUFF_VERSION=0.17.5
VENV="${CODEINTEL_CACHE:-$HOME/.cache/codeintel}/venv/ruff"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/ruff" ] && [ "$(cat "$VENV/.ruff-version" 2>/dev/null)" = "$RUFF_VERSION" ]; then
    echo "ruff: venv $VENV holds ruff $RUFF_VERSION; nothing to do"
    exit 0
fi
START=$(date +%s)
echo "ruff: creating $VENV with $("$PY" --version 2>&1) and installing ruff==$RUFF_VERSION"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "ruff==$RUFF_VERSION"
GOT=$("$VENV/bin/ruff" --version)
[ "$GOT" = "ruff $RUFF_VERSION" ] || { echo "ruff: expected ruff $RUFF_VERSION, the venv has: $GOT" >&2; exit 1; }
echo "$RUFF_VERSION" > "$VENV/.ruff-version"
echo "ruff: venv ready in $(( $(date +%s) - START )) s"
