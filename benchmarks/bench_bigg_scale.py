"""BiGG scale benchmark: sampling time vs n, and training peak memory with/without sqrt-blocking.

Sampling: one sparse graph (m about 2n) at each size with an embed-256 model. The model is
randomly initialised (seed 0) and its three Bernoulli heads are calibrated so that a sample is
sparse: the heads' output weights are zeroed and their biases set so that p(has_edge) = 0.95,
p(has_left) = 0.1 (edges near the diagonal, as in DFS-ordered sparse graphs) and p(has_right |
has_left) chosen so that a row has about 2 edges at that n. Every LSTM/TreeLSTM cell and hidden
head layer is still evaluated, so the cost per decision is that of a trained model.

Memory: one training step (forward + backward) on one 50k-node sparse graph, each mode in its own
subprocess, peak RSS (ru_maxrss) minus the RSS before the step.

    python benchmarks/bench_bigg_scale.py --sizes 1000 5000 10000 50000 --memory-nodes 0 --out a.json
    python benchmarks/bench_bigg_scale.py --sizes 100000 --memory-nodes 0 --out b.json
    python benchmarks/bench_bigg_scale.py --sizes 100000 --memory-nodes 0 --workers 2 --out c.json
    python benchmarks/bench_bigg_scale.py --merge a.json b.json --out scale.json   # slope over all sizes
    python benchmarks/bench_bigg_scale.py --sizes --memory-nodes 50000 --memory-embed 16 --memory-threads 1

(the full-memory mode at embed 256 on a 50k-node graph needs tens of GB: about 930k internal
tree nodes; the RSS increase scales linearly with embed_dim).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def calibrated_model(n: int, embed_dim: int = 256, p_edge: float = 0.95, p_left: float = 0.1,
                     edges_per_row: float = 2.0):
    from gnnkit.generative.bigg import BiGG

    torch.manual_seed(0)
    model = BiGG(embed_dim=embed_dim)
    depth = max(math.log2(max(n, 4)) - 1.0, 1.0)
    growth = (edges_per_row / p_edge) ** (1.0 / depth) - 1.0  # (1 + p_left p_right)^depth = m/n / p_edge
    p_right = min(max(growth / p_left, 1e-3), 0.999)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    with torch.no_grad():
        for head, p in ((model.head_edge, p_edge), (model.head_left, p_left), (model.head_right, p_right)):
            head.out.weight.zero_()
            head.out.bias.fill_(logit(p))
    model.eval()
    return model


def time_sampling(sizes, embed_dim, workers=1):
    rows = []
    for n in sizes:
        model = calibrated_model(n, embed_dim)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        c0 = time.process_time()
        g = model.sample(num_nodes=n, generator=torch.Generator().manual_seed(n), workers=workers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        m = g.num_edges() // 2
        load = os.getloadavg()[0]
        rows.append({"n": n, "m": m, "seconds": wall, "cpu_seconds": cpu, "embed_dim": embed_dim,
                     "workers": workers, "load_average": load, "load_average_before": load_before})
        # cpu_seconds counts this process only (a worker's half of the products is not in it)
        print(f"n={n:>7d}  m={m:>7d}  m/n={m / n:.2f}  sample {wall:8.2f} s wall  {cpu:8.2f} s cpu  "
              f"workers {workers}  load {load_before:.1f} -> {load:.1f}", flush=True)
    if len(rows) >= 2:
        measured = list(rows)
        x = np.log([r["n"] for r in measured])
        for key in ("seconds", "cpu_seconds"):
            slope = float(np.polyfit(x, np.log([r[key] for r in measured]), 1)[0])
            print(f"log-log slope of {key} vs n: {slope:.3f}")
            rows.append({"slope_" + key: slope})
    return rows


def merge_sampling(paths, out):
    """Joins the sampling rows of separate runs (e.g. 100k alone) and fits the slope over all."""
    rows = []
    for path in paths:
        with open(path) as fh:
            rows += [r for r in json.load(fh).get("sampling", []) if "n" in r]
    rows.sort(key=lambda r: r["n"])
    result = {"sampling": rows, "sources": list(paths)}
    x = np.log([r["n"] for r in rows])
    for key in ("seconds", "cpu_seconds"):
        result["slope_" + key] = float(np.polyfit(x, np.log([r[key] for r in rows]), 1)[0])
    for r in rows:
        print(f"n={r['n']:>7d}  m={r['m']:>7d}  {r['seconds']:8.2f} s wall  {r['cpu_seconds']:8.2f} s cpu  "
              f"load {r.get('load_average', float('nan')):.1f}")
    print(f"log-log slope: wall {result['slope_seconds']:.3f}, cpu {result['slope_cpu_seconds']:.3f}")
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh, indent=2)
    os.replace(tmp, out)


def sparse_graph(n: int, seed: int = 0):
    """A connected sparse graph with m about 2n: a random tree plus n random chords."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    parents = [int(rng.integers(max(0, i - 8), i)) for i in range(1, n)]  # local tree (DFS-like)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((i + 1, p) for i, p in enumerate(parents))
    u = rng.integers(0, n, size=n)
    v = np.clip(u + rng.integers(-50, 50, size=n), 0, n - 1)
    g.add_edges_from((int(a), int(b)) for a, b in zip(u, v) if a != b)
    return g


def memory_child(n: int, embed_dim: int, blocked: bool, num_blocks: int | None = None, threads: int = 2):
    torch.set_num_threads(threads)
    from gnnkit.generative.bigg import BiGG

    torch.manual_seed(0)
    model = BiGG(embed_dim=embed_dim)
    (rg,) = model.prepare([sparse_graph(n)])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if blocked:
        ll = model.blocked_backward(rg, num_blocks)
    else:
        ll_t = model.log_likelihood([rg])
        (-ll_t).backward()
        ll = float(ll_t.detach())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "m": int(len(rg.rows)), "blocked": blocked, "embed_dim": embed_dim,
                      "num_blocks": num_blocks,
                      "peak_rss_mb": peak / 1024, "step_peak_increase_mb": (peak - base) / 1024,
                      "seconds": time.perf_counter() - t0, "loss_per_node": -ll / n,
                      "load_average": os.getloadavg()[0]}))


def measure_memory(n, embed_dim, num_blocks=0, modes=(False, True), threads=2):
    out = []
    for blocked in modes:
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(n), str(embed_dim), str(int(blocked)),
                               str(num_blocks), str(threads)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            out.append({"blocked": blocked, "error": proc.stderr[-500:]})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        out.append(row)
        print(f"n={n} embed={embed_dim} blocked={blocked}: peak RSS {row['peak_rss_mb']:.0f} MB "
              f"(step increase {row['step_peak_increase_mb']:.0f} MB), {row['seconds']:.1f} s", flush=True)
    if len(out) == 2 and "error" not in out[0] and "error" not in out[1]:
        ratio = out[1]["step_peak_increase_mb"] / out[0]["step_peak_increase_mb"]
        print(f"sqrt-blocking / full peak increase: {ratio:.3f}")
        out.append({"ratio": ratio})
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(int(sys.argv[2]), int(sys.argv[3]), bool(int(sys.argv[4])), int(sys.argv[5]) or None,
                     int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 10000, 50000, 100000])
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2),
                        help="sampling processes (2: the rows of every product split with a forked worker)")
    parser.add_argument("--memory-nodes", type=int, default=50000)
    parser.add_argument("--memory-embed", type=int, default=256)
    parser.add_argument("--memory-blocks", type=int, default=0, help="row blocks (0: ceil(sqrt(n)))")
    parser.add_argument("--memory-modes", default="full,blocked", help="which of full,blocked to run")
    parser.add_argument("--memory-threads", type=int, default=2, help="torch threads of the memory runs")
    parser.add_argument("--out", default="bigg_scale.json")
    parser.add_argument("--merge", nargs="+", default=None, help="join the sampling rows of these result files")
    args = parser.parse_args()
    if args.merge:
        merge_sampling(args.merge, args.out)
        return
    torch.set_num_threads(2)
    result = {"load_average": os.getloadavg()}

    def save():  # after each part, so a run cut short by its time limit keeps what it measured
        tmp = args.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh, indent=2)
        os.replace(tmp, args.out)

    if args.sizes:
        result["sampling"] = time_sampling(args.sizes, args.embed, args.workers)
        save()
    if args.memory_nodes:
        modes = tuple(m == "blocked" for m in args.memory_modes.split(","))
        result["memory"] = measure_memory(args.memory_nodes, args.memory_embed, args.memory_blocks, modes,
                                          args.memory_threads)
        save()


if __name__ == "__main__":
    main()
