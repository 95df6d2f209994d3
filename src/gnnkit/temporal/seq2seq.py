"""Encoder-decoder over graph RNN layers (DCRNN / GCRN sequence-to-sequence forecasting).

The encoder reads ``T`` input snapshots layer by layer; the decoder starts from the encoder's
final states and a zero "go" input and emits ``horizon`` predictions, feeding back either its own
prediction or (with probability ``teacher_forcing``, DCRNN's scheduled sampling) the truth.

Caching (``caching = True``) adds, on top of each cell's shared gate aggregation:

* the first encoder layer's input aggregation comes from a :class:`CacheStore` keyed by
  ``("encoder.0", snapshot id)`` when ``snapshot_ids`` are given (overlapping windows reuse it);
* otherwise the first layer's input aggregation of all ``T`` steps of the window is one fused
  ``msg_pass`` instead of ``T`` (``fuse_time_steps``, on by default);
* the first layer input's share of the gates is then one ``update`` over the whole window.
  Deeper layers aggregate step by step (shared across gates).

Turning caching off computes the same outputs the naive way.
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
        seq = x.permute(1, 2, 0, 3)  # [T, N, B, F]
        states = []
        for layer, cell in enumerate(self.encoder):
            gates = None
            # Only the first layer's input is data: deeper layers' window-wide tensors are large
            # and fresh every batch, which costs more (allocation, copies) than it saves on CPU.
            if self.caching and getattr(cell, "split", False) and layer == 0 and (self.fuse_time_steps or snapshot_ids is not None):
                gates = cell.input_gates(self._input_aggregations(layer, cell, ops, seq, snapshot_ids))  # [T, N, B, G*H]
            state, outputs = None, []
            for t in range(T):
                state = cell(ops, seq[t], state, x_gates=None if gates is None else gates[t])
                outputs.append(_hidden(state))
            states.append(state)
            seq = torch.stack(outputs)

        go = x.new_zeros(x.shape[2], B, self.out_feats)
        step_input, predictions = go, []
        for t in range(horizon):
            inp = step_input
            for layer, cell in enumerate(self.decoder):
                states[layer] = cell(ops, inp, states[layer])
                inp = _hidden(states[layer])
            prediction = self.projection(inp)  # [N, B, out]
            predictions.append(prediction)
            use_truth = targets is not None and teacher_forcing > 0 and float(torch.rand((), generator=generator)) < teacher_forcing
            step_input = targets[:, t].permute(1, 0, 2) if use_truth else prediction
        return torch.stack(predictions).permute(2, 0, 1, 3)  # [B, horizon, N, out]
