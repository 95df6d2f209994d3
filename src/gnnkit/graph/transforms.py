"""Graph transforms. Each returns a new Graph whose features stay aligned with its structure.

Edge order is deterministic: transforms that keep a subset of edges keep them in edge-id order;
transforms that add edges append them.
"""

from __future__ import annotations

import torch

from .graph import EID, NID, Graph, as_id_tensor, block

__all__ = [
    "reverse",
    "add_self_loop",
    "remove_self_loop",
    "to_simple",
    "to_bidirected",
    "node_subgraph",
    "edge_subgraph",
    "in_subgraph",
    "khop_in_subgraph",
    "line_graph",
    "knn_graph",
    "segmented_knn_graph",
    "to_block",
]


def _check_graph(g, name: str) -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"{name}: expected a gnnkit Graph, got {type(g).__name__}")
    if g.is_block:
        raise TypeError(f"{name}: expected a graph, got a block")


def _derive(g: Graph, src, dst, num_nodes: int, node_rows=None, edge_rows=None, copy_ndata=True, copy_edata=True) -> Graph:
    """A new graph; node/edge features are the given rows of g's (all rows when None)."""
    out = Graph(src, dst, num_nodes)
    if copy_ndata:
        out._srcframe = out._dstframe = g._srcframe.clone() if node_rows is None else g._srcframe.subset(node_rows)
    if copy_edata:
        out._edata = g._edata.clone() if edge_rows is None else g._edata.subset(edge_rows)
    return out


def _keep_batch(out: Graph, g: Graph, edges_per_graph: torch.Tensor | None = None) -> Graph:
    if g._batch_num_nodes is not None:
        out._batch_num_nodes = g._batch_num_nodes
        out._batch_num_edges = g._batch_num_edges if edges_per_graph is None else edges_per_graph
    return out


def reverse(g: Graph, copy_ndata: bool = True, copy_edata: bool = False) -> Graph:
    """Every edge ``u -> v`` becomes ``v -> u`` (edge ids unchanged)."""
    _check_graph(g, "reverse")
    out = _derive(g, g.sparse.dst, g.sparse.src, g.num_nodes(), copy_ndata=copy_ndata, copy_edata=copy_edata)
    out._adj = g.sparse.reversed()
    return _keep_batch(out, g)


def add_self_loop(g: Graph, fill_data: float = 1.0) -> Graph:
    """Appends an edge ``i -> i`` for every node; their edge features are ``fill_data``."""
    _check_graph(g, "add_self_loop")
    n = g.num_nodes()
    loops = torch.arange(n, device=g.device)
    out = Graph(torch.cat([g.sparse.src, loops]), torch.cat([g.sparse.dst, loops]), n)
    out._srcframe = out._dstframe = g._srcframe.clone()
    out._edata = g._edata.extended(n, None, fill=fill_data)
    edges = None
    if g._batch_num_nodes is not None:
        edges = g._batch_num_edges + g._batch_num_nodes
        # Loops belong to their node's graph: reorder so every graph's edges stay contiguous.
        graph_of_edge = torch.cat([g.edge_graph_ids(), g.node_graph_ids()])
        order = torch.sort(graph_of_edge, stable=True).indices
        out._adj = type(out._adj)(out.sparse.src[order], out.sparse.dst[order], n, n)
        out._edata = out._edata.subset(order)
    return _keep_batch(out, g, edges)


def remove_self_loop(g: Graph) -> Graph:
    """Removes every edge ``i -> i``."""
    _check_graph(g, "remove_self_loop")
    keep = g.sparse.src != g.sparse.dst
    out = _derive(g, g.sparse.src[keep], g.sparse.dst[keep], g.num_nodes(), edge_rows=keep)
    edges = None
    if g._batch_num_edges is not None:
        edges = torch.bincount(g.edge_graph_ids()[keep], minlength=g.batch_size)
    return _keep_batch(out, g, edges)


def _unique_pairs(src, dst, width: int):
    key = src * max(1, width) + dst
    uniq, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    return uniq // max(1, width), uniq % max(1, width), inverse, counts


def to_simple(g: Graph, return_counts: str | None = "count", writeback_mapping: bool = False, copy_ndata: bool = True, copy_edata: bool = False):
    """Merges parallel edges; the result's edges are sorted by (src, dst).

    ``edata[return_counts]`` holds how many edges were merged. With ``copy_edata`` each kept
    edge takes the features of one of its parallel edges (the smallest id). ``writeback_mapping``
    also returns, for every original edge, the id of its merged edge."""
    _check_graph(g, "to_simple")
    src, dst, inverse, counts = _unique_pairs(g.sparse.src, g.sparse.dst, g.num_nodes())
    out = Graph(src, dst, g.num_nodes())
    if copy_ndata:
        out._srcframe = out._dstframe = g._srcframe.clone()
    if copy_edata:
        first = torch.full((src.numel(),), g.num_edges(), dtype=torch.int64, device=g.device)
        first.scatter_reduce_(0, inverse, torch.arange(g.num_edges(), device=g.device), "amin")
        out._edata = g._edata.subset(first)
    if return_counts:
        out.edata[return_counts] = counts
    return (out, inverse) if writeback_mapping else out


def to_bidirected(g: Graph, copy_ndata: bool = False) -> Graph:
    """A simple graph with an edge both ways for every edge of ``g`` (parallel edges merged)."""
    _check_graph(g, "to_bidirected")
    src = torch.cat([g.sparse.src, g.sparse.dst])
    dst = torch.cat([g.sparse.dst, g.sparse.src])
    s, d, _, _ = _unique_pairs(src, dst, g.num_nodes())
    out = Graph(s, d, g.num_nodes())
    if copy_ndata:
        out._srcframe = out._dstframe = g._srcframe.clone()
    return out


def _node_mask(g: Graph, nodes, name: str) -> torch.Tensor:
    if isinstance(nodes, torch.Tensor) and nodes.dtype == torch.bool:
        if nodes.shape != (g.num_nodes(),):
            raise ValueError(f"{name}: a boolean node mask must have shape ({g.num_nodes()},), got {tuple(nodes.shape)}")
        return nodes.to(g.device)
    ids = as_id_tensor(nodes, name, g.device)
    if ids.numel() and int(ids.max()) >= g.num_nodes():
        raise ValueError(f"{name}: node id {int(ids.max())} is out of range; the graph has {g.num_nodes()} nodes")
    mask = torch.zeros(g.num_nodes(), dtype=torch.bool, device=g.device)
    mask[ids] = True
    return mask


def node_subgraph(g: Graph, nodes, relabel_nodes: bool = True, store_ids: bool = True) -> Graph:
    """The subgraph induced by ``nodes`` (ids or a boolean mask): every edge between them.

    Nodes keep their relative order; ``ndata[gk.NID]`` / ``edata[gk.EID]`` hold original ids."""
    _check_graph(g, "node_subgraph")
    mask = _node_mask(g, nodes, "node_subgraph: nodes")
    if not isinstance(nodes, torch.Tensor) or nodes.dtype != torch.bool:
        node_ids = as_id_tensor(nodes, "node_subgraph: nodes", g.device)
        if node_ids.numel() != int(mask.sum()):
            raise ValueError("node_subgraph: nodes contains duplicate ids")
    node_ids = torch.nonzero(mask).view(-1)
    src, dst = g.sparse.src, g.sparse.dst
    keep = mask[src] & mask[dst]
    eids = torch.nonzero(keep).view(-1)
    if relabel_nodes:
        new_id = torch.full((g.num_nodes(),), -1, dtype=torch.int64, device=g.device)
        new_id[node_ids] = torch.arange(node_ids.numel(), device=g.device)
        out = _derive(g, new_id[src[eids]], new_id[dst[eids]], node_ids.numel(), node_rows=node_ids, edge_rows=eids)
    else:
        out = _derive(g, src[eids], dst[eids], g.num_nodes(), edge_rows=eids)
    if store_ids:
        out.ndata[NID] = node_ids if relabel_nodes else torch.arange(g.num_nodes(), device=g.device)
        out.edata[EID] = eids
    return out


subgraph = node_subgraph


def edge_subgraph(g: Graph, edges, relabel_nodes: bool = True, store_ids: bool = True) -> Graph:
    """The subgraph of the given edges (ids or a boolean mask) and the nodes they touch."""
    _check_graph(g, "edge_subgraph")
    if isinstance(edges, torch.Tensor) and edges.dtype == torch.bool:
        if edges.shape != (g.num_edges(),):
            raise ValueError(f"edge_subgraph: a boolean edge mask must have shape ({g.num_edges()},), got {tuple(edges.shape)}")
        eids = torch.nonzero(edges.to(g.device)).view(-1)
    else:
        eids = as_id_tensor(edges, "edge_subgraph: edges", g.device)
        if eids.numel() and int(eids.max()) >= g.num_edges():
            raise ValueError(f"edge_subgraph: edge id {int(eids.max())} is out of range; the graph has {g.num_edges()} edges")
    src, dst = g.sparse.src[eids], g.sparse.dst[eids]
    if relabel_nodes:
        node_ids, inverse = torch.unique(torch.cat([src, dst]), return_inverse=True)
        out = _derive(g, inverse[: eids.numel()], inverse[eids.numel() :], node_ids.numel(), node_rows=node_ids, edge_rows=eids)
    else:
        node_ids = torch.arange(g.num_nodes(), device=g.device)
        out = _derive(g, src, dst, g.num_nodes(), edge_rows=eids)
    if store_ids:
        out.ndata[NID] = node_ids
        out.edata[EID] = eids
    return out


def in_subgraph(g: Graph, nodes, store_ids: bool = True) -> Graph:
    """All nodes of ``g`` and only the edges that enter ``nodes``."""
    _check_graph(g, "in_subgraph")
    mask = _node_mask(g, nodes, "in_subgraph: nodes")
    eids = torch.nonzero(mask[g.sparse.dst]).view(-1)
    out = _derive(g, g.sparse.src[eids], g.sparse.dst[eids], g.num_nodes(), edge_rows=eids)
    if store_ids:
        out.edata[EID] = eids
    return out


def khop_in_subgraph(g: Graph, nodes, k: int, relabel_nodes: bool = True, store_ids: bool = True):
    """The subgraph induced by ``nodes`` and every node within ``k`` hops along in-edges.

    Returns ``(subgraph, inverse_indices)``: the seeds' ids inside the subgraph."""
    _check_graph(g, "khop_in_subgraph")
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"khop_in_subgraph: k must be a non-negative int, got {k!r}")
    seeds = as_id_tensor(nodes, "khop_in_subgraph: nodes", g.device)
    mask = _node_mask(g, seeds, "khop_in_subgraph: nodes")
    view = g.sparse.in_csr()
    frontier = torch.unique(seeds)
    for _ in range(k):
        positions = view.row_positions(frontier)
        if positions.numel() == 0:
            break
        nbrs = torch.unique(view.indices[positions])
        frontier = nbrs[~mask[nbrs]]
        mask[frontier] = True
    sg = node_subgraph(g, mask, relabel_nodes=relabel_nodes, store_ids=store_ids)
    if not relabel_nodes:
        return sg, seeds
    new_id = torch.cumsum(mask, 0) - 1
    return sg, new_id[seeds]


def line_graph(g: Graph, backtracking: bool = True) -> Graph:
    """The line graph: one node per edge of ``g``, and an edge ``e1 -> e2`` whenever ``e1``
    ends where ``e2`` starts (``backtracking=False`` drops ``e2`` that is ``e1`` reversed)."""
    _check_graph(g, "line_graph")
    view = g.sparse.out_csr()
    src, dst = g.sparse.src, g.sparse.dst
    # e1 -> e2 for every edge e2 leaving the node where e1 ends.
    e1 = torch.repeat_interleave(torch.arange(g.num_edges(), device=g.device), view.degrees()[dst])
    e2 = view.edge_ids(view.row_positions(dst))
    if not backtracking:
        keep = dst[e2] != src[e1]
        e1, e2 = e1[keep], e2[keep]
    out = Graph(e1, e2, g.num_edges())
    return out


def _dilated_knn(dist: torch.Tensor, k: int, dilation: int) -> torch.Tensor:
    # dist: [..., n, m] -> neighbour indices [..., n, k]: every dilation-th of the k*d nearest.
    width = min(dist.shape[-1], k * dilation)
    nearest = torch.topk(dist, width, dim=-1, largest=False, sorted=True).indices
    return nearest[..., ::dilation][..., :k]


def knn_graph(x: torch.Tensor, k: int, dilation: int = 1, exclude_self: bool = False) -> Graph:
    """k-nearest-neighbour graph(s) of points (Euclidean distance).

    ``x`` is ``[N, D]`` (one point set) or ``[B, N, D]`` (B sets, batched into one graph).
    Every point receives edges from its ``k`` nearest points (``src = neighbour, dst = point``);
    ``dilation = d`` keeps every d-th of the ``k * d`` nearest (dilated k-NN of DeepGCNs).
    A point is its own nearest neighbour unless ``exclude_self``."""
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise ValueError(f"knn_graph: x must be a [N, D] or [B, N, D] tensor, got {getattr(x, 'shape', type(x).__name__)}")
    points = x if x.dim() == 3 else x.unsqueeze(0)
    counts = torch.full((points.shape[0],), points.shape[1], dtype=torch.int64)
    g = _batched_knn(points, counts, k, dilation, exclude_self)
    if x.dim() == 2:
        g._batch_num_nodes = g._batch_num_edges = None
    return g


def segmented_knn_graph(x: torch.Tensor, k: int, segs, dilation: int = 1, exclude_self: bool = False) -> Graph:
    """k-NN graphs of consecutive point sets of sizes ``segs`` in ``x [sum(segs), D]``, batched."""
    segs = torch.as_tensor(segs, dtype=torch.int64)
    if x.dim() != 2 or int(segs.sum()) != x.shape[0]:
        raise ValueError(f"segmented_knn_graph: segs must sum to the number of points ({x.shape[0]}), got {int(segs.sum())}")
    maxn = int(segs.max()) if segs.numel() else 0
    padded = x.new_zeros(segs.numel(), maxn, x.shape[1])
    seg_id = torch.repeat_interleave(torch.arange(segs.numel()), segs).to(x.device)
    pos = torch.arange(x.shape[0], device=x.device) - torch.repeat_interleave(torch.cumsum(segs, 0) - segs, segs).to(x.device)
    padded[seg_id, pos] = x
    return _batched_knn(padded, segs, k, dilation, exclude_self)


def _batched_knn(points: torch.Tensor, counts: torch.Tensor, k: int, dilation: int, exclude_self: bool) -> Graph:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"knn_graph: k must be a positive int, got {k!r}")
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"knn_graph: dilation must be a positive int, got {dilation!r}")
    b, n, _ = points.shape
    device = points.device
    needed = k * dilation + (1 if exclude_self else 0)
    if int(counts.min()) < needed:
        raise ValueError(f"knn_graph: every point set needs at least k*dilation{' + 1' if exclude_self else ''} = {needed} points, the smallest has {int(counts.min())}")
    with torch.no_grad():
        dist = torch.cdist(points, points)
        valid = torch.arange(n, device=device).view(1, -1) < counts.to(device).view(-1, 1)
        dist.masked_fill_(~valid.unsqueeze(1), float("inf"))
        if exclude_self:
            dist.diagonal(dim1=-2, dim2=-1).fill_(float("inf"))
        nbrs = _dilated_knn(dist, k, dilation)  # [B, n, k]
    offsets = torch.cumsum(counts, 0) - counts
    center_valid = valid.view(b, n, 1).expand(b, n, k)
    src = (nbrs + offsets.to(device).view(-1, 1, 1))[center_valid]
    centers = torch.arange(n, device=device).view(1, n, 1).expand(b, n, k)
    dst = (centers + offsets.to(device).view(-1, 1, 1))[center_valid]
    g = Graph(src, dst, int(counts.sum()))
    g._batch_num_nodes = counts.to(device)
    g._batch_num_edges = (counts * k).to(device)
    return g


def to_block(g: Graph, dst_nodes=None, copy_ndata: bool = True) -> Graph:
    """A message-flow block holding the edges of ``g`` that enter ``dst_nodes``.

    Destinations are ``dst_nodes`` in the given order (default: every node with an in-edge);
    sources are the destinations followed by the other source nodes in increasing id order.
    ``srcdata[gk.NID]``, ``dstdata[gk.NID]`` and ``edata[gk.EID]`` hold the original ids."""
    _check_graph(g, "to_block")
    if dst_nodes is None:
        dst_nodes = torch.nonzero(g.in_degrees() > 0).view(-1)
    dst_nodes = as_id_tensor(dst_nodes, "to_block: dst_nodes", g.device)
    if dst_nodes.numel() and int(dst_nodes.max()) >= g.num_nodes():
        raise ValueError(f"to_block: node id {int(dst_nodes.max())} is out of range; the graph has {g.num_nodes()} nodes")
    dst_pos = torch.full((g.num_nodes(),), -1, dtype=torch.int64, device=g.device)
    dst_pos[dst_nodes] = torch.arange(dst_nodes.numel(), device=g.device)
    if int((dst_pos >= 0).sum()) != dst_nodes.numel():
        raise ValueError("to_block: dst_nodes contains duplicate ids")
    eids = torch.nonzero(dst_pos[g.sparse.dst] >= 0).view(-1)
    src, dst = g.sparse.src[eids], g.sparse.dst[eids]
    others = torch.unique(src[dst_pos[src] < 0])
    src_nodes = torch.cat([dst_nodes, others])
    src_pos = torch.full((g.num_nodes(),), -1, dtype=torch.int64, device=g.device)
    src_pos[src_nodes] = torch.arange(src_nodes.numel(), device=g.device)
    blk = block((src_pos[src], dst_pos[dst]), src_nodes.numel(), dst_nodes.numel())
    if copy_ndata:
        blk._srcframe = g._srcframe.subset(src_nodes, "srcdata")
        blk._dstframe = g._srcframe.subset(dst_nodes, "dstdata")
    blk._edata = g._edata.subset(eids)
    blk.srcdata[NID] = src_nodes
    blk.dstdata[NID] = dst_nodes
    blk.edata[EID] = eids
    return blk

