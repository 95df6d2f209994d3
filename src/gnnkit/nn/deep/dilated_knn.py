"""Dynamic dilated k-NN graphs for point features (Li et al. 2019, "DeepGCNs: Can GCNs Go as Deep as
CNNs?"; Wang et al. 2019, DGCNN).

For every point i of a cloud, sort the other points of the same cloud by Euclidean distance
in feature space, u_1, u_2, ... (u_1 = i itself unless ``exclude_self``), and keep

    N_d(i) = { u_1, u_{1+d}, u_{1+2d}, ..., u_{1+(k-1)d} }                 (dilation d)

i.e. every d-th of the k*d nearest. With ``stochastic`` (training only), with probability
``epsilon`` a random k of the k*d nearest are kept instead (one draw per call, shared by all
points, as in DeepGCN). Recomputed from the current features at every layer, the graph is
"dynamic". Edges point from neighbour to centre: ``src = u``, ``dst = i``, so a convolution
aggregates each point's neighbours. Clouds are given by ``batch`` (cloud id of every point,
points of one cloud contiguous); clouds with fewer than k*d points keep what they have.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DilatedKNNGraph", "dilated_knn_edges"]


def dilated_knn_edges(
    x: torch.Tensor,
    k: int,
    dilation: int = 1,
    batch: torch.Tensor | None = None,
    exclude_self: bool = False,
    random_subset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges (src = neighbour, dst = centre) of the dilated k-NN graph. Shapes: x [N, F] -> ([E], [E])."""
    if x.dim() != 2:
        raise ValueError(f"dilated_knn_edges: x must be [N, F], got {tuple(x.shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"dilated_knn_edges: k must be a positive int, got {k!r}")
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilated_knn_edges: dilation must be a positive int, got {dilation!r}")
    num_points = x.shape[0]
    device = x.device
    if batch is None:
        batch = torch.zeros(num_points, dtype=torch.int64, device=device)
    if batch.shape != (num_points,):
        raise ValueError(f"dilated_knn_edges: batch must have shape ({num_points},), got {tuple(batch.shape)}")
    if num_points and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("dilated_knn_edges: batch must be sorted (points of one cloud contiguous)")
    if num_points == 0:
        empty = torch.empty(0, dtype=torch.int64, device=device)
        return empty, empty
    counts = torch.bincount(batch)
    num_clouds, max_points = counts.numel(), int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(num_points, device=device) - starts.index_select(0, batch)
    # Padded clouds: [B, P, F] with +inf distance to padding, so each cloud's k-NN stays inside it.
    padded = x.new_zeros(num_clouds, max_points, x.shape[1])
    padded[batch, local] = x.detach()
    valid = torch.zeros(num_clouds, max_points, dtype=torch.bool, device=device)
    valid[batch, local] = True
    sq = (padded * padded).sum(-1)
    dist = sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * torch.bmm(padded, padded.transpose(1, 2))  # [B, P, P]
    dist = dist.masked_fill(~valid.unsqueeze(1), float("inf"))
    eye = torch.eye(max_points, dtype=torch.bool, device=device).unsqueeze(0)
    # The point itself ranks first (distance exactly 0, rounding aside) or is removed.
    dist = dist.masked_fill(eye, float("inf") if exclude_self else float("-inf"))
    candidates = min(k * dilation, max_points)
    nearest_dist, nearest = torch.topk(dist, candidates, dim=-1, largest=False, sorted=True)  # [B, P, k*d]
    if random_subset:
        pick = torch.randperm(candidates, device=device)[:k].sort().values
    else:
        pick = torch.arange(0, candidates, dilation, device=device)[:k]
    nearest, nearest_dist = nearest[..., pick], nearest_dist[..., pick]
    centre_dist = nearest_dist[batch, local]  # [N, k]
    neighbour_local = nearest[batch, local]  # [N, k]
    keep = torch.isfinite(centre_dist) | (centre_dist == float("-inf"))
    dst = torch.arange(num_points, device=device).view(-1, 1).expand_as(neighbour_local)
    src = neighbour_local + starts.index_select(0, batch).view(-1, 1)
    return src[keep], dst[keep]


class DilatedKNNGraph(nn.Module):
    """Builds the dilated k-NN graph of point features: ``DilatedKNNGraph(k, dilation)(x, batch) -> Graph``."""

    def __init__(self, k: int = 9, dilation: int = 1, stochastic: bool = False, epsilon: float = 0.0, exclude_self: bool = False):
        super().__init__()
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"DilatedKNNGraph: k must be a positive int, got {k!r}")
        if not isinstance(dilation, int) or dilation < 1:
            raise ValueError(f"DilatedKNNGraph: dilation must be a positive int, got {dilation!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"DilatedKNNGraph: epsilon must lie in [0, 1], got {epsilon}")
        self.k, self.dilation = k, dilation
        self.stochastic, self.epsilon = bool(stochastic), float(epsilon)
        self.exclude_self = bool(exclude_self)

    def forward(self, x: torch.Tensor, batch: torch.Tensor | None = None):
        from ...graph import graph as make_graph

        random_subset = self.stochastic and self.training and bool(torch.rand(()) < self.epsilon)
        src, dst = dilated_knn_edges(x, self.k, self.dilation, batch, self.exclude_self, random_subset)
        return make_graph((src, dst), num_nodes=x.shape[0])

    def extra_repr(self) -> str:
        return f"k={self.k}, dilation={self.dilation}, stochastic={self.stochastic}, epsilon={self.epsilon}"
