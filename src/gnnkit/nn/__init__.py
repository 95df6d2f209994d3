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
