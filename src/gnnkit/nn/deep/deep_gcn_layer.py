"""DeepGCNLayer: one layer of a deep GCN with a skip connection (Li et al. 2019 "DeepGCNs"; Li et al.
2020 "DeeperGCN").

    'res+' (pre-activation):  x' = x + Conv(Dropout(Act(Norm(x))))
    'res':                    x' = x + Dropout(Act(Norm(Conv(x))))
    'dense':                  x' = [x, Dropout(Act(Norm(Conv(x))))]        (channels grow)
    'plain':                  x' = Dropout(Act(Norm(Conv(x))))

Dropout acts on the branch, never on the skip path: dropping the residual stream itself at
every layer (as PyG's DeepGCNLayer does for 'res') multiplies its noise over the depth, and a
28-layer ResGCN on Cora then stays at chance.

``conv`` is any module called as ``conv(g, x, *args)``; ``norm`` and ``act`` any modules (or
None). Residual blocks need the conv to keep the width; dense blocks concatenate.
"""

from __future__ import annotations

import torch
from torch import nn

from ..dropout import functional_dropout

__all__ = ["DeepGCNLayer"]

BLOCKS = ("res+", "res", "dense", "plain")


class DeepGCNLayer(nn.Module):
    def __init__(self, conv: nn.Module, norm: nn.Module | None = None, act: nn.Module | None = None, block: str = "res+", dropout: float = 0.0):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"DeepGCNLayer: block must be one of {BLOCKS}, got {block!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DeepGCNLayer: dropout must lie in [0, 1), got {dropout}")
        self.conv = conv
        self.norm = norm if norm is not None else nn.Identity()
        self.act = act if act is not None else nn.Identity()
        self.block = block
        self.dropout = float(dropout)

    def reset_parameters(self) -> None:
        for module in (self.conv, self.norm):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, g, x: torch.Tensor, *args) -> torch.Tensor:
        # x: [N, C] -> [N, C] (res, res+, plain) or [N, C + C_conv] (dense)
        if self.block == "res+":
            h = functional_dropout(self.act(self.norm(x)), self.dropout, self.training)
            return x + self.conv(g, h, *args)
        h = functional_dropout(self.act(self.norm(self.conv(g, x, *args))), self.dropout, self.training)
        if self.block == "res":
            if h.shape != x.shape:
                raise ValueError(f"DeepGCNLayer(block='res'): conv output {tuple(h.shape)} must match its input {tuple(x.shape)}")
            return x + h
        if self.block == "dense":
            return torch.cat([x, h], -1)
        return h

    def extra_repr(self) -> str:
        return f"block={self.block!r}, dropout={self.dropout}"
