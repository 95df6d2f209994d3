"""Mini-batches of METIS clusters with their one-hop halo, for GNNAutoScale.

A batch is a set of clusters. Its *batch nodes* ``B`` are all nodes of those clusters; its
*halo* ``H`` are the in-neighbours of ``B`` outside ``B``. The batch's block has sources
``B`` then ``H`` and destinations ``B``, with every in-edge of every batch node, so a layer run
on it computes exact outputs for ``B`` given inputs for ``B + H``: the computation never leaves
the batch plus its one-hop halo.

A node can be in a halo only if it has an out-edge into another cluster:
:meth:`SubgraphLoader.boundary_nodes` lists those, the only rows a GAS history has to keep.
Memory: a batch's block holds every in-edge of the batch; in a ``for batch in loader`` loop
the previous batch stays referenced while the next one is built, so ``del batch`` (and the
outputs computed from it) at the end of a step keeps one block alive at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..graph import EID, NID, Graph
from ..sampling import MultiLayerFullNeighborSampler, metis_partition, partition_nodes, partition_pointers

__all__ = ["SubgraphLoader", "SubgraphBatch"]


class SubgraphBatch(NamedTuple):
    """``batch_nodes`` [B], ``halo_nodes`` [H] (original ids) and the block (B + H -> B)."""

    batch_nodes: torch.Tensor
    halo_nodes: torch.Tensor
    block: Graph


class SubgraphLoader:
    """Iterates over batches of ``batch_size`` clusters of a METIS partition of ``g``.

    ``parts`` is the cluster of every node (computed with :func:`metis_partition` into
    ``num_parts`` clusters when omitted). The block of each batch carries the edge features
    named in ``edge_feats`` (default: all of ``g.edata``) and the original ids in
    ``srcdata[gk.NID]`` / ``edata[gk.EID]``. Node features are *not* attached: the model
    reads inputs by id (``x[block.srcdata[gk.NID]]``) and histories by id."""

    def __init__(
        self,
        g: Graph,
        num_parts: int | None = None,
        batch_size: int = 1,
        shuffle: bool = False,
        parts: torch.Tensor | None = None,
        edge_feats=None,
        generator: torch.Generator | None = None,
    ):
        if not isinstance(g, Graph):
            raise TypeError(f"SubgraphLoader: g must be a gnnkit Graph, got {type(g).__name__}")
        if g.is_block:
            raise TypeError("SubgraphLoader: g must be an ordinary graph to partition, got a block")
        if parts is None:
            if isinstance(num_parts, bool) or not isinstance(num_parts, int) or num_parts < 1:
                raise ValueError(f"SubgraphLoader: num_parts must be a positive int when parts is not given, got {num_parts!r}")
            parts = metis_partition(g, num_parts)
        if not isinstance(parts, torch.Tensor) or parts.shape != (g.num_nodes(),):
            raise ValueError(f"SubgraphLoader: parts must be a [{g.num_nodes()}] tensor of cluster ids, got {getattr(parts, 'shape', parts)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SubgraphLoader: batch_size must be a positive int, got {batch_size!r}")
        self.g = g
        self.parts = parts.to(torch.int64)
        self.num_parts = int(self.parts.max()) + 1 if self.parts.numel() else 0
        self.order = torch.sort(self.parts, stable=True).indices
        self.ptr = partition_pointers(self.parts, self.num_parts)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.edge_feats = [k for k in g.edata if k != EID] if edge_feats is None else list(edge_feats)
        self._full_neighbors = MultiLayerFullNeighborSampler(1)

    def boundary_nodes(self, chunk_edges: int = 1 << 22) -> torch.Tensor:
        """Sorted ids of the nodes with an out-edge into another cluster. [M]

        Every halo node of every batch is one of them, whatever clusters a batch combines.
        Scans the edges in chunks of ``chunk_edges`` so the scan never holds ``[E]`` temporaries."""
        if isinstance(chunk_edges, bool) or not isinstance(chunk_edges, int) or chunk_edges < 1:
            raise ValueError(f"SubgraphLoader.boundary_nodes: chunk_edges must be a positive int, got {chunk_edges!r}")
        src, dst = self.g.sparse.src, self.g.sparse.dst
        parts = self.parts.to(src.device)
        marked = torch.zeros(self.g.num_nodes(), dtype=torch.bool, device=src.device)
        for start in range(0, src.numel(), chunk_edges):
            s, d = src[start:start + chunk_edges], dst[start:start + chunk_edges]
            crossing = parts.index_select(0, s) != parts.index_select(0, d)
            marked[s[crossing]] = True
        return torch.nonzero(marked).squeeze(1)

    def __len__(self) -> int:
        return -(-self.num_parts // self.batch_size)

    def batch(self, cluster_ids: torch.Tensor) -> SubgraphBatch:
        """The batch made of the given clusters."""
        batch_nodes = partition_nodes(self.order, self.ptr, cluster_ids).to(self.g.device)
        # Every in-edge of every batch node: sources are the batch nodes, then their halo.
        _, _, (blk,) = self._full_neighbors.sample(self.g, batch_nodes)
        for key in self.edge_feats:
            blk.edata[key] = self.g.edata[key].index_select(0, blk.edata[EID])
        return SubgraphBatch(batch_nodes, blk.srcdata[NID][batch_nodes.numel():], blk)

    def __iter__(self):
        clusters = torch.arange(self.num_parts)
        if self.shuffle:
            clusters = clusters[torch.randperm(self.num_parts, generator=self.generator)]
        for chunk in torch.split(clusters, self.batch_size):
            yield self.batch(chunk)
