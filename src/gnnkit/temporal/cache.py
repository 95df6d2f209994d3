"""The cache store of DynaGraph: time-independent aggregations kept per (layer, snapshot).

A sliding window of length ``T`` with stride 1 shares ``T - 1`` snapshots with the window
before it, so the aggregation of an input snapshot (which has no parameters and no gradient)
is computed the first time any window contains it and read back afterwards.

Each key (a layer name) owns one dense buffer ``[capacity, N, D]`` and a ``filled`` mask, so a
batch of windows is served by one gather, and all missing snapshots of a batch are aggregated in
one fused call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["CacheStore", "cache"]


class CacheStore:
    """Aggregations keyed by ``(layer key, snapshot id)``.

    The store belongs to one dataset: snapshot ids must always refer to the same input data and
    graph. Call :meth:`clear` when either changes.
    """

    def __init__(self):
        self._tables: dict = {}
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._tables.clear()
        self.hits = self.misses = 0

    def __contains__(self, key) -> bool:
        layer, snapshot = key
        table = self._tables.get(layer)
        return table is not None and snapshot < table[1].numel() and bool(table[1][snapshot])

    def num_entries(self) -> int:
        return int(sum(int(filled.sum()) for _, filled in self._tables.values()))

    def _table(self, layer, capacity: int, row_shape, like: torch.Tensor):
        table = self._tables.get(layer)
        if table is None:
            buffer = like.new_empty(capacity, *row_shape)
            filled = torch.zeros(capacity, dtype=torch.bool, device=like.device)
        else:
            buffer, filled = table
            if tuple(buffer.shape[1:]) != tuple(row_shape) or buffer.dtype != like.dtype:
                raise ValueError(
                    f"CacheStore: layer {layer!r} holds rows of shape {tuple(buffer.shape[1:])} ({buffer.dtype}); "
                    f"got {tuple(row_shape)} ({like.dtype}). Use a new store or clear() it."
                )
            if capacity > buffer.shape[0]:
                grown = max(capacity, 2 * buffer.shape[0])
                new_buffer = like.new_empty(grown, *row_shape)
                new_buffer[: buffer.shape[0]] = buffer
                new_filled = torch.zeros(grown, dtype=torch.bool, device=like.device)
                new_filled[: filled.numel()] = filled
                buffer, filled = new_buffer, new_filled
        self._tables[layer] = (buffer, filled)
        return buffer, filled

    def fetch(self, layer, snapshot_ids: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Rows for ``snapshot_ids`` ([M] int64), computing the missing ones in one call.

        ``compute(positions)`` gets the positions (into ``snapshot_ids``) of one occurrence of
        every missing snapshot and returns their aggregations ``[len(positions), *row_shape]``.
        Returns ``[M, *row_shape]``.
        """
        snapshot_ids = torch.as_tensor(snapshot_ids, dtype=torch.int64).reshape(-1)
        if snapshot_ids.numel() == 0:
            raise ValueError("CacheStore.fetch: snapshot_ids is empty")
        if int(snapshot_ids.min()) < 0:
            raise ValueError(f"CacheStore.fetch: snapshot ids must be non-negative, got {int(snapshot_ids.min())}")
        unique, inverse = torch.unique(snapshot_ids, return_inverse=True)
        table = self._tables.get(layer)
        if table is None:
            missing = unique
        else:
            in_range = unique < table[1].numel()
            have = torch.zeros_like(in_range)
            have[in_range] = table[1][unique[in_range]]
            missing = unique[~have]
        if missing.numel():
            # Position of the first occurrence of each missing id.
            first = torch.full((int(unique.max()) + 1,), snapshot_ids.numel(), dtype=torch.int64)
            first.scatter_reduce_(0, snapshot_ids, torch.arange(snapshot_ids.numel()), "amin")
            rows = compute(first[missing])
            buffer, filled = self._table(layer, int(unique.max()) + 1, rows.shape[1:], rows)
            buffer[missing] = rows.detach()
            filled[missing] = True
        else:
            buffer, filled = table
        self.misses += int(missing.numel())
        self.hits += int(unique.numel() - missing.numel())
        return buffer[snapshot_ids]


def cache(function: Callable, store: dict | None = None, key: Callable | None = None) -> Callable:
    """DynaGraph's ``cache()``: wraps ``function`` so its output is computed once per key.

    ``key(*args)`` names a call (default: the identity of the positional arguments); a call
    whose key is already in ``store`` returns the stored output without running ``function``.
    Caching a function of trainable inputs is refused (its output would go stale).
    """
    if getattr(function, "_gnnkit_cached", False):
        return function  # already cached: a no-op
    store = {} if store is None else store
    key = key or (lambda *args: tuple(id(a) for a in args))

    def wrapped(*args):
        k = key(*args)
        if k in store:
            return store[k]
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                raise ValueError("cache: an argument requires grad; only time-independent inputs can be cached")
        out = function(*args)
        store[k] = out
        return out

    wrapped._gnnkit_cached = True
    wrapped.store = store
    wrapped.__wrapped__ = function
    return wrapped
