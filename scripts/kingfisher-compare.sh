#!/usr/bin/env bash
# A second opinion on the detector: runs Kingfisher (PyPI kingfisher-bin)
# on the generated corpus and lists every secret value it finds that the
# embedded engine misses, and every hard negative the engine flags that
# Kingfisher leaves alone. Each entry is a bug until explained.
#
# Kingfisher runs without validation and without update checks, inside a
# network namespace of its own when `unshare` allows (no network at all).
# Not part of CI (about a minute on two cores).
#
#   scripts/kingfisher-compare.sh            # the default seed
#   INTERVEN_CORPUS_SEED=7 scripts/kingfisher-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

KF_VERSION="${KF_VERSION:-2.14.0}"
VENV="${KF_VENV:-${TMPDIR:-/tmp}/interven-kingfisher-venv}"
OUT="${OUT:-${TMPDIR:-/tmp}/interven-corpus}"

if [ ! -x "$VENV/bin/kingfisher" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "kingfisher-bin==$KF_VERSION"
fi

rm -rf "$OUT"
INTERVEN_CORPUS_DUMP="$OUT" cargo test --quiet --test integration corpus::corpus_dump_for_other_scanners >/dev/null

kf=("$VENV/bin/kingfisher" scan "$OUT/cases" --no-validate --no-update-check --no-dedup
    --confidence low --format json --output "$OUT/kingfisher.json")
if unshare -rn true 2>/dev/null; then
  unshare -rn "${kf[@]}" >"$OUT/kingfisher.log" 2>&1 || true
else
  "${kf[@]}" >"$OUT/kingfisher.log" 2>&1 || true
fi

python3 scripts/kingfisher_compare.py "$OUT" "$OUT/kingfisher.json"
