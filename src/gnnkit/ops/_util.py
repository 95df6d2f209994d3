"""Small tensor helpers shared by the kernels."""

from __future__ import annotations

import torch

# Elements per chunk when a kernel must build per-edge rows: large enough to amortise the
# Python loop, small enough that the chunk stays in cache and is not a fresh page-faulting
# allocation of E x F floats.
CHUNK_ELEMENTS = 1 << 22


def spmm_into(matrix: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``matrix @ dense`` for a torch CSR ``matrix``, written into a fresh buffer.

    ``torch.sparse.mm`` zero-fills a result, accumulates into a second one and copies it back;
    ``addmm`` with ``beta=0`` and ``out=`` does the same product in one pass (3x faster on CPU).
    """
    out = torch.empty(matrix.shape[0], dense.shape[1], dtype=dense.dtype, device=dense.device)
    if matrix.shape[0] == 0 or dense.shape[1] == 0:
        return out.zero_()
    if matrix.values().numel() == 0:
        return out.zero_()
    return torch.addmm(out, matrix, dense, beta=0, out=out)


def chunk_bounds(indptr: torch.Tensor, row_width: int):
    """Splits CSR rows into contiguous row ranges of about ``CHUNK_ELEMENTS`` non-zero elements.

    Yields ``(row_start, row_end, nz_start, nz_end)``. ``row_width`` is the number of scalars
    per non-zero (the flattened feature size).
    """
    num_rows = indptr.numel() - 1
    nnz = int(indptr[-1])
    per_chunk = max(1, CHUNK_ELEMENTS // max(1, row_width))
    if nnz <= per_chunk:
        yield 0, num_rows, 0, nnz
        return
    targets = torch.arange(per_chunk, nnz, per_chunk, device=indptr.device)
    cuts = torch.searchsorted(indptr, targets, right=False).clamp_(max=num_rows).unique().tolist()
    row_start = 0
    for row_end in cuts + [num_rows]:
        if row_end <= row_start:
            continue
        yield row_start, row_end, int(indptr[row_start]), int(indptr[row_end])
        row_start = row_end


def edge_chunks(num_edges: int, row_width: int):
    """Splits ``range(num_edges)`` into slices of about ``CHUNK_ELEMENTS`` scalars."""
    step = max(1, CHUNK_ELEMENTS // max(1, row_width))
    for start in range(0, num_edges, step):
        yield start, min(num_edges, start + step)


def reduce_to_shape(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sums ``grad`` over the dimensions that broadcasting expanded from ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.dim() - len(shape)
    if lead > 0:
        grad = grad.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    return grad.reshape(shape)


def broadcast_feature_shape(lhs: torch.Tensor | None, rhs: torch.Tensor | None) -> torch.Size:
    """The feature shape (all but the first dimension) of an elementwise op between rows."""
    shapes = [t.shape[1:] for t in (lhs, rhs) if t is not None]
    return torch.broadcast_shapes(*shapes)
