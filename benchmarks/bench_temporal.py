"""DynaGraph benchmarks: cached vs uncached gnnkit vs PyTorch Geometric Temporal.

Parts (``--part``):

* ``epoch``: training epoch time of GCRN-LSTM, GCRN-GRU and DCRNN encoder-decoders (2 layers,
  hidden 64, Cheb K=2 / diffusion K=2, windows 12 -> 12, batch 64) on the real METR-LA graph
  (``METR-LA/adj_mx.pkl``, 207 sensors) with the Los-loop week of METR-LA speeds
  (``LosLoop/los_speed.csv``, columns matched to the pickle's sensor ids) plus time of day.
  Variants: ``cached`` (DynaGraph's cached message passing), ``uncached`` (every gate
  aggregates its own inputs with operators normalised per call, as PyGT's cells do; the fusions
  unrelated to caching are the cached path's), ``uncached_kept_ops`` (the same with operators
  normalised once), ``uncached_textbook`` (``--textbook-variant``: the uncached path written as
  PyGT writes it, without the non-caching fusions), and PyGT's own cells. Variants run batch by
  batch in turn so machine load hits all alike; with ``--batches N`` the epoch time is the mean
  batch time times the batches of one epoch. Both wall time and the process's CPU time are
  recorded: on a shared, oversubscribed machine (one torch thread) the CPU time is the steadier
  measure of the work done. ``--malloc pinned`` (the default) keeps
  freed memory in the process (see :func:`pin_glibc_malloc`); with ``--malloc system`` glibc
  hands memory back and the uncached timings swing with page faults.
* ``floor``: per batch, cached and uncached, the time of the dense GEMMs and of the sparse
  products each replayed alone (recorded with a TorchDispatchMode) against the batch time:
  caching removes sparse products, never GEMMs, which bounds the speedup it can give.
* ``cells``: one recurrent step (forward + backward) of each cell at the METR-LA shape
  (207 nodes, batch 64, 64 input and hidden features: the second layer), cached vs uncached,
  variants interleaved, median CPU time of ``--cell-reps`` repetitions.
* ``throughput``: snapshots per second (forward + backward) of a GCRN-GRU cell on a 100k-node
  random graph (average in-degree 10) with 128 input features.
* ``accuracy``: test MSE of GConvGRU / GConvLSTM on Chickenpox (lags 4) and England COVID
  (lags 8, one graph per day), gnnkit vs PyGT, same features, split (first 80% train) and
  training protocol (PyGT's example: hidden 32, ReLU, linear head, Adam lr 0.01, full batch).

Run: ``python benchmarks/bench_temporal.py --part all --json benchmarks/results/temporal.json``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_temporal_pygt as pygt  # noqa: E402

import gnnkit.temporal as T  # noqa: E402

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def masked_mae(pred, true):
    mask = (true != 0).to(pred.dtype)
    mask = mask / mask.mean().clamp(min=1e-8)
    return ((pred - true).abs() * mask).mean()


# ----------------------------------------------------------------------------------------------
# allocator


def pin_glibc_malloc() -> str:
    """Keeps freed memory in the process instead of handing it back to the OS.

    PyTorch's CPU tensors come straight from ``malloc``. With glibc's defaults, free memory at
    the top of the heap beyond the trim threshold goes back to the OS, and blocks above the
    (dynamic) mmap threshold are unmapped when freed; the next batch then faults those pages in
    again. How much is handed back depends on the heap's layout, so it varies from batch to batch
    and run to run, and the path with the larger peak memory pays most: the uncached DCRNN (10 GB
    peak) faulted in 3k-75k pages per batch and took 4.0-7.4 s per batch (CPU time alike), the
    cached one 2.7-2.9 s. Session 5's uncached timings were bimodal for this reason. Pinning the
    mmap threshold at its maximum (32 MiB) and never trimming leaves no page fault after the
    first batch (uncached DCRNN 3.9-4.4 s), so the ratio measures computation. Returns what was
    done.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "system (not glibc: left as is)"
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    # -1 disables trimming (mallopt(3)); a finite threshold still hands back the gigabytes the
    # uncached DCRNN frees after each batch, to be faulted in again by the next.
    settings = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, -1), (M_TOP_PAD, 256 << 20))
    if not all(mallopt(option, value) == 1 for option, value in settings):
        return "system (mallopt refused)"
    return "pinned (glibc mallopt: mmap threshold 32 MiB, no trimming, top pad 256 MiB)"


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# ----------------------------------------------------------------------------------------------
# epoch time


@contextlib.contextmanager
def _operators_kept(enabled: bool):
    """The uncached path with operators normalised once instead of per conv call (what the
    ``uncached_kept_ops`` variant measures: per-gate aggregation is then the only redundancy)."""
    if not enabled:
        yield
        return
    original = T.GraphOperators.per_call
    T.GraphOperators.per_call = lambda self: self
    try:
        yield
    finally:
        T.GraphOperators.per_call = original


def _textbook_gru(cell, ops, x, h):
    """PyGT's GConvGRU step on gnnkit's kernels, nothing fused: six convs (each its own
    aggregation and GEMM), the sums, and the gate math op by op; the zero state is computed."""
    H = cell.hidden_feats
    if h is None:
        h = x.new_zeros(*x.shape[:-1], H)
    Wx, bx, Wh = cell.conv_x.weight, cell.conv_x.bias, cell.conv_h.weight

    def conv(module, inp, weight, bias=None):
        return torch.nn.functional.linear(module.msg_pass(ops, inp), weight, bias)

    z = torch.sigmoid(conv(cell.conv_x, x, Wx[:H], bx[:H]) + conv(cell.conv_h, h, Wh[:H]))
    r = torch.sigmoid(conv(cell.conv_x, x, Wx[H : 2 * H], bx[H : 2 * H]) + conv(cell.conv_h, h, Wh[H:]))
    cand = torch.tanh(conv(cell.conv_x, x, Wx[2 * H :], bx[2 * H :]) + conv(cell.conv_hc, r * h, cell.conv_hc.weight))
    return z * h + (1 - z) * cand


def _textbook_lstm(cell, ops, x, state):
    """PyGT's GConvLSTM step (peepholes) on gnnkit's kernels, nothing fused (see _textbook_gru)."""
    H = cell.hidden_feats
    h, c = state if state is not None else (x.new_zeros(*x.shape[:-1], H),) * 2
    Wx, bx, Wh, peep = cell.conv_x.weight, cell.conv_x.bias, cell.conv_h.weight, cell.peephole

    def gate(k):
        cols = slice(k * H, (k + 1) * H)
        x_term = torch.nn.functional.linear(cell.conv_x.msg_pass(ops, x), Wx[cols], bx[cols])
        return x_term + torch.nn.functional.linear(cell.conv_h.msg_pass(ops, h), Wh[cols])

    i = torch.sigmoid(gate(0) + peep[0] * c)
    f = torch.sigmoid(gate(1) + peep[1] * c)
    c = f * c + i * torch.tanh(gate(2))
    o = torch.sigmoid(gate(3) + peep[2] * c)
    return o * torch.tanh(c), c


@contextlib.contextmanager
def _textbook_cells(enabled: bool):
    """The uncached path as PyGT writes it (``uncached_textbook``): per-gate convs with none of
    the cached path's non-caching fusions. A reading of "uncached" weaker than the bar's
    baseline, measured so the gap between the two readings is known."""
    if not enabled:
        yield
        return
    originals = (T.GraphGRUCell._forward_uncached, T.GraphLSTMCell._forward_uncached)
    T.GraphGRUCell._forward_uncached, T.GraphLSTMCell._forward_uncached = _textbook_gru, _textbook_lstm
    try:
        yield
    finally:
        T.GraphGRUCell._forward_uncached, T.GraphLSTMCell._forward_uncached = originals


def _check_textbook_matches() -> None:
    """The textbook cells must compute what the library's cells compute (float64, small graph)."""
    gen = torch.Generator().manual_seed(0)
    n = 30
    ops = T.GraphOperators.from_edges(torch.randint(0, n, (120,), generator=gen), torch.randint(0, n, (120,), generator=gen), n,
                                      torch.rand(120, generator=gen))
    x = torch.randn(4, 5, n, 2, generator=gen, dtype=torch.float64)
    for model in (T.GCRN(2, 1, 8, 2, cell="gru", K=3), T.GCRN(2, 1, 8, 2, cell="lstm"), T.DCRNN(2, 1, 8, 2, K=2)):
        model = model.double()
        expected = model.set_caching(True)(ops, x, 3)
        with _textbook_cells(True):
            got = model.set_caching(False)(ops, x, 3)
        if not torch.allclose(got, expected, rtol=0, atol=1e-10):
            raise AssertionError(f"textbook cells differ from the library's by {(got - expected).abs().max():.2e}")


def epoch_part(args) -> dict:
    sensors = T.metr_la_with_los_loop_speeds(DATASETS / "METR-LA", DATASETS / "LosLoop")
    data = T.SlidingWindowDataset(sensors.speed, 12, 12, zero_is_missing=True, time_of_day=288)
    ops = sensors.operators()
    src, dst = ops.graph.edges()
    edge_index, edge_weight = torch.stack([src, dst]), ops.edge_weight
    num_batches = -(-data.num_windows("train") // args.batch_size)
    measured = num_batches if args.batches is None else min(args.batches, num_batches)
    gen = torch.Generator().manual_seed(0)
    batches = list(data.batches("train", args.batch_size, shuffle=True, generator=gen))[: measured + args.warmup]
    if args.textbook_variant:
        _check_textbook_matches()
    results = {}
    for kind in args.models:
        torch.manual_seed(0)
        if kind == "dcrnn":
            ours = T.DCRNN(data.in_feats, 1, args.hidden, 2, K=2)
        else:
            ours = T.GCRN(data.in_feats, 1, args.hidden, 2, cell=kind, K=2)
        variants = {"cached": ours, "uncached": ours}
        if not args.no_kept_ops_variant:
            variants["uncached_kept_ops"] = ours
        if args.textbook_variant:
            variants["uncached_textbook"] = ours
        if pygt.GConvGRU is not None and not args.no_pygt:
            variants["pygt"] = pygt.PyGTSeq2Seq(kind, data.in_feats, 1, args.hidden, 2, 2)
        optims = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in variants.items()}

        def step(name, batch):
            x, y, ids = batch
            model = variants[name]
            t0, c0, f0 = time.perf_counter(), time.process_time(), _minor_faults()
            if name == "pygt":
                out = model(x, edge_index, edge_weight, 12)
            else:
                model.set_caching(name == "cached")
                with _operators_kept(name == "uncached_kept_ops"), _textbook_cells(name == "uncached_textbook"):
                    out = model(ops, x, 12, snapshot_ids=ids if name == "cached" else None)
            loss = masked_mae(data.denormalize(out), y)
            optims[name].zero_grad()
            loss.backward()
            optims[name].step()
            return time.perf_counter() - t0, time.process_time() - c0, _minor_faults() - f0

        times = {name: [] for name in variants}
        cpu_times = {name: [] for name in variants}
        faults = {name: [] for name in variants}
        for i, batch in enumerate(batches):
            for name in variants:
                if name == "pygt" and kind == "dcrnn" and i >= args.warmup + args.pygt_dcrnn_batches:
                    continue
                elapsed, cpu, minflt = step(name, batch)
                if i >= args.warmup:  # warm-up batches fill allocators and the cache store
                    times[name].append(elapsed)
                    cpu_times[name].append(cpu)
                    faults[name].append(minflt)
                print(f"  {kind:5s} {name:8s} batch {i}: {elapsed:.2f} s wall, {cpu:.2f} s CPU, {minflt} page faults", flush=True)
        row = {}
        for name, ts in times.items():
            if ts:
                mean, cpu = sum(ts) / len(ts), sum(cpu_times[name]) / len(ts)
                row[name] = {"batch_s": mean, "epoch_s": mean * num_batches, "batch_cpu_s": cpu, "epoch_cpu_s": cpu * num_batches,
                             "batches_measured": len(ts), "minor_page_faults_per_batch": sum(faults[name]) / len(ts)}
        for other in ("uncached", "uncached_kept_ops", "uncached_textbook", "pygt"):
            if "cached" in row and other in row:
                row[f"speedup_vs_{other}_wall"] = row[other]["batch_s"] / row["cached"]["batch_s"]
                row[f"speedup_vs_{other}_cpu"] = row[other]["batch_cpu_s"] / row["cached"]["batch_cpu_s"]
        row["load_avg_after"] = os.getloadavg()
        results[kind] = row
        print(kind, json.dumps(row), flush=True)
    return {
        "workload": "METR-LA adj_mx.pkl (207 sensors, 1722 nnz) + Los-loop speeds (2016 x 207) + time of day; 12 -> 12; "
        f"batch {args.batch_size}; hidden {args.hidden}; 2 layers; Cheb K=2 / diffusion K=2",
        "train_batches_per_epoch": num_batches,
        "models": results,
    }


# ----------------------------------------------------------------------------------------------
# what caching can and cannot remove: the dense GEMMs and sparse products of one batch


_GEMMS = {"mm", "addmm", "addmm_", "bmm", "baddbmm"}


class _ProductRecorder(TorchDispatchMode):
    """Records every matrix product of a forward + backward pass (shapes and strides of dense
    operands; the CSR matrix itself for sparse ones) so it can be replayed and timed alone."""

    def __init__(self):
        super().__init__()
        self.dense, self.sparse = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in _GEMMS:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if any(t.layout != torch.strided for t in tensors):
                matrix = next(t for t in tensors if t.layout != torch.strided)
                dense = next(t for t in tensors[1:] if t.layout == torch.strided and t.dim() == 2 and t is not kwargs.get("out"))
                self.sparse.append((matrix, tuple(dense.shape)))
            else:
                spec = [(tuple(t.shape), tuple(t.stride())) if isinstance(t, torch.Tensor) else t for t in args]
                self.dense.append((func, spec, {k: v for k, v in kwargs.items() if k in ("beta", "alpha")}))
        return func(*args, **kwargs)


def _replay_seconds(recorder) -> tuple[float, float]:
    """Sums of the time of each recorded dense and sparse product run alone on random operands."""
    dense_s = sparse_s = 0.0
    for func, spec, kwargs in recorder.dense:
        args = [torch.empty_strided(a[0], a[1]).normal_() if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], tuple) else a
                for a in spec]
        t0 = time.perf_counter()
        func(*args, **kwargs)
        dense_s += time.perf_counter() - t0
    for matrix, shape in recorder.sparse:
        dense = torch.randn(shape)
        out = torch.empty(matrix.shape[0], shape[1])
        t0 = time.perf_counter()
        torch.addmm(out, matrix, dense, beta=0, out=out)
        sparse_s += time.perf_counter() - t0
    return dense_s, sparse_s


def floor_part(args) -> dict:
    """Per batch (forward + backward + Adam) of each model, cached and uncached: the measured
    time, the time of its dense GEMMs and of its sparse products each replayed alone, and the
    rest (elementwise work, copies, autograd and Python overhead).

    Caching removes sparse products and their copies; it cannot remove a GEMM (both paths
    apply the same weights to the same aggregations). So ``(G_u + S_u) / (G_c + S_c)`` is the
    speedup caching would give if everything else cost nothing, and ``T_u / (G_c + S_c)`` the
    most any cached path could reach against the measured uncached one.
    """
    import statistics

    sensors = T.metr_la_with_los_loop_speeds(DATASETS / "METR-LA", DATASETS / "LosLoop")
    data = T.SlidingWindowDataset(sensors.speed, 12, 12, zero_is_missing=True, time_of_day=288)
    ops = sensors.operators()
    gen = torch.Generator().manual_seed(0)
    batches = list(data.batches("train", args.batch_size, shuffle=True, generator=gen))[: 2 + args.floor_batches]
    out = {}
    for kind in args.models:
        row = {}
        for name in ("cached", "uncached"):
            torch.manual_seed(0)
            model = T.DCRNN(data.in_feats, 1, args.hidden, 2, K=2) if kind == "dcrnn" else T.GCRN(data.in_feats, 1, args.hidden, 2, cell=kind, K=2)
            model.set_caching(name == "cached")
            optim = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(batch):
                x, y, ids = batch
                pred = model(ops, x, 12, snapshot_ids=ids if name == "cached" else None)
                loss = masked_mae(data.denormalize(pred), y)
                optim.zero_grad()
                loss.backward()
                optim.step()

            step(batches[0])  # fills the cache store and the allocator
            recorder = _ProductRecorder()
            with recorder:
                step(batches[1])
            walls = []
            for batch in batches[2:]:
                t0 = time.perf_counter()
                step(batch)
                walls.append(time.perf_counter() - t0)
            replays = [_replay_seconds(recorder) for _ in range(args.floor_replays)]
            dense_s = min(r[0] for r in replays)
            sparse_s = min(r[1] for r in replays)
            batch_s = statistics.median(walls)
            row[name] = {"batch_s": batch_s, "batches": walls, "gemm_s": dense_s, "gemm_count": len(recorder.dense),
                         "spmm_s": sparse_s, "spmm_count": len(recorder.sparse), "rest_s": batch_s - dense_s - sparse_s}
            print(f"  floor {kind:5s} {name:8s}: batch {batch_s:.3f} s = GEMM {dense_s:.3f} ({len(recorder.dense)}) + "
                  f"spmm {sparse_s:.3f} ({len(recorder.sparse)}) + rest {batch_s - dense_s - sparse_s:.3f}", flush=True)
        c, u = row["cached"], row["uncached"]
        row["speedup_measured"] = u["batch_s"] / c["batch_s"]
        row["speedup_if_only_products_cost"] = (u["gemm_s"] + u["spmm_s"]) / (c["gemm_s"] + c["spmm_s"])
        row["speedup_bound_vs_measured_uncached"] = u["batch_s"] / (c["gemm_s"] + c["spmm_s"])
        row["load_avg_after"] = os.getloadavg()
        print(f"  floor {kind}: measured {row['speedup_measured']:.2f}x; products only {row['speedup_if_only_products_cost']:.2f}x; "
              f"bound vs measured uncached {row['speedup_bound_vs_measured_uncached']:.2f}x", flush=True)
        out[kind] = row
    return {"workload": "as the epoch part (METR-LA graph, Los-loop speeds, 12 -> 12, batch 64, hidden 64, 2 layers, K=2)",
            "method": "products recorded with a TorchDispatchMode during one batch, replayed one by one on random operands "
            f"(min of {args.floor_replays} replays); batch_s the median of {args.floor_batches} batches", "models": out}


# ----------------------------------------------------------------------------------------------
# one cell step, cached vs uncached


def cells_part(args) -> dict:
    import statistics

    sensors = T.read_dcrnn_adj(DATASETS / "METR-LA" / "adj_mx.pkl")
    ops = sensors.operators()
    batch, width = args.batch_size, args.hidden
    out = {}
    torch.manual_seed(0)
    cells = {"gcrn-gru": T.GConvGRU(width, width, 2), "gcrn-lstm": T.GConvLSTM(width, width, 2),
             "dcrnn": T.GraphGRUCell(width, width, conv="diffusion", K=2)}
    for name, cell in cells.items():
        x = torch.randn(ops.num_nodes, batch, width)
        h = torch.randn(ops.num_nodes, batch, width, requires_grad=True)
        cpu = {True: [], False: []}
        for _ in range(args.cell_reps):
            for caching in (True, False):
                cell.caching = caching
                c0 = time.process_time()
                state = cell(ops, x, (h, h) if name == "gcrn-lstm" else h)
                (state[0] if isinstance(state, tuple) else state).sum().backward()
                cpu[caching].append(time.process_time() - c0)
        cached, uncached = statistics.median(cpu[True]), statistics.median(cpu[False])
        out[name] = {"cached_cpu_s": cached, "uncached_cpu_s": uncached, "speedup": uncached / cached, "load_avg_after": os.getloadavg()}
        print(f"  cell {name}: cached {cached * 1e3:.1f} ms, uncached {uncached * 1e3:.1f} ms CPU, {uncached / cached:.2f}x", flush=True)
    return {"shape": f"207 nodes (METR-LA), batch {batch}, {width} -> {width}, K=2", "cells": out}


# ----------------------------------------------------------------------------------------------
# throughput on a large graph


def throughput_part(args) -> dict:
    n, feats, hidden, steps = args.big_nodes, 128, args.big_hidden, args.big_steps
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(0, n, (n * 10,), generator=gen)
    dst = torch.arange(n).repeat_interleave(10)
    ops = T.GraphOperators.from_edges(src, dst, n)
    series = torch.randn(steps, n, feats, generator=gen)
    results = {}
    torch.manual_seed(0)
    cell = T.GConvGRU(feats, hidden, K=2)
    head = torch.nn.Linear(hidden, 1)

    def run_ours(cached):
        cell.caching = cached
        x_aggs = cell.msg_pass_input(ops, series.transpose(0, 1)).transpose(0, 1) if cached else None
        h = None
        for t in range(steps):
            h = cell(ops, series[t], h, x_agg=None if x_aggs is None else x_aggs[t])
        head(h).mean().backward()

    variants = {"cached": lambda: run_ours(True), "uncached": lambda: run_ours(False)}
    if pygt.GConvGRU is not None and not args.no_pygt:
        torch.manual_seed(0)
        ref = pygt.GConvGRU(feats, hidden, 2)
        edge_index = torch.stack([src, dst])

        def run_pygt():
            h = None
            for t in range(steps):
                h = ref(series[t], edge_index, None, h)
            head(h).mean().backward()

        variants["pygt"] = run_pygt
    for rep in range(args.big_reps + 1):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - t0
            print(f"  throughput {name}: {steps / elapsed:.2f} snapshots/s", flush=True)
            if rep > 0:
                results.setdefault(name, []).append(steps / elapsed)
    summary = {name: sum(v) / len(v) for name, v in results.items()}
    return {"load_avg_after": os.getloadavg(), "graph": f"random, {n} nodes, {n * 10} edges (in-degree 10), {feats} features, GConvGRU hidden {hidden}, K=2, "
            f"{steps} snapshots per sequence, forward+backward", "snapshots_per_s": summary}


# ----------------------------------------------------------------------------------------------
# accuracy against PyGT


def _union(snapshots):
    """Block-diagonal union of the snapshots: (edge_index, edge_weight, x, y, num_nodes)."""
    eis, ews, xs, ys, offset = [], [], [], [], 0
    for snap in snapshots:
        s, d = snap.ops.graph.edges()
        eis.append(torch.stack([s, d]) + offset)
        ews.append(snap.ops.edge_weight)
        xs.append(snap.x)
        ys.append(snap.y)
        offset += snap.x.shape[0]
    return torch.cat(eis, 1), torch.cat(ews), torch.cat(xs), torch.cat(ys), offset


class _Head(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell, self.lin = cell, torch.nn.Linear(32, 1)

    def forward(self, *args):
        h = self.cell(*args)
        h = h[0] if isinstance(h, tuple) else h
        return self.lin(torch.relu(h)).squeeze(-1)


def _train_eval(lib, cell_name, train, test, lags, epochs, seed):
    torch.manual_seed(seed)
    if lib == "gnnkit":
        cell = T.GConvGRU(lags, 32, K=2) if cell_name == "gru" else T.GConvLSTM(lags, 32, K=2)
        model = _Head(cell)
        tr_ops = T.GraphOperators.from_edges(train[0][0], train[0][1], train[4], train[1])
        te_ops = T.GraphOperators.from_edges(test[0][0], test[0][1], test[4], test[1])
        run = lambda part, ops: model(ops, part[2])  # noqa: E731
        tr, te = (train, tr_ops), (test, te_ops)
    else:
        cell = pygt.GConvGRU(lags, 32, 2) if cell_name == "gru" else pygt.GConvLSTM(lags, 32, 2)
        model = _Head(cell)
        run = lambda part, _: model(part[2], part[0], part[1])  # noqa: E731
        tr, te = (train, None), (test, None)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs):
        loss = ((run(*tr) - tr[0][3]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((run(*te) - te[0][3]) ** 2).mean())


def accuracy_part(args) -> dict:
    sets = {
        "chickenpox (lags 4)": (T.load_chickenpox(DATASETS / "ChickenpoxHungary", lags=4), 4),
        "england_covid (lags 8)": (T.load_england_covid(DATASETS / "EnglandCovid", lags=8), 8),
    }
    sets = {name: value for name, value in sets.items() if name.split(" ")[0] in args.sets}
    libs = ["gnnkit"] + (["pygt"] if pygt.GConvGRU is not None and not args.no_pygt else [])
    out = {}
    for name, (signal, lags) in sets.items():
        train, test = T.temporal_signal_split(signal, 0.8)
        tr, te = _union(list(train)), _union(list(test))
        for cell in ("gru", "lstm"):
            row = {}
            for lib in libs:
                mses = [_train_eval(lib, cell, tr, te, lags, args.epochs, seed) for seed in range(args.seeds)]
                row[lib] = {"test_mse_mean": sum(mses) / len(mses), "per_seed": mses}
            if "pygt" in row:
                row["ratio_gnnkit_over_pygt"] = row["gnnkit"]["test_mse_mean"] / row["pygt"]["test_mse_mean"]
            out[f"{name} {cell}"] = row
            print(name, cell, json.dumps(row), flush=True)
    return {"protocol": f"first 80% of snapshots train; hidden 32, K=2, ReLU + Linear; Adam lr 0.01; {args.epochs} full-batch epochs; "
            f"{args.seeds} seeds", "results": out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["epoch", "floor", "cells", "throughput", "accuracy", "all"], default="all")
    parser.add_argument("--cell-reps", type=int, default=7)
    parser.add_argument("--floor-batches", type=int, default=3, help="timed batches per model and path in the floor part")
    parser.add_argument("--floor-replays", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["lstm", "gru", "dcrnn"], choices=["lstm", "gru", "dcrnn"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batches", type=int, default=None, help="measured batches per variant (default: a whole epoch)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured batches per variant before timing")
    parser.add_argument("--pygt-dcrnn-batches", type=int, default=2, help="PyGT's DCRNN runs window by window: measure this many batches")
    parser.add_argument("--big-nodes", type=int, default=100_000)
    parser.add_argument("--big-hidden", type=int, default=64)
    parser.add_argument("--big-steps", type=int, default=12)
    parser.add_argument("--big-reps", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=["chickenpox", "england_covid"], choices=["chickenpox", "england_covid"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile-gates", action="store_true", help="elementwise gate math through torch.compile (cached and uncached alike)")
    parser.add_argument("--no-pygt", action="store_true")
    parser.add_argument("--no-kept-ops-variant", action="store_true", help="skip the uncached variant with operators normalised once")
    parser.add_argument("--textbook-variant", action="store_true",
                        help="also time the uncached path written as PyGT writes it, without the non-caching fusions")
    parser.add_argument("--malloc", choices=["pinned", "system"], default="pinned",
                        help="pinned: keep freed memory in the process (see pin_glibc_malloc); system: glibc's defaults")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    malloc = pin_glibc_malloc() if args.malloc == "pinned" else "system"
    torch.set_num_threads(args.threads)
    if args.compile_gates:
        T.compile_gates(True)  # the warm-up batch compiles
    report = {"threads": args.threads, "malloc": malloc, "pygt": pygt.PYGT_IMPORT, "compiled_gates": args.compile_gates,
              "command": " ".join(["python", "benchmarks/bench_temporal.py"] + list(sys.argv[1:] if argv is None else argv)),
              "load_avg_start": os.getloadavg()}
    parts = ["epoch", "cells", "throughput", "accuracy"] if args.part == "all" else [args.part]
    for part in parts:
        report[part] = {"epoch": epoch_part, "floor": floor_part, "cells": cells_part, "throughput": throughput_part, "accuracy": accuracy_part}[part](args)
    report["load_avg_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
