"""Sampling for training on graphs too large for one full-batch step.

Node-wise neighbour sampling into message-flow blocks, subgraph samplers (Cluster-GCN,
GraphSAINT, ShaDow), random walks, edge mini-batches with negative sampling, METIS
partitioning, and a DataLoader that slices features for the sampled nodes only.
All samplers are vectorised tensor programs (no Python loops over nodes or edges).
"""

from .cluster_gcn import ClusterGCNSampler
from .dataloader import DataLoader
from .edge import EdgePredictionSampler, UniformNegativeSampler, as_edge_prediction_sampler
from .neighbor import MultiLayerFullNeighborSampler, NeighborSampler, sample_blocks, sample_neighbors
from .partition import metis_partition, partition_nodes, partition_pointers, reorder_by_partition
from .randomwalk import node2vec_random_walk, random_walk
from .saint import SAINTSampler
from .shadow import ShaDowKHopSampler

__all__ = [
    "NeighborSampler",
    "MultiLayerFullNeighborSampler",
    "sample_neighbors",
    "sample_blocks",
    "ClusterGCNSampler",
    "SAINTSampler",
    "ShaDowKHopSampler",
    "random_walk",
    "node2vec_random_walk",
    "EdgePredictionSampler",
    "UniformNegativeSampler",
    "as_edge_prediction_sampler",
    "DataLoader",
    "metis_partition",
    "reorder_by_partition",
    "partition_pointers",
    "partition_nodes",
]
