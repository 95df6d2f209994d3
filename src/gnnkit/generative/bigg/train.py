"""Training loop for BiGG: minibatches of whole graphs, Adam, atomic resumable checkpoints.

The loss of a step is ``-log p(batch) / (number of nodes in the batch)`` (the paper's per-node
loss). A checkpoint holds the model, the optimiser, the history and the position in training; it
is written to a temporary file in the same folder and ``os.replace``d, so a crash never leaves a
torn file. ``resume=True`` continues from it (same graphs and settings expected).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np
import torch


def _save_atomic(obj, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bigg-ckpt-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def train_bigg(model, graphs, *, epochs: int | None = None, time_budget_s: float | None = None,
               batch_size: int = 32, lr: float = 1e-3, checkpoint: str | None = None, resume: bool = False,
               progress: bool = True, log=None, grad_clip: float | None = 5.0, sqrt_blocking: bool = False,
               num_blocks: int | None = None, checkpoint_every_s: float = 60.0, seed: int = 0,
               optimizer: torch.optim.Optimizer | None = None, cpu_budget_s: float | None = None) -> list[dict]:
    """Fits ``model`` to ``graphs``; returns the history (one dict per step).

    Each history entry: ``epoch``, ``step``, ``loss`` (negative log-likelihood per node),
    ``nodes``, ``elapsed_s`` (wall clock) and ``cpu_s`` (process CPU time, all threads; both
    cumulative over resumed runs). Training stops after ``epochs`` epochs, ``time_budget_s`` wall
    seconds of this call, or ``cpu_budget_s`` seconds of process CPU time summed over this call and
    the resumed runs before it (whichever first; at least one must be given). The CPU budget is
    what contention on a shared machine does not inflate; with it a long run is split into
    resumable calls. ``log``: a callable receiving each entry, or a
    path of a JSON-lines file appended to. ``sqrt_blocking``: each graph is processed alone with
    :meth:`BiGG.blocked_backward` (sublinear memory for huge graphs; ``num_blocks`` row blocks).
    """
    if epochs is None and time_budget_s is None and cpu_budget_s is None:
        raise ValueError("epochs / time_budget_s / cpu_budget_s: give at least one stopping rule, got none")
    if cpu_budget_s is not None and not cpu_budget_s > 0:
        raise ValueError(f"cpu_budget_s: expected a positive number of seconds, got {cpu_budget_s!r}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs: expected a positive integer, got {epochs!r}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s: expected a positive number of seconds, got {time_budget_s!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr!r}")
    if resume and checkpoint is None:
        raise ValueError("resume: needs checkpoint=<path>, got checkpoint=None")
    if log is not None and not callable(log) and not isinstance(log, (str, os.PathLike)):
        raise TypeError(f"log: expected a callable or a file path, got {type(log).__name__}")

    prepared = model.prepare(graphs)
    if model.node_counts.numel() == 0:
        model.fit_node_counts(prepared)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    start_epoch, start_batch, elapsed_before, cpu_before = 0, 0, 0.0, 0.0
    if resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=model.leaf_state.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = list(state["history"])
        start_epoch, start_batch = state["epoch"], state["batch"]
        elapsed_before = state["elapsed_s"]
        cpu_before = state.get("cpu_s", 0.0)

    def write_checkpoint(epoch, batch, elapsed):
        if checkpoint is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                          "epoch": epoch, "batch": batch, "elapsed_s": elapsed,
                          "cpu_s": cpu_before + time.process_time() - cpu_began,
                          "config": {"embed_dim": model.embed_dim, "max_nodes": model.max_nodes,
                                     "head_hidden": model.head_hidden, "node_order": model.node_order}},
                         checkpoint)

    def emit(entry):
        if log is None:
            return
        if callable(log):
            log(entry)
        else:
            with open(log, "a") as fh:
                fh.write(json.dumps(entry) + "\n")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="BiGG training", unit="step")
    began = time.perf_counter()
    cpu_began = time.process_time()
    last_ckpt = began
    num_batches = (len(prepared) + batch_size - 1) // batch_size
    epoch = start_epoch
    model.train()
    cpu_used = lambda: cpu_before + time.process_time() - cpu_began  # noqa: E731
    done = cpu_budget_s is not None and cpu_used() >= cpu_budget_s
    while not done and (epochs is None or epoch < epochs):
        order = np.random.default_rng(seed + epoch).permutation(len(prepared))
        for b in range(start_batch if epoch == start_epoch else 0, num_batches):
            batch = [prepared[i] for i in order[b * batch_size:(b + 1) * batch_size]]
            nodes = sum(g.num_nodes for g in batch)
            opt.zero_grad(set_to_none=True)
            if sqrt_blocking:
                ll = sum(model.blocked_backward(g, num_blocks, scale=1.0 / nodes) for g in batch)
            else:
                ll_t = model.log_likelihood(batch)
                (-ll_t / nodes).backward()
                ll = float(ll_t.detach())
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            elapsed = elapsed_before + time.perf_counter() - began
            entry = {"epoch": epoch, "step": len(history), "loss": -ll / nodes, "nodes": nodes,
                     "elapsed_s": elapsed, "cpu_s": cpu_used()}
            history.append(entry)
            emit(entry)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{entry['loss']:.4f}")
            next_batch, next_epoch = (b + 1, epoch) if b + 1 < num_batches else (0, epoch + 1)
            if checkpoint is not None and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                write_checkpoint(next_epoch, next_batch, elapsed)
                last_ckpt = time.perf_counter()
            if (time_budget_s is not None and time.perf_counter() - began >= time_budget_s) or (
                    cpu_budget_s is not None and cpu_used() >= cpu_budget_s):
                done = True
                write_checkpoint(next_epoch, next_batch, elapsed)
                break
        else:
            epoch += 1
            write_checkpoint(epoch, 0, elapsed_before + time.perf_counter() - began)
    if bar is not None:
        bar.close()
    model.eval()
    return history
