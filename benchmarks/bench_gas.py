"""GNNAutoScale (GAS) against full-batch training of the same model.

* Cora and CiteSeer (public split): 2-layer GCN (GraphConv, D^-1/2 (A+I) D^-1/2 as edge
  weights) trained full-batch vs as a GAS model over METIS clusters; test accuracy at the
  best validation epoch (full-graph evaluation), mean over seeds; history staleness per epoch.
* A 2M-node planted-partition graph: a 4-layer GAS GCN vs gnnkit's full-batch GCN
  (``gnnkit.nn.GCN``, same widths, same graph and features). Each run is a fresh subprocess
  that loads the dataset (COO, edge weights, features, labels, mask), takes that RSS as its
  base and reports the peak RSS above it (everything the method builds to train: CSR views,
  activations; for GAS the partition vector, loader, boundary set, histories, blocks) and the
  whole-process peak (see ``big_child``). GAS logs the histories' staleness per epoch. The
  full-batch baseline is the leaner of GraphConv(norm='none') with the GCN edge weights and
  GraphConv(norm='both'). GAS variants: histories for all nodes or compact (only the
  boundary nodes a batch can pull), float32 / float16 / bfloat16 storage.

Usage: python benchmarks/bench_gas.py [--parts planetoid,big] [--seeds 3] [--big-nodes 2000000]
       [--big-graph communities] [--hidden 64] [--threads 1] [--big-runs full,gas_compact_fp16]
       [--merge] [--out benchmarks/results/bench_gas.json]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch
import torch.nn.functional as F

import gnnkit as gk
from gnnkit.data import read_planetoid
from gnnkit.data.synthetic import planted_partition
from gnnkit.nn import GCN, GraphConv
from gnnkit.sampling import metis_partition, reorder_by_partition
from gnnkit.scale import ScalableGNN, SubgraphLoader, gcn_norm_weights

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def gcn_model(in_dim, hidden, out_dim, num_layers, num_nodes, dropout, history_dtype=torch.float32, history_nodes=None):
    dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
    layers = [GraphConv(dims[i], dims[i + 1], norm="none") for i in range(num_layers)]
    return ScalableGNN(layers, num_nodes, dims[1:-1], dropout=dropout, edge_weight="w", history_dtype=history_dtype, history_nodes=history_nodes)


def accuracy(logits, labels):
    return float((logits.argmax(1) == labels).float().mean())


def prepare(g):
    g = gk.add_self_loop(gk.remove_self_loop(g))
    g.edata["w"] = gcn_norm_weights(g)
    return g


def planetoid_run(g, num_classes, gas, seed, epochs, num_parts, clusters_per_batch):
    torch.manual_seed(seed)
    x, y = g.ndata["feat"], g.ndata["label"]
    train, val, test = (g.ndata[k] for k in ("train_mask", "val_mask", "test_mask"))
    model = gcn_model(x.shape[1], 64, num_classes, 2, g.num_nodes(), 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    loader = SubgraphLoader(g, num_parts=num_parts, batch_size=clusters_per_batch, shuffle=True, edge_feats=["w"]) if gas else None
    best_val, best_test, staleness = -1.0, 0.0, []
    for _ in range(epochs):
        model.train()
        if gas:
            for batch in loader:
                out = model(batch, x)
                mask = train[batch.batch_nodes]
                if bool(mask.any()):
                    loss = F.cross_entropy(out[mask], y[batch.batch_nodes][mask])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            staleness.append(model.staleness()[0])
        else:
            loss = F.cross_entropy(model.full_forward(g, x)[train], y[train])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model.full_forward(g, x)
        v = accuracy(logits[val], y[val])
        if v > best_val:
            best_val, best_test = v, accuracy(logits[test], y[test])
    return best_test, staleness


def part_planetoid(args, results):
    configs = [tuple(int(v) for v in c.split(":")) for c in args.planetoid_configs.split(",")]
    for name in args.datasets.split(","):
        ds = read_planetoid(DATASETS / name, name)
        g = prepare(ds.graph)
        full = [planetoid_run(g, ds.num_classes, False, s, args.epochs, 0, 0)[0] for s in range(args.seeds)]
        results[name] = {"full_batch_test_acc": statistics.mean(full), "full_runs": full, "gas": {}}
        print(f"{name:<9} full-batch GCN {100 * statistics.mean(full):.2f} ({args.seeds} seeds)")
        for num_parts, clusters_per_batch in configs:
            gas_runs = [planetoid_run(g, ds.num_classes, True, s, args.epochs, num_parts, clusters_per_batch) for s in range(args.seeds)]
            gas = [r[0] for r in gas_runs]
            st = gas_runs[0][1]
            results[name]["gas"][f"{num_parts}_parts_{clusters_per_batch}_per_batch"] = {
                "gas_test_acc": statistics.mean(gas),
                "gap_points": 100 * (statistics.mean(full) - statistics.mean(gas)),
                "runs": gas,
                "num_parts": num_parts,
                "clusters_per_batch": clusters_per_batch,
                "staleness_per_epoch_seed0": st,
                "loadavg": os.getloadavg(),
            }
            print(
                f"{name:<9} GAS GCN, {num_parts} parts, {clusters_per_batch} per batch: {100 * statistics.mean(gas):.2f} "
                f"(gap {100 * (statistics.mean(full) - statistics.mean(gas)):.2f} points); "
                f"staleness epoch 1/10/last: {st[0]:.3f}/{st[min(9, len(st) - 1)]:.3f}/{st[-1]:.3f}"
            )
            args.save()


# ---------------------------------------------------------------------------------------------
# the 2M-node graph: prepared once, trained in fresh processes


# Two families of 2M-node graphs. "sbm10": 10 planted classes with 30% of the edges between
# classes, i.e. random inside a class: METIS finds no locality, so a batch of 5% of the nodes
# has a halo of about half the graph (the worst case for GAS). "communities": 400 planted
# communities of 5000 nodes with 95% of the edges inside, the locality real large graphs
# (citation, product, social) have and GAS relies on; its task is community id mod 10.
BIG_GRAPHS = {
    "sbm10": dict(num_classes=10, avg_degree=10.0, homophily=0.7, num_features=32, feature_noise=2.0),
    "communities": dict(num_classes=400, avg_degree=10.0, homophily=0.95, num_features=32, feature_noise=2.0),
}


def big_prepare(path, num_nodes, num_parts, family="sbm10"):
    t = time.perf_counter()
    g = planted_partition(num_nodes, seed=0, **BIG_GRAPHS[family])
    g.ndata["label"] = g.ndata["label"] % 10
    gen_s = time.perf_counter() - t
    g = prepare(g)
    t = time.perf_counter()
    parts = metis_partition(g, num_parts)
    metis_s = time.perf_counter() - t
    g, perm, ptr = reorder_by_partition(g, parts)
    parts = parts[perm]
    src, dst = g.edges()
    _save(parts, path + ".parts.pt")
    _save(
        {"src": src, "dst": dst, "w": g.edata["w"], "feat": g.ndata["feat"], "label": g.ndata["label"], "train": g.ndata["train_mask"], "parts": parts},
        path,
    )
    return {"generate_s": gen_s, "metis_s": metis_s, "edges": g.num_edges()}


def _reset_peak():
    """Resets the kernel's peak-RSS counter (VmHWM) of this process (Linux)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _volunteer_for_oom_killer():
    """On a shared machine, let the kernel kill this benchmark first if memory runs out."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _malloc_trim():
    """Returns freed heap memory to the kernel (glibc), so an RSS snapshot shows memory in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _rss_mb(proc):
    return proc.memory_info().rss / 2**20


def big_child(path, mode, hidden, num_layers, epochs, clusters_per_batch, history_dtype, histories):
    """One measured run in a fresh process.

    Protocol (the same for every mode): load the dataset both methods read (COO graph, GCN edge
    weights, features, labels, train mask; no mmap, so every byte is ordinary anonymous memory),
    trim the heap and take that RSS as the base; reset the kernel's peak counter (VmHWM). From
    there everything a method builds to train counts: the full-batch model's CSR views (its
    backward needs the transposed one), its activations and gradients; for GAS the partition
    vector (loaded only now), the loader (node order, in-CSR), the boundary set, the histories,
    the model and every per-batch structure. ``peak_rss_mb`` is the whole process's peak."""
    _volunteer_for_oom_killer()
    torch.set_num_threads(int(os.environ.get("GNNKIT_BENCH_THREADS", "1")))
    proc = psutil.Process()
    data = torch.load(path)
    data.pop("parts", None)
    g = gk.graph((data["src"], data["dst"]), num_nodes=data["feat"].shape[0])
    g.edata["w"] = data["w"]
    x, y, train = data["feat"], data["label"], data["train"]
    del data
    gc.collect()
    _malloc_trim()
    load_peak_mb = _peak_mb()
    _reset_peak()  # so the peak below is the training's, not the loading's
    base_mb = _rss_mb(proc)
    stages = {}
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(history_dtype, torch.float32)
    num_classes = 10
    info = {"boundary_nodes": None, "history_rows": None}
    if mode == "gas":
        parts = torch.load(path + ".parts.pt")
        loader = SubgraphLoader(g, parts=parts, batch_size=clusters_per_batch, shuffle=True, edge_feats=["w"])
        del parts
        g.sparse.in_csr()  # the loader gathers from it
        stages["loader_mb"] = _rss_mb(proc) - base_mb
        boundary = loader.boundary_nodes() if histories == "compact" else None
        info["boundary_nodes"] = None if boundary is None else boundary.numel()
        model = gcn_model(x.shape[1], hidden, num_classes, num_layers, g.num_nodes(), 0.0, dtype, history_nodes=boundary)
        del boundary
        info["history_rows"] = model.histories[0].emb.shape[0]
        history_mb = sum(h.emb.numel() * h.emb.element_size() for h in model.histories) / 2**20
        slot = model.histories[0]._slot
        history_mb += 0.0 if slot is None else slot.numel() * slot.element_size() / 2**20
    elif mode == "full":
        # gnnkit's full-batch GCN, same widths; GraphConv(norm='none') with the GCN edge weights
        # (the exact function GAS computes) ...
        model = GCN(x.shape[1], hidden, num_classes, num_layers=num_layers, dropout=0.0, gcn_norm="none")
        history_mb = 0.0
    else:  # "full_normboth": ... or the usual GraphConv(norm='both') on the self-looped graph, no weights
        model = GCN(x.shape[1], hidden, num_classes, num_layers=num_layers, dropout=0.0, gcn_norm="both")
        history_mb = 0.0
    gc.collect()
    _malloc_trim()
    stages["setup_mb"] = _rss_mb(proc) - base_mb
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    staleness, epoch_s, losses, batch_sizes = [], [], [], []
    between_batches_mb = 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        if mode == "gas":
            model.train()
            for batch in loader:
                batch_sizes.append((batch.batch_nodes.numel(), batch.halo_nodes.numel(), batch.block.num_edges()))
                out = model(batch, x)
                mask = train[batch.batch_nodes]
                loss = F.cross_entropy(out[mask], y[batch.batch_nodes][mask])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss))
                # One block alive at a time: the loop variable would keep this batch while the
                # loader builds the next one.
                del batch, out, loss, mask
                between_batches_mb = max(between_batches_mb, _rss_mb(proc) - base_mb)
            staleness.append(model.staleness())
        else:
            w = g.edata["w"] if mode == "full" else None
            loss = F.cross_entropy(model(g, x, edge_weight=w)[train], y[train])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            del loss
        epoch_s.append(time.perf_counter() - t)
    peak_mb = _peak_mb()
    print(json.dumps({
        "mode": mode, "histories": histories if mode == "gas" else None, "history_dtype": history_dtype if mode == "gas" else None,
        "hidden": hidden, "in_feats": x.shape[1], "layers": num_layers,
        "rss_after_load_mb": base_mb, "load_peak_mb": load_peak_mb, "peak_rss_mb": peak_mb,
        "training_peak_above_load_mb": peak_mb - base_mb,
        "setup_above_load_mb": stages["setup_mb"], "loader_above_load_mb": stages.get("loader_mb"),
        "history_mb": history_mb, "rss_between_batches_max_above_load_mb": between_batches_mb if mode == "gas" else None,
        **info,
        "loadavg": os.getloadavg(), "cpu_seconds": time.process_time(), "epoch_seconds": epoch_s,
        "staleness_per_epoch": staleness, "losses_first_last": [losses[0], losses[-1]],
        "mean_batch_nodes": sum(b for b, _, _ in batch_sizes) / max(len(batch_sizes), 1),
        "mean_halo_nodes": sum(h for _, h, _ in batch_sizes) / max(len(batch_sizes), 1),
        "mean_block_edges": sum(e for _, _, e in batch_sizes) / max(len(batch_sizes), 1),
    }))


BIG_RUNS = {  # name: (mode, histories, history dtype)
    "full": ("full", None, "float32"),
    "full_normboth": ("full_normboth", None, "float32"),
    "gas_all_fp32": ("gas", "all", "float32"),
    "gas_all_fp16": ("gas", "all", "float16"),
    "gas_compact_fp32": ("gas", "compact", "float32"),
    "gas_compact_fp16": ("gas", "compact", "float16"),
    "gas_compact_bf16": ("gas", "compact", "bfloat16"),
}


def part_big(args, results):
    path = os.path.join(tempfile.gettempdir(), f"gnnkit_gas_{args.big_graph}_{args.big_nodes}.pt")
    if not os.path.exists(path):
        results["big_prepare"] = big_prepare(path, args.big_nodes, args.big_parts, args.big_graph)
    if not os.path.exists(path + ".parts.pt"):  # graphs prepared by an earlier version of this script
        _save(torch.load(path, mmap=True)["parts"].clone(), path + ".parts.pt")
    big = results.setdefault("big", {})
    big.update({
        "graph": args.big_graph, "graph_config": BIG_GRAPHS[args.big_graph], "nodes": args.big_nodes, "layers": 4,
        "hidden": args.hidden, "num_parts": args.big_parts, "clusters_per_batch": args.big_clusters_per_batch,
        "threads": int(os.environ["GNNKIT_BENCH_THREADS"]),
        "glibc_tunables": f"glibc.malloc.mmap_threshold={args.mmap_threshold}" if args.mmap_threshold else None,
    })
    runs = big.setdefault("runs", {})
    for name in args.big_runs.split(","):
        mode, histories, dtype = BIG_RUNS[name]
        epochs = 1 if mode != "gas" else args.big_epochs
        cmd = [sys.executable, __file__, "--child", path, mode, str(args.hidden), "4", str(epochs), str(args.big_clusters_per_batch), dtype, str(histories)]
        env = dict(os.environ)
        if args.mmap_threshold:
            # glibc's dynamic mmap threshold rises to 32 MB after the first large free, after
            # which per-batch tensors come from the heap and their freed pages stay resident
            # (measured: ~600 MB held between GAS batches at hidden 64). A fixed threshold
            # serves every allocation above it with its own mmap, unmapped on free, so RSS
            # shows the memory in use. Applied to every run alike, full-batch included.
            env["GLIBC_TUNABLES"] = f"glibc.malloc.mmap_threshold={args.mmap_threshold}"
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            runs[name] = {"error": proc.stderr[-800:], "returncode": proc.returncode}
            print(f"{name} failed: {proc.stderr[-800:]}")
        else:
            runs[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        args.save()
    fulls = {k: r for k, r in runs.items() if k.startswith("full") and "error" not in r}
    if not fulls:
        return
    # The baseline is the leaner of the two full-batch variants (the ratio is against the best full-batch).
    base_name = min(fulls, key=lambda k: fulls[k]["training_peak_above_load_mb"])
    base = fulls[base_name]
    big["baseline"] = base_name
    for key, run in runs.items():
        if "error" in run:
            continue
        run["ratio_training_peak_vs_full"] = run["training_peak_above_load_mb"] / base["training_peak_above_load_mb"]
        run["ratio_process_peak_vs_full"] = run["peak_rss_mb"] / base["peak_rss_mb"]
        st = ", ".join("[" + " ".join(f"{v:.3f}" for v in s) + "]" for s in run["staleness_per_epoch"])
        print(
            f"{key:<18} training peak above load {run['training_peak_above_load_mb']:7.0f} MB (x{run['ratio_training_peak_vs_full']:.3f} of {base_name}), "
            f"histories {run['history_mb']:5.0f} MB, process peak {run['peak_rss_mb']:7.0f} MB (x{run['ratio_process_peak_vs_full']:.3f}), "
            f"epoch {run['epoch_seconds'][0]:.1f} s" + (f", staleness per epoch {st}" if st else "")
        )


def _save(obj, path):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    os.close(fd)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="planetoid,big")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--datasets", default="Cora,CiteSeer")
    parser.add_argument("--planetoid-configs", default="40:10,40:20", help="GAS configs num_parts:clusters_per_batch, comma-separated")
    parser.add_argument("--big-nodes", type=int, default=2_000_000)
    parser.add_argument("--big-parts", type=int, default=200)
    parser.add_argument("--big-graph", choices=sorted(BIG_GRAPHS), default="sbm10")
    parser.add_argument("--big-clusters-per-batch", type=int, default=10)
    parser.add_argument("--big-epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--big-runs", default="full,full_normboth,gas_compact_fp16,gas_compact_bf16,gas_compact_fp32,gas_all_fp16,gas_all_fp32",
                        help=f"runs on the big graph, comma-separated, from {sorted(BIG_RUNS)}")
    parser.add_argument("--child", nargs=8, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (1 is faster on a busy machine)")
    parser.add_argument("--out", default="benchmarks/results/bench_gas.json")
    parser.add_argument("--mmap-threshold", type=int, default=0,
                        help="fixed glibc mmap threshold (bytes) for the big-graph children, e.g. 1048576; 0 keeps glibc's dynamic one")
    parser.add_argument("--merge", action="store_true", help="add to the results already in --out (runs of the same name are replaced)")
    args = parser.parse_args()
    if args.child is not None:
        path, mode, hidden, layers, epochs, cpb, dtype, histories = args.child
        big_child(path, mode, int(hidden), int(layers), int(epochs), int(cpb), dtype, histories)
        return
    torch.set_num_threads(args.threads)
    os.environ["GNNKIT_BENCH_THREADS"] = str(args.threads)  # for the child processes
    results = {}
    if args.merge and os.path.exists(args.out):  # a sweep split over several locked runs
        with open(args.out) as f:
            results = json.load(f)
    results.update({"threads": args.threads, "loadavg_start": os.getloadavg()})

    def save():  # after every finished piece, so a run cut short by its time limit keeps them
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, args.out)

    args.save = save
    parts = args.parts.split(",")
    if "planetoid" in parts:
        part_planetoid(args, results)
    results["loadavg_after_planetoid"] = os.getloadavg()
    if "big" in parts:
        part_big(args, results)
    results["loadavg_end"] = os.getloadavg()
    save()


if __name__ == "__main__":
    main()
