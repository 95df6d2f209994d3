"""Message passing: ``update_all`` and friends, UDF batches, and traversal orders."""

from .message_passing import (
    AggregateFunction,
    aggregate,
    apply_edges,
    apply_nodes,
    edge_softmax,
    filter_edges,
    filter_nodes,
    pull,
    push,
    send_and_recv,
    update_all,
)
from .traversal import (
    bfs_edges_generator,
    bfs_nodes_generator,
    dfs_edges_generator,
    prop_edges,
    prop_edges_dfs,
    prop_nodes,
    prop_nodes_topo,
    topological_nodes_generator,
)
from .udf import EdgeBatch, NodeBatch

__all__ = [
    "update_all", "apply_edges", "apply_nodes", "send_and_recv", "pull", "push", "filter_nodes",
    "filter_edges", "edge_softmax", "aggregate", "AggregateFunction", "EdgeBatch", "NodeBatch",
    "topological_nodes_generator", "bfs_nodes_generator", "bfs_edges_generator", "dfs_edges_generator",
    "prop_nodes", "prop_nodes_topo", "prop_edges", "prop_edges_dfs",
]
