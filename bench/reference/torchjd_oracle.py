"""TorchJD's aggregators on given Jacobians: the reference for grace's Gram-matrix methods
(crates/grace-core/src/controller/{mgda,pcgrad,cagrad,imtlg,nashmtl,aligned,upgrad}.rs).

    python torchjd_oracle.py cases.json        # or the JSON on stdin

Input: {"cases": [{"name": str, "jacobian": [[...P numbers...] × K],
                   "pcgrad_orders": [[a permutation of 0..K-1] × K]  (optional)}]}
Output (stdout, one JSON object): {"torchjd": version, "torch": version, "cases": [{"name": str,
  "aggregated": {"mgda": [P], "pcgrad": [P], "cagrad": [P], "imtlg": [P], "nashmtl": [P],
                 "aligned": [P], "upgrad": [P]}}]}

Aggregators with their defaults: MGDA(), PCGrad(), CAGrad(c=0.4), IMTLG(), NashMTL(n_tasks=K) (a fresh,
stateful instance per case: max_norm 1, 20 iterations), AlignedMTL(), UPGrad(); all in float64.
PCGrad draws one `torch.randperm(K)` per task; here those draws return `pcgrad_orders[i]` instead
(natural order when absent), so that its result is reproducible.

Exit status 2, with the reason on stderr, when torchjd or one of the extras NashMTL and CAGrad need
(cvxpy, ecos, clarabel) is missing: install them with scripts/setup-libtorch.sh.
"""
from __future__ import annotations

import json
import sys
import warnings


def load_torchjd():
    try:
        import importlib.metadata as md

        import torch
        import torchjd  # noqa: F401
        from torchjd.aggregation import IMTLG, MGDA, AlignedMTL, CAGrad, NashMTL, PCGrad, UPGrad

        for extra in ("cvxpy", "ecos", "clarabel", "quadprog", "qpsolvers"):
            __import__(extra)
        return torch, md.version("torchjd"), dict(
            mgda=MGDA, pcgrad=PCGrad, cagrad=CAGrad, imtlg=IMTLG, nashmtl=NashMTL, aligned=AlignedMTL, upgrad=UPGrad
        )
    except ImportError as e:
        print(f"torchjd_oracle: {e} (install torchjd with its extras: scripts/setup-libtorch.sh)", file=sys.stderr)
        sys.exit(2)


def aggregate_case(torch, agg, case):
    jac = torch.tensor(case["jacobian"], dtype=torch.float64)
    k = jac.shape[0]
    orders = case.get("pcgrad_orders") or [list(range(k))] * k
    draws = iter(torch.tensor(o, dtype=torch.long) for o in orders)
    real_randperm = torch.randperm
    torch.randperm = lambda n, *a, **kw: next(draws)
    try:
        pcgrad = agg["pcgrad"]()(jac)
    finally:
        torch.randperm = real_randperm
    out = {
        "mgda": agg["mgda"]()(jac),
        "pcgrad": pcgrad,
        "cagrad": agg["cagrad"](c=0.4)(jac),
        "imtlg": agg["imtlg"]()(jac),
        "nashmtl": agg["nashmtl"](n_tasks=k)(jac),
        "aligned": agg["aligned"]()(jac),
        "upgrad": agg["upgrad"]()(jac),
    }
    return {"name": case["name"], "aggregated": {m: v.tolist() for m, v in out.items()}}


def main():
    torch, version, agg = load_torchjd()
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    cases = json.loads(text)["cases"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [aggregate_case(torch, agg, c) for c in cases]
    print(json.dumps({"torchjd": version, "torch": torch.__version__, "cases": results}))


if __name__ == "__main__":
    main()
