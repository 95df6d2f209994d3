"""The Graph: a directed multigraph (or a bipartite message-flow block) with feature frames.

Structure is kept as COO (``src``, ``dst`` edge lists; edge ids are positions in those lists).
The CSR by destination and the CSR by source are built on first use and cached inside a
:class:`gnnkit.ops.SparseAdj`; any mutation replaces it, which drops every cache.

A *block* (message-flow graph) has ``num_src_nodes`` source nodes and ``num_dst_nodes``
destination nodes, the destinations being the first ``num_dst_nodes`` sources. It has separate
``srcdata`` and ``dstdata`` frames. On an ordinary graph ``srcdata``, ``dstdata`` and ``ndata``
are the same frame, so a layer written against ``srcdata``/``dstdata`` runs on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from ..ops import SparseAdj
from .frame import Frame

__all__ = ["Graph", "graph", "block", "NID", "EID", "ALL"]

NID = "_ID"
EID = "_ID"
ALL = slice(None)


def as_id_tensor(ids, name: str, device=None) -> torch.Tensor:
    """Turns node/edge ids into a 1-D int64 tensor, rejecting floats, NaN and negatives."""
    if isinstance(ids, torch.Tensor):
        tensor = ids
    else:
        if isinstance(ids, (int,)) and not isinstance(ids, bool):
            ids = [ids]
        try:
            tensor = torch.as_tensor(ids)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name}: expected integer ids (tensor, list or array), got {type(ids).__name__}") from err
        if tensor.numel() == 0:
            tensor = tensor.to(torch.int64)
    if tensor.is_floating_point() or tensor.is_complex():
        if tensor.is_floating_point() and bool(torch.isnan(tensor).any()):
            raise ValueError(f"{name}: ids contain NaN; expected non-negative integers")
        raise TypeError(f"{name}: ids must be integers, got dtype {tensor.dtype}")
    if tensor.dtype == torch.bool:
        raise TypeError(f"{name}: ids must be integers, got a bool tensor (use a mask with nonzero() first)")
    if tensor.dim() == 0:
        tensor = tensor.view(1)
    if tensor.dim() != 1:
        raise ValueError(f"{name}: ids must be 1-D, got shape {tuple(tensor.shape)}")
    tensor = tensor.to(torch.int64)
    if device is not None:
        tensor = tensor.to(device)
    if tensor.numel() and int(tensor.min()) < 0:
        raise ValueError(f"{name}: ids must be non-negative, got {int(tensor.min())}")
    return tensor


def _check_range(ids: torch.Tensor, limit: int, name: str, what: str) -> None:
    if ids.numel() and int(ids.max()) >= limit:
        raise ValueError(f"{name}: id {int(ids.max())} is out of range; the graph has {limit} {what}")


class Graph:
    """A directed multigraph with node and edge features; see the module docstring.

    Build one with :func:`gnnkit.graph` (or :func:`gnnkit.block` for a message-flow block).
    """

    def __init__(
        self,
        src: torch.Tensor,
        dst: torch.Tensor,
        num_src: int,
        num_dst: int | None = None,
        *,
        is_block: bool = False,
    ):
        # Trusted constructor: ids already validated int64 tensors on one device.
        num_dst = num_src if num_dst is None else num_dst
        self._adj = SparseAdj(src, dst, num_src, num_dst)
        self._is_block = is_block
        device = src.device
        self._srcframe = Frame(num_src, device, "srcdata" if is_block else "ndata")
        self._dstframe = Frame(num_dst, device, "dstdata") if is_block else self._srcframe
        self._edata = Frame(src.numel(), device, "edata")
        self._batch_num_nodes: torch.Tensor | None = None
        self._batch_num_edges: torch.Tensor | None = None

    # ------------------------------------------------------------------------------------------
    # sizes and ids

    @property
    def is_block(self) -> bool:
        return self._is_block

    @property
    def device(self) -> torch.device:
        return self._adj.device

    @property
    def idtype(self) -> torch.dtype:
        return torch.int64

    @property
    def sparse(self) -> SparseAdj:
        """The kernels' view of the structure (COO with cached CSR by dst and by src)."""
        return self._adj

    def num_nodes(self) -> int:
        if self._is_block:
            raise AttributeError("num_nodes() is ambiguous on a block; use num_src_nodes() or num_dst_nodes()")
        return self._adj.num_src

    number_of_nodes = num_nodes

    def num_src_nodes(self) -> int:
        return self._adj.num_src

    def num_dst_nodes(self) -> int:
        return self._adj.num_dst

    def num_edges(self) -> int:
        return self._adj.num_edges

    number_of_edges = num_edges

    def nodes(self) -> torch.Tensor:
        return torch.arange(self.num_nodes(), device=self.device)

    def srcnodes(self) -> torch.Tensor:
        return torch.arange(self.num_src_nodes(), device=self.device)

    def dstnodes(self) -> torch.Tensor:
        return torch.arange(self.num_dst_nodes(), device=self.device)

    # ------------------------------------------------------------------------------------------
    # features

    @property
    def ndata(self) -> Frame:
        if self._is_block:
            raise AttributeError("a block has separate source and destination features: use srcdata / dstdata")
        return self._srcframe

    @property
    def srcdata(self) -> Frame:
        return self._srcframe

    @property
    def dstdata(self) -> Frame:
        return self._dstframe

    @property
    def edata(self) -> Frame:
        return self._edata

    @contextlib.contextmanager
    def local_scope(self):
        """Features set or removed inside the ``with`` block are dropped when it ends.

        In-place changes to an existing tensor are not undone (as in DGL)."""
        frames = [self._srcframe, self._edata] + ([self._dstframe] if self._is_block else [])
        saved = [f.snapshot() for f in frames]
        try:
            yield self
        finally:
            for frame, columns in zip(frames, saved):
                frame.restore(columns)

    def local_var(self) -> "Graph":
        """A shallow copy sharing structure and feature tensors, with its own frames."""
        return self._shallow_copy()

    # ------------------------------------------------------------------------------------------
    # structure queries

    def edges(self, form: str = "uv", order: str = "eid"):
        """All edges as ``(src, dst)`` (``form='uv'``), edge ids (``'eid'``) or ``(src, dst, eid)`` (``'all'``).

        ``order='eid'`` lists them by edge id; ``'srcdst'`` sorts by source then destination."""
        if form not in ("uv", "eid", "all"):
            raise ValueError(f"edges: form must be 'uv', 'eid' or 'all', got {form!r}")
        if order not in ("eid", "srcdst"):
            raise ValueError(f"edges: order must be 'eid' or 'srcdst', got {order!r}")
        src, dst = self._adj.src, self._adj.dst
        eid = torch.arange(src.numel(), device=self.device)
        if order == "srcdst" and src.numel():
            key = src * max(1, self.num_dst_nodes()) + dst
            perm = torch.sort(key, stable=True).indices
            src, dst, eid = src[perm], dst[perm], eid[perm]
        return _edge_form(src, dst, eid, form)

    all_edges = edges

    def in_degrees(self, v=ALL) -> torch.Tensor | int:
        deg = self._adj.in_degrees()
        return _select(deg, v, self.num_dst_nodes(), "in_degrees: v")

    def out_degrees(self, u=ALL) -> torch.Tensor | int:
        deg = self._adj.out_degrees()
        return _select(deg, u, self.num_src_nodes(), "out_degrees: u")

    def predecessors(self, v: int) -> torch.Tensor:
        v = self._scalar_node(v, self.num_dst_nodes(), "predecessors: v")
        view = self._adj.in_csr()
        return view.indices[view.indptr[v] : view.indptr[v + 1]]

    def successors(self, u: int) -> torch.Tensor:
        u = self._scalar_node(u, self.num_src_nodes(), "successors: u")
        view = self._adj.out_csr()
        return view.indices[view.indptr[u] : view.indptr[u + 1]]

    def in_edges(self, v, form: str = "uv"):
        v = self._node_ids(v, self.num_dst_nodes(), "in_edges: v")
        eid = self._incident(self._adj.in_csr(), v)
        return _edge_form(self._adj.src[eid], self._adj.dst[eid], eid, form)

    def out_edges(self, u, form: str = "uv"):
        u = self._node_ids(u, self.num_src_nodes(), "out_edges: u")
        eid = self._incident(self._adj.out_csr(), u)
        return _edge_form(self._adj.src[eid], self._adj.dst[eid], eid, form)

    def _incident(self, view, nodes: torch.Tensor) -> torch.Tensor:
        return view.edge_ids(view.row_positions(nodes))

    def has_edges_between(self, u, v) -> torch.Tensor | bool:
        scalar = _is_scalar(u) and _is_scalar(v)
        found = self._lookup_edges(u, v, "has_edges_between") >= 0
        return bool(found[0]) if scalar else found

    has_edge_between = has_edges_between

    def edge_ids(self, u, v, return_uv: bool = False):
        """Edge id of each ``(u[i], v[i])`` (the smallest when there are multi-edges).

        Raises when a pair is not an edge. ``return_uv=True`` returns every matching edge as
        ``(src, dst, eid)``."""
        if return_uv:
            u = self._node_ids(u, self.num_src_nodes(), "edge_ids: u")
            v = self._node_ids(v, self.num_dst_nodes(), "edge_ids: v")
            src, dst, eid = self.out_edges(u, form="all")
            pair_key = u * self.num_dst_nodes() + v
            key = src * self.num_dst_nodes() + dst
            keep = torch.isin(key, pair_key)
            return src[keep], dst[keep], eid[keep]
        scalar = _is_scalar(u) and _is_scalar(v)
        eids = self._lookup_edges(u, v, "edge_ids")
        if bool((eids < 0).any()):
            bad = int(torch.nonzero(eids < 0)[0])
            uu = self._node_ids(u, self.num_src_nodes(), "u")
            vv = self._node_ids(v, self.num_dst_nodes(), "v")
            raise ValueError(f"edge_ids: ({int(uu[bad])}, {int(vv[bad])}) is not an edge of the graph")
        return int(eids[0]) if scalar else eids

    def _lookup_edges(self, u, v, name: str) -> torch.Tensor:
        u = self._node_ids(u, self.num_src_nodes(), f"{name}: u")
        v = self._node_ids(v, self.num_dst_nodes(), f"{name}: v")
        u, v = _broadcast_pair(u, v, name)
        # Binary search in the (src, dst)-sorted key list; -1 where absent.
        width = max(1, self.num_dst_nodes())
        src, dst = self._adj.src, self._adj.dst
        key = src * width + dst
        sorted_key, order = torch.sort(key, stable=True)
        query = u * width + v
        pos = torch.searchsorted(sorted_key, query)
        pos_c = pos.clamp(max=max(0, sorted_key.numel() - 1))
        hit = (pos < sorted_key.numel()) & (sorted_key[pos_c] == query) if sorted_key.numel() else torch.zeros_like(query, dtype=torch.bool)
        return torch.where(hit, order[pos_c] if sorted_key.numel() else query, -1)

    def find_edges(self, eid):
        """``(src, dst)`` of the given edge ids."""
        eid = as_id_tensor(eid, "find_edges: eid", self.device)
        _check_range(eid, self.num_edges(), "find_edges: eid", "edges")
        return self._adj.src[eid], self._adj.dst[eid]

    def adj(self, transpose: bool = False, weight: str | torch.Tensor | None = None) -> torch.Tensor:
        """The adjacency as a coalesced torch sparse COO tensor, ``A[src, dst]`` (multi-edges summed).

        ``transpose=True`` gives ``A[dst, src]``; ``weight`` names an edge feature (or is a
        tensor) to use as values instead of ones."""
        if isinstance(weight, str):
            weight = self._edata[weight]
        values = torch.ones(self.num_edges(), device=self.device) if weight is None else weight
        rows, cols = (self._adj.dst, self._adj.src) if transpose else (self._adj.src, self._adj.dst)
        shape = (self.num_dst_nodes(), self.num_src_nodes()) if transpose else (self.num_src_nodes(), self.num_dst_nodes())
        return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (*shape, *values.shape[1:])).coalesce()

    def adj_external(self, scipy_fmt: str = "csr", transpose: bool = False):
        from .convert import to_scipy

        return to_scipy(self, fmt=scipy_fmt, transpose=transpose)

    # ------------------------------------------------------------------------------------------
    # batching

    @property
    def batch_size(self) -> int:
        return 1 if self._batch_num_nodes is None else int(self._batch_num_nodes.numel())

    def batch_num_nodes(self) -> torch.Tensor:
        """Number of nodes of each graph in the batch (one entry for an unbatched graph)."""
        if self._batch_num_nodes is None:
            return torch.tensor([self.num_src_nodes()], device=self.device)
        return self._batch_num_nodes

    def batch_num_edges(self) -> torch.Tensor:
        if self._batch_num_edges is None:
            return torch.tensor([self.num_edges()], device=self.device)
        return self._batch_num_edges

    def set_batch_num_nodes(self, counts) -> None:
        counts = as_id_tensor(counts, "set_batch_num_nodes: counts", self.device)
        if int(counts.sum()) != self.num_src_nodes():
            raise ValueError(f"set_batch_num_nodes: counts sum to {int(counts.sum())}, the graph has {self.num_src_nodes()} nodes")
        self._batch_num_nodes = counts

    def set_batch_num_edges(self, counts) -> None:
        counts = as_id_tensor(counts, "set_batch_num_edges: counts", self.device)
        if int(counts.sum()) != self.num_edges():
            raise ValueError(f"set_batch_num_edges: counts sum to {int(counts.sum())}, the graph has {self.num_edges()} edges")
        self._batch_num_edges = counts

    def node_graph_ids(self) -> torch.Tensor:
        """For each node, the index of its graph in the batch: the segment ids of readouts. [N]"""
        counts = self.batch_num_nodes()
        return torch.repeat_interleave(torch.arange(counts.numel(), device=self.device), counts)

    def edge_graph_ids(self) -> torch.Tensor:
        """For each edge, the index of its graph in the batch. [E]"""
        counts = self.batch_num_edges()
        return torch.repeat_interleave(torch.arange(counts.numel(), device=self.device), counts)

    # ------------------------------------------------------------------------------------------
    # copies and devices

    def _shallow_copy(self) -> "Graph":
        g = Graph.__new__(Graph)
        g._adj = self._adj
        g._is_block = self._is_block
        g._srcframe = self._srcframe.clone()
        g._dstframe = self._dstframe.clone() if self._is_block else g._srcframe
        g._edata = self._edata.clone()
        g._batch_num_nodes = self._batch_num_nodes
        g._batch_num_edges = self._batch_num_edges
        return g

    def clone(self) -> "Graph":
        """A copy with its own structure and frames (feature tensors are shared until replaced)."""
        g = self._shallow_copy()
        g._adj = SparseAdj(self._adj.src.clone(), self._adj.dst.clone(), self._adj.num_src, self._adj.num_dst)
        return g

    def to(self, device, **kwargs) -> "Graph":
        """A copy of the graph and all its features on ``device``."""
        device = torch.device(device)
        if device == self.device:
            return self
        g = Graph.__new__(Graph)
        g._adj = self._adj.to(device)
        g._is_block = self._is_block
        g._srcframe = self._srcframe.to(device)
        g._dstframe = self._dstframe.to(device) if self._is_block else g._srcframe
        g._edata = self._edata.to(device)
        g._batch_num_nodes = None if self._batch_num_nodes is None else self._batch_num_nodes.to(device)
        g._batch_num_edges = None if self._batch_num_edges is None else self._batch_num_edges.to(device)
        return g

    def cpu(self) -> "Graph":
        return self.to("cpu")

    def __repr__(self) -> str:
        if self._is_block:
            head = f"Block(num_src_nodes={self.num_src_nodes()}, num_dst_nodes={self.num_dst_nodes()}, num_edges={self.num_edges()}"
            feats = f"srcdata={list(self._srcframe)}, dstdata={list(self._dstframe)}, edata={list(self._edata)}"
        else:
            head = f"Graph(num_nodes={self.num_nodes()}, num_edges={self.num_edges()}"
            feats = f"ndata={list(self._srcframe)}, edata={list(self._edata)}"
        batch = f", batch_size={self.batch_size}" if self._batch_num_nodes is not None else ""
        return f"{head}{batch},\n      {feats})"

    # ------------------------------------------------------------------------------------------
    # mutation (in place; features stay aligned; caches dropped)

    def _set_structure(self, src: torch.Tensor, dst: torch.Tensor, num_src: int, num_dst: int | None = None) -> None:
        self._adj = SparseAdj(src, dst, num_src, num_src if num_dst is None else num_dst)

    def add_nodes(self, num: int, data: dict | None = None) -> None:
        """Appends ``num`` nodes; their features come from ``data`` or are zero."""
        self._no_block_mutation("add_nodes")
        if not isinstance(num, int) or isinstance(num, bool) or num < 0:
            raise ValueError(f"add_nodes: num must be a non-negative int, got {num!r}")
        self._srcframe = self._dstframe = self._srcframe.extended(num, data)
        n = self.num_nodes() + num
        self._set_structure(self._adj.src, self._adj.dst, n)
        if self._batch_num_nodes is not None:
            self._batch_num_nodes = self._batch_num_nodes.clone()
            self._batch_num_nodes[-1] += num

    def add_edges(self, u, v, data: dict | None = None) -> None:
        """Appends edges ``u[i] -> v[i]``; nodes beyond the current count are added first.

        New edge features come from ``data`` or are zero."""
        self._no_block_mutation("add_edges")
        u = as_id_tensor(u, "add_edges: u", self.device)
        v = as_id_tensor(v, "add_edges: v", self.device)
        u, v = _broadcast_pair(u, v, "add_edges")
        needed = int(torch.maximum(u.max(), v.max())) + 1 if u.numel() else 0
        if needed > self.num_nodes():
            self.add_nodes(needed - self.num_nodes())
        self._edata = self._edata.extended(u.numel(), data)
        self._set_structure(torch.cat([self._adj.src, u]), torch.cat([self._adj.dst, v]), self.num_nodes())
        if self._batch_num_edges is not None:
            self._batch_num_edges = self._batch_num_edges.clone()
            self._batch_num_edges[-1] += u.numel()

    def remove_edges(self, eids, store_ids: bool = False) -> None:
        """Removes edges by id; later edges are renumbered in order."""
        self._no_block_mutation("remove_edges")
        eids = as_id_tensor(eids, "remove_edges: eids", self.device)
        _check_range(eids, self.num_edges(), "remove_edges: eids", "edges")
        keep = torch.ones(self.num_edges(), dtype=torch.bool, device=self.device)
        keep[eids] = False
        if self._batch_num_edges is not None:
            removed = torch.bincount(self.edge_graph_ids()[~keep], minlength=self.batch_size)
            self._batch_num_edges = self._batch_num_edges - removed
        if store_ids:
            self._edata[EID] = torch.arange(self.num_edges(), device=self.device)
        self._edata = self._edata.subset(keep)
        self._set_structure(self._adj.src[keep], self._adj.dst[keep], self.num_nodes())

    def remove_nodes(self, nids, store_ids: bool = False) -> None:
        """Removes nodes and their incident edges; remaining nodes are renumbered in order."""
        self._no_block_mutation("remove_nodes")
        nids = as_id_tensor(nids, "remove_nodes: nids", self.device)
        _check_range(nids, self.num_nodes(), "remove_nodes: nids", "nodes")
        keep_node = torch.ones(self.num_nodes(), dtype=torch.bool, device=self.device)
        keep_node[nids] = False
        src, dst = self._adj.src, self._adj.dst
        keep_edge = keep_node[src] & keep_node[dst]
        if self._batch_num_nodes is not None:
            self._batch_num_nodes = self._batch_num_nodes - torch.bincount(self.node_graph_ids()[~keep_node], minlength=self.batch_size)
            self._batch_num_edges = self._batch_num_edges - torch.bincount(self.edge_graph_ids()[~keep_edge], minlength=self.batch_size)
        new_id = torch.cumsum(keep_node, 0) - 1
        if store_ids:
            self._srcframe[NID] = torch.arange(self.num_nodes(), device=self.device)
            self._edata[EID] = torch.arange(self.num_edges(), device=self.device)
        self._srcframe = self._dstframe = self._srcframe.subset(keep_node)
        self._edata = self._edata.subset(keep_edge)
        self._set_structure(new_id[src[keep_edge]], new_id[dst[keep_edge]], int(keep_node.sum()))

    def _no_block_mutation(self, name: str) -> None:
        if self._is_block:
            raise TypeError(f"{name}: blocks (message-flow graphs) cannot be mutated")

    # ------------------------------------------------------------------------------------------
    # message passing: thin forwards to gnnkit.core, which owns the logic

    def update_all(self, message_func, reduce_func, apply_node_func=None) -> None:
        from ..core import update_all

        update_all(self, message_func, reduce_func, apply_node_func)

    def apply_edges(self, func, edges=ALL) -> None:
        from ..core import apply_edges

        apply_edges(self, func, edges)

    def apply_nodes(self, func, v=ALL) -> None:
        from ..core import apply_nodes

        apply_nodes(self, func, v)

    def send_and_recv(self, edges, message_func, reduce_func, apply_node_func=None) -> None:
        from ..core import send_and_recv

        send_and_recv(self, edges, message_func, reduce_func, apply_node_func)

    def pull(self, v, message_func, reduce_func, apply_node_func=None) -> None:
        from ..core import pull

        pull(self, v, message_func, reduce_func, apply_node_func)

    def push(self, u, message_func, reduce_func, apply_node_func=None) -> None:
        from ..core import push

        push(self, u, message_func, reduce_func, apply_node_func)

    def filter_nodes(self, predicate, nodes=ALL) -> torch.Tensor:
        from ..core import filter_nodes

        return filter_nodes(self, predicate, nodes)

    def filter_edges(self, predicate, edges=ALL) -> torch.Tensor:
        from ..core import filter_edges

        return filter_edges(self, predicate, edges)

    # ------------------------------------------------------------------------------------------
    # helpers

    def _node_ids(self, ids, limit: int, name: str) -> torch.Tensor:
        if isinstance(ids, slice) and ids == ALL:
            return torch.arange(limit, device=self.device)
        ids = as_id_tensor(ids, name, self.device)
        _check_range(ids, limit, name, "nodes")
        return ids

    def _scalar_node(self, v, limit: int, name: str) -> int:
        ids = self._node_ids(v, limit, name)
        if ids.numel() != 1:
            raise ValueError(f"{name}: expected a single node id, got {ids.numel()}")
        return int(ids[0])


def _broadcast_pair(u: torch.Tensor, v: torch.Tensor, name: str):
    """Pairs up ``u`` and ``v`` ids; a single id on one side pairs with every id on the other."""
    if u.numel() == v.numel():
        return u, v
    if u.numel() == 1:
        return u.expand(v.numel()), v
    if v.numel() == 1:
        return u, v.expand(u.numel())
    raise ValueError(f"{name}: u has {u.numel()} ids but v has {v.numel()}; they must match")


def _is_scalar(x) -> bool:
    return isinstance(x, int) or (isinstance(x, torch.Tensor) and x.dim() == 0)


def _select(values: torch.Tensor, ids, limit: int, name: str):
    if isinstance(ids, slice) and ids == ALL:
        return values
    scalar = _is_scalar(ids)
    ids = as_id_tensor(ids, name, values.device)
    _check_range(ids, limit, name, "nodes")
    out = values[ids]
    return int(out[0]) if scalar else out


def _edge_form(src, dst, eid, form):
    if form == "uv":
        return src, dst
    if form == "eid":
        return eid
    if form == "all":
        return src, dst, eid
    raise ValueError(f"form must be 'uv', 'eid' or 'all', got {form!r}")


def _validated_pair(data, name: str, device=None):
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)) or len(data) != 2:
        if isinstance(data, torch.Tensor) and data.dim() == 2 and data.shape[0] == 2:
            data = (data[0], data[1])
        else:
            raise TypeError(f"{name}: expected a (src, dst) pair of id tensors or lists, got {type(data).__name__}")
    src = as_id_tensor(data[0], f"{name}: src", device)
    dst = as_id_tensor(data[1], f"{name}: dst", device)
    if src.numel() != dst.numel():
        raise ValueError(f"{name}: src has {src.numel()} ids but dst has {dst.numel()}; they must be the same length")
    if src.device != dst.device:
        raise ValueError(f"{name}: src is on {src.device} but dst is on {dst.device}")
    return src, dst


def graph(data, num_nodes: int | None = None, device=None, **_ignored) -> Graph:
    """Builds a directed multigraph from ``(src, dst)`` id lists (or a ``[2, E]`` edge_index).

    ``num_nodes`` defaults to one more than the largest id; ids must be below it.

    >>> g = graph(([0, 1, 2], [1, 2, 0]))
    >>> g.num_nodes(), g.num_edges()
    (3, 3)
    """
    src, dst = _validated_pair(data, "graph", device)
    inferred = int(torch.maximum(src.max(), dst.max())) + 1 if src.numel() else 0
    if num_nodes is None:
        num_nodes = inferred
    elif not isinstance(num_nodes, int) or isinstance(num_nodes, bool) or num_nodes < 0:
        raise ValueError(f"graph: num_nodes must be a non-negative int, got {num_nodes!r}")
    elif inferred > num_nodes:
        bad = "src" if src.numel() and int(src.max()) + 1 == inferred else "dst"
        raise ValueError(f"graph: {bad} contains node id {inferred - 1} but num_nodes is {num_nodes}; ids must be < num_nodes")
    return Graph(src, dst, num_nodes)


def block(data, num_src_nodes: int | None = None, num_dst_nodes: int | None = None, device=None) -> Graph:
    """Builds a bipartite message-flow block: edges go from ``num_src_nodes`` sources to
    ``num_dst_nodes`` destinations, the destinations being the first sources."""
    src, dst = _validated_pair(data, "block", device)
    if num_src_nodes is None:
        num_src_nodes = int(src.max()) + 1 if src.numel() else 0
    if num_dst_nodes is None:
        num_dst_nodes = int(dst.max()) + 1 if dst.numel() else 0
    if num_dst_nodes > num_src_nodes:
        raise ValueError(
            f"block: num_dst_nodes ({num_dst_nodes}) exceeds num_src_nodes ({num_src_nodes}); "
            "destinations must be a prefix of the sources"
        )
    _check_range(src, num_src_nodes, "block: src", "source nodes")
    _check_range(dst, num_dst_nodes, "block: dst", "destination nodes")
    return Graph(src, dst, num_src_nodes, num_dst_nodes, is_block=True)
