"""Peak training memory (forward + backward) of deep GNNs against depth, on CPU.

Compares, on a random graph with 64 channels:
  * gnnkit ``RevGNN`` (grouped reversible, 2 groups, PreAct BatchNorm-ReLU-GCN blocks),
  * the same network with ordinary autograd (``reversible=False``): a residual GNN whose
    activations are all kept,
  * PyG's ``torch_geometric.nn.GroupAddRev`` wrapping exactly the same blocks.

Every configuration runs in a fresh subprocess; its peak memory is the process's RSS high-water
mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), reported both as the whole peak and as the
growth over the RSS just before the training step (graph, features and model already built).
Workers run with ``OMP_WAIT_POLICY=PASSIVE`` and ``MALLOC_MMAP_THRESHOLD_=65536`` (tensors are
mmapped and unmapped when freed, so RSS tracks live memory rather than glibc's cache).
Dropout is 0 so PyG's module (which does not replay dropout masks) computes the same thing.
The residual curve stops once its measured or linearly extrapolated peak would pass
``--limit-gb`` (8 GB by default: the machine is shared, 24 GB).

    python benchmarks/bench_deep_memory.py                       # the full table
    python benchmarks/bench_deep_memory.py --sizes 100000:1000000 --depths 8,64

Writes ``benchmarks/results/deep_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def worker(impl: str, depth: int, num_nodes: int, num_edges: int, channels: int) -> dict:
    import torch

    import gnnkit as gk
    from gnnkit.nn.deep import RevGNN

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    try:  # every worker imports PyG, so all start from the same resident baseline
        import torch_geometric.nn  # noqa: F401
    except ImportError:
        pass
    torch.manual_seed(0)
    src = torch.randint(0, num_nodes, (num_edges,))
    dst = torch.randint(0, num_nodes, (num_edges,))
    g = gk.graph((src, dst), num_nodes=num_nodes)
    x = torch.randn(num_nodes, channels)
    y = torch.randint(0, 10, (num_nodes,))
    model = RevGNN(channels, channels, 10, num_layers=depth, groups=2, dropout=0.0, reversible=impl != "residual")
    if impl == "pyg":
        from torch_geometric.nn import GroupAddRev

        class _ArgsSwapped(torch.nn.Module):  # PyG calls conv(x, edge_index); gnnkit blocks take (g, x)
            def __init__(self, block):
                super().__init__()
                self.block = block

            def forward(self, h, graph):
                return self.block(graph, h)

        pyg_layers = torch.nn.ModuleList(
            [GroupAddRev(torch.nn.ModuleList([_ArgsSwapped(b) for b in layer.blocks])) for layer in model.layers]
        )

        def forward(graph, feat):
            h = model.encoder(feat)
            for layer in pyg_layers:
                h = layer(h, graph)
            return model.decoder(torch.relu(model.final_norm(h)))
    else:

        def forward(graph, feat):
            return model(graph, feat)

    # Build the kernels' CSR caches before measuring, as in any epoch after the first, and pay the
    # one-time lazy imports and initialisations (torch.autograd.grad pulls in sympy, ~3 s) outside
    # the measured step: one step of the same code on a 64-node graph.
    g.sparse.in_csr(), g.sparse.out_csr()
    tiny = gk.graph((torch.arange(64), torch.arange(64).roll(1)), num_nodes=64)
    forward(tiny, torch.randn(64, channels)).sum().backward()
    model.zero_grad(set_to_none=True)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(forward(g, x), y)
    loss.backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grad_norm = float(sum(p.grad.norm() ** 2 for p in model.parameters() if p.grad is not None) ** 0.5)
    return {
        "peak_gb": peak / 1e6, "before_gb": rss_before / 1e6, "growth_gb": (peak - rss_before) / 1e6, "seconds": seconds,
        "seconds_per_layer": seconds / depth, "threads": torch.get_num_threads(), "loadavg": os.getloadavg(),
        "loss": loss.item(), "grad_norm": grad_norm,
    }


def run_config(impl, depth, nodes, edges, channels, timeout):
    env = dict(os.environ)
    # Idle OpenMP threads sleep instead of spinning (the machine is shared), and every allocation
    # above 64 KB is its own mmap, returned to the OS when freed: RSS then tracks live tensors
    # instead of what glibc keeps cached in its arenas. Same settings for every implementation.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    cmd = [sys.executable, __file__, "--worker", impl, str(depth), str(nodes), str(edges), str(channels)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout}s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100000:1000000,10000:100000", help="nodes:edges pairs")
    parser.add_argument("--depths", default="8,64,256,1001")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--impls", default="gnnkit_rev,pyg,residual")
    parser.add_argument("--limit-gb", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=600, help="skip a config whose extrapolated time exceeds this")
    parser.add_argument("--out", default=str(RESULTS / "deep_memory.json"))
    args = parser.parse_args()
    if args.worker:
        impl, depth, nodes, edges, channels = args.worker
        print(json.dumps(worker(impl, int(depth), int(nodes), int(edges), int(channels))))
        return
    depths = [int(d) for d in args.depths.split(",")]
    impls = args.impls.split(",")
    results = []
    print(f"{'graph':>16} {'impl':>11} {'L':>5} {'peak GB':>8} {'growth GB':>9} {'step s':>7}  note")
    for size in args.sizes.split(","):
        nodes, edges = (int(v) for v in size.split(":"))
        history = {impl: [] for impl in impls}
        stopped = set()
        # Depth-major order: the implementations run back to back at each depth, so they meet
        # similar load on this shared machine and their times are comparable.
        for depth in depths:
            for impl in impls:
                if impl in stopped:
                    continue
                note = ""
                past = history[impl]
                if past:
                    (d0, m0), (d1, m1, t1) = (past[-2][:2] if len(past) > 1 else (0, past[-1][1])), past[-1]
                    slope = (m1 - m0) / max(1, d1 - d0) if len(past) > 1 else 0.0
                    predicted_mem = m1 + slope * (depth - d1)
                    predicted_time = t1 * depth / d1
                    if impl == "residual" and predicted_mem > args.limit_gb:
                        note = f"stopped: extrapolated peak {predicted_mem:.1f} GB > {args.limit_gb} GB"
                        stopped.add(impl)
                    elif predicted_time > args.max_seconds:
                        note = f"skipped: extrapolated step {predicted_time:.0f} s > {args.max_seconds:.0f} s"
                if note:
                    print(f"{nodes:>7}/{edges:<8} {impl:>11} {depth:>5} {'-':>8} {'-':>9} {'-':>7}  {note}", flush=True)
                    results.append({"nodes": nodes, "edges": edges, "impl": impl, "depth": depth, "note": note})
                    continue
                res = run_config(impl, depth, nodes, edges, args.channels, timeout=int(args.max_seconds * 3) + 120)
                res.update({"nodes": nodes, "edges": edges, "impl": impl, "depth": depth})
                results.append(res)
                if "error" in res:
                    print(f"{nodes:>7}/{edges:<8} {impl:>11} {depth:>5} error: {res['error']}", flush=True)
                    continue
                past.append((depth, res["peak_gb"], res["seconds"]))
                print(f"{nodes:>7}/{edges:<8} {impl:>11} {depth:>5} {res['peak_gb']:>8.2f} {res['growth_gb']:>9.2f} {res['seconds']:>7.1f}", flush=True)
                if impl == "residual" and res["peak_gb"] > args.limit_gb:
                    stopped.add(impl)
        for impl in impls:
            past = history[impl]
            if len(past) > 1:
                print(f"{nodes}/{edges} {impl}: peak at L={past[-1][0]} is {past[-1][1] / past[0][1]:.2f}x the peak at L={past[0][0]}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"channels": args.channels, "limit_gb": args.limit_gb, "results": results}, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
