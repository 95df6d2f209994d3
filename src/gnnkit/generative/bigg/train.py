"""Training loop for BiGG: minibatches of whole graphs, Adam, atomic resumable checkpoints.

The loss of a step is ``-log p(batch) / (number of nodes in the batch)`` (the paper's per-node
loss). Optional stabilisers for long runs: gradient-norm clipping, a cosine learning-rate decay
over the run's budget (``lr_t = lr (f + (1 - f) (1 + cos(pi p)) / 2)`` at progress ``p`` in [0, 1],
final factor ``f``), and keeping the weights of the lowest validation loss (per node, measured
every ``validate_every`` steps), which a late loss spike then cannot destroy. A checkpoint holds the model, the optimiser, the history and the position in training; it
is written to a temporary file in the same folder and ``os.replace``d, so a crash never leaves a
torn file. ``resume=True`` continues from it (same graphs and settings expected).
"""

from __future__ import annotations

import json
import math
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
               optimizer: torch.optim.Optimizer | None = None, cpu_budget_s: float | None = None,
               lr_schedule: str | None = None, lr_final_factor: float = 0.02, validation_graphs=None,
               validate_every: int = 25, keep_best: bool = True, lr_warmup: float = 0.0,
               flush_denormal: bool = True, adam_betas: tuple[float, float] | None = None) -> list[dict]:
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

    ``lr_schedule="cosine"`` decays the learning rate from ``lr`` to ``lr * lr_final_factor``;
    progress is the used fraction of ``cpu_budget_s`` if given, else of ``epochs``, else of
    ``time_budget_s``. ``lr_warmup`` (a fraction of that progress, default 0) ramps the learning
    rate linearly from ``lr / 100`` up to the schedule's value over the first part of the run
    (with any schedule, ``"constant"`` included). ``flush_denormal`` (default on) treats subnormal
    floats as zero while training (``torch.set_flush_denormal``; back to PyTorch's default, off,
    when done): saturated gates of a well-fitted model produce subnormal gradients, which made
    steps up to 7x slower on x86 CPUs with bit-identical losses. The flag is per thread and
    intra-op worker threads inherit it only when created, so with several threads call
    ``torch.set_flush_denormal(True)`` at the start of the process, before any parallel torch op
    (``gnnkit generate train`` and the benchmarks do). ``validation_graphs``: every ``validate_every`` steps (and at the end) the
    entry gets ``val_loss`` (negative log-likelihood per node of these graphs); with
    ``keep_best`` the model ends with the weights of the lowest ``val_loss`` seen (the checkpoint
    carries them across resumed runs), and the last entry says which step they come from
    (``best_step``).

    ``adam_betas``: the decay rates of the Adam optimiser built when ``optimizer`` is None
    (default PyTorch's, ``(0.9, 0.999)``). A
    shorter second-moment memory (``(0.9, 0.95)``) keeps the step size up as the gradients shrink:
    with PyTorch's 0.999 the moment still remembers the large early gradients hundreds of steps
    later, which slowed the last stretch of fitting a fixed training set (128 lobsters, one
    schedule: 0.028 nats per node first reached at step 317 with 0.95; 0.0292 after 460 steps with
    0.99).
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
    if lr_schedule not in (None, "constant", "cosine"):
        raise ValueError(f"lr_schedule: expected None, 'constant' or 'cosine', got {lr_schedule!r}")
    if not 0.0 <= lr_final_factor <= 1.0:
        raise ValueError(f"lr_final_factor: expected a value in [0, 1], got {lr_final_factor!r}")
    if not 0.0 <= lr_warmup < 1.0:
        raise ValueError(f"lr_warmup: expected a fraction in [0, 1), got {lr_warmup!r}")
    if not isinstance(validate_every, int) or validate_every < 1:
        raise ValueError(f"validate_every: expected a positive integer, got {validate_every!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip: expected a positive norm or None, got {grad_clip!r}")
    if adam_betas is not None:
        if optimizer is not None:
            raise ValueError("adam_betas: only for the optimiser train_bigg builds; got an optimizer as well")
        if (not isinstance(adam_betas, (tuple, list)) or len(adam_betas) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0 for b in adam_betas)):
            raise ValueError(f"adam_betas: expected two decay rates in [0, 1), got {adam_betas!r}")

    prepared = model.prepare(graphs)
    validation = model.prepare(validation_graphs) if validation_graphs is not None else None
    if model.node_counts.numel() == 0:
        model.fit_node_counts(prepared)
    adam_options = {} if adam_betas is None else {"betas": tuple(float(b) for b in adam_betas)}
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr, **adam_options)
    history: list[dict] = []
    start_epoch, start_batch, elapsed_before, cpu_before = 0, 0, 0.0, 0.0
    best = None  # {"val_loss", "step", "model"}: the weights of the lowest validation loss so far
    if resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=model.leaf_state.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = list(state["history"])
        start_epoch, start_batch = state["epoch"], state["batch"]
        elapsed_before = state["elapsed_s"]
        cpu_before = state.get("cpu_s", 0.0)
        best = state.get("best")

    def write_checkpoint(epoch, batch, elapsed):
        if checkpoint is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                          "epoch": epoch, "batch": batch, "elapsed_s": elapsed,
                          "cpu_s": cpu_before + time.process_time() - cpu_began, "best": best,
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

    def progress_fraction(epoch, b):
        if cpu_budget_s is not None:
            p = cpu_used() / cpu_budget_s
        elif epochs is not None:
            p = (epoch + b / num_batches) / epochs
        else:
            p = (time.perf_counter() - began) / time_budget_s
        return min(max(p, 0.0), 1.0)

    def set_lr(epoch, b):
        if lr_schedule != "cosine" and lr_warmup == 0.0:
            return
        p = progress_fraction(epoch, b)
        factor = 1.0
        if lr_schedule == "cosine":
            factor = lr_final_factor + (1.0 - lr_final_factor) * 0.5 * (1.0 + math.cos(math.pi * p))
        if p < lr_warmup:
            # linear ramp from 1% of the rate: Adam's first steps on fresh LSTM weights are the unstable ones
            factor *= 0.01 + 0.99 * p / lr_warmup
        for group in opt.param_groups:
            group["lr"] = lr * factor

    def validate(entry):
        nonlocal best
        model.eval()
        with torch.no_grad():
            val = -float(model.log_likelihood(validation)) / sum(g.num_nodes for g in validation)
        model.train()
        entry["val_loss"] = val
        if best is None or val < best["val_loss"]:
            best = {"val_loss": val, "step": entry["step"],
                    "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}

    done = cpu_budget_s is not None and cpu_used() >= cpu_budget_s
    # subnormal products of saturated gates are slow on x86; flushing them leaves the losses unchanged
    flushing = flush_denormal and torch.set_flush_denormal(True)
    try:
        while not done and (epochs is None or epoch < epochs):
            order = np.random.default_rng(seed + epoch).permutation(len(prepared))
            for b in range(start_batch if epoch == start_epoch else 0, num_batches):
                batch = [prepared[i] for i in order[b * batch_size:(b + 1) * batch_size]]
                nodes = sum(g.num_nodes for g in batch)
                opt.zero_grad(set_to_none=True)
                set_lr(epoch, b)
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
                         "elapsed_s": elapsed, "cpu_s": cpu_used(), "lr": opt.param_groups[0]["lr"]}
                next_batch, next_epoch = (b + 1, epoch) if b + 1 < num_batches else (0, epoch + 1)
                out_of_budget = (time_budget_s is not None and time.perf_counter() - began >= time_budget_s) or (
                    cpu_budget_s is not None and cpu_used() >= cpu_budget_s)
                last_of_run = out_of_budget or (epochs is not None and next_epoch >= epochs)
                if validation is not None and (entry["step"] % validate_every == 0 or last_of_run):
                    validate(entry)
                history.append(entry)
                emit(entry)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{entry['loss']:.4f}")
                if checkpoint is not None and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                    write_checkpoint(next_epoch, next_batch, elapsed)
                    last_ckpt = time.perf_counter()
                if out_of_budget:
                    done = True
                    write_checkpoint(next_epoch, next_batch, elapsed)
                    break
            else:
                epoch += 1
                write_checkpoint(epoch, 0, elapsed_before + time.perf_counter() - began)
    finally:
        if flushing:
            torch.set_flush_denormal(False)
    if bar is not None:
        bar.close()
    if keep_best and best is not None:
        # the checkpoint keeps the latest weights (to resume from); the model returned is the best
        model.load_state_dict(best["model"])
        if history:
            history[-1] = dict(history[-1], best_step=best["step"], best_val_loss=best["val_loss"])
    model.eval()
    return history
