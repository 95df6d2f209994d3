"""Generator throughput: wall and CPU seconds to build large synthetic graphs (2 threads).

Run: python benchmarks/data_synthetic.py [--json OUT.json]. Prints a table; CPU seconds are
given beside wall seconds because the shared machine's wall clock depends on its load.
"""

import argparse
import json
import time

import torch

from gnnkit.data import synthetic

CASES = [
    ("planted_partition 1M nodes / ~10M edges, 32 features",
     lambda: synthetic.planted_partition(1_000_000, 10, avg_degree=10, num_features=32, seed=0)),
    ("erdos_renyi G(n, m) 1M nodes / 5M undirected edges", lambda: synthetic.erdos_renyi(1_000_000, num_edges=5_000_000, seed=0)),
    ("random_powerlaw_graph 1M nodes / 5M undirected edges", lambda: synthetic.random_powerlaw_graph(1_000_000, 5_000_000, seed=0)),
    ("barabasi_albert 100k nodes, m=5", lambda: synthetic.barabasi_albert(100_000, 5, seed=0)),
    ("grid_2d 1000 x 1000", lambda: synthetic.grid_2d(1000, 1000)),
    ("random_lobster backbone 100k", lambda: synthetic.random_lobster(100_000, 0.7, 0.7, seed=0)),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    print(f"{'generator':58s} {'nodes':>9s} {'edges':>10s} {'wall s':>7s} {'cpu s':>7s}")
    for name, build in CASES:
        wall, cpu = time.perf_counter(), time.process_time()
        g = build()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append({"generator": name, "nodes": g.num_nodes(), "edges": g.num_edges(), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
        print(f"{name:58s} {g.num_nodes():9d} {g.num_edges():10d} {wall:7.2f} {cpu:7.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
