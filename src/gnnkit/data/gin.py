"""Graph-classification sets in the text format of the GIN paper (Xu et al., 2019; earlier DGCNN).

``NAME/NAME.txt``: the first line is the number of graphs; each graph starts with a line
``n label`` followed by ``n`` node lines ``tag degree neighbour_1 ... neighbour_degree`` (node ids
local to the graph, 0-based), optionally followed by continuous attributes. GIN's own 10-fold
split lives in ``NAME/10fold_idx/{train,test}_idx-{1..10}.txt`` (graph indices, one per line).

As DGL's ``GINDataset``, node tags are renumbered 0.. in order of first appearance; graph
labels are mapped to 0..C-1 in sorted order (as for TU sets, so MUTAG's 0/2 become 0/1); node features are one-hot tags (``degree_as_tag=True`` uses the node degree as
the tag instead, GIN's choice for the IMDB sets); every adjacency entry becomes one directed edge
(the lists are symmetric, so both directions are present), sorted by (src, dst). ``meta['folds']``
holds the published folds as ``(train_idx, test_idx)`` tensors when the fold files are present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..graph import Graph
from ._download import require_files
from .dataset import GraphDataset, coalesce_edges

__all__ = ["read_gin", "gin_files", "GIN_NAMES"]

GIN_NAMES = ("MUTAG", "PTC", "NCI1", "PROTEINS", "IMDBBINARY", "IMDBMULTI")


def gin_files(name: str) -> list[str]:
    folds = [f"10fold_idx/{part}_idx-{i}.txt" for i in range(1, 11) for part in ("train", "test")]
    return [f"{name}.txt"] + folds


def read_gin(folder, name: str, degree_as_tag: bool = False) -> GraphDataset:
    """Reads ``folder/NAME.txt`` (and the fold files, when present)."""
    folder = Path(folder)
    require_files(f"GIN-{name}", folder, [f"{name}.txt"])
    with open(folder / f"{name}.txt") as handle:
        lines = handle.read().split("\n")
    num_graphs = int(lines[0])
    tag_ids: dict[str, int] = {}
    structures, raw_labels, tags_per_graph = [], [], []
    pos = 1
    for index in range(num_graphs):
        header = lines[pos].split()
        if len(header) != 2:
            raise ValueError(f"{folder / name}.txt line {pos + 1}: expected 'num_nodes label' for graph {index}, got {lines[pos]!r}")
        num_nodes = int(header[0])
        raw_labels.append(int(header[1]))
        src, dst, tags = [], [], []
        for node in range(num_nodes):
            row = lines[pos + 1 + node].split()
            degree = int(row[1])
            tags.append(tag_ids.setdefault(row[0], len(tag_ids)))
            src.extend([node] * degree)
            dst.extend(int(v) for v in row[2 : 2 + degree])
        pos += 1 + num_nodes
        structures.append((num_nodes, np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)))
        tags_per_graph.append(tags)

    graphs = []
    degree_tags = []
    for num_nodes, src, dst in structures:
        src, dst, _ = coalesce_edges(src, dst, num_nodes, remove_self_loops=False)
        degree_tags.append(np.bincount(src, minlength=num_nodes))
        graphs.append(Graph(torch.from_numpy(src), torch.from_numpy(dst), num_nodes))
    if degree_as_tag:
        tags_per_graph = degree_tags
        width = int(max(int(d.max()) if d.size else 0 for d in degree_tags)) + 1
    else:
        width = len(tag_ids)
    for g, tags in zip(graphs, tags_per_graph):
        g.ndata["feat"] = torch.nn.functional.one_hot(torch.as_tensor(np.asarray(tags, dtype=np.int64)), width).to(torch.float32)

    class_values, labels = np.unique(np.asarray(raw_labels, dtype=np.int64), return_inverse=True)
    meta = {
        "format": "GIN text",
        "feature_source": f"one-hot {'degree' if degree_as_tag else 'node tag'} ({width})",
        "raw_class_values": class_values.tolist(),
    }
    if not [f for f in gin_files(name)[1:] if not (folder / f).is_file()]:
        meta["folds"] = [
            tuple(
                torch.from_numpy(np.loadtxt(folder / f"10fold_idx/{part}_idx-{i}.txt", dtype=np.int64, ndmin=1))
                for part in ("train", "test")
            )
            for i in range(1, 11)
        ]
    return GraphDataset(f"GIN-{name}", graphs, torch.from_numpy(labels.astype(np.int64)), len(class_values), width, meta)
