"""The graph-generation benchmarks of GraphRNN / GRAN / BiGG with GRAN's train/validation/test split.

Datasets (``load_generation_dataset(name)``):

``grid``
    2D grid graphs ``grid_2d_graph(i, j)`` for 10 <= i, j < 20: 100 graphs, 100 <= n <= 361.
``lobster``
    100 random lobsters ``networkx.random_lobster(80, 0.7, 0.7, seed=s)`` for s = 1234, 1235, ...,
    keeping those with 10 <= n <= 100 (GRAN's generator, so the graphs are GRAN's; drawn here with
    networkx's algorithm and random stream, so networkx is not needed).
``protein``
    The DD graphs (TU text files) with 100 <= n <= 500 after dropping isolated nodes and
    self-loops: 918 graphs.
``point_cloud``
    FIRSTMM_DB (TU text files), all 41 graphs, self-loops and isolated nodes dropped.

Split (GRAN's ``GranRunner``): with N graphs in generation order, the first ``int(0.8 N)`` are
the training set, the last ``N - int(0.8 N)`` the test set, and the validation set is the first
``int(0.2 N)`` graphs, i.e. a subset of the training set. GRAN's released runner has its shuffle
switched off (``is_shuffle = False``), so by default nothing is shuffled; ``shuffle_seed=1234``
applies GRAN's optional ``RandomState(seed).shuffle`` before splitting.

Graphs come back as gnnkit ``Graph`` objects holding each undirected edge in both directions.
The TU files are read from ``ROOT/DD`` and ``ROOT/FIRSTMM_DB`` where ROOT is ``root``, else
``$GNNKIT_DATA``, else ``~/.gnnkit/data``; the published archives are
https://www.chrsmrrs.com/graphkerneldatasets/DD.zip and .../FIRSTMM_DB.zip.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import Graph, graph as make_graph

__all__ = [
    "GENERATION_DATASETS",
    "GenerationDataset",
    "load_generation_dataset",
    "grid_graphs",
    "lobster_graphs",
    "read_tu_graphs",
    "split_like_gran",
    "graph_from_adjacency",
    "graph_from_edges",
    "TU_URLS",
]

GENERATION_DATASETS = ("grid", "lobster", "protein", "point_cloud")
TU_URLS = {
    "DD": "https://www.chrsmrrs.com/graphkerneldatasets/DD.zip",
    "FIRSTMM_DB": "https://www.chrsmrrs.com/graphkerneldatasets/FIRSTMM_DB.zip",
}
_ALIASES = {"dd": "protein", "proteins": "protein", "firstmm_db": "point_cloud", "3d_point_cloud": "point_cloud",
            "point-cloud": "point_cloud", "pointcloud": "point_cloud"}


def graph_from_edges(src, dst, num_nodes: int) -> Graph:
    """A gnnkit Graph holding every undirected edge ``{src[i], dst[i]}`` once in each direction."""
    src = np.asarray(src, dtype=np.int64).ravel()
    dst = np.asarray(dst, dtype=np.int64).ravel()
    if len(src) != len(dst):
        raise ValueError(f"src/dst: expected equal lengths, got {len(src)} and {len(dst)}")
    keep = src != dst
    lo, hi = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    keys = np.unique(lo * max(num_nodes, 1) + hi)
    lo, hi = keys // max(num_nodes, 1), keys % max(num_nodes, 1)
    both_src = torch.from_numpy(np.concatenate([lo, hi]))
    both_dst = torch.from_numpy(np.concatenate([hi, lo]))
    return make_graph((both_src, both_dst), num_nodes=int(num_nodes))


def graph_from_adjacency(adj) -> Graph:
    coo = sp.triu(sp.csr_matrix(adj), k=1).tocoo()
    return graph_from_edges(coo.row, coo.col, adj.shape[0])


def grid_graphs(low: int = 10, high: int = 20) -> list[Graph]:
    """``grid_2d_graph(i, j)`` for low <= i, j < high, nodes numbered row-major (GRAN's order)."""
    if not 1 <= low < high:
        raise ValueError(f"low/high: expected 1 <= low < high, got {low} and {high}")
    graphs = []
    for rows in range(low, high):
        for cols in range(low, high):
            idx = np.arange(rows * cols).reshape(rows, cols)
            src = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
            dst = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
            graphs.append(graph_from_edges(src, dst, rows * cols))
    return graphs


_LOBSTER_CACHE: dict = {}


def lobster_graphs(num_graphs: int = 100, seed: int = 1234, mean_nodes: int = 80, p1: float = 0.7, p2: float = 0.7,
                   min_nodes: int = 10, max_nodes: int = 100) -> list[Graph]:
    """GRAN's lobster set: ``random_lobster(mean_nodes, p1, p2, seed=s)`` for s = seed, seed+1, ...
    keeping graphs with ``min_nodes <= n <= max_nodes`` until ``num_graphs`` are collected.

    Generation takes seconds (networkx), so the list is cached per argument tuple; callers get
    fresh clones."""
    if num_graphs < 1:
        raise ValueError(f"num_graphs: expected a positive count, got {num_graphs}")
    key = (num_graphs, seed, mean_nodes, p1, p2, min_nodes, max_nodes)
    if key not in _LOBSTER_CACHE:
        _LOBSTER_CACHE[key] = _make_lobsters(*key)
    return [g.clone() for g in _LOBSTER_CACHE[key]]


def _random_lobster_edges(mean_backbone: int, p1: float, p2: float, seed: int, max_nodes: int | None):
    """networkx's ``random_lobster`` drawn with ``random.Random(seed)`` exactly as networkx draws it
    (same graph, same node numbering), but abandoned as soon as it exceeds ``max_nodes``: most
    seeds give lobsters of hundreds of nodes that GRAN's filter rejects anyway."""
    rng = random.Random(seed)
    backbone = int(2 * rng.random() * mean_backbone + 0.5)
    src = list(range(backbone - 1))
    dst = list(range(1, backbone))
    current = backbone - 1
    for spine in range(backbone):
        while rng.random() < p1:
            current += 1
            src.append(spine)
            dst.append(current)
            leg = current
            while rng.random() < p2:
                current += 1
                src.append(leg)
                dst.append(current)
            if max_nodes is not None and current + 1 > max_nodes:
                return None
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64), current + 1 if backbone else 0


def _make_lobsters(num_graphs, seed, mean_nodes, p1, p2, min_nodes, max_nodes):
    if not (0 <= p1 < 1 and 0 <= p2 < 1):
        raise ValueError(f"p1/p2: expected probabilities in [0, 1), got {p1} and {p2}")
    graphs, current = [], seed
    while len(graphs) < num_graphs:
        drawn = _random_lobster_edges(mean_nodes, p1, p2, current, max_nodes)
        if drawn is not None and drawn[2] >= min_nodes:
            graphs.append(graph_from_edges(*drawn))
        current += 1
    return graphs


def _read_ints(path: Path) -> np.ndarray:
    text = path.read_bytes().replace(b",", b" ")
    return np.array(text.split(), dtype=np.int64)


def read_tu_graphs(folder, name: str, min_nodes: int = 0, max_nodes: int | None = None) -> list[Graph]:
    """The graphs of a TU text dataset (``NAME_A.txt``, ``NAME_graph_indicator.txt``) as GRAN loads
    them: self-loops and isolated nodes removed, then graphs kept when ``min_nodes <= n <= max_nodes``."""
    folder = Path(folder)
    a_path, ind_path = folder / f"{name}_A.txt", folder / f"{name}_graph_indicator.txt"
    missing = [p.name for p in (a_path, ind_path) if not p.is_file()]
    if missing:
        hint = f" (download {TU_URLS[name]} and unzip it there)" if name in TU_URLS else ""
        raise FileNotFoundError(f"{name}: missing {', '.join(missing)} in {folder}{hint}")
    edges = _read_ints(a_path).reshape(-1, 2) - 1
    indicator = _read_ints(ind_path) - 1
    num_total = len(indicator)
    if edges.size and (edges.min() < 0 or edges.max() >= num_total):
        raise ValueError(f"{a_path}: node ids outside 1..{num_total}")
    edges = edges[edges[:, 0] != edges[:, 1]]
    num_graphs = int(indicator.max()) + 1 if num_total else 0
    # isolated nodes are dropped (as GRAN's loader does) before sizes are filtered
    touched = np.zeros(num_total, dtype=bool)
    touched[edges.ravel()] = True
    sizes = np.bincount(indicator[touched], minlength=num_graphs)
    # local id of a kept node: its rank among the kept nodes of its graph, in file order
    order = np.argsort(indicator, kind="stable")
    kept_sorted = touched[order]
    rank_sorted = np.cumsum(kept_sorted) - 1
    first_rank = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = np.empty(num_total, dtype=np.int64)
    local[order] = rank_sorted - first_rank[indicator[order]]
    owner = indicator[edges[:, 0]]
    if np.any(owner != indicator[edges[:, 1]]):
        raise ValueError(f"{a_path}: an edge joins nodes of two different graphs")
    by_graph = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[by_graph], np.arange(num_graphs + 1))
    graphs = []
    for gid in range(num_graphs):
        n = int(sizes[gid])
        if n < min_nodes or (max_nodes is not None and n > max_nodes):
            continue
        part = edges[by_graph[bounds[gid]:bounds[gid + 1]]]
        graphs.append(graph_from_edges(local[part[:, 0]], local[part[:, 1]], n))
    return graphs


def _resolve_root(root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("GNNKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".gnnkit" / "data"


def split_like_gran(graphs, train_ratio: float = 0.8, dev_ratio: float = 0.2, shuffle_seed: int | None = None):
    """(train, validation, test) as GRAN's runner splits: train = first int(train_ratio N),
    validation = first int(dev_ratio N) (inside train), test = the rest."""
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio: expected a value in (0, 1), got {train_ratio}")
    if not 0.0 <= dev_ratio <= 1.0:
        raise ValueError(f"dev_ratio: expected a value in [0, 1], got {dev_ratio}")
    graphs = list(graphs)
    if shuffle_seed is not None:
        perm = np.arange(len(graphs))
        np.random.RandomState(shuffle_seed).shuffle(perm)
        graphs = [graphs[i] for i in perm]
    num_train = int(float(len(graphs)) * train_ratio)
    num_dev = int(float(len(graphs)) * dev_ratio)
    return graphs[:num_train], graphs[:num_dev], graphs[num_train:]


@dataclass
class GenerationDataset:
    """A generation benchmark: its name and GRAN's train / validation / test lists of graphs."""

    name: str
    train: list
    val: list
    test: list

    def summary(self) -> dict:
        every = self.train + self.test
        nodes = [g.num_nodes() for g in every]
        edges = [g.num_edges() // 2 for g in every]
        return {
            "name": self.name,
            "num_train": len(self.train),
            "num_val": len(self.val),
            "num_test": len(self.test),
            "max_nodes": max(nodes),
            "mean_nodes": float(np.mean(nodes)),
            "max_edges": max(edges),
            "mean_edges": float(np.mean(edges)),
        }


def load_generation_dataset(name: str, root=None, shuffle_seed: int | None = None, train_ratio: float = 0.8,
                            dev_ratio: float = 0.2) -> GenerationDataset:
    """One of :data:`GENERATION_DATASETS` with GRAN's split (see the module docstring)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name (str), got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "grid":
        graphs = grid_graphs()
    elif key == "lobster":
        graphs = lobster_graphs()
    elif key == "protein":
        graphs = read_tu_graphs(_resolve_root(root) / "DD", "DD", min_nodes=100, max_nodes=500)
    elif key == "point_cloud":
        graphs = read_tu_graphs(_resolve_root(root) / "FIRSTMM_DB", "FIRSTMM_DB", min_nodes=0, max_nodes=10000)
    else:
        raise ValueError(f"name: expected one of {GENERATION_DATASETS}, got {name!r}")
    train, val, test = split_like_gran(graphs, train_ratio, dev_ratio, shuffle_seed)
    return GenerationDataset(key, train, val, test)
