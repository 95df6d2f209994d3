"""Edge-wise mini-batches for link prediction, with negative sampling.

A batch of edge ids becomes a *positive pair graph* (the batch edges) and, with a negative
sampler, a *negative pair graph* (``k`` corrupted edges per positive edge: same source, random
destination), both over the same compact node set; a node-wise sampler then builds the blocks
that compute the representations of that node set. ``exclude='self'`` removes the batch edges
from the sampled blocks (and ``'reverse_id'`` also their reverse edges ``reverse_eids[e]``) so a
model cannot read the answer from the message-flow graph.
"""

from __future__ import annotations

import torch

from ..graph import EID, NID, Graph, graph
from ..graph.graph import as_id_tensor
from ._utils import check_graph

__all__ = ["UniformNegativeSampler", "EdgePredictionSampler", "as_edge_prediction_sampler"]


class UniformNegativeSampler:
    """``k`` negatives per positive edge ``(u, v)``: ``(u, w)`` with ``w`` uniform over all nodes.

    ``__call__(g, eids)`` returns ``(src, dst)`` of the ``k * len(eids)`` negative edges, grouped
    by positive edge. (As usual, a drawn ``w`` can by chance be a true neighbour.)"""

    def __init__(self, k: int, generator: torch.Generator | None = None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"UniformNegativeSampler: k must be a positive int, got {k!r}")
        self.k = k
        self.generator = generator

    def __call__(self, g: Graph, eids: torch.Tensor):
        src = g.sparse.src.index_select(0, eids)
        neg_src = src.repeat_interleave(self.k)
        neg_dst = torch.randint(0, g.num_nodes(), (neg_src.numel(),), device=g.device, generator=self.generator)
        return neg_src, neg_dst


class EdgePredictionSampler:
    """Wraps a node-wise sampler (e.g. :class:`NeighborSampler`) for edge mini-batches.

    ``sample(g, eids)`` returns ``(input_nodes, pair_graph, neg_pair_graph, blocks)`` (without
    ``neg_pair_graph`` when no negative sampler is given). Pair graphs share the node set
    ``pair_graph.ndata[gk.NID]``, which is also the output nodes of ``blocks``; the positive
    pair graph keeps the batch edge ids in ``edata[gk.EID]``."""

    seeds_are_edges = True

    def __init__(self, node_sampler, negative_sampler=None, exclude: str | None = None, reverse_eids: torch.Tensor | None = None):
        if not hasattr(node_sampler, "sample"):
            raise TypeError(f"EdgePredictionSampler: node_sampler must have a sample(g, nodes) method, got {type(node_sampler).__name__}")
        if exclude not in (None, "self", "reverse_id"):
            raise ValueError(f"EdgePredictionSampler: exclude must be None, 'self' or 'reverse_id', got {exclude!r}")
        if exclude == "reverse_id" and reverse_eids is None:
            raise ValueError("EdgePredictionSampler: exclude='reverse_id' needs reverse_eids (the reverse edge of every edge)")
        if isinstance(negative_sampler, int) and not isinstance(negative_sampler, bool):
            negative_sampler = UniformNegativeSampler(negative_sampler)
        self.node_sampler = node_sampler
        self.negative_sampler = negative_sampler
        self.exclude = exclude
        self.reverse_eids = reverse_eids

    def sample(self, g: Graph, seed_edges):
        check_graph(g, "EdgePredictionSampler.sample: g")
        eids = as_id_tensor(seed_edges, "EdgePredictionSampler.sample: seed_edges", g.device)
        if eids.numel() and int(eids.max()) >= g.num_edges():
            raise ValueError(f"EdgePredictionSampler.sample: edge id {int(eids.max())} is out of range; the graph has {g.num_edges()} edges")
        src = g.sparse.src.index_select(0, eids)
        dst = g.sparse.dst.index_select(0, eids)
        ends = [src, dst]
        if self.negative_sampler is not None:
            neg_src, neg_dst = self.negative_sampler(g, eids)
            ends += [neg_src, neg_dst]
        seed_nodes, local = torch.unique(torch.cat(ends), return_inverse=True)
        m = eids.numel()
        pair = graph((local[:m], local[m : 2 * m]), num_nodes=seed_nodes.numel(), device=g.device)
        pair.ndata[NID] = seed_nodes
        pair.edata[EID] = eids
        exclude_eids = None
        if self.exclude == "self":
            exclude_eids = eids
        elif self.exclude == "reverse_id":
            exclude_eids = torch.cat([eids, self.reverse_eids.to(g.device).index_select(0, eids)])
        if exclude_eids is not None:
            input_nodes, _, blocks = self.node_sampler.sample(g, seed_nodes, exclude_eids=exclude_eids)
        else:
            input_nodes, _, blocks = self.node_sampler.sample(g, seed_nodes)
        if self.negative_sampler is None:
            return input_nodes, pair, blocks
        rest = local[2 * m :]
        half = rest.numel() // 2
        neg = graph((rest[:half], rest[half:]), num_nodes=seed_nodes.numel(), device=g.device)
        neg.ndata[NID] = seed_nodes
        return input_nodes, pair, neg, blocks


def as_edge_prediction_sampler(node_sampler, exclude: str | None = None, reverse_eids=None, negative_sampler=None) -> EdgePredictionSampler:
    """DGL-style constructor of :class:`EdgePredictionSampler`."""
    return EdgePredictionSampler(node_sampler, negative_sampler=negative_sampler, exclude=exclude, reverse_eids=reverse_eids)
