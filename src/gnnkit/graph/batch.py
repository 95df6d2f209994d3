"""Batching many small graphs into one disjoint union, and splitting it back.

``batch`` is a few tensor operations per chunk of about 32k edges, whatever the number of
graphs: one ``torch.cat`` for each of src and dst and one add of the node-id offsets while the
chunk is in cache, then one ``torch.cat`` per feature column. The outputs are written into memory
of earlier batches that the caller has dropped (``BATCH_BUFFERS``, a :class:`BufferPool`), which
saves the page faults of fresh memory. Readouts find each node's graph with
``bg.node_graph_ids()``.
"""

from __future__ import annotations

import torch

from .buffer_pool import BufferPool
from .frame import Frame
from .graph import Graph

__all__ = ["batch", "unbatch"]

# 256 kB of int64 per row and chunk: a chunk's two rows and its offsets stay in L2.
OFFSET_CHUNK_EDGES = 1 << 15
# Outputs of earlier batches that the caller has dropped are written again instead of fresh,
# page-faulting memory (see buffer_pool); ``BATCH_BUFFERS.clear()`` releases them.
BATCH_BUFFERS = BufferPool()


def batch(graphs) -> Graph:
    """The disjoint union of ``graphs`` (node and edge ids offset), with features concatenated.

    All graphs must be on one device and have the same feature names. Batching batched graphs
    keeps the finest granularity (their member graphs)."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch: expected a non-empty list of graphs")
    srcs, dsts, node_list, edge_list = [], [], [], []
    # chunks: (end graph, end edge) of each run of graphs with about OFFSET_CHUNK_EDGES edges
    chunks, chunk_edges, seen_edges = [], 0, 0
    for i, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise TypeError(f"batch: item {i} is a {type(g).__name__}, expected a gnnkit Graph")
        if g._is_block:
            raise TypeError(f"batch: item {i} is a block; only graphs can be batched")
        adj = g._adj
        srcs.append(adj.src)
        dsts.append(adj.dst)
        node_list.append(adj.num_src)
        num_edges = adj.src.numel()
        edge_list.append(num_edges)
        chunk_edges += num_edges
        seen_edges += num_edges
        if chunk_edges >= OFFSET_CHUNK_EDGES:
            chunks.append((i + 1, seen_edges))
            chunk_edges = 0
    if not chunks or chunks[-1][0] != len(graphs):
        chunks.append((len(graphs), seen_edges))
    device = srcs[0].device
    total_nodes, total_edges = sum(node_list), seen_edges

    per_graph_nodes = torch.tensor(node_list, device=device)
    per_graph_edges = torch.tensor(edge_list, device=device)
    node_offsets = torch.cumsum(per_graph_nodes, 0) - per_graph_nodes
    # The cost is memory traffic. Each chunk of graphs is copied and then offset while it is
    # still in cache, so the edges cross memory once; offsetting the whole [2, E] afterwards
    # would read and write it again, plus an [E] offsets tensor.
    ends = BATCH_BUFFERS.empty(2 * total_edges, torch.int64, device).view(2, total_edges)
    first_graph = first_edge = 0
    for last_graph, last_edge in chunks:
        chunk = ends[:, first_edge:last_edge]
        try:
            torch.cat(srcs[first_graph:last_graph], out=chunk[0])
            torch.cat(dsts[first_graph:last_graph], out=chunk[1])
        except RuntimeError:
            _raise_mixed_devices(graphs, device)
            raise
        chunk += torch.repeat_interleave(node_offsets[first_graph:last_graph], per_graph_edges[first_graph:last_graph],
                                         output_size=last_edge - first_edge)
        first_graph, first_edge = last_graph, last_edge

    bg = Graph(ends[0], ends[1], total_nodes)
    bg._srcframe = bg._dstframe = Frame.concat([g._srcframe for g in graphs], "ndata", device, BATCH_BUFFERS)
    bg._edata = Frame.concat([g._edata for g in graphs], "edata", device, BATCH_BUFFERS)
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
