"""Traversal orders for tree- and DAG-structured models, and propagation along them.

Frontiers are computed level by level with vectorised tensor operations (Kahn's algorithm for
topological order, frontier expansion for BFS); DFS is inherently sequential and walks the CSR.
``prop_nodes_topo`` pulls each topological frontier in turn, so a Child-Sum TreeLSTM updates all
nodes of one level in one batched step.
"""

from __future__ import annotations

import torch

from ..graph.graph import as_id_tensor
from .message_passing import pull, send_and_recv

__all__ = [
    "topological_nodes_generator",
    "bfs_nodes_generator",
    "bfs_edges_generator",
    "dfs_edges_generator",
    "prop_nodes",
    "prop_nodes_topo",
    "prop_edges",
    "prop_edges_dfs",
]


def _out_view(g, reverse: bool):
    return g.sparse.in_csr() if reverse else g.sparse.out_csr()


def _expand(view, frontier: torch.Tensor):
    """All (neighbour, edge id) pairs leaving ``frontier`` in ``view``'s direction."""
    positions = view.row_positions(frontier)
    return view.indices.index_select(0, positions), view.edge_ids(positions)


def topological_nodes_generator(g, reverse: bool = False) -> list[torch.Tensor]:
    """Node frontiers in topological order: each frontier's nodes depend only on earlier ones.

    ``reverse=True`` follows edges backwards (roots first). Raises on a cycle."""
    _require_square(g, "topological_nodes_generator")
    view = _out_view(g, reverse)
    remaining = (g.sparse.out_degrees() if reverse else g.sparse.in_degrees()).clone()
    frontier = torch.nonzero(remaining == 0).view(-1)
    frontiers, visited = [], 0
    while frontier.numel():
        frontiers.append(frontier)
        visited += frontier.numel()
        nbrs, _ = _expand(view, frontier)
        if nbrs.numel() == 0:
            break
        remaining.index_add_(0, nbrs, torch.full_like(nbrs, -1))
        touched = torch.unique(nbrs)
        frontier = touched[remaining.index_select(0, touched) == 0]
    if visited != g.num_nodes():
        raise ValueError(f"topological_nodes_generator: the graph has a cycle ({g.num_nodes() - visited} nodes unreachable)")
    return frontiers


def _bfs_levels(g, source, reverse: bool, name: str):
    """Yields ``(frontier, reached, edges)`` per BFS level: the nodes reached for the first time
    from ``frontier`` and, for each, the first edge found to it."""
    _require_square(g, name)
    frontier = torch.unique(_sources(g, source, f"{name}: source"))
    view = _out_view(g, reverse)
    seen = torch.zeros(g.num_nodes(), dtype=torch.bool, device=g.device)
    seen[frontier] = True
    while frontier.numel():
        nbrs, eids = _expand(view, frontier)
        fresh = ~seen.index_select(0, nbrs)
        reached, first = _first_occurrence(nbrs[fresh])
        seen[reached] = True
        yield frontier, reached, eids[fresh].index_select(0, first)
        frontier = reached


def bfs_nodes_generator(g, source, reverse: bool = False) -> list[torch.Tensor]:
    """Node frontiers of a breadth-first search from ``source`` (one id or several)."""
    return [frontier for frontier, _, _ in _bfs_levels(g, source, reverse, "bfs_nodes_generator")]


def bfs_edges_generator(g, source, reverse: bool = False) -> list[torch.Tensor]:
    """Edge frontiers of a BFS: at each level, the edges that first reach new nodes."""
    return [edges for _, reached, edges in _bfs_levels(g, source, reverse, "bfs_edges_generator") if reached.numel()]


def _first_occurrence(values: torch.Tensor):
    uniq, inverse = torch.unique(values, return_inverse=True)
    first = torch.full((uniq.numel(),), values.numel(), dtype=torch.int64, device=values.device)
    first.scatter_reduce_(0, inverse, torch.arange(values.numel(), device=values.device), "amin")
    return uniq, first


def dfs_edges_generator(g, source, reverse: bool = False) -> list[torch.Tensor]:
    """Edge frontiers of depth-first searches from each source: frontier k holds the k-th tree
    edge visited by each search (searches from several sources run side by side)."""
    _require_square(g, "dfs_edges_generator")
    sources = _sources(g, source, "dfs_edges_generator: source").tolist()
    view = _out_view(g, reverse)
    indptr, indices = view.indptr.tolist(), view.indices.tolist()
    perm = None if view.perm is None else view.perm.tolist()
    orders = []
    for root in sources:
        seen, order, stack = {root}, [], [(root, indptr[root])]
        while stack:
            node, pos = stack[-1]
            if pos == indptr[node + 1]:
                stack.pop()
                continue
            stack[-1] = (node, pos + 1)
            nxt = indices[pos]
            if nxt in seen:
                continue
            seen.add(nxt)
            order.append(pos if perm is None else perm[pos])
            stack.append((nxt, indptr[nxt]))
        orders.append(order)
    depth = max((len(o) for o in orders), default=0)
    return [torch.tensor([o[k] for o in orders if k < len(o)], dtype=torch.int64, device=g.device) for k in range(depth)]


def prop_nodes(g, nodes_generator, message_func, reduce_func, apply_node_func=None) -> None:
    """Pulls each node frontier of ``nodes_generator`` in order."""
    for frontier in nodes_generator:
        pull(g, frontier, message_func, reduce_func, apply_node_func)


def prop_nodes_topo(g, message_func, reduce_func, apply_node_func=None, reverse: bool = False) -> None:
    """Propagates messages in topological order (leaves to root for a tree whose edges point
    from children to parents): every node is updated after all its predecessors."""
    prop_nodes(g, topological_nodes_generator(g, reverse), message_func, reduce_func, apply_node_func)


def prop_edges(g, edges_generator, message_func, reduce_func, apply_node_func=None) -> None:
    """Sends and receives along each edge frontier of ``edges_generator`` in order."""
    for frontier in edges_generator:
        send_and_recv(g, frontier, message_func, reduce_func, apply_node_func)


def prop_edges_dfs(g, source, message_func, reduce_func, reverse: bool = False, apply_node_func=None) -> None:
    """Propagates along the DFS tree edges from ``source``, one edge frontier at a time."""
    prop_edges(g, dfs_edges_generator(g, source, reverse), message_func, reduce_func, apply_node_func)


def _sources(g, source, name: str) -> torch.Tensor:
    ids = as_id_tensor(source, name, g.device)
    if ids.numel() and int(ids.max()) >= g.num_nodes():
        raise ValueError(f"{name}: node id {int(ids.max())} is out of range; the graph has {g.num_nodes()} nodes")
    return ids


def _require_square(g, name: str) -> None:
    if g.is_block:
        raise TypeError(f"{name}: traversal needs a graph, not a block")
