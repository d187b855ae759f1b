"""The zoo screen's table (benchmarks/cmapss/FD001/zoo-screen.md) from the runs' epoch logs.

Usage: python3 benchmarks/cmapss/zoo_screen.py SCREEN_DIR GRID_DIR
SCREEN_DIR holds FD001_<method>_seed0 runs stopped after 9 epochs; GRID_DIR is the core grid's sweep,
whose seed-0 runs give the same 9 epochs for the core methods. Validation scores only.
"""
import csv
import os
import sys

SCREEN = "mgda pcgrad cagrad imtlg nashmtl aligned upgrad famo rlw".split()
CORE = "baseline grace amnl gaba single amnl_floor".split()
EPOCHS = 9


def first_epochs(path):
    """Best validation RMSE in the first EPOCHS epochs, its epoch (1-based), the last one, seconds."""
    rows = list(csv.DictReader(open(path)))[:EPOCHS]
    if len(rows) < EPOCHS:
        return None
    best = min(rows, key=lambda r: float(r["val_rmse"]))
    seconds = sum(float(r["seconds"]) for r in rows)
    return float(best["val_rmse"]), int(best["epoch"]) + 1, float(rows[-1]["val_rmse"]), seconds


def main(screen_dir, grid_dir):
    found = []
    for method in SCREEN:
        scores = first_epochs(os.path.join(screen_dir, f"FD001_{method}_seed0", "epochs.csv"))
        if scores:
            found.append((method, "screen") + scores)
    for method in CORE:
        scores = first_epochs(os.path.join(grid_dir, "runs", f"FD001_{method}_seed0", "epochs.csv"))
        if scores:
            found.append((method, f"core grid, its first {EPOCHS} epochs") + scores)
    found.sort(key=lambda r: r[2])
    print(f"| method | source | best validation RMSE, epochs 1–{EPOCHS} | at epoch | validation RMSE at epoch {EPOCHS} "
          f"| training seconds, {EPOCHS} epochs |")
    print("|---|---|---:|---:|---:|---:|")
    for method, source, best, epoch, last, seconds in found:
        print(f"| {method} | {source} | {best:.2f} | {epoch} | {last:.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
