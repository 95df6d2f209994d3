"""MRConv, the max-relative graph convolution (Li et al. 2019, "DeepGCNs: Can GCNs Go as Deep as CNNs?").

    x_i' = h_Theta( [ x_i , max_{j in N(i)} (x_j - x_i) ] )

``h_Theta`` is ``Linear(2 * in_channels, out_channels)`` unless a module is given. Because x_i
is constant over i's neighbourhood, max_j (x_j - x_i) = (max_j x_j) - x_i: one fused max
``gspmm`` and no [E, F] message tensor. Nodes without neighbours get a zero relative part.
"""

from __future__ import annotations

import torch
from torch import nn

from ... import ops

__all__ = ["MRConv"]


class MRConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, nn_module: nn.Module | None = None, bias: bool = True):
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1 or not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"MRConv: channels must be positive ints, got in={in_channels!r}, out={out_channels!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.nn = nn_module if nn_module is not None else nn.Linear(2 * in_channels, out_channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if hasattr(self.nn, "reset_parameters"):
            self.nn.reset_parameters()
        else:
            for module in self.nn.modules():
                if module is not self.nn and hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def forward(self, g, feat) -> torch.Tensor:
        # feat: [num_src, F] (or a (src, dst) pair) -> [num_dst, out]
        x_src, x_dst = feat if isinstance(feat, (tuple, list)) else (feat, feat[: g.num_dst_nodes()])
        if x_src.shape[0] != g.num_src_nodes() or x_src.shape[-1] != self.in_channels:
            raise ValueError(f"MRConv: features have shape {tuple(x_src.shape)}; expected [{g.num_src_nodes()}, {self.in_channels}]")
        neighbour_max = ops.gspmm(g.sparse, "copy_u", "max", ufeat=x_src)  # [num_dst, F]
        has_neighbours = (g.sparse.in_degrees() > 0).view(-1, 1)
        relative = torch.where(has_neighbours, neighbour_max - x_dst, torch.zeros((), dtype=x_dst.dtype))
        return self.nn(torch.cat([x_dst, relative], -1))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
