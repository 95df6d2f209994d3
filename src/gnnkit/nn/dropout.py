"""Dropout that stays fast on CPU.

.. math::

    \\mathrm{dropout}(x)_i = \\frac{m_i}{q}\\, x_i, \\qquad m_i \\sim \\mathrm{Bernoulli}(q),\\; q = 1 - p

so :math:`\\mathbb{E}[\\mathrm{dropout}(x)] = x`; in evaluation mode it is the identity
(Srivastava et al., *Dropout: a simple way to prevent neural networks from overfitting*, JMLR 2014).

Why not ``torch.nn.functional.dropout``: on CPU, torch 2.13 draws the mask with ``bernoulli_``,
one Mersenne-Twister call and a float conversion per element, and a mixed-dtype multiply;
on Cora's 2708 x 1433 features that is 40-140 ms per call on this project's 2-core test
machine, most of a training step (``benchmarks/bench_layers.py --only dropout`` prints the
comparison). Here the keep mask comes from raw 64-bit words of numpy's SFC64 generator, cut
into 8- or 16-bit lanes and compared with a threshold (about 1 ns per element, single-threaded),
turned into a float mask holding ``0`` or ``1/q`` and applied with one same-dtype multiply,
whose autograd saves only the mask.

The keep probability is rounded to a multiple of ``2**-16`` (8-bit lanes are used when ``q`` is a
multiple of ``2**-8``, e.g. ``p = 0.5``): the drop rate is within ``2**-17`` of ``p`` and the scale
is the reciprocal of the *rounded* keep probability, so the expectation is exactly ``x``.
Each call draws its generator seed from torch's default generator, so ``torch.manual_seed``
makes runs repeatable. Off the CPU (or for non-float tensors) it falls back to
``torch.nn.functional.dropout``, which is fast there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["Dropout", "functional_dropout"]

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_SEED_BOUND = 2**62


def _check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _lane_bits(keep: float) -> int:
    # 8-bit lanes cost half the random words; use them only when they represent q exactly.
    return 8 if float(keep * 256).is_integer() else 16


def _keep_mask(numel: int, keep: float, np_dtype) -> tuple[np.ndarray, float]:
    """A flat mask of ``numel`` values, ``1/q'`` where kept and ``0`` where dropped. [numel]"""
    bits = _lane_bits(keep)
    levels = 1 << bits
    threshold = int(round(keep * levels))
    if threshold >= levels:  # q rounds to 1: nothing is dropped
        return np.ones(numel, dtype=np_dtype), 1.0
    rounded_keep = threshold / levels
    seed = int(torch.randint(0, _SEED_BOUND, (), dtype=torch.int64))
    words_needed = -(-numel * bits // 64)
    words = np.random.SFC64(seed).random_raw(words_needed)
    lanes = words.view(np.uint8 if bits == 8 else np.uint16)[:numel]
    scale = np_dtype(1.0 / rounded_keep) if threshold else np_dtype(0.0)
    return np.multiply(lanes < threshold, scale, dtype=np_dtype), rounded_keep


def functional_dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    """Zeroes each element of ``x`` with probability ``p`` and scales the rest by ``1/(1-p)``.

    Same contract as ``torch.nn.functional.dropout(x, p, training)`` (identity when
    ``training`` is false or ``p == 0``; zeros when ``p == 1``), fast on CPU; see the module doc.
    A sparse CSR ``x`` keeps its structure and has its stored values dropped.
    """
    p = _check_probability(p)
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if x.layout == torch.sparse_csr:
        # Dropping a stored zero changes nothing: only the stored values need a mask.
        values = functional_dropout(x.values(), p, training)
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape)
    np_dtype = _NUMPY_DTYPES.get(x.dtype)
    if x.device.type != "cpu" or np_dtype is None:
        return torch.nn.functional.dropout(x, p, training=True)
    if p == 1.0:
        return x * 0.0
    mask, _ = _keep_mask(x.numel(), 1.0 - p, np_dtype)
    # x: [*S], mask: [*S]; autograd of mul keeps only the mask for the backward pass.
    return x * torch.from_numpy(mask).view(x.shape)


class Dropout(nn.Module):
    """Drop-in replacement for ``torch.nn.Dropout`` using :func:`functional_dropout`.

    Args:
        p: probability of zeroing an element, in [0, 1].
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = _check_probability(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
