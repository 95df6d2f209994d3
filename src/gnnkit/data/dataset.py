"""Dataset containers: one graph with node labels and split masks, or many labelled graphs.

``NodeDataset``: a single :class:`gnnkit.Graph` whose ``ndata`` holds ``'feat'`` [N, F] float32,
``'label'`` [N] int64 and boolean split masks ``'train_mask'``, ``'val_mask'``, ``'test_mask'``.
A mask is [N] for a single split (Planetoid's public split) or [N, S] for S published splits
(geom-gcn's 10 splits of WebKB/Actor, as PyG stores them): column ``s`` is split ``s``, and
``dataset.split(s)`` returns the three [N] masks of one split. ``dataset.num_splits`` says which.

``GraphDataset``: a list of ``(graph, label)`` pairs. Each graph carries ``ndata['feat']`` (and
``edata['feat']`` when the source has edge labels); ``labels`` is the [G] int64 label tensor.
Indexing with an int gives a pair; indexing with a slice, a list or an index/bool tensor gives a
``GraphDataset`` view over those graphs (for cross-validation folds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..graph import Graph

__all__ = ["Dataset", "NodeDataset", "GraphDataset", "coalesce_edges"]


class Dataset:
    """Common metadata: ``name``, ``num_classes``, ``num_features`` and a free-form ``meta`` dict."""

    kind = "abstract"

    def __init__(self, name: str, num_classes: int, num_features: int, meta: dict | None = None):
        self.name = name
        self.num_classes = int(num_classes)
        self.num_features = int(num_features)
        self.meta = dict(meta or {})


class NodeDataset(Dataset):
    """One graph for node classification; see the module docstring for the ``ndata`` keys."""

    kind = "node"

    def __init__(self, name: str, graph: Graph, num_classes: int, meta: dict | None = None):
        feat = graph.ndata["feat"]
        super().__init__(name, num_classes, feat.shape[1] if feat.dim() == 2 else 1, meta)
        self.graph = graph

    @property
    def num_splits(self) -> int:
        """1 for a single split ([N] masks), S for S published splits ([N, S] masks), 0 for none."""
        if "train_mask" not in self.graph.ndata:
            return 0
        mask = self.graph.ndata["train_mask"]
        return 1 if mask.dim() == 1 else int(mask.shape[1])

    def split(self, index: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``(train_mask, val_mask, test_mask)`` of split ``index`` as [N] bool tensors."""
        count = self.num_splits
        if count == 0:
            raise ValueError(f"{self.name}: the dataset has no split masks")
        if not isinstance(index, int) or not 0 <= index < count:
            raise ValueError(f"split: index must be an int in [0, {count}), got {index!r}")
        masks = [self.graph.ndata[k] for k in ("train_mask", "val_mask", "test_mask")]
        return tuple(m if m.dim() == 1 else m[:, index] for m in masks)  # type: ignore[return-value]

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Graph:
        if index not in (0, -1):
            raise IndexError(f"{self.name} holds one graph; index must be 0, got {index!r}")
        return self.graph

    def __repr__(self) -> str:
        g = self.graph
        return (
            f"NodeDataset({self.name}: {g.num_nodes()} nodes, {g.num_edges()} edges, "
            f"{self.num_features} features, {self.num_classes} classes, splits={self.num_splits})"
        )


class GraphDataset(Dataset):
    """Labelled graphs for graph classification; see the module docstring."""

    kind = "graph"

    def __init__(
        self,
        name: str,
        graphs: Sequence[Graph],
        labels: torch.Tensor,
        num_classes: int | None = None,
        num_features: int | None = None,
        meta: dict | None = None,
    ):
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.dim() != 1 or labels.numel() != len(graphs):
            raise ValueError(f"labels: expected shape [{len(graphs)}], got {tuple(labels.shape)}")
        if num_classes is None:
            num_classes = int(labels.max()) + 1 if labels.numel() else 0
        if num_features is None:
            feat = graphs[0].ndata.get("feat") if len(graphs) else None
            num_features = 0 if feat is None else feat.shape[1]
        super().__init__(name, num_classes, num_features, meta)
        self.graphs = list(graphs)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            return self.graphs[index], self.labels[index]
        if isinstance(index, slice):
            positions = range(len(self.graphs))[index]
        else:
            positions = torch.as_tensor(index)
            if positions.dtype == torch.bool:
                if positions.shape != (len(self.graphs),):
                    raise IndexError(f"index: a bool mask must have shape [{len(self.graphs)}], got {tuple(positions.shape)}")
                positions = positions.nonzero().view(-1)
            elif positions.is_floating_point():
                raise IndexError(f"index: expected integer positions, got dtype {positions.dtype}")
            positions = positions.view(-1).tolist()
        positions = list(positions)
        return GraphDataset(
            self.name,
            [self.graphs[i] for i in positions],
            self.labels[torch.as_tensor(positions, dtype=torch.int64)],
            self.num_classes,
            self.num_features,
            self.meta,
        )

    def __iter__(self):
        for i in range(len(self.graphs)):
            yield self.graphs[i], self.labels[i]

    @property
    def num_edge_features(self) -> int:
        feat = self.graphs[0].edata.get("feat") if self.graphs else None
        return 0 if feat is None else feat.shape[1]

    def __repr__(self) -> str:
        return (
            f"GraphDataset({self.name}: {len(self)} graphs, {self.num_features} features, "
            f"{self.num_classes} classes)"
        )


def coalesce_edges(
    src: np.ndarray,
    dst: np.ndarray,
    num_nodes: int,
    edge_values: np.ndarray | None = None,
    remove_self_loops: bool = True,
    by_dst: bool = False,
):
    """Sorts edges by ``(src, dst)`` (by ``(dst, src)`` with ``by_dst``) and merges duplicates
    (summing their values), like PyG's ``coalesce`` after ``remove_self_loops``. Returns
    ``(src, dst, values)``."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if remove_self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
        if edge_values is not None:
            edge_values = edge_values[keep]
    major, minor = (dst, src) if by_dst else (src, dst)
    key = major * int(num_nodes) + minor
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = np.ones(sorted_key.size, dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    unique_keys = sorted_key[first]
    merged = None
    if edge_values is not None:
        sorted_values = edge_values[order]
        merged = sorted_values if first.all() else np.add.reduceat(sorted_values, np.flatnonzero(first), axis=0)
    major, minor = unique_keys // num_nodes, unique_keys % num_nodes
    return (minor, major, merged) if by_dst else (major, minor, merged)
