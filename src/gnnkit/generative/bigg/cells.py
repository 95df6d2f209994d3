"""Batched building blocks of BiGG's likelihood: fused cell updates and gathers.

The cell updates are the pointwise halves of an LSTM / binary TreeLSTM (the matrix products are
done by the caller, who knows which inputs are constant); their backward is written by hand so a
step makes few passes over memory. The gathers replace ``index_select``'s backward (a
``scatter_add_`` with a materialised ``[N, D]`` index) by ``index_add_`` or, for rows read by many
entries, by a one-hot matrix product.
"""

from __future__ import annotations

import torch


def _one_minus_square(x: torch.Tensor) -> torch.Tensor:
    """``1 - x^2`` in one pass (the derivative of tanh from its output)."""
    return torch.addcmul(x.new_ones(()), x, x, value=-1.0)


class _LSTMPointwise(torch.autograd.Function):
    """Fused LSTM pointwise update with a hand-written backward (fewer passes over memory)."""

    @staticmethod
    def forward(ctx, gates, c):
        # gates: [N, 4d] (i, f, o, g); c: [N, d]
        d = c.shape[-1]
        sig = torch.sigmoid(gates[:, : 3 * d])
        tg = torch.tanh(gates[:, 3 * d :])
        c_new = torch.addcmul(sig[:, d : 2 * d] * c, sig[:, :d], tg)
        tc = torch.tanh(c_new)
        h_new = sig[:, 2 * d :] * tc
        ctx.save_for_backward(sig, tg, c, tc)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh, dc_new):
        sig, tg, c, tc = ctx.saved_tensors
        d = c.shape[-1]
        if dh is None:
            dh = torch.zeros_like(tc)
        i, f, o = sig[:, :d], sig[:, d : 2 * d], sig[:, 2 * d :]
        dc = _one_minus_square(tc)
        dc.mul_(o).mul_(dh)
        if dc_new is not None:
            dc.add_(dc_new)
        dgates = torch.empty(sig.shape[0], 4 * d, dtype=sig.dtype, device=sig.device)
        torch.mul(dc, tg, out=dgates[:, :d])
        torch.mul(dc, c, out=dgates[:, d : 2 * d])
        torch.mul(dh, tc, out=dgates[:, 2 * d : 3 * d])
        dgates[:, : 3 * d].mul_(torch.addcmul(sig, sig, sig, value=-1.0))
        torch.mul(dc, i, out=dgates[:, 3 * d :])
        dgates[:, 3 * d :].mul_(_one_minus_square(tg))
        return dgates, dc * f


class _TreePointwise(torch.autograd.Function):
    """Fused binary TreeLSTM pointwise update with a hand-written backward."""

    @staticmethod
    def forward(ctx, gates, c_left, c_right):
        # gates: [N, 5d] (i, f_l, f_r, o, g); c_left, c_right: [N, d]
        d = c_left.shape[-1]
        sig = torch.sigmoid(gates[:, : 4 * d])
        tg = torch.tanh(gates[:, 4 * d :])
        c_new = torch.addcmul(torch.addcmul(sig[:, :d] * tg, sig[:, d : 2 * d], c_left), sig[:, 2 * d : 3 * d], c_right)
        tc = torch.tanh(c_new)
        h_new = sig[:, 3 * d :] * tc
        ctx.save_for_backward(sig, tg, c_left, c_right, tc)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh, dc_new):
        sig, tg, c_left, c_right, tc = ctx.saved_tensors
        d = tc.shape[-1]
        if dh is None:
            dh = torch.zeros_like(tc)
        dc = _one_minus_square(tc)
        dc.mul_(sig[:, 3 * d :]).mul_(dh)
        if dc_new is not None:
            dc.add_(dc_new)
        dgates = torch.empty(sig.shape[0], 5 * d, dtype=sig.dtype, device=sig.device)
        torch.mul(dc, tg, out=dgates[:, :d])
        torch.mul(dc, c_left, out=dgates[:, d : 2 * d])
        torch.mul(dc, c_right, out=dgates[:, 2 * d : 3 * d])
        torch.mul(dh, tc, out=dgates[:, 3 * d : 4 * d])
        dgates[:, : 4 * d].mul_(torch.addcmul(sig, sig, sig, value=-1.0))
        torch.mul(dc, sig[:, :d], out=dgates[:, 4 * d :])
        dgates[:, 4 * d :].mul_(_one_minus_square(tg))
        d_left = dc * sig[:, d : 2 * d] if ctx.needs_input_grad[1] else None
        d_right = dc * sig[:, 2 * d : 3 * d] if ctx.needs_input_grad[2] else None
        return dgates, d_left, d_right


def lstm_step(gates: torch.Tensor, c: torch.Tensor):
    """LSTM update from pre-activations ``gates [N, 4d]`` (order i, f, o, g) and cell ``c [N, d]``."""
    return _LSTMPointwise.apply(gates, c.expand(gates.shape[0], -1))


def tree_step(gates: torch.Tensor, c_left: torch.Tensor, c_right: torch.Tensor):
    """Binary TreeLSTM update from ``gates [N, 5d]`` (order i, f_l, f_r, o, g)."""
    n = gates.shape[0]
    return _TreePointwise.apply(gates, c_left.expand(n, -1), c_right.expand(n, -1))


class _Gather(torch.autograd.Function):
    """``table[index]`` with an ``index_add_`` backward (index_select's backward materialises a
    ``[N, D]`` int64 index for ``scatter_add_``, several times the memory traffic)."""

    @staticmethod
    def forward(ctx, table, index):
        ctx.save_for_backward(index)
        ctx.num_rows = table.shape[0]
        return torch.index_select(table, 0, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return grad.new_zeros(ctx.num_rows, grad.shape[1]).index_add_(0, index, grad), None


def _take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Row gather ``table[index]`` (use where ``index`` has few repeats)."""
    if not table.requires_grad or table.dim() != 2:
        return torch.index_select(table, 0, index)
    return _Gather.apply(table, index)


class _TableGather(torch.autograd.Function):
    """``table[index]`` where the first ``num_shared`` rows are read by many entries.

    A scatter-add of many entries into a few rows serialises on CPU; the gradient of the shared
    rows is instead a ``[num_shared, N] @ [N, D]`` product with the one-hot of ``index``, and the
    other rows (read at most once each) get theirs by a plain gather.
    """

    @staticmethod
    def forward(ctx, table, index, num_shared):
        ctx.save_for_backward(index)
        ctx.num_shared = num_shared
        ctx.num_rows = table.shape[0]
        return torch.index_select(table, 0, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        k = ctx.num_shared
        grad_table = grad.new_zeros(ctx.num_rows, grad.shape[1])
        shared = index < k
        onehot = grad.new_zeros(k, index.shape[0])
        onehot[index[shared], torch.nonzero(shared).squeeze(1)] = 1.0
        grad_table[:k] = onehot @ grad
        if ctx.num_rows > k:
            pos = torch.nonzero(~shared).squeeze(1)
            grad_table.index_copy_(0, index[pos], grad.index_select(0, pos))
        return grad_table, None, None


def _take_shared(table: torch.Tensor, index: torch.Tensor, num_shared: int | None = None) -> torch.Tensor:
    """Row gather for tables whose first ``num_shared`` rows (default: all) repeat a lot."""
    num_shared = table.shape[0] if num_shared is None else num_shared
    if num_shared > 1024 or not table.requires_grad:
        return torch.index_select(table, 0, index)
    return _TableGather.apply(table, index, num_shared)
