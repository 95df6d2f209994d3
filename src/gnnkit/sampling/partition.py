"""Graph partitioning with METIS (through ``pymetis``) and node reordering by partition.

``metis_partition(g, k)`` splits the nodes into ``k`` parts with few edges between them
(Karypis & Kumar, 1998). METIS needs a symmetric pattern without self-loops, so the graph is
symmetrised and its diagonal dropped first; edge directions do not matter for a partition.
``reorder_by_partition`` renumbers nodes so that every part is a contiguous id range, which
Cluster-GCN batches and GNNAutoScale histories rely on for locality.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import EID, NID, Graph, graph
from ._utils import check_graph, expand_segments

__all__ = ["metis_partition", "reorder_by_partition", "partition_pointers", "partition_nodes"]


def _symmetric_csr(g: Graph):
    import scipy.sparse as sp

    n = g.num_nodes()
    src = g.sparse.src.cpu().numpy()
    dst = g.sparse.dst.cpu().numpy()
    off_diagonal = src != dst
    src, dst = src[off_diagonal], dst[off_diagonal]
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    mat = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    mat.sum_duplicates()
    return mat.indptr.astype(np.int64), mat.indices.astype(np.int64)


def metis_partition(g: Graph, k: int, *, node_weights: torch.Tensor | None = None, seed: int | None = 0, contiguous: bool = False) -> torch.Tensor:
    """Partitions the nodes of ``g`` into ``k`` parts with METIS; returns the part of each node [N].

    ``node_weights`` (non-negative ints, one per node) balances parts by weight instead of
    count; ``seed`` makes METIS deterministic; ``contiguous`` asks for connected parts."""
    check_graph(g, "metis_partition: g")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"metis_partition: k must be a positive int, got {k!r}")
    n = g.num_nodes()
    if k > max(n, 1):
        raise ValueError(f"metis_partition: k ({k}) exceeds the number of nodes ({n})")
    if k == 1 or n == 0:
        return torch.zeros(n, dtype=torch.int64, device=g.device)
    try:
        import pymetis
    except ImportError as err:  # pragma: no cover - pymetis is a dependency
        raise ImportError("metis_partition needs pymetis (pip install pymetis)") from err
    xadj, adjncy = _symmetric_csr(g)
    vweights = None
    if node_weights is not None:
        if not isinstance(node_weights, torch.Tensor) or node_weights.shape != (n,):
            shape = tuple(node_weights.shape) if isinstance(node_weights, torch.Tensor) else type(node_weights).__name__
            raise ValueError(f"metis_partition: node_weights must be a [{n}] tensor, got {shape}")
        vweights = node_weights.cpu().to(torch.int64).numpy()
    options = pymetis.Options(seed=int(seed)) if seed is not None else pymetis.Options()
    if contiguous:
        options.contig = 1
    if hasattr(pymetis, "CSRAdjacency"):
        result = pymetis.part_graph(k, adjacency=pymetis.CSRAdjacency(xadj, adjncy), vweights=vweights, options=options)
    else:  # pymetis < 2025
        result = pymetis.part_graph(k, xadj=xadj, adjncy=adjncy, vweights=vweights, options=options)
    membership = result[1]
    return torch.as_tensor(np.asarray(membership, dtype=np.int64), device=g.device)


def partition_pointers(parts: torch.Tensor, k: int) -> torch.Tensor:
    """``[k + 1]`` offsets of each part in the partition-sorted node order."""
    counts = torch.bincount(parts, minlength=k)
    ptr = torch.zeros(k + 1, dtype=torch.int64, device=parts.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr


def partition_nodes(node_order: torch.Tensor, part_ptr: torch.Tensor, part_ids: torch.Tensor) -> torch.Tensor:
    """All node ids of the parts ``part_ids``, part after part (vectorised, no loop over parts).

    ``node_order`` [N] lists the nodes grouped by part (``torch.sort(parts, stable=True).indices``,
    or the ``perm`` of :func:`reorder_by_partition`); ``part_ptr`` [k + 1] holds each part's
    offsets in it (:func:`partition_pointers`), so part ``c`` is
    ``node_order[part_ptr[c]:part_ptr[c + 1]]``."""
    if not isinstance(part_ids, torch.Tensor) or part_ids.dim() != 1 or part_ids.is_floating_point():
        raise ValueError(f"partition_nodes: part_ids must be a 1-D integer tensor, got {getattr(part_ids, 'shape', type(part_ids).__name__)}")
    num_parts = part_ptr.numel() - 1
    if part_ids.numel() and (int(part_ids.min()) < 0 or int(part_ids.max()) >= num_parts):
        raise ValueError(f"partition_nodes: part ids must lie in [0, {num_parts}), got range [{int(part_ids.min())}, {int(part_ids.max())}]")
    part_ids = part_ids.to(device=part_ptr.device, dtype=torch.int64)
    starts = part_ptr.index_select(0, part_ids)
    counts = part_ptr.index_select(0, part_ids + 1) - starts
    positions, _ = expand_segments(starts, counts)
    return node_order.index_select(0, positions)


def reorder_by_partition(g: Graph, parts: torch.Tensor, k: int | None = None):
    """Renumbers nodes so each part is contiguous; returns ``(new_g, perm, part_ptr)``.

    ``perm[i]`` is the old id of new node ``i`` (also stored as ``new_g.ndata[gk.NID]``), nodes
    keep their relative order inside a part, edges are sorted by new destination (original ids
    in ``new_g.edata[gk.EID]``), and features are carried over."""
    check_graph(g, "reorder_by_partition: g")
    n = g.num_nodes()
    if not isinstance(parts, torch.Tensor) or parts.shape != (n,):
        shape = tuple(parts.shape) if isinstance(parts, torch.Tensor) else type(parts).__name__
        raise ValueError(f"reorder_by_partition: parts must be a [{n}] tensor of part ids, got {shape}")
    parts = parts.to(torch.int64)
    k = int(parts.max()) + 1 if k is None else k
    perm = torch.sort(parts, stable=True).indices  # new -> old
    new_id = torch.empty_like(perm)
    new_id[perm] = torch.arange(n, device=perm.device)  # old -> new
    src = new_id[g.sparse.src]
    dst = new_id[g.sparse.dst]
    edge_order = torch.sort(dst, stable=True).indices
    new_g = graph((src[edge_order], dst[edge_order]), num_nodes=n, device=g.device)
    for key, value in g.ndata.items():
        new_g.ndata[key] = value[perm]
    for key, value in g.edata.items():
        new_g.edata[key] = value[edge_order]
    new_g.ndata[NID] = perm
    new_g.edata[EID] = edge_order
    return new_g, perm, partition_pointers(parts, k)
