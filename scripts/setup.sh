#!/usr/bin/env bash
# Sourced by the other scripts: installs the system packages the build and
# the tests need (idempotent: a quick no-op when they are present) and points
# cargo at a target dir outside the checkout, so later runs reuse the build.
#
#   cmake, libopenblas-dev, liblapack-dev  FAISS (faiss crate, feature static)
#   prometheus                             promtool (lints the scrape, checks and tests the
#                                          rules) and the server (ops_prometheus e2e test)
#   mold                                   links the tests and binaries ~3× faster than GNU ld
#                                          (build-support/fast-linker.rs; optional)
#
# Set CODEINTEL_SKIP_APT=1 to skip the package check entirely.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codeintel/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

codeintel_missing_packages() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  { command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
  [ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -e /usr/include/openblas/cblas.h ] \
    || dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
  dpkg -s liblapack-dev >/dev/null 2>&1 || missing+=(liblapack-dev)
  command -v mold >/dev/null 2>&1 || missing+=(mold)
  echo "${missing[@]}"
}

if [ -z "${CODEINTEL_SKIP_APT:-}" ]; then
  missing=$(codeintel_missing_packages)
  if [ -n "$missing" ]; then
    echo "setup: installing $missing (Debian packages)" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "setup: need root to install: $missing. Install them and re-run." >&2
        exit 2
      fi
    fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2 \
      || { echo "setup: apt-get install $missing failed; install them by hand and re-run." >&2; exit 2; }
  fi
fi
mkdir -p "$CARGO_TARGET_DIR"
