"""Parameter-free propagation operators of one graph snapshot, built once and reused.

A :class:`GraphOperators` wraps a gnnkit :class:`~gnnkit.Graph` plus optional edge weights and
lazily builds (then keeps) the normalised edge weights that the split convolutions need:

* ``gcn``: ``D^{-1/2} (A + I) D^{-1/2}`` (Kipf and Welling), self-loops added once.
* ``cheb``: the scaled Laplacian ``L~ = 2 L / lambda_max - I`` with ``L = I - D^{-1/2} A D^{-1/2}``
  and ``lambda_max = 2`` (self-loops removed), i.e. ``L~ = -D^{-1/2} A D^{-1/2}``.
* ``walk_forward`` / ``walk_backward``: the random walks of DCRNN, ``D_O^{-1} W`` (a node reads
  its out-neighbours) and ``D_I^{-1} W^T`` (a node reads its in-neighbours).
* ``mean``: ``D_in^{-1} A`` (mean of in-neighbours, as in GraphSAGE).

Every operator is applied with :func:`gnnkit.ops.gspmm` (``u_mul_e`` / ``sum``) to features of
shape ``[N, *]``; the trailing dimensions (batch, features) are flattened into one product, so a
batch of windows on a static graph costs one sparse product.
"""

from __future__ import annotations

import torch

from ..graph import Graph
from ..graph import graph as make_graph
from ..ops import SparseAdj, gspmm

__all__ = ["GraphOperators", "propagate"]


def propagate(operator: tuple[SparseAdj, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``out = M x`` for a weighted sparse operator ``M``; x: [N, *] -> out: [N, *]."""
    adj, weight = operator
    flat = x.reshape(x.shape[0], -1)
    out = gspmm(adj, "u_mul_e", "sum", flat, weight.to(flat.dtype))
    return out.view(adj.num_dst, *x.shape[1:])


class GraphOperators:
    """The normalised propagation operators of one (static or snapshot) graph.

    Args:
        graph: a gnnkit graph (directed; edges ``src -> dst``).
        edge_weight: ``[E]`` non-negative weights, or ``None`` for ones.
    """

    def __init__(self, graph: Graph, edge_weight: torch.Tensor | None = None):
        if not isinstance(graph, Graph):
            raise TypeError(f"GraphOperators: graph must be a gnnkit Graph, got {type(graph).__name__}")
        if graph.is_block:
            raise ValueError("GraphOperators: graph must be a plain graph, got a block")
        num_edges = graph.num_edges()
        if edge_weight is None:
            edge_weight = torch.ones(num_edges, device=graph.device)
        edge_weight = torch.as_tensor(edge_weight)
        if edge_weight.shape != (num_edges,):
            raise ValueError(f"GraphOperators: edge_weight must have shape ({num_edges},), got {tuple(edge_weight.shape)}")
        self.graph = graph
        self.edge_weight = edge_weight.to(torch.float64 if edge_weight.dtype == torch.float64 else torch.float32)
        self._ops: dict = {}
        self._keep = True

    def per_call(self) -> "GraphOperators":
        """The same graph with operators normalised anew on every request, never kept.

        This is how PyG's ``ChebConv`` and PyGT's ``DConv`` work (the normalisation runs in every
        forward call); DynaGraph's uncached baseline does the same. Shares graph and weights.
        """
        other = GraphOperators.__new__(GraphOperators)
        other.graph, other.edge_weight, other._ops, other._keep = self.graph, self.edge_weight, {}, False
        return other

    @classmethod
    def from_edges(cls, src, dst, num_nodes: int, edge_weight=None) -> "GraphOperators":
        return cls(make_graph((torch.as_tensor(src), torch.as_tensor(dst)), num_nodes=num_nodes), edge_weight)

    @classmethod
    def from_dense(cls, adj) -> "GraphOperators":
        """Edges ``i -> j`` with weight ``adj[i, j]`` for every non-zero entry."""
        adj = torch.as_tensor(adj)
        if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
            raise ValueError(f"GraphOperators.from_dense: adj must be square, got shape {tuple(adj.shape)}")
        src, dst = adj.nonzero(as_tuple=True)
        return cls.from_edges(src, dst, adj.shape[0], adj[src, dst].to(torch.float32))

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes()

    def _edges(self):
        src, dst = self.graph.edges()
        return src, dst, self.edge_weight

    def _cached(self, name, build):
        if not self._keep:
            return build()
        op = self._ops.get(name)
        if op is None:
            op = build()
            self._ops[name] = op
        return op

    def _operator(self, src, dst, weight) -> tuple[SparseAdj, torch.Tensor]:
        n = self.num_nodes
        return SparseAdj(src, dst, n, n), weight

    def gcn(self):
        def build():
            src, dst, w = self._edges()
            keep = src != dst
            loops = torch.arange(self.num_nodes, device=src.device)
            src = torch.cat([src[keep], loops])
            dst = torch.cat([dst[keep], loops])
            w = torch.cat([w[keep], torch.ones(self.num_nodes, dtype=w.dtype, device=w.device)])
            deg = torch.zeros(self.num_nodes, dtype=w.dtype, device=w.device).index_add_(0, dst, w)
            inv_sqrt = deg.clamp(min=1e-12).rsqrt()
            return self._operator(src, dst, inv_sqrt[src] * w * inv_sqrt[dst])

        return self._cached("gcn", build)

    def cheb(self):
        def build():
            src, dst, w = self._edges()
            keep = src != dst
            src, dst, w = src[keep], dst[keep], w[keep]
            # PyG's ChebConv takes the degree over source nodes of the edge list.
            deg = torch.zeros(self.num_nodes, dtype=w.dtype, device=w.device).index_add_(0, src, w)
            inv_sqrt = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
            return self._operator(src, dst, -(inv_sqrt[src] * w * inv_sqrt[dst]))

        return self._cached("cheb", build)

    def walk_forward(self):
        def build():
            src, dst, w = self._edges()
            out_deg = torch.zeros(self.num_nodes, dtype=w.dtype, device=w.device).index_add_(0, src, w)
            # Node i reads its out-neighbours j: the message flows j -> i with weight W_ij / d_out(i).
            return self._operator(dst, src, w / out_deg.clamp(min=1e-12)[src])

        return self._cached("walk_forward", build)

    def walk_backward(self):
        def build():
            src, dst, w = self._edges()
            in_deg = torch.zeros(self.num_nodes, dtype=w.dtype, device=w.device).index_add_(0, dst, w)
            return self._operator(src, dst, w / in_deg.clamp(min=1e-12)[dst])

        return self._cached("walk_backward", build)

    def mean(self):
        def build():
            src, dst, _ = self._edges()
            in_deg = torch.bincount(dst, minlength=self.num_nodes).to(self.edge_weight.dtype)
            return self._operator(src, dst, 1.0 / in_deg.clamp(min=1)[dst])

        return self._cached("mean", build)

    def dense(self, name: str) -> torch.Tensor:
        """The operator ``name`` as a dense ``[N, N]`` matrix (for tests and small graphs)."""
        adj, w = getattr(self, name)()
        out = torch.zeros(adj.num_dst, adj.num_src, dtype=w.dtype)
        out.index_put_((adj.dst, adj.src), w, accumulate=True)
        return out

    def to(self, device) -> "GraphOperators":
        return GraphOperators(self.graph.to(device), self.edge_weight.to(device))

    @staticmethod
    def batch(operators: list["GraphOperators"]) -> "GraphOperators":
        """The block-diagonal union of snapshot graphs (node ids offset graph after graph)."""
        if not operators:
            raise ValueError("GraphOperators.batch: operators must be a non-empty list")
        srcs, dsts, ws, offset = [], [], [], 0
        for op in operators:
            src, dst = op.graph.edges()
            srcs.append(src + offset)
            dsts.append(dst + offset)
            ws.append(op.edge_weight)
            offset += op.num_nodes
        return GraphOperators.from_edges(torch.cat(srcs), torch.cat(dsts), offset, torch.cat(ws))

    def __repr__(self) -> str:
        return f"GraphOperators(num_nodes={self.num_nodes}, num_edges={self.graph.num_edges()})"
