#!/usr/bin/env bash
# `make demo`: a short GRACE training of the small preset, then its evaluation on the test set.
# Real C-MAPSS when GRACE_CMAPSS_DIR (or DATA=...) points at it, else the built-in synthetic fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-${GRACE_CMAPSS_DIR:-synthetic}}
subset=${SUBSET:-FD001}
epochs=${EPOCHS:-5}
out=${OUT:-demo-run/${subset}_grace_$(date +%Y%m%d-%H%M%S)}
if [[ $data == synthetic ]]; then
  echo "No C-MAPSS data given (set GRACE_CMAPSS_DIR or DATA=path/to/CMAPSSData.zip): using the SYNTHETIC fleet."
fi
./target/release/grace model --preset small
echo
# The subset's tuned recipe when one is built in (grace recipes): it also calibrates intervals.
recipe=()
if ./target/release/grace recipes "$subset" >/dev/null 2>&1; then
  recipe=(--recipe "$subset")
fi
./target/release/grace train --data "$data" --subset "$subset" --method grace --preset small \
  "${recipe[@]}" --epochs "$epochs" --out "$out"
echo
echo "Re-scoring the saved run from its directory alone (grace evaluate):"
./target/release/grace evaluate "$out"
