"""Ready-made dynamic GNNs: GConvGRU / GConvLSTM (GCRN, Seo et al. 2018) and DCRNN / GCRN
encoder-decoders (Li et al., ICLR 2018), all built from the cached cells."""

from __future__ import annotations

from .cells import GraphGRUCell, GraphLSTMCell
from .seq2seq import GraphSeq2Seq

__all__ = ["GConvGRU", "GConvLSTM", "DCRNN", "GCRN"]


class GConvGRU(GraphGRUCell):
    """GCRN-GRU: a GRU with Chebyshev graph-convolution gates (``K`` terms).

    Called as ``h = model(ops, x, h)`` with ``x: [N, *, in_channels]``; see :class:`GraphGRUCell`.
    """

    def __init__(self, in_channels: int, out_channels: int, K: int = 2):
        super().__init__(in_channels, out_channels, conv="cheb", K=K)


class GConvLSTM(GraphLSTMCell):
    """GCRN-LSTM with peepholes and Chebyshev graph-convolution gates (``K`` terms).

    Called as ``h, c = model(ops, x, (h, c))``; see :class:`GraphLSTMCell`.
    """

    def __init__(self, in_channels: int, out_channels: int, K: int = 2):
        super().__init__(in_channels, out_channels, conv="cheb", K=K)


def _stack(cell_cls, in_feats, out_feats, hidden_feats, num_layers, conv, conv_kwargs):
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    encoder = [cell_cls(in_feats if i == 0 else hidden_feats, hidden_feats, conv=conv, **conv_kwargs) for i in range(num_layers)]
    decoder = [cell_cls(out_feats if i == 0 else hidden_feats, hidden_feats, conv=conv, **conv_kwargs) for i in range(num_layers)]
    return GraphSeq2Seq(encoder, decoder, out_feats)


def DCRNN(in_feats: int, out_feats: int = 1, hidden_feats: int = 64, num_layers: int = 2, K: int = 2) -> GraphSeq2Seq:
    """DCRNN: GRU cells with bidirectional diffusion convolution (``K`` steps each way), stacked
    into an encoder-decoder; train it with scheduled sampling (``teacher_forcing``)."""
    return _stack(GraphGRUCell, in_feats, out_feats, hidden_feats, num_layers, "diffusion", {"K": K})


def GCRN(in_feats: int, out_feats: int = 1, hidden_feats: int = 64, num_layers: int = 2, cell: str = "lstm", K: int = 2) -> GraphSeq2Seq:
    """GCRN encoder-decoder with ChebConv gates; ``cell`` is ``'lstm'`` or ``'gru'``."""
    if cell not in ("lstm", "gru"):
        raise ValueError(f"GCRN: cell must be 'lstm' or 'gru', got {cell!r}")
    cell_cls = GraphLSTMCell if cell == "lstm" else GraphGRUCell
    return _stack(cell_cls, in_feats, out_feats, hidden_feats, num_layers, "cheb", {"K": K})
