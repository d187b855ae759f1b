"""Reference for `grace data bench`: the same data work as grace-data, with pandas + scikit-learn.

Reads all four C-MAPSS subsets, holds out 20% of training engines, clusters the settings with
KMeans (k = 1 or 6, 10 restarts) on standardised settings fitted on training rows, z-scores the
17 features per condition, computes capped RUL / health targets and counts windows of 30.
Prints JSON: {"median_s": ..., "runs_s": [...], "windows": {"FD001": {"train": .., "test": .., "test_engines": ..}, ...}}.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

COLS = ["unit", "cycle", "altitude", "mach", "tra"] + [f"s{i}" for i in range(1, 22)]
KEPT = [f"s{i}" for i in (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)]
FEATURES = ["altitude", "mach", "tra"] + KEPT
K = {"FD001": 1, "FD002": 6, "FD003": 1, "FD004": 6}
WINDOW, R_MAX, SEED = 30, 125.0, 42


def read(path):
    return pd.read_csv(path, sep=r"\s+", header=None, names=COLS)


def windows(df):
    n = df.groupby("unit").size()
    return int(np.maximum(n - WINDOW + 1, 0).sum())


def prepare(data, name):
    train = read(data / f"train_{name}.txt")
    test = read(data / f"test_{name}.txt")
    rul = pd.read_csv(data / f"RUL_{name}.txt", header=None, sep=r"\s+").iloc[:, 0].to_numpy()

    units = train["unit"].unique()
    rng = np.random.default_rng(SEED)
    val_units = set(rng.choice(units, size=round(0.2 * len(units)), replace=False))
    is_val = train["unit"].isin(val_units)
    tr, va = train[~is_val], train[is_val]

    settings = ["altitude", "mach", "tra"]
    scaler = StandardScaler().fit(tr[settings])
    km = KMeans(n_clusters=K[name], n_init=10, random_state=SEED).fit(scaler.transform(tr[settings]))
    out = {}
    for label, df in (("train", tr), ("val", va), ("test", test)):
        df = df.copy()
        df["cond"] = km.predict(scaler.transform(df[settings]))
        out[label] = df
    stats = out["train"].groupby("cond")[FEATURES].agg(["mean", "std"])
    for label, df in out.items():
        mu = stats.xs("mean", axis=1, level=1).reindex(df["cond"]).to_numpy()
        sd = stats.xs("std", axis=1, level=1).reindex(df["cond"]).to_numpy()
        z = (df[FEATURES].to_numpy() - mu) / (sd + 1e-8)
        z = np.where(sd > 0, z, 0.0)
        df[FEATURES] = z
        last = df.groupby("unit")["cycle"].transform("max")
        after = 0.0
        if label == "test":
            after = df["unit"].map(dict(zip(sorted(df["unit"].unique()), rul)))
        y = np.minimum(after + last - df["cycle"], R_MAX)
        df["rul"] = y
        df["health"] = np.where(y > 80, 0, np.where(y > 30, 1, 2))
    return {
        "train": windows(out["train"]) + windows(out["val"]),
        "test": windows(out["test"]),
        "test_engines": int(out["test"]["unit"].nunique()),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    runs, counts = [], {}
    for _ in range(max(a.repeats, 1)):
        t0 = time.perf_counter()
        counts = {name: prepare(a.data, name) for name in K}
        runs.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(runs), "runs_s": runs, "windows": counts}))


if __name__ == "__main__":
    main()
