"""Temporal signals on graphs: one static graph with a feature series, or one graph per step.

* :class:`StaticGraphTemporalSignal`: edges fixed, ``features[t]`` ``[N, F]`` and
  ``targets[t]`` ``[N, *]`` per step ``t``.
* :class:`DynamicGraphTemporalSignal`: ``edge_indices[t]`` / ``edge_weights[t]`` per step.

Indexing gives a :class:`Snapshot` (operators, x, y); :func:`temporal_signal_split` cuts a
signal in time (the first ``train_ratio`` of the steps train), as PyTorch Geometric Temporal does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .propagation import GraphOperators

__all__ = ["Snapshot", "StaticGraphTemporalSignal", "DynamicGraphTemporalSignal", "temporal_signal_split"]


@dataclass
class Snapshot:
    """One step: ``ops`` (graph operators), ``x`` [N, F], ``y`` [N, *] and the step index."""

    ops: GraphOperators
    x: torch.Tensor
    y: torch.Tensor
    index: int


def _as_edge_index(edge_index, name: str) -> torch.Tensor:
    edge_index = torch.as_tensor(np.asarray(edge_index), dtype=torch.int64)
    if edge_index.dim() != 2 or (edge_index.shape[0] != 2 and edge_index.numel()):
        if edge_index.dim() == 2 and edge_index.shape[1] == 2:
            return edge_index.t().contiguous()
        raise ValueError(f"{name}: expected an edge index of shape [2, E] or [E, 2], got {tuple(edge_index.shape)}")
    return edge_index.reshape(2, -1)


def _as_series(values, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(values), dtype=torch.float32)
    if tensor.dim() < 2:
        raise ValueError(f"{name}: expected [T, N, ...] values, got shape {tuple(tensor.shape)}")
    return tensor


class StaticGraphTemporalSignal:
    """A fixed graph with per-step node features and targets.

    Args:
        edge_index: ``[2, E]`` (or ``[E, 2]``) edges ``src -> dst``.
        edge_weight: ``[E]`` weights or ``None``.
        features: ``[T, N, F]`` (a ``[T, N]`` series is read as ``F = 1``).
        targets: ``[T, N, *]``.
        num_nodes: node count (default: from ``features``).
    """

    def __init__(self, edge_index, edge_weight, features, targets, num_nodes: int | None = None):
        self.edge_index = _as_edge_index(edge_index, "StaticGraphTemporalSignal: edge_index")
        self.features = _as_series(features, "StaticGraphTemporalSignal: features")
        if self.features.dim() == 2:
            self.features = self.features.unsqueeze(-1)
        self.targets = _as_series(targets, "StaticGraphTemporalSignal: targets")
        if self.features.shape[0] != self.targets.shape[0]:
            raise ValueError(
                f"StaticGraphTemporalSignal: features have {self.features.shape[0]} steps but targets have {self.targets.shape[0]}"
            )
        self.num_nodes = int(num_nodes if num_nodes is not None else self.features.shape[1])
        if self.features.shape[1] != self.num_nodes:
            raise ValueError(f"StaticGraphTemporalSignal: features have {self.features.shape[1]} nodes, num_nodes is {self.num_nodes}")
        weight = None if edge_weight is None else torch.as_tensor(np.asarray(edge_weight), dtype=torch.float32).reshape(-1)
        self.edge_weight = weight
        self.ops = GraphOperators.from_edges(self.edge_index[0], self.edge_index[1], self.num_nodes, weight)

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, t):
        if isinstance(t, slice):
            return StaticGraphTemporalSignal(self.edge_index, self.edge_weight, self.features[t], self.targets[t], self.num_nodes)
        return Snapshot(self.ops, self.features[t], self.targets[t], int(t))

    def __iter__(self):
        return (self[t] for t in range(len(self)))

    def __repr__(self) -> str:
        return f"StaticGraphTemporalSignal(steps={len(self)}, nodes={self.num_nodes}, edges={self.edge_index.shape[1]}, features={self.features.shape[-1]})"


class DynamicGraphTemporalSignal:
    """One graph per step with per-step node features and targets.

    Args:
        edge_indices: ``T`` edge indices ``[2, E_t]``.
        edge_weights: ``T`` weight vectors ``[E_t]`` (or ``None``).
        features: ``T`` feature matrices ``[N, F]`` (or a ``[T, N, F]`` array).
        targets: ``T`` target arrays ``[N, *]``.
        num_nodes: node count shared by all steps (default: from the features).
    """

    def __init__(self, edge_indices, edge_weights, features, targets, num_nodes: int | None = None):
        self.edge_indices = [_as_edge_index(e, f"DynamicGraphTemporalSignal: edge_indices[{t}]") for t, e in enumerate(edge_indices)]
        steps = len(self.edge_indices)
        if edge_weights is None:
            edge_weights = [None] * steps
        self.edge_weights = [None if w is None else torch.as_tensor(np.asarray(w), dtype=torch.float32).reshape(-1) for w in edge_weights]
        self.features = _as_series(features, "DynamicGraphTemporalSignal: features")
        self.targets = _as_series(targets, "DynamicGraphTemporalSignal: targets")
        if self.features.dim() == 2:
            self.features = self.features.unsqueeze(-1)
        lengths = {"edge_indices": steps, "edge_weights": len(self.edge_weights), "features": self.features.shape[0], "targets": self.targets.shape[0]}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"DynamicGraphTemporalSignal: step counts differ: {lengths}")
        self.num_nodes = int(num_nodes if num_nodes is not None else self.features.shape[1])
        for t, (e, w) in enumerate(zip(self.edge_indices, self.edge_weights)):
            if w is not None and w.numel() != e.shape[1]:
                raise ValueError(f"DynamicGraphTemporalSignal: step {t} has {e.shape[1]} edges but {w.numel()} weights")
        self._ops: dict[int, GraphOperators] = {}

    def ops(self, t: int) -> GraphOperators:
        """The operators of step ``t`` (built on first use, then kept)."""
        op = self._ops.get(t)
        if op is None:
            e = self.edge_indices[t]
            op = GraphOperators.from_edges(e[0], e[1], self.num_nodes, self.edge_weights[t])
            self._ops[t] = op
        return op

    def __len__(self) -> int:
        return len(self.edge_indices)

    def __getitem__(self, t):
        if isinstance(t, slice):
            idx = range(len(self))[t]
            return DynamicGraphTemporalSignal(
                [self.edge_indices[i] for i in idx], [self.edge_weights[i] for i in idx], self.features[t], self.targets[t], self.num_nodes
            )
        return Snapshot(self.ops(int(t)), self.features[t], self.targets[t], int(t))

    def __iter__(self):
        return (self[t] for t in range(len(self)))

    def __repr__(self) -> str:
        edges = sum(e.shape[1] for e in self.edge_indices)
        return f"DynamicGraphTemporalSignal(steps={len(self)}, nodes={self.num_nodes}, edges_total={edges}, features={self.features.shape[-1]})"


def temporal_signal_split(signal, train_ratio: float = 0.8):
    """``(train, test)``: the first ``int(train_ratio * T)`` steps and the rest."""
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"temporal_signal_split: train_ratio must be in (0, 1), got {train_ratio}")
    cut = int(train_ratio * len(signal))
    return signal[:cut], signal[cut:]
