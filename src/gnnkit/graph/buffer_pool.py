"""Reuse of large CPU output buffers that the caller has dropped.

PyTorch has no caching allocator on the CPU: a tensor of tens of megabytes comes from ``mmap`` or
a freshly grown heap, and glibc hands it back to the kernel when it is freed. Every call that
builds such a tensor then page-faults its whole extent, and the kernel zeroes each page before
the copy writes it again. For ``gk.batch`` of a million edges that is 30 MB of faults per batch,
more than the copying itself.

:class:`BufferPool` keeps the storages of recent outputs. A storage is handed out again only
when the pool holds its last reference (checked through the storage's use count: any live
tensor, view, autograd-saved tensor, NumPy array or DLPack capsule of it holds one) and it is
not in shared memory (a DataLoader worker's output moves there and may still be read by the
parent). If PyTorch does not expose the use count the pool never reuses anything.
"""

from __future__ import annotations

import threading

import torch

__all__ = ["BufferPool"]

_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _calibrate() -> int | None:
    # The count seen for a tensor nobody else references: the tensor's own reference plus the
    # temporary storage object made to ask.
    if _use_count is None:
        return None
    probe = torch.empty(1)
    return _use_count(probe.untyped_storage()._cdata)


_UNREFERENCED = _calibrate()


class BufferPool:
    """Up to ``slots`` CPU storages of at least ``min_bytes`` each, handed out again once free.

    ``empty(numel, dtype)`` returns a 1-D tensor of ``numel`` elements, a view of a pooled
    storage of ``numel`` to ``2 * numel`` elements when one is free, else of a new storage that
    joins the pool (evicting a free one when the pool is full).
    """

    def __init__(self, slots: int = 6, min_bytes: int = 1 << 20):
        if slots < 0:
            raise ValueError(f"BufferPool: slots must be >= 0, got {slots}")
        self.slots = slots
        self.min_bytes = min_bytes
        self._buffers: list[torch.Tensor] = []
        self._lock = threading.Lock()

    def empty(self, numel: int, dtype: torch.dtype, device) -> torch.Tensor:
        device = torch.device(device)
        nbytes = numel * dtype.itemsize
        if device.type != "cpu" or nbytes < self.min_bytes or _UNREFERENCED is None or self.slots == 0:
            return torch.empty(numel, dtype=dtype, device=device)
        with self._lock:
            # A storage moved to shared memory (sent by a DataLoader worker) is never reused.
            self._buffers = [b for b in self._buffers if not b.untyped_storage().is_shared()]
            free = [b for b in self._buffers if self._is_free(b)]
            for buf in free:
                if buf.dtype == dtype and numel <= buf.numel() <= 2 * numel:
                    return buf[:numel]
            fresh = torch.empty(numel, dtype=dtype)
            if len(self._buffers) >= self.slots and free:
                self._buffers = [b for b in self._buffers if b is not free[0]]  # identity: == is elementwise
            if len(self._buffers) < self.slots:
                self._buffers.append(fresh)
            # Always a view: the caller's tensor must hold its own reference to the storage.
            return fresh[:numel]

    @staticmethod
    def _is_free(buf: torch.Tensor) -> bool:
        return _use_count(buf.untyped_storage()._cdata) == _UNREFERENCED

    def clear(self) -> None:
        """Drops the pool's references (memory in use by live tensors stays theirs)."""
        with self._lock:
            self._buffers.clear()

    def __len__(self) -> int:
        return len(self._buffers)
