"""Message passing on a Graph: the planner that lowers builtins to fused kernels, and UDF execution.

``update_all(g, message, reduce, apply)`` runs three stages:

1. message: per-edge values. A builtin message paired with a builtin reduce is never built as an
   edge tensor: the pair is lowered to one ``gspmm`` call (copy_u/copy_e/u_op_e with any reducer).
   Messages that read the destination (``u_add_v``, ``u_dot_v``, ...) are computed by ``gsddmm``
   and then reduced with ``copy_e``. A message UDF receives an :class:`EdgeBatch`.
2. reduce: a builtin reducer becomes ``gspmm``; a reduce UDF receives :class:`NodeBatch` es
   built by degree bucketing (nodes grouped by in-degree, ``mailbox[k]`` of shape
   ``[nodes_in_bucket, degree, ...]``, no padding to the maximum degree); an aggregation
   (``fn.aggregate``) receives all messages with the sparse structure at once.
3. apply: a node UDF on every receiving node.

Nodes with no incoming message get zeros from every reducer (sum, mean, max, min and UDFs alike:
a reduce UDF is not called for them), and ``apply`` still runs on them. ``pull`` on nodes none
of which has an in-edge only runs ``apply``, so tree models keep their leaves' features.
"""

from __future__ import annotations

import torch

from .. import ops
from ..function import MessageFunction, ReduceFunction
from ..graph.graph import ALL, as_id_tensor
from .udf import EdgeBatch, NodeBatch

__all__ = [
    "update_all",
    "apply_edges",
    "apply_nodes",
    "send_and_recv",
    "pull",
    "push",
    "filter_nodes",
    "filter_edges",
    "edge_softmax",
    "AggregateFunction",
    "aggregate",
]

# Messages an SpMM consumes directly: (lhs target, op, rhs target) -> gspmm message name.
_FUSED_SPMM = {
    ("u", "copy", None): "copy_u",
    ("e", "copy", None): "copy_e",
    ("u", "add", "e"): "u_add_e",
    ("u", "sub", "e"): "u_sub_e",
    ("u", "mul", "e"): "u_mul_e",
    ("u", "div", "e"): "u_div_e",
    ("e", "add", "u"): "u_add_e",
    ("e", "mul", "u"): "u_mul_e",
}


class AggregateFunction:
    """A reduce that sees all messages at once: ``aggregator(messages [E, ...], adj) -> [num_dst, ...]``.

    Built by :func:`aggregate`; used for learnable aggregations (softmax, power mean, ...)."""

    __slots__ = ("aggregator", "msg_field", "out_field")

    def __init__(self, aggregator, msg_field: str, out_field: str):
        if not callable(aggregator):
            raise TypeError(f"aggregate: aggregator must be callable, got {type(aggregator).__name__}")
        self.aggregator, self.msg_field, self.out_field = aggregator, msg_field, out_field


def aggregate(aggregator, msg: str, out: str) -> AggregateFunction:
    """Wraps ``aggregator(messages, adj)`` (e.g. an ``nn.aggr`` module) as a reduce function."""
    return AggregateFunction(aggregator, msg, out)


# ------------------------------------------------------------------------------------------------
# public entry points


def update_all(g, message_func, reduce_func, apply_node_func=None) -> None:
    """Sends messages along every edge, reduces them into every destination, then applies."""
    out = _message_and_reduce(g, g.sparse, None, message_func, reduce_func)
    _write_rows(g.dstdata, None, out)
    if apply_node_func is not None:
        _apply(g, apply_node_func, None)


def send_and_recv(g, edges, message_func, reduce_func, apply_node_func=None) -> None:
    """Message passing along the given edges only; only their destinations are updated."""
    eids = _edge_ids(g, edges, "send_and_recv: edges")
    receivers = torch.unique(g.sparse.dst.index_select(0, eids))
    _partial_pass(g, eids, receivers, message_func, reduce_func, apply_node_func)


def pull(g, v, message_func, reduce_func, apply_node_func=None) -> None:
    """Nodes ``v`` receive messages along all their in-edges and are updated."""
    v = _node_ids(g, v, g.num_dst_nodes(), "pull: v")
    eids = g.in_edges(v, form="eid")
    if eids.numel() == 0:
        if apply_node_func is not None:
            _apply(g, apply_node_func, v)
        return
    _partial_pass(g, eids, v, message_func, reduce_func, apply_node_func)


def push(g, u, message_func, reduce_func, apply_node_func=None) -> None:
    """Nodes ``u`` send messages along all their out-edges; the receivers are updated."""
    u = _node_ids(g, u, g.num_src_nodes(), "push: u")
    send_and_recv(g, g.out_edges(u, form="eid"), message_func, reduce_func, apply_node_func)


def apply_edges(g, func, edges=ALL) -> None:
    """Computes edge features with a builtin message or an edge UDF, for all or some edges."""
    if isinstance(edges, slice) and edges == ALL:
        values = _edge_values(g, g.sparse, None, func)
        _write_rows(g.edata, None, values)
        return
    eids = _edge_ids(g, edges, "apply_edges: edges")
    adj = _sub_adj(g, eids)
    _write_rows(g.edata, eids, _edge_values(g, adj, eids, func))


def apply_nodes(g, func, v=ALL) -> None:
    """Updates node features with a node UDF ``func(nodes) -> dict``, for all or some nodes."""
    nodes = None if isinstance(v, slice) and v == ALL else _node_ids(g, v, g.num_dst_nodes(), "apply_nodes: v")
    _apply(g, func, nodes)


def filter_nodes(g, predicate, nodes=ALL) -> torch.Tensor:
    """Ids of the nodes for which ``predicate(nodes) -> bool tensor`` holds."""
    ids = _node_ids(g, nodes, g.num_dst_nodes(), "filter_nodes: nodes")
    mask = predicate(NodeBatch(g, ids, g.dstdata))
    return ids[_check_mask(mask, ids.numel(), "filter_nodes")]


def filter_edges(g, predicate, edges=ALL) -> torch.Tensor:
    """Ids of the edges for which ``predicate(edges) -> bool tensor`` holds."""
    eids = _edge_ids(g, edges, "filter_edges: edges")
    batch = EdgeBatch(g, g.sparse.src.index_select(0, eids), g.sparse.dst.index_select(0, eids), eids)
    return eids[_check_mask(predicate(batch), eids.numel(), "filter_edges")]


def edge_softmax(g, logits: torch.Tensor, eids=ALL, norm_by: str = "dst") -> torch.Tensor:
    """Softmax of edge ``logits`` over each node's incoming edges (``norm_by='src'``: outgoing).

    Shapes: logits [E, *H] (or [len(eids), *H] when ``eids`` selects edges); returns the same."""
    if isinstance(eids, slice) and eids == ALL:
        return ops.edge_softmax(g.sparse, logits, norm_by)
    eids = _edge_ids(g, eids, "edge_softmax: eids")
    return ops.edge_softmax(_sub_adj(g, eids), logits, norm_by)


# ------------------------------------------------------------------------------------------------
# planner


def _message_and_reduce(g, adj, eids, message_func, reduce_func) -> dict:
    """Runs message + reduce on the edges of ``adj`` (edge rows ``eids`` of g, None = all)."""
    if isinstance(message_func, MessageFunction) and isinstance(reduce_func, ReduceFunction):
        if message_func.out_field != reduce_func.msg_field:
            raise ValueError(
                f"the reduce function reads messages {reduce_func.msg_field!r} but the message function "
                f"writes {message_func.out_field!r}"
            )
        fused = _FUSED_SPMM.get((message_func.lhs_target, message_func.op, message_func.rhs_target))
        if fused is not None:
            u_field, e_field = _spmm_fields(message_func)
            ufeat = g.srcdata[u_field] if u_field is not None else None
            efeat = _edge_feature(g, e_field, eids) if e_field is not None else None
            return {reduce_func.out_field: ops.gspmm(adj, fused, reduce_func.reducer, ufeat, efeat)}
    messages = _edge_values(g, adj, eids, message_func)
    return _reduce(g, adj, messages, reduce_func)


def _spmm_fields(mf: MessageFunction):
    if mf.op == "copy":
        return (mf.lhs_field, None) if mf.lhs_target == "u" else (None, mf.lhs_field)
    if mf.lhs_target == "u":
        return mf.lhs_field, mf.rhs_field
    return mf.rhs_field, mf.lhs_field


def _edge_values(g, adj, eids, func) -> dict:
    """Per-edge tensors from a builtin message or an edge UDF."""
    if isinstance(func, MessageFunction):
        lhs = _target_feature(g, func.lhs_target, func.lhs_field, eids)
        if func.op == "copy":
            op, rhs, rhs_target = "copy_lhs", None, "v"
        else:
            op, rhs, rhs_target = func.op, _target_feature(g, func.rhs_target, func.rhs_field, eids), func.rhs_target
        return {func.out_field: ops.gsddmm(adj, op, lhs, rhs, func.lhs_target, rhs_target)}
    if not callable(func):
        raise TypeError(f"message/edge function must be a builtin or a callable, got {type(func).__name__}")
    batch = EdgeBatch(g, adj.src, adj.dst, eids)
    return _check_udf_output(func(batch), adj.num_edges, "edge function")


def _reduce(g, adj, messages: dict, reduce_func) -> dict:
    if isinstance(reduce_func, ReduceFunction):
        msg = _pick(messages, reduce_func.msg_field)
        return {reduce_func.out_field: ops.gspmm(adj, "copy_e", reduce_func.reducer, None, msg)}
    if isinstance(reduce_func, AggregateFunction):
        msg = _pick(messages, reduce_func.msg_field)
        return {reduce_func.out_field: reduce_func.aggregator(msg, adj)}
    if not callable(reduce_func):
        raise TypeError(f"reduce function must be a builtin or a callable, got {type(reduce_func).__name__}")
    return _reduce_by_degree_buckets(g, adj, messages, reduce_func)


def _reduce_by_degree_buckets(g, adj, messages: dict, reduce_func) -> dict:
    """Calls the reduce UDF once per distinct in-degree with a dense ``[n, degree, ...]`` mailbox."""
    view = adj.in_csr()
    degrees = view.degrees()
    order = torch.argsort(degrees, stable=True)
    sorted_deg = degrees.index_select(0, order)
    bucket_degs, bucket_sizes = torch.unique_consecutive(sorted_deg, return_counts=True)
    node_parts, result_parts = [], []
    offset = 0
    for degree, size in zip(bucket_degs.tolist(), bucket_sizes.tolist()):
        nodes = order[offset : offset + size]
        offset += size
        if degree == 0:
            continue
        positions = (view.indptr.index_select(0, nodes).view(-1, 1) + torch.arange(degree, device=nodes.device)).view(-1)
        edge_rows = positions if view.perm is None else view.perm.index_select(0, positions)
        mailbox = {k: v.index_select(0, edge_rows).view(size, degree, *v.shape[1:]) for k, v in messages.items()}
        out = _check_udf_output(reduce_func(NodeBatch(g, nodes, g.dstdata, mailbox)), size, "reduce function")
        node_parts.append(nodes)
        result_parts.append(out)
    if not result_parts:
        return {}
    all_nodes = torch.cat(node_parts)
    merged = {}
    for key in result_parts[0]:
        values = torch.cat([part[key] for part in result_parts])
        full = values.new_zeros(adj.num_dst, *values.shape[1:])
        merged[key] = full.index_copy(0, all_nodes, values)
    return merged


def _partial_pass(g, eids, receivers, message_func, reduce_func, apply_node_func) -> None:
    adj = _sub_adj(g, eids)
    out = _message_and_reduce(g, adj, eids, message_func, reduce_func)
    _write_rows(g.dstdata, receivers, {k: v.index_select(0, receivers) for k, v in out.items()})
    if apply_node_func is not None:
        _apply(g, apply_node_func, receivers)


def _apply(g, func, nodes) -> None:
    num = g.num_dst_nodes() if nodes is None else nodes.numel()
    out = _check_udf_output(func(NodeBatch(g, nodes, g.dstdata, num_nodes=num)), num, "apply function")
    _write_rows(g.dstdata, nodes, out)


# ------------------------------------------------------------------------------------------------
# helpers


def _sub_adj(g, eids: torch.Tensor) -> ops.SparseAdj:
    adj = g.sparse
    return ops.SparseAdj(adj.src.index_select(0, eids), adj.dst.index_select(0, eids), adj.num_src, adj.num_dst)


def _edge_feature(g, field: str, eids):
    column = g.edata[field]
    return column if eids is None else column.index_select(0, eids)


def _target_feature(g, target: str, field: str, eids):
    if target == "u":
        return g.srcdata[field]
    if target == "v":
        return g.dstdata[field]
    return _edge_feature(g, field, eids)


def _pick(messages: dict, field: str) -> torch.Tensor:
    if field not in messages:
        raise KeyError(f"the reduce function reads messages {field!r} but the message function produced {sorted(messages)}")
    return messages[field]


def _write_rows(frame, rows, values: dict) -> None:
    for key, value in values.items():
        if rows is None:
            frame[key] = value
            continue
        if key in frame:
            column = frame[key]
            if column.shape[1:] != value.shape[1:]:
                raise ValueError(
                    f"cannot update {key!r}: existing rows have shape {tuple(column.shape[1:])}, new rows {tuple(value.shape[1:])}"
                )
            frame[key] = column.index_copy(0, rows, value.to(column.dtype))
        else:
            frame[key] = value.new_zeros(frame.num_rows, *value.shape[1:]).index_copy(0, rows, value)


def _check_udf_output(out, rows: int, what: str) -> dict:
    if not isinstance(out, dict):
        raise TypeError(f"a {what} must return a dict of tensors, got {type(out).__name__}")
    for key, value in out.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != rows:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"the {what} returned {key!r} with shape {shape}; expected {rows} rows")
    return out


def _check_mask(mask, n: int, what: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (n,):
        raise ValueError(f"{what}: the predicate must return a bool tensor of shape ({n},)")
    return mask


def _edge_ids(g, edges, name: str) -> torch.Tensor:
    if isinstance(edges, slice) and edges == ALL:
        return torch.arange(g.num_edges(), device=g.device)
    if isinstance(edges, tuple) and len(edges) == 2:
        return g.edge_ids(*edges) if not isinstance(edges[0], int) else torch.tensor([g.edge_ids(*edges)], device=g.device)
    eids = as_id_tensor(edges, name, g.device)
    if eids.numel() and int(eids.max()) >= g.num_edges():
        raise ValueError(f"{name}: edge id {int(eids.max())} is out of range; the graph has {g.num_edges()} edges")
    return eids


def _node_ids(g, nodes, limit: int, name: str) -> torch.Tensor:
    if isinstance(nodes, slice) and nodes == ALL:
        return torch.arange(limit, device=g.device)
    ids = as_id_tensor(nodes, name, g.device)
    if ids.numel() and int(ids.max()) >= limit:
        raise ValueError(f"{name}: node id {int(ids.max())} is out of range; there are {limit} nodes")
    return ids
