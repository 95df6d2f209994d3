"""Neighbour sampling speed and sampled SAGE training, side by side in one run.

Graph: 1M nodes, 10M uniformly random directed edges. Fanouts [15, 10], batch 1024.

* sampling per batch: gnnkit NeighborSampler, a straightforward vectorised PyTorch sampler
  (random keys + sort per layer, torch.unique relabelling), DGL 2.1's C++ NeighborSampler (in a
  subprocess of the DGL environment when it exists), PyG's NeighborLoader (reports whether it
  runs on this PyPI-only install). Rounds are interleaved so machine load hits all alike.
* a sampled training epoch of the same 2-layer GraphSAGE (gnnkit.nn.SAGEConv, mean) fed by
  gnnkit's DataLoader (in-process, and with one prefetching worker) or by the plain sampler.

Usage: python benchmarks/bench_sampling.py [--threads 2] [--rounds 5] [--batches 20]
       [--epoch-batches 20] [--out benchmarks/results/bench_sampling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import torch

import gnnkit as gk
from gnnkit.nn import SAGEConv
from gnnkit.sampling import DataLoader, NeighborSampler

DGL_PYTHON = os.path.expanduser("~/.cache/gnnkit-dgl-env/bin/python")
FANOUTS = [15, 10]
BATCH = 1024


# --------------------------------------------------------------------------------------------
# the plain vectorised PyTorch sampler (the baseline)


def plain_sample(indptr, indices, perm, seeds, fanouts, threads=1):
    """Per layer: all candidate in-edges, random keys, one sort, keep rank < k, torch.unique.
    Runs with ``threads`` intra-op threads (1 by default, like gnnkit's sampler: on a shared
    2-core machine two-thread regions stall whenever the other core is busy)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _plain_sample(indptr, indices, perm, seeds, fanouts)
    finally:
        torch.set_num_threads(previous)


def _plain_sample(indptr, indices, perm, seeds, fanouts):
    blocks = []
    dst_nodes = seeds
    for k in reversed(fanouts):
        start = indptr[dst_nodes]
        deg = indptr[dst_nodes + 1] - start
        row = torch.repeat_interleave(torch.arange(dst_nodes.numel()), deg)
        row_first = torch.cumsum(deg, 0) - deg
        local = torch.arange(row.numel()) - row_first[row]
        pos = start[row] + local
        order = torch.argsort(row.to(torch.float64) + torch.rand(row.numel(), dtype=torch.float64))
        keep = order[local < k]  # sorted slots keep row order, so local is the rank in the row
        sel_row, sel_pos = row[keep], pos[keep]
        src = indices[sel_pos]
        eid = perm[sel_pos]
        uniq, inverse = torch.unique(torch.cat([dst_nodes, src]), return_inverse=True)
        # Put the destinations first among the sources.
        new_id = torch.full((uniq.numel(),), -1, dtype=torch.int64)
        new_id[inverse[: dst_nodes.numel()]] = torch.arange(dst_nodes.numel())
        rest = new_id < 0
        new_id[rest] = torch.arange(dst_nodes.numel(), uniq.numel())
        src_nodes = torch.empty_like(uniq)
        src_nodes[new_id] = uniq
        b = gk.block((new_id[inverse[dst_nodes.numel():]], sel_row), num_src_nodes=uniq.numel(), num_dst_nodes=dst_nodes.numel())
        b.srcdata[gk.NID] = src_nodes
        b.dstdata[gk.NID] = dst_nodes
        b.edata[gk.EID] = eid
        blocks.insert(0, b)
        dst_nodes = src_nodes
    return dst_nodes, seeds, blocks


# --------------------------------------------------------------------------------------------
# DGL in its own environment, driven over a pipe


DGL_SCRIPT = r"""
import sys, time, types
try:
    import pandas  # noqa: F401
except ImportError:  # dgl.graphbolt imports pandas at import time but sampling never uses it
    sys.modules["pandas"] = types.ModuleType("pandas")
import numpy as np, torch, dgl
torch.set_num_threads(int(sys.argv[2]))
data = np.load(sys.argv[1])
g = dgl.graph((torch.from_numpy(data["src"]), torch.from_numpy(data["dst"])), num_nodes=int(data["n"]))
g = g.formats("csc")
sampler = dgl.dataloading.NeighborSampler([15, 10])
order = torch.from_numpy(data["order"])
sampler.sample(g, order[:1024])
print("ready", dgl.__version__, flush=True)
cursor = 0
for line in sys.stdin:
    count = int(line)
    t = time.perf_counter()
    edges = 0
    for _ in range(count):
        seeds = order[cursor * 1024:(cursor + 1) * 1024]
        cursor = (cursor + 1) % (order.numel() // 1024)
        _, _, blocks = sampler.sample(g, seeds)
        edges += sum(b.num_edges() for b in blocks)
    print((time.perf_counter() - t) / count * 1e3, edges / count, flush=True)
"""


class DGLWorker:
    def __init__(self, npz_path, threads):
        self.proc = None
        if not os.path.exists(DGL_PYTHON):
            self.status = f"absent ({DGL_PYTHON} not found)"
            return
        script = os.path.join(tempfile.gettempdir(), "gnnkit_bench_dgl.py")
        with open(script, "w") as f:
            f.write(DGL_SCRIPT)
        self.proc = subprocess.Popen(
            [DGL_PYTHON, script, npz_path, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.status = "failed: " + self.proc.stderr.read()[-500:]
            self.proc = None
            return
        self.status = f"dgl {line[1]}"

    def run(self, count):
        self.proc.stdin.write(f"{count}\n")
        self.proc.stdin.flush()
        ms, edges = self.proc.stdout.readline().split()
        return float(ms), float(edges)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def pyg_status(g_src, g_dst, n):
    try:
        from torch_geometric.data import Data
        from torch_geometric.loader import NeighborLoader
    except ImportError:
        return "absent (torch_geometric not installed)"
    data = Data(edge_index=torch.stack([g_src[:1000], g_dst[:1000]]), num_nodes=n)
    try:
        loader = NeighborLoader(data, num_neighbors=FANOUTS, batch_size=BATCH, input_nodes=torch.arange(1024))
        next(iter(loader))
        return "runs"
    except Exception as err:  # noqa: BLE001 - we report whatever PyG says
        return f"refuses: {type(err).__name__}: {str(err)[:120]}"


# --------------------------------------------------------------------------------------------
# training


class SAGE(torch.nn.Module):
    def __init__(self, in_dim, hidden, out_dim):
        super().__init__()
        self.layers = torch.nn.ModuleList([SAGEConv(in_dim, hidden, "mean"), SAGEConv(hidden, out_dim, "mean")])

    def forward(self, blocks, x):
        h = x
        for i, (layer, blk) in enumerate(zip(self.layers, blocks)):
            h = layer(blk, h)
            if i == 0:
                h = torch.relu(h)
        return h


def train_epoch(model, opt, batches):
    """batches yields (input features, labels, blocks); returns seconds."""
    t = time.perf_counter()
    for x, y, blocks in batches:
        loss = torch.nn.functional.cross_entropy(model(blocks, x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20, help="batches per sampling round")
    parser.add_argument("--plain-batches", type=int, default=5, help="batches per round of the (slow) plain sampler")
    parser.add_argument("--epoch-batches", type=int, default=20, help="batches in one training 'epoch'")
    parser.add_argument("--feat", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/bench_sampling.json")
    args = parser.parse_args()
    try:  # on a shared machine, let the kernel kill this benchmark first if memory runs out
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, e = args.nodes, args.edges
    src = torch.randint(0, n, (e,))
    dst = torch.randint(0, n, (e,))
    g = gk.graph((src, dst), num_nodes=n)
    view = g.sparse.in_csr()
    order = torch.randperm(n)
    results = {"nodes": n, "edges": e, "fanouts": FANOUTS, "batch_size": BATCH, "threads": args.threads}

    tmp = os.path.join(tempfile.gettempdir(), "gnnkit_bench_graph.npz")
    np.savez(tmp, src=src.numpy(), dst=dst.numpy(), n=n, order=order.numpy())
    # DGL at the benchmark's thread count and at one thread (gnnkit samples in one thread by
    # default): on a shared machine its OpenMP threads can stall, so both are reported.
    dgl_workers = {f"dgl_{args.threads}_threads": DGLWorker(tmp, args.threads)}
    if args.threads != 1:
        dgl_workers["dgl_1_thread"] = DGLWorker(tmp, 1)
    results["dgl"] = {k: w.status for k, w in dgl_workers.items()}
    results["pyg_neighbor_loader"] = pyg_status(src, dst, n)

    sampler = NeighborSampler(FANOUTS)
    perm = view.perm if view.perm is not None else torch.arange(e)
    num_batches = n // BATCH
    cursor = {"gk": 0, "plain": 0}

    def round_ms(name, fn, batches=None):
        batches = batches or args.batches
        t = time.perf_counter()
        edges = 0
        for _ in range(batches):
            i = cursor[name]
            cursor[name] = (i + 1) % num_batches
            _, _, blocks = fn(order[i * BATCH:(i + 1) * BATCH])
            edges += sum(b.num_edges() for b in blocks)
        return (time.perf_counter() - t) / batches * 1e3, edges / batches

    timings = {"gnnkit": [], "plain_pytorch": [], **{k: [] for k in dgl_workers}}
    edges_per_batch = {}
    load_per_round = []
    round_ms("gk", lambda s: sampler.sample(g, s))
    for _ in range(args.rounds):
        load_per_round.append(os.getloadavg())
        ms, ed = round_ms("gk", lambda s: sampler.sample(g, s))
        timings["gnnkit"].append(ms)
        edges_per_batch["gnnkit"] = ed
        ms, ed = round_ms("plain", lambda s: plain_sample(view.indptr, view.indices, perm, s, FANOUTS), args.plain_batches)
        timings["plain_pytorch"].append(ms)
        edges_per_batch["plain_pytorch"] = ed
        for key, worker in dgl_workers.items():
            if worker.proc is not None:
                ms, ed = worker.run(args.batches)
                timings[key].append(ms)
                edges_per_batch[key] = ed
    for worker in dgl_workers.values():
        worker.close()
    results["sampling_ms_per_batch"] = {k: {"median": statistics.median(v), "min": min(v), "all": v} for k, v in timings.items() if v}
    results["edges_per_batch"] = edges_per_batch
    results["loadavg_per_sampling_round"] = load_per_round
    results["sampler_threads"] = {"gnnkit": sampler.num_threads, "plain_pytorch": args.threads}

    # ---- sampled training epoch --------------------------------------------------------------
    num_classes = 47
    g.ndata["feat"] = torch.randn(n, args.feat)
    g.ndata["label"] = torch.randint(0, num_classes, (n,))
    train_ids = order[: args.epoch_batches * BATCH]

    def gk_batches(num_workers, thread=False):
        loader = DataLoader(
            g, train_ids, NeighborSampler(FANOUTS), batch_size=BATCH, shuffle=True, num_workers=num_workers, use_prefetch_thread=thread
        )
        for _, _, blocks in loader:
            yield blocks[0].srcdata["feat"], blocks[-1].dstdata["label"], blocks

    def plain_batches():
        shuffled = train_ids[torch.randperm(train_ids.numel())]
        for seeds in torch.split(shuffled, BATCH):
            input_nodes, output_nodes, blocks = plain_sample(view.indptr, view.indices, perm, seeds, FANOUTS)
            # index_select, not x[ids]: advanced indexing is ~3x slower here and would handicap the baseline.
            yield g.ndata["feat"].index_select(0, input_nodes), g.ndata["label"].index_select(0, output_nodes), blocks

    model = SAGE(args.feat, args.hidden, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_epoch(model, opt, gk_batches(0))  # warm-up
    epochs = {"gnnkit": [], "gnnkit_prefetch_thread": [], "gnnkit_1_worker": [], "plain_pytorch": []}
    load_per_epoch_round = []
    for _ in range(max(2, args.rounds // 2)):
        load_per_epoch_round.append(os.getloadavg())
        epochs["gnnkit"].append(train_epoch(model, opt, gk_batches(0)))
        epochs["gnnkit_prefetch_thread"].append(train_epoch(model, opt, gk_batches(0, thread=True)))
        epochs["gnnkit_1_worker"].append(train_epoch(model, opt, gk_batches(1)))
        epochs["plain_pytorch"].append(train_epoch(model, opt, plain_batches()))
    results["epoch_seconds"] = {k: {"median": statistics.median(v), "all": v} for k, v in epochs.items()}
    results["epoch_batches"] = args.epoch_batches
    results["loadavg_per_epoch_round"] = load_per_epoch_round
    plain_epoch = statistics.median(epochs["plain_pytorch"])
    # In-process gnnkit against the in-process plain sampler is the like-for-like ratio; the
    # worker variant shows what prefetching adds on top.
    results["epoch_speedup_vs_plain"] = plain_epoch / statistics.median(epochs["gnnkit"])
    results["epoch_speedup_vs_plain_with_1_worker"] = plain_epoch / statistics.median(epochs["gnnkit_1_worker"])
    results["epoch_speedup_vs_plain_with_prefetch_thread"] = plain_epoch / statistics.median(epochs["gnnkit_prefetch_thread"])

    print(f"graph {n} nodes / {e} edges, fanouts {FANOUTS}, batch {BATCH}, threads {args.threads}")
    print(f"DGL: {results['dgl']}; PyG NeighborLoader: {results['pyg_neighbor_loader']}")
    print(f"{'sampler':<16}{'median ms/batch':>16}{'min':>10}{'edges/batch':>14}")
    for k, v in results["sampling_ms_per_batch"].items():
        print(f"{k:<16}{v['median']:>16.2f}{v['min']:>10.2f}{edges_per_batch.get(k, 0):>14.0f}")
    print(f"{'training epoch':<16}{'median s':>16}   ({args.epoch_batches} batches, SAGE {args.feat}->{args.hidden}->{num_classes})")
    for k, v in results["epoch_seconds"].items():
        print(f"{k:<16}{v['median']:>16.3f}   ({v['median'] / args.epoch_batches * 1e3:.1f} ms/batch)")
    print(
        f"epoch speed-up of gnnkit over the plain sampler: {results['epoch_speedup_vs_plain']:.2f}x in-process, "
        f"{results['epoch_speedup_vs_plain_with_1_worker']:.2f}x with one prefetching worker, "
        f"{results['epoch_speedup_vs_plain_with_prefetch_thread']:.2f}x with a prefetch thread"
    )
    print(f"load average per sampling round: {[round(x[0], 2) for x in load_per_round]}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fd, tmp_out = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp_out, args.out)


if __name__ == "__main__":
    main()
