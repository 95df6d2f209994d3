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


def _buffer(store, g: Graph, dtype: torch.dtype) -> torch.Tensor:
    n = g.num_src_nodes()
    key = (dtype,)
    held = store.get(g)
    buf = None if held is None else held.get(key)
    if buf is None or buf.numel() != n or buf.device != g.device:
        # Uninitialised on purpose: compact_ids writes every entry it later reads.
        buf = torch.empty(n, dtype=dtype, device=g.device)
        store.setdefault(g, {})[key] = buf
    return buf


_compact_buffers: "weakref.WeakKeyDictionary[Graph, dict]" = weakref.WeakKeyDictionary()
_packed_csr: "weakref.WeakKeyDictionary[Graph, tuple]" = weakref.WeakKeyDictionary()
_LOW_32 = (1 << 32) - 1


def compact_ids(g: Graph, first_nodes: torch.Tensor, other_nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compacts ``cat(first_nodes, other_nodes)`` into unique ids, ``first_nodes`` first.

    ``first_nodes`` must be unique. Returns ``(unique_nodes [U], local ids of other_nodes [M])``
    where ``unique_nodes[:D] == first_nodes`` and the new nodes follow in the order of the
    position that won the scatter for them (the last occurrence with one thread).

    Uses a per-graph ``[num_nodes]`` id map that is never cleared: every entry read back was
    written in the same call (``other_nodes`` first, then ``first_nodes`` over them), so stale
    values from earlier batches are never seen and no per-batch fill or reset is needed. The
    map is int32 whenever the ids fit, which halves its cache footprint."""
    # first_nodes: [D] unique; other_nodes: [M]
    num_first, num_other = first_nodes.numel(), other_nodes.numel()
    device = first_nodes.device
    dtype = torch.int32 if num_first + num_other < 2**31 else torch.int64
    scratch = _buffer(_compact_buffers, g, dtype)
    scratch.scatter_(0, other_nodes, torch.arange(num_first, num_first + num_other, dtype=dtype, device=device))
    scratch.scatter_(0, first_nodes, torch.arange(num_first, dtype=dtype, device=device))
    winner = scratch.index_select(0, other_nodes).to(torch.int64)  # [M] local id or D + position
    # The position whose write survived stands for its node; number those in position order.
    is_representative = winner == torch.arange(num_first, num_first + num_other, device=device)
    rank = torch.cumsum(is_representative, 0)  # [M] 1 + new-node index at representatives
    num_new = int(rank[-1]) if num_other else 0
    local = torch.where(winner < num_first, winner, (num_first - 1) + rank.index_select(0, (winner - num_first).clamp_(min=0)))
    unique_nodes = torch.empty(num_first + num_new, dtype=torch.int64, device=device)
    unique_nodes.scatter_(0, local, other_nodes)  # every write to one slot carries the same id
    unique_nodes[:num_first] = first_nodes
    return unique_nodes, local


def has_repeats(g: Graph, nodes: torch.Tensor) -> bool:
    """Whether ``nodes`` (ids of ``g``) repeat an id, without sorting (one scatter, one gather)."""
    if nodes.numel() < 2:
        return False
    scratch = _buffer(_compact_buffers, g, torch.int64)
    position = torch.arange(nodes.numel(), device=nodes.device)
    scratch.scatter_(0, nodes, position)
    return bool((scratch.index_select(0, nodes) != position).any())


def gather_in_edges(g: Graph, positions: torch.Tensor, packed: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(source id, edge id)`` of the in-CSR non-zeros at ``positions``.

    Sampling is bound by the cache misses of these two random gathers. When ids fit in 32
    bits a per-graph copy of the CSR packs both into one int64 (source low, edge id high),
    so one gather brings both in with half the misses. The copy (8 bytes per edge) is built
    on first use and dropped with the graph's structure; ``packed=False`` (used for runs of
    whole rows, which are cache-friendly anyway) neither builds nor uses it."""
    view = g.sparse.in_csr()
    if view.perm is None:
        return view.indices.index_select(0, positions), positions
    if not packed and _packed_csr.get(g) is None:
        return view.indices.index_select(0, positions), view.perm.index_select(0, positions)
    held = _packed_csr.get(g)
    if held is None or held[0] is not view:
        packed = None
        if g.num_src_nodes() < 2**31 and g.num_edges() < 2**31:
            packed = view.indices | (view.perm << 32)
        held = (view, packed)
        _packed_csr[g] = held
    packed = held[1]
    if packed is None:
        return view.indices.index_select(0, positions), view.perm.index_select(0, positions)
    both = packed.index_select(0, positions)
    return both & _LOW_32, both >> 32


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
