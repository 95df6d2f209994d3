"""Training-epoch time of gnnkit next to PyG (same process, same torch) and DGL 2.1 (a
subprocess in its own environment), as issue 3's speed bars ask.

Sections (pick with ``--only``):

* ``small``: Cora GCN / GAT / GraphSAGE and CiteSeer GCN, full graph, one epoch = forward +
  backward + optimizer step in train mode (dropout on). Libraries alternate, ``--repeats`` times;
  each time ``--epochs`` epochs after 3 warm-up epochs; reported: the median over repeats of the
  mean epoch time. Targets: gnnkit <= 0.8x PyG and <= DGL.
* ``large``: a uniform random graph of ``--large-nodes`` nodes and ``--large-edges`` edges,
  64 input features, GCN and GraphSAGE (2 layers, 64 hidden, 16 classes) full batch. gnnkit vs
  PyG with ``edge_index`` (its default path) and with a CSR ``adj_t``; every measurement in its
  own subprocess so its peak RSS is its own. Targets: <= 0.7x PyG default, <= PyG CSR, peak memory
  <= PyG's.
* ``gin``: one training epoch of GIN graph classification on PROTEINS (all 1113 graphs, batch
  128, batching included), the same architecture in both libraries. Target: <= PyG.

Usage:
    python benchmarks/bench_epoch_time.py [--only small,large,gin] [--epochs 200] [--repeats 3]
        [--threads 2] [--root ../shared/datasets] [--json benchmarks/results/bench_epoch_time.json]
        [--dgl-python /root/.cache/gnnkit-dgl-env/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_DGL_PYTHON = Path.home() / ".cache" / "gnnkit-dgl-env" / "bin" / "python"
SMALL_CONFIGS = [("Cora", "gcn"), ("Cora", "gat"), ("Cora", "sage"), ("CiteSeer", "gcn")]
WARMUP = 3


# ------------------------------------------------------------------------------------------------
# models with identical shapes in every library (gnnkit's paper defaults)


def _node_config(model):
    from gnnkit.tasks.models import node_hyperparameters

    return node_hyperparameters(model)


def gnnkit_node_model(model, graph, in_feats, num_classes):
    from gnnkit.tasks import models as zoo

    config = _node_config(model)
    net = zoo.build_node_model(model, in_feats, num_classes, config)
    structure = zoo.with_self_loops(graph) if zoo.wants_self_loops(model) else graph
    return net, structure, config


def pyg_node_model(model, in_feats, num_classes):
    from torch_geometric.nn import GATConv, GCNConv, SAGEConv

    config = _node_config(model)
    hidden, p = config["hidden"], config["dropout"]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if model == "gcn":
                self.conv1, self.conv2 = GCNConv(in_feats, hidden), GCNConv(hidden, num_classes)
            elif model == "gat":
                heads = config["heads"]
                self.conv1 = GATConv(in_feats, hidden, heads=heads, dropout=p)
                self.conv2 = GATConv(hidden * heads, num_classes, heads=1, concat=False, dropout=p)
            else:
                self.conv1, self.conv2 = SAGEConv(in_feats, hidden), SAGEConv(hidden, num_classes)

        def forward(self, x, edge_index):
            x = F.dropout(x, p, self.training)
            x = self.conv1(x, edge_index)
            x = F.elu(x) if model == "gat" else F.relu(x)
            x = F.dropout(x, p, self.training)
            return self.conv2(x, edge_index)

    return Net(), config


def _time_epochs(step, epochs):
    for _ in range(WARMUP):
        step()
    began = time.perf_counter()
    for _ in range(epochs):
        step()
    return (time.perf_counter() - began) / epochs


def _train_step(net, optimizer, forward, labels, mask):
    def step():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        out = forward()
        loss = F.cross_entropy(out[mask], labels[mask])
        loss.backward()
        optimizer.step()
    return step


# ------------------------------------------------------------------------------------------------
# DGL worker (runs in the DGL environment: torch 2.2.1, dgl 2.1)

DGL_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch, torch.nn.functional as F
    import dgl
    from dgl.nn import GATConv, GraphConv, SAGEConv
    args = json.loads(sys.argv[1])
    torch.set_num_threads(args["threads"])
    data = np.load(args["npz"])
    g = dgl.graph((torch.from_numpy(data["src"]), torch.from_numpy(data["dst"])), num_nodes=int(data["num_nodes"]))
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    mask = torch.from_numpy(data["train_mask"])
    model, c = args["model"], args["config"]
    hidden, p, classes = c["hidden"], c["dropout"], int(y.max()) + 1
    if model in ("gcn", "gat"):
        g = dgl.add_self_loop(dgl.remove_self_loop(g))
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if model == "gcn":
                self.c1, self.c2 = GraphConv(x.shape[1], hidden), GraphConv(hidden, classes)
            elif model == "gat":
                self.c1 = GATConv(x.shape[1], hidden, c["heads"], feat_drop=p, attn_drop=p)
                self.c2 = GATConv(hidden * c["heads"], classes, 1, feat_drop=p, attn_drop=p)
            else:
                self.c1, self.c2 = SAGEConv(x.shape[1], hidden, "mean"), SAGEConv(hidden, classes, "mean")
        def forward(self, g, h):
            if model == "gat":
                h = F.elu(self.c1(g, h).flatten(1))
                return self.c2(g, h).mean(1)
            h = F.relu(self.c1(g, F.dropout(h, p, self.training)))
            return self.c2(g, F.dropout(h, p, self.training))
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
    def step():
        net.train(); opt.zero_grad()
        loss = F.cross_entropy(net(g, x)[mask], y[mask]); loss.backward(); opt.step()
    for _ in range(args["warmup"]):
        step()
    t = time.perf_counter()
    for _ in range(args["epochs"]):
        step()
    print(json.dumps({"epoch_s": (time.perf_counter() - t) / args["epochs"], "dgl": dgl.__version__, "torch": torch.__version__}))
    """
)


def run_dgl(python, npz, model, config, epochs, threads):
    args = {"npz": str(npz), "model": model, "config": config, "epochs": epochs, "warmup": WARMUP, "threads": threads}
    with tempfile.NamedTemporaryFile("w", suffix="_dgl_worker.py", delete=False) as handle:
        handle.write(DGL_WORKER)
        script = handle.name
    try:
        done = subprocess.run([str(python), script, json.dumps(args)], capture_output=True, text=True, timeout=1800)
    finally:
        os.unlink(script)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# small graphs


def bench_small(args, save) -> list[dict]:
    from gnnkit.data import load_dataset
    from gnnkit.tasks.node import row_normalize

    dgl_python = Path(args.dgl_python)
    rows = []
    for dataset_name, model in SMALL_CONFIGS:
        if args.configs and f"{dataset_name.lower()}-{model}" not in args.configs:
            continue
        dataset = load_dataset(dataset_name, root=args.root)
        graph = dataset[0]
        x = row_normalize(graph.ndata["feat"].float())
        y = graph.ndata["label"].long()
        mask = graph.ndata["train_mask"].bool()
        src, dst = graph.edges()
        edge_index = torch.stack([src, dst])
        num_classes = dataset.num_classes

        torch.manual_seed(0)
        gk_net, structure, config = gnnkit_node_model(model, graph, x.shape[1], num_classes)
        gk_opt = torch.optim.Adam(gk_net.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
        gk_step = _train_step(gk_net, gk_opt, lambda: gk_net(structure, x), y, mask)
        torch.manual_seed(0)
        pyg_net, _ = pyg_node_model(model, x.shape[1], num_classes)
        pyg_opt = torch.optim.Adam(pyg_net.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
        pyg_step = _train_step(pyg_net, pyg_opt, lambda: pyg_net(x, edge_index), y, mask)

        npz = Path(tempfile.gettempdir()) / f"gnnkit_bench_{dataset_name}.npz"
        np.savez(npz, src=src.numpy(), dst=dst.numpy(), num_nodes=graph.num_nodes(), x=x.numpy(), y=y.numpy(),
                 train_mask=mask.numpy())
        times = {"gnnkit": [], "pyg": [], "dgl": []}
        dgl_note = None
        for _ in range(args.repeats):
            times["gnnkit"].append(_time_epochs(gk_step, args.epochs))
            times["pyg"].append(_time_epochs(pyg_step, args.epochs))
            if dgl_python.is_file() and dgl_note is None:
                try:
                    times["dgl"].append(run_dgl(dgl_python, npz, model, config, args.epochs, args.threads)["epoch_s"])
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as err:
                    dgl_note = f"DGL failed: {err}"
        if not dgl_python.is_file():
            dgl_note = f"DGL environment not found at {dgl_python}"
        row = {"dataset": dataset_name, "model": model, "epochs": args.epochs, "repeats": args.repeats,
               **{f"{lib}_ms": 1000 * statistics.median(t) if t else None for lib, t in times.items()},
               **{f"{lib}_all_ms": [1000 * v for v in t] for lib, t in times.items()}, "dgl_note": dgl_note}
        row["gnnkit_over_pyg"] = row["gnnkit_ms"] / row["pyg_ms"]
        row["gnnkit_over_dgl"] = row["gnnkit_ms"] / row["dgl_ms"] if row["dgl_ms"] else None
        rows.append(row)
        save(rows)
        dgl_text = f"{row['dgl_ms']:8.1f}" if row["dgl_ms"] else "     n/a"
        ratio_dgl = f"{row['gnnkit_over_dgl']:.2f}x" if row["gnnkit_over_dgl"] else "n/a"
        print(f"{dataset_name:<9} {model:<5} gnnkit {row['gnnkit_ms']:8.1f} ms  PyG {row['pyg_ms']:8.1f} ms  DGL {dgl_text} ms"
              f"   gnnkit/PyG {row['gnnkit_over_pyg']:.2f}x  gnnkit/DGL {ratio_dgl}" + (f"  ({dgl_note})" if dgl_note else ""),
              flush=True)
    return rows


# ------------------------------------------------------------------------------------------------
# large synthetic graph, one subprocess per measurement


def _large_data(args) -> Path:
    path = Path(tempfile.gettempdir()) / f"gnnkit_bench_large_{args.large_nodes}_{args.large_edges}.npz"
    if not path.is_file():
        rng = np.random.default_rng(0)
        src = rng.integers(0, args.large_nodes, args.large_edges, dtype=np.int64)
        dst = rng.integers(0, args.large_nodes, args.large_edges, dtype=np.int64)
        np.savez(path, src=src, dst=dst)
    return path


def large_worker(spec: dict) -> dict:
    """Run inside a fresh process: build the graph for ``spec['lib']`` and time full-batch epochs."""
    from gnnkit.tasks.resources import peak_rss_mb

    torch.set_num_threads(spec["threads"])
    data = np.load(spec["npz"])
    src, dst = torch.from_numpy(data["src"]), torch.from_numpy(data["dst"])
    n, features, hidden, classes = spec["nodes"], 64, 64, 16
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    mask = torch.ones(n, dtype=torch.bool)
    baseline = peak_rss_mb()
    torch.manual_seed(0)
    model, lib = spec["model"], spec["lib"]
    if lib == "gnnkit":
        import gnnkit
        from gnnkit.nn import models

        g = gnnkit.graph((src, dst), num_nodes=n)
        if model == "gcn":
            g = gnnkit.add_self_loop(gnnkit.remove_self_loop(g))
            net = models.GCN(features, hidden, classes, num_layers=2, dropout=0.5)
        else:
            net = models.GraphSAGE(features, hidden, classes, num_layers=2, dropout=0.5, input_dropout=0.5)
        forward = lambda: net(g, x)  # noqa: E731
    else:
        from torch_geometric.nn import GCNConv, SAGEConv
        from torch_geometric.utils import to_torch_csr_tensor

        edge_index = torch.stack([src, dst])
        if lib == "pyg-csr":  # adj_t: row = destination
            edge_index = to_torch_csr_tensor(torch.stack([dst, src]), size=(n, n))
        conv = GCNConv if model == "gcn" else SAGEConv

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.c1, self.c2 = conv(features, hidden), conv(hidden, classes)

            def forward(self, h):
                h = F.relu(self.c1(F.dropout(h, 0.5, self.training), edge_index))
                return self.c2(F.dropout(h, 0.5, self.training), edge_index)

        net = Net()
        forward = lambda: net(x)  # noqa: E731
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    step = _train_step(net, optimizer, forward, y, mask)
    step()  # warm-up (also builds any cached structure)
    times = []
    for _ in range(spec["epochs"]):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return {"epoch_s": statistics.median(times), "all_s": times, "peak_rss_mb": peak_rss_mb(),
            "baseline_rss_mb": baseline}


def bench_large(args, save) -> list[dict]:
    npz = _large_data(args)
    rows = []
    for model in args.large_models.split(","):
        results = {lib: [] for lib in ("gnnkit", "pyg", "pyg-csr")}
        failures = {}
        for _ in range(args.large_repeats):
            for lib in results:
                spec = {"npz": str(npz), "nodes": args.large_nodes, "model": model, "lib": lib,
                        "epochs": args.large_epochs, "threads": args.threads}
                done = subprocess.run([sys.executable, __file__, "--large-worker", json.dumps(spec)],
                                      capture_output=True, text=True, timeout=3600)
                if done.returncode != 0:
                    failures[lib] = (done.stderr.strip().splitlines() or ["?"])[-1]
                    continue
                results[lib].append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = {"model": model, "nodes": args.large_nodes, "edges": args.large_edges, "failures": failures}
        for lib, runs in results.items():
            row[f"{lib}_s"] = statistics.median(r["epoch_s"] for r in runs) if runs else None
            row[f"{lib}_peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs) if runs else None
        if row["gnnkit_s"] and row["pyg_s"]:
            row["gnnkit_over_pyg"] = row["gnnkit_s"] / row["pyg_s"]
        if row["gnnkit_s"] and row["pyg-csr_s"]:
            row["gnnkit_over_pyg_csr"] = row["gnnkit_s"] / row["pyg-csr_s"]
        rows.append(row)
        save(rows)

        def fmt(value, unit):
            return f"{value:8.2f} {unit}" if value else "     n/a"

        print(f"large {model:<5} gnnkit {fmt(row['gnnkit_s'], 's')} ({fmt(row['gnnkit_peak_rss_mb'], 'MB')})  "
              f"PyG {fmt(row['pyg_s'], 's')} ({fmt(row['pyg_peak_rss_mb'], 'MB')})  "
              f"PyG-CSR {fmt(row['pyg-csr_s'], 's')} ({fmt(row['pyg-csr_peak_rss_mb'], 'MB')})"
              + (f"  failures: {failures}" if failures else ""), flush=True)
    return rows


# ------------------------------------------------------------------------------------------------
# GIN on PROTEINS


def bench_gin(args, save) -> dict:
    import gnnkit
    from gnnkit.data import load_dataset
    from gnnkit.tasks.models import build_graph_model, graph_hyperparameters
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader
    from torch_geometric.nn import BatchNorm, GINConv, global_add_pool

    dataset = load_dataset("PROTEINS", root=args.root)
    config = graph_hyperparameters("gin")
    graphs, labels = dataset.graphs, dataset.labels
    in_feats, classes, hidden, layers = dataset.num_features, dataset.num_classes, config["hidden"], config["num_layers"]
    torch.manual_seed(0)
    gk_net = build_graph_model("gin", in_feats, classes, config)
    gk_opt = torch.optim.Adam(gk_net.parameters(), lr=config["lr"])

    def gk_epoch():
        gk_net.train()
        order = torch.randperm(len(graphs)).tolist()
        for start in range(0, len(order), config["batch_size"]):
            chosen = order[start:start + config["batch_size"]]
            batch = gnnkit.batch([graphs[i] for i in chosen])
            gk_opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(gk_net(batch, batch.ndata["feat"].float()), labels[chosen])
            loss.backward()
            gk_opt.step()

    pyg_data = [Data(x=g.ndata["feat"].float(), edge_index=torch.stack(g.edges()), y=labels[i:i + 1])
                for i, g in enumerate(graphs)]

    class PygGIN(torch.nn.Module):
        """gnnkit's GIN in PyG: MLP(Linear, BN, ReLU, Linear) per layer, BN + ReLU after it, and
        every layer's sum readout through its own linear head with dropout."""

        def __init__(self):
            super().__init__()
            widths = [in_feats] + [hidden] * layers
            self.convs = torch.nn.ModuleList(GINConv(torch.nn.Sequential(
                torch.nn.Linear(widths[i], hidden), BatchNorm(hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden)))
                for i in range(layers))
            self.norms = torch.nn.ModuleList(BatchNorm(hidden) for _ in range(layers))
            self.heads = torch.nn.ModuleList(torch.nn.Linear(w, classes) for w in widths)

        def forward(self, x, edge_index, batch):
            states, h = [x], x
            for conv, norm in zip(self.convs, self.norms):
                h = F.relu(norm(conv(h, edge_index)))
                states.append(h)
            return sum(F.dropout(head(global_add_pool(s, batch)), 0.5, self.training) for head, s in zip(self.heads, states))

    torch.manual_seed(0)
    pyg_net = PygGIN()
    pyg_opt = torch.optim.Adam(pyg_net.parameters(), lr=config["lr"])
    loader = DataLoader(pyg_data, batch_size=config["batch_size"], shuffle=True)

    def pyg_epoch():
        pyg_net.train()
        for batch in loader:
            pyg_opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(pyg_net(batch.x, batch.edge_index, batch.batch), batch.y)
            loss.backward()
            pyg_opt.step()

    times = {"gnnkit": [], "pyg": []}
    gk_epoch(), pyg_epoch()  # warm-up
    for _ in range(args.repeats):
        for name, epoch in (("gnnkit", gk_epoch), ("pyg", pyg_epoch)):
            began = time.perf_counter()
            for _ in range(args.gin_epochs):
                epoch()
            times[name].append((time.perf_counter() - began) / args.gin_epochs)
    row = {"dataset": "PROTEINS", "model": "gin", "layers": layers, "hidden": hidden, "batch_size": config["batch_size"],
           "gnnkit_ms": 1000 * statistics.median(times["gnnkit"]), "pyg_ms": 1000 * statistics.median(times["pyg"]),
           "gnnkit_all_ms": [1000 * t for t in times["gnnkit"]], "pyg_all_ms": [1000 * t for t in times["pyg"]]}
    row["gnnkit_over_pyg"] = row["gnnkit_ms"] / row["pyg_ms"]
    print(f"PROTEINS  gin   gnnkit {row['gnnkit_ms']:8.1f} ms  PyG {row['pyg_ms']:8.1f} ms   gnnkit/PyG {row['gnnkit_over_pyg']:.2f}x",
          flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="small,large,gin")
    parser.add_argument("--configs", help="subset of the small configs, e.g. cora-gcn,citeseer-gcn")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--dgl-python", default=str(DEFAULT_DGL_PYTHON))
    parser.add_argument("--large-nodes", type=int, default=1_000_000)
    parser.add_argument("--large-edges", type=int, default=10_000_000)
    parser.add_argument("--large-epochs", type=int, default=3)
    parser.add_argument("--large-models", default="gcn,sage")
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--gin-epochs", type=int, default=5)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_epoch_time.json"))
    parser.add_argument("--large-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.large_worker:
        print(json.dumps(large_worker(json.loads(args.large_worker))))
        return 0
    torch.set_num_threads(args.threads)
    args.configs = set(args.configs.split(",")) if args.configs else None
    import torch_geometric

    sections = args.only.split(",")
    out = Path(args.json)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["environment"] = {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
                              "threads": args.threads, "cpus": os.cpu_count(),
                              "load_average_at_start": os.getloadavg()}
    def saver(section):
        def save(value):
            results[section] = value
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")
        return save

    for section, function in (("small", bench_small), ("large", bench_large), ("gin", bench_gin)):
        if section in sections:
            saver(section)(function(args, saver(section)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
