#!/bin/sh
# The C-MAPSS benchmark of PLAN.md as one command sequence: the grid of each subset with its
# committed recipe, then its tables, paired comparisons, seed ensembles and figures in FD00N/.
#
#   benchmarks/cmapss/run.sh grid   [FD001 FD003 …]   train the grid (CPU-hours per subset; resumable)
#   benchmarks/cmapss/run.sh tables [FD001 FD003 …]   write FD00N/ from the runs that have finished
#
# Subsets default to FD001 FD003 FD002 FD004 (the plan's priority). Settings from the environment:
#   GRACE_CMAPSS_DIR  the NASA data folder (required)
#   GRACE             the grace binary            (default: target/release/grace)
#   BENCH_OUT         where run folders go        (default: bench; never committed)
#   SEEDS             seeds per method            (default: 5 on FD001/FD003, 3 on FD002/FD004)
#   JOBS              runs at a time, 1 thread each (default: 2)
#   ZOO=1             the zoo rows too (uncertainty, dwa, gradnorm, dbmtl, pcgrad, rlw)
# Every run's test scoring, and every ensemble's, is appended to test-log.csv next to this script.
# Finished runs are skipped, so the same command continues a grid after an interruption; every
# method's first seed is trained before any second seed, and the first three before any fourth.
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

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

seeds_of() {
    case "$1" in
        FD001 | FD003) echo "${SEEDS:-5}" ;;
        *) echo "${SEEDS:-3}" ;;
    esac
}

sweep_dir() { echo "$BENCH_OUT/cmapss-$(echo "$1" | tr 'A-Z' 'a-z')"; }

# One `grace sweep` over the subset's grid with its recipe; extra arguments are appended.
sweep() {
    subset=$1 methods=$2 seeds=$3
    shift 3
    "$GRACE" sweep --recipe "$subset" --data "$GRACE_CMAPSS_DIR" --subsets "$subset" \
        --methods "$methods" --variant "$FLOOR" --seeds "$seeds" \
        --jobs "$JOBS" --threads 1 --out "$(sweep_dir "$subset")" "$@"
}

grid() {
    subset=$1
    n=$(seeds_of "$subset")
    methods=$CORE
    [ "${ZOO:-0}" = 1 ] && methods="$CORE,$ZOO_METHODS"
    [ "$n" -gt 1 ] && sweep "$subset" "$methods" 1
    [ "$n" -gt 3 ] && sweep "$subset" "$methods" 3
    sweep "$subset" "$methods" "$n"
}

tables() {
    subset=$1
    # relative to BENCH_OUT, so the committed files name no folder of this machine
    cd "$BENCH_OUT"
    dir=$(basename "$(sweep_dir "$subset")")
    dest="$here/$subset"
    [ -f "$dir/sweep.json" ] || { echo "$subset: no sweep in $dir yet; run: $0 grid $subset" >&2; return 1; }
    mkdir -p "$dest/figures"
    "$GRACE" sweep --out "$dir" --collect >/dev/null
    cp "$dir/results.md" "$dir/results.csv" "$dir/results.json" "$dest/"
    "$GRACE" compare "$dir" --against baseline,amnl_floor,dbmtl --out "$dest" >/dev/null
    for m in $(planned_methods "$dir"); do
        ens="ens-$(echo "$subset" | tr 'A-Z' 'a-z')-$m"
        rm -rf "$ens"
        if "$GRACE" evaluate --sweep "$dir" --method "$m" --out "$ens" >/dev/null 2>"$ens.err"; then
            cp "$ens/results.json" "$dest/ensemble-$m.json"
            rm -f "$ens.err"
        else
            echo "$subset $m: no ensemble ($(tail -n 1 "$ens.err"))" >&2
        fi
    done
    rm -rf "report-$subset"
    "$GRACE" report "$dir" --out "report-$subset" >/dev/null
    slug=$(echo "$subset" | tr 'A-Z' 'a-z')
    for f in pareto lambda intervals; do
        cp "report-$subset/figures/${f}_$slug.svg" "$dest/figures/"
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
        grid) grid "$subset" ;;
        tables) tables "$subset" ;;
        *) usage ;;
    esac
done
