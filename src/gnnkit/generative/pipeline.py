"""The graph-generation workflow behind ``gnnkit generate``: train, sample, evaluate, complete.

A *run directory* holds one trained model:

``run.json``        what was trained: model kind, constructor config, dataset, split options
``train_state.pt``  the trainer's resumable checkpoint (written atomically after every epoch)
``model.pt``        the final weights (atomic), what :func:`load_run` reads
``history.json``    the training curve

Evaluation compares generated graphs with the dataset's test split (GRAN's protocol) under both
MMD kernels, and :func:`format_table` prints the comparison in the layout of the BiGG / GRAN
papers (methods as rows; per dataset Deg., Clus., Orbit, Spec. and, for lobster, Err.) with the
kernel named in the title.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .baselines import ErdosRenyi, GraphRNNS, atomic_torch_save, train_graphrnn_s
from .datasets import GENERATION_DATASETS, graph_from_edges, load_generation_dataset
from .metrics import KERNELS, METRICS, evaluate_generation, graph_statistics, to_adjacency

__all__ = [
    "MODELS",
    "METHOD_LABELS",
    "build_model",
    "train_model",
    "load_run",
    "sample_graphs",
    "save_graphs",
    "load_graphs",
    "read_partial_graph",
    "complete_graph",
    "evaluate_samples",
    "compare_methods",
    "format_table",
    "save_results",
    "draw_graphs_png",
    "run_comparison",
]

MODELS = ("bigg", "graphrnn_s", "er")
METHOD_LABELS = {"er": "Erdos-Renyi", "graphrnn_s": "GraphRNN-S", "bigg": "BiGG"}
_METRIC_LABELS = {"degree": "Deg.", "clustering": "Clus.", "orbit": "Orbit", "spectral": "Spec."}
_KERNEL_LABELS = {"gaussian_tv": "Gaussian-TV kernel (GRAN)", "gaussian_emd": "Gaussian-EMD kernel (GraphRNN)"}


def _check_model_kind(kind: str) -> str:
    key = str(kind).lower().replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"model: expected one of {MODELS}, got {kind!r}")
    return key


def _bigg():
    from .bigg import BiGG, train_bigg  # imported late: BiGG is the heaviest part of the package

    return BiGG, train_bigg


def _write_json(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(obj, handle, indent=2, default=float)
    os.replace(tmp, path)


def build_model(kind: str, train_graphs, config: dict | None = None):
    """A fresh model of ``kind`` sized for ``train_graphs`` (node counts fitted)."""
    kind = _check_model_kind(kind)
    config = dict(config or {})
    if kind == "er":
        return ErdosRenyi().fit(train_graphs)
    if kind == "graphrnn_s":
        return GraphRNNS.for_graphs(train_graphs, **config)
    BiGG, _ = _bigg()
    model = BiGG(**config)
    model.fit_node_counts(train_graphs)
    return model


def _model_config(kind: str, model, config: dict) -> dict:
    if hasattr(model, "config") and callable(model.config):
        return model.config()
    if kind == "bigg":
        return {"embed_dim": model.embed_dim, "max_nodes": model.max_nodes, "head_hidden": model.head_hidden,
                "node_order": model.node_order}
    return dict(config)


def train_model(kind: str, dataset: str, run_dir, *, config: dict | None = None, epochs: int | None = None,
                time_budget_s: float | None = None, batch_size: int | None = None, lr: float | None = None,
                resume: bool = False, cpu_budget_s: float | None = None, progress: bool = True, root=None,
                shuffle_seed: int | None = None,
                device: str = "cpu", bigg_options: dict | None = None) -> dict:
    """Train ``kind`` on the training split of ``dataset`` into ``run_dir``; returns ``run.json``'s content.

    ``bigg_options``: extra keyword arguments of :func:`~gnnkit.generative.bigg.train_bigg`
    (``grad_clip``, ``lr_schedule``, ``lr_final_factor``, ``validate_every``, ``keep_best``);
    ``{"validate": True}`` selects the weights by the loss on the dataset's validation split
    (GRAN's: the first 20% of the graphs, inside the training split as in GRAN's runner).

    ``resume=True`` continues from ``run_dir/train_state.pt`` (the model config is then read
    from ``run.json`` so the weights fit).
    """
    kind = _check_model_kind(kind)
    run_dir = Path(run_dir)
    data = load_generation_dataset(dataset, root=root, shuffle_seed=shuffle_seed)
    config = dict(config or {})
    info_path = run_dir / "run.json"
    if resume and info_path.is_file():
        previous = json.loads(info_path.read_text())
        if previous["model"] != kind or previous["dataset"] != data.name:
            raise ValueError(
                f"resume: {run_dir} holds a {previous['model']} model on {previous['dataset']}, not {kind} on {data.name}"
            )
        config = previous["config"]
    model = build_model(kind, data.train, config)
    if isinstance(model, torch.nn.Module):
        model.to(device)
    info = {"model": kind, "dataset": data.name, "config": _model_config(kind, model, config),
            "root": str(root) if root is not None else None, "shuffle_seed": shuffle_seed}
    _write_json(info, info_path)
    started = time.perf_counter()
    history = []
    if kind != "er":  # Erdős–Rényi is fitted in closed form by build_model
        if epochs is None and time_budget_s is None and cpu_budget_s is None:
            raise ValueError("epochs/time_budget_s/cpu_budget_s: expected at least one of them, got none")
        options = {"epochs": epochs, "time_budget_s": time_budget_s, "checkpoint": run_dir / "train_state.pt",
                   "resume": resume, "progress": progress}
        if cpu_budget_s is not None:
            if kind != "bigg":
                raise ValueError(f"cpu_budget_s: only supported for model 'bigg', got model {kind!r}")
            options["cpu_budget_s"] = cpu_budget_s
        if batch_size is not None:
            options["batch_size"] = batch_size
        if lr is not None:
            options["lr"] = lr
        if bigg_options:
            if kind != "bigg":
                raise ValueError(f"bigg_options: only for model 'bigg', got model {kind!r}")
            extra = dict(bigg_options)
            if extra.pop("validate", False):
                extra["validation_graphs"] = data.val
            options.update(extra)
            info["bigg_options"] = dict(bigg_options)
        trainer = train_graphrnn_s if kind == "graphrnn_s" else _bigg()[1]
        history = trainer(model, data.train, **options)
        if history and "best_step" in history[-1]:
            info["best_step"], info["best_val_loss"] = history[-1]["best_step"], history[-1]["best_val_loss"]
    state = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in model.state_dict().items()}
    atomic_torch_save({"model": kind, "config": info["config"], "state_dict": state}, run_dir / "model.pt")
    _write_json(_jsonable_history(history), run_dir / "history.json")
    info["train_seconds"] = time.perf_counter() - started
    _write_json(info, info_path)
    return info


def _jsonable_history(history):
    if isinstance(history, dict):
        return {k: _jsonable_history(v) for k, v in history.items()}
    if isinstance(history, (list, tuple)):
        return [_jsonable_history(v) for v in history]
    if isinstance(history, torch.Tensor):
        return history.tolist()
    if isinstance(history, (np.generic,)):
        return history.item()
    return history


def load_run(run_dir, device: str = "cpu"):
    """(model, run info, dataset) of a run directory written by :func:`train_model`."""
    run_dir = Path(run_dir)
    info_path, weights_path = run_dir / "run.json", run_dir / "model.pt"
    for path in (info_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"run: {path} not found (train first with `gnnkit generate train`)")
    info = json.loads(info_path.read_text())
    data = load_generation_dataset(info["dataset"], root=info.get("root"), shuffle_seed=info.get("shuffle_seed"))
    model = build_model(info["model"], data.train, info["config"])
    state = torch.load(weights_path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    if isinstance(model, torch.nn.Module):
        model.to(device).eval()
    return model, info, data


def sample_graphs(model, num_samples: int, num_nodes: int | None = None, seed: int = 0, progress: bool = True) -> list:
    """``num_samples`` graphs from ``model.sample`` with a seeded generator."""
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: expected a positive integer, got {num_samples!r}")
    generator = torch.Generator().manual_seed(seed)
    iterator = range(num_samples)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="sampling", unit="graph")
    with torch.no_grad():
        return [model.sample(num_nodes=num_nodes, generator=generator) for _ in iterator]


def save_graphs(graphs, path) -> Path:
    """Write graphs to one ``.npz`` (``num_nodes``, per-graph edge counts, undirected edges u < v)."""
    path = Path(path)
    sizes, counts, edges = [], [], []
    for g in graphs:
        adj = to_adjacency(g)
        coo = adj.tocoo()
        keep = coo.row < coo.col
        upper = np.stack([coo.row[keep], coo.col[keep]], axis=1)
        sizes.append(adj.shape[0])
        counts.append(len(upper))
        edges.append(upper)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".npz", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        np.savez_compressed(handle, num_nodes=np.array(sizes, dtype=np.int64), num_edges=np.array(counts, dtype=np.int64),
                            edges=np.concatenate(edges).astype(np.int64) if edges else np.zeros((0, 2), dtype=np.int64))
    os.replace(tmp, path)
    return path


def load_graphs(path) -> list:
    """Graphs written by :func:`save_graphs`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples: {path} not found")
    with np.load(path) as data:
        missing = {"num_nodes", "num_edges", "edges"} - set(data.files)
        if missing:
            raise ValueError(f"samples: {path} is not a gnnkit graph file (missing {sorted(missing)})")
        sizes, counts, edges = data["num_nodes"], data["num_edges"], data["edges"]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [graph_from_edges(edges[bounds[i]:bounds[i + 1], 0], edges[bounds[i]:bounds[i + 1], 1], int(sizes[i]))
            for i in range(len(sizes))]


def read_partial_graph(path, num_nodes: int | None = None):
    """A partial graph from a ``.npz`` graph file (its first graph) or a text edge list ``u v`` per
    line (``#`` comments allowed); ``num_nodes`` adds trailing isolated nodes to an edge list."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_graphs(path)[0]
    if not path.is_file():
        raise FileNotFoundError(f"partial: {path} not found")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
            raise ValueError(f"partial: line {number} of {path} is not an edge 'u v': {line!r}")
        rows.append((int(parts[0]), int(parts[1])))
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    n = int(pairs.max()) + 1 if len(pairs) else 0
    if num_nodes is not None:
        if num_nodes < n:
            raise ValueError(f"partial_nodes: expected at least {n} (the largest node id + 1), got {num_nodes}")
        n = num_nodes
    return graph_from_edges(pairs[:, 0], pairs[:, 1], n)


def complete_graph(model, partial_graph, num_nodes: int | None = None):
    """``model.complete(partial_graph, num_nodes)``: the given rows fixed, the rest generated."""
    with torch.no_grad():
        return model.complete(partial_graph, num_nodes=num_nodes)


def evaluate_samples(generated, dataset, kernels=KERNELS, split: str = "test", reference_statistics=None,
                     progress: bool = False) -> dict:
    """MMDs of ``generated`` against a split of ``dataset`` (a :class:`GenerationDataset`)."""
    if split not in ("test", "val", "train"):
        raise ValueError(f"split: expected 'test', 'val' or 'train', got {split!r}")
    reference = getattr(dataset, split)
    return evaluate_generation(generated, reference, kernels=kernels, lobster=dataset.name == "lobster",
                               reference_statistics=reference_statistics, progress=progress)


def compare_methods(dataset: str, methods: dict, *, num_samples: int | None = None, kernels=KERNELS, seed: int = 0,
                    root=None, shuffle_seed: int | None = None, progress: bool = True, data=None) -> dict:
    """Evaluate several methods on one dataset; ``methods`` maps a label to a model object, a run
    directory, or a list of already generated graphs. Returns ``{label: evaluation}``."""
    data = data or load_generation_dataset(dataset, root=root, shuffle_seed=shuffle_seed)
    count = num_samples or len(data.test)
    reference = graph_statistics(data.test, METRICS, progress=progress, desc=f"{data.name} test statistics")
    results = {}
    for label, method in methods.items():
        if isinstance(method, (str, os.PathLike)):
            method, _, _ = load_run(method)
        sample_s = None
        if isinstance(method, (list, tuple)):
            graphs = list(method)
        else:
            started = time.perf_counter()
            graphs = sample_graphs(method, count, seed=seed, progress=progress)
            sample_s = time.perf_counter() - started
        result = evaluate_samples(graphs, data, kernels, reference_statistics=reference, progress=progress)
        if sample_s is not None:
            result["sample_seconds"] = sample_s
        results[label] = result
    return results


def _fmt(value) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e-2:
        return f"{value:.3f}"
    return f"{value:.2e}"


def format_table(results: dict, kernel: str) -> str:
    """The comparison table for one kernel. ``results``: ``{dataset: {method: evaluation}}``.

    Layout as in the BiGG paper's Table 1: one row per method; for every dataset the columns
    Deg., Clus., Orbit, Spec. (MMD^2 against the test split) and, for lobster, Err. (the fraction
    of generated graphs that are not lobsters).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    datasets = list(results)
    methods = []
    for d in datasets:
        for m in results[d]:
            if m not in methods:
                methods.append(m)
    groups = []
    for d in datasets:
        cols = [_METRIC_LABELS[m] for m in METRICS]
        if any(r.get("lobster_error") is not None for r in results[d].values()):
            cols.append("Err.")
        groups.append((d, cols))
    width, label_width = 9, max([len("Method")] + [len(m) for m in methods]) + 1
    lines = [f"MMD^2 to the test split, {_KERNEL_LABELS[kernel]}; lower is better. Err. = lobster validity error."]
    head1 = " " * label_width + "".join("| " + d.center(width * len(cols)) for d, cols in groups)
    head2 = "Method".ljust(label_width) + "".join("| " + "".join(c.rjust(width) for c in cols) for _, cols in groups)
    lines += [head1, head2, "-" * len(head2)]
    for m in methods:
        row = m.ljust(label_width)
        for d, cols in groups:
            r = results[d].get(m)
            cells = []
            for c, metric in zip(cols, list(METRICS) + ["lobster_error"]):
                if r is None:
                    cells.append("-")
                elif metric == "lobster_error":
                    cells.append(_fmt(r.get("lobster_error")))
                else:
                    cells.append(_fmt(r["kernels"].get(kernel, {}).get(metric)))
            row += "| " + "".join(c.rjust(width) for c in cells)
        lines.append(row)
    return "\n".join(lines)


def save_results(results: dict, prefix) -> tuple[Path, Path]:
    """Write ``{dataset: {method: evaluation}}`` as ``prefix.json`` and a long-format ``prefix.csv``
    (dataset, method, kernel, metric, value). Both written atomically."""
    prefix = Path(prefix)
    json_path, csv_path = Path(f"{prefix}.json"), Path(f"{prefix}.csv")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(results, json_path)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["dataset", "method", "kernel", "metric", "value"])
    for d, by_method in results.items():
        for m, r in by_method.items():
            for kernel, values in r["kernels"].items():
                for metric, value in values.items():
                    writer.writerow([d, m, kernel, metric, repr(float(value))])
            if r.get("lobster_error") is not None:
                writer.writerow([d, m, "", "lobster_error", repr(float(r["lobster_error"]))])
    fd, tmp = tempfile.mkstemp(prefix=csv_path.name + ".", suffix=".tmp", dir=csv_path.parent)
    with os.fdopen(fd, "w", newline="") as handle:
        handle.write(buffer.getvalue())
    os.replace(tmp, csv_path)
    return json_path, csv_path


def draw_graphs_png(generated, training, path, num: int = 8, seed: int = 0, title: str | None = None) -> Path:
    """A PNG with ``num`` generated graphs (top row) above ``num`` training graphs (bottom row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    rows = [("generated", list(generated)[:num]), ("training", list(training)[:num])]
    cols = max(1, max(len(graphs) for _, graphs in rows))
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols, 5.6), squeeze=False)
    for r, (label, graphs) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(graphs):
                continue
            adj = to_adjacency(graphs[c])
            g = nx.from_scipy_sparse_array(adj)
            layout = nx.spring_layout(g, seed=seed) if g.number_of_nodes() <= 2000 else nx.random_layout(g, seed=seed)
            nx.draw_networkx(g, pos=layout, ax=ax, node_size=8, width=0.5, with_labels=False, node_color="#1f77b4")
            ax.set_title(f"{label} n={adj.shape[0]}", fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def run_comparison(datasets, *, runs=(), samples=None, baselines=("er", "graphrnn_s"), baseline_budget_s: float = 60.0,
                   num_samples: int | None = None, kernels=KERNELS, seed: int = 0, root=None,
                   shuffle_seed: int | None = None, out_prefix=None, png: bool = True, progress: bool = True,
                   print_fn=print) -> dict:
    """The whole comparison behind ``gnnkit generate eval``.

    For every dataset: fit Erdős–Rényi, train GraphRNN-S for ``baseline_budget_s`` seconds (the
    baselines named in ``baselines``), load every run in ``runs`` (``(label, run_dir)`` pairs; a
    run is used for the dataset it was trained on) and every sample file in ``samples``
    (``{label: path}``, only with a single dataset); evaluate all on the test split; print one
    table per kernel; write ``out_prefix.json`` / ``.csv`` / ``_<kernel>.txt`` and a PNG per
    dataset and method. Returns ``{dataset: {method label: evaluation}}``.
    """
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    if not datasets:
        raise ValueError("datasets: expected at least one dataset name")
    samples = dict(samples or {})
    if samples and len(datasets) != 1:
        raise ValueError(f"samples: sample files need exactly one dataset, got {len(datasets)} datasets")
    unknown = [b for b in baselines if b not in ("er", "graphrnn_s")]
    if unknown:
        raise ValueError(f"baselines: expected a subset of ('er', 'graphrnn_s'), got {unknown}")
    run_infos = []
    for label, run_dir in runs:
        info_path = Path(run_dir) / "run.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"run: {info_path} not found (train first with `gnnkit generate train`)")
        run_infos.append((label, run_dir, json.loads(info_path.read_text())["dataset"]))
    results = {}
    for name in datasets:
        data = load_generation_dataset(name, root=root, shuffle_seed=shuffle_seed)
        methods = {}
        if "er" in baselines:
            methods[METHOD_LABELS["er"]] = ErdosRenyi().fit(data.train)
        if "graphrnn_s" in baselines:
            model = GraphRNNS.for_graphs(data.train)
            train_graphrnn_s(model, data.train, time_budget_s=baseline_budget_s, progress=progress, seed=seed)
            methods[METHOD_LABELS["graphrnn_s"]] = model
        for label, run_dir, run_dataset in run_infos:
            if run_dataset == data.name:
                methods[label] = run_dir
        for label, path in samples.items():
            methods[label] = load_graphs(path)
        results[data.name] = compare_methods(data.name, methods, num_samples=num_samples, kernels=kernels, seed=seed,
                                             progress=progress, data=data)
        if png and out_prefix is not None:
            for label, method in methods.items():
                graphs = method if isinstance(method, list) else None
                if graphs is None:
                    model = load_run(method)[0] if isinstance(method, (str, os.PathLike)) else method
                    graphs = sample_graphs(model, 8, seed=seed, progress=False)
                slug = label.lower().replace(" ", "_").replace("/", "_")
                draw_graphs_png(graphs, data.train, f"{out_prefix}_{data.name}_{slug}.png",
                                title=f"{label} on {data.name}: generated (top) vs training (bottom)")
    for kernel in kernels:
        table = format_table(results, kernel)
        print_fn(table)
        print_fn("")
        if out_prefix is not None:
            path = Path(f"{out_prefix}_{kernel}.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(table + "\n")
    if out_prefix is not None:
        save_results(results, out_prefix)
    return results
