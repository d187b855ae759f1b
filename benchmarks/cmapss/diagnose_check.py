"""Evidence for the `grace diagnose` rule from one subset's grid: validation scores and gradient cosines.

Usage: python3 benchmarks/cmapss/diagnose_check.py SWEEP_DIR [SUBSET]

Reads only what finished runs logged on the training engines (never the test set): per method, the
selected epoch's validation RMSE (the run's `validation.best_epoch` in results.json, read from its
row of epochs.csv), that epoch's validation NASA score and its test-like cut RMSE on the held-out
calibration engines (`held_cut_rmse`, which never takes part in selection; – for runs without
calibration engines), mean ± sample std over the seeds found; per seed of `baseline`, the cosine
between the task gradients on the shared layers (gradient_log.csv, every logged step) at step 0,
its median over steps 0–99, 100–299 and from step 300 on, and its median within each of the
first six epochs (`grace diagnose` reads the gradients after five). Prints Markdown tables for
docs/diagnose.md.
"""
import csv
import json
import os
import re
import statistics
import sys

WINDOWS = [("at step 0", 0, 0), ("median, steps 0–99", 0, 99),
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
    """(RMSE, NASA, held-out cut RMSE or None) at the selected epoch; None until the run has
    finished (results.json written): a run in progress has not chosen yet."""
    path = os.path.join(run_dir, "epochs.csv")
    results = os.path.join(run_dir, "results.json")
    if not (os.path.exists(path) and os.path.exists(results)):
        return None
    # the run's own choice, not re-derived here (a recipe may select on the cuts' figure)
    epoch = json.load(open(results))["validation"]["best_epoch"]
    best = next((r for r in csv.DictReader(open(path)) if int(r["epoch"]) == epoch), None)
    if best is None:
        sys.exit(f"{path}: no row for epoch {epoch}, the selected epoch in {results}; "
                 "the run folder is inconsistent: retrain the run or remove it from the sweep")
    held = best.get("held_cut_rmse")
    return float(best["val_rmse"]), float(best["val_nasa"]), float(held) if held else None


def cosines(run_dir):
    """(epoch, step, cosine) of every logged step."""
    path = os.path.join(run_dir, "gradient_log.csv")
    if not os.path.exists(path):
        return []
    return [(int(r["epoch"]), int(r["step"]), float(r["cosine"]))
            for r in csv.DictReader(open(path)) if r["cosine"]]


def summary(points, lo, hi):
    xs = [c for _, s, c in points if s >= lo and (hi is None or s <= hi)]
    return statistics.median(xs) if xs else None


def in_epoch(points, epoch):
    xs = [c for e, _, c in points if e == epoch]
    return statistics.median(xs) if xs else None


def mean_std(xs):
    std = statistics.stdev(xs) if len(xs) > 1 else float("nan")
    return statistics.mean(xs), std


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
    print("| method | seeds | validation RMSE (selection engines, mean ± std) | validation NASA at that epoch"
          " | cut RMSE at that epoch (held-out calibration engines) |")
    print("|---|---:|---|---|---|")
    for method, xs in sorted(by_method.items(), key=lambda kv: statistics.mean(x[0] for x in kv[1])):
        rmse, rmse_sd = mean_std([x[0] for x in xs])
        nasa, nasa_sd = mean_std([x[1] for x in xs])
        held = [x[2] for x in xs]
        held_text = "–" if None in held else "{:.2f} ± {:.2f}".format(*mean_std(held))
        print(f"| {method} | {len(xs)} | {rmse:.2f} ± {rmse_sd:.2f} | {nasa:.0f} ± {nasa_sd:.0f} | {held_text} |")
    seeds = sorted(baseline)
    print(f"\n| baseline cosine | seeds {', '.join(map(str, seeds))} |\n|---|---|")
    for label, lo, hi in WINDOWS:
        print(f"| {label} | {', '.join(fmt(summary(baseline[s], lo, hi)) for s in seeds)} |")
    for epoch in range(6):
        print(f"| median in epoch {epoch + 1} | {', '.join(fmt(in_epoch(baseline[s], epoch)) for s in seeds)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sweep = sys.argv[1]
    # the subset from the folder name when not given: bench/cmapss-fd003-zoo → FD003
    named = re.search(r"fd00[1-4]", os.path.basename(sweep.rstrip("/")), re.IGNORECASE)
    if len(sys.argv) < 3 and not named:
        sys.exit(f"{sweep}: no subset in the folder name; give it: {sys.argv[0]} {sweep} FD00N")
    main(sweep, sys.argv[2] if len(sys.argv) > 2 else named.group(0).upper())
