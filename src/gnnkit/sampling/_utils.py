"""Vectorised building blocks shared by the samplers: segment expansion, id relabelling and
induced subgraphs. Nothing here loops over nodes or edges in Python."""

from __future__ import annotations

import contextlib
import weakref

import torch

from ..graph import EID, NID, Graph, graph
from ..graph.graph import as_id_tensor

# A node id that can never occur: marks "not mapped yet" in the relabelling scratch buffers.
_UNMAPPED = torch.iinfo(torch.int64).max
# Added to candidate positions during relabelling so they never collide with real local ids.
_CANDIDATE_OFFSET = 1 << 61

_scratch_buffers: "weakref.WeakKeyDictionary[Graph, torch.Tensor]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def intra_op_threads(num_threads: int | None):
    """Runs the block with ``num_threads`` PyTorch intra-op threads (``None``: unchanged).

    Sampling is a chain of many small, memory-latency-bound ops; each parallel region costs
    more than it saves there, and on a busy machine it can stall for milliseconds waiting for
    a descheduled worker thread. Samplers therefore default to one thread. This changes
    PyTorch's process-wide setting for the duration, so do not sample in one thread while
    another thread of the same process computes (DataLoader workers are processes)."""
    previous = torch.get_num_threads()
    if num_threads is None or num_threads == previous:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_num_threads(num_threads, name: str):
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
        raise ValueError(f"{name}: num_threads must be a positive int or None, got {num_threads!r}")
    return num_threads


def check_graph(g, name: str) -> Graph:
    if not isinstance(g, Graph):
        raise TypeError(f"{name}: expected a gnnkit Graph, got {type(g).__name__}")
    if g.is_block:
        raise TypeError(f"{name}: expected an ordinary graph to sample from, got a block")
    return g


def check_node_ids(ids, num_nodes: int, name: str, device=None) -> torch.Tensor:
    ids = as_id_tensor(ids, name, device)
    if ids.numel() and int(ids.max()) >= num_nodes:
        raise ValueError(f"{name}: node id {int(ids.max())} is out of range; the graph has {num_nodes} nodes")
    return ids


def expand_segments(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For segments ``[starts[i], starts[i] + counts[i])`` returns every position and its segment.

    Returns ``(positions [sum(counts)], segment_of_position [sum(counts)])``."""
    # starts, counts: [S]
    total = int(counts.sum()) if counts.numel() else 0
    segment = segment_ids(counts, total)
    first_slot = torch.cumsum(counts, 0) - counts  # [S] output slot of each segment's first position
    positions = torch.arange(total, device=counts.device) + (starts - first_slot).index_select(0, segment)
    return positions, segment


def segment_ids(counts: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """``repeat_interleave(arange(S), counts)``: the segment of every slot.

    Built from a scatter of segment ends and a cumulative sum, because ATen's
    ``repeat_interleave`` always opens a parallel region, which costs milliseconds on a busy
    machine even for tiny inputs."""
    # counts: [S] -> [total]
    if total is None:
        total = int(counts.sum()) if counts.numel() else 0
    ends = torch.cumsum(counts, 0)
    marks = torch.zeros(total + 1, dtype=torch.int64, device=counts.device)
    marks.index_add_(0, ends, torch.ones_like(ends))
    return torch.cumsum(marks[:total], 0)


def segment_local_index(counts: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
    """The position of every slot inside its own segment (0, 1, ... per segment)."""
    first_slot = torch.cumsum(counts, 0) - counts
    return torch.arange(segment.numel(), device=segment.device) - first_slot.index_select(0, segment)


def scratch_map(g: Graph) -> torch.Tensor:
    """A per-graph ``[num_nodes]`` buffer filled with ``_UNMAPPED``, reused across batches.

    Allocating (and filling) an id map of the whole graph per batch would cost more than the
    sampling itself on million-node graphs; every user restores the entries it touched."""
    n = g.num_src_nodes()
    buf = _scratch_buffers.get(g)
    if buf is None or buf.numel() != n or buf.device != g.device:
        buf = torch.full((n,), _UNMAPPED, dtype=torch.int64, device=g.device)
        _scratch_buffers[g] = buf
    return buf


def relabel(scratch: torch.Tensor, first_nodes: torch.Tensor, other_nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compacts ``cat(first_nodes, other_nodes)`` into unique ids, ``first_nodes`` first.

    ``first_nodes`` must be unique. Returns ``(unique_nodes [U], local ids of other_nodes)``.
    New nodes are numbered in the order of the position that won the scatter for them (the
    last occurrence with the serial CPU scatter), so the result is deterministic for a given
    input. ``scratch`` is returned to all-``_UNMAPPED`` before returning."""
    # first_nodes: [D] unique; other_nodes: [M]
    num_first = first_nodes.numel()
    device = first_nodes.device
    scratch.index_copy_(0, first_nodes, torch.arange(num_first, device=device))
    local = scratch.index_select(0, other_nodes)
    is_new = local == _UNMAPPED
    candidates = other_nodes[is_new]
    order = torch.arange(_CANDIDATE_OFFSET, _CANDIDATE_OFFSET + candidates.numel(), device=device)
    # One position per distinct candidate survives the scatter; it stands for that node.
    scratch.scatter_(0, candidates, order)
    firsts = candidates[scratch.index_select(0, candidates) == order]
    scratch.index_copy_(0, firsts, torch.arange(num_first, num_first + firsts.numel(), device=device))
    local[is_new] = scratch.index_select(0, candidates)
    scratch.index_fill_(0, first_nodes, _UNMAPPED)
    scratch.index_fill_(0, firsts, _UNMAPPED)
    return torch.cat([first_nodes, firsts]), local


def induced_in_edges(g: Graph, nodes: torch.Tensor, scratch: torch.Tensor | None = None):
    """Edges of ``g`` whose both ends lie in ``nodes`` (unique), found through the in-CSR.

    Returns ``(local_src, local_dst, eid)`` with local ids = positions in ``nodes``; edges come
    grouped by destination in the order of ``nodes``. Cost is the in-degree sum of ``nodes``,
    not the size of the graph."""
    if scratch is None:
        scratch = scratch_map(g)
    view = g.sparse.in_csr()
    starts = view.indptr.index_select(0, nodes)
    counts = view.indptr.index_select(0, nodes + 1) - starts
    pos, dst_local = expand_segments(starts, counts)
    src = view.indices.index_select(0, pos)
    scratch.index_copy_(0, nodes, torch.arange(nodes.numel(), device=nodes.device))
    src_local = scratch.index_select(0, src)
    scratch.index_fill_(0, nodes, _UNMAPPED)
    keep = src_local != _UNMAPPED
    pos = pos[keep]
    eid = pos if view.perm is None else view.perm.index_select(0, pos)
    return src_local[keep], dst_local[keep], eid


def node_subgraph(g: Graph, nodes: torch.Tensor) -> Graph:
    """The subgraph induced by ``nodes`` (unique), with original ids in ``ndata[NID]`` and
    ``edata[EID]``. Features are not copied (the DataLoader slices them)."""
    src, dst, eid = induced_in_edges(g, nodes)
    sg = graph((src, dst), num_nodes=nodes.numel(), device=nodes.device)
    sg.ndata[NID] = nodes
    sg.edata[EID] = eid
    return sg


def unique_nodes(nodes: torch.Tensor) -> torch.Tensor:
    """Sorted unique node ids (one sort; used where a random order is not wanted)."""
    return torch.unique(nodes)
