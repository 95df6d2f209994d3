"""A GRU whose gates are graph convolutions (GCRN-GRU, Seo et al. 2018; DCRNN's cell with
diffusion convolution, Li et al. 2018), with DynaGraph's shared aggregation.

    z   = sigma(W_xz *G x_t + W_hz *G h + b_z)
    r   = sigma(W_xr *G x_t + W_hr *G h + b_r)
    h~  = tanh(W_xh *G x_t + W_hh *G (r . h) + b_h)
    h_t = z . h + (1 - z) . h~

``*G`` is a graph convolution. With a split conv (``msg_pass`` + ``update``) and caching on, the
aggregation of ``x_t`` is computed once for the three gates (or taken from the caller, who may
have it cached), the aggregation of ``h`` once for ``z`` and ``r``, and the gates' weights are
applied in one product. With caching off every gate aggregates its own inputs, as a naive
implementation does; the outputs are the same.
"""

from __future__ import annotations

import torch
from torch import nn

from ..conv import SplitConv
from ..propagation import GraphOperators
from ._factory import make_conv, run_whole_conv

__all__ = ["GraphGRUCell"]


class GraphGRUCell(nn.Module):
    """GRU cell with graph-convolution gates.

    Args:
        in_feats: input size per node.
        hidden_feats: hidden size per node.
        conv: ``'cheb'``, ``'gcn'``, ``'sage'``, ``'diffusion'``, a :class:`SplitConv` subclass,
            or any conv class / factory ``(in_feats, out_feats, **conv_kwargs) -> module(graph, feat)``
            such as ``gnnkit.nn.GATConv`` (used whole, one per gate: no sharing then).
        conv_kwargs: extra arguments of the conv (``K`` for cheb and diffusion).
    """

    num_gates = 3

    def __init__(self, in_feats: int, hidden_feats: int, conv="cheb", **conv_kwargs):
        super().__init__()
        self.in_feats, self.hidden_feats = in_feats, hidden_feats
        self.caching = True
        probe = make_conv(conv, in_feats, hidden_feats, True, conv_kwargs)
        self.split = isinstance(probe, SplitConv)
        if self.split:
            # Columns [0:H] = z, [H:2H] = r, [2H:3H] = candidate.
            self.conv_x = make_conv(conv, in_feats, 3 * hidden_feats, True, conv_kwargs)
            self.conv_h = make_conv(conv, hidden_feats, 2 * hidden_feats, False, conv_kwargs)
            self.conv_hc = make_conv(conv, hidden_feats, hidden_feats, False, conv_kwargs)
        else:
            self.convs_x = nn.ModuleList([make_conv(conv, in_feats, hidden_feats, True, conv_kwargs) for _ in range(3)])
            self.convs_h = nn.ModuleList([make_conv(conv, hidden_feats, hidden_feats, True, conv_kwargs) for _ in range(3)])

    def reset_parameters(self) -> None:
        for module in self.children():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def msg_pass_input(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        """The time-independent aggregation of ``x`` (what a cache store keeps)."""
        return self.conv_x.msg_pass(ops, x)

    def input_gates(self, x_agg: torch.Tensor) -> torch.Tensor:
        """The input's contribution to all gates from its aggregation (any leading shape)."""
        return self.conv_x.update(x_agg)

    def forward(self, ops: GraphOperators, x: torch.Tensor, h: torch.Tensor | None = None, x_agg=None, x_gates=None):
        """x: [N, *, F_in], h: [N, *, H] or None (zeros) -> h_t: [N, *, H].

        With caching on, ``x_agg`` (the input's ``msg_pass``) or ``x_gates`` (its ``update`` for
        all gates) may be given precomputed, e.g. from a cache store or fused over a window.
        """
        if h is None:
            h = x.new_zeros(*x.shape[:-1], self.hidden_feats)
        H = self.hidden_feats
        if not self.split:
            gx = [run_whole_conv(c, ops, x) for c in self.convs_x]
            z = torch.sigmoid(gx[0] + run_whole_conv(self.convs_h[0], ops, h))
            r = torch.sigmoid(gx[1] + run_whole_conv(self.convs_h[1], ops, h))
            cand = torch.tanh(gx[2] + run_whole_conv(self.convs_h[2], ops, r * h))
            return z * h + (1 - z) * cand
        if self.caching:
            # One aggregation of h feeds z and r; the shared aggregation lets every gate's
            # input and hidden terms be summed inside one GEMM (addmm) per group of gates.
            if x_gates is None:
                x_gates = self.conv_x.update(self.conv_x.msg_pass(ops, x) if x_agg is None else x_agg)
            # split (not slicing): its backward is one cat, not a zero-filled buffer per slice.
            gx_zr, gx_cand = x_gates.reshape(-1, 3 * H).split([2 * H, H], dim=1)
            agg_h = self.conv_h.msg_pass(ops, h)
            zr = torch.sigmoid(torch.addmm(gx_zr, agg_h.reshape(gx_zr.shape[0], -1), self.conv_h.weight.t()))
            z, r = zr.view(*h.shape[:-1], 2 * H).chunk(2, dim=-1)
            agg_rh = self.conv_hc.msg_pass(ops, r * h)
            cand = torch.tanh(torch.addmm(gx_cand, agg_rh.reshape(gx_zr.shape[0], -1), self.conv_hc.weight.t()))
            return torch.lerp(cand.view_as(h), h, z)
        # Naive: every gate runs its own message passing on x and on h.
        def gate(k):
            cols = slice(k * H, (k + 1) * H)
            return self.conv_x.update(self.conv_x.msg_pass(ops, x), cols), cols

        zx, cols_z = gate(0)
        rx, cols_r = gate(1)
        cand_x, _ = gate(2)
        z = torch.sigmoid(zx + self.conv_h.update(self.conv_h.msg_pass(ops, h), cols_z))
        r = torch.sigmoid(rx + self.conv_h.update(self.conv_h.msg_pass(ops, h), cols_r))
        cand = torch.tanh(cand_x + self.conv_hc.update(self.conv_hc.msg_pass(ops, r * h)))
        return z * h + (1 - z) * cand

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.hidden_feats}, split={self.split}"
