"""DynaGraph's programming interface (Guan, Iyer and Kim, GRADES-NDA 2022) on gnnkit.

* ``cache(fn)``: run ``fn`` once per key and reuse the output (no-op when already cached).
* ``msg_pass(conv, ops, x)``: the parameter-free intermediate result of message passing.
* ``update(conv, agg)``: the layer output from that intermediate result.
* ``integrate(conv, rnn, in_feats, hidden_feats)``: put a GNN into a graph RNN cell.
* ``stack_seq_model(encoder, decoder, out_feats)``: stack dynamic GNN layers into an
  encoder-decoder.
"""

from __future__ import annotations

import torch

from .cache import CacheStore, cache
from .cells import GraphGRUCell, GraphLSTMCell
from .conv import SplitConv
from .propagation import GraphOperators
from .seq2seq import GraphSeq2Seq

__all__ = ["cache", "msg_pass", "update", "integrate", "stack_seq_model", "CacheStore"]


def _require_split(conv, name):
    if not isinstance(conv, SplitConv):
        raise TypeError(f"{name}: conv must be a SplitConv (it has msg_pass/update), got {type(conv).__name__}")


def msg_pass(conv: SplitConv, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
    """The aggregation step of ``conv`` on ``x: [N, *, F]`` -> ``[N, *, S * F]``."""
    _require_split(conv, "msg_pass")
    return conv.msg_pass(ops, x)


def update(conv: SplitConv, agg: torch.Tensor) -> torch.Tensor:
    """The weighted step of ``conv`` on an aggregation -> ``[N, *, out]``."""
    _require_split(conv, "update")
    return conv.update(agg)


def integrate(conv, rnn: str, in_feats: int, hidden_feats: int, **conv_kwargs):
    """A graph RNN cell (``rnn`` = ``'gru'`` or ``'lstm'``) whose gates are ``conv``."""
    cells = {"gru": GraphGRUCell, "lstm": GraphLSTMCell}
    if rnn not in cells:
        raise ValueError(f"integrate: rnn must be 'gru' or 'lstm', got {rnn!r}")
    return cells[rnn](in_feats, hidden_feats, conv=conv, **conv_kwargs)


def stack_seq_model(encoder, decoder, out_feats: int, cache_store: CacheStore | None = None) -> GraphSeq2Seq:
    """An encoder-decoder from lists of integrated cells (bottom layer first)."""
    return GraphSeq2Seq(list(encoder), list(decoder), out_feats, cache_store)
