"""An LSTM whose gates are graph convolutions (GCRN-LSTM / GConvLSTM, Seo et al. 2018, with
peephole connections), with DynaGraph's shared aggregation.

    i   = sigma(W_xi *G x_t + W_hi *G h + w_ci . c + b_i)
    f   = sigma(W_xf *G x_t + W_hf *G h + w_cf . c + b_f)
    c~  = tanh(W_xc *G x_t + W_hc *G h + b_c)
    c_t = f . c + i . c~
    o   = sigma(W_xo *G x_t + W_ho *G h + w_co . c_t + b_o)
    h_t = o . tanh(c_t)

With a split conv and caching on, ``x_t`` and ``h`` are each aggregated once for the four gates
(instead of four times) and the gate weights are applied in one product.
"""

from __future__ import annotations

import torch
from torch import nn

from ..conv import SplitConv
from ..propagation import GraphOperators
from ._factory import make_conv, run_whole_conv

__all__ = ["GraphLSTMCell"]


class GraphLSTMCell(nn.Module):
    """LSTM cell with graph-convolution gates; arguments as :class:`GraphGRUCell`.

    The state is a pair ``(h, c)``, each ``[N, *, H]``.
    """

    num_gates = 4

    def __init__(self, in_feats: int, hidden_feats: int, conv="cheb", **conv_kwargs):
        super().__init__()
        self.in_feats, self.hidden_feats = in_feats, hidden_feats
        self.caching = True
        probe = make_conv(conv, in_feats, hidden_feats, True, conv_kwargs)
        self.split = isinstance(probe, SplitConv)
        if self.split:
            # Columns in gate order i, f, c, o.
            self.conv_x = make_conv(conv, in_feats, 4 * hidden_feats, True, conv_kwargs)
            self.conv_h = make_conv(conv, hidden_feats, 4 * hidden_feats, False, conv_kwargs)
        else:
            self.convs_x = nn.ModuleList([make_conv(conv, in_feats, hidden_feats, True, conv_kwargs) for _ in range(4)])
            self.convs_h = nn.ModuleList([make_conv(conv, hidden_feats, hidden_feats, True, conv_kwargs) for _ in range(4)])
        self.peephole = nn.Parameter(torch.empty(3, hidden_feats))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.children():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        nn.init.uniform_(self.peephole, -0.1, 0.1)

    def msg_pass_input(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        return self.conv_x.msg_pass(ops, x)

    def input_gates(self, x_agg: torch.Tensor) -> torch.Tensor:
        """The input's contribution to all gates from its aggregation (any leading shape)."""
        return self.conv_x.update(x_agg)

    def _gates(self, ops, x, h, x_agg, x_gates=None):
        H = self.hidden_feats
        if not self.split:
            return [run_whole_conv(cx, ops, x) + run_whole_conv(ch, ops, h) for cx, ch in zip(self.convs_x, self.convs_h)]
        if self.caching:
            if x_gates is None:
                x_gates = self.conv_x.update(self.conv_x.msg_pass(ops, x) if x_agg is None else x_agg)
            # One aggregation of h for the four gates, summed with the input term inside the GEMM.
            agg_h = self.conv_h.msg_pass(ops, h)
            gx = x_gates.reshape(-1, 4 * H)
            pre = torch.addmm(gx, agg_h.reshape(gx.shape[0], -1), self.conv_h.weight.t())
            return pre.view(*h.shape[:-1], 4 * H).chunk(4, dim=-1)
        out = []
        for k in range(4):
            cols = slice(k * H, (k + 1) * H)
            out.append(
                self.conv_x.update(self.conv_x.msg_pass(ops, x), cols) + self.conv_h.update(self.conv_h.msg_pass(ops, h), cols)
            )
        return out

    def forward(self, ops: GraphOperators, x: torch.Tensor, state=None, x_agg=None, x_gates=None):
        """x: [N, *, F_in]; state (h, c) or None -> (h_t, c_t). ``x_agg`` / ``x_gates`` as in GraphGRUCell."""
        if state is None:
            zeros = x.new_zeros(*x.shape[:-1], self.hidden_feats)
            state = (zeros, zeros)
        h, c = state
        gi, gf, gc, go = self._gates(ops, x, h, x_agg, x_gates)
        i = torch.sigmoid(gi + self.peephole[0] * c)
        f = torch.sigmoid(gf + self.peephole[1] * c)
        c_new = f * c + i * torch.tanh(gc)
        o = torch.sigmoid(go + self.peephole[2] * c_new)
        return o * torch.tanh(c_new), c_new

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.hidden_feats}, split={self.split}"
