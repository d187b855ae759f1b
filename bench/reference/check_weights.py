"""Load weights written by grace (safetensors, the Rust model's variable names) into the PyTorch
reference model, report missing/unexpected keys, and optionally print eval-mode outputs.

    python check_weights.py model.safetensors --preset small --features 17 [--input x.npy] [--json]
    python check_weights.py --export ref.safetensors --preset small --seed 0   # the other direction

Exit status: 0 when every key matched (only `*.num_batches_tracked` may be missing), 1 otherwise.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from grace_ref import Config, GraceRef, param_counts, preset  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", nargs="?", help="safetensors file written by grace")
    p.add_argument("--preset", choices=["small", "paper"], default="small")
    p.add_argument("--features", type=int, default=17)
    p.add_argument("--config", help="JSON file of model-config fields (the Rust ModelConfig names) overriding the preset")
    p.add_argument("--prefix", default="",
                   help="use only keys starting with this prefix, stripped (e.g. a checkpoint's weight group); others are ignored")
    p.add_argument("--input", help=".npy or .safetensors (key 'x') of shape (B, window, features)")
    p.add_argument("--export", help="write the reference model's (seeded) weights to this safetensors path and exit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    return p.parse_args()


def build_config(a) -> Config:
    cfg = preset(a.preset, a.features)
    if a.config:
        with open(a.config) as f:
            over = json.load(f)
        known = {f.name for f in dataclasses.fields(Config)}
        cfg = dataclasses.replace(cfg, **{k: v for k, v in over.items() if k in known})
    return cfg


def load_input(path: str) -> torch.Tensor:
    if path.endswith(".npy"):
        x = torch.from_numpy(np.load(path))
    else:
        x = load_file(path)["x"]
    return x.to(torch.float32)


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = build_config(a)
    model = GraceRef(cfg)

    if a.export:
        sd = {k: v.detach().contiguous().to(torch.float32) for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
        save_file(sd, a.export)
        print(json.dumps({"exported": a.export, "tensors": len(sd), "params": param_counts(model)["total"]}))
        return 0
    if not a.weights:
        sys.exit("give a safetensors path (or --export PATH)")

    tensors = load_file(a.weights)
    ignored = 0
    if a.prefix:
        n_all = len(tensors)
        tensors = {k[len(a.prefix):]: v for k, v in tensors.items() if k.startswith(a.prefix)}
        ignored = n_all - len(tensors)
    own = model.state_dict()
    mismatched = sorted(f"{k}: file {list(v.shape)} vs model {list(own[k].shape)}"
                        for k, v in tensors.items() if k in own and tuple(v.shape) != tuple(own[k].shape))
    non_f32 = sorted(f"{k}: {v.dtype}" for k, v in tensors.items() if v.dtype != torch.float32)
    to_load = {k: v.to(torch.float32) for k, v in tensors.items()
               if k in own and tuple(v.shape) == tuple(own[k].shape)}
    to_load.update({k: v for k, v in tensors.items() if k not in own})  # reported as unexpected
    res = model.load_state_dict(to_load, strict=False)
    missing = sorted(res.missing_keys)
    unexpected = sorted(res.unexpected_keys)
    bad_missing = [k for k in missing if not k.endswith("num_batches_tracked")
                   and not any(k == m.split(":")[0] for m in mismatched)]
    ok = not bad_missing and not unexpected and not mismatched
    out = {
        "weights": a.weights,
        "config": dataclasses.asdict(cfg),
        "params": param_counts(model),
        "tensors_in_file": len(tensors) + ignored,
        "ignored_by_prefix": ignored,
        "missing": missing,
        "unexpected": unexpected,
        "shape_mismatch": mismatched,
        "non_float32": non_f32,
        "ok": ok,
    }
    if a.input:
        x = load_input(a.input)
        model.eval()
        with torch.no_grad():
            rul, logits = model(x)
        out["input_shape"] = list(x.shape)
        out["rul"] = rul.tolist()
        out["logits"] = logits.tolist()
        out["positive_rul_fraction"] = float((rul > 0).float().mean())
    if a.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
