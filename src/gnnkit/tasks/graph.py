"""Graph classification with k-fold cross-validation and model selection on a validation fold.

The protocol of PyG's ``benchmark/kernel`` (Errica et al. discuss why it matters): the graphs are
split into ``folds`` stratified folds; for fold ``i`` the test set is fold ``i``, the validation
set is fold ``i - 1`` and the rest trains. A fresh model is trained for ``epochs`` epochs on every
fold, the epoch is chosen on the validation folds (``selection``, below), and the reported
accuracy is the mean (and standard deviation) over folds of the test accuracy at the chosen
epochs. The test folds never influence any choice.

``selection`` (see :data:`SELECTIONS`):

* ``"fold_val_loss"`` (the default, PyG ``benchmark/kernel``): in each fold, the epoch with the
  lowest validation loss.
* ``"mean_val_acc"``: one epoch for every fold, the one whose validation accuracy averaged over
  the folds is highest (ties: the lower mean validation loss, then the earlier epoch). A
  validation fold holds only ~n/10 graphs (19 on MUTAG), so a per-fold argmin follows that
  fold's noise; the curve averaged over folds sees every graph once, and choosing one epoch from
  it is the GIN paper's rule applied to validation folds instead of test folds.
* ``"mean_val_loss"``: one epoch for every fold, the lowest mean validation loss.
* ``"last"``: the last epoch (no selection).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gnnkit

from . import models as zoo
from ._common import count_parameters, dataset_name, resolve_device, write_metrics_json
from .checkpoint import BEST_MODEL, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLog
from .plots import LEARNING_CURVES, plot_learning_curves
from .progress import ProgressBar
from .resources import peak_rss_mb
from .seed import get_rng_state, seed_everything, set_rng_state

FOLD_SEED = 12345  # fixed like PyG's benchmark, so every model is compared on the same folds
SELECTIONS = ("fold_val_loss", "mean_val_acc", "mean_val_loss", "last")


def _check_selection(selection) -> None:
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")


def select_epochs(val_loss, val_acc, selection: str = "fold_val_loss") -> list[int]:
    """The chosen epoch (0-based) of every fold from ``[folds, epochs]`` validation curves.

    Only validation figures enter: see the module docstring for the rules.
    """
    _check_selection(selection)
    val_loss, val_acc = np.asarray(val_loss, dtype=float), np.asarray(val_acc, dtype=float)
    if val_loss.ndim != 2 or val_loss.shape != val_acc.shape or val_loss.shape[1] == 0:
        raise ValueError(f"val_loss and val_acc must be [folds, epochs] curves of one shape, got "
                         f"{val_loss.shape} and {val_acc.shape}")
    folds, epochs = val_loss.shape
    if selection == "fold_val_loss":
        return [int(i) for i in val_loss.argmin(axis=1)]
    if selection == "last":
        return [epochs - 1] * folds
    mean_loss, mean_acc = val_loss.mean(axis=0), val_acc.mean(axis=0)
    if selection == "mean_val_loss":
        chosen = int(mean_loss.argmin())
    else:
        # lexsort sorts by the last key first; the epoch index makes ties resolve to the earliest
        chosen = int(np.lexsort((np.arange(epochs), mean_loss, -mean_acc))[0])
    return [chosen] * folds


def cross_validation_folds(labels, folds: int = 10, seed: int = FOLD_SEED):
    """``(train, val, test)`` index arrays per fold: stratified test fold ``i``, validation fold
    ``i - 1``, training the rest (:func:`gnnkit.data.kfold_train_val_test`)."""
    from gnnkit.data import kfold_train_val_test

    labels = np.asarray(labels)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 3:
        raise ValueError(f"folds must be an integer >= 3 (train, validation and test folds), got {folds!r}")
    if folds > len(labels):
        raise ValueError(f"folds ({folds}) exceeds the number of graphs ({len(labels)})")
    return [tuple(part.numpy() for part in split) for split in kfold_train_val_test(labels, k=folds, seed=seed)]


def _graph_items(dataset):
    """(graphs, labels tensor, num_classes, num_features) of a graph dataset of (graph, label) items."""
    if hasattr(dataset, "graphs") and hasattr(dataset, "labels"):
        graphs, labels = list(dataset.graphs), torch.as_tensor(dataset.labels, dtype=torch.long)
        for index, graph in enumerate(graphs):
            if "feat" not in graph.ndata:
                raise ValueError(f"dataset: graph {index} has no node data 'feat'")
        num_classes = int(getattr(dataset, "num_classes", None) or int(labels.max()) + 1)
        return graphs, labels, num_classes, graphs[0].ndata["feat"].reshape(graphs[0].num_nodes(), -1).shape[1]
    graphs, labels = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"dataset: item {index} is {type(item).__name__}; expected a (graph, label) pair")
        graph, label = item
        if "feat" not in graph.ndata:
            raise ValueError(f"dataset: graph {index} has no node data 'feat'")
        graphs.append(graph)
        labels.append(int(label))
    labels = torch.tensor(labels, dtype=torch.long)
    num_classes = int(getattr(dataset, "num_classes", None) or int(labels.max()) + 1)
    num_features = graphs[0].ndata["feat"].reshape(graphs[0].num_nodes(), -1).shape[1]
    return graphs, labels, num_classes, num_features


def train_graph_classification(
    dataset,
    model="gin",
    *,
    folds: int = 10,
    epochs: int | None = None,
    batch_size: int | None = None,
    hidden: int | None = None,
    num_layers: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    dropout: float | None = None,
    lr_decay_factor: float | None = None,
    lr_decay_step: int | None = None,
    seed: int = 0,
    fold_seed: int = FOLD_SEED,
    selection: str = "fold_val_loss",
    weight_ema: float | None = None,
    device="cpu",
    out_dir=None,
    resume: bool = False,
    checkpoint_every: int = 10,
    progress: bool = True,
    plot: bool = True,
) -> dict:
    """Cross-validate a graph classifier and return its metrics.

    ``dataset`` holds ``(graph, label)`` items (node features in ``ndata['feat']``); ``model`` is a
    name from :data:`gnnkit.tasks.models.GRAPH_MODELS` or a callable ``factory(in_feats,
    num_classes) -> nn.Module`` whose modules map ``(batched_graph, features)`` to logits
    ``[batch, num_classes]`` (a fresh model is needed for every fold).

    ``selection`` chooses the epoch of every fold from the validation curves only (module
    docstring; default the per-fold lowest validation loss, PyG ``benchmark/kernel``'s rule).
    ``weight_ema`` (a decay in (0, 1), default off): the model that is evaluated, selected and
    saved is an exponential moving average of the trained weights and batch-norm statistics,
    ``avg <- decay * avg + (1 - decay) * weights`` after every optimizer step.

    Returns ``test_acc`` / ``test_acc_std`` (over folds, at the selected epochs), ``val_acc``,
    ``best_epoch`` (mean over folds) with the per-fold values, ``test_acc_by_selection`` (the mean
    test accuracy every rule of :data:`SELECTIONS` would report, for comparison), ``epoch_time_s``
    (median training epoch) and ``peak_rss_mb``. With ``out_dir``, also ``metrics.json``, the log
    (one row per fold and epoch), learning curves of the mean over folds, the last checkpoint
    (every ``checkpoint_every`` epochs and at the end of each fold; resumable mid-fold with
    ``resume=True``) and the model with the lowest validation loss over all folds.
    """
    _check_selection(selection)
    if weight_ema is not None and (not isinstance(weight_ema, (int, float)) or isinstance(weight_ema, bool)
                                   or not 0 < weight_ema < 1):
        raise ValueError(f"weight_ema must be None or a decay in (0, 1), got {weight_ema!r}")
    device = resolve_device(device)
    model_name = model if isinstance(model, str) else getattr(model, "__name__", type(model).__name__).lower()
    config = zoo.graph_hyperparameters(model_name if isinstance(model, str) else None, epochs=epochs, batch_size=batch_size,
                                       hidden=hidden, num_layers=num_layers, lr=lr, weight_decay=weight_decay,
                                       dropout=dropout, lr_decay_factor=lr_decay_factor, lr_decay_step=lr_decay_step)
    out_dir = None if out_dir is None else Path(out_dir)
    graphs, labels, num_classes, num_features = _graph_items(dataset)
    splits = cross_validation_folds(labels.numpy(), folds, fold_seed)

    def new_model():
        if isinstance(model, str):
            return zoo.build_graph_model(model_name, num_features, num_classes, config).to(device)
        return model(num_features, num_classes).to(device)

    run_config = {"task": "graph", "model": model_name, "num_graphs": len(graphs), "num_classes": num_classes,
                  "folds": folds, "fold_seed": fold_seed, "seed": int(seed), **config}
    if weight_ema is not None:  # only when set, so checkpoints of earlier runs stay resumable
        run_config["weight_ema"] = float(weight_ema)
    seed_everything(seed)
    log = MetricsLog(out_dir)
    # history[fold] = list of per-epoch dicts with val_loss, val_acc, test_acc
    history: list[list[dict]] = []
    epoch_times: list[float] = []
    start_fold, start_epoch = 0, 1
    network = optimizer = averaged = None
    best_fold_state = {"val_loss": float("inf"), "state": None, "fold": -1}
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (the folder holding checkpoint_last.pt)")
        if (out_dir / LAST_CHECKPOINT).is_file():
            state = load_checkpoint(out_dir / LAST_CHECKPOINT, map_location=device)
            _check_resumable(state["config"], run_config)
            history = [list(h) for h in state["history"]]
            epoch_times = list(state["epoch_times"])
            best_fold_state = state["best_fold"]
            start_fold, start_epoch = int(state["fold"]), int(state["epoch"]) + 1
            if start_epoch > config["epochs"]:
                start_fold, start_epoch = start_fold + 1, 1
            elif start_fold < folds:
                network = new_model()
                network.load_state_dict(state["model"])
                optimizer = torch.optim.Adam(network.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
                optimizer.load_state_dict(state["optimizer"])
                if weight_ema is not None:
                    averaged = copy.deepcopy(network)
                    averaged.load_state_dict(state["averaged"])
            log.load()
            log.truncate(lambda row: (row["fold"], row["epoch"]) < (start_fold, start_epoch))
            set_rng_state(state["rng"])

    saved_best = (best_fold_state["fold"], best_fold_state.get("epoch"))
    bar = ProgressBar(folds * config["epochs"], desc=f"{model_name} {folds}-fold", enabled=progress,
                      initial=start_fold * config["epochs"] + start_epoch - 1)
    try:
        for fold in range(start_fold, folds):
            train_idx, val_idx, test_idx = splits[fold]
            if network is None:
                network = new_model()
                optimizer = torch.optim.Adam(network.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
                averaged = None if weight_ema is None else copy.deepcopy(network)
            # the network that is evaluated, selected and saved
            evaluated = network if averaged is None else averaged
            after_step = None if averaged is None else (lambda: _ema_update(averaged, network, weight_ema))
            if len(history) <= fold:
                history.append([])
            for epoch in range(start_epoch, config["epochs"] + 1):
                began = time.perf_counter()
                train_loss = _train_epoch(network, optimizer, graphs, labels, train_idx, config["batch_size"], device,
                                          after_step)
                epoch_times.append(time.perf_counter() - began)
                val_loss, val_acc = _evaluate(evaluated, graphs, labels, val_idx, config["batch_size"], device)
                test_loss, test_acc = _evaluate(evaluated, graphs, labels, test_idx, config["batch_size"], device)
                history[fold].append({"val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc})
                log.log(fold=fold, epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc,
                        test_loss=test_loss, test_acc=test_acc, lr=optimizer.param_groups[0]["lr"], time_s=epoch_times[-1])
                if epoch % config["lr_decay_step"] == 0:
                    for group in optimizer.param_groups:
                        group["lr"] *= config["lr_decay_factor"]
                if val_loss < best_fold_state["val_loss"]:
                    best_fold_state = {"val_loss": val_loss, "fold": fold, "epoch": epoch,
                                       "state": {k: v.detach().clone() for k, v in evaluated.state_dict().items()}}
                if out_dir is not None and (epoch % checkpoint_every == 0 or epoch == config["epochs"]):
                    log.flush()
                    if (best_fold_state["fold"], best_fold_state.get("epoch")) != saved_best:
                        save_checkpoint(out_dir / BEST_MODEL, {"model": best_fold_state["state"], "fold": best_fold_state["fold"],
                                                               "epoch": best_fold_state["epoch"], "config": run_config})
                        saved_best = (best_fold_state["fold"], best_fold_state["epoch"])
                    last = {"model": network.state_dict(), "optimizer": optimizer.state_dict(), "fold": fold, "epoch": epoch,
                            "history": history, "epoch_times": epoch_times, "best_fold": best_fold_state,
                            "rng": get_rng_state(), "config": run_config}
                    if averaged is not None:
                        last["averaged"] = averaged.state_dict()
                    save_checkpoint(out_dir / LAST_CHECKPOINT, last)
                bar.update(1, fold=fold, loss=train_loss, val_loss=val_loss, val_acc=val_acc)
            network = optimizer = averaged = None
            start_epoch = 1
    finally:
        bar.close()

    curves = {k: np.array([[h[k] for h in fold_history] for fold_history in history]) for k in history[0][0]}
    epochs_by_rule = {rule: select_epochs(curves["val_loss"], curves["val_acc"], rule) for rule in SELECTIONS}
    selected = epochs_by_rule[selection]
    by_selection = {rule: float(np.mean([curves["test_acc"][f, i] for f, i in enumerate(chosen)]))
                    for rule, chosen in epochs_by_rule.items()}
    test_accs = [fold_history[i]["test_acc"] for fold_history, i in zip(history, selected)]
    val_accs = [fold_history[i]["val_acc"] for fold_history, i in zip(history, selected)]
    val_losses = [fold_history[i]["val_loss"] for fold_history, i in zip(history, selected)]
    metrics = {
        "task": "graph",
        "dataset": dataset_name(dataset),
        "model": model_name,
        "test_acc": statistics.fmean(test_accs),
        "test_acc_std": statistics.pstdev(test_accs),
        "val_acc": statistics.fmean(val_accs),
        "val_loss": statistics.fmean(val_losses),
        "best_epoch": round(statistics.fmean(selected)) + 1,
        "best_epoch_per_fold": [i + 1 for i in selected],
        "test_acc_per_fold": test_accs,
        "selection": selection,
        "test_acc_by_selection": by_selection,
        "epoch_time_s": statistics.median(epoch_times) if epoch_times else float("nan"),
        "epoch_time_mean_s": statistics.fmean(epoch_times) if epoch_times else float("nan"),
        "train_time_s": sum(epoch_times),
        "peak_rss_mb": peak_rss_mb(),
        "num_parameters": count_parameters(new_model()),
        "device": str(device),
        **{k: v for k, v in run_config.items() if k not in ("task", "model")},
    }
    if out_dir is not None:
        log.flush()
        write_metrics_json(out_dir, metrics)
        if plot:
            plot_learning_curves(_mean_over_folds(log.rows), out_dir / LEARNING_CURVES,
                                 title=f"{metrics['dataset']} {model_name}: mean over {folds} folds")
    return metrics


def _ema_update(averaged: torch.nn.Module, network: torch.nn.Module, decay: float) -> None:
    """``averaged <- decay * averaged + (1 - decay) * network`` for floating parameters and
    buffers (batch-norm running statistics); integer buffers (batch counters) are copied."""
    with torch.no_grad():
        live = network.state_dict()
        for name, value in averaged.state_dict().items():
            if value.is_floating_point():
                value.lerp_(live[name], 1.0 - decay)
            else:
                value.copy_(live[name])


def _train_epoch(network, optimizer, graphs, labels, indices, batch_size, device, after_step=None) -> float:
    network.train()
    order = torch.from_numpy(np.asarray(indices))[torch.randperm(len(indices))]
    total_loss, total = 0.0, 0
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size].tolist()
        batch = gnnkit.batch([graphs[i] for i in chosen]).to(device)
        target = labels[chosen].to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = network(batch, _features(batch))
        loss = F.cross_entropy(logits, target)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        total_loss += loss.item() * len(chosen)
        total += len(chosen)
    return total_loss / max(total, 1)


@torch.no_grad()
def _evaluate(network, graphs, labels, indices, batch_size, device) -> tuple[float, float]:
    network.eval()
    total_loss, correct = 0.0, 0
    indices = list(np.asarray(indices))
    for start in range(0, len(indices), batch_size):
        chosen = indices[start:start + batch_size]
        batch = gnnkit.batch([graphs[i] for i in chosen]).to(device)
        target = labels[chosen].to(device)
        logits = network(batch, _features(batch))
        total_loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(-1) == target).sum())
    return total_loss / len(indices), correct / len(indices)


def _features(batch) -> torch.Tensor:
    feat = batch.ndata["feat"]
    return feat.reshape(feat.shape[0], -1).float()


def _mean_over_folds(rows: list[dict]) -> list[dict]:
    by_epoch: dict[int, list[dict]] = {}
    for row in rows:
        by_epoch.setdefault(row["epoch"], []).append(row)
    keys = ("train_loss", "val_loss", "val_acc", "test_acc")
    return [{"epoch": epoch, **{k: statistics.fmean(r[k] for r in group) for k in keys}}
            for epoch, group in sorted(by_epoch.items())]


def _check_resumable(saved: dict, current: dict) -> None:
    differing = [k for k in current if saved.get(k) != current[k]]
    if differing:
        details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}" for k in differing)
        raise ValueError(f"resume: the checkpoint was written by a different run ({details})")
