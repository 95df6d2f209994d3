"""Private helpers shared by the layers: argument checks, src/dst feature pairs, degree norms.

Aggregations call the fused kernels of :mod:`gnnkit.ops` on ``graph.sparse`` (a
``[num_dst, num_src]`` pattern), which is the same object for a graph, a batched graph and a
block, so every layer runs unchanged on all three.
"""

from __future__ import annotations

import torch

from .. import ops


def check_positive_int(value, name: str, owner: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def check_probability(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_choice(value, name: str, owner: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {tuple(choices)}, got {value!r}")
    return value


def feat_sizes(in_feats, owner: str) -> tuple[int, int]:
    """``in_feats`` as ``(source width, destination width)``; an int means both."""
    if isinstance(in_feats, (tuple, list)):
        if len(in_feats) != 2:
            raise ValueError(f"{owner}: in_feats must be an int or a (src, dst) pair, got {in_feats!r}")
        return (check_positive_int(in_feats[0], "in_feats[0]", owner), check_positive_int(in_feats[1], "in_feats[1]", owner))
    width = check_positive_int(in_feats, "in_feats", owner)
    return width, width


def src_dst_feats(graph, feat, owner: str):
    """Splits ``feat`` into (source features, destination features).

    ``feat`` is a tensor over source nodes (on a block the destinations are its first
    ``num_dst_nodes()`` rows) or an explicit ``(src_feat, dst_feat)`` pair.
    """
    if isinstance(feat, (tuple, list)):
        if len(feat) != 2:
            raise ValueError(f"{owner}: feat must be a tensor or a (src, dst) pair, got {len(feat)} tensors")
        feat_src, feat_dst = feat
        check_rows(feat_src, graph.num_src_nodes(), "feat[0]", "source nodes", owner)
        check_rows(feat_dst, graph.num_dst_nodes(), "feat[1]", "destination nodes", owner)
        return feat_src, feat_dst
    check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
    return feat, dst_rows(graph, feat)


def dst_rows(graph, src_tensor: torch.Tensor) -> torch.Tensor:
    """The rows of a per-source-node tensor that belong to destination nodes."""
    return src_tensor[: graph.num_dst_nodes()] if graph.is_block else src_tensor


def check_rows(tensor, expected: int, name: str, what: str, owner: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a tensor, got {type(tensor).__name__}")
    if tensor.dim() == 0 or tensor.shape[0] != expected:
        raise ValueError(f"{owner}: {name} has shape {tuple(tensor.shape)}; expected {expected} rows (one per {what[:-1]})")


def check_edge_weight(graph, edge_weight, owner: str):
    if edge_weight is None:
        return None
    check_rows(edge_weight, graph.num_edges(), "edge_weight", "edges", owner)
    if edge_weight.dim() > 2 or (edge_weight.dim() == 2 and edge_weight.shape[1] != 1):
        raise ValueError(f"{owner}: edge_weight must have shape [E] or [E, 1], got {tuple(edge_weight.shape)}")
    return edge_weight.reshape(-1)


def check_zero_in_degree(graph, allow_zero_in_degree: bool, owner: str) -> None:
    """Rejects graphs with destination nodes that receive no message, as DGL does."""
    if allow_zero_in_degree or graph.num_dst_nodes() == 0:
        return
    degrees = graph.sparse.in_degrees()
    if bool((degrees == 0).any()):
        count = int((degrees == 0).sum())
        raise ValueError(
            f"{owner}: {count} destination node(s) have no incoming edge, so their output would be "
            "invalid; add self-loops (gk.add_self_loop) or pass allow_zero_in_degree=True"
        )


def require_square(graph, owner: str) -> None:
    """Multi-hop layers feed their output back as input, which needs num_src == num_dst."""
    if graph.num_src_nodes() != graph.num_dst_nodes():
        raise ValueError(
            f"{owner}: repeated propagation needs as many source as destination nodes, got a block with "
            f"{graph.num_src_nodes()} source and {graph.num_dst_nodes()} destination nodes"
        )


def inv_sqrt_degree(degrees: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``max(deg, 1)^{-1/2}`` as a column. [N] -> [N, 1]"""
    return degrees.clamp(min=1).to(dtype).pow(-0.5).unsqueeze(-1)


def inv_degree(degrees: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``1 / max(deg, 1)`` as a column. [N] -> [N, 1]"""
    return degrees.clamp(min=1).to(dtype).reciprocal().unsqueeze(-1)


def broadcast_rows(column: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``[N, 1]`` column viewed to multiply ``[N, *F]`` rows."""
    return column.view(-1, *([1] * (like.dim() - 1)))


def aggregate(graph, feat_src: torch.Tensor, reduce: str = "sum", edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``out[v] = reduce_{(u, v)} w_uv * feat_src[u]``: one fused SpMM. [N_src, *F] -> [N_dst, *F]"""
    if edge_weight is None:
        return ops.gspmm(graph.sparse, "copy_u", reduce, feat_src, None)
    return ops.gspmm(graph.sparse, "u_mul_e", reduce, feat_src, edge_weight.to(feat_src.dtype))


def sym_norm_edge_weight(graph, edge_weight: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """Per-edge values of ``D^{-1/2} A D^{-1/2}`` for the multi-hop layers (SGConv, APPNP, TAGConv). [E]

    Without edge weights it follows DGL: the unweighted in-degree (clamped to 1) normalises both
    ends. With weights ``w`` it follows DGL's ``EdgeWeightNorm('both')``:
    ``w_uv / sqrt(sum_{u->*} w * sum_{*->v} w)`` (a zero weighted degree contributes 0).
    """
    adj = graph.sparse
    if edge_weight is None:
        norm = adj.in_degrees().clamp(min=1).to(dtype).pow(-0.5)
        return norm.index_select(0, adj.src) * norm.index_select(0, adj.dst)
    weight = edge_weight.to(dtype)
    out_weighted = weight.new_zeros(adj.num_src).index_add_(0, adj.src, weight)
    in_weighted = weight.new_zeros(adj.num_dst).index_add_(0, adj.dst, weight)
    norm_src = torch.where(out_weighted > 0, out_weighted.clamp(min=torch.finfo(dtype).tiny).pow(-0.5), 0.0)
    norm_dst = torch.where(in_weighted > 0, in_weighted.clamp(min=torch.finfo(dtype).tiny).pow(-0.5), 0.0)
    return weight * norm_src.index_select(0, adj.src) * norm_dst.index_select(0, adj.dst)
