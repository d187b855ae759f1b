"""Interval evidence from one subset's grid: coverage and width of every interval kind, per method.

Usage: python3 benchmarks/cmapss/intervals_check.py SWEEP_DIR [ENSEMBLE_DIR] [LEVEL]

Reads what the runs already stored (results.json of each finished run: the test engines were scored
once when the run ended; nothing is re-scored here) and, when ENSEMBLE_DIR is given (a subset folder
such as benchmarks/cmapss/FD003 with ensemble-METHOD.json files), the seed ensembles' stored intervals.
Per method and kind at LEVEL (default 0.9), truth capped: mean coverage over seeds with its range,
and mean width in cycles (the lower bound has no width). Prints Markdown for README.md and
docs/intervals.md: is the normalised kind sharper than the symmetric one at the same coverage?
"""
import glob
import json
import os
import re
import statistics
import sys

KINDS = ["symmetric", "normalised", "asymmetric", "lower_bound"]


def at_level(intervals, level):
    """{kind: (coverage, width or None)} at the level, capped truth."""
    out = {}
    for kind in (intervals or {}).get("kinds", []):
        for c in kind["capped"]:
            if abs(c["level"] - level) < 1e-9:
                out[kind["kind"]] = (c["coverage"], c["mean_width"])
    return out


def runs(sweep_dir, level):
    """{method: [ {kind: (coverage, width)} per finished seed ]}."""
    by_method = {}
    for path in sorted(glob.glob(os.path.join(sweep_dir, "runs", "*", "results.json"))):
        m = re.match(r"^FD00\d_(.+)_seed\d+$", os.path.basename(os.path.dirname(path)))
        if m:
            by_method.setdefault(m.group(1), []).append(at_level(json.load(open(path)).get("intervals"), level))
    return by_method


def cell(values):
    """'0.93 (0.91–0.95), 49.9' from [(coverage, width)…]; '–' when the kind is absent."""
    if not values:
        return "–"
    cov = [v[0] for v in values]
    text = f"{statistics.mean(cov):.3f} ({min(cov):.2f}–{max(cov):.2f})"
    widths = [v[1] for v in values if v[1] is not None]
    return text + (f", {statistics.mean(widths):.1f}" if widths else "")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sweep_dir = sys.argv[1]
    ens_dir = sys.argv[2] if len(sys.argv) > 2 else None
    level = float(sys.argv[3]) if len(sys.argv) > 3 else 0.9
    head = "| method | seeds | " + " | ".join(f"{k}: coverage (range), width" for k in KINDS) + " |"
    print(f"Single runs, {level:.0%} level, truth capped (mean over seeds):\n")
    print(head)
    print("|---|---:|" + "---|" * len(KINDS))
    for method, seeds in runs(sweep_dir, level).items():
        cells = [cell([s[k] for s in seeds if k in s]) for k in KINDS]
        print(f"| {method} | {len(seeds)} | " + " | ".join(cells) + " |")
    if not ens_dir:
        return
    print(f"\nSeed ensembles (mean of the members), {level:.0%} level, truth capped:\n")
    print(head.replace("| seeds |", "| members |").replace(" (range)", ""))
    print("|---|---:|" + "---|" * len(KINDS))
    for path in sorted(glob.glob(os.path.join(ens_dir, "ensemble-*.json"))):
        d = json.load(open(path))
        got = at_level(d.get("intervals"), level)
        cells = [f"{got[k][0]:.3f}" + (f", {got[k][1]:.1f}" if got[k][1] is not None else "") if k in got else "–"
                 for k in KINDS]
        method = os.path.basename(path)[len("ensemble-"):-len(".json")]
        print(f"| {method} | {len(d.get('members', []))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
