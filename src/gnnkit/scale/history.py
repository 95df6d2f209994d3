"""Historical embeddings for GNNAutoScale (Fey et al., *GNNAutoScale: Scalable and Expressive
Graph Neural Networks via Historical Embeddings*, ICML 2021).

A :class:`History` stores one embedding per node for one hidden layer. During a mini-batch
step the in-batch nodes ``push`` their fresh embeddings and the out-of-batch neighbours are
``pull``-ed from the store, so layer ``l`` of a batch sees ``h^l_v`` fresh for ``v`` in the batch
and ``\\bar h^l_v`` (the value from the last step that computed it) for the halo.

Memory: the store lives in CPU memory. When the model runs on CUDA it is pinned, pulls gather
into a pinned staging buffer and copy to the GPU without blocking on a side stream (the compute
stream waits on an event before using the result), and pushes copy back asynchronously and are
written into the store at the next synchronisation point, so transfers overlap compute. On CPU
they are plain indexed copies.

Staleness: every push measures the mean L2 distance between the stored and the fresh
embedding of the pushed nodes (``||\\bar h_v - h_v||``); :meth:`staleness` returns the average
since the last reset.

Compact stores: ``History(num_nodes, dim, nodes=ids)`` keeps rows only for ``ids``. GAS pulls
a node only when it is in the halo of a batch, i.e. when it has an out-edge into another
cluster (:meth:`SubgraphLoader.boundary_nodes`); on graphs with locality that is a fraction of
the nodes (about 41% on the 2M-node community graph of ``benchmarks/bench_gas.py``), and the
other rows would be written every epoch and never read. Pushes of nodes outside ``ids`` are
skipped (and do not enter the staleness); pulling one is an error. A ``[num_nodes]`` int32
map gives each node its row (-1: not stored).
"""

from __future__ import annotations

import torch

__all__ = ["History"]


class History(torch.nn.Module):
    """``History(num_nodes, dim, device=None, dtype=torch.float32, nodes=None)``: an embedding
    store of ``dim`` values for every node (``[num_nodes, dim]``), or only for ``nodes``.

    ``device`` is where the model runs (pulls return tensors there); the store itself is on
    the CPU (pinned when ``device`` is CUDA). ``dtype`` is the storage type (``float16`` or
    ``bfloat16`` halve the memory; values are cast on push and on pull). ``nodes``: unique
    ids of the nodes to keep (default all); see the module docstring."""

    def __init__(self, num_nodes: int, dim: int, device=None, dtype: torch.dtype = torch.float32, nodes: torch.Tensor | None = None):
        super().__init__()
        for name, value in (("num_nodes", num_nodes), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"History: {name} must be a non-negative int, got {value!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"History: dtype must be a floating-point torch.dtype, got {dtype!r}")
        self.num_nodes = num_nodes
        self.dim = dim
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self._cuda = self.device.type == "cuda"
        # slot: [num_nodes] row of each node in emb (-1: not stored); None when every node is.
        self._slot = None if nodes is None else _slot_map(nodes, num_nodes)
        rows = num_nodes if nodes is None else int(nodes.numel())
        # emb: [rows, F]; not a buffer: it must not move to the GPU with model.to().
        self.emb = torch.zeros(rows, dim, dtype=dtype, pin_memory=self._cuda)
        self._stream = torch.cuda.Stream(self.device) if self._cuda else None
        self._pending: list = []
        self._gap_sum = 0.0
        self._gap_count = 0

    def reset_parameters(self) -> None:
        self.synchronize()
        self.emb.zero_()
        self.reset_staleness()

    @property
    def stores_all_nodes(self) -> bool:
        return self._slot is None

    def stored_nodes(self) -> torch.Tensor:
        """Ids of the nodes with a row, in row order. [rows]"""
        if self._slot is None:
            return torch.arange(self.num_nodes)
        stored = torch.empty(self.emb.shape[0], dtype=torch.int64)
        mask = self._slot >= 0
        stored[self._slot[mask].to(torch.int64)] = torch.nonzero(mask).squeeze(1)
        return stored

    def _check_ids(self, ids: torch.Tensor, name: str) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point():
            raise ValueError(f"History.{name}: ids must be a 1-D integer tensor, got {getattr(ids, 'shape', type(ids).__name__)}")
        ids = ids.to("cpu", torch.int64)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_nodes):
            raise ValueError(f"History.{name}: ids must lie in [0, {self.num_nodes}), got range [{int(ids.min())}, {int(ids.max())}]")
        return ids

    def _rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of ``ids`` in ``emb`` (-1 for nodes that are not stored). [len(ids)]"""
        return ids if self._slot is None else self._slot.index_select(0, ids).to(torch.int64)

    @torch.no_grad()
    def pull(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """The stored embeddings of ``ids`` (every row, in row order, for ``None``), on the
        model's device. [len(ids), F]"""
        self.synchronize()
        if ids is None:
            return self.emb.to(self.device, non_blocking=self._cuda)
        ids = self._rows(self._check_ids(ids, "pull"))
        if ids.numel() and int(ids.min()) < 0:
            missing = int((ids < 0).sum())
            raise ValueError(f"History.pull: {missing} of the {ids.numel()} requested node(s) have no row in this compact store (built with nodes=...)")
        if not self._cuda:
            return self.emb.index_select(0, ids)
        staging = torch.empty(ids.numel(), self.dim, dtype=self.emb.dtype, pin_memory=True)
        torch.index_select(self.emb, 0, ids, out=staging)
        with torch.cuda.stream(self._stream):
            out = staging.to(self.device, non_blocking=True)
        torch.cuda.current_stream(self.device).wait_stream(self._stream)
        out.record_stream(torch.cuda.current_stream(self.device))
        return out

    @torch.no_grad()
    def push(self, x: torch.Tensor, ids: torch.Tensor, track_staleness: bool = True) -> None:
        """Stores ``x`` [len(ids), F] as the embeddings of ``ids`` (detached)."""
        ids = self._check_ids(ids, "push")
        if x.dim() != 2 or x.shape != (ids.numel(), self.dim):
            raise ValueError(f"History.push: x must have shape [{ids.numel()}, {self.dim}], got {tuple(x.shape)}")
        x = x.detach()
        ids = self._rows(ids)
        if self._slot is not None:
            # Nodes no batch ever pulls have no row: their push is dropped.
            kept = ids >= 0
            if not bool(kept.all()):
                kept_rows = torch.nonzero(kept).squeeze(1)
                ids = ids.index_select(0, kept_rows)
                x = x.index_select(0, kept_rows.to(x.device))
        if not self._cuda:
            self._record_gap(self.emb.index_select(0, ids), x, track_staleness)
            self.emb.index_copy_(0, ids, x.to(self.emb.dtype))
            return
        staging = torch.empty(x.shape, dtype=self.emb.dtype, pin_memory=True)
        self._stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._stream):
            staging.copy_(x, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self._stream)
        x.record_stream(self._stream)
        self._pending.append((staging, ids, done, track_staleness))

    def synchronize(self) -> None:
        """Writes the asynchronous pushes (CUDA) into the store."""
        while self._pending:
            staging, ids, done, track = self._pending.pop(0)
            done.synchronize()
            self._record_gap(self.emb.index_select(0, ids), staging, track)
            self.emb.index_copy_(0, ids, staging)

    def _record_gap(self, old: torch.Tensor, new: torch.Tensor, track: bool) -> None:
        if track and old.numel():
            # In float32 even for half-precision stores (their squared norms overflow easily).
            gap = old.to(torch.float32) - new.to(old.device, torch.float32)
            self._gap_sum += float(gap.norm(dim=1).sum())
            self._gap_count += old.shape[0]

    def staleness(self) -> float:
        """Mean L2 gap between stored and fresh embeddings over the pushes since the last reset."""
        self.synchronize()
        return self._gap_sum / self._gap_count if self._gap_count else 0.0

    def reset_staleness(self) -> None:
        self._gap_sum, self._gap_count = 0.0, 0

    def extra_repr(self) -> str:
        stored = "" if self._slot is None else f", stored_rows={self.emb.shape[0]}"
        return f"num_nodes={self.num_nodes}, dim={self.dim}{stored}, dtype={self.emb.dtype}, device={self.device}"


def _slot_map(nodes: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """``[num_nodes]`` int32: the row of each of ``nodes`` (their position), -1 elsewhere."""
    if not isinstance(nodes, torch.Tensor) or nodes.dim() != 1 or nodes.is_floating_point():
        raise ValueError(f"History: nodes must be a 1-D integer tensor of node ids, got {getattr(nodes, 'shape', type(nodes).__name__)}")
    nodes = nodes.to("cpu", torch.int64)
    if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= num_nodes):
        raise ValueError(f"History: nodes must lie in [0, {num_nodes}), got range [{int(nodes.min())}, {int(nodes.max())}]")
    if num_nodes >= 2**31:
        raise ValueError(f"History: compact stores need fewer than 2**31 nodes, got {num_nodes}")
    slot = torch.full((num_nodes,), -1, dtype=torch.int32)
    slot.index_copy_(0, nodes, torch.arange(nodes.numel(), dtype=torch.int32))
    if nodes.numel() and int((slot >= 0).sum()) != nodes.numel():
        raise ValueError("History: nodes must not repeat an id")
    return slot
