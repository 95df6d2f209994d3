"""Accuracy of sampled GraphSAGE training against full-batch training of the same model.

* Cora and CiteSeer (public Planetoid split, ../shared/datasets): full-batch GraphSAGE vs the
  same model trained on NeighborSampler mini-batches; both evaluated on the full graph, model
  picked by validation accuracy, mean test accuracy over seeds.
* Planted-partition SBM (gnnkit.data.synthetic.planted_partition): full-batch accuracy on a
  100k-node graph vs ONE epoch of sampled training on a 1M-node graph of the same family,
  the latter in a fresh subprocess whose peak resident memory is reported.

Usage: python benchmarks/bench_sampling_accuracy.py [--seeds 3] [--parts planetoid,sbm]
       [--out benchmarks/results/bench_sampling_accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gnnkit.data import read_planetoid
from gnnkit.data.synthetic import planted_partition
from gnnkit.nn import SAGEConv
from gnnkit.sampling import DataLoader, NeighborSampler

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


class SAGE(torch.nn.Module):
    def __init__(self, in_dim, hidden, out_dim, dropout=0.5):
        super().__init__()
        self.layers = torch.nn.ModuleList([SAGEConv(in_dim, hidden, "mean"), SAGEConv(hidden, out_dim, "mean")])
        self.dropout = dropout

    def forward(self, graphs, x):
        h = x
        for i, (layer, g) in enumerate(zip(self.layers, graphs)):
            h = F.dropout(h, self.dropout, self.training)
            h = layer(g, h)
            if i == 0:
                h = torch.relu(h)
        return h


def accuracy(logits, labels):
    return float((logits.argmax(1) == labels).float().mean())


def planetoid_run(g, num_classes, minibatch, seed, epochs, fanouts, batch_size):
    torch.manual_seed(seed)
    x, y = g.ndata["feat"], g.ndata["label"]
    train, val, test = (g.ndata[k] for k in ("train_mask", "val_mask", "test_mask"))
    model = SAGE(x.shape[1], 64, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    loader = DataLoader(g, train, NeighborSampler(fanouts), batch_size=batch_size, shuffle=True) if minibatch else None
    best_val, best_test = -1.0, 0.0
    for _ in range(epochs):
        model.train()
        if minibatch:
            for _, _, blocks in loader:
                loss = F.cross_entropy(model(blocks, blocks[0].srcdata["feat"]), blocks[-1].dstdata["label"])
                opt.zero_grad()
                loss.backward()
                opt.step()
        else:
            loss = F.cross_entropy(model([g, g], x)[train], y[train])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model([g, g], x)
        v = accuracy(logits[val], y[val])
        if v > best_val:
            best_val, best_test = v, accuracy(logits[test], y[test])
    return best_test


def part_planetoid(args, results):
    for name in ("Cora", "CiteSeer"):
        ds = read_planetoid(DATASETS / name, name)
        g = ds.graph
        full = [planetoid_run(g, ds.num_classes, False, s, args.epochs, None, None) for s in range(args.seeds)]
        mini = [planetoid_run(g, ds.num_classes, True, s, args.epochs, [25, 10], 32) for s in range(args.seeds)]
        results[name] = {
            "full_batch_test_acc": statistics.mean(full),
            "minibatch_test_acc": statistics.mean(mini),
            "gap_points": 100 * (statistics.mean(full) - statistics.mean(mini)),
            "runs": {"full": full, "mini": mini},
            "fanouts": [25, 10],
            "batch_size": 32,
        }
        print(f"{name:<9} full-batch {100 * statistics.mean(full):.2f}  mini-batch {100 * statistics.mean(mini):.2f}  (gap {results[name]['gap_points']:.2f} points, {args.seeds} seeds)")


SBM = dict(num_classes=10, avg_degree=10.0, homophily=0.6, num_features=32, feature_noise=3.0, split=(0.1, 0.1, 0.2))


def sbm_full_batch(num_nodes, epochs, seed=0):
    g = planted_partition(num_nodes, seed=seed, **SBM)
    torch.manual_seed(seed)
    x, y = g.ndata["feat"], g.ndata["label"]
    train, val, test = (g.ndata[k] for k in ("train_mask", "val_mask", "test_mask"))
    model = SAGE(x.shape[1], 64, SBM["num_classes"], dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    best_val, best_test = -1.0, 0.0
    for _ in range(epochs):
        model.train()
        loss = F.cross_entropy(model([g, g], x)[train], y[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            logits = model([g, g], x)
        v = accuracy(logits[val], y[val])
        if v > best_val:
            best_val, best_test = v, accuracy(logits[test], y[test])
    return best_test


def sbm_sampled_one_epoch(num_nodes, seed=0):
    """Runs in its own process; prints a JSON line with accuracy, time and peak RSS."""
    torch.set_num_threads(int(os.environ.get("GNNKIT_BENCH_THREADS", "2")))
    g = planted_partition(num_nodes, seed=seed, **SBM)
    torch.manual_seed(seed)
    train, test = g.ndata["train_mask"], g.ndata["test_mask"]
    model = SAGE(g.ndata["feat"].shape[1], 64, SBM["num_classes"], dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sampler = NeighborSampler([15, 10])
    loader = DataLoader(g, train, sampler, batch_size=1024, shuffle=True, node_feats=["feat", "label"])
    t, cpu = time.perf_counter(), time.process_time()
    model.train()
    for _, _, blocks in loader:
        loss = F.cross_entropy(model(blocks, blocks[0].srcdata["feat"]), blocks[-1].dstdata["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_seconds, train_cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
    model.eval()
    test_ids = torch.nonzero(test).squeeze(1)[:50_000]
    correct = 0
    with torch.no_grad():
        for _, out_nodes, blocks in DataLoader(g, test_ids, sampler, batch_size=4096, node_feats=["feat", "label"]):
            correct += int((model(blocks, blocks[0].srcdata["feat"]).argmax(1) == blocks[-1].dstdata["label"]).sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "test_acc": correct / test_ids.numel(), "epoch_seconds": train_seconds, "epoch_cpu_seconds": train_cpu_seconds,
        "peak_rss_mb": peak_mb, "batches": len(loader), "nodes": g.num_nodes(), "edges": g.num_edges(), "loadavg": os.getloadavg(),
    }))


def part_sbm(args, results):
    full_acc = sbm_full_batch(100_000, args.sbm_epochs)
    proc = subprocess.run([sys.executable, __file__, "--child-sbm", str(args.sbm_nodes)], capture_output=True, text=True, check=True)
    sampled = json.loads(proc.stdout.strip().splitlines()[-1])
    results["sbm"] = {
        "config": SBM,
        "full_batch_100k_test_acc": full_acc,
        "full_batch_epochs": args.sbm_epochs,
        "sampled_nodes": args.sbm_nodes,
        "sampled_one_epoch": sampled,
        "ratio": sampled["test_acc"] / full_acc,
    }
    print(
        f"SBM: full-batch 100k {100 * full_acc:.2f}; one sampled epoch on {args.sbm_nodes} nodes {100 * sampled['test_acc']:.2f} "
        f"(ratio {results['sbm']['ratio']:.3f}), {sampled['epoch_seconds']:.1f} s, peak RSS {sampled['peak_rss_mb']:.0f} MB"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--sbm-epochs", type=int, default=60)
    parser.add_argument("--sbm-nodes", type=int, default=1_000_000)
    parser.add_argument("--parts", default="planetoid,sbm")
    parser.add_argument("--child-sbm", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (1 is faster on a busy machine)")
    parser.add_argument("--out", default="benchmarks/results/bench_sampling_accuracy.json")
    args = parser.parse_args()
    if args.child_sbm is not None:
        sbm_sampled_one_epoch(args.child_sbm)
        return
    torch.set_num_threads(args.threads)
    os.environ["GNNKIT_BENCH_THREADS"] = str(args.threads)  # for the child processes
    results = {"threads": args.threads, "loadavg_start": os.getloadavg()}
    parts = args.parts.split(",")
    if "planetoid" in parts:
        part_planetoid(args, results)
    results["loadavg_after_planetoid"] = os.getloadavg()
    if "sbm" in parts:
        part_sbm(args, results)
    results["loadavg_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
