"""Cluster-GCN (Chiang et al., 2019): mini-batches are unions of METIS clusters.

The graph is partitioned once into ``k`` clusters; a batch of cluster ids becomes the subgraph
induced by all their nodes, so the edges between the clusters of one batch are kept (which is
why several clusters per batch reduce the bias of dropping inter-cluster edges). Iterate over
``torch.arange(k)`` with the :class:`~gnnkit.sampling.DataLoader` and ``batch_size`` = clusters
per batch.
"""

from __future__ import annotations

import os
import tempfile

import torch

from ..graph import Graph
from ._utils import check_graph, check_node_ids, intra_op_threads, node_subgraph
from .partition import metis_partition, partition_nodes, partition_pointers

__all__ = ["ClusterGCNSampler"]


class ClusterGCNSampler:
    """Samples the subgraph induced by a batch of METIS clusters.

    ``ClusterGCNSampler(g, k)`` partitions ``g`` (or loads the partition from ``cache_path``
    when it holds one for the same graph size and ``k``). ``sample(g, cluster_ids)`` returns
    the induced subgraph with original ids in ``ndata[gk.NID]`` / ``edata[gk.EID]``."""

    def __init__(self, g: Graph, k: int, cache_path: str | None = None, parts: torch.Tensor | None = None):
        check_graph(g, "ClusterGCNSampler: g")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"ClusterGCNSampler: k must be a positive int, got {k!r}")
        self.k = k
        if parts is None:
            parts = self._load(cache_path, g.num_nodes(), k)
        if parts is None:
            parts = metis_partition(g, k)
            if cache_path is not None:
                self._save(cache_path, parts, k)
        if not isinstance(parts, torch.Tensor) or parts.shape != (g.num_nodes(),):
            raise ValueError(f"ClusterGCNSampler: parts must be a [{g.num_nodes()}] tensor, got {getattr(parts, 'shape', parts)}")
        self.parts = parts.to(torch.int64)
        # Node ids grouped by cluster: cluster c owns order[ptr[c]:ptr[c+1]].
        self.order = torch.sort(self.parts, stable=True).indices
        self.ptr = partition_pointers(self.parts, k)

    @staticmethod
    def _load(path, n, k):
        if path is None or not os.path.exists(path):
            return None
        saved = torch.load(path)
        if saved.get("num_nodes") != n or saved.get("k") != k:
            return None
        return saved["parts"]

    @staticmethod
    def _save(path, parts, k):
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        torch.save({"num_nodes": parts.numel(), "k": k, "parts": parts.cpu()}, tmp)
        os.replace(tmp, path)

    def cluster_nodes(self, cluster_ids: torch.Tensor) -> torch.Tensor:
        """All node ids of the given clusters, cluster by cluster."""
        return partition_nodes(self.order, self.ptr, cluster_ids)

    def sample(self, g: Graph, cluster_ids) -> Graph:
        check_graph(g, "ClusterGCNSampler.sample: g")
        if g.num_nodes() != self.parts.numel():
            raise ValueError(f"ClusterGCNSampler.sample: the sampler was built for {self.parts.numel()} nodes, g has {g.num_nodes()}")
        cluster_ids = check_node_ids(cluster_ids, self.k, "ClusterGCNSampler.sample: cluster_ids", self.ptr.device)
        with intra_op_threads(1):
            cluster_ids = torch.unique(cluster_ids)
            return node_subgraph(g, self.cluster_nodes(cluster_ids).to(g.device))
