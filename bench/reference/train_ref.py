"""Trains the PyTorch reference model on the arrays `grace bench accuracy` exported, with grace's recipe,
for a wall-clock budget; prints one JSON line per epoch. See README.md.

    python train_ref.py --data OUT/accuracy_data.safetensors --config OUT/accuracy_reference.json \
        --budget-seconds 600 --threads 2
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from grace_ref import Config, Gaba, GraceRef, grad_norm, health_loss, mse, weighted_mse  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="accuracy_data.safetensors written by grace bench accuracy")
    p.add_argument("--config", required=True, help="accuracy_reference.json written by grace bench accuracy")
    p.add_argument("--budget-seconds", type=float, required=True,
                   help="no epoch starts once this many seconds of training have passed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=None, help="shuffling, dropout and jitter (default: the recipe's)")
    p.add_argument("--attn-last-query", action="store_true",
                   help="attend with the last time step as the only query, as grace computes it (same outputs)")
    p.add_argument("--own-init", action="store_true",
                   help="PyTorch's own seeded initialisation instead of grace's initial weights (init.*)")
    p.add_argument("--device", default="cpu")
    return p.parse_args()


def emit(obj):
    print(json.dumps(obj), flush=True)


def load(a, spec, dev):
    t = load_file(a.data)
    names = {f.name for f in dataclasses.fields(Config)}
    cfg = Config(**{k: v for k, v in spec["model"].items() if k in names})
    model = GraceRef(cfg, last_query_attention=a.attn_last_query)
    if not a.own_init:
        init = {k[len("init."):]: v for k, v in t.items() if k.startswith("init.")}
        missing, unexpected = model.load_state_dict(init, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        assert not missing and not unexpected, (missing, unexpected)
    arrays = {k: v.to(dev) for k, v in t.items() if not k.startswith("init.")}
    return model.to(dev), arrays


def rul_loss(spec, arrays):
    """The method's RUL loss from grace_ref's losses; checks that grace's exported weighted-MSE
    weights are grace_ref's rule (docs/reference.md §4.1)."""
    m = spec["method"]
    if not m["weighted"]:
        return mse
    y = arrays["train_rul"]
    rule = 1.0 + m["slope"] * torch.clamp(1.0 - y / m["max_rul"], 0.0, 1.0)
    assert torch.allclose(rule, arrays["train_weight"], atol=1e-6), "exported weights differ from the rule"
    return lambda pred, target: weighted_mse(pred, target, slope=m["slope"], r_max=m["max_rul"])


class FixedWeights:
    """One backward pass of w_rul·L_rul + w_health·L_health."""

    def __init__(self, weights):
        self.weights = list(weights)

    def __call__(self, l_r, l_h):
        (self.weights[0] * l_r + self.weights[1] * l_h).backward()
        return self.weights


class GabaWeights:
    """grace's GABA step (docs/reference.md §4.2): each task's gradient once (two backward passes),
    the shared-parameter norms to grace_ref's Gaba, the gradient λ_rul·g_rul + λ_health·g_health."""

    def __init__(self, model, g):
        self.params = model.shared_parameters() + model.head_parameters("rul") + model.head_parameters("health")
        self.n_shared = len(model.shared_parameters())
        self.ctrl = Gaba(k=2, beta=g["beta"], floor=g["floor"], warmup=g["warmup_steps"])

    def __call__(self, l_r, l_h):
        g_r = torch.autograd.grad(l_r, self.params, retain_graph=True, allow_unused=True)
        g_h = torch.autograd.grad(l_h, self.params, allow_unused=True)
        lam = self.ctrl.step([grad_norm(g_r[:self.n_shared]), grad_norm(g_h[:self.n_shared])])
        for p, a, b in zip(self.params, g_r, g_h):
            parts = [w * t for w, t in zip(lam, (a, b)) if t is not None]
            p.grad = sum(parts[1:], parts[0]) if parts else None
        return lam


class Average:
    """grace's weight average: decay min(ema_decay, (1 + n) / (10 + n)) after n updates
    (docs/reference.md §5); batch-norm statistics are taken from the live model."""

    def __init__(self, model, decay):
        self.model = model
        self.ema = copy.deepcopy(model).requires_grad_(False)
        self.live = list(model.parameters())
        self.avg = list(self.ema.parameters())
        self.decay, self.n = decay, 0

    @torch.no_grad()
    def update(self):
        d = min(self.decay, (1.0 + self.n) / (10.0 + self.n))
        torch._foreach_lerp_(self.avg, self.live, 1.0 - d)
        self.n += 1

    @torch.no_grad()
    def synced(self):
        for b, live in zip(self.ema.buffers(), self.model.buffers()):
            b.copy_(live)
        return self.ema


@torch.no_grad()
def val_rmse(model, x, y, batch):
    """RMSE over all validation windows in eval mode, as grace's selection computes it (float64)."""
    model.eval()
    preds = [model(x[i:i + batch])[0] for i in range(0, len(x), batch)]
    err = torch.cat(preds).double() - y.double()
    return math.sqrt(float((err * err).mean()))


class Schedule:
    """grace's per-epoch rate: its table (warm-up, cosine or one-cycle), times the plateau
    schedule's scale; selection counters and early stopping as grace's trainer keeps them."""

    def __init__(self, t):
        self.t = t
        self.scale, self.best = 1.0, math.inf
        self.since_improvement = self.since_lr_change = 0

    def lr(self, epoch):
        t = self.t
        return max(t["lr_by_epoch"][epoch] * self.scale, min(t["min_lr"], t["lr"]))

    def record(self, epoch, rmse):
        """Returns whether to stop early."""
        t = self.t
        if rmse < self.best:
            self.best, self.since_improvement, self.since_lr_change = rmse, 0, 0
            return False
        self.since_improvement += 1
        self.since_lr_change += 1
        if t["schedule"] == "plateau" and self.since_lr_change >= t["plateau_patience"] and epoch >= t["warmup_epochs"]:
            self.scale *= t["plateau_factor"]
            self.since_lr_change = 0
        return self.since_improvement >= t["early_stop_patience"]


def epoch_order(n, fraction, g):
    keep = min(max(math.ceil(fraction * n), 1), n)
    return torch.randperm(n, generator=g)[:keep]


def run_epoch(model, opt, avg, arrays, order, t, losses, lr, step):
    """One epoch of steps; returns the mean losses (combined, RUL, health) and the step count.
    `losses` is (the RUL loss, the task weighting that sets the gradients)."""
    rul, weighting = losses
    for group in opt.param_groups:
        group["lr"] = lr
    model.train()
    sums, n = [0.0, 0.0, 0.0], 0
    for idx in order.split(t["batch_size"]):
        if t["max_steps"] > 0 and step >= t["max_steps"]:
            break
        x = arrays["train_x"][idx]
        if t["input_jitter"] > 0:
            x = x + torch.randn_like(x) * t["input_jitter"]
        pred, logits = model(x)
        l_r, l_h = rul(pred, arrays["train_rul"][idx]), health_loss(logits, arrays["train_health"][idx])
        opt.zero_grad(set_to_none=True)
        lam = weighting(l_r, l_h)
        l_r, l_h = float(l_r), float(l_h)
        total = lam[0] * l_r + lam[1] * l_h
        if t["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["clip_norm"])
        opt.step()
        avg.update()
        sums = [s + v for s, v in zip(sums, (total, l_r, l_h))]
        n, step = n + 1, step + 1
    return [s / max(n, 1) for s in sums], step


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    with open(a.config) as f:
        spec = json.load(f)
    t = spec["train"]
    seed = t["seed"] if a.seed is None else a.seed
    torch.manual_seed(seed)
    model, arrays = load(a, spec, dev)
    g = torch.Generator().manual_seed(seed)
    gaba = spec["method"]["gaba"]
    weighting = GabaWeights(model, gaba) if gaba else FixedWeights(spec["method"]["weights"])
    losses = (rul_loss(spec, arrays), weighting)
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr_by_epoch"][0], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=t["weight_decay"])
    avg, sched = Average(model, t["ema_decay"]), Schedule(t)
    emit({"start": {"torch": torch.__version__, "threads": torch.get_num_threads(), "method": spec["method"]["name"],
                    "weighting": "gaba" if gaba else "fixed",
                    "attention": "last_query" if a.attn_last_query else "full",
                    "init": "own" if a.own_init else "grace", "train_windows": len(arrays["train_x"]),
                    "val_windows": len(arrays["val_x"]), "budget_s": a.budget_seconds}})
    start, step, done, stopped = time.perf_counter(), 0, 0, "epochs"
    for epoch in range(t["epochs"]):
        if time.perf_counter() - start >= a.budget_seconds:
            stopped = "budget"
            break
        t0 = time.perf_counter()
        lr = sched.lr(epoch)
        order = epoch_order(len(arrays["train_x"]), t["epoch_fraction"], g).to(dev)
        means, step = run_epoch(model, opt, avg, arrays, order, t, losses, lr, step)
        rmse = val_rmse(avg.synced(), arrays["val_x"], arrays["val_rul"], t["eval_batch_size"])
        now = time.perf_counter()
        done += 1
        emit({"epoch": epoch, "elapsed_s": now - start, "seconds": now - t0, "val_rmse": rmse,
              "train_loss": means[0], "train_loss_rul": means[1], "train_loss_health": means[2], "lr": lr,
              "steps": step})
        if not math.isfinite(rmse):
            stopped = "diverged"
            break
        if sched.record(epoch, rmse):
            stopped = "early_stop"
            break
        if t["max_steps"] > 0 and step >= t["max_steps"]:
            stopped = "max_steps"
            break
    emit({"done": {"epochs": done, "steps": step, "stopped": stopped,
                   "wall_s": time.perf_counter() - start}})


if __name__ == "__main__":
    main()
