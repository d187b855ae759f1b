"""PyTorch reference implementation of the grace dual-task model (docs/reference.md §3) and losses (docs/reference.md §4).

State-dict names match the Rust model (crates/grace-nn/src/model.rs) so weights load across via
safetensors. Run `python grace_ref.py` to check the parameter counts of docs/reference.md §3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Config:
    n_features: int = 17
    window: int = 30
    conv_channels: list = field(default_factory=lambda: [64, 128, 64])
    conv_kernel: int = 3
    conv_dropout: float = 0.15
    lstm_hidden: int = 256
    lstm_layers: int = 2
    lstm_dropout: float = 0.3
    attn_heads: int = 8
    attn_dropout: float = 0.1
    funnel: list = field(default_factory=lambda: [256, 64, 32])
    funnel_dropout: float = 0.3
    dropout_on_shared: bool = False  # paper placement: dropout after the last funnel layer too
    rul_head: list = field(default_factory=lambda: [64, 32, 16])  # + output layer of width 1
    health_head: list = field(default_factory=lambda: [32, 16])  # + output layer of n_classes
    n_classes: int = 3
    rul_bias_init: float = 1.0


def preset(name: str, n_features: int = 17) -> Config:
    paper = Config(n_features=n_features)
    if name == "paper":
        return paper
    if name == "small":
        return replace(paper, conv_channels=[32, 64, 32], lstm_hidden=64, attn_heads=4, funnel=[64, 32])
    raise ValueError(f"unknown preset {name!r}: use 'paper' or 'small'")


class CNN(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        c_in = cfg.n_features
        self.n = len(cfg.conv_channels)
        self.p = cfg.conv_dropout
        for i, c in enumerate(cfg.conv_channels):
            setattr(self, f"conv{i}", nn.Conv1d(c_in, c, cfg.conv_kernel, padding=cfg.conv_kernel // 2))
            setattr(self, f"bn{i}", nn.BatchNorm1d(c))
            c_in = c

    def forward(self, x):  # (B, C, L)
        for i in range(self.n):
            x = getattr(self, f"conv{i}")(x)
            x = F.relu(getattr(self, f"bn{i}")(x))
            x = F.dropout(x, self.p, self.training)
        return x


class GraceRef(nn.Module):
    def __init__(self, cfg: Config, last_query_attention: bool = False):
        super().__init__()
        self.cfg = cfg
        # Rust computes attention for the last query only (same numbers, ~1/30 of the query work).
        self.last_query_attention = last_query_attention
        self.cnn = CNN(cfg)
        self.lstm = nn.LSTM(cfg.conv_channels[-1], cfg.lstm_hidden, num_layers=cfg.lstm_layers,
                            batch_first=True, dropout=cfg.lstm_dropout, bidirectional=True)
        d = 2 * cfg.lstm_hidden
        self.attn = nn.MultiheadAttention(d, cfg.attn_heads, dropout=cfg.attn_dropout, batch_first=True)
        self.attn_norm = nn.LayerNorm(d)
        widths = [d] + list(cfg.funnel)
        self.funnel = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        z = cfg.funnel[-1]
        widths = [z] + list(cfg.rul_head) + [1]
        self.rul_head = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        widths = [z] + list(cfg.health_head) + [cfg.n_classes]
        self.health_head = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        with torch.no_grad():
            self.rul_head[-1].bias.fill_(cfg.rul_bias_init)

    def backbone(self, x):  # x: (B, L, F) -> z: (B, funnel[-1])
        h = self.cnn(x.transpose(1, 2)).transpose(1, 2)
        h, _ = self.lstm(h)
        if self.last_query_attention:
            q = h[:, -1:]
            a = self.attn(q, h, h, need_weights=False)[0]
            z = self.attn_norm(q + a)[:, 0]
        else:
            a = self.attn(h, h, h, need_weights=False)[0]
            z = self.attn_norm(h + a)[:, -1]
        n = len(self.funnel)
        for i, layer in enumerate(self.funnel):
            z = F.relu(layer(z))
            if i + 1 < n or self.cfg.dropout_on_shared:
                z = F.dropout(z, self.cfg.funnel_dropout, self.training)
        return z

    def heads(self, z):
        r = z
        for layer in self.rul_head:
            r = F.relu(layer(r))
        h = z
        n = len(self.health_head)
        for i, layer in enumerate(self.health_head):
            h = layer(h)
            if i + 1 < n:
                h = F.relu(h)
        return r.squeeze(1), h

    def forward(self, x):
        return self.heads(self.backbone(x))

    def shared_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith(("rul_head.", "health_head."))]

    def head_parameters(self, task: str):
        prefix = "rul_head." if task == "rul" else "health_head."
        return [p for n, p in self.named_parameters() if n.startswith(prefix)]


def param_counts(model: GraceRef) -> dict:
    c = {"total": 0, "shared": 0, "rul_head": 0, "health_head": 0}
    for n, p in model.named_parameters():
        k = p.numel()
        c["total"] += k
        g = n.split(".")[0]
        c[g if g in ("rul_head", "health_head") else "shared"] += k
    return c


# ---------------------------------------------------------------------------------------------
# Losses (docs/reference.md §4.1) and the GABA controller (docs/reference.md §4.2)

def mse(pred, y):
    return ((pred - y) ** 2).mean()


def weighted_mse(pred, y, slope: float = 1.0, r_max: float = 125.0):
    w = 1.0 + slope * torch.clamp(1.0 - y / r_max, 0.0, 1.0)
    return (w.detach() * (pred - y) ** 2).mean()


def health_loss(logits, cls):
    return F.cross_entropy(logits, cls)


class Gaba:
    """GABA task weighting (docs/reference.md §4.2): inverse-gradient-norm raw weights, EMA, floor, renorm."""

    def __init__(self, k: int = 2, beta: float = 0.99, floor: float = 0.05, warmup: int = 100):
        self.k, self.beta, self.floor, self.warmup = k, beta, floor, warmup
        self.ema = [1.0 / k] * k
        self.step_n = 0
        self.last = {}

    def step(self, norms):
        k = self.k
        g = [float(x) for x in norms]
        s = sum(g)
        if self.step_n < self.warmup or not all(math.isfinite(x) for x in g) or not s > 0 or not math.isfinite(s):
            raw = [1.0 / k] * k
        else:
            raw = [(s - gi) / ((k - 1) * s) for gi in g]
        self.ema = [self.beta * e + (1 - self.beta) * r for e, r in zip(self.ema, raw)]
        f = [max(e, self.floor) for e in self.ema]
        tot = sum(f)
        lam = [x / tot for x in f]
        self.step_n += 1
        self.last = {"norms": g, "raw": raw, "ema": list(self.ema), "floored": f, "lambda": lam}
        return lam

    def state_dict(self):
        return {"ema": list(self.ema), "step": self.step_n}


def grad_norm(grads) -> float:
    gs = [g for g in grads if g is not None]
    if not gs:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gs])))


def _self_test():
    paper = param_counts(GraceRef(preset("paper", 17)))
    assert paper["total"] == 3_497_476, paper
    assert paper["shared"] == 3_491_104, paper
    assert paper["rul_head"] == 4_737 and paper["health_head"] == 1_635, paper
    small = param_counts(GraceRef(preset("small", 17)))
    assert small["total"] == 246_820, small
    m = GraceRef(preset("small", 17))
    names = set(m.state_dict())
    for n in ["cnn.conv0.weight", "cnn.bn2.running_var", "lstm.weight_ih_l1_reverse", "attn.in_proj_weight",
              "attn.out_proj.bias", "attn_norm.weight", "funnel.1.bias", "rul_head.3.bias", "health_head.2.weight"]:
        assert n in names, n
    # full-sequence and last-query attention give the same outputs
    m.eval()
    x = torch.randn(4, 30, 17)
    with torch.no_grad():
        r1, h1 = m(x)
        m.last_query_attention = True
        r2, h2 = m(x)
    assert torch.allclose(r1, r2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5)
    # GABA: uniform through warm-up, then moves toward the task with the smaller gradient norm
    c = Gaba(warmup=2)
    assert c.step([1.0, 3.0]) == [0.5, 0.5]
    c.step([1.0, 3.0])
    lam = c.step([1.0, 3.0])
    assert lam[0] > 0.5 and abs(sum(lam) - 1) < 1e-12
    lam = c.step([float("nan"), 1.0])
    assert all(math.isfinite(v) for v in c.ema)
    return paper, small


if __name__ == "__main__":
    p, s = _self_test()
    print(f"ok: paper {p}, small {s}")
