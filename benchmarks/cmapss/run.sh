#!/bin/sh
# The C-MAPSS benchmark of PLAN.md as one command sequence: the grid of each subset with its
# committed recipe, then its tables, paired comparisons, seed ensembles and figures in FD00N/.
#
#   benchmarks/cmapss/run.sh grid   [FD001 FD003 …]   train the grid (CPU-hours per subset; resumable)
#   benchmarks/cmapss/run.sh tables [FD001 FD003 …]   write FD00N/ from the runs that have finished,
#                                                     then summary.md (every subset's tables so far)
#   benchmarks/cmapss/run.sh zoo    [FD001 …]         train the zoo grid: the zoo methods and their anchors
#
# The zoo grid is a sweep of its own (the zoo methods plus the comparison anchors baseline and
# amnl_floor, and grace to compare with dbmtl, retrained with the same seeds: training is
# deterministic, so they reproduce the core grid's runs), so it needs no core grid run folders;
# `tables` writes its tables to FD00N/zoo/ when it exists.
#
# Subsets default to FD001 FD003 FD002 FD004 (the plan's priority). Settings from the environment:
#   GRACE_CMAPSS_DIR  the NASA data folder (required)
#   GRACE             the grace binary            (default: target/release/grace)
#   BENCH_OUT         where run folders go        (default: bench; never committed)
#   SEEDS             seeds per method            (default: 5 on FD001/FD003, 3 on FD002/FD004)
#   JOBS              runs at a time, 1 thread each (default: 2)
#   ZOO=1             grid: the zoo rows too, in the core grid's sweep (uncertainty, dwa, gradnorm,
#                     dbmtl, pcgrad, rlw)
# Every run's test scoring, and every ensemble's, is appended to test-log.csv next to this script.
# Finished runs are skipped, so the same command continues a grid after an interruption; every
# method's first seed is trained before any second seed, the first three before any fourth, and
# each further seed of every method before the next.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
GRACE=${GRACE:-$root/target/release/grace}
BENCH_OUT=${BENCH_OUT:-$root/bench}
JOBS=${JOBS:-2}
case $GRACE in /*) ;; *) GRACE="$PWD/$GRACE" ;; esac
mkdir -p "$BENCH_OUT" && BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
: "${GRACE_CMAPSS_DIR:?set GRACE_CMAPSS_DIR to the NASA C-MAPSS folder (CMAPSSData)}"
export GRACE_TEST_LOG="$here/test-log.csv"

CORE=baseline,grace,amnl,gaba,single,amnl_floor
ZOO_METHODS=uncertainty,dwa,gradnorm,dbmtl,pcgrad,rlw
FLOOR='amnl_floor=amnl method.fixed_weights=[0.0476,0.9524]'

# The header comment above, up to its first line that is not a comment.
usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

seeds_of() {
    case "$1" in
        FD001 | FD003) echo "${SEEDS:-5}" ;;
        *) echo "${SEEDS:-3}" ;;
    esac
}

slug() { echo "$1" | tr 'A-Z' 'a-z'; }

sweep_dir() { echo "$BENCH_OUT/cmapss-$(slug "$1")${2:-}"; }

# One `grace sweep` over the subset's grid with its recipe into the sweep folder $4.
sweep() {
    subset=$1 methods=$2 seeds=$3 out=$4
    "$GRACE" sweep --recipe "$subset" --data "$GRACE_CMAPSS_DIR" --subsets "$subset" \
        --methods "$methods" --variant "$FLOOR" --seeds "$seeds" \
        --jobs "$JOBS" --threads 1 --out "$out"
}

# Seed 0 of every method first, then seeds 1–2, then one seed at a time: a grid stopped early
# leaves every method with the same seeds.
grid() {
    subset=$1 methods=$2 out=$3
    n=$(seeds_of "$subset")
    [ "$n" -gt 1 ] && sweep "$subset" "$methods" 1 "$out"
    k=3
    while [ "$k" -lt "$n" ]; do
        sweep "$subset" "$methods" "$k" "$out"
        k=$((k + 1))
    done
    sweep "$subset" "$methods" "$n" "$out"
}

core_grid() {
    methods=$CORE
    [ "${ZOO:-0}" = 1 ] && methods="$CORE,$ZOO_METHODS"
    grid "$1" "$methods" "$(sweep_dir "$1")"
}

zoo_grid() { grid "$1" "baseline,amnl_floor,$ZOO_METHODS,grace" "$(sweep_dir "$1" -zoo)"; }

# FD00N/ from the core grid's sweep and FD00N/zoo/ from the zoo grid's, whichever exist.
tables() {
    found=0
    [ -f "$(sweep_dir "$1")/sweep.json" ] && { tables_of "$1" "" "$here/$1"; found=1; }
    [ -f "$(sweep_dir "$1" -zoo)/sweep.json" ] && { tables_of "$1" -zoo "$here/$1/zoo"; found=1; }
    [ $found = 1 ] || { echo "$1: no sweep in $BENCH_OUT yet; run: $0 grid $1 (or zoo $1)" >&2; return 1; }
}

tables_of() {
    subset=$1 suffix=$2 dest=$3
    # relative to BENCH_OUT, so the committed files name no folder of this machine
    cd "$BENCH_OUT"
    dir=$(basename "$(sweep_dir "$subset" "$suffix")")
    mkdir -p "$dest/figures"
    "$GRACE" sweep --out "$dir" --collect >/dev/null
    cp "$dir/results.md" "$dir/results.csv" "$dir/results.json" "$dest/"
    "$GRACE" compare "$dir" --against baseline,amnl_floor,dbmtl --out "$dest" >/dev/null
    for m in $(planned_methods "$dir"); do
        ens="ens-$(slug "$subset")$suffix-$m"
        rm -rf "$ens"
        if "$GRACE" evaluate --sweep "$dir" --method "$m" --out "$ens" >/dev/null 2>"$ens.err"; then
            cp "$ens/results.json" "$dest/ensemble-$m.json"
            rm -f "$ens.err"
        else
            echo "$subset $m: no ensemble ($(tail -n 1 "$ens.err"))" >&2
        fi
    done
    rm -rf "report-$subset$suffix"
    "$GRACE" report "$dir" --out "report-$subset$suffix" >/dev/null
    for f in pareto lambda intervals; do
        cp "report-$subset$suffix/figures/${f}_$(slug "$subset").svg" "$dest/figures/"
    done
    # the runs record the data folder they read; the committed tables name it by its variable
    for f in "$dest"/*.md "$dest"/*.csv "$dest"/*.json; do
        sed -i "s#$GRACE_CMAPSS_DIR#\$GRACE_CMAPSS_DIR#g" "$f"
    done
    echo "$subset: tables, comparisons, ensembles and figures in $dest"
    cd "$root"
}

# The methods and variants the sweep plan names, from its sweep.json.
planned_methods() {
    python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["methods"]))' "$1/sweep.json"
}

[ $# -ge 1 ] || usage
stage=$1
shift
[ $# -ge 1 ] || set -- FD001 FD003 FD002 FD004
[ -x "$GRACE" ] || { echo "no grace binary at $GRACE: run make build, or set GRACE" >&2; exit 1; }
for subset in "$@"; do
    case "$subset" in FD001 | FD002 | FD003 | FD004) ;; *) echo "unknown subset $subset (FD001…FD004)" >&2; exit 2 ;; esac
    case "$stage" in
        grid) core_grid "$subset" ;;
        zoo) zoo_grid "$subset" ;;
        tables) tables "$subset" ;;
        *) usage ;;
    esac
done
# the cross-subset summary, from whatever FD00N/ tables exist now
[ "$stage" != tables ] || python3 "$here/summary.py"
