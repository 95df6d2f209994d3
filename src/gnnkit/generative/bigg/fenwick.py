"""Fenwick tree of row summaries: the context of row ``u`` from ``O(log u)`` summaries.

Level 0 holds the row summaries ``r_0 .. r_{n-1}``; node ``j`` of level ``k`` summarises rows
``[j 2^k, (j+1) 2^k)`` and is ``merge(F_{k-1}[2j], F_{k-1}[2j+1])``. The prefix ``[0, u)`` is the
union of the level-``k`` nodes ``(u >> k) - 1`` for every set bit ``k`` of ``u``; the context is

    x = init;  for k from high to low with bit k of u set:  x = summary(x, F_k[(u >> k) - 1])

Training builds every level with one batched cell call per level, and retrieves all prefixes
with one batched call per bit position (``O(log n)`` steps). Sampling keeps the same levels as
lists and updates them incrementally (amortised ``O(1)`` merges per row, ``O(log n)`` for the
prefix).
"""

from __future__ import annotations

import numpy as np
import torch

from .cells import _take as take


def build_plan(sizes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each level ``k >= 1``: (left child, right child) indices into level ``k - 1``.

    Levels are concatenated over graphs: level ``k`` holds ``sizes[g] >> k`` nodes of graph ``g``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    plan = []
    k = 1
    prev_offsets = np.concatenate([[0], np.cumsum(sizes)])
    while True:
        counts = sizes >> k
        if counts.sum() == 0:
            break
        offsets = np.concatenate([[0], np.cumsum(counts)])
        graph = np.repeat(np.arange(len(sizes)), counts)
        j = np.arange(offsets[-1]) - offsets[graph]
        plan.append((prev_offsets[graph] + 2 * j, prev_offsets[graph] + 2 * j + 1))
        prev_offsets = offsets
        k += 1
    return plan


def level_offsets(sizes: np.ndarray, num_levels: int) -> list[np.ndarray]:
    sizes = np.asarray(sizes, dtype=np.int64)
    return [np.concatenate([[0], np.cumsum(sizes >> k)])[:-1] for k in range(num_levels)]


def prefix_plan(row_graph: np.ndarray, row_index: np.ndarray, sizes: np.ndarray, num_levels: int):
    """For each bit ``k`` from high to low: (rows with bit k set, their level-k node index)."""
    offsets = level_offsets(sizes, num_levels)
    steps = []
    for k in range(num_levels - 1, -1, -1):
        rows = np.nonzero((row_index >> k) & 1)[0]
        if len(rows):
            steps.append((k, rows, offsets[k][row_graph[rows]] + (row_index[rows] >> k) - 1))
    return steps


def build_levels(row_h: torch.Tensor, row_c: torch.Tensor, plan, merge) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """All Fenwick levels; ``merge((h_l, c_l), (h_r, c_r)) -> (h, c)`` is a batched cell."""
    # row_h, row_c: [R, d]
    levels = [(row_h, row_c)]
    device = row_h.device
    for left, right in plan:
        h, c = levels[-1]
        li = torch.as_tensor(left, device=device)
        ri = torch.as_tensor(right, device=device)
        levels.append(merge((take(h, li), take(c, li)), (take(h, ri), take(c, ri))))
    return levels


def prefix_states(levels, steps, init_h: torch.Tensor, init_c: torch.Tensor, num_rows: int, summary):
    """Context state of every row (``[num_rows, d]`` h and c) from the Fenwick levels."""
    device = init_h.device
    x_h = init_h.expand(num_rows, -1)
    x_c = init_c.expand(num_rows, -1)
    for k, rows, nodes in steps:
        rows_t = torch.as_tensor(rows, device=device)
        nodes_t = torch.as_tensor(nodes, device=device)
        level_h, level_c = levels[k]
        new_h, new_c = summary((take(x_h, rows_t), take(x_c, rows_t)),
                              (take(level_h, nodes_t), take(level_c, nodes_t)))
        x_h = x_h.index_put((rows_t,), new_h)
        x_c = x_c.index_put((rows_t,), new_c)
    return x_h, x_c


class IncrementalFenwick:
    """The same levels, updated one row at a time, keeping only the nodes still needed.

    A level-``k`` node ``j`` is read by later prefixes only while ``j`` is even and its sibling
    ``j + 1`` is not complete, so one slot per level suffices: ``O(log n)`` memory.
    """

    def __init__(self, merge, summary, init):
        self.merge = merge
        self.summary = summary
        self.init = init
        self.slots: list = []
        self.num_rows = 0
        # summary chain of the last context: (bit, state after merging the bits >= it)
        self._chain: list = []
        self._chain_rows = 0

    def append(self, state) -> None:
        k = 0
        while True:
            if k == len(self.slots):
                self.slots.append(None)
            if self.slots[k] is None:
                self.slots[k] = state
                break
            state = self.merge(self.slots[k], state)
            self.slots[k] = None
            k += 1
        self.num_rows += 1

    def context(self):
        """State summarising rows ``[0, num_rows)``.

        The chain for ``u`` shares its steps for the bits above ``msb(u xor u_prev)`` with the
        previous one (same bits, same Fenwick nodes), so consecutive rows cost amortised ``O(1)``
        summary merges instead of ``popcount(u)``.
        """
        u = self.num_rows
        changed = (u ^ self._chain_rows).bit_length()  # bits >= changed are shared
        chain = [(k, x) for k, x in self._chain if k >= changed]
        x = chain[-1][1] if chain else self.init
        for k in range(min(changed, u.bit_length()) - 1, -1, -1):
            if (u >> k) & 1:
                x = self.summary(x, self.slots[k])
                chain.append((k, x))
        self._chain, self._chain_rows = chain, u
        return x
