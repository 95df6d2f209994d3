"""Encoder-decoder over graph RNN layers (DCRNN / GCRN sequence-to-sequence forecasting).

The encoder reads ``T`` input snapshots layer by layer; the decoder starts from the encoder's
final states and a zero "go" input and emits ``horizon`` predictions, feeding back either its own
prediction or (with probability ``teacher_forcing``, DCRNN's scheduled sampling) the truth.

Caching (``caching = True``, all cells split convs) runs :meth:`GraphSeq2Seq._forward_cached`:

* the first encoder layer's input aggregation comes from a :class:`CacheStore` keyed by
  ``("encoder.0", snapshot id)`` when ``snapshot_ids`` are given (overlapping windows reuse it);
  otherwise all ``T`` steps of the window are aggregated in one fused ``msg_pass``
  (``fuse_time_steps``, on by default);
* every hidden state is aggregated once: the aggregation of layer ``l``'s ``h_t`` feeds layer
  ``l``'s gates at step ``t + 1`` and, as its input, layer ``l + 1``'s gates at step ``t`` (and
  the decoder's first step takes the encoder's last one), whenever the two convs aggregate alike
  (same :attr:`~gnnkit.temporal.SplitConv.aggregation_key`);
* inside a cell, one aggregation of ``h`` serves all gates and each group of gates is one GEMM
  (see the cells); the zero initial state is not aggregated.

Turning caching off computes the same outputs the naive way: PyGT's per-step, per-gate model,
where every gate aggregates its own inputs with operators normalised per call
(:meth:`GraphOperators.per_call`), with the same non-caching fusions as the cached path.
"""

from __future__ import annotations

import torch
from torch import nn

from .cache import CacheStore
from .propagation import GraphOperators

__all__ = ["GraphSeq2Seq"]


def _hidden(state):
    return state[0] if isinstance(state, tuple) else state


class GraphSeq2Seq(nn.Module):
    """Stacked graph-RNN encoder and decoder with a per-node output projection.

    Args:
        encoder: cells of the encoder, bottom first (``GraphGRUCell`` / ``GraphLSTMCell``).
        decoder: cells of the decoder; same count and hidden sizes as the encoder, the first
            taking ``out_feats`` inputs.
        out_feats: predicted features per node and step.
        cache_store: where first-layer input aggregations are kept (a new store by default).
    """

    def __init__(self, encoder, decoder, out_feats: int, cache_store: CacheStore | None = None):
        super().__init__()
        self.encoder = nn.ModuleList(encoder)
        self.decoder = nn.ModuleList(decoder)
        if len(self.encoder) == 0 or len(self.encoder) != len(self.decoder):
            raise ValueError(
                f"GraphSeq2Seq: encoder and decoder need the same non-zero number of layers, got {len(self.encoder)} and {len(self.decoder)}"
            )
        for enc, dec in zip(self.encoder, self.decoder):
            if enc.hidden_feats != dec.hidden_feats or type(enc) is not type(dec):
                raise ValueError("GraphSeq2Seq: encoder and decoder layers must match in cell type and hidden size")
        if self.decoder[0].in_feats != out_feats:
            raise ValueError(f"GraphSeq2Seq: the first decoder cell takes {self.decoder[0].in_feats} inputs; expected out_feats={out_feats}")
        self.out_feats = out_feats
        self.projection = nn.Linear(self.decoder[-1].hidden_feats, out_feats)
        self.cache_store = CacheStore() if cache_store is None else cache_store
        self.caching = True
        self.fuse_time_steps = True

    def set_caching(self, enabled: bool) -> "GraphSeq2Seq":
        self.caching = bool(enabled)
        for cell in list(self.encoder) + list(self.decoder):
            cell.caching = bool(enabled)
        return self

    def reset_parameters(self) -> None:
        for cell in list(self.encoder) + list(self.decoder):
            cell.reset_parameters()
        self.projection.reset_parameters()

    def _input_aggregations(self, layer: int, cell, ops, seq: torch.Tensor, snapshot_ids):
        # seq: [T, N, B, F] -> [T, N, B, S*F]
        T, N, B, _ = seq.shape
        if layer == 0 and snapshot_ids is not None and not seq.requires_grad:
            ids = snapshot_ids.t().reshape(-1)  # position p = t * B + b

            def compute(positions):
                t, b = positions // B, positions % B
                chosen = seq[t, :, b]  # [M, N, F]
                return cell.msg_pass_input(ops, chosen.transpose(0, 1)).transpose(0, 1)

            rows = self.cache_store.fetch("encoder.0", ids, compute)  # [T * B, N, S*F]
            return rows.view(T, B, N, -1).permute(0, 2, 1, 3)
        fused = cell.msg_pass_input(ops, seq.transpose(0, 1))  # [N, T, B, S*F]
        return fused.transpose(0, 1)

    def forward(
        self,
        ops: GraphOperators,
        x: torch.Tensor,
        horizon: int,
        targets: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        snapshot_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x: [B, T, N, F] -> predictions [B, horizon, N, out_feats].

        ``targets`` [B, horizon, N, out_feats] are fed to the decoder with probability
        ``teacher_forcing`` per step; ``snapshot_ids`` [B, T] name the input snapshots for the
        cache store (leave ``None`` when the inputs are not fixed data).
        """
        if x.dim() != 4 or x.shape[2] != ops.num_nodes:
            raise ValueError(f"GraphSeq2Seq: x must be [B, T, N={ops.num_nodes}, F], got {tuple(x.shape)}")
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"GraphSeq2Seq: horizon must be a positive int, got {horizon!r}")
        if snapshot_ids is not None and tuple(snapshot_ids.shape) != tuple(x.shape[:2]):
            raise ValueError(f"GraphSeq2Seq: snapshot_ids must have shape {tuple(x.shape[:2])}, got {tuple(snapshot_ids.shape)}")
        B, T = x.shape[:2]
        cells = list(self.encoder) + list(self.decoder)
        if self.caching and all(getattr(cell, "split", False) for cell in cells):
            return self._forward_cached(ops, x, horizon, targets, teacher_forcing, snapshot_ids, generator)
        # Naive: cell by cell, step by step, every gate doing its own message passing.
        seq = list(x.permute(1, 2, 0, 3).unbind(0))  # T x [N, B, F]
        states = []
        for cell in self.encoder:
            state, outputs = None, []
            for t in range(T):
                state = cell(ops, seq[t], state)
                outputs.append(_hidden(state))
            states.append(state)
            seq = outputs
        step_input, predictions = x.new_zeros(x.shape[2], B, self.out_feats), []
        for t in range(horizon):
            inp = step_input
            for layer, cell in enumerate(self.decoder):
                states[layer] = cell(ops, inp, states[layer])
                inp = _hidden(states[layer])
            prediction = self.projection(inp)  # [N, B, out]
            predictions.append(prediction)
            step_input = self._next_input(prediction, targets, t, teacher_forcing, generator)
        return torch.stack(predictions).permute(2, 0, 1, 3)  # [B, horizon, N, out]

    @staticmethod
    def _next_input(prediction, targets, t, teacher_forcing, generator):
        use_truth = targets is not None and teacher_forcing > 0 and float(torch.rand((), generator=generator)) < teacher_forcing
        return targets[:, t].permute(1, 0, 2) if use_truth else prediction

    def _forward_cached(self, ops, x, horizon, targets, teacher_forcing, snapshot_ids, generator):
        """DynaGraph's cached message passing over the whole encoder-decoder.

        Every tensor is aggregated once: the window's input (fused over time steps or from the
        store), and each hidden state h_t of layer l, whose aggregation serves both layer l's
        gates at step t + 1 and, as its input, layer l + 1's gates at step t (and the decoder's
        first step for the encoder's last state) when the two convs aggregate alike.
        """
        B, T = x.shape[:2]
        L = len(self.encoder)
        seq = x.permute(1, 2, 0, 3)  # [T, N, B, F]
        first = self.encoder[0]
        if self.fuse_time_steps or snapshot_ids is not None:
            # [T, N, B, S*F], one fused product (or store lookup) for the whole window. Each step
            # sums its slice's gate term with the hidden one inside one in-place GEMM chain.
            window = self._input_aggregations(0, first, ops, seq, snapshot_ids)
            inputs = [{"x_agg": agg} for agg in window.unbind(0)]
        else:
            inputs = [{"x_agg": first.msg_pass_input(ops, seq[t])} for t in range(T)]

        def shares(lower, upper):
            return lower.conv_h.aggregation_key == upper.conv_x.aggregation_key

        states, last_aggs = [], []
        for layer, cell in enumerate(self.encoder):
            upper = self.encoder[layer + 1] if layer + 1 < L else None
            feeds_upper = upper is not None and shares(cell, upper)
            decoder_shares = cell.conv_h.aggregation_key == self.decoder[layer].conv_h.aggregation_key
            state, h_agg, outputs, output_aggs = None, None, [], []
            for t in range(T):
                state = cell.step(ops, state, h_agg, **inputs[t])
                h = _hidden(state)
                last = t == T - 1
                h_agg = cell.msg_pass_hidden(ops, h) if (not last or feeds_upper or decoder_shares) else None
                outputs.append(h)
                output_aggs.append(h_agg)
            states.append(state)
            last_aggs.append(h_agg if decoder_shares else None)
            if upper is not None:
                inputs = [{"x_agg": agg if feeds_upper else upper.msg_pass_input(ops, h)} for h, agg in zip(outputs, output_aggs)]

        step_input, predictions = x.new_zeros(x.shape[2], B, self.out_feats), []
        h_aggs = last_aggs  # per layer: the aggregation of its current hidden state, if known
        for t in range(horizon):
            last = t == horizon - 1
            x_agg = self.decoder[0].msg_pass_input(ops, step_input)
            for layer, cell in enumerate(self.decoder):
                states[layer] = cell.step(ops, states[layer], h_aggs[layer], x_agg=x_agg)
                h = _hidden(states[layer])
                upper = self.decoder[layer + 1] if layer + 1 < L else None
                if upper is not None and shares(cell, upper):
                    agg = x_agg = cell.msg_pass_hidden(ops, h)
                else:
                    agg = None if last else cell.msg_pass_hidden(ops, h)
                    if upper is not None:
                        x_agg = upper.msg_pass_input(ops, h)
                h_aggs[layer] = None if last else agg
            prediction = self.projection(h)  # [N, B, out]
            predictions.append(prediction)
            step_input = self._next_input(prediction, targets, t, teacher_forcing, generator)
        return torch.stack(predictions).permute(2, 0, 1, 3)  # [B, horizon, N, out]
