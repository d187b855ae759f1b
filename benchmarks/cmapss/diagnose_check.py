"""Evidence for the `grace diagnose` rule from one subset's grid: validation scores and gradient cosines.

Usage: python3 benchmarks/cmapss/diagnose_check.py SWEEP_DIR [SUBSET]

Reads only what finished runs logged on the training engines (never the test set): per method, the
selected epoch's validation RMSE (the minimum of `val_rmse` in epochs.csv, mean ± sample std over
the seeds found); per seed of `baseline`, the cosine between the task gradients on the shared
layers (gradient_log.csv, every logged step) at step 0, its median over the warm-up (steps 0–99),
over steps 100–299 and from step 300 on. Prints Markdown tables for docs/diagnose.md.
"""
import csv
import os
import re
import statistics
import sys

WINDOWS = [("at step 0", 0, 0), ("median, steps 0–99 (warm-up)", 0, 99),
           ("median, steps 100–299", 100, 299), ("median, steps 300 and later", 300, None)]


def runs(sweep_dir, subset):
    """(method label, seed, run folder) of every run of the subset, labels as the sweep names them."""
    pattern = re.compile(rf"^{subset}_(.+)_seed(\d+)$")
    root = os.path.join(sweep_dir, "runs")
    for name in sorted(os.listdir(root)):
        m = pattern.match(name)
        if m:
            yield m.group(1), int(m.group(2)), os.path.join(root, name)


def best_validation(run_dir):
    """None until the run has finished (results.json written): a run in progress has not chosen yet."""
    path = os.path.join(run_dir, "epochs.csv")
    if not (os.path.exists(path) and os.path.exists(os.path.join(run_dir, "results.json"))):
        return None
    rows = list(csv.DictReader(open(path)))
    return min(float(r["val_rmse"]) for r in rows) if rows else None


def cosines(run_dir):
    """(step, cosine) of every logged step."""
    path = os.path.join(run_dir, "gradient_log.csv")
    if not os.path.exists(path):
        return []
    return [(int(r["step"]), float(r["cosine"])) for r in csv.DictReader(open(path)) if r["cosine"]]


def summary(points, lo, hi):
    xs = [c for s, c in points if s >= lo and (hi is None or s <= hi)]
    return statistics.median(xs) if xs else None


def fmt(x):
    return "–" if x is None else f"{x:+.2f}"


def main(sweep_dir, subset):
    by_method = {}
    baseline = {}
    for method, seed, run_dir in runs(sweep_dir, subset):
        score = best_validation(run_dir)
        if score is not None:
            by_method.setdefault(method, []).append(score)
        if method == "baseline" and score is not None:
            baseline[seed] = cosines(run_dir)
    print(f"| method | seeds | validation RMSE (selection engines, mean ± std) |\n|---|---:|---|")
    for method, xs in sorted(by_method.items(), key=lambda kv: statistics.mean(kv[1])):
        std = statistics.stdev(xs) if len(xs) > 1 else float("nan")
        print(f"| {method} | {len(xs)} | {statistics.mean(xs):.2f} ± {std:.2f} |")
    seeds = sorted(baseline)
    print(f"\n| baseline cosine | seeds {', '.join(map(str, seeds))} |\n|---|---|")
    for label, lo, hi in WINDOWS:
        print(f"| {label} | {', '.join(fmt(summary(baseline[s], lo, hi)) for s in seeds)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sweep = sys.argv[1]
    main(sweep, sys.argv[2] if len(sys.argv) > 2 else os.path.basename(sweep.rstrip("/")).split("-")[-1].upper())
