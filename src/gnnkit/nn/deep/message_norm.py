"""MessageNorm (DeeperGCN, Li et al. 2020): rescales aggregated messages to the node's own norm.

    m'_v = s * ||x_v||_2 * m_v / ||m_v||_2

``s`` is a scalar, learnable if ``learn_scale``. Row-wise; a zero message stays zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MessageNorm"]


class MessageNorm(nn.Module):
    def __init__(self, learn_scale: bool = False, scale: float = 1.0):
        super().__init__()
        self.initial_scale = float(scale)
        self.learn_scale = bool(learn_scale)
        self.scale = nn.Parameter(torch.tensor([self.initial_scale]), requires_grad=self.learn_scale)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.scale.fill_(self.initial_scale)

    def forward(self, x: torch.Tensor, msg: torch.Tensor, p: float = 2.0) -> torch.Tensor:
        # x: [N, F] node features; msg: [N, F] aggregated messages -> [N, F]
        if x.shape[0] != msg.shape[0]:
            raise ValueError(f"MessageNorm: x has {x.shape[0]} rows but msg has {msg.shape[0]}; they must match")
        unit = F.normalize(msg, p=p, dim=-1)
        return unit * x.norm(p=p, dim=-1, keepdim=True) * self.scale.to(msg.dtype)

    def extra_repr(self) -> str:
        return f"learn_scale={self.learn_scale}"
