"""Datasets in their published raw formats, synthetic graph generators, and graph-level loading.

>>> from gnnkit.data import load_dataset
>>> ds = load_dataset("KarateClub")              # embedded: no files, no network
>>> ds = load_dataset("Cora", root="path/to/data")  # reads ROOT/Cora/ind.cora.*
>>> ds = load_dataset("MUTAG", download=True)     # fetch to $GNNKIT_DATA or ~/.gnnkit/data, checksummed

Node-level sets are :class:`NodeDataset` (one graph; ``ndata`` has ``feat``, ``label`` and
``train_mask``/``val_mask``/``test_mask``, [N] for one split or [N, S] for S published splits).
Graph-level sets are :class:`GraphDataset` (``(graph, label)`` pairs; ``labels`` tensor).
"""

from . import synthetic
from ._download import ChecksumError, DatasetNotFoundError, default_root
from .dataset import Dataset, GraphDataset, NodeDataset, coalesce_edges
from .geomgcn import read_actor, read_webkb
from .gin import read_gin
from .karate import karate_club
from .loader import GraphDataLoader, collate_graphs, kfold_train_val_test, stratified_kfold
from .npz import random_node_split, read_npz
from .planetoid import read_planetoid
from .registry import DATASETS, DatasetSpec, dataset_info, get_spec, list_datasets, load_dataset
from .tu import read_tu

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "load_dataset",
    "dataset_info",
    "list_datasets",
    "get_spec",
    "default_root",
    "Dataset",
    "NodeDataset",
    "GraphDataset",
    "ChecksumError",
    "DatasetNotFoundError",
    "read_planetoid",
    "read_tu",
    "read_gin",
    "read_npz",
    "read_webkb",
    "read_actor",
    "karate_club",
    "random_node_split",
    "coalesce_edges",
    "GraphDataLoader",
    "collate_graphs",
    "stratified_kfold",
    "kfold_train_val_test",
    "synthetic",
]
