"""GraphSAINT (Zeng et al., 2020): train on random induced subgraphs, with normalisation that
makes the mini-batch loss and aggregation unbiased.

Three samplers pick the node set of a subgraph, which is then the induced subgraph:

* ``'node'``: ``budget`` nodes drawn with probability ``p_v ~ sum_{v->w} 1/deg_in(w)^2`` (the
  squared column norm of the row-normalised adjacency), with replacement, duplicates merged;
* ``'edge'``: ``budget`` edges drawn with ``p_{u,v} ~ 1/deg_in(u) + 1/deg_in(v)``, their ends kept;
* ``'walk'``: ``budget`` uniform roots, each a random walk of ``walk_length`` steps.

Normalisation (estimated by pre-sampling ``num_norm_samples`` subgraphs and counting how often
each node ``C_v`` and edge ``C_{u,v}`` appears):

* aggregator: the message of edge ``(u, v)`` is scaled by ``C_v / C_{u,v}`` (``edata['edge_norm']``);
* loss: node ``v``'s loss is scaled by ``M / (C_v N)`` (``ndata['node_norm']``, ``M`` the number of
  pre-sampled subgraphs), so ``sum_v node_norm[v] * loss_v`` estimates the full-graph mean loss.
"""

from __future__ import annotations

import torch

from ..graph import EID, NID, Graph
from ._utils import check_graph, intra_op_threads, node_subgraph
from .randomwalk import random_walk

__all__ = ["SAINTSampler"]

_MODES = ("node", "edge", "walk")


class SAINTSampler:
    """GraphSAINT subgraph sampler; ``sample(g, _)`` returns one normalised subgraph.

    Iterate with :class:`~gnnkit.sampling.DataLoader` over ``torch.arange(num_batches)`` with
    ``batch_size=1`` (the indices only count batches). ``num_norm_samples=0`` skips the
    normalisation (``node_norm`` and ``edge_norm`` are then not attached)."""

    def __init__(self, mode: str, budget: int, walk_length: int = 2, num_norm_samples: int = 50, generator: torch.Generator | None = None):
        if mode not in _MODES:
            raise ValueError(f"SAINTSampler: mode must be one of {_MODES}, got {mode!r}")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"SAINTSampler: budget must be a positive int, got {budget!r}")
        if isinstance(walk_length, bool) or not isinstance(walk_length, int) or walk_length < 0:
            raise ValueError(f"SAINTSampler: walk_length must be a non-negative int, got {walk_length!r}")
        if isinstance(num_norm_samples, bool) or not isinstance(num_norm_samples, int) or num_norm_samples < 0:
            raise ValueError(f"SAINTSampler: num_norm_samples must be a non-negative int, got {num_norm_samples!r}")
        self.mode = mode
        self.budget = budget
        self.walk_length = walk_length
        self.num_norm_samples = num_norm_samples
        self.generator = generator
        self._prepared_for = None
        self.node_norm: torch.Tensor | None = None
        self.edge_norm: torch.Tensor | None = None

    # -- node sets -------------------------------------------------------------------------------

    def prepare(self, g: Graph) -> None:
        """Computes the sampling weights and the normalisation for ``g`` (once per graph)."""
        key = (id(g), g.num_nodes(), g.num_edges())
        if self._prepared_for == key:
            return
        in_deg = g.in_degrees().to(torch.float64).clamp(min=1)
        src, dst = g.sparse.src, g.sparse.dst
        if self.mode == "node":
            weight = torch.zeros(g.num_nodes(), dtype=torch.float64, device=g.device)
            weight.index_add_(0, src, in_deg.index_select(0, dst).pow(-2))
            self._weights = weight if bool((weight > 0).any()) else torch.ones_like(weight)
        elif self.mode == "edge":
            self._weights = in_deg.index_select(0, src).reciprocal() + in_deg.index_select(0, dst).reciprocal()
        self._prepared_for = key
        self.node_norm = self.edge_norm = None
        if self.num_norm_samples:
            self._estimate_norms(g)

    def _node_set(self, g: Graph) -> torch.Tensor:
        n = g.num_nodes()
        if self.mode == "node":
            picks = torch.multinomial(self._weights, self.budget, replacement=True, generator=self.generator)
            return torch.unique(picks)
        if self.mode == "edge":
            if g.num_edges() == 0:
                return torch.empty(0, dtype=torch.int64, device=g.device)
            eids = torch.multinomial(self._weights, self.budget, replacement=True, generator=self.generator)
            return torch.unique(torch.cat([g.sparse.src.index_select(0, eids), g.sparse.dst.index_select(0, eids)]))
        roots = torch.randint(0, n, (self.budget,), device=g.device, generator=self.generator)
        traces = random_walk(g, roots, self.walk_length, generator=self.generator)
        return torch.unique(traces[traces >= 0])

    def _estimate_norms(self, g: Graph) -> None:
        node_count = torch.zeros(g.num_nodes(), dtype=torch.float64, device=g.device)
        edge_count = torch.zeros(g.num_edges(), dtype=torch.float64, device=g.device)
        for _ in range(self.num_norm_samples):  # loop over pre-sampled subgraphs, not nodes
            sg = node_subgraph(g, self._node_set(g))
            node_count.index_add_(0, sg.ndata[NID], torch.ones(sg.num_nodes(), dtype=torch.float64, device=g.device))
            edge_count.index_add_(0, sg.edata[EID], torch.ones(sg.num_edges(), dtype=torch.float64, device=g.device))
        # Nodes/edges never seen get the count 0.1, as in the reference implementation, so
        # their (rare) appearance later is strongly up-weighted instead of dividing by zero.
        node_count_c = node_count.clamp(min=0.1)
        self.node_norm = (self.num_norm_samples / (node_count_c * max(g.num_nodes(), 1))).to(torch.float32)
        self.edge_norm = (node_count_c.index_select(0, g.sparse.dst) / edge_count.clamp(min=0.1)).clamp(max=1e4).to(torch.float32)

    # -- sampling ---------------------------------------------------------------------------------

    def sample(self, g: Graph, _indices=None) -> Graph:
        check_graph(g, "SAINTSampler.sample: g")
        self.prepare(g)
        with intra_op_threads(1):
            sg = node_subgraph(g, self._node_set(g))
        if self.node_norm is not None:
            sg.ndata["node_norm"] = self.node_norm.index_select(0, sg.ndata[NID])
            sg.edata["edge_norm"] = self.edge_norm.index_select(0, sg.edata[EID])
        return sg
