"""Graph preprocessing for BiGG: node ordering, lower-triangular rows, and the batched row trees.

Row ``u`` of the lower-triangular adjacency lists the neighbours ``v < u``. It is generated as a
binary tree over the column interval ``[0, u)``: a node over ``[lb, ub)`` of width ``w >= 2``
splits at ``mid = lb + w // 2`` into a left child ``[lb, mid)`` and a right child ``[mid, ub)``;
width-1 nodes are leaves (edges). Only *active* nodes (intervals holding at least one edge) exist.

:func:`build_forest` lays out the active nodes of many rows (of many graphs) level by level with
vectorised numpy only; the loop runs over tree levels (``O(log n)``), never over rows or edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

# kinds of a child / of a row summary
EMPTY, LEAF, INTERNAL = 0, 1, 2

NODE_ORDERS = ("dfs", "bfs", "dfs_min_degree", "bfs_min_degree", "given")


# ----------------------------------------------------------------------------------------------
# input graphs -> (num_nodes, lower-triangular edge arrays)


def graph_edges(graph, name: str = "graphs") -> tuple[int, np.ndarray, np.ndarray]:
    """Returns ``(n, src, dst)`` of an undirected simple graph given as gnnkit Graph or networkx.

    Self-loops and duplicate/reverse edges are dropped: the model is for simple undirected graphs.
    """
    try:
        import networkx as nx
    except ImportError:  # pragma: no cover - networkx is a dependency of the project
        nx = None
    if nx is not None and isinstance(graph, nx.Graph):
        nodes = list(graph.nodes())
        index = {v: i for i, v in enumerate(nodes)}
        if graph.number_of_edges():
            pairs = np.array([(index[a], index[b]) for a, b in graph.edges()], dtype=np.int64)
            src, dst = pairs[:, 0], pairs[:, 1]
        else:
            src = dst = np.zeros(0, dtype=np.int64)
        n = len(nodes)
    elif hasattr(graph, "edges") and hasattr(graph, "num_nodes") and callable(graph.num_nodes):
        if getattr(graph, "is_block", False):
            raise ValueError(f"{name}: expected an ordinary graph, got a message-flow block")
        s, d = graph.edges()
        src = s.detach().cpu().numpy().astype(np.int64)
        dst = d.detach().cpu().numpy().astype(np.int64)
        n = int(graph.num_nodes())
    else:
        raise TypeError(f"{name}: expected gnnkit.Graph or networkx.Graph, got {type(graph).__name__}")
    return n, src, dst


def lower_triangular(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique undirected edges as ``(row, col)`` with ``row > col`` sorted by (row, col)."""
    row = np.maximum(src, dst)
    col = np.minimum(src, dst)
    keep = row != col
    key = np.unique(row[keep] * np.int64(max(n, 1)) + col[keep])
    return key // max(n, 1), key % max(n, 1)


def node_order(n: int, src: np.ndarray, dst: np.ndarray, order: str) -> np.ndarray:
    """Permutation ``perm`` (``perm[new] = old``) putting the graph in DFS/BFS order.

    ``"dfs"`` / ``"bfs"``: each connected component is traversed from its highest-degree node
    (ties: smallest id), GRAN's choice; components are taken in order of their start node's
    degree. ``"dfs_min_degree"`` / ``"bfs_min_degree"``: from a lowest-degree node instead (a
    leaf of a tree, a corner of a grid), so a lattice is walked as a boustrophedon whose rows
    repeat one pattern, instead of starting inside it. Neighbours are visited by increasing id.
    ``"given"`` keeps the ids.
    """
    if order == "given" or n == 0:
        return np.arange(n, dtype=np.int64)
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order, depth_first_order

    adj = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    degree = np.asarray(adj.sum(axis=1)).ravel()
    # stable: highest (or lowest) degree first, then smallest id
    candidates = np.lexsort((np.arange(n), degree if order.endswith("_min_degree") else -degree))
    visited = np.zeros(n, dtype=bool)
    traverse = depth_first_order if order.startswith("dfs") else breadth_first_order
    pieces = []
    for start in candidates:
        if visited[start]:
            continue
        component = traverse(adj, int(start), directed=False, return_predecessors=False)
        visited[component] = True
        pieces.append(component)
        if visited.all():
            break
    return np.concatenate(pieces).astype(np.int64)


@dataclass
class RowGraph:
    """One graph as rows of its lower-triangular adjacency (after node ordering)."""

    num_nodes: int
    rows: np.ndarray  # [m] row index u of each edge (u > col)
    cols: np.ndarray  # [m]


def prepare_graph(graph, order: str = "dfs", name: str = "graphs") -> RowGraph:
    if order not in NODE_ORDERS:
        raise ValueError(f"node_order: expected one of {NODE_ORDERS}, got {order!r}")
    n, src, dst = graph_edges(graph, name)
    if n < 1:
        raise ValueError(f"{name}: every graph needs at least one node, got an empty graph")
    perm = node_order(n, src, dst, order)
    new_id = np.empty(n, dtype=np.int64)
    new_id[perm] = np.arange(n)
    rows, cols = lower_triangular(n, new_id[src], new_id[dst])
    return RowGraph(n, rows, cols)


# ----------------------------------------------------------------------------------------------
# batched layout of the active tree nodes


@dataclass
class Level:
    """Internal (width >= 2) active nodes of one tree depth, for all rows at once."""

    width_left: np.ndarray
    width_right: np.ndarray
    has_left: np.ndarray  # bool
    has_right: np.ndarray  # bool
    left_kind: np.ndarray  # EMPTY / LEAF / INTERNAL
    right_kind: np.ndarray
    left_child: np.ndarray  # index into next level's internal nodes (or -1)
    right_child: np.ndarray
    # for the next level: which of its internal nodes are left / right children, in order
    next_from_left: np.ndarray = field(default=None)  # parent index, per next-level node
    next_is_left: np.ndarray = field(default=None)  # bool, per next-level node


@dataclass
class Forest:
    """Rows of a batch of graphs, their Fenwick layout and their active tree nodes by level."""

    num_rows: int
    row_graph: np.ndarray  # graph index of each row
    row_index: np.ndarray  # u within its graph
    row_graph_nodes: np.ndarray  # n of the row's graph
    row_kind: np.ndarray  # summary of the row: EMPTY / LEAF (u == 1 with an edge) / INTERNAL
    row_root: np.ndarray  # index into level-0 internal nodes (or -1)
    root_rows: np.ndarray  # row of each level-0 internal node
    levels: list
    graph_sizes: np.ndarray
    num_decisions: int = 0

    def to_torch(self, device):
        return _TorchForest(self, device)


def build_forest(graphs: list[RowGraph], row_start: int = 0, row_stop: int | None = None) -> Forest:
    """Active tree nodes of rows ``[row_start, row_stop)`` of every graph, grouped by depth.

    With several graphs the row range must be the whole graph (``row_start=0``); a single huge
    graph may be cut into row blocks (sqrt-blocking) by giving the range.
    """
    sizes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
    if row_stop is None:
        starts = np.zeros(len(graphs), dtype=np.int64)
        stops = sizes.copy()
    else:
        if len(graphs) != 1:
            raise ValueError("row ranges are only supported for a single graph")
        starts = np.array([row_start], dtype=np.int64)
        stops = np.array([min(row_stop, sizes[0])], dtype=np.int64)
    counts = stops - starts
    offsets = np.concatenate([[0], np.cumsum(counts)])
    num_rows = int(offsets[-1])
    row_graph = np.repeat(np.arange(len(graphs)), counts)
    row_index = np.arange(num_rows) - offsets[row_graph] + starts[row_graph]
    row_graph_nodes = sizes[row_graph]

    e_rows, e_cols = [], []
    for g, rg in enumerate(graphs):  # loop over graphs (batch entries), not rows
        keep = (rg.rows >= starts[g]) & (rg.rows < stops[g])
        e_rows.append(rg.rows[keep] - starts[g] + offsets[g])
        e_cols.append(rg.cols[keep])
    e_row = np.concatenate(e_rows) if e_rows else np.zeros(0, np.int64)
    e_col = np.concatenate(e_cols) if e_cols else np.zeros(0, np.int64)

    row_has_edge = np.zeros(num_rows, dtype=bool)
    row_has_edge[e_row] = True
    row_kind = np.where(row_has_edge, np.where(row_index >= 2, INTERNAL, LEAF), EMPTY)

    # edges of internal roots start at interval [0, u)
    alive = row_index[e_row] >= 2
    e_row, e_col = e_row[alive], e_col[alive]
    e_lb = np.zeros(len(e_row), dtype=np.int64)
    e_ub = row_index[e_row].astype(np.int64)
    stride = np.int64(max(int(sizes.max()) if len(sizes) else 1, 1) + 1)

    levels = []
    key = e_row * stride + e_lb
    uniq, inverse = np.unique(key, return_inverse=True)
    root_rows = uniq // stride
    row_root = np.full(num_rows, -1, dtype=np.int64)
    row_root[root_rows] = np.arange(len(root_rows))
    num_decisions = int(num_rows - np.count_nonzero(row_index == 0))
    while len(uniq):
        num = len(uniq)
        lb = uniq % stride
        ub = np.zeros(num, dtype=np.int64)
        ub[inverse] = e_ub
        width = ub - lb
        mid = lb + width // 2
        e_right = e_col >= mid[inverse]
        has_left = np.zeros(num, dtype=bool)
        has_right = np.zeros(num, dtype=bool)
        has_left[inverse[~e_right]] = True
        has_right[inverse[e_right]] = True
        width_left = mid - lb
        width_right = ub - mid
        left_kind = np.where(has_left, np.where(width_left >= 2, INTERNAL, LEAF), EMPTY)
        right_kind = np.where(has_right, np.where(width_right >= 2, INTERNAL, LEAF), EMPTY)
        num_decisions += num + int(has_left.sum())

        # move edges into their child; edges reaching a leaf are done
        e_mid = mid[inverse]
        new_lb = np.where(e_right, e_mid, e_lb)
        new_ub = np.where(e_right, e_ub, e_mid)
        survive = (new_ub - new_lb) >= 2
        parent = inverse[survive]
        side_right = e_right[survive]
        e_row, e_col = e_row[survive], e_col[survive]
        e_lb, e_ub = new_lb[survive], new_ub[survive]
        key = e_row * stride + e_lb
        uniq, inverse = np.unique(key, return_inverse=True)
        next_parent = np.zeros(len(uniq), dtype=np.int64)
        next_is_left = np.zeros(len(uniq), dtype=bool)
        next_parent[inverse] = parent
        next_is_left[inverse] = ~side_right
        left_child = np.full(num, -1, dtype=np.int64)
        right_child = np.full(num, -1, dtype=np.int64)
        left_child[next_parent[next_is_left]] = np.nonzero(next_is_left)[0]
        right_child[next_parent[~next_is_left]] = np.nonzero(~next_is_left)[0]
        levels.append(
            Level(
                width_left, width_right, has_left, has_right, left_kind, right_kind,
                left_child, right_child, next_parent, next_is_left,
            )
        )
    return Forest(
        num_rows, row_graph, row_index, row_graph_nodes, row_kind, row_root, root_rows, levels,
        counts, num_decisions,
    )


class _TorchIndex:
    """Index arrays of one level as tensors on the model's device (built once per forward)."""

    def __init__(self, level: Level, device):
        t = lambda a, dtype=torch.int64: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        self.num = len(level.has_left)
        self.has_left = t(level.has_left, torch.bool)
        self.has_right = t(level.has_right, torch.bool)
        self.has_left_long = t(level.has_left.astype(np.int64))
        self.label_left = t(level.has_left, torch.float64)
        self.label_right = t(level.has_right[level.has_left], torch.float64)
        self.left_pos = t(np.nonzero(level.has_left)[0])
        # next level: internal children, and which parent / side produced them
        self.next_parent = t(level.next_from_left)
        self.next_is_left = t(level.next_is_left, torch.bool)
        self.next_left_ids = t(np.nonzero(level.next_is_left)[0])
        self.next_right_ids = t(np.nonzero(~level.next_is_left)[0])
        self.next_num = len(level.next_is_left)
        # parents of the internal right children, in next-level order of those children
        self.right_parents = t(level.next_from_left[~level.next_is_left])
        self.left_parents = t(level.next_from_left[level.next_is_left])
        self.kind_pair = t(level.left_kind * 3 + level.right_kind)
        self.left_kind = t(level.left_kind)
        # next-level states = cat([a, r])[next_gather]: left children copy their parent's a
        rank_right = np.cumsum(~level.next_is_left) - 1
        self.next_gather = t(np.where(level.next_is_left, level.next_from_left, self.num + rank_right))
        # gather index for the children's bottom-up states: 0 empty, 1 leaf, 2 + k internal
        self.left_table_idx = t(_table_index(level.left_kind, level.left_child, level.next_is_left))
        self.right_table_idx = t(_table_index(level.right_kind, level.right_child, ~level.next_is_left))
        self.widths_left = level.width_left
        self.widths_right = level.width_right


def _table_index(kind: np.ndarray, child: np.ndarray, next_side_mask: np.ndarray) -> np.ndarray:
    """Maps each parent's child to a row of cat([empty, leaf, children_of_that_side])."""
    rank = np.cumsum(next_side_mask) - 1  # position of a next-level node among same-side children
    idx = kind.copy()
    internal = kind == INTERNAL
    idx[internal] = 2 + rank[child[internal]]
    return idx


class _TorchForest:
    def __init__(self, forest: Forest, device):
        self.forest = forest
        self.levels = [_TorchIndex(lv, device) for lv in forest.levels]
        t = lambda a, dtype=torch.int64: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        f = forest
        kind_idx = f.row_kind.copy()
        kind_idx[f.row_kind == INTERNAL] = 2 + f.row_root[f.row_kind == INTERNAL]
        self.row_summary_idx = t(kind_idx)
        self.root_rows = t(f.root_rows)
        decide = f.row_index >= 1
        self.edge_rows = t(np.nonzero(decide)[0])
        self.edge_labels = t(f.row_kind[decide] != EMPTY, torch.float64)
