"""TreeLSTM: the Child-Sum Tree-LSTM cell of Tai, Socher & Manning, *Improved Semantic
Representations From Tree-Structured Long Short-Term Memory Networks* (ACL 2015)."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import check_positive_int, check_rows, require_square

__all__ = ["TreeLSTM"]


class TreeLSTM(nn.Module):
    r"""Child-Sum Tree-LSTM over trees whose edges point from child to parent.

    For node :math:`j` with children :math:`C(j)`:

    .. math::

        \tilde h_j = \sum_{k \in C(j)} h_k, \qquad
        f_{jk} = \sigma(W_f x_j + U_f h_k + b_f)

    .. math::

        [i_j; o_j; u_j] = [\sigma; \sigma; \tanh]\big(W_{iou} x_j + U_{iou} \tilde h_j + b_{iou}\big), \qquad
        c_j = i_j \odot u_j + \sum_{k \in C(j)} f_{jk} \odot c_k, \qquad h_j = o_j \odot \tanh c_j

    Leaves have no children (:math:`\tilde h = 0`, no forget term). The recursion runs level by
    level from the leaves with ``gnnkit.prop_nodes_topo``: the message carries a child's
    ``(h, c)``, the reducer sees each degree bucket's children as a mailbox, and the node update
    forms :math:`c_j, h_j`. A batch of trees (``gk.batch``) runs as one forest.

    Args:
        in_feats: width of :math:`x`.
        out_feats: width of :math:`h` and :math:`c`.

    Shapes: ``feat`` [N, in_feats]; returns ``(h, c)``, each [N, out_feats].
    """

    def __init__(self, in_feats: int, out_feats: int):
        super().__init__()
        owner = type(self).__name__
        self._in_feats = check_positive_int(in_feats, "in_feats", owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self.W_iou = nn.Linear(in_feats, 3 * out_feats, bias=True)
        self.U_iou = nn.Linear(out_feats, 3 * out_feats, bias=False)
        self.W_f = nn.Linear(in_feats, out_feats, bias=True)
        self.U_f = nn.Linear(out_feats, out_feats, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for linear in (self.W_iou, self.U_iou, self.W_f, self.U_f):
            nn.init.xavier_uniform_(linear.weight)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)

    def _message(self, edges):
        return {"child_h": edges.src["h"], "child_c": edges.src["c"]}

    def _reduce(self, nodes):
        # child_h, child_c: [nodes, children, H]; wf: [nodes, H]
        child_h, child_c = nodes.mailbox["child_h"], nodes.mailbox["child_c"]
        forget = torch.sigmoid(self.U_f(child_h) + nodes.data["wf"].unsqueeze(1))
        return {
            "iou": nodes.data["wiou"] + self.U_iou(child_h.sum(dim=1)),
            "c_children": (forget * child_c).sum(dim=1),
        }

    def _apply(self, nodes):
        gates_i, gates_o, gates_u = nodes.data["iou"].chunk(3, dim=-1)
        c = torch.sigmoid(gates_i) * torch.tanh(gates_u) + nodes.data["c_children"]
        return {"h": torch.sigmoid(gates_o) * torch.tanh(c), "c": c}

    def forward(self, graph, feat: torch.Tensor):
        from ... import prop_nodes_topo

        owner = type(self).__name__
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "nodes", owner)
        with graph.local_scope():
            frame = graph.srcdata
            # wiou: [N, 3H]; wf: [N, H]. Every node starts as a leaf; inner nodes are
            # overwritten in topological order, so leaves are right whether or not the
            # traversal applies the node update to them.
            frame["wiou"] = self.W_iou(feat)
            frame["wf"] = self.W_f(feat)
            frame["iou"] = frame["wiou"]
            frame["c_children"] = feat.new_zeros(feat.shape[0], self._out_feats)
            leaf = self._apply(_NodeView(frame))
            frame["h"], frame["c"] = leaf["h"], leaf["c"]
            prop_nodes_topo(graph, self._message, self._reduce, apply_node_func=self._apply)
            return frame["h"], frame["c"]

    def extra_repr(self) -> str:
        return f"in={self._in_feats}, out={self._out_feats}"


class _NodeView:
    """The ``nodes.data`` view of all nodes, to run the node update on leaves directly."""

    def __init__(self, frame):
        self.data = frame
