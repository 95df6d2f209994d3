"""Conversion between gnnkit graphs and networkx, scipy.sparse, edge lists and PyG's edge_index."""

from __future__ import annotations

import numpy as np
import torch

from .graph import Graph, _validated_pair, graph

__all__ = [
    "from_networkx",
    "to_networkx",
    "from_scipy",
    "to_scipy",
    "from_edge_index",
    "to_edge_index",
    "from_edge_list",
    "to_edge_list",
]


def from_networkx(nx_graph, node_attrs=None, edge_attrs=None, edge_id_attr_name=None) -> Graph:
    """A gnnkit graph from a networkx graph. Nodes are renumbered ``0..n-1`` in the order of
    ``nx_graph.nodes``; an undirected graph gets both directions of every edge (as DGL does).
    ``node_attrs`` / ``edge_attrs`` name attributes to copy into ``ndata`` / ``edata``."""
    import networkx as nx

    if not isinstance(nx_graph, nx.Graph):
        raise TypeError(f"from_networkx: expected a networkx graph, got {type(nx_graph).__name__}")
    index = {node: i for i, node in enumerate(nx_graph.nodes)}
    directed = nx_graph.is_directed()
    multi = nx_graph.is_multigraph()
    edges = list(nx_graph.edges(keys=True, data=True) if multi else nx_graph.edges(data=True))
    src, dst, data = [], [], []
    for edge in edges:
        u, v, attrs = edge[0], edge[1], edge[-1]
        src.append(index[u])
        dst.append(index[v])
        data.append(attrs)
        if not directed:
            src.append(index[v])
            dst.append(index[u])
            data.append(attrs)
    if edge_id_attr_name is not None:
        order = np.argsort([d[edge_id_attr_name] for d in data], kind="stable")
        src, dst, data = [src[i] for i in order], [dst[i] for i in order], [data[i] for i in order]
    g = graph((torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64)), num_nodes=len(index))
    for name in node_attrs or []:
        values = [nx_graph.nodes[node].get(name) for node in nx_graph.nodes]
        if any(v is None for v in values):
            raise KeyError(f"from_networkx: node attribute {name!r} is missing on some nodes")
        g.ndata[name] = _stack(values)
    for name in edge_attrs or []:
        values = [d.get(name) for d in data]
        if any(v is None for v in values):
            raise KeyError(f"from_networkx: edge attribute {name!r} is missing on some edges")
        g.edata[name] = _stack(values)
    return g


def _stack(values) -> torch.Tensor:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    return torch.as_tensor(np.asarray(values))


def to_networkx(g: Graph, node_attrs=None, edge_attrs=None, undirected: bool = False):
    """A networkx ``MultiDiGraph`` (or, with ``undirected=True``, a simple ``Graph``) of ``g``.

    Edges carry their gnnkit edge id as attribute ``id``."""
    import networkx as nx

    if g.is_block:
        raise TypeError("to_networkx: blocks cannot be converted; convert a graph")
    out = nx.Graph() if undirected else nx.MultiDiGraph()
    out.add_nodes_from(range(g.num_nodes()))
    for name in node_attrs or []:
        column = g.ndata[name]
        for i in range(g.num_nodes()):
            out.nodes[i][name] = column[i]
    src, dst = g.edges()
    src, dst = src.tolist(), dst.tolist()
    columns = {name: g.edata[name] for name in edge_attrs or []}
    for eid, (u, v) in enumerate(zip(src, dst)):
        attrs = {"id": eid}
        for name, column in columns.items():
            attrs[name] = column[eid]
        out.add_edge(u, v, **attrs)
    return out


def from_scipy(matrix, eweight_name: str | None = None) -> Graph:
    """A graph with an edge ``i -> j`` for every stored entry ``(i, j)`` of a square scipy matrix;
    the entries go to ``edata[eweight_name]`` when a name is given."""
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        raise TypeError(f"from_scipy: expected a scipy sparse matrix, got {type(matrix).__name__}")
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"from_scipy: expected a square matrix, got shape {matrix.shape}")
    coo = matrix.tocoo()
    g = graph((torch.as_tensor(coo.row, dtype=torch.int64), torch.as_tensor(coo.col, dtype=torch.int64)), num_nodes=matrix.shape[0])
    if eweight_name is not None:
        g.edata[eweight_name] = torch.as_tensor(coo.data)
    return g


def to_scipy(g: Graph, fmt: str = "csr", transpose: bool = False, weight: str | None = None):
    """The adjacency ``A[src, dst]`` as a scipy matrix (``fmt`` 'coo', 'csr' or 'csc')."""
    import scipy.sparse as sp

    if fmt not in ("coo", "csr", "csc"):
        raise ValueError(f"to_scipy: fmt must be 'coo', 'csr' or 'csc', got {fmt!r}")
    src, dst = (t.cpu().numpy() for t in g.edges())
    values = np.ones(src.size, dtype=np.float32) if weight is None else g.edata[weight].detach().cpu().numpy()
    rows, cols = (dst, src) if transpose else (src, dst)
    shape = (g.num_dst_nodes(), g.num_src_nodes()) if transpose else (g.num_src_nodes(), g.num_dst_nodes())
    return sp.coo_matrix((values, (rows, cols)), shape=shape).asformat(fmt)


def from_edge_index(edge_index: torch.Tensor, num_nodes: int | None = None) -> Graph:
    """A graph from PyG's ``[2, E]`` ``edge_index`` (row 0 sources, row 1 destinations)."""
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"from_edge_index: expected a [2, E] tensor, got {getattr(edge_index, 'shape', type(edge_index).__name__)}")
    return graph((edge_index[0], edge_index[1]), num_nodes=num_nodes)


def to_edge_index(g: Graph) -> torch.Tensor:
    """PyG's ``[2, E]`` ``edge_index`` of ``g``, in edge-id order."""
    return torch.stack(g.edges())


def from_edge_list(edges, num_nodes: int | None = None) -> Graph:
    """A graph from an iterable of ``(src, dst)`` pairs."""
    pairs = list(edges)
    for i, pair in enumerate(pairs[:1]):
        if len(pair) != 2:
            raise ValueError(f"from_edge_list: item {i} is {pair!r}; expected a (src, dst) pair")
    src = [p[0] for p in pairs]
    dst = [p[1] for p in pairs]
    _validated_pair((src, dst), "from_edge_list")
    return graph((torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64)), num_nodes=num_nodes)


def to_edge_list(g: Graph) -> list[tuple[int, int]]:
    """The edges as a list of ``(src, dst)`` pairs, in edge-id order."""
    src, dst = g.edges()
    return list(zip(src.tolist(), dst.tolist()))
