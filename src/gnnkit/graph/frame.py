"""Feature frames: dict-like tables of tensors whose first dimension is the number of rows."""

from __future__ import annotations

import math
from collections.abc import MutableMapping

import torch

__all__ = ["Frame"]


class Frame(MutableMapping):
    """A column store for node or edge features.

    Every column is a tensor with ``num_rows`` rows on the frame's device. Assigning a column of
    another length or on another device is rejected at once, naming the column and both sizes.
    The graph keeps frames aligned with its structure through transforms and mutation.
    """

    __slots__ = ("_columns", "_num_rows", "_device", "_name")

    def __init__(self, num_rows: int, device: torch.device, name: str):
        self._columns: dict[str, torch.Tensor] = {}
        self._num_rows = int(num_rows)
        self._device = torch.device(device)
        self._name = name

    @property
    def num_rows(self) -> int:
        return self._num_rows

    def __getitem__(self, key: str) -> torch.Tensor:
        try:
            return self._columns[key]
        except KeyError:
            known = ", ".join(repr(k) for k in self._columns) or "none"
            raise KeyError(f"{self._name} has no feature {key!r} (it has: {known})") from None

    def __setitem__(self, key: str, value: torch.Tensor) -> None:
        self._columns[key] = self._check(key, value)

    def __delitem__(self, key: str) -> None:
        del self._columns[key]

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        cols = ", ".join(f"{k}: {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}" for k, v in self._columns.items())
        return f"{self._name}({self._num_rows} rows; {cols or 'no features'})"

    def _check(self, key: str, value) -> torch.Tensor:
        if not isinstance(key, str):
            raise TypeError(f"{self._name}: feature names must be strings, got {type(key).__name__}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{self._name}[{key!r}]: expected a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0 or value.shape[0] != self._num_rows:
            raise ValueError(
                f"{self._name}[{key!r}]: expected a tensor with {self._num_rows} rows (first dimension), "
                f"got shape {tuple(value.shape)}"
            )
        if value.device != self._device:
            raise ValueError(f"{self._name}[{key!r}]: the graph is on {self._device} but the tensor is on {value.device}")
        return value

    # -- operations used by the graph to keep features aligned ----------------------------------

    def snapshot(self) -> dict:
        return dict(self._columns)

    def restore(self, columns: dict) -> None:
        self._columns = columns

    def update(self, other=(), **kwargs) -> None:  # type: ignore[override]
        for key, value in dict(other, **kwargs).items():
            self[key] = value

    def subset(self, index: torch.Tensor, name: str | None = None) -> "Frame":
        """A new frame holding the rows ``index`` (a long or bool tensor) of every column."""
        num = int(index.sum()) if index.dtype == torch.bool else index.numel()
        frame = Frame(num, self._device, name or self._name)
        frame._columns = {k: v[index] for k, v in self._columns.items()}
        return frame

    def extended(self, num_new: int, data: dict | None, fill: float = 0.0) -> "Frame":
        """A new frame with ``num_new`` rows appended: from ``data`` where given, else ``fill``."""
        data = data or {}
        frame = Frame(self._num_rows + num_new, self._device, self._name)
        for key, value in data.items():
            if key not in self._columns and self._num_rows > 0:
                raise KeyError(f"{self._name}: new rows give feature {key!r} that the existing rows lack")
        for key, value in self._columns.items():
            if key in data:
                new = torch.as_tensor(data[key], device=self._device, dtype=value.dtype)
                if new.shape != (num_new, *value.shape[1:]):
                    raise ValueError(
                        f"{self._name}[{key!r}]: new rows must have shape {(num_new, *value.shape[1:])}, got {tuple(new.shape)}"
                    )
            else:
                new = value.new_full((num_new, *value.shape[1:]), fill)
            frame._columns[key] = torch.cat([value, new], 0)
        if self._num_rows == 0:
            for key, value in data.items():
                frame[key] = torch.as_tensor(value, device=self._device)
        return frame

    def to(self, device) -> "Frame":
        frame = Frame(self._num_rows, device, self._name)
        frame._columns = {k: v.to(device) for k, v in self._columns.items()}
        return frame

    def clone(self) -> "Frame":
        frame = Frame(self._num_rows, self._device, self._name)
        frame._columns = dict(self._columns)
        return frame

    @staticmethod
    def concat_unfilled(frames: list["Frame"], name: str, device, pool) -> tuple["Frame", list]:
        """Stacks frames row-wise (all must have the same feature names), leaving the copying of
        the pooled columns to the caller.

        Returns the stacked frame and ``(parts, buffer)`` pairs: ``buffer`` is a column of the frame,
        taken from ``pool`` (a :class:`BufferPool`), that must still receive ``torch.cat(parts)``;
        the caller may copy it in row ranges (gk.batch does, one range per thread). Columns that need
        autograd or dtype promotion, or all columns when ``pool`` is None, are concatenated at once
        and are not in the list."""
        total = sum(f._num_rows for f in frames)
        out = Frame(total, device, name)
        if not any(f._columns for f in frames):
            return out, []
        keys = frames[0]._columns.keys()
        if not all(f._columns.keys() == keys for f in frames):
            i = next(i for i, f in enumerate(frames) if f._columns.keys() != keys)
            raise ValueError(
                f"batch: graph {i} has {name} features {sorted(frames[i]._columns)} but graph 0 has {sorted(keys)}; "
                "all graphs in a batch must have the same features"
            )
        unfilled = []
        for key in keys:
            parts = [f._columns[key] for f in frames]
            first = parts[0]
            if (pool is None or (torch.is_grad_enabled() and any(p.requires_grad for p in parts))
                    or len({p.dtype for p in parts}) > 1):
                # autograd needs torch.cat's own backward; out= would cast to the first part's dtype
                out._columns[key] = torch.cat(parts, 0)
                continue
            buffer = pool.empty(total * math.prod(first.shape[1:]), first.dtype, first.device)
            out._columns[key] = buffer.view(total, *first.shape[1:])
            unfilled.append((parts, out._columns[key]))
        return out, unfilled
