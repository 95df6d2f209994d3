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
    """The rows of a per-source-node tensor (dense or CSR) that belong to destination nodes."""
    if not graph.is_block:
        return src_tensor
    if is_sparse(src_tensor):
        return sparse_rows(src_tensor, graph.num_dst_nodes())
    return src_tensor[: graph.num_dst_nodes()]


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


# ---------------------------------------------------------------------------------------------
# sparse (bag-of-words) input features
#
# Citation-graph features are ~1% non-zero. Their first linear map as a CSR x dense product
# (and its weight gradient as the transposed CSR x dense product) costs ~1/20 of the dense
# matmul, and dropout needs to touch only the stored values (dropping a zero is a no-op).
# Kipf & Welling's reference GCN feeds features the same way.

SPARSE_DENSITY_LIMIT = 0.1
_SPARSE_MIN_ELEMENTS = 1 << 16
_TRANSPOSE_CACHE: dict = {}
_TRANSPOSE_CACHE_SIZE = 4


def is_sparse(x) -> bool:
    return isinstance(x, torch.Tensor) and x.layout == torch.sparse_csr


def to_dense(x: torch.Tensor) -> torch.Tensor:
    return x.to_dense() if is_sparse(x) else x


def sparse_rows(x: torch.Tensor, num_rows: int) -> torch.Tensor:
    """The first ``num_rows`` rows of a CSR matrix (same values, a prefix of the structure)."""
    crow = x.crow_indices()[: num_rows + 1]
    end = int(crow[-1])
    return torch.sparse_csr_tensor(crow, x.col_indices()[:end], x.values()[:end], (num_rows, x.shape[1]))


def project(x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """``x @ weight_t`` for dense or CSR ``x``. [N, in] x [in, out] -> [N, out]

    A CSR ``x`` must not require grad (it is input data); the weight gets its gradient."""
    if not is_sparse(x):
        return x @ weight_t
    if x.requires_grad:
        raise ValueError("sparse input features must not require grad")
    return _SparseDenseMM.apply(x, weight_t)


def linear(x: torch.Tensor, layer) -> torch.Tensor:
    """``layer(x)`` for an ``nn.Linear`` and dense or CSR ``x``."""
    if not is_sparse(x):
        return layer(x)
    out = project(x, layer.weight.t())
    return out if layer.bias is None else out + layer.bias


def _transpose_structure(x: torch.Tensor):
    """``(crow_t, col_t, perm)``: the CSR structure of ``x^T`` and the order of its values.

    Cached per structure (the dropout of a fixed feature matrix keeps the structure)."""
    crow, col = x.crow_indices(), x.col_indices()
    key = (crow.data_ptr(), col.data_ptr(), tuple(x.shape), crow.numel(), col.numel())
    hit = _TRANSPOSE_CACHE.get(key)
    if hit is not None:
        return hit[2:]
    rows = torch.repeat_interleave(torch.arange(x.shape[0], device=col.device), crow[1:] - crow[:-1])
    perm = torch.sort(col, stable=True).indices
    counts = torch.bincount(col, minlength=x.shape[1])
    crow_t = torch.zeros(x.shape[1] + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(counts, 0, out=crow_t[1:])
    entry = (crow, col, crow_t, rows.index_select(0, perm).to(col.dtype), perm)
    if len(_TRANSPOSE_CACHE) >= _TRANSPOSE_CACHE_SIZE:
        _TRANSPOSE_CACHE.pop(next(iter(_TRANSPOSE_CACHE)))
    # The entry holds crow/col, so their addresses cannot be reused while it is cached.
    _TRANSPOSE_CACHE[key] = entry
    return entry[2:]


class _SparseDenseMM(torch.autograd.Function):
    # x: CSR [N, in], weight_t: [in, out] -> [N, out]; backward: d weight_t = x^T @ grad
    @staticmethod
    def forward(ctx, x, weight_t):
        ctx.save_for_backward(weight_t)
        ctx.x = x
        return _csr_mm(x, weight_t.contiguous())

    @staticmethod
    def backward(ctx, grad):
        x = ctx.x
        crow_t, col_t, perm = _transpose_structure(x)
        x_t = torch.sparse_csr_tensor(crow_t, col_t, x.values().index_select(0, perm), (x.shape[1], x.shape[0]))
        return None, _csr_mm(x_t, grad.contiguous())


def _csr_mm(matrix: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    # addmm with beta=0 writes the product once; torch.sparse.mm zero-fills, accumulates and copies.
    out = torch.empty(matrix.shape[0], dense.shape[1], dtype=dense.dtype, device=dense.device)
    if matrix.values().numel() == 0 or out.numel() == 0:
        return out.zero_()
    return torch.addmm(out, matrix, dense, beta=0, out=out)


class SparseInputCache:
    """Turns a mostly-zero dense feature matrix into CSR once and reuses it while unchanged.

    Used by the model stacks on their input: the conversion happens on the first call and
    again only when a different tensor (or an in-place modified one) comes in."""

    def __init__(self):
        self._key = None
        self._sparse = None

    def __call__(self, feat: torch.Tensor) -> torch.Tensor:
        if is_sparse(feat) or feat.requires_grad or feat.dim() != 2 or not feat.is_floating_point():
            return feat
        if feat.numel() < _SPARSE_MIN_ELEMENTS or feat.device.type != "cpu":
            return feat
        key = (feat.data_ptr(), tuple(feat.shape), feat.stride(), feat.dtype, feat._version)
        if key != self._key:
            density = torch.count_nonzero(feat).item() / feat.numel()
            self._sparse = feat.to_sparse_csr() if density <= SPARSE_DENSITY_LIMIT else None
            # Holding the tensor keeps its address from being reused by another one.
            self._key, self._source = key, feat
        return feat if self._sparse is None else self._sparse
