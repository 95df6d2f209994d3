"""LSTM aggregation (GraphSAGE, Hamilton et al. 2017): an LSTM reads a node's messages as a sequence.

    out_v = h_T  where  h_t = LSTM(x_{e_t}, h_{t-1}),  e_1..e_T the messages of v in edge-id order

Not permutation invariant: the order is the order of the messages (edge ids). On the mailbox
(``reduce_func`` inside ``update_all``) every degree bucket ``[B, D, F]`` is one batched LSTM
call; the index form sorts messages by node and packs the variable-length sequences.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .base import Aggregation

__all__ = ["LSTMAggregation"]


class LSTMAggregation(Aggregation):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"LSTMAggregation: channels must be positive, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lstm = nn.LSTM(in_channels, out_channels, batch_first=True)

    def reset_parameters(self) -> None:
        self.lstm.reset_parameters()

    def aggregate_mailbox(self, mailbox: torch.Tensor) -> torch.Tensor:
        # mailbox: [B, D, F] -> [B, out]
        self._check_width(mailbox)
        _, (h_last, _) = self.lstm(mailbox)
        return h_last[-1]

    def aggregate(self, x, index, num_nodes):
        # x: [E, F] -> [N, out]
        self._check_width(x)
        order = torch.argsort(index, stable=True)
        counts = torch.bincount(index, minlength=num_nodes)
        out = x.new_zeros(num_nodes, self.out_channels)
        nonempty = (counts > 0).nonzero().flatten()
        if nonempty.numel() == 0:
            return out
        lengths = counts[nonempty]
        max_len = int(lengths.max())
        # Padded [nodes, max_len, F]: message j of node i at (i, j), sorted order keeps edge-id order.
        sorted_index = index.index_select(0, order)
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(index.numel(), device=x.device) - starts.index_select(0, sorted_index)
        row_of_node = torch.full((num_nodes,), -1, dtype=torch.int64, device=x.device)
        row_of_node[nonempty] = torch.arange(nonempty.numel(), device=x.device)
        padded = x.new_zeros(nonempty.numel(), max_len, x.shape[1])
        padded = padded.index_put((row_of_node.index_select(0, sorted_index), position), x.index_select(0, order))
        packed = pack_padded_sequence(padded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_last, _) = self.lstm(packed)
        return out.index_copy(0, nonempty, h_last[-1])

    def _check_width(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.in_channels or x.dim() not in (2, 3):
            raise ValueError(f"LSTMAggregation: messages have shape {tuple(x.shape)}; expected last dimension {self.in_channels}")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
