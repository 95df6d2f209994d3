"""Traffic / epidemic forecasting with dynamic GNNs (``gnnkit train --task forecast``).

Sequence-to-sequence training over sliding windows (``seq_len -> horizon``) with GCRN-LSTM,
GCRN-GRU or DCRNN (scheduled sampling), cached message passing on unless ``--no-cache``.
Reports masked MAE / RMSE / MAPE per horizon step on the de-normalised test predictions (zero
readings are missing values and are masked, as in DCRNN), and writes ``metrics.json``,
``metrics_log.{csv,json}``, ``learning_curves.png``, ``forecast.png`` (predicted vs true series
of a few nodes), ``checkpoint_last.pt`` and ``best_model.pt`` to ``--out``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch

from .. import temporal as T
from .checkpoint import BEST_MODEL, LAST_CHECKPOINT, atomic_write_bytes, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLog
from .plots import plot_learning_curves
from .progress import ProgressBar

__all__ = ["add_arguments", "run_from_args", "train_forecast", "masked_metrics", "build_forecast_model", "load_forecast_dataset", "DATASETS", "MODELS"]

MODELS = ("gcrn-lstm", "gcrn-gru", "dcrnn")
# name -> (folder under the datasets root, loader, steps per day)
DATASETS = {
    "metr-la": ("METR-LA", "metr_la", 288),
    "pems-bay": ("PEMS-BAY", "pems_bay", 288),
    "los-loop": ("LosLoop", "los_loop", 288),
    "metr-la-losloop": ("METR-LA", "metr_la_losloop", 288),
    "sz-taxi": ("SZ-taxi", "sz_taxi", 96),
}
_DEFAULT_ROOTS = (Path.cwd().parent / "shared" / "datasets", Path(os.environ.get("GNNKIT_DATA", Path.home() / ".gnnkit" / "datasets")))


def add_arguments(parser) -> None:
    """Arguments only the forecasting task needs (the common ones belong to ``gnnkit train``)."""
    group = parser.add_argument_group("forecast (--task forecast)")
    group.add_argument("--no-cache", action="store_true", help="disable cached message passing (same results, slower)")
    group.add_argument("--seq-len", type=int, default=12, help="input steps per window (default 12)")
    group.add_argument("--horizon", type=int, default=12, help="predicted steps per window (default 12)")
    group.add_argument("--cheb-k", type=int, default=2, help="Chebyshev terms (GCRN) / diffusion steps (DCRNN), default 2")
    group.add_argument("--max-batches", type=int, default=None, help="cap on training batches per epoch (quick runs)")
    group.add_argument("--plot-nodes", type=int, default=3, help="nodes drawn in forecast.png (default 3)")


def _resolve_root(name: str, root) -> Path:
    folder = DATASETS[name][0]
    candidates = [Path(root) / folder, Path(root)] if root else [Path(r) / folder for r in _DEFAULT_ROOTS]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(f"no folder for {name} among {[str(c) for c in candidates]}; pass --root")


def load_forecast_dataset(name: str, root=None, download: bool = False, seq_len: int = 12, horizon: int = 12):
    """``(SlidingWindowDataset, GraphOperators)`` for a traffic dataset by name."""
    if name not in DATASETS:
        raise ValueError(f"unknown forecast dataset {name!r}; choose from {sorted(DATASETS)}")
    _, loader, per_day = DATASETS[name]
    path = _resolve_root(name, root)
    if loader == "metr_la":
        sensors = T.load_metr_la(path, download_speed=download)
    elif loader == "pems_bay":
        sensors = T.load_pems_bay(path, download_speed=download)
    elif loader == "los_loop":
        sensors = T.load_los_loop(path)
    elif loader == "sz_taxi":
        sensors = T.load_sz_taxi(path)
    else:
        sensors = T.metr_la_with_los_loop_speeds(path, path.parent / "LosLoop")
    if sensors.speed is None:
        raise FileNotFoundError(f"{name}: the speed file is not in {path}; pass --download to fetch it")
    data = T.SlidingWindowDataset(sensors.speed, seq_len, horizon, zero_is_missing=True, time_of_day=per_day)
    return data, sensors.operators()


def build_forecast_model(name: str, in_feats: int, out_feats: int, hidden: int, num_layers: int, K: int):
    if name not in MODELS:
        raise ValueError(f"unknown forecast model {name!r}; choose from {MODELS}")
    if name == "dcrnn":
        return T.DCRNN(in_feats, out_feats, hidden, num_layers, K=K)
    return T.GCRN(in_feats, out_feats, hidden, num_layers, cell=name.split("-")[1], K=K)


def masked_metrics(pred: torch.Tensor, true: torch.Tensor) -> dict:
    """MAE, RMSE and MAPE (%) per horizon step over non-zero targets; pred/true [B, H, N, F]."""
    mask = true != 0
    out = {"mae": [], "rmse": [], "mape": []}
    for h in range(true.shape[1]):
        m = mask[:, h]
        if not bool(m.any()):
            for key in out:
                out[key].append(float("nan"))
            continue
        err = (pred[:, h] - true[:, h])[m]
        out["mae"].append(float(err.abs().mean()))
        out["rmse"].append(float(err.pow(2).mean().sqrt()))
        out["mape"].append(float((err.abs() / true[:, h][m].abs()).mean() * 100))
    return out


def _masked_mae_loss(pred, true):
    mask = (true != 0).to(pred.dtype)
    mask = mask / mask.mean().clamp(min=1e-8)
    return ((pred - true).abs() * mask).mean()


def _teacher_forcing(model_name: str, iteration: int, decay: float = 2000.0) -> float:
    # DCRNN's inverse-sigmoid curriculum; GCRN decoders feed back their own predictions.
    if model_name != "dcrnn":
        return 0.0
    return decay / (decay + math.exp(min(iteration / decay, 50.0)))


@torch.no_grad()
def _predict(model, data, ops, split, batch_size, caching):
    preds, trues = [], []
    for x, y, ids in data.batches(split, batch_size):
        out = model(ops, x, data.horizon, snapshot_ids=ids if caching else None)
        preds.append(data.denormalize(out))
        trues.append(y)
    return torch.cat(preds), torch.cat(trues)


def _plot_forecast(pred, true, path, nodes: int, step: int = 0) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover
        return
    nodes = min(nodes, true.shape[2])
    fig = Figure(figsize=(9, 2.4 * nodes))
    FigureCanvasAgg(fig)
    for i in range(nodes):
        ax = fig.add_subplot(nodes, 1, i + 1)
        ax.plot(true[:, step, i, 0].numpy(), label="true", linewidth=1)
        ax.plot(pred[:, step, i, 0].numpy(), label=f"predicted (+{step + 1} step)", linewidth=1)
        ax.set_ylabel(f"node {i}")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("test window")
    fig.tight_layout()
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=90))


def train_forecast(
    model_name: str,
    data: T.SlidingWindowDataset,
    ops: T.GraphOperators,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 0.01,
    hidden: int = 64,
    num_layers: int = 2,
    K: int = 2,
    caching: bool = True,
    seed: int = 0,
    out_dir=None,
    resume: bool = False,
    progress: bool = True,
    plot: bool = True,
    max_batches: int | None = None,
    plot_nodes: int = 3,
) -> dict:
    """Trains and evaluates a forecasting model; returns the final metrics dict."""
    torch.manual_seed(seed)
    model = build_forecast_model(model_name, data.in_feats, data.out_feats, hidden, num_layers, K)
    model.set_caching(caching)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out_dir = None if out_dir is None else Path(out_dir)
    log = MetricsLog(out_dir)
    start_epoch, iteration, best_val = 0, 0, math.inf
    gen = torch.Generator().manual_seed(seed)
    if resume and out_dir is not None and (out_dir / LAST_CHECKPOINT).is_file():
        state = load_checkpoint(out_dir / LAST_CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, iteration, best_val = int(state["epoch"]), int(state["iteration"]), float(state["best_val"])
        gen.set_state(state["generator"])
        log.load()
        log.truncate(lambda row: row.get("epoch", 0) <= start_epoch)
    batches_per_epoch = -(-data.num_windows("train") // batch_size)
    if max_batches is not None:
        batches_per_epoch = min(batches_per_epoch, max_batches)
    bar = ProgressBar(epochs * batches_per_epoch, desc=f"forecast {model_name}", enabled=progress, initial=start_epoch * batches_per_epoch, unit="batch")
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        t0, total, count = time.perf_counter(), 0.0, 0
        for b, (x, y, ids) in enumerate(data.batches("train", batch_size, shuffle=True, generator=gen)):
            if b >= batches_per_epoch:
                break
            tf = _teacher_forcing(model_name, iteration)
            out = model(ops, x, data.horizon, targets=data.normalize_targets(y), teacher_forcing=tf,
                        snapshot_ids=ids if caching else None, generator=gen)
            loss = _masked_mae_loss(data.denormalize(out), y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            iteration += 1
            total, count = total + float(loss.detach()) * x.shape[0], count + x.shape[0]
            bar.update(1, loss=float(loss.detach()), epoch=epoch)
        epoch_time = time.perf_counter() - t0
        model.eval()
        val_mae = float("nan")
        if data.num_windows("val"):
            pred, true = _predict(model, data, ops, "val", batch_size, caching)
            val_mae = float(torch.tensor(masked_metrics(pred, true)["mae"]).nanmean())
        log.log(epoch=epoch, train_loss=total / max(count, 1), val_mae=val_mae, epoch_time_s=epoch_time)
        log.flush()
        if out_dir is not None:
            if val_mae < best_val or math.isnan(best_val):
                best_val = val_mae
                save_checkpoint(out_dir / BEST_MODEL, {"model": model.state_dict(), "epoch": epoch})
            save_checkpoint(out_dir / LAST_CHECKPOINT, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                                                         "iteration": iteration, "best_val": best_val, "generator": gen.get_state()})
    bar.close()
    pred, true = _predict(model, data, ops, "test", batch_size, caching)
    per_h = masked_metrics(pred, true)
    metrics = {
        "model": model_name,
        "caching": caching,
        "epochs": epochs,
        "test_mae": float(torch.tensor(per_h["mae"]).nanmean()),
        "test_rmse": float(torch.tensor(per_h["rmse"]).nanmean()),
        "test_mape": float(torch.tensor(per_h["mape"]).nanmean()),
        "per_horizon": per_h,
        "epoch_time_s": log.column("epoch_time_s"),
        "cache_hits": model.cache_store.hits,
        "cache_misses": model.cache_store.misses,
    }
    if out_dir is not None:
        import json

        from .checkpoint import atomic_write_text

        atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=1))
        if plot:
            plot_learning_curves(log.rows, out_dir / "learning_curves.png", title=f"{model_name} forecasting")
            _plot_forecast(pred, true, out_dir / "forecast.png", plot_nodes)
    return metrics


def run_from_args(args) -> int:
    from ..errors import UsageError

    model_name = (args.model or "gcrn-lstm").lower()
    if model_name not in MODELS:
        raise UsageError(f"--model {model_name}: forecasting supports {', '.join(MODELS)}")
    dataset_name = (args.dataset or "metr-la-losloop").lower()
    for name in ("seq_len", "horizon", "cheb_k"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive int, got {getattr(args, name)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        data, ops = load_forecast_dataset(dataset_name, args.root, args.download, args.seq_len, args.horizon)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"--dataset {dataset_name}: {str(err).splitlines()[0]}") from None
    out = args.out or f"runs/forecast-{dataset_name}-{model_name}"
    metrics = train_forecast(
        model_name, data, ops, epochs=args.epochs or 5, batch_size=args.batch_size or 64, lr=args.lr or 0.01,
        hidden=args.hidden or 64, num_layers=args.num_layers or 2, K=args.cheb_k, caching=not args.no_cache,
        seed=args.seed, out_dir=out, resume=args.resume, progress=not args.no_progress, plot=not args.no_plot,
        max_batches=args.max_batches, plot_nodes=args.plot_nodes,
    )
    mae = " ".join(f"{v:.3f}" for v in metrics["per_horizon"]["mae"])
    print(f"{model_name} on {dataset_name}: test MAE {metrics['test_mae']:.3f}  RMSE {metrics['test_rmse']:.3f}  "
          f"MAPE {metrics['test_mape']:.2f}%  (MAE per horizon: {mae})  -> {out}")
    return 0
