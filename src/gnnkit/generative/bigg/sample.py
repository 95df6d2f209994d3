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
import os
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


class _SplitProducts:
    """Matrix-vector products whose rows are split between this process and one forked worker.

    Batch-1 products stream every weight from the shared cache for each tree node; with the
    rows halved, each core streams (and mostly keeps in its own L2) half of every matrix, and
    both halves are computed at once. The two processes meet through a shared page, each
    spinning on the other's sequence number (a few microseconds per product, far less than a
    product), so this pays only with a second core to itself: it is opt-in (``workers=2``).
    Linux/macOS only (``os.fork``); the worker exits with the pool, or when its parent is gone.
    """

    _LINE = 64  # bytes: the two sequence numbers live on separate cache lines

    def __init__(self, matrices):
        import mmap

        dtype = matrices[0].dtype
        self.rows = [m.shape[0] for m in matrices]
        self.split = [r // 2 for r in self.rows]
        self.cols = [m.shape[1] for m in matrices]
        size = dtype.itemsize
        self._shm = mmap.mmap(-1, 4 * self._LINE + size * (max(self.cols) + max(self.rows)))
        buf = self._shm
        self._request = np.frombuffer(buf, dtype=np.int64, count=2, offset=0)  # (sequence, matrix index)
        self._done = np.frombuffer(buf, dtype=np.int64, count=1, offset=2 * self._LINE)
        self._vec = np.frombuffer(buf, dtype=dtype, count=max(self.cols), offset=4 * self._LINE)
        self._out = np.frombuffer(buf, dtype=dtype, count=max(self.rows),
                                  offset=4 * self._LINE + size * max(self.cols))
        self._seq = 0
        self._parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # worker: serve the bottom halves until told to stop
            code = 0
            try:
                self._serve([np.ascontiguousarray(m[h:]) for m, h in zip(matrices, self.split)])
            except BaseException:
                code = 1
            os._exit(code)
        self.pid = pid
        self._top = [np.ascontiguousarray(m[:h]) for m, h in zip(matrices, self.split)]

    def _serve(self, bottoms):
        request, done, vec, out = self._request, self._done, self._vec, self._out
        last, idle = 0, 0
        while True:
            seq = int(request[0])
            if seq == last:
                idle += 1
                if idle & 0xFFFFF == 0 and os.getppid() != self._parent:
                    return
                continue
            idle = 0
            last = seq
            index = int(request[1])
            if index < 0:
                return
            np.matmul(bottoms[index], vec[: self.cols[index]], out=out[self.split[index]: self.rows[index]])
            done[0] = seq

    def __call__(self, index: int, x: np.ndarray) -> np.ndarray:
        h, rows = self.split[index], self.rows[index]
        self._vec[: x.shape[0]] = x
        self._request[1] = index
        self._seq += 1
        self._request[0] = self._seq  # published last: the worker reads index and vector after it
        result = np.empty(rows, dtype=x.dtype)
        np.matmul(self._top[index], x, out=result[:h])
        seq, done, spins = self._seq, self._done, 0
        while done[0] != seq:
            spins += 1
            if spins & 0xFFFFF == 0 and os.waitpid(self.pid, os.WNOHANG)[0] != 0:
                self.pid = None
                raise RuntimeError("BiGG sampling worker process exited unexpectedly")
        result[h:] = self._out[h:rows]
        return result

    def bind(self, index: int):
        return lambda x: self(index, x)

    def close(self) -> None:
        if self.pid is not None:
            self._request[1] = -1
            self._seq += 1
            self._request[0] = self._seq
            os.waitpid(self.pid, 0)
            self.pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
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
            # Fenwick cells: [W_left W_right] @ [x; y], one product per merge
            self.fen = [(np.ascontiguousarray(np.concatenate([a(c.weight_left), a(c.weight_right)], axis=1) * ht),
                         a(c.bias) * half_tree) for c in (model.fenwick_merge, model.fenwick_summary)]
        d5 = 5 * d
        # bottom-up projections of the constant children, lr2p's bias included on the left one
        proj_bot_left = {kind: self.m_bot_left @ st[0] for kind, st in (("leaf", self.leaf), ("empty", self.empty))}
        self.bot_left_const = {kind: p[:d5] + self.lr2p_bias for kind, p in proj_bot_left.items()}
        self.bot_right_const = {kind: self.lr2p_right @ st[0] for kind, st in (("leaf", self.leaf), ("empty", self.empty))}
        self._l2r_const = {kind: p[d5:] for kind, p in proj_bot_left.items()}
        self._freq = positional_encoding_frequencies(self.d)
        self._widths = {}
        self.bind_products(None)

    def product_matrices(self) -> list:
        """The matrices of the per-node and per-row products, in the order of :meth:`bind_products`."""
        return [self.m_s, self.m_b, self.m_b_hh, self.l2r_left, self.m_bot_left, self.lr2p_right,
                self.head_edge[0], self.fen[0][0], self.fen[1][0]]

    def bind_products(self, pool) -> None:
        """``self.mv_*(x)``: the products by the local matrices, or by ``pool(index, x)``."""
        names = ("mv_s", "mv_b", "mv_b_hh", "mv_l2r_left", "mv_bot_left", "mv_lr2p_right", "mv_edge",
                 "mv_fen_merge", "mv_fen_summary")
        for index, (name, matrix) in enumerate(zip(names, self.product_matrices())):
            if pool is None:
                setattr(self, name, matrix.__matmul__)
            else:
                setattr(self, name, pool.bind(index))

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
        bias = self.fen[which][1]
        product = self.mv_fen_merge if which == 0 else self.mv_fen_summary

        def cell(x, y):
            gates = product(np.concatenate([x[0], y[0]]))
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
        _, b1, w2, b2 = k.head_edge
        logit = float(np.maximum(k.mv_edge(s_h) + b1, 0.0) @ w2) + b2
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
        y = k.mv_s(s_h)
        has_left = self._decide(k.head_logit(y[:hid], k.head_left), None if cols is None else split > lo)
        gates = y[hid:]
        gates += x_left[has_left]
        a_h, a_c = k.lstm(gates, s_c)
        # left subtree, then the l2r gates: a (left projection) + the left child's summary (+ PE(w_r))
        gates = k.mv_l2r_left(a_h)
        if has_left:
            if wl == 1:
                out.append(lb)
                bot_l = k.leaf
                bot_l_proj = k.bot_left_const["leaf"]
                gates += l2r_gate["leaf"]
                c_in = c_right_in["leaf"]
            else:
                bot_l = self._node(a_h, a_c, lb, mid, cols, lo, split if cols is not None else 0, out)
                proj = k.mv_bot_left(bot_l[0])
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
            yb = k.mv_b(b_h)
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
                    gates = k.mv_b_hh(b_h)
                gates += k.right_in
                r_h, r_c = k.lstm(gates, b_c)
                bot_r = self._node(r_h, r_c, mid, ub, cols, split if cols is not None else 0, hi, out)
                gates = k.mv_lr2p_right(bot_r[0])
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


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers not in (1, 2):
        raise ValueError(f"workers: expected 1 or 2 processes, got {workers!r}")
    if workers == 2 and not hasattr(os, "fork"):
        raise ValueError("workers: 2 needs os.fork (Linux/macOS), not available on this platform")
    return int(workers)


def _run(kernel, gen, n, prefix, workers):
    with _SingleThreadBLAS():
        if workers == 1:
            return gen.graph(n, prefix)
        with _SplitProducts(kernel.product_matrices()) as pool:
            kernel.bind_products(pool)
            try:
                return gen.graph(n, prefix)
            finally:
                kernel.bind_products(None)


def sample_graph(model, num_nodes: int, generator=None, as_networkx: bool = False, prefix=None, workers: int = 1):
    workers = _check_workers(workers)
    kernel = _Kernel(model)
    gen = _RowGenerator(kernel, _rng(generator))
    rows, cols = _run(kernel, gen, int(num_nodes), prefix, workers)
    return _to_graph(int(num_nodes), rows, cols, as_networkx)


def replay_log_likelihood(model, row_graph, workers: int = 1) -> tuple[float, int]:
    """Teacher-forced sequential log-likelihood of prepared rows, and the number of decisions."""
    workers = _check_workers(workers)
    kernel = _Kernel(model)
    gen = _RowGenerator(kernel, None)
    n = row_graph.num_nodes
    _run(kernel, gen, n, (n, row_graph.rows, row_graph.cols), workers)
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
