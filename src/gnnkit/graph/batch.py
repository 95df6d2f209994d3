"""Batching many small graphs into one disjoint union, and splitting it back.

``batch`` is a handful of tensor concatenations, whatever the number of graphs: the node-id
offset of every edge comes from one ``repeat_interleave`` of the cumulative node counts, and
each feature column is one ``torch.cat``. Readouts find each node's graph with
``bg.node_graph_ids()``.
"""

from __future__ import annotations

import torch

from .frame import Frame
from .graph import Graph

__all__ = ["batch", "unbatch"]


def batch(graphs) -> Graph:
    """The disjoint union of ``graphs`` (node and edge ids offset), with features concatenated.

    All graphs must be on one device and have the same feature names. Batching batched graphs
    keeps the finest granularity (their member graphs)."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch: expected a non-empty list of graphs")
    adjs, node_list, edge_list = [], [], []
    for i, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise TypeError(f"batch: item {i} is a {type(g).__name__}, expected a gnnkit Graph")
        if g._is_block:
            raise TypeError(f"batch: item {i} is a block; only graphs can be batched")
        adj = g._adj
        adjs.append(adj)
        node_list.append(adj.num_src)
        edge_list.append(adj.src.numel())
    device = adjs[0].device
    total_nodes, total_edges = sum(node_list), sum(edge_list)

    # src and dst share one [2, E] buffer so that the per-edge node offset is added to both rows
    # by a single broadcast add: at this size the cost is memory traffic, not arithmetic.
    ends = torch.empty(2, total_edges, dtype=torch.int64, device=device)
    try:
        torch.cat([a.src for a in adjs], out=ends[0])
        torch.cat([a.dst for a in adjs], out=ends[1])
    except RuntimeError:
        _raise_mixed_devices(graphs, device)
        raise
    per_graph_nodes = torch.tensor(node_list, device=device)
    per_graph_edges = torch.tensor(edge_list, device=device)
    node_offsets = torch.cumsum(per_graph_nodes, 0) - per_graph_nodes
    ends += torch.repeat_interleave(node_offsets, per_graph_edges, output_size=total_edges)

    bg = Graph(ends[0], ends[1], total_nodes)
    bg._srcframe = bg._dstframe = Frame.concat([g._srcframe for g in graphs], "ndata", device)
    bg._edata = Frame.concat([g._edata for g in graphs], "edata", device)
    if any(g._batch_num_nodes is not None for g in graphs):
        bg._batch_num_nodes = torch.cat([g.batch_num_nodes() for g in graphs])
        bg._batch_num_edges = torch.cat([g.batch_num_edges() for g in graphs])
    else:
        bg._batch_num_nodes = per_graph_nodes
        bg._batch_num_edges = per_graph_edges
    return bg


def _raise_mixed_devices(graphs, device) -> None:
    for i, g in enumerate(graphs):
        if g.device != device:
            raise ValueError(f"batch: graph {i} is on {g.device} but graph 0 is on {device}")


def unbatch(bg: Graph, node_split=None, edge_split=None) -> list[Graph]:
    """Splits a batched graph into its member graphs (or by the given node/edge counts)."""
    if not isinstance(bg, Graph):
        raise TypeError(f"unbatch: expected a gnnkit Graph, got {type(bg).__name__}")
    node_counts = bg.batch_num_nodes() if node_split is None else torch.as_tensor(node_split, device=bg.device)
    edge_counts = bg.batch_num_edges() if edge_split is None else torch.as_tensor(edge_split, device=bg.device)
    if node_counts.numel() != edge_counts.numel():
        raise ValueError(f"unbatch: {node_counts.numel()} node counts but {edge_counts.numel()} edge counts")
    if int(node_counts.sum()) != bg.num_nodes() or int(edge_counts.sum()) != bg.num_edges():
        raise ValueError("unbatch: the node/edge counts do not add up to the graph's size")
    n_list, e_list = node_counts.tolist(), edge_counts.tolist()
    offsets = torch.repeat_interleave(torch.cumsum(node_counts, 0) - node_counts, edge_counts)
    srcs = torch.split(bg.sparse.src - offsets, e_list)
    dsts = torch.split(bg.sparse.dst - offsets, e_list)
    ndata = {k: torch.split(v, n_list) for k, v in bg.ndata.items()}
    edata = {k: torch.split(v, e_list) for k, v in bg.edata.items()}
    graphs = []
    for i, (n, s, d) in enumerate(zip(n_list, srcs, dsts)):
        g = Graph(s, d, n)
        for k, parts in ndata.items():
            g._srcframe._columns[k] = parts[i]
        for k, parts in edata.items():
            g._edata._columns[k] = parts[i]
        graphs.append(g)
    return graphs
