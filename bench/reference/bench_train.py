"""Training/inference throughput of the PyTorch reference model (the baseline grace's Rust
implementation is benchmarked against). See README.md.

    python bench_train.py --preset small --batch 256 --threads 2 --json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from grace_ref import Gaba, GraceRef, health_loss, mse, param_counts, preset, weighted_mse  # noqa: E402

EXPECTED_TOTAL = {("paper", 17): 3_497_476, ("small", 17): 246_820}
MODES = ["plain", "gaba_1f3b", "gaba_1f2b", "infer"]


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=["small", "paper"], default="small")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--infer-batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--features", type=int, default=17)
    p.add_argument("--window", type=int, default=30)
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default: small 3, paper 1)")
    p.add_argument("--warmup-steps", type=int, default=None, help="untimed steps per mode (default: small 2, paper 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per mode, median reported (default: small 3, paper 2)")
    p.add_argument("--min-seconds", type=float, default=None,
                   help="each repeat runs steps until this many seconds have passed (instead of --steps)")
    p.add_argument("--profile", action="store_true",
                   help="time the phases of the gaba_1f2b step (forward, backward, combination, clipping, optimizer) "
                        "instead of the modes")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    p.add_argument("--rul-loss", choices=["mse", "wmse"], default="wmse")
    p.add_argument("--attn-last-query", action="store_true",
                   help="attend with the last time step as the only query (what the Rust model computes; same outputs)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    a = p.parse_args()
    if a.steps is None:
        a.steps = 3 if a.preset == "small" else 1
    if a.warmup_steps is None:
        a.warmup_steps = 2 if a.preset == "small" else 1
    if a.repeats is None:
        a.repeats = 3 if a.preset == "small" else 2
    return a


def profile(step, sync, min_seconds):
    """Median ms per phase of `step` (which calls lap(name) after each phase), with a sync before
    each reading; two warm-up repetitions, then at least three and until `min_seconds` have passed."""
    samples = []

    def run_once(i):
        times, t = {}, [time.perf_counter()]

        def lap(name):
            sync()
            now = time.perf_counter()
            times[name] = 1000.0 * (now - t[0])
            t[0] = now

        sync()
        t[0] = time.perf_counter()
        step(i, lap)
        return times

    run_once(0)
    run_once(1)
    t0 = time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - t0 < min_seconds:
        samples.append(run_once(len(samples)))
    names = list(samples[0])
    ms = {n: statistics.median(s[n] for s in samples) for n in names}
    total = sum(ms.values())
    phases = [{"name": n, "ms": round(ms[n], 4), "share": ms[n] / total if total > 0 else 0.0} for n in names]
    return {"mode": "gaba_1f2b", "repetitions": len(samples), "phases": phases}


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    cfg = preset(a.preset, a.features)
    model = GraceRef(cfg, last_query_attention=a.attn_last_query).to(dev)
    counts = param_counts(model)
    want = EXPECTED_TOTAL.get((a.preset, a.features))
    assert want is None or counts["total"] == want, (counts, want)

    shared = model.shared_parameters()
    rul_params = shared + model.head_parameters("rul")
    health_params = shared + model.head_parameters("health")
    n_shared = len(shared)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    ctrl = Gaba(k=2, beta=0.99, floor=0.05, warmup=100)
    rul_loss = weighted_mse if a.rul_loss == "wmse" else mse

    g = torch.Generator().manual_seed(a.seed)
    pool = []
    for _ in range(4):
        x = torch.randn(a.batch, a.window, a.features, generator=g)
        y = torch.rand(a.batch, generator=g) * 125.0
        c = torch.randint(0, 3, (a.batch,), generator=g)
        pool.append((x.to(dev), y.to(dev), c.to(dev)))
    x_inf = torch.randn(a.infer_batch, a.window, a.features, generator=g).to(dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def losses(i):
        x, y, c = pool[i % len(pool)]
        r, logits = model(x)
        return rul_loss(r, y), health_loss(logits, c)

    def step_plain(i):
        l_r, l_h = losses(i)
        opt.zero_grad(set_to_none=True)
        (0.5 * l_r + 0.5 * l_h).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def shared_norm():
        gs = [p.grad for p in shared if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in gs])).item() if gs else 0.0

    def step_1f3b(i):
        # the paper's recipe: two norm-probing backward passes, then one on the weighted loss
        l_r, l_h = losses(i)
        opt.zero_grad(set_to_none=True)
        l_r.backward(retain_graph=True)
        g_r = shared_norm()
        opt.zero_grad(set_to_none=True)
        l_h.backward(retain_graph=True)
        g_h = shared_norm()
        opt.zero_grad(set_to_none=True)
        lam_r, lam_h = ctrl.step([g_r, g_h])
        (lam_r * l_r + lam_h * l_h).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def norm_of(gs):
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in gs])).item()

    def step_1f2b(i, lap=lambda name: None):
        # per-task gradients once each, combined as λ_r g_r + λ_h g_h (docs/reference.md §4.2, last paragraph)
        l_r, l_h = losses(i)
        lap("forward")
        gr = torch.autograd.grad(l_r, rul_params, retain_graph=True, allow_unused=True)
        gh = torch.autograd.grad(l_h, health_params, allow_unused=True)
        lap("backward")
        gr = [torch.zeros_like(p) if t is None else t for p, t in zip(rul_params, gr)]
        gh = [torch.zeros_like(p) if t is None else t for p, t in zip(health_params, gh)]
        lam_r, lam_h = ctrl.step([norm_of(gr[:n_shared]), norm_of(gh[:n_shared])])
        for p, tr, th in zip(shared, gr[:n_shared], gh[:n_shared]):
            p.grad = tr.mul(lam_r).add_(th, alpha=lam_h)
        for p, t in zip(rul_params[n_shared:], gr[n_shared:]):
            p.grad = t.mul(lam_r)
        for p, t in zip(health_params[n_shared:], gh[n_shared:]):
            p.grad = t.mul(lam_h)
        lap("combination")
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lap("clipping")
        opt.step()
        lap("optimizer")

    def step_infer(i):
        with torch.no_grad():
            model(x_inf)

    fns = {"plain": step_plain, "gaba_1f3b": step_1f3b, "gaba_1f2b": step_1f2b, "infer": step_infer}
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in modes:
        if m not in fns:
            sys.exit(f"unknown mode {m!r}; choose from {MODES}")

    if a.profile:
        model.train(True)
        out = {"preset": a.preset, "torch": torch.__version__, "profile": profile(step_1f2b, sync, a.min_seconds or 0.0)}
        print(json.dumps(out) if a.json else out)
        return

    results, ms, cpu_ms = {}, {}, {}
    t_all = time.perf_counter()
    for m in modes:
        model.train(m != "infer")
        fn = fns[m]
        bs = a.infer_batch if m == "infer" else a.batch
        for i in range(a.warmup_steps):
            fn(i)
        sync()
        rates, cpus, steps_run = [], [], []
        for _ in range(a.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            n = 0
            while True:
                fn(n)
                n += 1
                if (time.perf_counter() - t0 >= a.min_seconds) if a.min_seconds is not None else n >= a.steps:
                    break
            sync()
            dt = time.perf_counter() - t0
            rates.append(n * bs / dt)
            cpus.append(1000.0 * (time.process_time() - c0) / n)
            steps_run.append(n)
        results[m] = round(statistics.median(rates), 1)
        ms[m] = round(1000.0 * bs / results[m], 2)
        cpu_ms[m] = round(statistics.median(cpus), 2)
        if not a.json:
            print(f"{m:10s} {results[m]:10.1f} samples/s  {ms[m]:8.2f} ms/step  {cpu_ms[m]:8.2f} cpu-ms/step  (batch {bs}, "
                  f"{a.repeats} repeats of {steps_run} steps, rates {[round(r, 1) for r in rates]})", flush=True)
    total_s = time.perf_counter() - t_all

    out = {
        "preset": a.preset,
        "batch": a.batch,
        "threads": a.threads,
        "torch": torch.__version__,
        "samples_per_s": results,
        "ms_per_step": ms,
        "cpu_ms_per_step": cpu_ms,  # process CPU time (all threads); less sensitive to a busy machine
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "infer_batch": a.infer_batch,
        "features": a.features,
        "steps": a.steps,
        "min_seconds": a.min_seconds,
        "warmup_steps": a.warmup_steps,
        "repeats": a.repeats,
        "rul_loss": a.rul_loss,
        "attn_last_query": a.attn_last_query,
        "device": str(dev),
        "params": counts["total"],
        "wall_s": round(total_s, 2),
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"total {total_s:.1f} s, torch {torch.__version__}, {a.threads} threads, {counts['total']} params")


if __name__ == "__main__":
    main()
