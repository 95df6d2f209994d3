"""Sequential BiGG generation (and teacher-forced replay), one decision at a time.

This is the same model as :meth:`BiGG.log_likelihood`, evaluated in generation order: row by
row, and within a row depth-first over the active tree nodes, keeping incremental states only
(the Fenwick slots of :class:`.fenwick.IncrementalFenwick` and the stack of the current row).
Every active tree node costs a constant number of ``d x d`` matrix-vector products and a row costs
``O(log n)`` more for its context, so a graph costs ``O((m + n) log n)``.

Batch-1 recurrences are latency-bound, so the decisions run on the host with numpy/BLAS on
weights copied once from the model (whatever its device); matrices used by the same state are
stacked so each new state costs one matrix-vector product.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np
import torch

from .fenwick import IncrementalFenwick
from .model import positional_encoding_frequencies


class _SingleThreadBLAS:
    """Limits numpy's OpenBLAS to one thread while sampling (like threadpoolctl, without the
    dependency): a ``d x 4d`` matrix-vector product gains nothing from threads, and threads that
    spin between the many tiny calls triple the CPU time. A no-op when OpenBLAS is not found."""

    _api = None

    @classmethod
    def _find(cls):
        if cls._api is None:
            cls._api = False
            try:
                import ctypes

                with open("/proc/self/maps") as fh:
                    paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ".so" in ln})
                for path in paths:
                    lib = ctypes.CDLL(path)
                    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                                 "openblas_set_num_threads"):
                        getter = name.replace("_set_", "_get_")
                        if hasattr(lib, name) and hasattr(lib, getter):
                            cls._api = (getattr(lib, name), getattr(lib, getter))
                            break
                    if cls._api:
                        break
            except (OSError, ValueError):
                cls._api = False
        return cls._api

    def __enter__(self):
        api = self._find()
        self._previous = None
        if api:
            self._previous = int(api[1]())
            api[0](1)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            self._api[0](self._previous)
        return False


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


class _Kernel:
    """Host copies of the model's weights, stacked per input state, plus cached constants.

    Every sigmoid gate is evaluated as ``sigmoid(x) = (1 + tanh(x / 2)) / 2``, with the ``1/2``
    folded into the rows (and biases) that produce the sigmoid gates, so a cell makes one
    ``tanh`` call over all its gates instead of an ``exp`` chain plus a ``tanh``. Everything
    that is constant for a given interval width (the encodings of the children's widths, the
    projections of constant leaf / empty children, the biases) is summed once per width and
    cached: the per-node work is the four matrix-vector products and a few fused updates.
    """

    def __init__(self, model, dtype=None):
        ref = model.leaf_state
        self.dtype = dtype or (np.float64 if ref.dtype == torch.float64 else np.float32)
        a = lambda t: np.ascontiguousarray(t.detach().cpu().numpy().astype(self.dtype))  # noqa: E731
        d = model.embed_dim
        self.d = d
        self.hidden = hid = model.head_hidden
        self.model_dtype = ref.dtype
        # 1/2 on the sigmoid gates: the first 3d of an LSTM's 4d gates, the first 4d of a TreeLSTM's 5d
        half_lstm = np.ones(4 * d, dtype=self.dtype)
        half_lstm[: 3 * d] = 0.5
        half_tree = np.ones(5 * d, dtype=self.dtype)
        half_tree[: 4 * d] = 0.5
        ht = half_tree[:, None]
        hl = half_lstm[:, None]
        with torch.no_grad():
            self.leaf = (a(model.leaf_state[0]), a(model.leaf_state[1]))
            self.empty = (a(model.empty_state[0]), a(model.empty_state[1]))
            self.init = (a(model.init_state[0]), a(model.init_state[1]))
            # state s -> [head_left hidden ; W_hh of the left LSTM]
            self.m_s = np.ascontiguousarray(np.concatenate([a(model.head_left.hidden.weight),
                                                            a(model.cell_left.weight_hh) * hl]))
            self.head_left = (a(model.head_left.hidden.bias), a(model.head_left.out.weight[0]),
                              float(model.head_left.out.bias[0]))
            # state b -> [head_right hidden ; W_hh of the right LSTM]
            self.m_b = np.ascontiguousarray(np.concatenate([a(model.head_right.hidden.weight),
                                                            a(model.cell_right.weight_hh) * hl]))
            self.m_b_hh = self.m_b[hid:]
            self.head_right = (a(model.head_right.hidden.bias), a(model.head_right.out.weight[0]),
                               float(model.head_right.out.bias[0]))
            self.head_edge = (a(model.head_edge.hidden.weight), a(model.head_edge.hidden.bias),
                              a(model.head_edge.out.weight[0]), float(model.head_edge.out.bias[0]))
            self.l2r_left = a(model.l2r.weight_left) * ht
            self.l2r_right = a(model.l2r.weight_right) * ht
            self.l2r_bias = a(model.l2r.bias) * half_tree
            # bottom-up summary of a left child feeds lr2p (left slot) and l2r (right slot)
            self.m_bot_left = np.ascontiguousarray(np.concatenate([a(model.lr2p.weight_left) * ht, self.l2r_right]))
            self.lr2p_right = a(model.lr2p.weight_right) * ht
            self.lr2p_bias = a(model.lr2p.bias) * half_tree
            self.left_ih = a(model.cell_left.weight_ih) * hl
            self.left_in = a(model.left_embed @ model.cell_left.weight_ih.T + model.cell_left.bias) * half_lstm
            self.right_in = a(model.right_embed @ model.cell_right.weight_ih.T + model.cell_right.bias) * half_lstm
            self.fen = [(a(c.weight_left) * ht, a(c.weight_right) * ht, a(c.bias) * half_tree)
                        for c in (model.fenwick_merge, model.fenwick_summary)]
        d5 = 5 * d
        # bottom-up projections of the constant children, lr2p's bias included on the left one
        proj_bot_left = {kind: self.m_bot_left @ st[0] for kind, st in (("leaf", self.leaf), ("empty", self.empty))}
        self.bot_left_const = {kind: p[:d5] + self.lr2p_bias for kind, p in proj_bot_left.items()}
        self.bot_right_const = {kind: self.lr2p_right @ st[0] for kind, st in (("leaf", self.leaf), ("empty", self.empty))}
        self._l2r_const = {kind: p[d5:] for kind, p in proj_bot_left.items()}
        self._freq = positional_encoding_frequencies(self.d)
        self._widths = {}

    def pe(self, value: int) -> np.ndarray:
        # same formula as model.positional_encoding, in numpy: torch calls inside the loop would
        # leave torch's OpenMP workers spinning against the BLAS threads
        angles = value * self._freq
        pe = np.empty(self.d, dtype=np.float64)
        pe[0::2] = np.sin(angles)
        pe[1::2] = np.cos(angles)[: self.d // 2]
        return pe.astype(self.dtype)

    def width(self, width: int) -> tuple:
        """Constants of an internal node of this width (cached: a row has O(log n) distinct widths).

        ``(wl, wr, x_left[has_left], l2r_gate[left kind], c_right_in[left kind], pe_right,
        l2r_pe)``: the left LSTM's input gates, the l2r gates' constant part and its right
        cell input for an empty / leaf left child, ``PE(w_r)`` and its l2r projection + bias.
        """
        val = self._widths.get(width)
        if val is None:
            wl = width // 2
            wr = width - wl
            pe_l_proj = self.left_ih @ self.pe(wl)
            x_left = (self.left_in[0] + pe_l_proj, self.left_in[1] + pe_l_proj)
            pe_r = self.pe(wr)
            l2r_pe = self.l2r_right @ pe_r + self.l2r_bias
            l2r_gate = {kind: self._l2r_const[kind] + l2r_pe for kind in ("empty", "leaf")}
            c_right_in = {"empty": self.empty[1] + pe_r, "leaf": self.leaf[1] + pe_r}
            val = (wl, wr, x_left, l2r_gate, c_right_in, pe_r, l2r_pe)
            self._widths[width] = val
        return val

    # cells (gates arrive with the sigmoid rows halved; they are overwritten) ---------------------

    def lstm(self, gates, c):
        d = self.d
        t = np.tanh(gates, out=gates)
        sig = t[: 3 * d]
        sig *= 0.5
        sig += 0.5
        c_new = t[d : 2 * d] * c
        c_new += t[:d] * t[3 * d :]
        return t[2 * d : 3 * d] * np.tanh(c_new), c_new

    def tree(self, gates, c_left, c_right):
        d = self.d
        t = np.tanh(gates, out=gates)
        sig = t[: 4 * d]
        sig *= 0.5
        sig += 0.5
        c_new = t[:d] * t[4 * d :]
        c_new += t[d : 2 * d] * c_left
        c_new += t[2 * d : 3 * d] * c_right
        return t[3 * d : 4 * d] * np.tanh(c_new), c_new

    def fenwick_cell(self, which: int):
        w_left, w_right, bias = self.fen[which]

        def cell(x, y):
            gates = w_left @ x[0]
            gates += w_right @ y[0]
            gates += bias
            return self.tree(gates, x[1], y[1])

        return cell

    @staticmethod
    def head_logit(hidden_pre, head) -> float:
        bias, w_out, b_out = head
        hidden = hidden_pre + bias
        return float(np.maximum(hidden, 0.0, out=hidden) @ w_out) + b_out


class _RowGenerator:
    """Generates (or replays) rows; accumulates the log-probability of every decision taken."""

    _UNIFORM_BLOCK = 4096

    def __init__(self, kernel: _Kernel, rng: np.random.Generator | None):
        self.k = kernel
        self.rng = rng
        self.log_prob = 0.0
        self.num_decisions = 0
        # sampling only needs the decisions; replay (rng None) accumulates their log-probability
        self.track_log_prob = rng is None
        self._uniforms = np.empty(0)
        self._next_uniform = 0

    def _uniform(self) -> float:
        i = self._next_uniform
        if i == len(self._uniforms):
            self._uniforms = self.rng.random(self._UNIFORM_BLOCK).tolist()
            i = 0
        self._next_uniform = i + 1
        return self._uniforms[i]

    def _decide(self, logit: float, forced: bool | None) -> bool:
        if forced is None:
            # u < sigmoid(logit), written so that exp cannot overflow
            value = self._uniform() * (1.0 + math.exp(-logit)) < 1.0 if logit > -700.0 else False
        else:
            value = forced
        if self.track_log_prob:
            self.log_prob -= _softplus(-logit) if value else _softplus(logit)
        self.num_decisions += 1
        return value

    def row(self, u: int, n: int, context, cols: list | None, out: list):
        """Row ``u`` given the Fenwick context; returns its summary state (h, c)."""
        k = self.k
        pe = k.pe(n - u)
        s_h, s_c = context[0] + pe, context[1] + pe
        w1, b1, w2, b2 = k.head_edge
        logit = float(np.maximum(w1 @ s_h + b1, 0.0) @ w2) + b2
        has_edge = self._decide(logit, None if cols is None else len(cols) > 0)
        if not has_edge:
            return k.empty
        if u == 1:
            out.append(0)
            return k.leaf
        h, c = self._node(s_h, s_c, 0, u, cols, 0, 0 if cols is None else len(cols), out)
        return h, c

    def _node(self, s_h, s_c, lb, ub, cols, lo, hi, out):
        """Active internal node over ``[lb, ub)`` (width >= 2) with top state ``s``.

        Returns the bottom-up summary ``(h_bot, c_bot)``. ``cols[lo:hi]`` are the forced columns
        inside the interval (replay).
        """
        k = self.k
        hid = k.hidden
        wl, wr, x_left, l2r_gate, c_right_in, pe_r, l2r_pe = k.width(ub - lb)
        mid = lb + wl
        if cols is not None:
            split = bisect_left(cols, mid, lo, hi)
        y = k.m_s @ s_h
        has_left = self._decide(k.head_logit(y[:hid], k.head_left), None if cols is None else split > lo)
        gates = y[hid:]
        gates += x_left[has_left]
        a_h, a_c = k.lstm(gates, s_c)
        # left subtree, then the l2r gates: a (left projection) + the left child's summary (+ PE(w_r))
        gates = k.l2r_left @ a_h
        if has_left:
            if wl == 1:
                out.append(lb)
                bot_l = k.leaf
                bot_l_proj = k.bot_left_const["leaf"]
                gates += l2r_gate["leaf"]
                c_in = c_right_in["leaf"]
            else:
                bot_l = self._node(a_h, a_c, lb, mid, cols, lo, split if cols is not None else 0, out)
                proj = k.m_bot_left @ bot_l[0]
                bot_l_proj = proj[: 5 * k.d]
                bot_l_proj += k.lr2p_bias
                gates += proj[5 * k.d :]
                gates += l2r_pe
                c_in = bot_l[1] + pe_r
        else:
            bot_l = k.empty
            bot_l_proj = k.bot_left_const["empty"]
            gates += l2r_gate["empty"]
            c_in = c_right_in["empty"]
        b_h, b_c = k.tree(gates, a_c, c_in)
        if has_left:
            yb = k.m_b @ b_h
            has_right = self._decide(k.head_logit(yb[:hid], k.head_right), None if cols is None else hi > split)
            gates = yb[hid:]
        else:
            has_right = True
            gates = None
        if has_right:
            if wr == 1:
                out.append(mid)
                bot_r = k.leaf
                gates = k.bot_right_const["leaf"] + bot_l_proj
            else:
                if gates is None:
                    gates = k.m_b_hh @ b_h
                gates += k.right_in
                r_h, r_c = k.lstm(gates, b_c)
                bot_r = self._node(r_h, r_c, mid, ub, cols, split if cols is not None else 0, hi, out)
                gates = k.lr2p_right @ bot_r[0]
                gates += bot_l_proj
        else:
            bot_r = k.empty
            gates = k.bot_right_const["empty"] + bot_l_proj
        return k.tree(gates, bot_l[1], bot_r[1])

    def graph(self, n: int, prefix=None):
        """Rows ``0..n-1``; rows of ``prefix = (k, rows, cols)`` are replayed, the rest sampled."""
        k = self.k
        fen = IncrementalFenwick(k.fenwick_cell(0), k.fenwick_cell(1), k.init)
        edges_u, edges_v = [], []
        forced_rows = {}
        num_forced = 0
        if prefix is not None:
            num_forced, rows, cols = prefix
            order = np.lexsort((cols, rows))
            rows, cols = rows[order], cols[order]
            bounds = np.searchsorted(rows, np.arange(num_forced + 1))
            for u in range(num_forced):
                forced_rows[u] = cols[bounds[u]:bounds[u + 1]].tolist()
        for u in range(n):
            if u == 0:
                fen.append(k.empty)
                continue
            out = []
            summary = self.row(u, n, fen.context(), forced_rows.get(u) if u < num_forced else None, out)
            fen.append(summary)
            edges_u.extend([u] * len(out))
            edges_v.extend(out)
        return np.asarray(edges_u, dtype=np.int64), np.asarray(edges_v, dtype=np.int64)


def _rng(generator: torch.Generator | None) -> np.random.Generator:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return np.random.default_rng(seed)


def sample_graph(model, num_nodes: int, generator=None, as_networkx: bool = False, prefix=None):
    kernel = _Kernel(model)
    gen = _RowGenerator(kernel, _rng(generator))
    with _SingleThreadBLAS():
        rows, cols = gen.graph(int(num_nodes), prefix)
    return _to_graph(int(num_nodes), rows, cols, as_networkx)


def replay_log_likelihood(model, row_graph) -> tuple[float, int]:
    """Teacher-forced sequential log-likelihood of prepared rows, and the number of decisions."""
    kernel = _Kernel(model)
    gen = _RowGenerator(kernel, None)
    n = row_graph.num_nodes
    with _SingleThreadBLAS():
        gen.graph(n, (n, row_graph.rows, row_graph.cols))
    return gen.log_prob, gen.num_decisions


def _to_graph(n: int, rows: np.ndarray, cols: np.ndarray, as_networkx: bool):
    if as_networkx:
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(zip(rows.tolist(), cols.tolist()))
        return g
    import gnnkit as gk

    src = torch.as_tensor(np.concatenate([rows, cols]))
    dst = torch.as_tensor(np.concatenate([cols, rows]))
    return gk.graph((src, dst), num_nodes=n)
