"""Deep GNNs: DeepGCN blocks and models, dynamic dilated k-NN graphs, grouped reversible,
weight-tied reversible and deep-equilibrium GNNs (memory independent of depth)."""

from .deep_gcn_layer import DeepGCNLayer
from .deq import DEQGNN
from .dilated_knn import DilatedKNNGraph, dilated_knn_edges
from .point_cloud import DynamicPointGCN
from .message_norm import MessageNorm
from .models import DeeperGCN, DeepGCN, DenseGCN, GCNLayer, PlainGCN, ResGCN
from .reversible import GroupRevRes, PreActBlock, RevGNN, WeightTiedRevGNN
from .solvers import anderson, broyden

__all__ = [
    "DeepGCNLayer",
    "DEQGNN",
    "DilatedKNNGraph",
    "DynamicPointGCN",
    "dilated_knn_edges",
    "MessageNorm",
    "DeepGCN",
    "ResGCN",
    "DenseGCN",
    "PlainGCN",
    "DeeperGCN",
    "GCNLayer",
    "GroupRevRes",
    "PreActBlock",
    "RevGNN",
    "WeightTiedRevGNN",
    "anderson",
    "broyden",
]
