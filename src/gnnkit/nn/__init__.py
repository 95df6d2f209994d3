"""Neural network layers on graphs: convolutions, readouts, ready-made models and fast dropout."""

from .conv import (
    APPNPConv,
    ChebConv,
    EdgeConv,
    GatedGraphConv,
    GATConv,
    GATv2Conv,
    GINConv,
    GraphConv,
    RelGraphConv,
    SAGEConv,
    SGConv,
    TAGConv,
    TreeLSTM,
)
from .dropout import Dropout, functional_dropout
from .models import GAT, GCN, GIN, MLP, GraphSAGE
from .readout import (
    AvgPooling,
    GlobalAttentionPooling,
    MaxPooling,
    Set2Set,
    SortPooling,
    SumPooling,
    max_nodes,
    mean_nodes,
    readout_nodes,
    sum_nodes,
)
from . import aggr  # noqa: E402
from .conv import GENConv, MRConv  # noqa: E402
from .deep import (  # noqa: E402
    DEQGNN,
    DeeperGCN,
    DeepGCNLayer,
    DenseGCN,
    DilatedKNNGraph,
    DynamicPointGCN,
    GroupRevRes,
    MessageNorm,
    PlainGCN,
    ResGCN,
    RevGNN,
    WeightTiedRevGNN,
)
