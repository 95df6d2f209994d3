"""Node-classification sets in the npz format of Shchur et al. (2018), shchur/gnn-benchmark.

One ``.npz`` holds a CSR adjacency (``adj_data``, ``adj_indices``, ``adj_indptr``, ``adj_shape``),
a CSR (or dense ``attr_matrix``) attribute matrix (``attr_*``) and ``labels``. Cora/CiteSeer
(``cora.npz``, ``citeseer.npz``), Amazon Computers/Photo (``amazon_electronics_*.npz``) and
Coauthor CS/Physics (``ms_academic_*.npz``) all use it.

As in PyG's ``read_npz``: attributes are binarised (non-zero -> 1), self-loops removed and the
graph made undirected (both directions, duplicates merged, sorted by (src, dst)).

No split is published, so the dataset carries a seeded random split in the style of the
Planetoid public split (``num_train_per_class`` labelled nodes per class, then ``num_val`` and
``num_test`` further nodes); ``meta['split']`` says so. Build another with
:func:`random_node_split`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import graph as make_graph
from ._download import require_files
from .dataset import NodeDataset, coalesce_edges

__all__ = ["read_npz", "random_node_split", "NPZ_FILES"]

# Registry name -> (display name, file name in gnn-benchmark's data/npz/).
NPZ_FILES = {
    "cora_npz": ("cora_npz", "cora.npz"),
    "citeseer_npz": ("citeseer_npz", "citeseer.npz"),
    "amazoncomputers": ("AmazonComputers", "amazon_electronics_computers.npz"),
    "amazonphoto": ("AmazonPhoto", "amazon_electronics_photo.npz"),
    "coauthorcs": ("CoauthorCS", "ms_academic_cs.npz"),
    "coauthorphysics": ("CoauthorPhysics", "ms_academic_phy.npz"),
}


def random_node_split(
    labels: torch.Tensor,
    num_train_per_class: int = 20,
    num_val: int = 500,
    num_test: int = 1000,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded ``(train_mask, val_mask, test_mask)``: ``num_train_per_class`` random nodes of each
    class, then ``num_val`` and ``num_test`` random nodes among the rest (capped at what remains)."""
    labels = torch.as_tensor(labels).view(-1)
    for arg, value in (("num_train_per_class", num_train_per_class), ("num_val", num_val), ("num_test", num_test)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"random_node_split: {arg} must be a non-negative int, got {value!r}")
    rng = np.random.default_rng(seed)
    label_np = labels.cpu().numpy()
    train = np.concatenate(
        [rng.permutation(np.flatnonzero(label_np == c))[:num_train_per_class] for c in np.unique(label_np)]
    ).astype(np.int64)
    rest = rng.permutation(np.setdiff1d(np.arange(label_np.size), train))
    val, test = rest[:num_val], rest[num_val : num_val + num_test]
    masks = []
    for ids in (train, val, test):
        mask = torch.zeros(label_np.size, dtype=torch.bool)
        mask[torch.from_numpy(ids)] = True
        masks.append(mask)
    return tuple(masks)  # type: ignore[return-value]


def read_npz(path, name: str | None = None, split_seed: int = 0) -> NodeDataset:
    """Reads one gnn-benchmark ``.npz`` file."""
    path = Path(path)
    require_files(name or path.stem, path.parent, [path.name])
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        if "attr_matrix" in keys:
            attributes = np.asarray(f["attr_matrix"], dtype=np.float32)
        elif "attr_data" in keys:
            attributes = sp.csr_matrix((f["attr_data"], f["attr_indices"], f["attr_indptr"]), shape=tuple(f["attr_shape"])).toarray()
        else:
            raise ValueError(f"{path}: no attribute matrix (expected attr_data/attr_indices/attr_indptr or attr_matrix)")
        adj = sp.csr_matrix((f["adj_data"], f["adj_indices"], f["adj_indptr"]), shape=tuple(f["adj_shape"])).tocoo()
        label = np.asarray(f["labels"], dtype=np.int64)
    feat = (attributes > 0).astype(np.float32)  # [N, F]
    num_nodes = feat.shape[0]
    src = np.concatenate([adj.row, adj.col]).astype(np.int64)
    dst = np.concatenate([adj.col, adj.row]).astype(np.int64)
    src, dst, _ = coalesce_edges(src, dst, num_nodes)
    g = make_graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    g.ndata["feat"] = torch.from_numpy(feat)
    g.ndata["label"] = torch.from_numpy(label)
    train, val, test = random_node_split(g.ndata["label"], seed=split_seed)
    g.ndata["train_mask"], g.ndata["val_mask"], g.ndata["test_mask"] = train, val, test
    meta = {"format": "gnn-benchmark npz", "split": f"random (20 per class / 500 / 1000, seed {split_seed})"}
    return NodeDataset(name or path.stem, g, num_classes=int(label.max()) + 1, meta=meta)
