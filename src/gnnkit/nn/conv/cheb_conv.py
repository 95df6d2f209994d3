"""ChebConv: Chebyshev spectral graph convolution of Defferrard, Bresson & Vandergheynst,
*Convolutional Neural Networks on Graphs with Fast Localized Spectral Filtering* (NeurIPS 2016)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import aggregate, check_positive_int, check_rows, require_square

__all__ = ["ChebConv", "laplacian_lambda_max"]

# Below this many nodes a dense eigen-solver is faster and always converges.
_DENSE_EIGEN_LIMIT = 512


class ChebConv(nn.Module):
    r"""Chebyshev polynomial filter of the scaled normalised Laplacian.

    .. math::

        \tilde L = \frac{2}{\lambda_{max}}\big(I - D^{-1/2} A D^{-1/2}\big) - I, \qquad
        Z^{(0)} = X,\; Z^{(1)} = \tilde L X,\; Z^{(k)} = 2 \tilde L Z^{(k-1)} - Z^{(k-2)}

    .. math::

        H' = \sigma\Big(\sum_{k=0}^{K-1} Z^{(k)} W_k + b\Big)

    (one linear map of the concatenated :math:`Z^{(k)}`; degrees are in-degrees clamped to 1).
    :math:`\lambda_{max}` is the largest eigenvalue of :math:`I - D^{-1/2} A D^{-1/2}` of each graph
    of a batch: pass ``lambda_max`` (a float, or one per graph) or let :func:`laplacian_lambda_max`
    compute it with scipy.

    Args:
        in_feats, out_feats: widths.
        k: polynomial order :math:`K` (number of terms).
        activation: :math:`\sigma`, ReLU by default as in DGL.
        bias: learn :math:`b`.

    Shapes: ``feat`` [N, in_feats]; returns [N, out_feats]. Needs ``num_src == num_dst``.
    """

    def __init__(self, in_feats: int, out_feats: int, k: int, activation=F.relu, bias: bool = True):
        super().__init__()
        owner = type(self).__name__
        self._in_feats = check_positive_int(in_feats, "in_feats", owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._k = check_positive_int(k, "k", owner)
        self.activation = activation
        self.linear = nn.Linear(k * in_feats, out_feats, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.linear.weight)
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)

    def forward(self, graph, feat: torch.Tensor, lambda_max=None):
        owner = type(self).__name__
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        with graph.local_scope():
            batch_num_nodes = graph.batch_num_nodes()
            if lambda_max is None:
                lambda_max = laplacian_lambda_max(graph)
            lambda_max = torch.as_tensor(lambda_max, dtype=feat.dtype, device=feat.device).reshape(-1)
            if lambda_max.numel() == 1:
                lambda_max = lambda_max.expand(batch_num_nodes.numel())
            if lambda_max.numel() != batch_num_nodes.numel():
                raise ValueError(f"{owner}: lambda_max has {lambda_max.numel()} values but the batch has {batch_num_nodes.numel()} graphs")
            if bool((lambda_max <= 0).any()):
                raise ValueError(f"{owner}: lambda_max must be positive, got {lambda_max.tolist()}")
            # node_scale: [N, 1] = 2 / lambda_max of the node's graph
            node_scale = torch.repeat_interleave(2.0 / lambda_max, batch_num_nodes).unsqueeze(-1)
            norm = graph.sparse.in_degrees().clamp(min=1).to(feat.dtype).pow(-0.5).unsqueeze(-1)

            def scaled_laplacian(x):
                # L~ x = (2 / lambda)(x - D^-1/2 A D^-1/2 x) - x; x: [N, F]
                propagated = aggregate(graph, x * norm, "sum") * norm
                return node_scale * (x - propagated) - x

            terms = [feat]
            if self._k > 1:
                terms.append(scaled_laplacian(feat))
            for _ in range(2, self._k):
                terms.append(2 * scaled_laplacian(terms[-1]) - terms[-2])
            out = self.linear(torch.cat(terms, dim=-1))
            if self.activation is not None:
                out = self.activation(out)
            return out

    def extra_repr(self) -> str:
        return f"in={self._in_feats}, out={self._out_feats}, k={self._k}"


def laplacian_lambda_max(graph) -> list[float]:
    """Largest eigenvalue (real part) of ``I - D^{-1/2} A D^{-1/2}`` for each graph of a batch.

    ``A[v, u]`` counts the edges ``u -> v``; ``D`` are in-degrees clamped to 1 (as the layer uses).
    """
    adj = graph.sparse
    src, dst = adj.src.cpu().numpy(), adj.dst.cpu().numpy()
    num = adj.num_dst
    degrees = adj.in_degrees().cpu().clamp(min=1).double().pow(-0.5).numpy()
    values = degrees[dst] * degrees[src]
    matrix = scipy.sparse.csr_matrix((values, (dst, src)), shape=(num, num))
    laplacian = (scipy.sparse.identity(num, format="csr") - matrix).tocsr()
    bounds = np.concatenate([[0], np.cumsum(graph.batch_num_nodes().cpu().numpy())])
    result = []
    # An edgeless or self-loop-only graph has a zero Laplacian; 2 (the bound for any graph)
    # keeps the scaling finite there.
    for start, end in zip(bounds[:-1], bounds[1:]):
        block = laplacian[start:end, start:end]
        size = end - start
        if size == 0:
            result.append(2.0)
        elif size <= _DENSE_EIGEN_LIMIT:
            value = float(np.linalg.eigvals(block.toarray()).real.max())
            result.append(value if value > 1e-8 else 2.0)
        else:
            top = scipy.sparse.linalg.eigs(block, k=1, which="LR", return_eigenvectors=False, tol=1e-4)
            value = float(top.real.max())
            result.append(value if value > 1e-8 else 2.0)
    return result
