"""RelGraphConv: relational graph convolution (R-GCN) of Schlichtkrull et al., *Modeling
Relational Data with Graph Convolutional Networks* (ESWC 2018)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ... import ops
from ..dropout import Dropout
from .._utils import check_choice, check_positive_int, check_probability, check_rows, dst_rows

__all__ = ["RelGraphConv"]

_REGULARIZERS = (None, "basis", "bdd")


class RelGraphConv(nn.Module):
    r"""Relational graph convolution.

    .. math::

        h_v' = \mathrm{dropout}\Big(\sigma\Big(\mathrm{LN}\Big(\sum_{r \in \mathcal{R}} \sum_{u \in \mathcal{N}^r(v)}
        e_{uv}\, h_u W_r + h_v W_0 + b\Big)\Big)\Big)

    with the normaliser :math:`e_{uv}` given as ``norm`` (1 if omitted), the self-loop term
    :math:`W_0` if ``self_loop`` and LayerNorm if ``layer_norm``. The relation weights are

    * ``regularizer=None``: one free :math:`W_r` per relation;
    * ``'basis'``: :math:`W_r = \sum_{b=1}^{B} a_{rb} V_b` (``num_bases`` = :math:`B`);
    * ``'bdd'``: :math:`W_r = \bigoplus_{b=1}^{B} Q_{rb}`, block-diagonal with :math:`B` blocks of
      shape ``(in_feat / B, out_feat / B)``.

    Messages are per-edge products with the edge's relation matrix: ``gnnkit.ops.gather_mm``
    (edges in any order) or ``segment_mm`` (``presorted=True``: edges sorted by type); for 'bdd'
    each diagonal block is its own typed product, so no dense :math:`W_r` is ever formed.

    Args:
        in_feat, out_feat: widths.
        num_rels: number of relations :math:`|\mathcal{R}|`.
        regularizer: None, 'basis' or 'bdd'.
        num_bases: :math:`B` (defaults to ``num_rels``).
        bias, activation, self_loop, dropout, layer_norm: as in the formula.

    Shapes: ``feat`` [N_src, in_feat]; ``etypes`` [E] (int, in ``[0, num_rels)``); ``norm`` [E] or
    [E, 1]; returns [N_dst, out_feat].
    """

    def __init__(
        self,
        in_feat: int,
        out_feat: int,
        num_rels: int,
        regularizer: str | None = None,
        num_bases: int | None = None,
        bias: bool = True,
        activation=None,
        self_loop: bool = True,
        dropout: float = 0.0,
        layer_norm: bool = False,
    ):
        super().__init__()
        owner = type(self).__name__
        self.in_feat = check_positive_int(in_feat, "in_feat", owner)
        self.out_feat = check_positive_int(out_feat, "out_feat", owner)
        self.num_rels = check_positive_int(num_rels, "num_rels", owner)
        self.regularizer = check_choice(regularizer, "regularizer", owner, _REGULARIZERS)
        self.num_bases = num_rels if num_bases is None else check_positive_int(num_bases, "num_bases", owner)
        if regularizer == "basis":
            self.bases = nn.Parameter(torch.empty(self.num_bases, in_feat, out_feat))
            self.coefficients = nn.Parameter(torch.empty(num_rels, self.num_bases))
        elif regularizer == "bdd":
            if in_feat % self.num_bases or out_feat % self.num_bases:
                raise ValueError(
                    f"{owner}: 'bdd' needs in_feat ({in_feat}) and out_feat ({out_feat}) divisible by num_bases ({self.num_bases})"
                )
            self.blocks = nn.Parameter(torch.empty(num_rels, self.num_bases, in_feat // self.num_bases, out_feat // self.num_bases))
        else:
            self.weight = nn.Parameter(torch.empty(num_rels, in_feat, out_feat))
        self.loop_weight = nn.Parameter(torch.empty(in_feat, out_feat)) if self_loop else None
        self.h_bias = nn.Parameter(torch.empty(out_feat)) if bias else None
        self.layer_norm = nn.LayerNorm(out_feat, elementwise_affine=True) if layer_norm else None
        self.activation = activation
        self.dropout = Dropout(check_probability(dropout, "dropout", owner))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        if self.regularizer == "basis":
            nn.init.xavier_uniform_(self.bases, gain=gain)
            nn.init.xavier_uniform_(self.coefficients, gain=gain)
        elif self.regularizer == "bdd":
            # Each block maps in/B to out/B features: scale its init like that small matrix.
            fan_in, fan_out = self.blocks.shape[-2], self.blocks.shape[-1]
            bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            nn.init.uniform_(self.blocks, -bound, bound)
        else:
            nn.init.xavier_uniform_(self.weight, gain=gain)
        if self.loop_weight is not None:
            nn.init.xavier_uniform_(self.loop_weight, gain=gain)
        if self.h_bias is not None:
            nn.init.zeros_(self.h_bias)
        if self.layer_norm is not None:
            self.layer_norm.reset_parameters()

    def relation_weights(self) -> torch.Tensor:
        """The dense ``[num_rels, in_feat, out_feat]`` relation matrices (for inspection and tests)."""
        if self.regularizer == "basis":
            return torch.einsum("rb,bio->rio", self.coefficients, self.bases)
        if self.regularizer == "bdd":
            return torch.stack([torch.block_diag(*self.blocks[r]) for r in range(self.num_rels)])
        return self.weight

    def forward(self, graph, feat: torch.Tensor, etypes: torch.Tensor, norm: torch.Tensor | None = None, *, presorted: bool = False):
        owner = type(self).__name__
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        etypes = self._check_etypes(graph, etypes, owner)
        adj = graph.sparse
        with graph.local_scope():
            # x_edge: [E, in] source features per edge -> messages: [E, out]
            x_edge = feat.index_select(0, adj.src)
            messages = self._relation_product(x_edge, etypes, presorted)
            if norm is not None:
                check_rows(norm, graph.num_edges(), "norm", "edges", owner)
                messages = messages * norm.reshape(-1, 1).to(messages.dtype)
            out = ops.gspmm(adj, "copy_e", "sum", None, messages)
            if self.layer_norm is not None:
                out = self.layer_norm(out)
            if self.h_bias is not None:
                out = out + self.h_bias
            if self.loop_weight is not None:
                out = out + dst_rows(graph, feat) @ self.loop_weight
            if self.activation is not None:
                out = self.activation(out)
            return self.dropout(out)

    def _relation_product(self, x_edge: torch.Tensor, etypes: torch.Tensor, presorted: bool) -> torch.Tensor:
        if self.regularizer == "bdd":
            # Block b of every relation maps input slice b to output slice b: B typed products
            # of [E, in/B] rows, never a dense [in, out] relation matrix.
            width = self.in_feat // self.num_bases
            parts = [
                self._typed_matmul(x_edge[:, b * width : (b + 1) * width], self.blocks[:, b], etypes, presorted)
                for b in range(self.num_bases)
            ]
            return torch.cat(parts, dim=1)
        weight = self.relation_weights()
        return self._typed_matmul(x_edge, weight, etypes, presorted)

    @staticmethod
    def _typed_matmul(rows: torch.Tensor, weight: torch.Tensor, types: torch.Tensor, presorted: bool) -> torch.Tensor:
        if presorted:
            if types.numel() > 1 and bool((types[1:] < types[:-1]).any()):
                raise ValueError("RelGraphConv: presorted=True but etypes are not sorted in ascending order")
            counts = torch.bincount(types, minlength=weight.shape[0])
            return ops.segment_mm(rows, weight, counts)
        return ops.gather_mm(rows, weight, types)

    def _check_etypes(self, graph, etypes, owner: str) -> torch.Tensor:
        if not isinstance(etypes, torch.Tensor):
            etypes = torch.as_tensor(etypes)
        if etypes.is_floating_point() or etypes.dim() != 1 or etypes.numel() != graph.num_edges():
            raise ValueError(f"{owner}: etypes must be an integer tensor of shape [{graph.num_edges()}], got {etypes.dtype} {tuple(etypes.shape)}")
        etypes = etypes.to(torch.int64)
        if etypes.numel() and (int(etypes.min()) < 0 or int(etypes.max()) >= self.num_rels):
            raise ValueError(f"{owner}: etypes must lie in [0, {self.num_rels}), got [{int(etypes.min())}, {int(etypes.max())}]")
        return etypes

    def extra_repr(self) -> str:
        return f"in={self.in_feat}, out={self.out_feat}, num_rels={self.num_rels}, regularizer={self.regularizer!r}, num_bases={self.num_bases}"
