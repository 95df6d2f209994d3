"""Layer-side speed: dropout variants, SAGEConv's matmul order, and Cora/CiteSeer training epochs
of gnnkit's GCN / GAT / GraphSAGE against PyG in the same run (same torch, same threads).

    python benchmarks/bench_layers.py                   # everything, 200 epochs x 3 repeats
    python benchmarks/bench_layers.py --only dropout    # dropout | sage | epochs
    python benchmarks/bench_layers.py --epochs 50 --json out.json

Prints tables and writes JSON (default ``benchmarks/results/bench_layers.json``). Timings are
medians; an epoch is forward + backward + Adam step in training mode. gnnkit and PyG runs
alternate so machine load affects both alike. PyG is optional (its rows are skipped if absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import gnnkit as gk  # noqa: E402
import gnnkit.nn as gnn  # noqa: E402
from gnnkit.nn.dropout import functional_dropout  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"


CLOCK = time.perf_counter


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, on ``CLOCK``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------------------------
# dropout


def dropout_variants():
    def bernoulli_mask(x, p):
        return x * torch.empty_like(x).bernoulli_(1 - p).div_(1 - p)

    def rand_mask(x, p):
        return x * (torch.rand_like(x) >= p).to(x.dtype).mul_(1 / (1 - p))

    def rand_where(x, p):
        return torch.where(torch.rand_like(x) >= p, x / (1 - p), 0.0)

    def randint_lanes(x, p):
        n = x.numel()
        lanes = torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64).view(torch.uint8)[:n]
        threshold = int(round((1 - p) * 256))
        return x * (lanes < threshold).view(x.shape).to(x.dtype).mul_(256 / threshold)

    return {
        "torch F.dropout (bernoulli_)": lambda x, p: F.dropout(x, p, training=True),
        "torch.native_dropout": lambda x, p: torch.native_dropout(x, p, True)[0],
        "x * bernoulli_ float mask": bernoulli_mask,
        "x * (rand_like >= p) mask": rand_mask,
        "where(rand_like >= p, x/q, 0)": rand_where,
        "x * (randint uint8 lanes < t)": randint_lanes,
        "gnnkit functional_dropout": functional_dropout,
    }


def bench_dropout(repeats: int) -> list[dict]:
    shapes = {"Cora x [2708, 1433]": (2708, 1433), "CiteSeer x [3327, 3703]": (3327, 3703), "GAT attention [13264, 8, 1]": (13264, 8, 1)}
    rows = []
    print("\n== dropout (p=0.5; forward, and forward+backward) ==")
    print(f"{'input':30s} {'variant':34s} {'fwd ms':>9s} {'fwd+bwd ms':>11s}")
    for shape_name, shape in shapes.items():
        x = torch.randn(*shape, requires_grad=True)
        grad = torch.ones(*shape)
        for name, fn in dropout_variants().items():
            fwd = timed(lambda: fn(x, 0.5), repeats)
            both = timed(lambda: torch.autograd.grad(fn(x, 0.5), x, grad), repeats)
            rows.append({"input": shape_name, "variant": name, "forward_ms": fwd * 1e3, "forward_backward_ms": both * 1e3})
            print(f"{shape_name:30s} {name:34s} {fwd * 1e3:9.2f} {both * 1e3:11.2f}")
    return rows


# ----------------------------------------------------------------------------------------------
# SAGEConv order


def load_planetoid(name: str):
    from gnnkit.data import read_planetoid

    ds = read_planetoid(DATASETS / name, name)
    g = ds.graph
    return g, g.ndata["feat"], g.ndata["label"], g.ndata["train_mask"], ds.num_classes


def synthetic_graph(num_nodes: int, num_edges: int, width: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    return gk.graph((src, dst), num_nodes=num_nodes), torch.randn(num_nodes, width, generator=gen)


def bench_sage_order(repeats: int) -> list[dict]:
    cora, cora_x, *_ = load_planetoid("Cora")
    synthetic, synthetic_x = synthetic_graph(100_000, 1_000_000, 128)
    cases = [
        ("Cora, 1433 -> 16", cora, cora_x, 16),
        ("100k nodes / 1M edges, 128 -> 16", synthetic, synthetic_x.requires_grad_(), 16),
    ]
    rows = []
    print("\n== SAGEConv (mean): forward + backward, by matmul order ==")
    for case, graph, x, out_feats in cases:
        for label, force_late in (("linear, then aggregate (gnnkit)", False), ("aggregate, then linear (PyG)", True)):
            layer = gnn.SAGEConv(x.shape[1], out_feats, "mean")
            if force_late:
                type(layer).transforms_before_aggregating = property(lambda self: False)
            try:
                seconds = timed(lambda: layer(graph, x).sum().backward(), repeats)
            finally:
                type(layer).transforms_before_aggregating = _SAGE_ORDER
            rows.append({"case": case, "order": label, "ms": seconds * 1e3})
            print(f"{case:36s} {label:34s} {seconds * 1e3:9.2f} ms")
    return rows


_SAGE_ORDER = gnn.SAGEConv.transforms_before_aggregating


# ----------------------------------------------------------------------------------------------
# training epochs


def gnnkit_model(kind: str, in_feats: int, classes: int):
    if kind == "gcn":
        return gnn.GCN(in_feats, 16, classes, dropout=0.5)
    if kind == "gat":
        return gnn.GAT(in_feats, 8, classes, heads=8, out_heads=1, feat_drop=0.6, attn_drop=0.6)
    return gnn.GraphSAGE(in_feats, 16, classes, dropout=0.5, input_dropout=0.5)


def pyg_model(kind: str, in_feats: int, classes: int):
    from torch_geometric import nn as pyg

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "gcn":
                self.c1, self.c2, self.p = pyg.GCNConv(in_feats, 16), pyg.GCNConv(16, classes), 0.5
            elif kind == "gat":
                self.c1 = pyg.GATConv(in_feats, 8, heads=8, dropout=0.6)
                self.c2 = pyg.GATConv(64, classes, heads=1, concat=False, dropout=0.6)
                self.p = 0.6
            else:
                self.c1, self.c2, self.p = pyg.SAGEConv(in_feats, 16), pyg.SAGEConv(16, classes), 0.5
            self.act = F.elu if kind == "gat" else F.relu

        def forward(self, x, edge_index):
            x = F.dropout(x, self.p, self.training)
            x = self.act(self.c1(x, edge_index))
            x = F.dropout(x, self.p, self.training)
            return self.c2(x, edge_index)

    return Net()


def epoch_runner(model, forward, labels, train_mask):
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(forward(model)[train_mask], labels[train_mask])
        loss.backward()
        opt.step()

    return step


def bench_epochs(epochs: int, repeats: int) -> list[dict]:
    try:
        import torch_geometric  # noqa: F401

        have_pyg = True
    except ImportError:
        have_pyg = False
    rows = []
    print(f"\n== training epoch (forward + backward + Adam), median of {repeats} x {epochs} epochs ==")
    print(f"{'dataset':9s} {'model':6s} {'gnnkit ms':>10s} {'PyG ms':>9s} {'ratio':>7s}")
    for dataset, kinds in (("Cora", ("gcn", "gat", "sage")), ("CiteSeer", ("gcn",))):
        g, x, labels, train_mask, classes = load_planetoid(dataset)
        g_loops = gk.add_self_loop(gk.remove_self_loop(g))
        src, dst = g.edges()
        edge_index = torch.stack([src, dst])
        for kind in kinds:
            torch.manual_seed(0)
            ours = epoch_runner(gnnkit_model(kind, x.shape[1], classes), lambda m: m(g_loops, x), labels, train_mask)
            theirs = None
            if have_pyg:
                theirs = epoch_runner(pyg_model(kind, x.shape[1], classes), lambda m: m(x, edge_index), labels, train_mask)
            ours_runs, theirs_runs = [], []
            for _ in range(repeats):  # alternate, so load drifts hit both
                ours_runs.append(timed(ours, epochs, warmup=3))
                if theirs is not None:
                    theirs_runs.append(timed(theirs, epochs, warmup=3))
            ours_ms = statistics.median(ours_runs) * 1e3
            theirs_ms = statistics.median(theirs_runs) * 1e3 if theirs_runs else None
            ratio = ours_ms / theirs_ms if theirs_ms else None
            rows.append({"dataset": dataset, "model": kind, "gnnkit_ms": ours_ms, "pyg_ms": theirs_ms, "ratio": ratio})
            print(f"{dataset:9s} {kind:6s} {ours_ms:10.2f} {theirs_ms or float('nan'):9.2f} {ratio or float('nan'):7.2f}")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("dropout", "sage", "epochs"), default=None)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (the bars' measure); cpu: this process's CPU time, robust on a loaded "
        "machine (use with --threads 1, where it equals the work done)",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_layers.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    result = {
        "torch": torch.__version__,
        "threads": args.threads,
        "clock": args.clock,
        "machine": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg(),
    }
    if args.only in (None, "dropout"):
        result["dropout"] = bench_dropout(repeats=max(5, args.repeats * 3))
    if args.only in (None, "sage"):
        result["sage_order"] = bench_sage_order(repeats=max(5, args.repeats * 3))
    if args.only in (None, "epochs"):
        result["epochs"] = bench_epochs(args.epochs, args.repeats)
    result["load_average_at_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(result, tmp, indent=2)
    os.replace(tmp.name, args.json)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
