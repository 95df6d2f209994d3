"""DeepGCNLayer: one layer of a deep GCN with a skip connection (Li et al. 2019 "DeepGCNs"; Li et al.
2020 "DeeperGCN").

    'res+' (pre-activation):  x' = x + Conv(Dropout(Act(Norm(x))))
    'res':                    x' = x + Dropout(Act(Norm(Conv(x))))
    'dense':                  x' = [x, Dropout(Act(Norm(Conv(x))))]        (channels grow)
    'plain':                  x' = Dropout(Act(Norm(Conv(x))))

``residual_scale`` scales the branch of the residual blocks, x' = x + alpha * F(x):
``None`` (alpha = 1, the blocks above), a float (a fixed alpha, e.g. 1/sqrt(depth), so the
variance of the residual stream grows by O(1) over the whole stack instead of by a constant factor
per block), or ``'rezero'`` (a learnable scalar alpha initialised at 0: ReZero, Bachlechner et al.
2020; SkipInit, De & Smith 2020 — at initialisation every block is the identity and the stack
learns how much of each branch to let in).

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
    def __init__(
        self,
        conv: nn.Module,
        norm: nn.Module | None = None,
        act: nn.Module | None = None,
        block: str = "res+",
        dropout: float = 0.0,
        residual_scale: float | str | None = None,
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"DeepGCNLayer: block must be one of {BLOCKS}, got {block!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DeepGCNLayer: dropout must lie in [0, 1), got {dropout}")
        if residual_scale is not None:
            if block not in ("res", "res+"):
                raise ValueError(f"DeepGCNLayer: residual_scale applies to 'res' and 'res+' blocks only, got block={block!r}")
            if isinstance(residual_scale, str):
                if residual_scale != "rezero":
                    raise ValueError(f"DeepGCNLayer: residual_scale must be None, a positive float or 'rezero', got {residual_scale!r}")
            elif not isinstance(residual_scale, (int, float)) or isinstance(residual_scale, bool) or not residual_scale > 0:
                raise ValueError(f"DeepGCNLayer: residual_scale must be None, a positive float or 'rezero', got {residual_scale!r}")
        self.residual_scale = residual_scale
        # ReZero's alpha is a parameter; a fixed alpha is a plain float (no state to save).
        self.alpha = nn.Parameter(torch.zeros(())) if residual_scale == "rezero" else None
        self.conv = conv
        self.norm = norm if norm is not None else nn.Identity()
        self.act = act if act is not None else nn.Identity()
        self.block = block
        self.dropout = float(dropout)

    def reset_parameters(self) -> None:
        for module in (self.conv, self.norm):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.alpha is not None:
            nn.init.zeros_(self.alpha)

    def _scale(self, branch: torch.Tensor) -> torch.Tensor:
        if self.alpha is not None:
            return self.alpha * branch
        if self.residual_scale is not None:
            return float(self.residual_scale) * branch
        return branch

    def forward(self, g, x: torch.Tensor, *args) -> torch.Tensor:
        # x: [N, C] -> [N, C] (res, res+, plain) or [N, C + C_conv] (dense)
        if self.block == "res+":
            h = functional_dropout(self.act(self.norm(x)), self.dropout, self.training)
            return x + self._scale(self.conv(g, h, *args))
        h = functional_dropout(self.act(self.norm(self.conv(g, x, *args))), self.dropout, self.training)
        if self.block == "res":
            if h.shape != x.shape:
                raise ValueError(f"DeepGCNLayer(block='res'): conv output {tuple(h.shape)} must match its input {tuple(x.shape)}")
            return x + self._scale(h)
        if self.block == "dense":
            return torch.cat([x, h], -1)
        return h

    def extra_repr(self) -> str:
        scale = "" if self.residual_scale is None else f", residual_scale={self.residual_scale!r}"
        return f"block={self.block!r}, dropout={self.dropout}{scale}"
