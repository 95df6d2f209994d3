"""ShaDow-GNN sampling (Zeng et al., 2021): every target node gets its own small subgraph.

For each seed ``s`` a k-hop neighbourhood is sampled (``fanouts[i]`` in-neighbours per node at
hop ``i``, all of them for ``-1``), and the subgraph induced by those nodes is built *per seed*,
so two seeds never share a node copy. The GNN then runs on the disjoint union and the output of
seed ``s`` is read at its root copy (or pooled over its copies). In the returned graph node
``i`` is the root copy of seed ``i`` for ``i < len(seeds)``; ``ndata['seed_index']`` names the
seed of every copy (segment ids for per-subgraph readouts).

Vectorised over (seed, node) pairs: a pair key ``seed * N + node`` identifies a node copy;
frontier expansion, de-duplication and the induced-edge test are all done on these keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..graph import EID, NID, Graph, graph
from ._utils import check_graph, check_node_ids, expand_segments, intra_op_threads
from .neighbor import _check_fanout, _sample

__all__ = ["ShaDowKHopSampler"]


class ShaDowKHopSampler:
    """``sample(g, seeds)`` returns ``(input_nodes, output_nodes, subgraph)``.

    ``subgraph`` is the disjoint union of one induced subgraph per seed (roots first), with
    original node ids in ``ndata[gk.NID]`` (= ``input_nodes``), edge ids in ``edata[gk.EID]``
    and the seed of every copy in ``ndata['seed_index']``."""

    def __init__(self, fanouts: Sequence[int], replace: bool = False, generator: torch.Generator | None = None):
        if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence) or len(fanouts) == 0:
            raise ValueError(f"ShaDowKHopSampler: fanouts must be a non-empty list of ints (one per hop), got {fanouts!r}")
        self.fanouts = [_check_fanout(f, "ShaDowKHopSampler: fanouts") for f in fanouts]
        self.replace = replace
        self.generator = generator

    def sample(self, g: Graph, seed_nodes):
        check_graph(g, "ShaDowKHopSampler.sample: g")
        seeds = check_node_ids(seed_nodes, g.num_nodes(), "ShaDowKHopSampler.sample: seed_nodes", g.device)
        with intra_op_threads(1):
            return self._sample(g, seeds)

    def _sample(self, g: Graph, seeds: torch.Tensor):
        n = max(g.num_nodes(), 1)
        device = g.device
        num_seeds = seeds.numel()
        owner = torch.arange(num_seeds, device=device)  # seed index of each node copy
        copies = seeds  # node of each copy
        pair_keys = owner * n + copies
        frontier_owner, frontier = owner, copies
        for fanout in self.fanouts:
            src, dst_index, _ = _sample(g, frontier, fanout, self.replace, None, None, self.generator)
            new_owner = frontier_owner.index_select(0, dst_index)
            new_keys = torch.unique(new_owner * n + src)
            new_keys = new_keys[~torch.isin(new_keys, pair_keys)]
            pair_keys = torch.cat([pair_keys, new_keys])
            frontier_owner, frontier = new_keys // n, new_keys % n
        # Roots first, then the other copies grouped by seed.
        roots, rest = pair_keys[:num_seeds], torch.sort(pair_keys[num_seeds:]).values
        ordered = torch.cat([roots, rest])
        copy_owner, copy_node = ordered // n, ordered % n
        # Induced edges per seed: an in-edge (u -> v) of copy (s, v) is kept if (s, u) is a copy.
        view = g.sparse.in_csr()
        starts = view.indptr.index_select(0, copy_node)
        counts = view.indptr.index_select(0, copy_node + 1) - starts
        pos, dst_copy = expand_segments(starts, counts)
        src_key = copy_owner.index_select(0, dst_copy) * n + view.indices.index_select(0, pos)
        sorted_keys, sorted_index = torch.sort(ordered)
        where = torch.searchsorted(sorted_keys, src_key).clamp(max=max(sorted_keys.numel() - 1, 0))
        found = sorted_keys.index_select(0, where) == src_key
        src_copy = sorted_index.index_select(0, where)[found]
        dst_copy = dst_copy[found]
        pos = pos[found]
        eid = pos if view.perm is None else view.perm.index_select(0, pos)
        sg = graph((src_copy, dst_copy), num_nodes=ordered.numel(), device=device)
        sg.ndata[NID] = copy_node
        sg.edata[EID] = eid
        sg.ndata["seed_index"] = copy_owner
        return copy_node, seeds, sg
