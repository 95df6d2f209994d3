"""DEQGNN: training memory against the number of solver iterations, and accuracy on Cora.

Part ``memory``: on a random graph (default 50k nodes / 500k edges, 64 channels) one training
step (forward + backward) of ``DEQGNN`` with the solver forced to run exactly K iterations
(tol = 0) for K in 5, 20, 80, next to the same fixed-point iteration unrolled K times under
autograd (backpropagation through the solver). Each configuration runs in a fresh subprocess;
memory is the RSS high-water mark (``ru_maxrss``) minus the RSS before the step (workers run with
``MALLOC_MMAP_THRESHOLD_=65536`` so freed tensors leave RSS, and ``OMP_WAIT_POLICY=PASSIVE``).

Part ``cora``: DEQGNN (hidden 64, gamma 0.8, Anderson) on the public Planetoid split; test
accuracy at the epoch of best validation accuracy.

    python benchmarks/bench_deep_deq.py --part memory
    python benchmarks/bench_deep_deq.py --part cora --root /work/shared/datasets

Writes ``benchmarks/results/deep_deq.json`` (the parts are merged into it).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def memory_worker(mode: str, iterations: int, nodes: int, edges: int, channels: int) -> dict:
    import torch

    import gnnkit as gk
    from gnnkit.nn.deep import DEQGNN

    torch.set_num_threads(2)
    torch.manual_seed(0)
    src, dst = torch.randint(0, nodes, (edges,)), torch.randint(0, nodes, (edges,))
    g = gk.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=nodes)
    x, y = torch.randn(nodes, channels), torch.randint(0, 10, (nodes,))
    model = DEQGNN(channels, channels, 10, gamma=0.8, max_iter=iterations, tol=0.0)
    g.sparse.in_csr(), g.sparse.out_csr()
    probe = torch.ones(1, requires_grad=True)
    torch.autograd.grad(probe * 2, probe, torch.ones(1))  # one-time lazy imports, outside the timing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if mode == "deq":
        out = model(g, x)
    else:  # backpropagation through K unrolled iterations of the same layer
        u, weight = model.encoder(x), model.contractive_weight()
        z = torch.zeros_like(u)
        for _ in range(iterations):
            z = model.layer(g, z, u, weight)
        out = model.decoder(z)
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = model.last_forward_info if mode == "deq" else {"iterations": iterations}
    return {"peak_gb": peak / 1e6, "growth_gb": (peak - before) / 1e6, "seconds": seconds, "iterations": info.get("iterations")}


def run_memory(args) -> list:
    env = dict(os.environ)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    rows = []
    print(f"{'mode':>9} {'K':>4} {'peak GB':>8} {'growth GB':>9} {'step s':>7}")
    for iterations in [int(k) for k in args.iterations.split(",")]:
        for mode in ("deq", "unrolled"):
            cmd = [sys.executable, __file__, "--worker", mode, str(iterations), str(args.nodes), str(args.edges), str(args.channels)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
            if proc.returncode != 0:
                print(f"{mode:>9} {iterations:>4} error: {proc.stderr.strip().splitlines()[-1]}")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res.update({"mode": mode, "K": iterations, "nodes": args.nodes, "edges": 2 * args.edges})
            rows.append(res)
            print(f"{mode:>9} {iterations:>4} {res['peak_gb']:>8.2f} {res['growth_gb']:>9.3f} {res['seconds']:>7.1f}", flush=True)
    return rows


def run_cora(args) -> dict:
    import torch
    import torch.nn.functional as F

    from gnnkit.data import load_dataset
    from gnnkit.nn.deep import DEQGNN

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    g = load_dataset("Cora", root=args.root)[0]
    feat, label = g.ndata["feat"], g.ndata["label"]
    feat = feat / feat.sum(1, keepdim=True).clamp(min=1)
    train_mask, val_mask, test_mask = g.ndata["train_mask"], g.ndata["val_mask"], g.ndata["test_mask"]
    model = DEQGNN(feat.shape[1], 64, int(label.max()) + 1, gamma=0.8, solver=args.solver, max_iter=30, tol=1e-4, dropout=0.5, input_dropout=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best, curve = (-1.0, 0.0, 0), []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(g, feat)[train_mask], label[train_mask])
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(g, feat).argmax(1)
        val = float((pred[val_mask] == label[val_mask]).float().mean())
        test = float((pred[test_mask] == label[test_mask]).float().mean())
        curve.append({"epoch": epoch + 1, "loss": loss.item(), "val": val, "test": test, "forward_iterations": model.last_forward_info["iterations"]})
        if val > best[0]:
            best = (val, test, epoch + 1)
    res = {"val": best[0], "test": best[1], "best_epoch": best[2], "epochs": args.epochs, "solver": args.solver, "seconds": time.perf_counter() - start, "curve": curve}
    iters = [c["forward_iterations"] for c in curve]
    print(f"DEQGNN on Cora ({args.solver}): val {best[0]:.3f}, test {best[1]:.3f} at epoch {best[2]}/{args.epochs}; "
          f"solver iterations per forward {min(iters)}-{max(iters)}; {res['seconds']:.0f} s")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=["memory", "cora"], default="memory")
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=250_000, help="random pairs; both directions are added")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--iterations", default="5,20,80")
    parser.add_argument("--root", default=os.environ.get("GNNKIT_DATA", "/work/shared/datasets"))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--solver", default="anderson")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "deep_deq.json"))
    args = parser.parse_args()
    if args.worker:
        mode, iterations, nodes, edges, channels = args.worker
        print(json.dumps(memory_worker(mode, int(iterations), int(nodes), int(edges), int(channels))))
        return
    out = Path(args.out)
    payload = json.loads(out.read_text()) if out.exists() else {}
    payload[args.part] = run_memory(args) if args.part == "memory" else run_cora(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
