"""Node-wise neighbour sampling (GraphSAGE, Hamilton et al., 2017) into message-flow blocks.

For a set of destination nodes ``V`` and a fanout ``k``, every ``v in V`` keeps ``min(k, deg(v))``
of its in-edges chosen uniformly without replacement (``k`` drawn with replacement when
``replace=True``; all of them when ``k = -1``), or chosen with probability proportional to an
edge weight ``p_e`` when ``prob`` is given (edges with ``p_e = 0`` are never picked).
The sampled edges form a block whose destinations are ``V`` and whose sources are ``V``
followed by the newly reached nodes; stacking one block per layer from the seeds outwards
gives the message-flow graph of an L-layer GNN.

Everything is vectorised over the frontier, on the graph's cached in-CSR:

* with replacement: offset ``floor(u * deg(v))`` per draw;
* without replacement, uniform: a row with at most ``k`` edges keeps them all (a run of
  consecutive CSR positions, no random numbers); a longer row keeps the ``k`` offsets with the
  smallest i.i.d. uniform keys (one padded top-k over all such rows), or, for hubs longer than
  ``max(4k, 64)``, a subset drawn by Floyd's algorithm run for all of them at once (``k``
  steps of ``[rows, step]`` comparisons, cost independent of the degree); both draw a uniform
  ``k``-subset exactly;
* weighted: inverse-CDF search in per-row cumulative weights (with replacement) or
  Efraimidis-Spirakis keys ``log(u) / p_e`` with a per-row top-k by sorting (without).

Sources and edge ids come from one gather in a packed copy of the in-CSR, and new source
nodes are numbered with a reused per-graph id map (one scatter and one gather; no sort, no
hash table, no per-batch reset; see ``_utils.compact_ids``). Measured on a
1M-node / 10M-edge graph (fanouts [15, 10], batch 1024) in ``benchmarks/bench_sampling.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..graph import EID, NID, Graph
from ._utils import (
    check_graph,
    check_node_ids,
    check_num_threads,
    compact_ids,
    expand_segments,
    gather_in_edges,
    has_repeats,
    intra_op_threads,
    segment_ids,
    segment_local_index,
)

__all__ = ["NeighborSampler", "MultiLayerFullNeighborSampler", "sample_neighbors", "sample_blocks"]


def _check_fanout(fanout, name: str) -> int:
    if isinstance(fanout, bool) or not isinstance(fanout, int) or (fanout < 0 and fanout != -1):
        raise ValueError(f"{name}: a fanout must be a non-negative int or -1 (all neighbours), got {fanout!r}")
    return fanout


def _edge_prob(g: Graph, prob, name: str) -> torch.Tensor | None:
    if prob is None:
        return None
    if isinstance(prob, str):
        if prob not in g.edata:
            raise KeyError(f"{name}: prob names edge feature {prob!r}, which the graph does not have (edata: {list(g.edata)})")
        prob = g.edata[prob]
    if not isinstance(prob, torch.Tensor) or prob.dim() != 1 or prob.numel() != g.num_edges():
        shape = tuple(prob.shape) if isinstance(prob, torch.Tensor) else type(prob).__name__
        raise ValueError(f"{name}: prob must be a 1-D tensor with one weight per edge ({g.num_edges()}), got {shape}")
    if prob.is_floating_point() and bool((prob < 0).any()):
        raise ValueError(f"{name}: prob must be non-negative")
    return prob


# Rows up to this many times the fanout (or 64) long draw their subset with one padded top-k of
# random keys; longer rows (hubs) use Floyd's algorithm, whose cost does not grow with degree.
_TOPK_WIDTH_FACTOR = 4
_TOPK_MIN_WIDTH = 64


def _subset_offsets(degree: torch.Tensor, k: int, generator=None) -> torch.Tensor:
    """A uniform random ``k``-subset of ``{0, ..., degree[i] - 1}`` for every row (``degree > k``).

    Returns ``[rows, k]`` offsets (in no particular order inside a row)."""
    # degree: [R]
    cap = max(_TOPK_WIDTH_FACTOR * k, _TOPK_MIN_WIDTH)
    chosen = torch.empty(degree.numel(), k, dtype=torch.int64, device=degree.device)
    short = degree <= cap
    short_rows = torch.nonzero(short).squeeze(1)
    long_rows = torch.nonzero(~short).squeeze(1)
    if short_rows.numel():
        chosen[short_rows] = _topk_offsets(degree.index_select(0, short_rows), k, generator)
    if long_rows.numel():
        chosen[long_rows] = _floyd_offsets(degree.index_select(0, long_rows), k, generator)
    return chosen


def _topk_offsets(degree: torch.Tensor, k: int, generator=None) -> torch.Tensor:
    """The ``k`` offsets with the smallest i.i.d. uniform keys in each row: a uniform subset.
    Rows are padded to the longest one with keys above every real key."""
    # degree: [R] -> [R, k]
    width = int(degree.max())
    keys = torch.rand(degree.numel(), width, device=degree.device, generator=generator)  # [R, W]
    keys.masked_fill_(torch.arange(width, device=degree.device) >= degree.unsqueeze(1), 2.0)
    return torch.topk(keys, k, dim=1, largest=False, sorted=False).indices


def _floyd_offsets(degree: torch.Tensor, k: int, generator=None) -> torch.Tensor:
    """Floyd's algorithm for all rows at once: for ``j = d-k .. d-1`` draw ``t`` in ``[0, j]``;
    take ``j`` if ``t`` was taken already, else ``t``. Returns ``[rows, k]`` offsets."""
    # degree: [R]
    rows = degree.numel()
    chosen = torch.empty(rows, k, dtype=torch.int64, device=degree.device)
    draws = torch.rand(rows, k, device=degree.device, generator=generator, dtype=torch.float64)
    for step in range(k):
        upper = degree - (k - step)  # [R] the j of this step
        pick = (draws[:, step] * (upper + 1).to(torch.float64)).to(torch.int64)
        if step:
            taken = (chosen[:, :step] == pick.unsqueeze(1)).any(1)
            pick = torch.where(taken, upper, pick)
        chosen[:, step] = pick
    return chosen


def sample_neighbors(
    g: Graph,
    nodes,
    fanout: int,
    replace: bool = False,
    prob=None,
    exclude_eids: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
):
    """Samples in-edges of ``nodes``; returns ``(src, dst_index, eid)``.

    ``src`` are original source ids, ``dst_index`` the position of the destination in ``nodes``
    (edges grouped by destination, in the order of ``nodes``), ``eid`` original edge ids.
    ``exclude_eids`` (sorted or not) are never returned."""
    check_graph(g, "sample_neighbors: g")
    nodes = check_node_ids(nodes, g.num_nodes(), "sample_neighbors: nodes", g.device)
    fanout = _check_fanout(fanout, "sample_neighbors")
    prob = _edge_prob(g, prob, "sample_neighbors")
    return _sample(g, nodes, fanout, replace, prob, exclude_eids, generator)


def _sample(g, nodes, fanout, replace, prob, exclude_eids, generator):
    view = g.sparse.in_csr()
    starts = view.indptr.index_select(0, nodes)  # [D]
    degree = view.indptr.index_select(0, nodes + 1) - starts  # [D]
    if exclude_eids is not None or (prob is not None and (fanout != -1)):
        return _sample_filtered(view, starts, degree, fanout, replace, prob, exclude_eids, generator)
    if fanout == -1:
        pos, dst = expand_segments(starts, degree)
    elif replace:
        counts = torch.where(degree > 0, fanout, 0)
        dst = segment_ids(counts)
        draw = torch.rand(dst.numel(), device=nodes.device, generator=generator, dtype=torch.float64)
        pos = starts.index_select(0, dst) + (draw * degree.index_select(0, dst)).to(torch.int64)
    else:
        # Rows with at most `fanout` edges keep them all (a run of consecutive positions); the
        # others get a random subset written over their `fanout` slots.
        counts = degree.clamp(max=fanout)
        pos, dst = expand_segments(starts, counts)
        partial = torch.nonzero(degree > fanout).squeeze(1)
        if partial.numel():
            chosen = _subset_offsets(degree.index_select(0, partial), fanout, generator)  # [P, k]
            slot_start = torch.cumsum(counts, 0) - counts
            slots = (slot_start.index_select(0, partial).unsqueeze(1) + torch.arange(fanout, device=nodes.device)).view(-1)
            pos.index_copy_(0, slots, (starts.index_select(0, partial).unsqueeze(1) + chosen).view(-1))
    src, eid = gather_in_edges(g, pos, packed=fanout != -1)
    return src, dst, eid


def _sample_filtered(view, starts, degree, fanout, replace, prob, exclude_eids, generator):
    """The general path: weights and/or excluded edges. Looks at every candidate edge of the
    frontier once (sum of degrees), which is what any weighted sampler has to read."""
    pos, dst = expand_segments(starts, degree)
    eid = pos if view.perm is None else view.perm.index_select(0, pos)
    weight = None if prob is None else prob.index_select(0, eid).to(torch.float64)
    keep = None
    if exclude_eids is not None:
        keep = ~torch.isin(eid, exclude_eids.to(eid.device))
    if weight is not None:
        positive = weight > 0
        keep = positive if keep is None else keep & positive
    if keep is not None:
        pos, dst, eid = pos[keep], dst[keep], eid[keep]
        weight = None if weight is None else weight[keep]
    num_rows = degree.numel()
    degree = torch.bincount(dst, minlength=num_rows)
    if fanout == -1:
        return view.indices.index_select(0, pos), dst, eid
    if weight is None:
        weight = torch.ones(pos.numel(), dtype=torch.float64, device=pos.device)
    if replace:
        # Inverse CDF in each row's cumulative weights; one searchsorted for all draws.
        cumulative = torch.cumsum(weight, 0)
        row_end = torch.cumsum(degree, 0)
        row_total_before = torch.cat([cumulative.new_zeros(1), cumulative])[row_end - degree]
        row_total = cumulative.new_zeros(num_rows)
        has = degree > 0
        row_total[has] = cumulative[row_end[has] - 1] - row_total_before[has]
        counts = torch.where(has, fanout, 0)
        out_dst = segment_ids(counts)
        target = row_total_before.index_select(0, out_dst) + torch.rand(
            out_dst.numel(), dtype=torch.float64, device=pos.device, generator=generator
        ) * row_total.index_select(0, out_dst)
        pick = torch.searchsorted(cumulative, target, right=True)
        # Rounding can step one past the row; clamp into it.
        lo = (row_end - degree).index_select(0, out_dst)
        pick = torch.minimum(torch.maximum(pick, lo), row_end.index_select(0, out_dst) - 1)
        return view.indices.index_select(0, pos.index_select(0, pick)), out_dst, eid.index_select(0, pick)
    # Without replacement: Efraimidis-Spirakis keys, the k largest per row.
    draws = torch.rand(pos.numel(), dtype=torch.float64, device=pos.device, generator=generator).clamp_(min=1e-300)
    keys = torch.log(draws) / weight
    order = torch.sort(keys, descending=True, stable=True).indices
    order = order.index_select(0, torch.sort(dst.index_select(0, order), stable=True).indices)
    rank = segment_local_index(degree, dst.index_select(0, order))
    chosen = order[rank < fanout]
    return view.indices.index_select(0, pos.index_select(0, chosen)), dst.index_select(0, chosen), eid.index_select(0, chosen)


def sample_blocks(
    g: Graph,
    seed_nodes: torch.Tensor,
    fanouts: Sequence[int],
    replace: bool = False,
    prob=None,
    exclude_eids: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
):
    """Samples one block per fanout, from the seeds outwards. Returns ``(input_nodes, blocks)``
    with ``blocks[0]`` the input layer (fanouts[0]) and ``blocks[-1]`` the seeds' layer."""
    blocks: list[Graph] = []
    dst_nodes = seed_nodes
    for fanout in reversed(list(fanouts)):
        src, dst_local, eid = _sample(g, dst_nodes, fanout, replace, prob, exclude_eids, generator)
        src_nodes, src_local = compact_ids(g, dst_nodes, src)
        # Trusted constructor: the ids are in range by construction, so skip re-validating them.
        b = Graph(src_local, dst_local, src_nodes.numel(), dst_nodes.numel(), is_block=True)
        b.srcdata[NID] = src_nodes
        b.dstdata[NID] = dst_nodes
        b.edata[EID] = eid
        blocks.insert(0, b)
        dst_nodes = src_nodes
    return dst_nodes, blocks


class NeighborSampler:
    """Samples a multi-layer message-flow graph with per-layer fanouts.

    ``NeighborSampler([15, 10])`` samples 10 in-neighbours of each seed for the last layer and
    15 of each of those for the first. ``sample(g, seeds)`` returns
    ``(input_nodes, output_nodes, blocks)``; ``blocks[i]`` feeds layer ``i``; original ids are in
    ``srcdata[gk.NID]``, ``dstdata[gk.NID]`` and ``edata[gk.EID]``. ``prob`` is an edge feature
    name (or ``[E]`` tensor) of non-negative sampling weights.

    ``num_threads``: PyTorch intra-op threads while sampling (default 1; ``None`` keeps the
    process setting). Sampling is a chain of small memory-bound ops: a second thread gains
    little, and on a busy machine every parallel region can stall for milliseconds waiting
    for a descheduled worker (measured: 5 ms per batch with one thread, over 100 ms with two
    under load 3 on 2 cores). The setting is process-wide while sampling, and the sampler
    keeps a per-graph id map between calls: sample from one thread per process (DataLoader
    workers are processes).
    """

    def __init__(
        self,
        fanouts: Sequence[int],
        replace: bool = False,
        prob=None,
        generator: torch.Generator | None = None,
        num_threads: int | None = 1,
    ):
        if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence) or len(fanouts) == 0:
            raise ValueError(f"NeighborSampler: fanouts must be a non-empty list of ints (one per layer), got {fanouts!r}")
        self.fanouts = [_check_fanout(f, "NeighborSampler: fanouts") for f in fanouts]
        if not isinstance(replace, bool):
            raise TypeError(f"NeighborSampler: replace must be a bool, got {type(replace).__name__}")
        self.replace = replace
        self.prob = prob
        self.generator = generator
        self.num_threads = check_num_threads(num_threads, "NeighborSampler")

    def sample(self, g: Graph, seed_nodes, exclude_eids: torch.Tensor | None = None):
        check_graph(g, "NeighborSampler.sample: g")
        seeds = check_node_ids(seed_nodes, g.num_nodes(), "NeighborSampler.sample: seed_nodes", g.device)
        prob = _edge_prob(g, self.prob, "NeighborSampler")
        with intra_op_threads(self.num_threads):
            if has_repeats(g, seeds):
                raise ValueError("NeighborSampler.sample: seed_nodes must not repeat a node")
            input_nodes, blocks = sample_blocks(g, seeds, self.fanouts, self.replace, prob, exclude_eids, self.generator)
        return input_nodes, seeds, blocks

    def __repr__(self) -> str:
        return f"NeighborSampler(fanouts={self.fanouts}, replace={self.replace}, weighted={self.prob is not None})"


class MultiLayerFullNeighborSampler(NeighborSampler):
    """Takes every in-neighbour at each of ``num_layers`` layers (exact mini-batch inference)."""

    def __init__(self, num_layers: int):
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"MultiLayerFullNeighborSampler: num_layers must be a positive int, got {num_layers!r}")
        super().__init__([-1] * num_layers)
