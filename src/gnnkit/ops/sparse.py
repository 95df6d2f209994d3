"""The sparse structure the kernels run on: a COO matrix with lazily built, cached CSR views.

Kernels know nothing of graphs. They see an ``[num_dst, num_src]`` sparse pattern whose
non-zeros are "edges" ``e = (src[e], dst[e])`` in a fixed order (the edge ids). Two compressed
views are built on first use and cached:

* ``in_csr``: rows = destinations. Used to aggregate into destinations (forward of SpMM).
* ``out_csr``: rows = sources. Used to aggregate back into sources (backward of SpMM), so the
  transposed structure is never rebuilt inside a backward pass.

Each view carries the permutation from its order to edge-id order (``None`` when the edges
are already in that order, which saves a gather for coalesced inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SparseAdj", "CompressedView"]


@dataclass(frozen=True)
class CompressedView:
    """A CSR view of the pattern.

    ``indptr``: [R + 1]; ``indices``: [E] column of each non-zero in row order;
    ``perm``: [E] edge id of each non-zero in row order, or ``None`` for the identity;
    ``rows``: [E] row of each non-zero in row order (the expanded ``indptr``).
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    perm: torch.Tensor | None
    rows: torch.Tensor
    num_rows: int
    num_cols: int

    def permute(self, edge_values: torch.Tensor) -> torch.Tensor:
        """Reorders per-edge values from edge-id order into this view's order."""
        return edge_values if self.perm is None else edge_values.index_select(0, self.perm)

    def degrees(self) -> torch.Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def row_positions(self, rows: torch.Tensor) -> torch.Tensor:
        """Positions (in this view's order) of every non-zero of ``rows``, row after row. [nnz(rows)]"""
        starts = self.indptr.index_select(0, rows)
        lengths = self.indptr.index_select(0, rows + 1) - starts
        total = int(lengths.sum())
        first_of_row = torch.cumsum(lengths, 0) - lengths
        return torch.repeat_interleave(starts - first_of_row, lengths, output_size=total) + torch.arange(total, device=rows.device)

    def edge_ids(self, positions: torch.Tensor) -> torch.Tensor:
        """Edge ids of the non-zeros at ``positions`` of this view."""
        return positions if self.perm is None else self.perm.index_select(0, positions)


def _compress(rows: torch.Tensor, cols: torch.Tensor, num_rows: int, num_cols: int) -> CompressedView:
    # A stable sort keeps multi-edges in edge-id order within a row, which makes results
    # deterministic and lets an already sorted COO skip the permutation entirely.
    if rows.numel() == 0 or bool((rows[1:] >= rows[:-1]).all()):
        perm = None
        sorted_rows, sorted_cols = rows, cols
    else:
        sorted_rows, perm = torch.sort(rows, stable=True)
        sorted_cols = cols.index_select(0, perm)
    counts = torch.bincount(sorted_rows, minlength=num_rows)
    indptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(counts, 0, out=indptr[1:])
    return CompressedView(indptr, sorted_cols, perm, sorted_rows, num_rows, num_cols)


class SparseAdj:
    """An ``[num_dst, num_src]`` sparse pattern in COO with cached CSR (by dst) and CSC (by src).

    The object is immutable: a mutation of the owner builds a new one, which drops every cache.
    """

    __slots__ = ("src", "dst", "num_src", "num_dst", "_in", "_out", "_mats")

    def __init__(self, src: torch.Tensor, dst: torch.Tensor, num_src: int, num_dst: int):
        self.src = src
        self.dst = dst
        self.num_src = int(num_src)
        self.num_dst = int(num_dst)
        self._in: CompressedView | None = None
        self._out: CompressedView | None = None
        self._mats: dict = {}

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    @property
    def device(self) -> torch.device:
        return self.src.device

    def in_csr(self) -> CompressedView:
        """CSR with destinations as rows: for each dst, its incoming sources."""
        if self._in is None:
            self._in = _compress(self.dst, self.src, self.num_dst, self.num_src)
        return self._in

    def out_csr(self) -> CompressedView:
        """CSR with sources as rows: for each src, its outgoing destinations."""
        if self._out is None:
            self._out = _compress(self.src, self.dst, self.num_src, self.num_dst)
        return self._out

    def in_degrees(self) -> torch.Tensor:
        return self.in_csr().degrees()

    def out_degrees(self) -> torch.Tensor:
        return self.out_csr().degrees()

    def ones_matrix(self, transpose: bool, dtype: torch.dtype) -> torch.Tensor:
        """The unweighted pattern as a torch CSR matrix, cached per (direction, dtype)."""
        key = (transpose, dtype)
        mat = self._mats.get(key)
        if mat is None:
            view = self.out_csr() if transpose else self.in_csr()
            values = torch.ones(view.indices.numel(), dtype=dtype, device=self.device)
            mat = _csr_matrix(view, values)
            self._mats[key] = mat
        return mat

    def head_stacked_pattern(self, num_heads: int, transpose: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indptr, indices)`` of the block-diagonal pattern holding ``num_heads`` copies of
        this one (head-major), cached: one CSR product then serves every attention head."""
        key = ("heads", num_heads, transpose)
        pattern = self._mats.get(key)
        if pattern is None:
            view = self.out_csr() if transpose else self.in_csr()
            heads = torch.arange(num_heads, device=self.device).unsqueeze(1)
            nnz = view.indices.numel()
            indptr = torch.cat([
                (view.indptr[:-1].unsqueeze(0) + heads * nnz).reshape(-1),
                view.indptr.new_full((1,), num_heads * nnz),
            ])
            indices = (view.indices.unsqueeze(0) + heads * view.num_cols).reshape(-1)
            pattern = self._mats[key] = (indptr, indices)
        return pattern

    def weighted_matrix(self, edge_values: torch.Tensor, transpose: bool) -> torch.Tensor:
        """The pattern with per-edge values (given in edge-id order) as a torch CSR matrix."""
        view = self.out_csr() if transpose else self.in_csr()
        return _csr_matrix(view, view.permute(edge_values))

    def to(self, device) -> "SparseAdj":
        return SparseAdj(self.src.to(device), self.dst.to(device), self.num_src, self.num_dst)

    def reversed(self) -> "SparseAdj":
        """The transposed pattern, reusing the cached views (they swap roles)."""
        rev = SparseAdj(self.dst, self.src, self.num_dst, self.num_src)
        rev._in, rev._out = self._out, self._in
        return rev


def _csr_matrix(view: CompressedView, values: torch.Tensor) -> torch.Tensor:
    return torch.sparse_csr_tensor(
        view.indptr, view.indices, values, size=(view.num_rows, view.num_cols), check_invariants=False
    )
