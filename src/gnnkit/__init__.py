"""gnnkit: deep learning on graphs with PyTorch.

The graph is the central object (structure plus node and edge features); message passing takes
any user-defined message/reduce/update function, and built-in pairs are fused into sparse kernels.
"""

import warnings as _warnings

# torch warns on every CSR construction that its sparse CSR support is "beta"; gnnkit builds
# CSR views on purpose and tests them, so the warning is noise for users.
_warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
_warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

from . import function, ops  # noqa: E402
from .core import (  # noqa: E402
    EdgeBatch,
    NodeBatch,
    bfs_edges_generator,
    bfs_nodes_generator,
    dfs_edges_generator,
    edge_softmax,
    prop_edges,
    prop_edges_dfs,
    prop_nodes,
    prop_nodes_topo,
    topological_nodes_generator,
)
from .graph import (  # noqa: E402
    ALL,
    EID,
    NID,
    Frame,
    Graph,
    add_self_loop,
    batch,
    block,
    edge_subgraph,
    from_edge_index,
    from_edge_list,
    from_networkx,
    from_scipy,
    graph,
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
    to_edge_index,
    to_edge_list,
    to_networkx,
    to_scipy,
    to_simple,
    unbatch,
)

__version__ = "0.1.0"

__all__ = [
    "Graph", "Frame", "graph", "block", "NID", "EID", "ALL", "ops", "function",
    "edge_softmax", "EdgeBatch", "NodeBatch", "prop_nodes", "prop_nodes_topo", "prop_edges", "prop_edges_dfs",
    "topological_nodes_generator", "bfs_nodes_generator", "bfs_edges_generator", "dfs_edges_generator",
    "batch", "unbatch", "from_networkx", "to_networkx", "from_scipy", "to_scipy", "from_edge_index",
    "to_edge_index", "from_edge_list", "to_edge_list", "reverse", "add_self_loop", "remove_self_loop",
    "to_simple", "to_bidirected", "node_subgraph", "edge_subgraph", "in_subgraph", "khop_in_subgraph",
    "line_graph", "knn_graph", "segmented_knn_graph", "to_block",
]

_LAZY_SUBMODULES = ("nn", "data", "sampling", "scale", "temporal", "generative", "tasks", "errors")
_LAZY_ATTRIBUTES = {"metis_partition": "gnnkit.sampling.partition"}


def __getattr__(name):
    # Subsystems load on first use so that ``import gnnkit`` stays light.
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"gnnkit.{name}")
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'gnnkit' has no attribute {name!r}")
