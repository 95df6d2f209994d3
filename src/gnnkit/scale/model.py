"""GNNAutoScale: a stack of gnnkit conv layers trained on METIS mini-batches with historical
embeddings for the out-of-batch neighbours (Fey et al., ICML 2021).

For a batch with nodes ``B`` and one-hop halo ``H`` (see :class:`SubgraphLoader`), layer ``l``:

.. math::

    h^{l+1}_B = f^{l}\\big(\\text{block},\\ [h^{l}_B \\,\\|\\, \\bar h^{l}_H]\\big), \\qquad
    \\bar h^{l+1}_B \\leftarrow h^{l+1}_B \\ \\text{(push)}

where :math:`\\bar h^l_H` are pulled from the layer's :class:`History` and the input layer
uses the true features of ``B + H``. Every edge into ``B`` is kept, so the only approximation is
the staleness of :math:`\\bar h`. With one cluster (``H`` empty) a step is exactly full-batch.

Each layer step is ``out = conv(block, h, edge_weight=w)``; then optionally
``out = (1 - alpha) out + alpha h^0_B`` (GCNII's initial residual), ``out = out + h_B``
(``residual=True``, when widths match), then ``activation`` on hidden layers, and dropout on
the next layer's input. Multi-head outputs ``[B, heads, F]`` are concatenated on hidden
layers and averaged on the last. ``input_proj``/``output_proj`` are optional modules applied
node-wise before the first and after the last layer (the projected input is ``h^0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import NID, Graph
from .history import History
from .loader import SubgraphBatch, SubgraphLoader

__all__ = ["ScalableGNN", "gcn_norm_weights"]


def gcn_norm_weights(g: Graph) -> torch.Tensor:
    """Edge weights ``1 / sqrt(d_out(u) d_in(v))`` of ``g`` (add self-loops first for GCN's
    renormalisation). With them ``GraphConv(norm='none')`` on any block equals
    ``GraphConv(norm='both')`` on the full graph, which GAS blocks need because a block
    does not see the full out-degrees of its sources. [E]"""
    src, dst = g.edges()
    out_deg = g.out_degrees().clamp(min=1).to(torch.float32)
    in_deg = g.in_degrees().clamp(min=1).to(torch.float32)
    return (out_deg[src] * in_deg[dst]).rsqrt()


class ScalableGNN(nn.Module):
    """``ScalableGNN(layers, num_nodes, hidden_dims, ...)``.

    Args:
        layers: gnnkit conv layers taking ``(graph, feat, edge_weight=...)``.
        num_nodes: nodes of the full graph (size of the histories).
        hidden_dims: output width of every layer but the last (one history per hidden layer;
            for multi-head layers the concatenated width).
        activation: applied after every hidden layer.
        dropout: on the input of every layer.
        residual: add the layer input of the batch nodes when the widths match.
        alpha: GCNII-style initial residual weight (``0`` disables).
        edge_weight: name of an edge feature passed to every layer as ``edge_weight``.
        input_proj, output_proj: node-wise modules before the first / after the last layer.
        device: where the model runs (decides pinned histories and async transfers).
        history_dtype: storage type of the histories (``torch.float16`` halves their memory;
            pulled values are cast back to the compute type).
        history_nodes: ids of the nodes the histories keep (default: all). Pass
            ``loader.boundary_nodes()``: the only nodes any batch of that loader pulls (see
            :class:`History`); the histories then cost rows for those nodes only.
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        num_nodes: int,
        hidden_dims: Sequence[int],
        activation=F.relu,
        dropout: float = 0.0,
        residual: bool = False,
        alpha: float = 0.0,
        edge_weight: str | None = None,
        input_proj: nn.Module | None = None,
        output_proj: nn.Module | None = None,
        device=None,
        history_dtype: torch.dtype = torch.float32,
        history_nodes: torch.Tensor | None = None,
    ):
        super().__init__()
        if len(layers) < 1:
            raise ValueError("ScalableGNN: layers must hold at least one conv layer")
        if len(hidden_dims) != len(layers) - 1:
            raise ValueError(f"ScalableGNN: hidden_dims needs one width per hidden layer ({len(layers) - 1}), got {len(hidden_dims)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ScalableGNN: dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ScalableGNN: alpha must be in [0, 1], got {alpha!r}")
        self.layers = nn.ModuleList(layers)
        self.num_nodes = num_nodes
        self.activation = activation
        self.dropout = dropout
        self.residual = residual
        self.alpha = alpha
        self.edge_weight = edge_weight
        self.input_proj = input_proj
        self.output_proj = output_proj
        self.histories = nn.ModuleList([History(num_nodes, int(d), device=device, dtype=history_dtype, nodes=history_nodes) for d in hidden_dims])
        for history in self.histories[1:]:
            history._slot = self.histories[0]._slot  # one node -> row map serves every layer

    def reset_parameters(self) -> None:
        for module in [*self.layers, self.input_proj, self.output_proj]:
            if module is not None and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for history in self.histories:
            history.reset_parameters()

    # -- one layer ----------------------------------------------------------------------------------

    def _layer(self, index: int, graph: Graph, h: torch.Tensor, h0_dst: torch.Tensor | None) -> torch.Tensor:
        num_dst = graph.num_dst_nodes()
        last = index == len(self.layers) - 1
        inp = F.dropout(h, self.dropout, self.training) if self.dropout else h
        kwargs = {}
        if self.edge_weight is not None:
            kwargs["edge_weight"] = graph.edata[self.edge_weight]
        out = self.layers[index](graph, inp, **kwargs)
        if out.dim() == 3:
            out = out.mean(1) if last else out.flatten(1)
        if self.alpha and h0_dst is not None and out.shape == h0_dst.shape:
            out = (1 - self.alpha) * out + self.alpha * h0_dst
        if self.residual and out.shape[-1] == h.shape[-1]:
            out = out + h[:num_dst]
        if not last and self.activation is not None:
            out = self.activation(out)
        return out

    def _project_in(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_proj(x) if self.input_proj is not None else x

    def _project_out(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_proj(x) if self.output_proj is not None else x

    # -- training step on one batch -------------------------------------------------------------------

    def forward(self, batch: SubgraphBatch | Graph, x: torch.Tensor) -> torch.Tensor:
        """Outputs for the batch nodes of a :class:`SubgraphBatch`, or for all nodes of a full graph.

        ``x``: the full-graph features ``[num_nodes, F]`` (rows of ``B + H`` are gathered), or
        already the rows of ``B + H`` in block order (only when that count is not ``num_nodes``)."""
        if isinstance(batch, Graph):
            return self.full_forward(batch, x)
        batch_nodes, halo_nodes, blk = batch
        num_batch = batch_nodes.numel()
        if x.shape[0] == self.num_nodes:
            x = x.index_select(0, blk.srcdata[NID].to(x.device))
        elif x.shape[0] != blk.num_src_nodes():
            raise ValueError(
                f"ScalableGNN: x has {x.shape[0]} rows; expected the full graph ({self.num_nodes}) "
                f"or the batch plus halo ({blk.num_src_nodes()})"
            )
        h = self._project_in(x)
        h0_dst = h[:num_batch] if self.alpha else None
        for index in range(len(self.layers)):
            out = self._layer(index, blk, h, h0_dst)
            if index < len(self.layers) - 1:
                history = self.histories[index]
                history.push(out, batch_nodes)
                halo = history.pull(halo_nodes).to(out.device, out.dtype)
                h = torch.cat([out, halo], 0)
            else:
                h = out
        return self._project_out(h)

    def full_forward(self, g: Graph, x: torch.Tensor) -> torch.Tensor:
        """The full-batch model on the whole graph (no histories): the reference GAS approximates."""
        h = self._project_in(x)
        h0 = h if self.alpha else None
        for index in range(len(self.layers)):
            h = self._layer(index, g, h, h0)
        return self._project_out(h)

    @torch.no_grad()
    def inference(self, loader: SubgraphLoader, x: torch.Tensor) -> torch.Tensor:
        """Exact layer-wise full-graph inference through the loader's batches.

        Layer ``l`` runs for every batch before layer ``l + 1``, reading the inputs of the halo
        from what layer ``l - 1`` has just written, so the result equals :meth:`full_forward`
        (up to the storage type of the histories) while only one batch's block is alive at a
        time; it also refreshes every history. With full histories the layer outputs go
        straight into them; with compact ones (``history_nodes``) a temporary
        ``[num_nodes, F]`` buffer of the history's type holds the previous layer."""
        outputs = None
        previous = None  # the last layer's outputs for every node, when its history is compact
        num_layers = len(self.layers)
        for index in range(num_layers):
            current = None
            for batch_nodes, _, blk in iter_batches_in_order(loader):
                src = blk.srcdata[NID]
                if index == 0:
                    h = self._project_in(x.index_select(0, src.to(x.device)))
                elif previous is not None:
                    h = previous.index_select(0, src.to(previous.device)).to(x.device, x.dtype)
                else:
                    h = self.histories[index - 1].pull(src).to(x.device, x.dtype)
                h0_dst = self._project_in(x.index_select(0, batch_nodes.to(x.device))) if self.alpha else None
                out = self._layer(index, blk, h, h0_dst)
                if index < num_layers - 1:
                    history = self.histories[index]
                    history.push(out, batch_nodes, track_staleness=False)
                    if not history.stores_all_nodes:
                        if current is None:
                            current = torch.empty(self.num_nodes, out.shape[1], dtype=history.emb.dtype, device=out.device)
                        current[batch_nodes.to(out.device)] = out.to(current.dtype)
                else:
                    out = self._project_out(out)
                    if outputs is None:
                        outputs = out.new_zeros(self.num_nodes, *out.shape[1:])
                    outputs[batch_nodes.to(out.device)] = out
                del blk, h, out
            previous = current
        return outputs

    def staleness(self, reset: bool = True) -> list[float]:
        """Mean L2 gap between the pulled history and the fresh embedding, per hidden layer,
        averaged over the pushes since the last reset."""
        gaps = [h.staleness() for h in self.histories]
        if reset:
            for h in self.histories:
                h.reset_staleness()
        return gaps


def iter_batches_in_order(loader: SubgraphLoader):
    clusters = torch.arange(loader.num_parts)
    for chunk in torch.split(clusters, loader.batch_size):
        yield loader.batch(chunk)
