"""Mini-batches of graphs, and stratified k-fold splits for graph classification.

``GraphDataLoader`` is a ``torch.utils.data.DataLoader`` whose collate function merges the
``(graph, label)`` items of a batch with :func:`gnnkit.batch` into one batched graph (a disjoint
union that remembers each member's size, for readouts) and stacks the labels.

``stratified_kfold`` deals each class's shuffled indices round-robin over the k folds, so every
fold has each class in proportion (within one graph) and fold sizes differ by at most one.
``kfold_train_val_test`` is the protocol of PyG's ``benchmark/kernel``: fold i is the test set,
fold i - 1 the validation set used for model selection, and the rest the training set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..graph import Graph
from ..graph import batch as batch_graphs

__all__ = ["GraphDataLoader", "collate_graphs", "stratified_kfold", "kfold_train_val_test"]


def collate_graphs(items):
    """``[(graph, label), ...]`` -> ``(batched_graph, labels)``; a list of bare graphs -> a batched graph."""
    if not items:
        raise ValueError("collate_graphs: expected a non-empty list of (graph, label) items")
    first = items[0]
    if isinstance(first, Graph):
        return batch_graphs(items)
    if not (isinstance(first, (tuple, list)) and len(first) == 2 and isinstance(first[0], Graph)):
        raise TypeError(f"collate_graphs: expected (graph, label) pairs, got {type(first).__name__}")
    graphs = [item[0] for item in items]
    labels = torch.stack([torch.as_tensor(item[1]) for item in items])
    return batch_graphs(graphs), labels


class GraphDataLoader(DataLoader):
    """Iterates over ``dataset`` (items ``(graph, label)``) in batches ``(batched_graph, labels)``.

    Accepts every ``DataLoader`` option (``num_workers``, ``generator``, ...); ``seed`` is a
    shortcut for a seeded ``generator`` so that shuffling is repeatable.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed: int | None = None, **kwargs):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"GraphDataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and "generator" not in kwargs:
            kwargs["generator"] = torch.Generator().manual_seed(seed)
        kwargs.setdefault("collate_fn", collate_graphs)
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, **kwargs)


def _labels_array(labels) -> np.ndarray:
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels: expected a 1-D sequence of class labels, got shape {array.shape}")
    return array


def stratified_kfold(labels, k: int = 10, seed: int = 12345, shuffle: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``k`` ``(train_idx, test_idx)`` pairs of int64 index tensors; the test folds partition
    ``range(len(labels))`` and keep the class proportions of ``labels``."""
    label_np = _labels_array(labels)
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ValueError(f"stratified_kfold: k must be an int >= 2, got {k!r}")
    if k > label_np.size:
        raise ValueError(f"stratified_kfold: k={k} folds need at least {k} items, got {label_np.size}")
    rng = np.random.default_rng(seed)
    order = []
    for cls in np.unique(label_np):
        members = np.flatnonzero(label_np == cls)
        order.append(rng.permutation(members) if shuffle else members)
    # Consecutive positions of the class-grouped order go to consecutive folds, so each class is
    # spread evenly and the running position carries over between classes to balance fold sizes.
    order = np.concatenate(order)
    fold_of = np.empty(label_np.size, dtype=np.int64)
    fold_of[order] = np.arange(label_np.size) % k
    folds = []
    for i in range(k):
        test = np.flatnonzero(fold_of == i)
        train = np.flatnonzero(fold_of != i)
        folds.append((torch.from_numpy(train), torch.from_numpy(test)))
    return folds


def kfold_train_val_test(labels, k: int = 10, seed: int = 12345) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``k`` ``(train_idx, val_idx, test_idx)`` triples as in PyG's benchmark/kernel: the test set
    of round i is stratified fold i, its validation set is fold i - 1, training is the rest."""
    folds = stratified_kfold(labels, k=k, seed=seed)
    size = _labels_array(labels).size
    rounds = []
    for i in range(k):
        test = folds[i][1]
        val = folds[i - 1][1]
        keep = torch.ones(size, dtype=torch.bool)
        keep[test] = False
        keep[val] = False
        rounds.append((keep.nonzero().view(-1), val, test))
    return rounds
