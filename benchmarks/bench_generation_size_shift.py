"""How much of a generation MMD comes from the node-count shift between GRAN's train and test splits.

GRAN's runner does not shuffle, so on grid the test split holds the 20 largest grids (180-361
nodes) while the training split spans 100-323: a model that draws its node count from the
training graphs cannot match the test sizes. This script prints, under both kernels:

* ``train split``: the training graphs themselves against the test split (what a perfect copy
  of the training distribution scores), and Erdős–Rényi: ours (n drawn from the training
  graphs, p fitted per size) and the one GRAN's runner builds (every graph at the largest
  training size plus one, p = edges / sum of n^2 over the training graphs);
* with ``--run``: the trained model and Erdős–Rényi sampling at the *test* node counts (cycled up
  to ``--num-samples``): the model's quality with the size shift taken out. This is a different
  protocol from the issue's (node counts from the training graphs) and is labelled as such.

    python benchmarks/bench_generation_size_shift.py --dataset grid --run runs/s4/grid_bigg \\
        --out benchmarks/results/generation_grid_size_shift_s4.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import networkx as nx
import numpy as np
import torch

from gnnkit.generative import pipeline as P
from gnnkit.generative.baselines import ErdosRenyi
from gnnkit.generative.datasets import graph_from_edges, load_generation_dataset
from gnnkit.generative.metrics import KERNELS, METRICS, graph_statistics, mmd_from_statistics


def gran_runner_erdos_renyi(train, count: int) -> list:
    """GRAN's ``is_test_ER`` baseline: ``fast_gnp_random_graph(max_num_nodes, p_ER, seed=i)`` with
    max_num_nodes = len(bincount(training sizes)) and p_ER = sum(edges) / sum(n^2)."""
    sizes = [g.num_nodes() for g in train]
    n = len(np.bincount(sizes))
    p = sum(g.num_edges() // 2 for g in train) / sum(s * s for s in sizes)
    graphs = []
    for seed in range(count):
        edges = np.array(nx.fast_gnp_random_graph(n, p, seed=seed).edges(), dtype=np.int64).reshape(-1, 2)
        graphs.append(graph_from_edges(edges[:, 0], edges[:, 1], n))
    return graphs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="grid")
    parser.add_argument("--run", default=None, help="a trained run folder (gnnkit generate train / quality bench)")
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shuffle-seed", type=int, default=None,
                        help="GRAN's optional shuffle before the split (default none, as its released runner)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_generation_dataset(args.dataset, shuffle_seed=args.shuffle_seed)
    reference = graph_statistics(data.test, METRICS)
    rows = {}

    def score(label, graphs, seconds=None):
        stats = graph_statistics(graphs, METRICS)
        rows[label] = {k: mmd_from_statistics(reference, stats, k) for k in KERNELS}
        if seconds is not None:
            rows[label]["sample_seconds"] = seconds

    score("train split (the training graphs themselves)", data.train)
    er = ErdosRenyi().fit(data.train)
    score("Erdos-Renyi, n from the training graphs", P.sample_graphs(er, args.num_samples, seed=args.seed, progress=False))
    score("Erdos-Renyi as GRAN's runner builds it", gran_runner_erdos_renyi(data.train, args.num_samples))
    test_sizes = [g.num_nodes() for g in data.test]
    sizes = [test_sizes[i % len(test_sizes)] for i in range(args.num_samples)]
    generator = torch.Generator().manual_seed(args.seed)
    score("Erdos-Renyi, n = test node counts", [er.sample(num_nodes=n, generator=generator) for n in sizes])
    if args.run:
        model, _, _ = P.load_run(args.run)
        generator = torch.Generator().manual_seed(args.seed)
        started = time.perf_counter()
        with torch.no_grad():
            graphs = [model.sample(num_nodes=n, generator=generator) for n in sizes]
        score("BiGG, n = test node counts", graphs, time.perf_counter() - started)
    for kernel in KERNELS:
        print(f"MMD^2 to the {args.dataset} test split, kernel {kernel}")
        for label, row in rows.items():
            print(f"  {label:48s} " + "  ".join(f"{m} {row[kernel][m]:.3g}" for m in row[kernel]))
    result = {"args": vars(args), "load_average": os.getloadavg(), "test_sizes": test_sizes,
              "train_sizes": sorted(g.num_nodes() for g in data.train), "rows": rows}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
