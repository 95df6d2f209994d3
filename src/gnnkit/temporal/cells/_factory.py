"""Turns the ``conv`` argument of a cell (a name, a class or a factory) into modules."""

from __future__ import annotations

import torch
from torch import nn

from ..conv import ChebSplitConv, DiffusionSplitConv, GCNSplitConv, SAGESplitConv, SplitConv
from ..propagation import GraphOperators

_BY_NAME = {"gcn": GCNSplitConv, "cheb": ChebSplitConv, "diffusion": DiffusionSplitConv, "sage": SAGESplitConv}
# gnnkit.nn layer class names whose math has a split equivalent here.
_NN_EQUIVALENT = {"GraphConv": GCNSplitConv, "ChebConv": ChebSplitConv, "SAGEConv": SAGESplitConv}


def make_conv(conv, in_feats: int, out_feats: int, bias: bool, conv_kwargs: dict) -> nn.Module:
    """A split conv for a known name/class; otherwise whatever the factory builds."""
    if isinstance(conv, str):
        if conv not in _BY_NAME:
            raise ValueError(f"conv must be one of {sorted(_BY_NAME)} or a conv class/factory, got {conv!r}")
        return _BY_NAME[conv](in_feats, out_feats, bias=bias, **conv_kwargs)
    if isinstance(conv, type) and issubclass(conv, SplitConv):
        return conv(in_feats, out_feats, bias=bias, **conv_kwargs)
    if isinstance(conv, type) and conv.__name__ in _NN_EQUIVALENT and conv.__module__.startswith("gnnkit.nn"):
        return _NN_EQUIVALENT[conv.__name__](in_feats, out_feats, bias=bias, **conv_kwargs)
    if callable(conv):
        module = conv(in_feats, out_feats, **conv_kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"conv factory must return an nn.Module, got {type(module).__name__}")
        return module
    raise TypeError(f"conv must be a name, a conv class or a factory, got {type(conv).__name__}")


def run_whole_conv(conv: nn.Module, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
    """Calls an unsplit gnnkit conv ``conv(graph, feat)`` on ``x: [N, B, F]`` one window at a time."""
    if x.dim() == 2:
        return conv(ops.graph, x)
    outs = [conv(ops.graph, x[:, b]) for b in range(x.shape[1])]
    return torch.stack(outs, dim=1)
