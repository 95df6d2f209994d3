"""Link prediction: an encoder embeds the nodes, a dot product scores node pairs.

The undirected edges are split into train / validation / test sets; message passing sees only the
training edges. Each epoch the loss is binary cross-entropy on the training edges against as many
freshly sampled non-edges (negative sampling). Validation and test use fixed negative sets of the
same size as their positives and are scored with ROC-AUC, Hits@K (the share of positive edges that
score above the K-th best negative, as in OGB) and accuracy at logit 0. The epoch with the best
validation AUC is selected.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import models as zoo
from ._common import count_parameters, dataset_name, resolve_device, write_metrics_json
from .checkpoint import BEST_MODEL, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLog
from .node import row_normalize
from .plots import LEARNING_CURVES, plot_learning_curves
from .progress import ProgressBar
from .resources import peak_rss_mb
from .seed import get_rng_state, seed_everything, set_rng_state


def roc_auc(positive_scores: torch.Tensor, negative_scores: torch.Tensor) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counting one half (the Mann-Whitney U statistic over both counts)."""
    from scipy.stats import rankdata

    num_pos, num_neg = positive_scores.numel(), negative_scores.numel()
    if num_pos == 0 or num_neg == 0:
        raise ValueError(f"roc_auc needs positives and negatives, got {num_pos} and {num_neg}")
    scores = torch.cat([positive_scores.flatten(), negative_scores.flatten()]).double().cpu().numpy()
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[:num_pos].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def hits_at_k(positive_scores: torch.Tensor, negative_scores: torch.Tensor, k: int) -> float:
    """Share of positives scoring strictly above the ``k``-th highest negative (OGB's Hits@K);
    1.0 when there are fewer than ``k`` negatives."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if negative_scores.numel() < k:
        return 1.0
    threshold = torch.topk(negative_scores.flatten(), k).values[-1]
    return (positive_scores > threshold).float().mean().item()


def split_edges(graph, val_ratio: float = 0.05, test_ratio: float = 0.1, generator=None) -> dict:
    """Split the undirected edges of ``graph`` (self-loops and duplicates dropped) into train,
    validation and test pairs, and draw as many non-edges for validation and test.

    Returns ``{'train': [2, Et], 'val': [2, Ev], 'test': [2, Es], 'val_neg': ..., 'test_neg': ...}``
    with each pair stored once (``u < v``).
    """
    for name, ratio in (("val_ratio", val_ratio), ("test_ratio", test_ratio)):
        if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            raise ValueError(f"{name} must be a number in (0, 1), got {ratio!r}")
    if val_ratio + test_ratio >= 1:
        raise ValueError(f"val_ratio + test_ratio must be below 1, got {val_ratio} + {test_ratio}")
    num_nodes = graph.num_nodes()
    src, dst = graph.edges()
    low, high = torch.minimum(src, dst), torch.maximum(src, dst)
    keep = low != high
    keys = torch.unique(low[keep] * num_nodes + high[keep])
    pairs = torch.stack([keys // num_nodes, keys % num_nodes])
    count = pairs.shape[1]
    num_val, num_test = int(round(val_ratio * count)), int(round(test_ratio * count))
    if count - num_val - num_test < 1 or num_val < 1 or num_test < 1:
        raise ValueError(f"graph has {count} undirected edges, too few for a train/val/test split")
    order = torch.randperm(count, generator=generator)
    pairs = pairs[:, order]
    val, test, train = pairs[:, :num_val], pairs[:, num_val:num_val + num_test], pairs[:, num_val + num_test:]
    negatives = sample_negative_pairs(num_nodes, keys, num_val + num_test, generator=generator, distinct=True)
    return {"train": train, "val": val, "test": test,
            "val_neg": negatives[:, :num_val], "test_neg": negatives[:, num_val:]}


def sample_negative_pairs(num_nodes: int, edge_keys: torch.Tensor, count: int, generator=None,
                          distinct: bool = False) -> torch.Tensor:
    """``count`` node pairs ``u < v`` that are not edges; ``edge_keys`` holds the sorted
    ``u * num_nodes + v`` keys of the undirected edges (``u < v``). Returns ``[2, count]``."""
    possible = num_nodes * (num_nodes - 1) // 2 - edge_keys.numel()
    if (count > possible if distinct else count > 0 and possible < 1):
        raise ValueError(f"cannot draw {count} non-edges: the graph has only {possible}")
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < count:
        need = count - chosen.numel()
        draw = max(2 * need, 64)
        u = torch.randint(0, num_nodes, (draw,), generator=generator)
        v = torch.randint(0, num_nodes, (draw,), generator=generator)
        low, high = torch.minimum(u, v), torch.maximum(u, v)
        candidate = low * num_nodes + high
        candidate = candidate[(low != high) & ~torch.isin(candidate, edge_keys)]
        if distinct:
            candidate = candidate[~torch.isin(candidate, chosen)]
            # keep the first occurrence of each key, in drawing order
            unique, inverse = torch.unique(candidate, return_inverse=True)
            first = torch.full((unique.numel(),), candidate.numel(), dtype=torch.long)
            first.scatter_reduce_(0, inverse, torch.arange(candidate.numel()), reduce="amin")
            candidate = candidate[first.sort().values]
        chosen = torch.cat([chosen, candidate[:need]])
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def _score(embeddings: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    # embeddings: [N, D]; pairs: [2, P] -> [P]
    return (embeddings[pairs[0]] * embeddings[pairs[1]]).sum(dim=-1)


def train_link_prediction(
    dataset,
    model="gcn",
    *,
    epochs: int | None = None,
    hidden: int | None = None,
    out_feats: int | None = None,
    num_layers: int | None = None,
    heads: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    dropout: float | None = None,
    val_ratio: float = 0.05,
    test_ratio: float = 0.1,
    hits_k=(10, 50, 100),
    normalize_features: bool = True,
    seed: int = 0,
    device="cpu",
    out_dir=None,
    resume: bool = False,
    checkpoint_every: int = 10,
    progress: bool = True,
    plot: bool = True,
) -> dict:
    """Train a link predictor (encoder + dot product) and return its metrics.

    ``dataset`` is a node dataset or Graph with ``ndata['feat']``; ``model`` a name from
    :data:`gnnkit.tasks.models.LINK_MODELS` or an ``nn.Module`` ``model(graph, features) ->
    embeddings``. Returns ``test_auc``, ``val_auc``, ``test_hits@K``, ``test_acc`` and ``val_acc``
    (sign of the logit on the balanced positive/negative sets) at the best-validation-AUC epoch,
    plus ``best_epoch``, ``epoch_time_s``, ``peak_rss_mb``. Outputs on disk as for node
    classification.
    """
    import gnnkit
    from gnnkit.graph import Graph

    device = resolve_device(device)
    graph = dataset if isinstance(dataset, Graph) else dataset[0]
    if "feat" not in graph.ndata:
        raise ValueError("dataset: the graph lacks node data 'feat' needed by the encoder")
    hits_k = tuple(int(k) for k in hits_k)
    model_name = model if isinstance(model, str) else type(model).__name__.lower()
    config = zoo.link_hyperparameters(model_name if isinstance(model, str) else None, epochs=epochs, hidden=hidden,
                                      out_feats=out_feats, num_layers=num_layers, heads=heads, lr=lr,
                                      weight_decay=weight_decay, dropout=dropout)
    out_dir = None if out_dir is None else Path(out_dir)
    seed_everything(seed)
    split = split_edges(graph, val_ratio, test_ratio, generator=torch.Generator().manual_seed(int(seed)))
    num_nodes = graph.num_nodes()
    # Training negatives avoid only the training edges: excluding the held-out edges too would
    # tell the model which pairs are the held-out positives.
    train_keys = torch.sort(split["train"][0] * num_nodes + split["train"][1]).values

    train_src, train_dst = split["train"]
    message_graph = gnnkit.graph((torch.cat([train_src, train_dst]), torch.cat([train_dst, train_src])), num_nodes=num_nodes)
    if isinstance(model, str) and zoo.wants_self_loops(model_name):
        message_graph = zoo.with_self_loops(message_graph)
    message_graph = message_graph.to(device)
    features = graph.ndata["feat"].float()
    if normalize_features:
        features = row_normalize(features)
    features = features.to(device)
    network = (zoo.build_link_encoder(model_name, features.shape[1], config) if isinstance(model, str) else model).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])

    run_config = {"task": "link", "model": model_name, "num_nodes": num_nodes, "seed": int(seed),
                  "val_ratio": val_ratio, "test_ratio": test_ratio, **config}
    log = MetricsLog(out_dir)
    best = {"epoch": -1, "val_auc": -1.0, "state": None}
    step_times: list[float] = []
    start_epoch = 1
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (the folder holding checkpoint_last.pt)")
        if (out_dir / LAST_CHECKPOINT).is_file():
            state = load_checkpoint(out_dir / LAST_CHECKPOINT, map_location=device)
            differing = [k for k in run_config if k != "epochs" and state["config"].get(k) != run_config[k]]
            if differing:
                raise ValueError(f"resume: the checkpoint was written by a different run (differs in {differing})")
            network.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            best, step_times = state["best"], list(state["step_times"])
            start_epoch = int(state["epoch"]) + 1
            log.load()
            log.truncate(lambda row: row["epoch"] < start_epoch)
            set_rng_state(state["rng"])

    epoch = start_epoch - 1
    saved_best_epoch = best["epoch"] if resume else -1
    bar = ProgressBar(config["epochs"], desc=f"{model_name} link", enabled=progress, initial=start_epoch - 1)
    try:
        for epoch in range(start_epoch, config["epochs"] + 1):
            network.train()
            began = time.perf_counter()
            negatives = sample_negative_pairs(num_nodes, train_keys, split["train"].shape[1]).to(device)
            optimizer.zero_grad(set_to_none=True)
            embeddings = network(message_graph, features)
            pos_logits = _score(embeddings, split["train"].to(device))
            neg_logits = _score(embeddings, negatives)
            loss = (F.binary_cross_entropy_with_logits(pos_logits, torch.ones_like(pos_logits))
                    + F.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits)))
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            step_times.append(time.perf_counter() - began)
            scores = _evaluate(network, message_graph, features, split, hits_k, device)
            log.log(epoch=epoch, train_loss=loss.item(), **scores, time_s=step_times[-1])
            if scores["val_auc"] > best["val_auc"]:
                best = {"epoch": epoch, "val_auc": scores["val_auc"], "state": copy.deepcopy(network.state_dict())}
            if out_dir is not None and (epoch % checkpoint_every == 0 or epoch == config["epochs"]):
                log.flush()
                if best["epoch"] != saved_best_epoch:
                    save_checkpoint(out_dir / BEST_MODEL, {"model": best["state"], "epoch": best["epoch"], "config": run_config})
                    saved_best_epoch = best["epoch"]
                save_checkpoint(out_dir / LAST_CHECKPOINT, {
                    "model": network.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best": best,
                    "step_times": step_times, "rng": get_rng_state(), "config": run_config})
            bar.update(1, loss=loss.item(), val_auc=scores["val_auc"], best=best["val_auc"])
    finally:
        bar.close()

    if best["state"] is not None:
        network.load_state_dict(best["state"])
    final = _evaluate(network, message_graph, features, split, hits_k, device)
    metrics = {"task": "link", "dataset": dataset_name(dataset), "model": model_name,
               **{k: v for k, v in final.items() if k.startswith("test_")},
               **{k: v for k, v in final.items() if k.startswith("val_")},
               "best_epoch": best["epoch"], "epochs_run": epoch,
               "epoch_time_s": statistics.median(step_times) if step_times else float("nan"),
               "epoch_time_mean_s": statistics.fmean(step_times) if step_times else float("nan"),
               "train_time_s": sum(step_times), "peak_rss_mb": peak_rss_mb(),
               "num_parameters": count_parameters(network), "device": str(device),
               "num_train_edges": int(split["train"].shape[1]), "num_val_edges": int(split["val"].shape[1]),
               "num_test_edges": int(split["test"].shape[1]),
               **{k: v for k, v in run_config.items() if k not in ("task", "model")}}
    if out_dir is not None:
        log.flush()
        write_metrics_json(out_dir, metrics)
        if plot:
            plot_learning_curves(log.rows, out_dir / LEARNING_CURVES, title=f"{metrics['dataset']} {model_name} link")
    return metrics


@torch.no_grad()
def _evaluate(network, message_graph, features, split, hits_k, device) -> dict:
    network.eval()
    embeddings = network(message_graph, features)
    scores = {}
    for name in ("val", "test"):
        pos = _score(embeddings, split[name].to(device))
        neg = _score(embeddings, split[f"{name}_neg"].to(device))
        scores[f"{name}_loss"] = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                                  + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))).item()
        scores[f"{name}_auc"] = roc_auc(pos, neg)
        scores[f"{name}_acc"] = torch.cat([pos > 0, neg <= 0]).float().mean().item()
        for k in hits_k:
            scores[f"{name}_hits@{k}"] = hits_at_k(pos, neg, k)
    return scores
