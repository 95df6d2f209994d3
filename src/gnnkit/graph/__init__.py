"""The graph structure: the Graph object, batching, subgraphs, transforms and conversions."""

from .batch import batch, unbatch
from .convert import (
    from_edge_index,
    from_edge_list,
    from_networkx,
    from_scipy,
    to_edge_index,
    to_edge_list,
    to_networkx,
    to_scipy,
)
from .frame import Frame
from .graph import ALL, EID, NID, Graph, block, graph
from .transforms import (
    add_self_loop,
    edge_subgraph,
    in_subgraph,
    khop_in_subgraph,
    knn_graph,
    line_graph,
    node_subgraph,
    remove_self_loop,
    reverse,
    segmented_knn_graph,
    to_bidirected,
    to_block,
    to_simple,
)

__all__ = [
    "Graph", "Frame", "graph", "block", "NID", "EID", "ALL", "batch", "unbatch",
    "from_networkx", "to_networkx", "from_scipy", "to_scipy", "from_edge_index", "to_edge_index",
    "from_edge_list", "to_edge_list", "reverse", "add_self_loop", "remove_self_loop", "to_simple",
    "to_bidirected", "node_subgraph", "edge_subgraph", "in_subgraph", "khop_in_subgraph", "line_graph",
    "knn_graph", "segmented_knn_graph", "to_block",
]
