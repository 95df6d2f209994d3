"""geom-gcn's heterophilous node-classification sets: WebKB (Cornell, Texas, Wisconsin) and Actor.

Raw format (Pei et al., 2020, graphdml-uiuc-jlu/geom-gcn ``new_data/``): a tab-separated
``out1_node_feature_label.txt`` (header, then ``node_id<TAB>features<TAB>label``; WebKB lists
the dense 0/1 feature vector, Actor the indices of its non-zero features) and a tab-separated
``out1_graph_edges.txt`` (header, then ``src<TAB>dst``), plus ten 60/20/20 splits
``<name>_split_0.6_0.2_<i>.npz`` with ``train_mask``/``val_mask``/``test_mask``.

As in PyG's ``WebKB``/``Actor``: edges are kept directed as published, duplicates merged and
sorted by (src, dst) (self-loops are kept: PyG does not remove them here); the ten splits become
[N, 10] boolean masks (column i = split i).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..graph import graph as make_graph
from ._download import require_files
from .dataset import NodeDataset, coalesce_edges
from .planetoid import _read_geom_gcn_splits

__all__ = ["read_webkb", "read_actor", "webkb_files", "actor_files", "WEBKB_NAMES"]

WEBKB_NAMES = {"cornell": "Cornell", "texas": "Texas", "wisconsin": "Wisconsin"}
_RAW = ["out1_node_feature_label.txt", "out1_graph_edges.txt"]


def webkb_files(name: str) -> list[str]:
    return _RAW + [f"{name.lower()}_split_0.6_0.2_{i}.npz" for i in range(10)]


def actor_files() -> list[str]:
    return _RAW + [f"film_split_0.6_0.2_{i}.npz" for i in range(10)]


def _read_rows(path: Path) -> list[list[str]]:
    with open(path) as handle:
        lines = handle.read().split("\n")[1:]
    return [line.split("\t") for line in lines if line.strip()]


def _read_edges(path: Path, num_nodes: int):
    pairs = np.loadtxt(path, dtype=np.int64, skiprows=1, ndmin=2)  # [E, 2]
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise ValueError(f"{path}: node ids must lie in 0..{num_nodes - 1}")
    src, dst, _ = coalesce_edges(pairs[:, 0], pairs[:, 1], num_nodes, remove_self_loops=False)
    return torch.from_numpy(src), torch.from_numpy(dst)


def _build(name: str, folder: Path, feat: np.ndarray, label: np.ndarray, split_files: list[str], fmt: str) -> NodeDataset:
    num_nodes = feat.shape[0]
    g = make_graph(_read_edges(folder / "out1_graph_edges.txt", num_nodes), num_nodes=num_nodes)
    g.ndata["feat"] = torch.from_numpy(feat)
    g.ndata["label"] = torch.from_numpy(label)
    g.ndata.update(_read_geom_gcn_splits([folder / f for f in split_files], num_nodes))
    return NodeDataset(name, g, num_classes=int(label.max()) + 1, meta={"format": fmt, "split": "geom-gcn (10 splits)"})


def read_webkb(folder, name: str) -> NodeDataset:
    """Reads Cornell, Texas or Wisconsin from ``folder`` (holding ``out1_*`` and the splits)."""
    folder = Path(folder)
    key = name.lower()
    if key not in WEBKB_NAMES:
        raise ValueError(f"name: expected one of {sorted(WEBKB_NAMES.values())}, got {name!r}")
    require_files(WEBKB_NAMES[key], folder, webkb_files(key))
    rows = _read_rows(folder / "out1_node_feature_label.txt")
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    feat = np.zeros((len(rows), len(rows[0][1].split(","))), dtype=np.float32)
    label = np.zeros(len(rows), dtype=np.int64)
    feat[ids] = np.array([r[1].split(",") for r in rows], dtype=np.float32)
    label[ids] = [int(r[2]) for r in rows]
    return _build(WEBKB_NAMES[key], folder, feat, label, webkb_files(key)[2:], "geom-gcn WebKB")


def read_actor(folder) -> NodeDataset:
    """Reads Actor (geom-gcn's ``film``) from ``folder``."""
    folder = Path(folder)
    require_files("Actor", folder, actor_files())
    rows = _read_rows(folder / "out1_node_feature_label.txt")
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    feature_lists = [np.array(r[1].split(","), dtype=np.int64) for r in rows]
    row_of = np.repeat(ids, [f.size for f in feature_lists])
    col_of = np.concatenate(feature_lists)
    feat = np.zeros((int(ids.max()) + 1, int(col_of.max()) + 1), dtype=np.float32)
    feat[row_of, col_of] = 1.0
    label = np.zeros(feat.shape[0], dtype=np.int64)
    label[ids] = [int(r[2]) for r in rows]
    return _build("Actor", folder, feat, label, actor_files()[2:], "geom-gcn Actor")
