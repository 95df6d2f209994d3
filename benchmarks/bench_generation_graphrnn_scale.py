"""Sampling time of the GraphRNN-S baseline versus graph size (the other side of BiGG's scale bar).

GraphRNN-S emits one adjacency vector of length M (the BFS bandwidth) per node, so one graph costs
O(n M) and, for sparse graphs whose BFS bandwidth grows with n, O(n^2). For every size n the
script draws a sparse graph with m about 2n (G(n, 4/n)), measures the BFS bandwidth M of that
family (what a model trained on it must use), builds a GraphRNN-S of the default size with that M
and times the sampling of one n-node graph. Weights are untrained: the cost does not depend on
them. Sizes whose predicted time (from the previous size, O(n M) scaling) exceeds ``--limit``
seconds are not run and are reported as such.

    python benchmarks/bench_generation_graphrnn_scale.py --sizes 1000,5000,10000,50000,100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gnnkit.generative.baselines import ErdosRenyi, GraphRNNS, bfs_bandwidth


def sparse_graph(n: int, seed: int):
    er = ErdosRenyi()
    er.sizes, er.probs = np.array([n]), np.array([4.0 / (n - 1)])
    return er.sample(num_nodes=n, generator=torch.Generator().manual_seed(seed))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000,50000,100000")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds; larger predicted times are skipped")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/generation_graphrnn_scale.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows, previous = [], None
    for n in [int(s) for s in args.sizes.split(",")]:
        graph = sparse_graph(n, seed=n)
        bandwidth = bfs_bandwidth([graph], orders_per_graph=1)
        row = {"n": n, "edges": graph.num_edges() // 2, "bfs_bandwidth": bandwidth}
        if previous is not None:
            predicted = previous["seconds"] * (n * bandwidth) / (previous["n"] * previous["bfs_bandwidth"])
            row["predicted_s"] = predicted
            if predicted > args.limit:
                row["seconds"] = None
                row["note"] = f"skipped: predicted {predicted:.0f} s > {args.limit:.0f} s"
                rows.append(row)
                print(row, flush=True)
                continue
        model = GraphRNNS(max_prev_node=bandwidth, max_num_nodes=n).eval()
        started = time.perf_counter()
        sample = model.sample(num_nodes=n, generator=torch.Generator().manual_seed(0))
        row["seconds"] = time.perf_counter() - started
        row["sampled_edges"] = sample.num_edges() // 2
        rows.append(row)
        previous = row
        print(row, flush=True)
    timed = [r for r in rows if r.get("seconds")]
    if len(timed) >= 2:
        slope = np.polyfit(np.log([r["n"] for r in timed]), np.log([r["seconds"] for r in timed]), 1)[0]
    else:
        slope = None
    print(f"{'n':>8} {'M':>8} {'seconds':>10}")
    for r in rows:
        print(f"{r['n']:>8} {r['bfs_bandwidth']:>8} {r['seconds'] if r['seconds'] is None else round(r['seconds'], 2)!s:>10}"
              f"  {r.get('note', '')}")
    print(f"log-log slope of time vs n: {slope}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "slope": slope, "threads": args.threads}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
