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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.negative(x)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


class _Kernel:
    """Host copies of the model's weights, stacked per input state, plus cached constants."""

    def __init__(self, model, dtype=None):
        ref = model.leaf_state
        self.dtype = dtype or (np.float64 if ref.dtype == torch.float64 else np.float32)
        a = lambda t: np.ascontiguousarray(t.detach().cpu().numpy().astype(self.dtype))  # noqa: E731
        d = model.embed_dim
        self.d = d
        self.hidden = model.head_hidden
        self.model_dtype = ref.dtype
        with torch.no_grad():
            self.leaf = (a(model.leaf_state[0]), a(model.leaf_state[1]))
            self.empty = (a(model.empty_state[0]), a(model.empty_state[1]))
            self.init = (a(model.init_state[0]), a(model.init_state[1]))
            # state s -> [head_left hidden ; W_hh of the left LSTM]
            self.m_s = np.concatenate([a(model.head_left.hidden.weight), a(model.cell_left.weight_hh)])
            self.head_left = (a(model.head_left.hidden.bias), a(model.head_left.out.weight[0]),
                              float(model.head_left.out.bias[0]))
            # state b -> [head_right hidden ; W_hh of the right LSTM]
            self.m_b = np.concatenate([a(model.head_right.hidden.weight), a(model.cell_right.weight_hh)])
            self.head_right = (a(model.head_right.hidden.bias), a(model.head_right.out.weight[0]),
                               float(model.head_right.out.bias[0]))
            self.head_edge = (a(model.head_edge.hidden.weight), a(model.head_edge.hidden.bias),
                              a(model.head_edge.out.weight[0]), float(model.head_edge.out.bias[0]))
            self.l2r_left = a(model.l2r.weight_left)
            self.l2r_right = a(model.l2r.weight_right)
            self.l2r_bias = a(model.l2r.bias)
            # bottom-up summary of a left child feeds lr2p (left slot) and l2r (right slot)
            self.m_bot_left = np.concatenate([a(model.lr2p.weight_left), a(model.l2r.weight_right)])
            self.lr2p_right = a(model.lr2p.weight_right)
            self.lr2p_bias = a(model.lr2p.bias)
            self.left_ih = a(model.cell_left.weight_ih)
            self.left_in = a(model.left_embed @ model.cell_left.weight_ih.T + model.cell_left.bias)
            self.right_in = a(model.right_embed @ model.cell_right.weight_ih.T + model.cell_right.bias)
            self.fen = [(a(c.weight_left), a(c.weight_right), a(c.bias))
                        for c in (model.fenwick_merge, model.fenwick_summary)]
        # projections of the constant (leaf / empty) children
        self.const_bot_left = {k: self.m_bot_left @ s[0] for k, s in (("leaf", self.leaf), ("empty", self.empty))}
        self.const_bot_right = {k: self.lr2p_right @ s[0] for k, s in (("leaf", self.leaf), ("empty", self.empty))}
        self._x_left = {}
        self._freq = positional_encoding_frequencies(self.d)
        self._pe_right = {}

    def pe(self, value: int) -> np.ndarray:
        # same formula as model.positional_encoding, in numpy: torch calls inside the loop would
        # leave torch's OpenMP workers spinning against the BLAS threads
        angles = value * self._freq
        pe = np.empty(self.d, dtype=np.float64)
        pe[0::2] = np.sin(angles)
        pe[1::2] = np.cos(angles)[: self.d // 2]
        return pe.astype(self.dtype)

    def x_left(self, has_left: int, width: int) -> np.ndarray:
        key = (has_left, width)
        val = self._x_left.get(key)
        if val is None:
            val = self.left_in[has_left] + self.left_ih @ self.pe(width)
            self._x_left[key] = val
        return val

    def pe_right(self, width: int):
        val = self._pe_right.get(width)
        if val is None:
            pe = self.pe(width)
            val = (pe, self.l2r_right @ pe + self.l2r_bias)
            self._pe_right[width] = val
        return val

    # cells --------------------------------------------------------------------------------------

    def lstm(self, gates, c):
        d = self.d
        sig = _sigmoid(gates[: 3 * d])
        c_new = sig[d : 2 * d] * c + sig[:d] * np.tanh(gates[3 * d :])
        return sig[2 * d :] * np.tanh(c_new), c_new

    def tree(self, gates, c_left, c_right):
        d = self.d
        sig = _sigmoid(gates[: 4 * d])
        c_new = sig[:d] * np.tanh(gates[4 * d :]) + sig[d : 2 * d] * c_left + sig[2 * d : 3 * d] * c_right
        return sig[3 * d :] * np.tanh(c_new), c_new

    def fenwick_cell(self, which: int):
        w_left, w_right, bias = self.fen[which]

        def cell(x, y):
            return self.tree(w_left @ x[0] + w_right @ y[0] + bias, x[1], y[1])

        return cell

    @staticmethod
    def head_logit(hidden_pre, head) -> float:
        bias, w_out, b_out = head
        return float(np.maximum(hidden_pre + bias, 0.0) @ w_out) + b_out


class _RowGenerator:
    """Generates (or replays) rows; accumulates the log-probability of every decision taken."""

    def __init__(self, kernel: _Kernel, rng: np.random.Generator | None):
        self.k = kernel
        self.rng = rng
        self.log_prob = 0.0
        self.num_decisions = 0

    def _decide(self, logit: float, forced: bool | None) -> bool:
        if forced is None:
            value = self.rng.random() < 1.0 / (1.0 + math.exp(-logit))
        else:
            value = forced
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

        Returns the bottom-up summary ``(h_bot, c_bot)``. ``cols[lo:hi]`` are the forced columns inside the interval (replay).
        """
        k = self.k
        d4 = 4 * k.d
        hid = k.hidden
        width = ub - lb
        mid = lb + width // 2
        wl, wr = mid - lb, ub - mid
        if cols is not None:
            split = bisect_left(cols, mid, lo, hi)
        y = k.m_s @ s_h
        has_left = self._decide(k.head_logit(y[:hid], k.head_left), None if cols is None else split > lo)
        a_h, a_c = k.lstm(y[hid:] + k.x_left(int(has_left), wl), s_c)
        # left subtree
        if has_left:
            if wl == 1:
                out.append(lb)
                bot_l = k.leaf
                proj_l = k.const_bot_left["leaf"]
            else:
                bl_h, bl_c = self._node(a_h, a_c, lb, mid, cols, lo, split if cols is not None else 0, out)
                bot_l = (bl_h, bl_c)
                proj_l = k.m_bot_left @ bl_h
        else:
            bot_l = k.empty
            proj_l = k.const_bot_left["empty"]
        d5 = 5 * k.d
        pe_r, pe_r_proj = k.pe_right(wr)
        b_h, b_c = k.tree(k.l2r_left @ a_h + proj_l[d5:] + pe_r_proj, a_c, bot_l[1] + pe_r)
        if has_left:
            yb = k.m_b @ b_h
            has_right = self._decide(k.head_logit(yb[:hid], k.head_right), None if cols is None else hi > split)
        else:
            yb = None
            has_right = True
        if has_right:
            if wr == 1:
                out.append(mid)
                bot_r = k.leaf
                proj_r = k.const_bot_right["leaf"]
            else:
                if yb is None:
                    yb = k.m_b[hid:] @ b_h
                    gates = yb + k.right_in
                else:
                    gates = yb[hid:] + k.right_in
                r_h, r_c = k.lstm(gates[:d4], b_c)
                br_h, br_c = self._node(r_h, r_c, mid, ub, cols, split if cols is not None else 0, hi, out)
                bot_r = (br_h, br_c)
                proj_r = k.lr2p_right @ br_h
        else:
            bot_r = k.empty
            proj_r = k.const_bot_right["empty"]
        h, c = k.tree(proj_l[:d5] + proj_r + k.lr2p_bias, bot_l[1], bot_r[1])
        return h, c

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
