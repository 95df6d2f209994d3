"""Sparse kernels on plain tensors, with autograd. They know nothing of graphs.

A kernel takes a :class:`SparseAdj` (a COO pattern with cached CSR views) and feature tensors,
and returns tensors. Shapes are documented at the top of each kernel.
"""

from .sddmm import SDDMM_OPS, gsddmm
from .segment import gather_mm, segment_mm, segment_reduce
from .softmax import edge_softmax, segment_softmax, softmax_by_index
from .sparse import CompressedView, SparseAdj
from .spmm import MESSAGE_OPS, REDUCE_OPS, gspmm, gspmm_with_arg

__all__ = [
    "SparseAdj",
    "CompressedView",
    "gspmm",
    "gspmm_with_arg",
    "gsddmm",
    "edge_softmax",
    "segment_softmax",
    "softmax_by_index",
    "segment_reduce",
    "segment_mm",
    "gather_mm",
    "MESSAGE_OPS",
    "REDUCE_OPS",
    "SDDMM_OPS",
]
