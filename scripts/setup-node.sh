#!/usr/bin/env bash
# Installs the official MCP conformance suite (@modelcontextprotocol/conformance)
# and the Node 22 it needs, pinned by conformance/mcp-suite/package-lock.json,
# into a cache outside the clone:
#
#   ${CODEINTEL_CACHE:-$HOME/.cache/codeintel}/mcp-suite
#
# Node 22 comes from the npm registry as the `node` package (its platform
# binary package is fetched by npm), so only a system `npm` is needed.
# Idempotent: a stamp of the lockfile's hash skips `npm ci` when nothing changed.
# Prints the install folder on stdout (what `codeintel-conformance --mcp-suite`
# and CODEINTEL_MCP_SUITE take; everything else goes to stderr), writes the
# runner `DIR/bin/mcp-conformance` (the pinned Node 22 running the suite's CLI)
# and, when sourced, exports CODEINTEL_MCP_SUITE.
#
#   scripts/setup-node.sh            install (or check), print the folder
#   source scripts/setup-node.sh     same, and export CODEINTEL_MCP_SUITE
#   "$(scripts/setup-node.sh)"/bin/mcp-conformance list --server

codeintel_setup_node() {
  local here src cache dir stamp want start end
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  src="$here/conformance/mcp-suite"
  cache="${CODEINTEL_CACHE:-$HOME/.cache/codeintel}"
  dir="$cache/mcp-suite"
  stamp="$dir/.lock-sha256"

  if ! command -v npm >/dev/null 2>&1; then
    echo "setup-node: npm not found; install Node.js (any version with npm >= 7), e.g. apt-get install nodejs npm" >&2
    return 2
  fi

  want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$dir/node_modules/.bin/node" ] && [ -f "$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
    echo "setup-node: MCP conformance suite up to date in $dir" >&2
  else
    start=$(date +%s)
    echo "setup-node: installing the MCP conformance suite into $dir (npm ci)" >&2
    mkdir -p "$dir"
    rm -f "$stamp"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    # --engine-strict off: the suite wants node >= 22, the system npm may run on
    # an older node; the suite itself is run with the Node 22 installed here.
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
      echo "setup-node: npm ci failed in $dir" >&2
      return 2
    fi
    if ! "$dir/node_modules/.bin/node" --version >/dev/null 2>&1; then
      echo "setup-node: $dir/node_modules/.bin/node does not run" >&2
      return 2
    fi
    echo "$want" >"$stamp"
    end=$(date +%s)
    echo "setup-node: installed in $((end - start))s (node $("$dir/node_modules/.bin/node" --version))" >&2
  fi
  mkdir -p "$dir/bin"
  cat >"$dir/bin/mcp-conformance" <<'RUNNER'
#!/bin/sh
# The official MCP conformance suite's CLI on the Node 22 installed beside it.
d="$(cd "$(dirname "$0")/.." && pwd)"
exec "$d/node_modules/.bin/node" "$d/node_modules/@modelcontextprotocol/conformance/dist/index.js" "$@"
RUNNER
  chmod +x "$dir/bin/mcp-conformance"
  echo "setup-node: runner $dir/bin/mcp-conformance ($("$dir/bin/mcp-conformance" --version))" >&2
  export CODEINTEL_MCP_SUITE="$dir"
  echo "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  codeintel_setup_node
else
  codeintel_setup_node || return $?
fi
