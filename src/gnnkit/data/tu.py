"""TU Dortmund graph-classification datasets in their text format (Morris et al., 2020).

Files, all 1-based and one row per line: ``NAME_A.txt`` (edges ``u, v`` in global node ids),
``NAME_graph_indicator.txt`` (graph of each node), ``NAME_graph_labels.txt`` (label of each graph),
and optionally ``NAME_node_labels.txt``, ``NAME_node_attributes.txt``, ``NAME_edge_labels.txt``,
``NAME_edge_attributes.txt`` (one value or a comma-separated row per node/edge).

Conversion follows PyG's ``TUDataset`` so numbers agree with the literature:

* node features = ``[attributes, one_hot(label column) for each label column]``; labels are
  shifted to start at 0 and each column is one-hot encoded with ``max + 1`` classes. With
  ``use_node_attr=False`` (the default, as in PyG) the continuous attributes are dropped;
* edge features likewise from edge attributes (kept with ``use_edge_attr=True``) and edge labels;
* self-loops are removed and duplicate edges merged (their edge features summed), edges sorted
  by (src, dst) -- so IMDB's twice-listed edges appear once and FIRSTMM_DB loses 14 self-loops;
* graph labels are mapped to ``0..C-1`` in sorted order (MUTAG's -1/1 become 0/1).

Datasets with neither node labels nor attributes (IMDB-BINARY/MULTI) get one-hot node degrees as
features (degree capped at the dataset's maximum), the usual choice for them (GIN, PyG's
``OneHotDegree``); ``meta['feature_source']`` records which features a dataset has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..graph import Graph
from ._download import require_files
from .dataset import GraphDataset, coalesce_edges

__all__ = ["read_tu", "tu_files", "TU_NAMES"]

TU_NAMES = ("MUTAG", "PROTEINS", "ENZYMES", "DD", "NCI1", "IMDB-BINARY", "IMDB-MULTI", "PTC_MR", "AIDS", "FIRSTMM_DB")
_REQUIRED = ("A", "graph_indicator", "graph_labels")
_OPTIONAL = ("node_labels", "node_attributes", "edge_labels", "edge_attributes")
# Which optional files each known dataset publishes (what a download has to fetch).
_PUBLISHED_OPTIONAL = {
    "MUTAG": ("node_labels", "edge_labels"),
    "PROTEINS": ("node_labels", "node_attributes"),
    "ENZYMES": ("node_labels", "node_attributes"),
    "DD": ("node_labels",),
    "NCI1": ("node_labels",),
    "IMDB-BINARY": (),
    "IMDB-MULTI": (),
    "PTC_MR": ("node_labels", "edge_labels"),
    "AIDS": ("node_labels", "node_attributes", "edge_labels"),
    "FIRSTMM_DB": ("node_labels", "node_attributes", "edge_attributes"),
}


def tu_files(name: str) -> list[str]:
    """The files of TU dataset ``name`` that the reader uses (required ones first)."""
    optional = _PUBLISHED_OPTIONAL.get(name, ())
    return [f"{name}_{part}.txt" for part in _REQUIRED + optional]


def _read_matrix(path: Path, dtype) -> np.ndarray:
    """A comma-separated numeric file as a 2-D array [rows, columns] (numpy's C parser)."""
    data = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    return data


def _one_hot_columns(labels: np.ndarray) -> np.ndarray:
    """[R, K] integer label columns -> [R, sum_k (max_k - min_k + 1)] float32 one-hot blocks."""
    blocks = []
    for column in labels.T:
        shifted = column - column.min()
        block = np.zeros((column.size, int(shifted.max()) + 1), dtype=np.float32)
        block[np.arange(column.size), shifted] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def read_tu(folder, name: str, use_node_attr: bool = False, use_edge_attr: bool = False) -> GraphDataset:
    """Reads TU dataset ``name`` from ``folder`` (holding ``NAME_A.txt`` ...)."""
    folder = Path(folder)
    require_files(name, folder, [f"{name}_{part}.txt" for part in _REQUIRED])
    path = {part: folder / f"{name}_{part}.txt" for part in _REQUIRED + _OPTIONAL}
    present = {part for part in _OPTIONAL if path[part].is_file()}

    edges = _read_matrix(path["A"], np.int64) - 1  # [E, 2]
    graph_of_node = _read_matrix(path["graph_indicator"], np.int64)[:, 0] - 1  # [N]
    raw_graph_labels = _read_matrix(path["graph_labels"], np.int64)[:, 0]  # [G]
    num_nodes = graph_of_node.size
    num_graphs = raw_graph_labels.size
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(f"{path['A']}: node ids must lie in 1..{num_nodes} (the graph indicator's length)")
    if graph_of_node.size and np.any(np.diff(graph_of_node) < 0):
        raise ValueError(f"{path['graph_indicator']}: nodes must be grouped by graph in increasing order")

    feature_parts, node_feature_source = [], []
    num_node_attributes = 0
    if "node_attributes" in present and use_node_attr:
        attributes = _read_matrix(path["node_attributes"], np.float32)
        num_node_attributes = attributes.shape[1]
        feature_parts.append(attributes)
        node_feature_source.append(f"{num_node_attributes} attributes")
    elif "node_attributes" in present:
        num_node_attributes = _count_columns(path["node_attributes"])
    if "node_labels" in present:
        label_onehot = _one_hot_columns(_read_matrix(path["node_labels"], np.int64))
        feature_parts.append(label_onehot)
        node_feature_source.append(f"one-hot node labels ({label_onehot.shape[1]})")

    edge_parts = []
    if "edge_attributes" in present and use_edge_attr:
        edge_parts.append(_read_matrix(path["edge_attributes"], np.float32))
    if "edge_labels" in present:
        edge_parts.append(_one_hot_columns(_read_matrix(path["edge_labels"], np.int64)))
    edge_feat = np.concatenate(edge_parts, axis=1) if edge_parts else None
    if edge_feat is not None and edge_feat.shape[0] != edges.shape[0]:
        raise ValueError(f"{name}: {edge_feat.shape[0]} edge label/attribute rows for {edges.shape[0]} edges")

    src, dst, edge_feat = coalesce_edges(edges[:, 0], edges[:, 1], num_nodes, edge_feat)

    if feature_parts:
        node_feat = np.concatenate(feature_parts, axis=1)
    else:
        degree = np.bincount(src, minlength=num_nodes)
        node_feat = np.zeros((num_nodes, int(degree.max()) + 1), dtype=np.float32)
        node_feat[np.arange(num_nodes), degree] = 1.0
        node_feature_source.append(f"one-hot degree ({node_feat.shape[1]}; the dataset has no node features)")

    class_values, labels = np.unique(raw_graph_labels, return_inverse=True)

    node_counts = np.bincount(graph_of_node, minlength=num_graphs)
    node_offsets = np.concatenate([[0], np.cumsum(node_counts)])
    edge_counts = np.bincount(graph_of_node[src], minlength=num_graphs)
    edge_offsets = np.concatenate([[0], np.cumsum(edge_counts)])
    # Edges are sorted by src, and nodes grouped by graph, so each graph's edges are contiguous.
    local_src = torch.from_numpy(src - node_offsets[graph_of_node[src]])
    local_dst = torch.from_numpy(dst - node_offsets[graph_of_node[dst]])
    node_feat_t = torch.from_numpy(np.ascontiguousarray(node_feat, dtype=np.float32))
    edge_feat_t = None if edge_feat is None else torch.from_numpy(np.ascontiguousarray(edge_feat, dtype=np.float32))

    graphs = []
    for i in range(num_graphs):
        e0, e1 = int(edge_offsets[i]), int(edge_offsets[i + 1])
        n0, n1 = int(node_offsets[i]), int(node_offsets[i + 1])
        # Clones, so that each graph owns its tensors (saving or sending one graph to a loader
        # worker must not drag the whole dataset's storage along).
        g = Graph(local_src[e0:e1].clone(), local_dst[e0:e1].clone(), n1 - n0)
        g.ndata["feat"] = node_feat_t[n0:n1].clone()
        if edge_feat_t is not None:
            g.edata["feat"] = edge_feat_t[e0:e1].clone()
        graphs.append(g)

    meta = {
        "format": "TUDataset",
        "feature_source": ", ".join(node_feature_source),
        "num_node_attributes": num_node_attributes,
        "use_node_attr": use_node_attr,
        "use_edge_attr": use_edge_attr,
        "raw_class_values": class_values.tolist(),
    }
    return GraphDataset(name, graphs, torch.from_numpy(labels.astype(np.int64)), len(class_values), node_feat.shape[1], meta)


def _count_columns(path: Path) -> int:
    with open(path) as handle:
        return len(handle.readline().split(","))
