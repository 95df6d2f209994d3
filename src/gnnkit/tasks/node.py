"""Node classification on one graph, trained full-batch (the semi-supervised setting of GCN/GAT).

Each epoch is one forward/backward/step on the whole graph using the training nodes' loss, then an
evaluation pass in eval mode. The model of the epoch with the best validation accuracy (ties broken
by the lower validation loss) is kept; its test accuracy is the reported one.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import models as zoo
from ._common import accuracy, count_parameters, dataset_name, resolve_device, write_metrics_json
from .checkpoint import BEST_MODEL, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLog
from .plots import LEARNING_CURVES, plot_learning_curves
from .progress import ProgressBar
from .resources import peak_rss_mb
from .seed import get_rng_state, seed_everything, set_rng_state

REQUIRED_NODE_DATA = ("feat", "label", "train_mask", "val_mask", "test_mask")


def node_graph(dataset):
    """The graph of a node-classification dataset (a Graph, or a dataset whose item 0 is one) and
    its number of classes."""
    from gnnkit.graph import Graph

    graph = dataset if isinstance(dataset, Graph) else dataset[0]
    if not isinstance(graph, Graph):
        raise TypeError(f"dataset: expected a gnnkit Graph or a node dataset holding one, got {type(dataset).__name__}")
    missing = [key for key in REQUIRED_NODE_DATA if key not in graph.ndata]
    if missing:
        raise ValueError(f"dataset: the graph lacks node data {missing}; node classification needs {list(REQUIRED_NODE_DATA)}")
    num_classes = getattr(dataset, "num_classes", None)
    if num_classes is None:
        num_classes = int(graph.ndata["label"].max()) + 1
    return graph, int(num_classes)


def row_normalize(features: torch.Tensor) -> torch.Tensor:
    """Scale each row to sum to 1 (rows summing to 0 stay 0), as GCN and GAT preprocess features."""
    # features: [N, F]
    row_sum = features.sum(dim=1, keepdim=True)
    return features / torch.where(row_sum == 0, torch.ones_like(row_sum), row_sum)


def train_node_classification(
    dataset,
    model="gcn",
    *,
    epochs: int | None = None,
    hidden: int | None = None,
    num_layers: int | None = None,
    heads: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    dropout: float | None = None,
    normalize_features: bool = True,
    self_loops: bool | None = None,
    split: int = 0,
    patience: int | None = None,
    seed: int = 0,
    device="cpu",
    out_dir=None,
    resume: bool = False,
    checkpoint_every: int = 10,
    progress: bool = True,
    plot: bool = True,
) -> dict:
    """Train a node classifier full-batch and return its metrics.

    ``dataset`` is a node dataset (item 0 a Graph with ``ndata`` ``feat``, ``label``,
    ``train_mask``, ``val_mask``, ``test_mask``; with [N, S] masks, column ``split`` is used) or
    such a Graph. ``model`` is a name from
    :data:`gnnkit.tasks.models.NODE_MODELS` (``gcn``, ``gat``, ``sage``, ``gin``), built with the
    original paper's hyperparameters unless overridden, or an ``nn.Module`` called as
    ``model(graph, features) -> logits``.

    With ``out_dir`` the run writes ``metrics.json``, ``metrics_log.{csv,json}``,
    ``learning_curves.png``, ``best_model.pt`` and ``checkpoint_last.pt``; ``resume=True`` continues
    from ``checkpoint_last.pt`` (model, optimizer, epoch, best model so far, random state), giving
    the same result as an uninterrupted run. Checkpoints are written every ``checkpoint_every``
    epochs and after the last one.

    Returns a dict with ``test_acc``, ``val_acc``, ``train_acc`` (at the best epoch),
    ``best_epoch``, ``epochs_run``, ``epoch_time_s`` (median forward+backward+step time),
    ``peak_rss_mb`` and the hyperparameters used.
    """
    device = resolve_device(device)
    graph, num_classes = node_graph(dataset)
    model_name = model if isinstance(model, str) else type(model).__name__.lower()
    config = zoo.node_hyperparameters(model_name if isinstance(model, str) else None, epochs=epochs, hidden=hidden,
                                      num_layers=num_layers, heads=heads, lr=lr, weight_decay=weight_decay, dropout=dropout,
                                      patience=patience)
    patience = config["patience"]
    _check_positive_int("checkpoint_every", checkpoint_every)
    out_dir = None if out_dir is None else Path(out_dir)

    seed_everything(seed)
    features = graph.ndata["feat"].float()
    if normalize_features:
        features = row_normalize(features)
    labels = graph.ndata["label"].long()
    masks = {}
    for part in ("train", "val", "test"):
        mask = graph.ndata[f"{part}_mask"].bool()
        if mask.dim() == 2:  # [N, S]: S published splits
            if not 0 <= split < mask.shape[1]:
                raise ValueError(f"split must be in [0, {mask.shape[1]}) for this dataset, got {split!r}")
            mask = mask[:, split]
        masks[part] = mask
    if int(masks["train"].sum()) == 0:
        raise ValueError("dataset: train_mask selects no node")
    if self_loops is None:
        self_loops = isinstance(model, str) and zoo.wants_self_loops(model_name)
    structure = zoo.with_self_loops(graph) if self_loops else graph
    structure = structure.to(device)
    features, labels = features.to(device), labels.to(device)
    masks = {split: mask.to(device) for split, mask in masks.items()}

    if isinstance(model, str):
        network = zoo.build_node_model(model_name, features.shape[1], num_classes, config)
    else:
        network = model
    network = network.to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])

    log = MetricsLog(out_dir)
    best = {"epoch": -1, "val_acc": -1.0, "val_loss": float("inf"), "state": None}
    start_epoch = 1
    step_times: list[float] = []
    run_config = {"task": "node", "model": model_name, "num_nodes": graph.num_nodes(), "num_classes": num_classes,
                  "seed": int(seed), "split": split, **config}
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (the folder holding checkpoint_last.pt)")
        if (out_dir / LAST_CHECKPOINT).is_file():
            state = load_checkpoint(out_dir / LAST_CHECKPOINT, map_location=device)
            _check_resumable(state["config"], run_config)
            network.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            best = state["best"]
            step_times = list(state["step_times"])
            start_epoch = int(state["epoch"]) + 1
            log.load()
            log.truncate(lambda row: row["epoch"] < start_epoch)
            set_rng_state(state["rng"])

    epochs_without_improvement = 0 if best["epoch"] < 0 else (start_epoch - 1 - best["epoch"])
    epoch = start_epoch - 1
    saved_best_epoch = best["epoch"] if resume else -1
    bar = ProgressBar(config["epochs"], desc=f"{model_name} node", enabled=progress, initial=start_epoch - 1)
    try:
        for epoch in range(start_epoch, config["epochs"] + 1):
            if patience is not None and epochs_without_improvement >= patience:
                epoch -= 1
                break
            network.train()
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = network(structure, features)
            loss = F.cross_entropy(logits[masks["train"]], labels[masks["train"]])
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            step_times.append(time.perf_counter() - began)

            scores = _evaluate(network, structure, features, labels, masks)
            # the training loss logged is the one of the step (dropout on), not the eval pass's
            row = log.log(epoch=epoch, train_loss=loss.item(), **{k: v for k, v in scores.items() if k != "train_loss"},
                          time_s=step_times[-1])
            improved = scores["val_acc"] > best["val_acc"] or (
                scores["val_acc"] == best["val_acc"] and scores["val_loss"] < best["val_loss"])
            if improved:
                best = {"epoch": epoch, "val_acc": scores["val_acc"], "val_loss": scores["val_loss"],
                        "state": copy.deepcopy(network.state_dict())}
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
            if out_dir is not None and (epoch % checkpoint_every == 0 or epoch == config["epochs"]):
                # Checkpoints are written every checkpoint_every epochs, not on every improvement:
                # an fsync'd write per epoch would cost more than a Cora epoch itself.
                log.flush()
                if best["state"] is not None and best["epoch"] != saved_best_epoch:
                    save_checkpoint(out_dir / BEST_MODEL, {"model": best["state"], "epoch": best["epoch"], "config": run_config})
                    saved_best_epoch = best["epoch"]
                save_checkpoint(out_dir / LAST_CHECKPOINT, {
                    "model": network.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                    "best": best, "step_times": step_times, "rng": get_rng_state(), "config": run_config})
            bar.update(1, loss=row["train_loss"], val_acc=row["val_acc"], best=best["val_acc"])
    finally:
        bar.close()

    if out_dir is not None and best["state"] is not None and best["epoch"] != saved_best_epoch:
        save_checkpoint(out_dir / BEST_MODEL, {"model": best["state"], "epoch": best["epoch"], "config": run_config})
    if best["state"] is not None:
        network.load_state_dict(best["state"])
    final = _evaluate(network, structure, features, labels, masks)
    metrics = {
        "task": "node",
        "dataset": dataset_name(dataset),
        "model": model_name,
        "test_acc": final["test_acc"],
        "val_acc": final["val_acc"],
        "train_acc": final["train_acc"],
        "test_loss": final["test_loss"],
        "best_epoch": best["epoch"],
        "epochs_run": epoch,
        "epoch_time_s": statistics.median(step_times) if step_times else float("nan"),
        "epoch_time_mean_s": statistics.fmean(step_times) if step_times else float("nan"),
        "train_time_s": sum(step_times),
        "peak_rss_mb": peak_rss_mb(),
        "num_parameters": count_parameters(network),
        "device": str(device),
        **{k: v for k, v in run_config.items() if k not in ("task", "model")},
    }
    if out_dir is not None:
        log.flush()
        write_metrics_json(out_dir, metrics)
        if plot:
            plot_learning_curves(log.rows, out_dir / LEARNING_CURVES, title=f"{metrics['dataset']} {model_name}")
    return metrics


@torch.no_grad()
def _evaluate(network, structure, features, labels, masks) -> dict:
    network.eval()
    logits = network(structure, features)
    scores = {}
    for split, mask in masks.items():
        scores[f"{split}_loss"] = F.cross_entropy(logits[mask], labels[mask]).item() if mask.any() else float("nan")
        scores[f"{split}_acc"] = accuracy(logits[mask], labels[mask])
    return scores


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_resumable(saved: dict, current: dict) -> None:
    """A checkpoint resumes only the run it came from (same model, data and hyperparameters, except
    the number of epochs, which may grow)."""
    differing = [k for k in current if k != "epochs" and saved.get(k) != current[k]]
    if differing:
        details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}" for k in differing)
        raise ValueError(f"resume: the checkpoint was written by a different run ({details})")
