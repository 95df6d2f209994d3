"""Kernel benchmarks, gnnkit side by side with PyG 2.8 in the same run.

    python benchmarks/bench_kernels.py [--nodes 1000000 --edges 10000000 --feat 128] [--repeat 3]

Every case runs in a fresh subprocess: the graph and features are built, the peak-RSS mark is
reset (``/proc/self/clear_refs``), the operation runs ``--warmup`` times (default once) and ``--repeat`` times
timed (median), and the peak RSS above the post-setup baseline is reported. A table is printed
and everything is written to ``benchmarks/results/kernels.json``.

Cases (float32, 2 threads):
* copy_u + sum, forward and forward+backward: gnnkit ``update_all`` vs PyG's default
  ``edge_index`` propagate and PyG's fastest path (a CSR ``adj_t`` with ``torch_geometric.utils.spmm``).
  The effective bandwidth (bytes that must move: the E gathered rows, the N written rows and the
  CSR indices, over the time) is printed next to a random-row-gather bandwidth measured here.
* u_mul_e + sum (edge weights) vs PyG propagate with ``x_j * w``.
* SDDMM: u_dot_v with F features and u_add_v with 8 heads vs PyG-style indexing.
* edge_softmax over 8 heads vs ``torch_geometric.utils.softmax``.
* a mailbox (UDF) max reducer vs the builtin max on a power-law graph.
* ``gk.batch`` of 1000 graphs (1000 edges, 32 features each) vs ``Batch.from_data_list``, and the
  copy floor: the same edges and features concatenated with no node offsets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------------------------------------
# measurement helpers (run inside the child)


def _reset_peak() -> int:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_kb("VmRSS")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _time(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _random_graph(n: int, e: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=gen)
    dst = torch.randint(0, n, (e,), generator=gen)
    return src, dst


def _power_law_graph(n: int, e: int, seed: int = 0):
    # Chung-Lu style: endpoints drawn proportionally to power-law weights (exponent 2.1).
    gen = torch.Generator().manual_seed(seed)
    weights = (torch.arange(1, n + 1, dtype=torch.float64) ** (-1 / 1.1)).float()
    src = torch.multinomial(weights, e, replacement=True, generator=gen)
    dst = torch.multinomial(weights, e, replacement=True, generator=gen)
    perm = torch.randperm(n, generator=gen)
    return perm[src], perm[dst]


# ------------------------------------------------------------------------------------------------
# cases: each returns a callable to time; setup happens before the peak mark is reset


def _gk_graph(n, e, f, weights=False):
    import gnnkit as gk

    src, dst = _random_graph(n, e)
    g = gk.graph((src, dst), num_nodes=n)
    g.ndata["h"] = torch.randn(n, f)
    if weights:
        g.edata["w"] = torch.rand(e)
    return g


def _pyg_spmm_layer(weighted: bool):
    from torch_geometric.nn import MessagePassing
    from torch_geometric.utils import spmm

    class Prop(MessagePassing):
        def __init__(self):
            super().__init__(aggr="sum")

        def forward(self, edge_index, x, w=None):
            return self.propagate(edge_index, x=x, w=w)

        def message(self, x_j, w):
            return x_j if w is None else x_j * w.view(-1, 1)

        def message_and_aggregate(self, adj_t, x):
            return spmm(adj_t, x, reduce="sum")

    return Prop()


def _csr_adj_t(src, dst, n, values=None):
    order = torch.argsort(dst, stable=True)
    counts = torch.bincount(dst, minlength=n)
    indptr = torch.zeros(n + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=indptr[1:])
    vals = torch.ones(src.numel()) if values is None else values[order]
    return torch.sparse_csr_tensor(indptr, src[order], vals, size=(n, n))


def make_case(name: str, impl: str, args):
    n, e, f = args.nodes, args.edges, args.feat
    if name.startswith("copy_u_sum") or name.startswith("u_mul_e_sum"):
        weighted = name.startswith("u_mul_e")
        backward = name.endswith("fwd_bwd")
        if impl == "gnnkit":
            import gnnkit.function as fn

            g = _gk_graph(n, e, f, weights=weighted)
            x = g.ndata["h"].requires_grad_(backward)
            msg = fn.u_mul_e("h", "w", "m") if weighted else fn.copy_u("h", "m")

            def run():
                with g.local_scope():
                    g.update_all(msg, fn.sum("m", "out"))
                    out = g.ndata["out"]
                if backward:
                    out.backward(torch.ones_like(out))
                    x.grad = None
                return out

            run()  # builds and caches the CSR views outside the timed region, as a model would
            return run
        src, dst = _random_graph(n, e)
        x = torch.randn(n, f, requires_grad=backward)
        w = torch.rand(e) if weighted else None
        layer = _pyg_spmm_layer(weighted)
        if impl == "pyg_edge_index":
            edge_index = torch.stack([src, dst])
            call = lambda: layer(edge_index, x, w)  # noqa: E731
        else:  # pyg_csr
            adj_t = _csr_adj_t(src, dst, n, w)
            call = lambda: layer(adj_t, x)  # noqa: E731

        def run():
            out = call()
            if backward:
                out.backward(torch.ones_like(out))
                x.grad = None
            return out

        return run
    if name in ("u_dot_v", "u_add_v_heads"):
        heads = name == "u_add_v_heads"
        width = 8 if heads else f
        src, dst = _random_graph(n, e)
        x = torch.randn(n, width)
        if impl == "gnnkit":
            import gnnkit as gk

            g = gk.graph((src, dst), num_nodes=n)
            op = "add" if heads else "dot"
            return lambda: gk.ops.gsddmm(g.sparse, op, x, x, "u", "v")
        if heads:
            return lambda: x.index_select(0, src) + x.index_select(0, dst)
        return lambda: (x.index_select(0, src) * x.index_select(0, dst)).sum(-1)
    if name == "edge_softmax":
        src, dst = _random_graph(n, e)
        scores = torch.randn(e, 8)
        if impl == "gnnkit":
            import gnnkit as gk

            g = gk.graph((src, dst), num_nodes=n)
            return lambda: gk.edge_softmax(g, scores)
        from torch_geometric.utils import softmax

        return lambda: softmax(scores, dst, num_nodes=n)
    if name == "mailbox_max":
        import gnnkit as gk
        import gnnkit.function as fn

        pn, pe = args.powerlaw_nodes, args.powerlaw_edges
        src, dst = _power_law_graph(pn, pe)
        g = gk.graph((src, dst), num_nodes=pn)
        g.ndata["h"] = torch.randn(pn, args.powerlaw_feat)
        if impl == "gnnkit_builtin":
            reduce = fn.max("m", "out")
        else:
            reduce = lambda nodes: {"out": nodes.mailbox["m"].max(1).values}  # noqa: E731

        def run():
            with g.local_scope():
                g.update_all(fn.copy_u("h", "m"), reduce)
                return g.ndata["out"]

        return run
    if name == "batch":
        graphs = []
        gen = torch.Generator().manual_seed(0)
        for _ in range(1000):
            s = torch.randint(0, 100, (1000,), generator=gen)
            d = torch.randint(0, 100, (1000,), generator=gen)
            graphs.append((s, d, torch.randn(100, 32, generator=gen)))
        if impl == "gnnkit":
            import gnnkit as gk

            objs = []
            for s, d, h in graphs:
                g = gk.graph((s, d), num_nodes=100)
                g.ndata["h"] = h
                objs.append(g)
            return lambda: gk.batch(objs)
        if impl == "copy_floor":
            # The bytes any batching must move, copied once with no node offsets: a lower bound.
            srcs, dsts, feats = zip(*graphs)
            return lambda: (torch.cat(srcs), torch.cat(dsts), torch.cat(feats))
        from torch_geometric.data import Batch, Data

        objs = [Data(x=h, edge_index=torch.stack([s, d]), num_nodes=100) for s, d, h in graphs]
        return lambda: Batch.from_data_list(objs)
    if name == "gather_bandwidth":
        x = torch.randn(n, f)
        src, _ = _random_graph(n, e)
        buf = torch.empty(e, f)
        return lambda: torch.index_select(x, 0, src, out=buf)
    raise ValueError(f"unknown case {name!r}")


def child(args) -> None:
    torch.set_num_threads(args.threads)
    run = make_case(args.case, args.impl, args)
    base = _reset_peak()
    seconds = _time(run, args.repeat, args.warmup)
    peak = _status_kb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": max(0, peak - base) / 1024}))


# ------------------------------------------------------------------------------------------------
# driver


CASES = [
    ("gather_bandwidth", ["torch"]),
    ("copy_u_sum_fwd", ["gnnkit", "pyg_csr", "pyg_edge_index"]),
    ("copy_u_sum_fwd_bwd", ["gnnkit", "pyg_csr", "pyg_edge_index"]),
    ("u_mul_e_sum_fwd", ["gnnkit", "pyg_csr", "pyg_edge_index"]),
    ("u_mul_e_sum_fwd_bwd", ["gnnkit", "pyg_csr", "pyg_edge_index"]),
    ("u_dot_v", ["gnnkit", "pyg"]),
    ("u_add_v_heads", ["gnnkit", "pyg"]),
    ("edge_softmax", ["gnnkit", "pyg"]),
    ("mailbox_max", ["gnnkit_builtin", "gnnkit_udf"]),
    ("batch", ["gnnkit", "pyg", "copy_floor"]),
]


def run_child(case: str, impl: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", "--case", case, "--impl", impl]
    for key in ("nodes", "edges", "feat", "repeat", "warmup", "threads", "powerlaw_nodes", "powerlaw_edges", "powerlaw_feat"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--feat", type=int, default=128)
    parser.add_argument("--powerlaw-nodes", type=int, default=200_000)
    parser.add_argument("--powerlaw-edges", type=int, default=2_000_000)
    parser.add_argument("--powerlaw-feat", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before the timed ones (every impl alike)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", default="all", help="comma-separated case names, or all")
    parser.add_argument("--out", default=str(RESULTS / "kernels.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    wanted = None if args.cases == "all" else set(args.cases.split(","))
    results = {"config": {k: getattr(args, k) for k in ("nodes", "edges", "feat", "repeat", "warmup", "threads", "powerlaw_nodes", "powerlaw_edges", "powerlaw_feat")},
               "torch": torch.__version__, "loadavg_start": os.getloadavg(), "cases": {}}
    try:
        import torch_geometric

        results["pyg"] = torch_geometric.__version__
    except ImportError:
        results["pyg"] = None
    print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges, {args.feat} features, float32, {args.threads} threads; median of {args.repeat}")
    print(f"{'case':<22}{'impl':<16}{'time ms':>10}{'peak MB':>10}{'vs gnnkit':>11}")
    for case, impls in CASES:
        if wanted and case not in wanted:
            continue
        rows = {}
        for impl in impls:
            if impl.startswith("pyg") and results["pyg"] is None:
                continue
            rows[impl] = run_child(case, impl, args)
        results["cases"][case] = rows
        ref = next(iter(rows.values()), {}).get("seconds")
        for impl, row in rows.items():
            if "error" in row:
                print(f"{case:<22}{impl:<16}  error: {row['error']}")
                continue
            ratio = row["seconds"] / ref if ref else float("nan")
            print(f"{case:<22}{impl:<16}{row['seconds'] * 1e3:>10.1f}{row['peak_mb']:>10.0f}{ratio:>10.2f}x")
    _summarise(results, args)
    results["loadavg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


def _summarise(results: dict, args) -> None:
    cases = results["cases"]
    gather = cases.get("gather_bandwidth", {}).get("torch", {})
    fwd = cases.get("copy_u_sum_fwd", {}).get("gnnkit", {})
    if "seconds" in gather and "seconds" in fwd:
        n, e, f = args.nodes, args.edges, args.feat
        gather_bw = e * f * 4 / gather["seconds"] / 1e9
        must_move = e * f * 4 + n * f * 4 + e * 8 + (n + 1) * 8
        eff_bw = must_move / fwd["seconds"] / 1e9
        results["bandwidth_gb_s"] = {"random_row_gather": gather_bw, "copy_u_sum_effective": eff_bw}
        print(f"bandwidth: random row gather {gather_bw:.1f} GB/s; copy_u+sum effective {eff_bw:.1f} GB/s ({eff_bw / gather_bw:.2f} of gather)")


if __name__ == "__main__":
    main()
