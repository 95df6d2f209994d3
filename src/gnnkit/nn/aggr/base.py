"""The aggregation interface shared by every reducer module in :mod:`gnnkit.nn.aggr`.

An aggregation reduces a variable-size set of messages per destination node to one vector:

    out[v] = AGG({ x[e] : index[e] = v })

Three ways to call it, all giving the same numbers:

* ``aggr(x, index, num_nodes)``: messages ``x`` [E, *F] grouped by ``index`` [E] (any order);
  returns [num_nodes, *F]. Nodes that receive nothing get 0. This is the vectorised path
  (scatter kernels), used by the convolutions in :mod:`gnnkit.nn`.
* ``aggr.on_graph(g, messages)`` / ``aggr.from_src(g, x_src)``: the same on a graph or block,
  with the destination of every edge as the group. Builtin aggregations (sum, mean, max, min)
  lower to the fused ``gspmm`` kernels; ``from_src`` never builds an [E, F] message tensor for
  them.
* ``aggr.reduce_func('m', 'h')``: a reduce function for ``g.update_all(message, reduce)``; the
  builtin descriptor (``fn.sum('m', 'h')`` ...) for builtin aggregations so the planner can fuse,
  otherwise a user-defined reduce on the degree-bucketed mailbox ``[nodes, degree, *F]``.
"""

from __future__ import annotations

import torch
from torch import nn

from ... import ops

__all__ = ["Aggregation", "check_messages"]


def check_messages(name: str, x: torch.Tensor, index: torch.Tensor, num_nodes: int | None) -> int:
    """Validates ``(x, index, num_nodes)`` where they enter; returns ``num_nodes``."""
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        raise ValueError(f"{name}: x must be a tensor of messages [E, *F], got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(index, torch.Tensor) or index.dim() != 1 or index.shape[0] != x.shape[0]:
        shape = tuple(index.shape) if isinstance(index, torch.Tensor) else type(index).__name__
        raise ValueError(f"{name}: index must be a 1-D tensor with one group id per message ({x.shape[0]}), got {shape}")
    if index.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name}: index must be an integer tensor, got {index.dtype}")
    if num_nodes is None:
        num_nodes = int(index.max()) + 1 if index.numel() else 0
    num_nodes = int(num_nodes)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise ValueError(
            f"{name}: index values must lie in [0, num_nodes={num_nodes}), got [{int(index.min())}, {int(index.max())}]"
        )
    return num_nodes


def group_counts(index: torch.Tensor, num_nodes: int, dtype: torch.dtype) -> torch.Tensor:
    """Number of messages per group as a float column ready to broadcast. Shapes: [E] -> [N]."""
    return torch.bincount(index, minlength=num_nodes).to(dtype)


def broadcast_rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` [N] viewed as [N, 1, ..., 1] to broadcast against ``like`` [N, *F]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class Aggregation(nn.Module):
    """Base class: subclasses implement :meth:`aggregate` (and set ``builtin`` if a fused kernel exists)."""

    #: name of the fused reducer (``'sum'``, ``'mean'``, ``'max'``, ``'min'``) or ``None``.
    builtin: str | None = None

    def reset_parameters(self) -> None:
        pass

    def forward(self, x: torch.Tensor, index: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
        """Reduces messages ``x`` [E, *F] grouped by ``index`` [E] into [num_nodes, *F']."""
        num_nodes = check_messages(type(self).__name__, x, index, num_nodes)
        index = index.to(torch.int64)
        return self.aggregate(x, index, num_nodes)

    def aggregate(self, x: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------
    # graph-level entry points

    def on_graph(self, g, messages: torch.Tensor) -> torch.Tensor:
        """Reduces per-edge ``messages`` [E, *F] (edge-id order) into the destination nodes of ``g``."""
        adj = g.sparse
        if not isinstance(messages, torch.Tensor) or messages.dim() == 0 or messages.shape[0] != adj.num_edges:
            shape = tuple(messages.shape) if isinstance(messages, torch.Tensor) else type(messages).__name__
            raise ValueError(f"{type(self).__name__}.on_graph: messages has shape {shape}; expected [num_edges={adj.num_edges}, ...]")
        if self.builtin is not None and messages.is_floating_point():
            return ops.gspmm(adj, "copy_e", self.builtin, efeat=messages)
        return self.aggregate(messages, adj.dst, adj.num_dst)

    def from_src(self, g, x_src: torch.Tensor) -> torch.Tensor:
        """Aggregates source features along the edges (message ``copy_u``). [num_src, *F] -> [num_dst, *F']."""
        adj = g.sparse
        if not isinstance(x_src, torch.Tensor) or x_src.dim() == 0 or x_src.shape[0] != adj.num_src:
            shape = tuple(x_src.shape) if isinstance(x_src, torch.Tensor) else type(x_src).__name__
            raise ValueError(f"{type(self).__name__}.from_src: x_src has shape {shape}; expected [num_src={adj.num_src}, ...]")
        if self.builtin is not None:
            return ops.gspmm(adj, "copy_u", self.builtin, ufeat=x_src)
        return self.aggregate(x_src.index_select(0, adj.src), adj.dst, adj.num_dst)

    def aggregate_mailbox(self, mailbox: torch.Tensor) -> torch.Tensor:
        """Reduces a degree bucket ``mailbox`` [B, D, *F] (every node has D messages) to [B, *F']."""
        num_nodes, degree = mailbox.shape[0], mailbox.shape[1]
        index = torch.arange(num_nodes, device=mailbox.device).repeat_interleave(degree)
        return self.aggregate(mailbox.reshape(num_nodes * degree, *mailbox.shape[2:]), index, num_nodes)

    def reduce_func(self, msg_field: str, out_field: str):
        """A reduce function for ``g.update_all``: the builtin descriptor when fusable, else a mailbox UDF."""
        if self.builtin is not None:
            try:
                from ... import function as fn  # the message-passing layer, when present

                return getattr(fn, self.builtin)(msg_field, out_field)
            except (ImportError, AttributeError):
                pass

        def reduce(nodes):
            return {out_field: self.aggregate_mailbox(nodes.mailbox[msg_field])}

        return reduce

    def extra_repr(self) -> str:
        return ""
