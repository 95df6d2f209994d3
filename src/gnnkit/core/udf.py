"""The batches user-defined functions receive: edges with their end nodes, nodes with mailboxes."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["EdgeBatch", "NodeBatch"]


class _RowView(Mapping):
    """Read-only view of a frame restricted to some rows; rows are gathered on first access."""

    __slots__ = ("_frame", "_index", "_cache")

    def __init__(self, frame, index: torch.Tensor | None):
        self._frame = frame
        self._index = index
        self._cache: dict[str, torch.Tensor] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        value = self._cache.get(key)
        if value is None:
            column = self._frame[key]
            value = column if self._index is None else column.index_select(0, self._index)
            self._cache[key] = value
        return value

    def __iter__(self):
        return iter(self._frame)

    def __len__(self) -> int:
        return len(self._frame)


class EdgeBatch:
    """A batch of edges for an edge UDF: ``src[k]``, ``dst[k]``, ``data[k]`` are row-aligned."""

    def __init__(self, graph, src: torch.Tensor, dst: torch.Tensor, eids: torch.Tensor | None):
        self._graph = graph
        self._src_ids, self._dst_ids, self._eids = src, dst, eids
        self.src = _RowView(graph.srcdata, src)
        self.dst = _RowView(graph.dstdata, dst)
        self.data = _RowView(graph.edata, eids)

    def edges(self):
        """``(src, dst, eid)`` of the edges in the batch."""
        eids = self._eids if self._eids is not None else torch.arange(self._src_ids.numel(), device=self._src_ids.device)
        return self._src_ids, self._dst_ids, eids

    def batch_size(self) -> int:
        return self._src_ids.numel()

    def __len__(self) -> int:
        return self.batch_size()


class NodeBatch:
    """A batch of nodes for a node UDF: ``data[k]`` rows and, in a reduce, ``mailbox[k]`` of
    shape ``[nodes_in_batch, degree, ...]`` (all nodes of one batch have the same in-degree)."""

    def __init__(self, graph, nodes: torch.Tensor | None, frame, mailbox: dict | None = None, num_nodes: int | None = None):
        self._graph = graph
        self._nodes = nodes
        self._num = nodes.numel() if nodes is not None else num_nodes
        self.data = _RowView(frame, nodes)
        self.mailbox = mailbox or {}

    def nodes(self) -> torch.Tensor:
        if self._nodes is None:
            return torch.arange(self._num, device=self._graph.device)
        return self._nodes

    def batch_size(self) -> int:
        return self._num

    def __len__(self) -> int:
        return self.batch_size()
