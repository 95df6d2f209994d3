"""BiGG: scalable autoregressive generation of sparse graphs (Dai et al., ICML 2020).

The lower-triangular adjacency is generated row by row. Row ``u`` (neighbours ``v < u``) is a
binary tree over the column interval ``[0, u)`` (see :mod:`.tree`). With ``s = (h, c)`` the
top-down state of an active node ``t`` of width ``w >= 2``, children of widths ``w_l, w_r``:

    p(has_left)  = sigmoid(MLP_left(s.h))
    a            = LSTMCell_left(e_left[has_left] + PE(w_l), s)          # top state of lch
    b            = TreeLSTM_l2r(a, h_bot(lch) + PE(w_r))                  # (empty if no lch)
    p(has_right) = sigmoid(MLP_right(b.h))          only if has_left, else has_right = 1
    s_rch        = LSTMCell_right(e_right, b)
    h_bot(t)     = TreeLSTM_lr2p(h_bot(lch), h_bot(rch))                  # bottom-up summary

with learned states for a leaf (an edge) and an empty subtree. The root state of row ``u`` is the
Fenwick-tree context of the row summaries ``h_bot(root_0..u-1)`` (:mod:`.fenwick`) plus
``PE(n - u)``; a row first decides ``p(has_edge) = sigmoid(MLP_edge(s_root.h))`` (the paper's
treatment of rows without edges); row 0 has no column and makes no decision.

LSTMCell gates are ordered ``[i, f, o, g]``: ``c' = sig(f) c + sig(i) tanh(g)``,
``h' = sig(o) tanh(c')``. Binary TreeLSTM gates ``[i, f_l, f_r, o, g]``:
``c = sig(i) tanh(g) + sig(f_l) c_l + sig(f_r) c_r``, ``h = sig(o) tanh(c)`` (Tai et al. 2015).

Training (:meth:`BiGG.log_likelihood`) evaluates the exact log-likelihood of whole graphs with
every row and every tree node batched: bottom-up summaries (one step per tree level), Fenwick
construction (one per Fenwick level), prefix contexts (one per bit), top-down states and the
cross-entropy (one per tree level): ``O(log n)`` batched steps, no Python loop over rows or edges.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import fenwick
from .cells import _take, _take_shared, lstm_step, tree_step
from .tree import RowGraph, build_forest, prepare_graph, NODE_ORDERS


def positional_encoding_frequencies(dim: int) -> np.ndarray:
    return np.exp(-math.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)


def positional_encoding(values, dim: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Sinusoidal encoding ``[len(values), dim]``: sin/cos of ``value / 10000^(2i/dim)``."""
    values = torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float64, device=device)
    freq = torch.as_tensor(positional_encoding_frequencies(dim), device=device)
    angles = values[:, None] * freq[None, :]
    pe = torch.zeros(len(values), dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)[:, : dim // 2]
    return pe.to(dtype)


class _TreeCell(nn.Module):
    """Binary TreeLSTM cell with separate left/right projections (so constant children are cheap)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight_left = nn.Parameter(torch.empty(5 * dim, dim))
        self.weight_right = nn.Parameter(torch.empty(5 * dim, dim))
        self.bias = nn.Parameter(torch.empty(5 * dim))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.weight_left.shape[1])
        for p in (self.weight_left, self.weight_right, self.bias):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, left, right):
        gates = left[0] @ self.weight_left.T + right[0] @ self.weight_right.T + self.bias
        return tree_step(gates, left[1], right[1])


class _LSTMCell(nn.Module):
    """LSTM cell whose input is a (cheap, often constant) precomputed projection."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(4 * dim, dim))
        self.weight_hh = nn.Parameter(torch.empty(4 * dim, dim))
        self.bias = nn.Parameter(torch.empty(4 * dim))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.weight_ih.shape[1])
        for p in (self.weight_ih, self.weight_hh, self.bias):
            nn.init.uniform_(p, -bound, bound)


class _Head(nn.Module):
    """Bernoulli logit ``w2 . relu(W1 h + b1) + b2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.hidden = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, 1)

    def reset_parameters(self):
        self.hidden.reset_parameters()
        self.out.reset_parameters()

    def forward(self, h):
        return self.out(torch.relu(self.hidden(h))).squeeze(-1)


class BiGG(nn.Module):
    """BiGG generative model of sparse undirected graphs; see the module docstring.

    Args:
        embed_dim: state size ``d`` of every cell.
        max_nodes: largest graph the model is meant for (used to validate requests; default
            ``None``: no limit).
        head_hidden: hidden size of the Bernoulli MLPs (default ``embed_dim``).
        node_order: ``"dfs"`` (default), ``"bfs"`` or ``"given"``: the node ordering applied to
            input graphs before their rows are read (each component from its highest-degree node).
    """

    def __init__(self, embed_dim: int = 256, max_nodes: int | None = None, head_hidden: int | None = None,
                 node_order: str = "dfs"):
        super().__init__()
        if not isinstance(embed_dim, int) or embed_dim < 2 or embed_dim % 2:
            raise ValueError(f"embed_dim: expected an even integer >= 2, got {embed_dim!r}")
        if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
            raise ValueError(f"max_nodes: expected a positive integer or None, got {max_nodes!r}")
        if node_order not in NODE_ORDERS:
            raise ValueError(f"node_order: expected one of {NODE_ORDERS}, got {node_order!r}")
        head_hidden = embed_dim if head_hidden is None else head_hidden
        if not isinstance(head_hidden, int) or head_hidden < 1:
            raise ValueError(f"head_hidden: expected a positive integer, got {head_hidden!r}")
        d = embed_dim
        self.embed_dim = d
        self.max_nodes = max_nodes
        self.head_hidden = head_hidden
        self.node_order = node_order
        # learned states: [h; c] rows
        self.leaf_state = nn.Parameter(torch.empty(2, d))
        self.empty_state = nn.Parameter(torch.empty(2, d))
        self.init_state = nn.Parameter(torch.empty(2, d))
        self.left_embed = nn.Parameter(torch.empty(2, d))  # indexed by has_left
        self.right_embed = nn.Parameter(torch.empty(d))
        self.cell_left = _LSTMCell(d)
        self.cell_right = _LSTMCell(d)
        self.l2r = _TreeCell(d)
        self.lr2p = _TreeCell(d)
        self.fenwick_merge = _TreeCell(d)
        self.fenwick_summary = _TreeCell(d)
        self.head_edge = _Head(d, head_hidden)
        self.head_left = _Head(d, head_hidden)
        self.head_right = _Head(d, head_hidden)
        self.register_buffer("node_counts", torch.zeros(0, dtype=torch.int64))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.embed_dim)
        for p in (self.leaf_state, self.empty_state, self.init_state, self.left_embed, self.right_embed):
            nn.init.uniform_(p, -bound, bound)
        for m in (self.cell_left, self.cell_right, self.l2r, self.lr2p, self.fenwick_merge,
                  self.fenwick_summary, self.head_edge, self.head_left, self.head_right):
            m.reset_parameters()

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, max_nodes={self.max_nodes}, node_order={self.node_order!r}"

    # ------------------------------------------------------------------------------------------
    # data

    def fit_node_counts(self, graphs) -> "BiGG":
        """Records the node counts of the training graphs (sampled by :meth:`sample`)."""
        counts = [prepare_graph(g, "given", "graphs").num_nodes if not isinstance(g, RowGraph) else g.num_nodes
                  for g in _as_list(graphs, "graphs")]
        self.node_counts = torch.as_tensor(counts, dtype=torch.int64, device=self.node_counts.device)
        return self

    def prepare(self, graphs) -> list[RowGraph]:
        """Graphs in the model's node order as lower-triangular rows (cache this when training)."""
        out = []
        for i, g in enumerate(_as_list(graphs, "graphs")):
            rg = g if isinstance(g, RowGraph) else prepare_graph(g, self.node_order, f"graphs[{i}]")
            if self.max_nodes is not None and rg.num_nodes > self.max_nodes:
                raise ValueError(f"graphs[{i}]: has {rg.num_nodes} nodes, more than max_nodes={self.max_nodes}")
            out.append(rg)
        return out

    # ------------------------------------------------------------------------------------------
    # batched pieces of the likelihood

    def _param_like(self):
        return self.leaf_state

    def _pe(self, values) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodings of the unique values and the inverse index (values are small in number)."""
        uniq, inverse = np.unique(np.asarray(values), return_inverse=True)
        ref = self._param_like()
        pe = positional_encoding(uniq, self.embed_dim, ref.dtype, ref.device)
        return pe, torch.as_tensor(inverse.reshape(-1), device=ref.device)

    def _bottom_up(self, tf) -> list:
        """``h_bot`` of every internal active node, per level (deepest first computed)."""
        levels = tf.levels
        bots = [None] * len(levels)
        cell = self.lr2p
        consts = torch.stack([self.empty_state[0], self.leaf_state[0]])  # [2, d]
        const_c = torch.stack([self.empty_state[1], self.leaf_state[1]])
        zero = consts.new_zeros(1, cell.bias.shape[0])
        const_l = torch.cat([consts @ cell.weight_left.T, zero])  # [3, 5d]: empty, leaf, internal
        const_r = torch.cat([consts @ cell.weight_right.T, zero])
        # constant part of the gates for every (left kind, right kind) pair: [9, 5d]
        pair_table = (const_l[:, None, :] + const_r[None, :, :]).reshape(9, -1) + cell.bias
        for lv in range(len(levels) - 1, -1, -1):
            idx = levels[lv]
            gates = _take_shared(pair_table, idx.kind_pair)  # [N, 5d]
            if lv + 1 < len(levels) and idx.next_num:
                nh, nc = bots[lv + 1]
                lh, lc = _take(nh, idx.next_left_ids), _take(nc, idx.next_left_ids)
                rh, rc = _take(nh, idx.next_right_ids), _take(nc, idx.next_right_ids)
                # internal children project only their own rows, added in place at their parents
                gates.index_add_(0, idx.left_parents, lh @ cell.weight_left.T)
                gates.index_add_(0, idx.right_parents, rh @ cell.weight_right.T)
                table_lc = torch.cat([const_c, lc])
                table_rc = torch.cat([const_c, rc])
            else:
                table_lc, table_rc = const_c, const_c
            bots[lv] = tree_step(gates, _take_shared(table_lc, idx.left_table_idx, 2),
                                 _take_shared(table_rc, idx.right_table_idx, 2))
        return bots

    def _row_summaries(self, tf, bots):
        """Summary state of every row: empty, leaf, or ``h_bot`` of its root (``[R, d]`` each)."""
        parts_h = [self.empty_state[0:1], self.leaf_state[0:1]]
        parts_c = [self.empty_state[1:2], self.leaf_state[1:2]]
        if bots:
            parts_h.append(bots[0][0])
            parts_c.append(bots[0][1])
        table_h, table_c = torch.cat(parts_h), torch.cat(parts_c)
        return _take_shared(table_h, tf.row_summary_idx, 2), _take_shared(table_c, tf.row_summary_idx, 2)

    def _fenwick_levels(self, row_h, row_c, sizes):
        plan = fenwick.build_plan(sizes)
        return fenwick.build_levels(row_h, row_c, plan, self.fenwick_merge)

    def _contexts(self, levels, forest, sizes):
        """Root state of every row of ``forest``: Fenwick prefix context plus ``PE(n - u)``."""
        f = forest
        steps = fenwick.prefix_plan(f.row_graph, f.row_index, sizes, len(levels))
        x_h, x_c = fenwick.prefix_states(levels, steps, self.init_state[0:1], self.init_state[1:2],
                                         f.num_rows, self.fenwick_summary)
        pe, inv = self._pe(f.row_graph_nodes - f.row_index)
        pe = _take(pe, inv)
        return x_h + pe, x_c + pe

    def _top_down(self, tf, bots, root_h, root_c):
        """Log-likelihood of all decisions given the row root states (``[R, d]`` each)."""
        logits, labels = [], []
        logits.append(self.head_edge(_take(root_h, tf.edge_rows)))
        labels.append(tf.edge_labels)
        if not tf.levels:
            return _bernoulli_ll(logits, labels)
        s_h, s_c = _take(root_h, tf.root_rows), _take(root_c, tf.root_rows)
        left_cell, right_cell, l2r = self.cell_left, self.cell_right, self.l2r
        left_in = self.left_embed @ left_cell.weight_ih.T + left_cell.bias  # [2, 4d]
        right_in = self.right_embed @ right_cell.weight_ih.T + right_cell.bias  # [4d]
        consts = torch.stack([self.empty_state[0], self.leaf_state[0]])
        const_c = torch.stack([self.empty_state[1], self.leaf_state[1]])
        const_b = torch.cat([consts @ l2r.weight_right.T, consts.new_zeros(1, l2r.bias.shape[0])])  # [3, 5d]
        num_levels = len(tf.levels)
        for lv, idx in enumerate(tf.levels):
            logits.append(self.head_left(s_h))
            labels.append(idx.label_left)
            # input of the left LSTM: e_left[has_left] + PE(w_l), projected once per distinct pair
            pe_l, inv_l = self._pe(idx.widths_left)
            table_a = (left_in[:, None, :] + (pe_l @ left_cell.weight_ih.T)[None]).reshape(-1, left_in.shape[1])
            gates_a = _take_shared(table_a, idx.has_left_long * pe_l.shape[0] + inv_l)
            a_h, a_c = lstm_step(gates_a.addmm_(s_h, left_cell.weight_hh.T), s_c)
            # l2r: a and the left subtree summary (+ PE(w_r)); constant kinds by table, internal in place
            pe_r, inv_r = self._pe(idx.widths_right)
            table_b = (const_b[:, None, :] + (pe_r @ l2r.weight_right.T)[None]).reshape(-1, const_b.shape[1])
            gates_b = _take_shared(table_b + l2r.bias, idx.left_kind * pe_r.shape[0] + inv_r)
            gates_b.addmm_(a_h, l2r.weight_left.T)
            if lv + 1 < num_levels and idx.next_num:
                nh, nc = bots[lv + 1]
                lh, lc = _take(nh, idx.next_left_ids), _take(nc, idx.next_left_ids)
                gates_b.index_add_(0, idx.left_parents, lh @ l2r.weight_right.T)
                table_c = torch.cat([const_c, lc])
            else:
                table_c = const_c
            b_h, b_c = tree_step(gates_b, a_c, _take_shared(table_c, idx.left_table_idx, 2) + _take(pe_r, inv_r))
            logits.append(self.head_right(_take(b_h, idx.left_pos)))
            labels.append(idx.label_right)
            if lv + 1 < num_levels and idx.next_num:
                rp = idx.right_parents
                r_h, r_c = lstm_step(torch.addmm(right_in, _take(b_h, rp), right_cell.weight_hh.T), _take(b_c, rp))
                s_h = _take(torch.cat([a_h, r_h]), idx.next_gather)
                s_c = _take(torch.cat([a_c, r_c]), idx.next_gather)
        return _bernoulli_ll(logits, labels)

    # ------------------------------------------------------------------------------------------
    # public likelihood

    def log_likelihood(self, graphs) -> torch.Tensor:
        """Total log-likelihood of the graphs' edges given their node counts and node order.

        ``graphs``: a list of undirected simple graphs (gnnkit Graphs with both directions, or
        networkx graphs), or their :meth:`prepare` d rows. Differentiable.
        """
        rgs = self.prepare(graphs)
        forest = build_forest(rgs)
        return self._forest_ll(forest)

    def _forest_ll(self, forest, levels=None, sizes=None):
        tf = forest.to_torch(self._param_like().device)
        bots = self._bottom_up(tf)
        if levels is None:
            row_h, row_c = self._row_summaries(tf, bots)
            sizes = forest.graph_sizes
            levels = self._fenwick_levels(row_h, row_c, sizes)
        root_h, root_c = self._contexts(levels, forest, sizes)
        return self._top_down(tf, bots, root_h, root_c)

    def forward(self, graphs) -> torch.Tensor:
        return self.log_likelihood(graphs)

    # ------------------------------------------------------------------------------------------
    # sqrt-blocking: sublinear memory for one huge graph

    def blocked_backward(self, graph, num_blocks: int | None = None, scale: float = 1.0) -> float:
        """Accumulates ``d(-scale * log p(graph))`` into ``.grad`` in row blocks; returns log p.

        Memory holds the Fenwick levels (``O(n d)``) and one block of rows at a time instead of
        every tree node of the graph. Passes: (1) row summaries without autograd; (2) per block,
        bottom-up + contexts + top-down with autograd and backward into the detached Fenwick
        levels; (3) backward through the Fenwick construction; (4) per block, bottom-up again and
        backward of the row summaries. Default ``num_blocks = ceil(sqrt(n))``.
        """
        (rg,) = self.prepare([graph])
        n = rg.num_nodes
        if num_blocks is None:
            num_blocks = max(1, int(math.ceil(math.sqrt(n))))
        if not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_blocks: expected a positive integer, got {num_blocks!r}")
        bounds = np.unique(np.linspace(0, n, num_blocks + 1).round().astype(np.int64))
        blocks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        sizes = np.array([n])
        device = self._param_like().device

        with torch.no_grad():
            parts = []
            for a, b in blocks:
                forest = build_forest([rg], a, b)
                tf = forest.to_torch(device)
                parts.append(self._row_summaries(tf, self._bottom_up(tf)))
            row_h = torch.cat([p[0] for p in parts]).requires_grad_()
            row_c = torch.cat([p[1] for p in parts]).requires_grad_()
        levels = self._fenwick_levels(row_h, row_c, sizes)
        detached = [(h.detach().requires_grad_(), c.detach().requires_grad_()) for h, c in levels]

        total = 0.0
        for a, b in blocks:
            forest = build_forest([rg], a, b)
            ll = self._forest_ll(forest, detached, sizes)
            (-scale * ll).backward()
            total += float(ll.detach())

        outputs, grads = [], []
        for (h, c), (dh, dc) in zip(levels[1:], detached[1:]):
            for out, leaf in ((h, dh), (c, dc)):
                if leaf.grad is not None:
                    outputs.append(out)
                    grads.append(leaf.grad)
        if outputs:
            torch.autograd.backward(outputs, grads)
        grad_h = row_h.grad if row_h.grad is not None else torch.zeros_like(row_h)
        grad_c = row_c.grad if row_c.grad is not None else torch.zeros_like(row_c)
        if detached[0][0].grad is not None:
            grad_h = grad_h + detached[0][0].grad
        if detached[0][1].grad is not None:
            grad_c = grad_c + detached[0][1].grad

        for a, b in blocks:
            forest = build_forest([rg], a, b)
            tf = forest.to_torch(device)
            h, c = self._row_summaries(tf, self._bottom_up(tf))
            if h.requires_grad:
                torch.autograd.backward([h, c], [grad_h[a:b], grad_c[a:b]])
        return total

    # ------------------------------------------------------------------------------------------
    # generation

    def sample_num_nodes(self, generator: torch.Generator | None = None, at_least: int = 1) -> int:
        counts = self.node_counts[self.node_counts >= at_least]
        if counts.numel() == 0:
            raise ValueError(
                "num_nodes: not given and the model has no recorded node counts"
                + (f" >= {at_least}" if at_least > 1 else "") + "; call fit_node_counts(graphs) first"
            )
        pick = torch.randint(counts.numel(), (1,), generator=generator)
        return int(counts.cpu()[pick])

    def sample(self, num_nodes: int | None = None, generator: torch.Generator | None = None,
               as_networkx: bool = False, workers: int = 1):
        """Samples one graph (``O((m + n) log n)``); undirected: both directions stored.

        ``workers=2`` splits the rows of every matrix-vector product with a forked worker process
        (same graph for the same generator; faster for large graphs when a second core is free,
        slower on a busy machine: the two processes spin on each other).
        """
        from .sample import sample_graph

        if num_nodes is None:
            num_nodes = self.sample_num_nodes(generator)
        _check_num_nodes(num_nodes, self.max_nodes)
        return sample_graph(self, num_nodes, generator=generator, as_networkx=as_networkx, workers=workers)

    def complete(self, partial_graph, num_nodes: int | None = None, generator: torch.Generator | None = None,
                 as_networkx: bool = False, workers: int = 1):
        """Continues generation after the rows of ``partial_graph`` (its node ids are rows 0..k-1)."""
        from .sample import sample_graph

        k, src, dst = _edges_of(partial_graph)
        if num_nodes is None:
            num_nodes = self.sample_num_nodes(generator, at_least=max(k, 1))
        _check_num_nodes(num_nodes, self.max_nodes)
        if num_nodes < k:
            raise ValueError(f"num_nodes: the partial graph has {k} nodes, got num_nodes={num_nodes}")
        return sample_graph(self, num_nodes, generator=generator, as_networkx=as_networkx,
                            prefix=(k, src, dst), workers=workers)


def _edges_of(graph):
    from .tree import graph_edges, lower_triangular

    n, src, dst = graph_edges(graph, "partial_graph")
    rows, cols = lower_triangular(n, src, dst)
    return n, rows, cols


def _check_num_nodes(num_nodes, max_nodes):
    if not isinstance(num_nodes, (int, np.integer)) or isinstance(num_nodes, bool) or num_nodes < 1:
        raise ValueError(f"num_nodes: expected a positive integer, got {num_nodes!r}")
    if max_nodes is not None and num_nodes > max_nodes:
        raise ValueError(f"num_nodes: {num_nodes} exceeds the model's max_nodes={max_nodes}")


def _as_list(graphs, name):
    if isinstance(graphs, (list, tuple)):
        if not graphs:
            raise ValueError(f"{name}: expected a non-empty list of graphs, got an empty list")
        return list(graphs)
    return [graphs]


def _bernoulli_ll(logits: list, labels: list) -> torch.Tensor:
    z = torch.cat(logits)
    y = torch.cat(labels).to(z.dtype)
    return -F.binary_cross_entropy_with_logits(z, y, reduction="sum")
