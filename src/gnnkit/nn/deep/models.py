"""Deep GCN models for node classification: ``ResGCN``, ``DenseGCN``, ``PlainGCN``, ``DeeperGCN``.

All share one shape (Li et al. 2019/2020):

    h_0 = Linear(x);   h_l = DeepGCNLayer_l(g, h_{l-1})  for l = 1..depth;   y = Linear(h_depth)

``encoder='conv'`` / ``decoder='conv'`` replace the first / last Linear with a graph convolution
of the model's kind, ``'gcn'`` with a GCN convolution whatever the model's kind (as the input and
output layers of a 2-layer GCN): on a small citation graph
the Linear ends give the classifier an unsmoothed path from the raw features, and even a
2-block ResGCN then stays ~8 points below a 2-layer GCN on Cora.

* ``ResGCN``: 'res' blocks (x + ReLU(Norm(Conv(x)))).
* ``DenseGCN``: 'dense' blocks, each adding ``growth`` channels.
* ``PlainGCN``: 'plain' blocks, no skip connection (the baseline that stops training when deep).
* ``DeeperGCN``: 'res+' pre-activation blocks around GENConv with a learnable softmax
  aggregation; the first layer is a bare conv and a final Norm + ReLU precedes the classifier.

``residual_scale`` (residual blocks only) scales each block's branch, x' = x + alpha * F(x): None
(alpha = 1), a float, ``'inv_sqrt_depth'`` (alpha = 1/sqrt(depth)) or ``'rezero'`` (a learnable
alpha per block, initialised at 0); see ``DeepGCNLayer``.

``encoder_norm=True`` applies the model's norm to the encoder's output, so the residual stream
starts at unit scale. Why it matters: with row-normalised bag-of-words features (Cora) the
encoder's output has an RMS of ~0.002, while a res+ branch, which normalises its input, returns
~0.4 whatever the stream's scale; a ReZero alpha moved by one Adam step (~lr = 0.01) then adds
twice the whole stream per block, and a 56-block stack spends its first epochs in chaos (training
accuracy at the majority class, some seeds never recover). With the stream at unit scale the same
step is a ~0.4 % perturbation per block.

``conv`` picks the convolution: ``'gcn'`` (symmetric-normalised GCN with self loops, the
``GCNLayer`` below), ``'gen'`` (GENConv), ``'mr'`` (MRConv), ``'edge'`` (gnnkit.nn.EdgeConv), or
a callable ``(in_channels, out_channels) -> module``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..dropout import functional_dropout

from ... import ops
from ..conv.gen_conv import GENConv, make_norm
from ..conv.mr_conv import MRConv
from .deep_gcn_layer import DeepGCNLayer

__all__ = ["DeepGCN", "ResGCN", "DenseGCN", "PlainGCN", "DeeperGCN", "GCNLayer"]


class GCNLayer(nn.Module):
    """``x' = D^{-1/2} (A + I) D^{-1/2} x W + b`` with ``D`` the in-degree plus one (Kipf & Welling)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, g, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in] -> [N, out]; a square graph (num_src == num_dst)
        adj = g.sparse
        h = self.lin(x)
        norm_src = (adj.out_degrees() + 1).to(h.dtype).rsqrt().view(-1, 1)
        norm_dst = (adj.in_degrees() + 1).to(h.dtype).rsqrt().view(-1, 1)
        h = h * norm_src
        # No slice when the graph is square: slicing's backward would allocate another [N, out].
        h_dst = h if adj.num_dst == adj.num_src else h[: adj.num_dst]
        out = (ops.gspmm(adj, "copy_u", "sum", ufeat=h) + h_dst) * norm_dst
        return out + self.bias if self.bias is not None else out


def _conv_factory(conv, conv_kwargs: dict):
    if callable(conv) and not isinstance(conv, str):
        return conv
    if conv == "gcn":
        return lambda i, o: GCNLayer(i, o, **conv_kwargs)
    if conv == "gen":
        return lambda i, o: GENConv(i, o, **conv_kwargs)
    if conv == "mr":
        return lambda i, o: MRConv(i, o, **conv_kwargs)
    if conv == "edge":
        from ..conv.edge_conv import EdgeConv  # owned by the layers package

        return lambda i, o: EdgeConv(i, o, **conv_kwargs)
    raise ValueError(f"conv must be 'gcn', 'gen', 'mr', 'edge' or a callable (in, out) -> module, got {conv!r}")


class DeepGCN(nn.Module):
    def __init__(
        self,
        in_feats: int,
        hidden: int,
        out_feats: int,
        depth: int,
        block: str = "res",
        conv="gcn",
        norm: str | None = "batch",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        growth: int | None = None,
        conv_kwargs: dict | None = None,
        encoder: str = "linear",
        decoder: str = "linear",
        residual_scale: float | str | None = None,
        encoder_norm: bool = False,
    ):
        super().__init__()
        for name, value in (("in_feats", in_feats), ("hidden", hidden), ("out_feats", out_feats), ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        for name, value in (("encoder", encoder), ("decoder", decoder)):
            if value not in ("linear", "conv", "gcn"):
                raise ValueError(f"{type(self).__name__}: {name} must be 'linear', 'conv' or 'gcn', got {value!r}")
        if residual_scale == "inv_sqrt_depth":
            residual_scale = 1.0 / depth**0.5
        make_conv = _conv_factory(conv, dict(conv_kwargs or {}))
        self.block, self.depth, self.dropout, self.input_dropout = block, depth, float(dropout), float(input_dropout)
        self.encoder_kind, self.decoder_kind = encoder, decoder
        make_end = {"linear": lambda i, o: nn.Linear(i, o), "conv": make_conv, "gcn": lambda i, o: GCNLayer(i, o)}
        self.encoder = make_end[encoder](in_feats, hidden)
        if not isinstance(encoder_norm, bool):
            raise ValueError(f"{type(self).__name__}: encoder_norm must be a bool, got {encoder_norm!r}")
        self.encoder_norm = make_norm(norm, hidden) if encoder_norm else None
        growth = growth or hidden
        self.layers = nn.ModuleList()
        width = hidden
        for _ in range(depth):
            out = growth if block == "dense" else hidden
            # res+ normalises the block input; the others normalise the conv output.
            norm_width = width if block == "res+" else out
            self.layers.append(DeepGCNLayer(make_conv(width, out), make_norm(norm, norm_width), nn.ReLU(), block, dropout, residual_scale))
            width = width + out if block == "dense" else out
        self.final_norm = make_norm(norm, width) if block == "res+" else None
        self.decoder = make_end[decoder](width, out_feats)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, g, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_feats] -> [N, out_feats]
        x = functional_dropout(x, self.input_dropout, self.training)
        h = self.encoder(x) if self.encoder_kind == "linear" else self.encoder(g, x)
        if self.encoder_norm is not None:
            h = self.encoder_norm(h)  # the residual stream starts at the scale its blocks add
        layers = list(self.layers)
        if self.block == "res+":
            h = layers.pop(0).conv(g, h)  # the first block has nothing to pre-activate
        for layer in layers:
            h = layer(g, h)
        if self.final_norm is not None:
            h = functional_dropout(F.relu(self.final_norm(h)), self.dropout, self.training)
        if self.decoder_kind == "linear":
            return self.decoder(h)
        if self.final_norm is None:
            h = functional_dropout(h, self.dropout, self.training)
        return self.decoder(g, h)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, block={self.block!r}"


class ResGCN(DeepGCN):
    """A deep GCN with residual ('res') blocks."""

    def __init__(self, in_feats, hidden, out_feats, depth, conv="gcn", **kwargs):
        super().__init__(in_feats, hidden, out_feats, depth, block="res", conv=conv, **kwargs)


class DenseGCN(DeepGCN):
    """A deep GCN with dense blocks: each layer appends ``growth`` channels."""

    def __init__(self, in_feats, hidden, out_feats, depth, growth: int = 16, conv="gcn", **kwargs):
        super().__init__(in_feats, hidden, out_feats, depth, block="dense", conv=conv, growth=growth, **kwargs)


class PlainGCN(DeepGCN):
    """A deep GCN without skip connections ('plain' blocks)."""

    def __init__(self, in_feats, hidden, out_feats, depth, conv="gcn", **kwargs):
        super().__init__(in_feats, hidden, out_feats, depth, block="plain", conv=conv, **kwargs)


class DeeperGCN(DeepGCN):
    """DeeperGCN: 'res+' blocks around GENConv with a learnable softmax aggregation."""

    def __init__(self, in_feats, hidden, out_feats, depth, aggr: str = "softmax", learn: bool = True, msg_norm: bool = False, norm="batch", **kwargs):
        conv_kwargs = {"aggr": aggr, "msg_norm": msg_norm, "norm": norm, "num_layers": 2}
        if aggr == "softmax":
            conv_kwargs["learn_beta"] = learn
        elif aggr == "powermean":
            conv_kwargs["learn_p"] = learn
        conv_kwargs.update(kwargs.pop("conv_kwargs", None) or {})
        super().__init__(in_feats, hidden, out_feats, depth, block="res+", conv="gen", norm=norm, conv_kwargs=conv_kwargs, **kwargs)
