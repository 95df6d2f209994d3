"""Degree-scaled multi-aggregation of PNA (Corso et al. 2020, "Principal Neighbourhood Aggregation").

    out_v = [ S(d_v, delta) * AGG(N(v))  for S in scalers  for AGG in aggregators ]   (concatenated)

with ``d_v`` the number of messages of v and ``delta`` the average of ``log(d + 1)`` over the
training degree histogram ``deg`` (``deg[k]`` = number of nodes with in-degree k). Scalers:
``identity`` 1, ``amplification`` log(d+1)/delta, ``attenuation`` delta/log(d+1),
``linear`` d/mean_d, ``inverse_linear`` mean_d/d (the last two after the PyG convention).
Degrees are clamped to >= 1 inside the scalers so isolated nodes stay finite.
"""

from __future__ import annotations

import torch

from .base import Aggregation, broadcast_rows
from .multi import MultiAggregation

__all__ = ["DegreeScalerAggregation"]

SCALERS = ("identity", "amplification", "attenuation", "linear", "inverse_linear")


class DegreeScalerAggregation(Aggregation):
    def __init__(self, aggrs, scalers, deg: torch.Tensor):
        super().__init__()
        scalers = [scalers] if isinstance(scalers, str) else list(scalers)
        for scaler in scalers:
            if scaler not in SCALERS:
                raise ValueError(f"DegreeScalerAggregation: scalers must be drawn from {SCALERS}, got {scaler!r}")
        deg = torch.as_tensor(deg, dtype=torch.float64)
        if deg.dim() != 1 or deg.numel() == 0 or bool((deg < 0).any()) or float(deg.sum()) <= 0:
            raise ValueError(f"DegreeScalerAggregation: deg must be a non-empty degree histogram of counts, got {deg.tolist()[:8]}")
        self.aggr = aggrs if isinstance(aggrs, MultiAggregation) else MultiAggregation(aggrs if isinstance(aggrs, (list, tuple)) else [aggrs])
        self.scalers = scalers
        degrees = torch.arange(deg.numel(), dtype=torch.float64)
        total = deg.sum()
        self.register_buffer("avg_log", ((degrees + 1).log() * deg).sum() / total)
        self.register_buffer("avg_lin", (degrees * deg).sum() / total)

    def reset_parameters(self) -> None:
        self.aggr.reset_parameters()

    def aggregate(self, x, index, num_nodes):
        out = self.aggr.aggregate(x, index, num_nodes)
        degree = torch.bincount(index, minlength=num_nodes).to(out.dtype)
        return self._scale(out, degree)

    def from_src(self, g, x_src):
        out = self.aggr.from_src(g, x_src)
        return self._scale(out, g.sparse.in_degrees().to(out.dtype))

    def on_graph(self, g, messages):
        out = self.aggr.on_graph(g, messages)
        return self._scale(out, g.sparse.in_degrees().to(out.dtype))

    def _scale(self, out: torch.Tensor, degree: torch.Tensor) -> torch.Tensor:
        # out: [N, F]; degree: [N]
        d = degree.clamp(min=1)
        avg_log, avg_lin = self.avg_log.to(out.dtype), self.avg_lin.to(out.dtype)
        factors = {
            "identity": None,
            "amplification": (d + 1).log() / avg_log,
            "attenuation": avg_log / (d + 1).log(),
            "linear": d / avg_lin,
            "inverse_linear": avg_lin / d,
        }
        parts = [out if factors[s] is None else out * broadcast_rows(factors[s], out) for s in self.scalers]
        return torch.cat(parts, -1)

    def extra_repr(self) -> str:
        return f"scalers={self.scalers}"
