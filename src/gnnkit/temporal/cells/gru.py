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
from ._gates import gru_reset, gru_update

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

    def msg_pass_hidden(self, ops: GraphOperators, h: torch.Tensor) -> torch.Tensor:
        """The aggregation of a hidden state, shared by the ``z`` and ``r`` gates."""
        return self.conv_h.msg_pass(ops, h)

    def input_gates(self, x_agg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input's share of the gates from its aggregation ``[*, S * F]`` (any leading
        shape): ``([*, 2H] for z and r, [*, H] for the candidate)``, bias included."""
        W, b, H = self.conv_x.weight, self.conv_x.bias, self.hidden_feats
        return nn.functional.linear(x_agg, W[: 2 * H], b[: 2 * H]), nn.functional.linear(x_agg, W[2 * H :], b[2 * H :])

    def step(self, ops: GraphOperators, h: torch.Tensor | None, h_agg=None, x_agg=None, x_gates=None):
        """The cached update; the input comes as its aggregation ``x_agg: [N, *, S * F]`` or as
        its share of the gates ``x_gates`` (from :meth:`input_gates`).

        h: [N, *, H] or ``None`` for the zero state (whose aggregation and gate terms are zero,
        so they are skipped); h_agg: ``msg_pass_hidden(h)`` when the caller already has it
        (e.g. the layer below aggregated the same tensor). Returns h_t: [N, *, H].
        """
        H = self.hidden_feats
        rows = (x_agg if x_gates is None else x_gates[0]).shape[:-1]
        W, b = self.conv_x.weight, self.conv_x.bias

        def gate_sum(k, cols, other_agg, other_weight):
            # input term (+ bias) + hidden term, both summed in place inside the GEMMs
            if x_gates is None:
                out = torch.addmm(b[cols], x_agg.reshape(-1, x_agg.shape[-1]), W[cols].t())
                return out if other_agg is None else out.addmm_(other_agg.reshape(out.shape[0], -1), other_weight.t())
            given = x_gates[k].reshape(-1, x_gates[k].shape[-1])
            return given if other_agg is None else torch.addmm(given, other_agg.reshape(given.shape[0], -1), other_weight.t())

        if h is None:
            zr = torch.sigmoid(gate_sum(0, slice(0, 2 * H), None, None))
            cand = torch.tanh(gate_sum(1, slice(2 * H, 3 * H), None, None))
            z = zr[:, :H]
            return (cand - z * cand).view(*rows, H)
        if h_agg is None:
            h_agg = self.conv_h.msg_pass(ops, h)
        h2 = h.reshape(-1, H)
        # One aggregation of h feeds z and r (one GEMM for both gates and both terms).
        z_pre, r_pre = gate_sum(0, slice(0, 2 * H), h_agg, self.conv_h.weight).view(-1, 2, H).unbind(1)
        z, rh = gru_reset(z_pre, r_pre, h2)
        agg_rh = self.conv_hc.msg_pass(ops, rh.view(h.shape))
        cand_pre = gate_sum(1, slice(2 * H, 3 * H), agg_rh, self.conv_hc.weight)
        return gru_update(cand_pre, h2, z).view(h.shape)

    def forward(self, ops: GraphOperators, x: torch.Tensor, h: torch.Tensor | None = None, x_agg=None, x_gates=None, h_agg=None):
        """x: [N, *, F_in], h: [N, *, H] or None (zeros) -> h_t: [N, *, H].

        With caching on, ``x_agg`` (the input's ``msg_pass``), ``x_gates`` (``input_gates`` of
        it) and ``h_agg`` (the hidden state's ``msg_pass``) may be given precomputed, e.g. from a
        cache store, fused over a window, or shared with another layer.
        """
        H = self.hidden_feats
        if self.split and self.caching:
            if x_gates is None and x_agg is None:
                x_agg = self.conv_x.msg_pass(ops, x)
            return self.step(ops, h, h_agg, x_agg, x_gates)
        if not self.split:
            if h is None:
                h = x.new_zeros(*x.shape[:-1], H)
            gx = [run_whole_conv(c, ops, x) for c in self.convs_x]
            z = torch.sigmoid(gx[0] + run_whole_conv(self.convs_h[0], ops, h))
            r = torch.sigmoid(gx[1] + run_whole_conv(self.convs_h[1], ops, h))
            cand = torch.tanh(gx[2] + run_whole_conv(self.convs_h[2], ops, r * h))
            return z * h + (1 - z) * cand
        return self._forward_uncached(ops.per_call(), x, h)

    def _forward_uncached(self, ops: GraphOperators, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """The standard per-gate model (as PyGT's GConvGRU computes it): every gate runs its own
        message passing on ``x`` and on ``h`` with operators normalised per call (``ops`` comes
        from :meth:`GraphOperators.per_call`). The fusions that have nothing to do with caching
        are the cached path's: each gate's input and hidden terms and bias are summed inside
        one ``addmm`` chain, the elementwise gate math is the same functions (compiled or not,
        see :func:`~gnnkit.temporal.compile_gates`), and the zero initial state is skipped."""
        H = self.hidden_feats
        rows = x.shape[:-1]
        W, b = self.conv_x.weight, self.conv_x.bias

        def gate(k, hidden_conv=None, hidden_in=None, hidden_cols=None):
            cols = slice(k * H, (k + 1) * H)
            x_agg = self.conv_x.msg_pass(ops, x)
            out = torch.addmm(b[cols], x_agg.reshape(-1, x_agg.shape[-1]), W[cols].t())
            if hidden_conv is None:
                return out
            h_agg = hidden_conv.msg_pass(ops, hidden_in)
            weight = hidden_conv.weight if hidden_cols is None else hidden_conv.weight[hidden_cols]
            return out.addmm_(h_agg.reshape(out.shape[0], -1), weight.t())

        if h is None:
            z = gate(0).sigmoid_()
            cand = gate(2).tanh_()
            return (cand - z * cand).view(*rows, H)
        h2 = h.reshape(-1, H)
        z, rh = gru_reset(gate(0, self.conv_h, h, slice(0, H)), gate(1, self.conv_h, h, slice(H, 2 * H)), h2)
        cand_pre = gate(2, self.conv_hc, rh.view(h.shape))
        return gru_update(cand_pre, h2, z).view(h.shape)

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.hidden_feats}, split={self.split}"
