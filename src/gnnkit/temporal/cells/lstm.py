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
from ._gates import lstm_update

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
        """The time-independent aggregation of ``x`` (what a cache store keeps)."""
        return self.conv_x.msg_pass(ops, x)

    def msg_pass_hidden(self, ops: GraphOperators, h: torch.Tensor) -> torch.Tensor:
        """The aggregation of a hidden state, shared by the four gates."""
        return self.conv_h.msg_pass(ops, h)

    def input_gates(self, x_agg: torch.Tensor) -> tuple[torch.Tensor]:
        """The input's share of the four gates from its aggregation ``[*, S * F]`` (any leading
        shape): ``([*, 4H],)``, bias included."""
        return (self.conv_x.update(x_agg),)

    def _naive_gates(self, ops, x, h):
        # gnnkit.nn convs used whole, one per gate and side.
        return [run_whole_conv(cx, ops, x) + run_whole_conv(ch, ops, h) for cx, ch in zip(self.convs_x, self.convs_h)]

    def _forward_uncached(self, ops: GraphOperators, x: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        """The standard per-gate model (as PyGT's GConvLSTM computes it): every gate runs its own
        message passing on ``x`` and on ``h`` with operators normalised per call (``ops`` comes
        from :meth:`GraphOperators.per_call`). The fusions unrelated to caching are the cached
        path's: input term, hidden term and bias summed in one ``addmm`` chain per gate, the
        same elementwise gate function (compiled or not), the zero initial state skipped."""
        H = self.hidden_feats
        rows = x.shape[:-1]
        W, b = self.conv_x.weight, self.conv_x.bias

        def gate(k):
            cols = slice(k * H, (k + 1) * H)
            x_agg = self.conv_x.msg_pass(ops, x)
            out = torch.addmm(b[cols], x_agg.reshape(-1, x_agg.shape[-1]), W[cols].t())
            if state is None:
                return out
            h_agg = self.conv_h.msg_pass(ops, state[0])
            return out.addmm_(h_agg.reshape(out.shape[0], -1), self.conv_h.weight[cols].t())

        peep = self.peephole
        if state is None:  # zero state: no hidden terms, no forget gate, no i peephole
            c_new = gate(0).sigmoid_() * gate(2).tanh_()
            o = torch.addcmul(gate(3), c_new, peep[2]).sigmoid_()
            return (o * torch.tanh(c_new)).view(*rows, H), c_new.view(*rows, H)
        h_new, c_new = lstm_update(gate(0), gate(1), gate(2), gate(3), state[1].reshape(-1, H), peep)
        return h_new.view(*rows, H), c_new.view(*rows, H)

    def step(self, ops: GraphOperators, state, h_agg=None, x_agg=None, x_gates=None):
        """The cached update; the input comes as its aggregation ``x_agg: [N, *, S * F]`` or as
        its share of the gates ``x_gates`` (from :meth:`input_gates`).

        state: ``(h, c)`` or ``None`` for the zero state (its aggregation and gate terms are
        zero and skipped); h_agg: ``msg_pass_hidden(h)`` when the caller already has it.
        Returns ``(h_t, c_t)``.
        """
        H = self.hidden_feats
        rows = (x_agg if x_gates is None else x_gates[0]).shape[:-1]
        if x_gates is None:
            pre = torch.addmm(self.conv_x.bias, x_agg.reshape(-1, x_agg.shape[-1]), self.conv_x.weight.t())
        else:
            pre = x_gates[0].reshape(-1, 4 * H)
        if state is not None:
            h, c = state
            if h_agg is None:
                h_agg = self.conv_h.msg_pass(ops, h)
            # One aggregation of h for the four gates, summed with the input term inside the GEMM.
            agg = h_agg.reshape(pre.shape[0], -1)
            pre = pre.addmm_(agg, self.conv_h.weight.t()) if x_gates is None else torch.addmm(pre, agg, self.conv_h.weight.t())
        # unbind of the [rows, 4, H] view (gate order i, f, c, o): its backward is one stack
        gi, gf, gc, go = pre.view(-1, 4, H).unbind(1)
        if state is None:  # zero cell state: the forget gate and the i/f peepholes have nothing to act on
            c_new = torch.sigmoid(gi) * torch.tanh(gc)
            o = torch.addcmul(go, c_new, self.peephole[2]).sigmoid_()
            return (o * torch.tanh(c_new)).view(*rows, H), c_new.view(*rows, H)
        h_new, c_new = lstm_update(gi, gf, gc, go, c.reshape(-1, H), self.peephole)
        return h_new.view(*rows, H), c_new.view(*rows, H)

    def forward(self, ops: GraphOperators, x: torch.Tensor, state=None, x_agg=None, x_gates=None, h_agg=None):
        """x: [N, *, F_in]; state (h, c) or None -> (h_t, c_t). ``x_agg`` / ``x_gates`` / ``h_agg``
        as in GraphGRUCell."""
        if self.split and self.caching:
            if x_gates is None and x_agg is None:
                x_agg = self.conv_x.msg_pass(ops, x)
            return self.step(ops, state, h_agg, x_agg, x_gates)
        if self.split:
            return self._forward_uncached(ops.per_call(), x, state)
        if state is None:
            zeros = x.new_zeros(*x.shape[:-1], self.hidden_feats)
            state = (zeros, zeros)
        h, c = state
        gi, gf, gc, go = self._naive_gates(ops, x, h)
        i = torch.sigmoid(gi + self.peephole[0] * c)
        f = torch.sigmoid(gf + self.peephole[1] * c)
        c_new = f * c + i * torch.tanh(gc)
        o = torch.sigmoid(go + self.peephole[2] * c_new)
        return o * torch.tanh(c_new), c_new

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.hidden_feats}, split={self.split}"
