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
"""

from __future__ import annotations

import torch

__all__ = ["History"]


class History(torch.nn.Module):
    """``History(num_nodes, dim, device=None)``: a ``[num_nodes, dim]`` embedding store.

    ``device`` is where the model runs (pulls return tensors there); the store itself is on
    the CPU (pinned when ``device`` is CUDA)."""

    def __init__(self, num_nodes: int, dim: int, device=None, dtype: torch.dtype = torch.float32):
        super().__init__()
        for name, value in (("num_nodes", num_nodes), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"History: {name} must be a non-negative int, got {value!r}")
        self.num_nodes = num_nodes
        self.dim = dim
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self._cuda = self.device.type == "cuda"
        # emb: [N, F]; not a buffer: it must not move to the GPU with model.to().
        self.emb = torch.zeros(num_nodes, dim, dtype=dtype, pin_memory=self._cuda)
        self._stream = torch.cuda.Stream(self.device) if self._cuda else None
        self._pending: list = []
        self._gap_sum = 0.0
        self._gap_count = 0

    def reset_parameters(self) -> None:
        self.synchronize()
        self.emb.zero_()
        self.reset_staleness()

    def _check_ids(self, ids: torch.Tensor, name: str) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point():
            raise ValueError(f"History.{name}: ids must be a 1-D integer tensor, got {getattr(ids, 'shape', type(ids).__name__)}")
        ids = ids.to("cpu", torch.int64)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_nodes):
            raise ValueError(f"History.{name}: ids must lie in [0, {self.num_nodes}), got range [{int(ids.min())}, {int(ids.max())}]")
        return ids

    @torch.no_grad()
    def pull(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """The stored embeddings of ``ids`` (all nodes for ``None``), on the model's device. [len(ids), F]"""
        self.synchronize()
        if ids is None:
            return self.emb.to(self.device, non_blocking=self._cuda)
        ids = self._check_ids(ids, "pull")
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
        return f"num_nodes={self.num_nodes}, dim={self.dim}, device={self.device}"
