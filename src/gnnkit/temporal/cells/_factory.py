"""Turns the ``conv`` argument of a cell (a name, a class or a factory) into modules."""

from __future__ import annotations

import torch
from torch import nn

from ..conv import ChebSplitConv, DiffusionSplitConv, GCNSplitConv, SAGESplitConv, SplitConv
from ..propagation import GraphOperators

_BY_NAME = {"gcn": GCNSplitConv, "cheb": ChebSplitConv, "diffusion": DiffusionSplitConv, "sage": SAGESplitConv}


def make_conv(conv, in_feats: int, out_feats: int, bias: bool, conv_kwargs: dict) -> nn.Module:
    """A split conv for a known name/class; otherwise whatever the factory builds.

    A ``gnnkit.nn`` layer (GraphConv, ChebConv, SAGEConv, GATConv ...) passed as a class or
    factory is used whole, one per gate, so its own math (activation, lambda_max, attention) is
    kept; the split twins here (``'gcn'``, ``'cheb'``, ``'sage'``) are what enables sharing and caching.
    """
    if isinstance(conv, str):
        if conv not in _BY_NAME:
            raise ValueError(f"conv must be one of {sorted(_BY_NAME)} or a conv class/factory, got {conv!r}")
        return _BY_NAME[conv](in_feats, out_feats, bias=bias, **conv_kwargs)
    if isinstance(conv, type) and issubclass(conv, SplitConv):
        return conv(in_feats, out_feats, bias=bias, **conv_kwargs)
    if callable(conv):
        module = conv(in_feats, out_feats, **conv_kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"conv factory must return an nn.Module, got {type(module).__name__}")
        return module
    raise TypeError(f"conv must be a name, a conv class or a factory, got {type(conv).__name__}")


def run_whole_conv(conv: nn.Module, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
    """Calls an unsplit gnnkit conv ``conv(graph, feat)`` on ``x: [N, B, F]`` one window at a time.

    Per-head outputs ``[N, heads, F]`` are flattened to ``[N, heads * F]``.
    """
    if x.dim() == 2:
        out = conv(ops.graph, x)
        return out.reshape(out.shape[0], -1)
    outs = [conv(ops.graph, x[:, b]) for b in range(x.shape[1])]
    return torch.stack([o.reshape(o.shape[0], -1) for o in outs], dim=1)
