"""Pieces shared by the task loops: devices, datasets given by name, results on disk, summaries."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import torch

from .checkpoint import atomic_write_text

METRICS_JSON = "metrics.json"


def resolve_device(device) -> torch.device:
    """``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a ``torch.device``; CUDA must be available."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available; use device='cpu'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    return resolved


def load_named_dataset(dataset, root=None, download: bool = False):
    """A dataset object, loading it with :func:`gnnkit.data.load_dataset` when given by name."""
    if isinstance(dataset, str):
        from gnnkit.data import load_dataset

        return load_dataset(dataset, root=root, download=download)
    return dataset


def dataset_name(dataset) -> str:
    name = getattr(dataset, "name", None)
    return str(name) if name else type(dataset).__name__


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def write_metrics_json(out_dir, metrics: dict) -> Path:
    """Writes ``metrics`` as ``out_dir/metrics.json`` atomically (temp file, then rename)."""
    path = Path(out_dir) / METRICS_JSON
    return atomic_write_text(path, json.dumps(metrics, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (torch.device, torch.dtype, Path)):
        return str(value)
    raise TypeError(f"metrics value of type {type(value).__name__} is not JSON serialisable")


def summarize_runs(results: list[dict]) -> dict:
    """Mean and standard deviation (over runs) of every numeric metric of several runs.

    Returns ``{metric: mean, metric + '_std': std, ..., 'runs': results}``; non-numeric entries
    are taken from the first run.
    """
    if not results:
        raise ValueError("summarize_runs: results is empty; expected at least one run's metrics")
    summary: dict = {}
    for key, first in results[0].items():
        values = [r.get(key) for r in results]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            finite = [float(v) for v in values if math.isfinite(v)]
            summary[key] = statistics.fmean(finite) if finite else float("nan")
            if key.startswith(("test_", "val_", "train_")):
                summary[f"{key}_std"] = statistics.pstdev(finite) if len(finite) > 1 else 0.0
        elif not isinstance(first, (list, dict)):
            summary[key] = first
    summary["num_runs"] = len(results)
    summary["runs"] = results
    return summary


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label (0 for an empty set)."""
    if labels.numel() == 0:
        return float("nan")
    return (logits.argmax(dim=-1) == labels).float().mean().item()


def format_metrics(metrics: dict, keys=None) -> str:
    """A one-line ``key=value`` rendering of the headline metrics."""
    keys = keys or [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    parts = []
    for key in keys:
        if key not in metrics:
            continue
        value = metrics[key]
        if isinstance(value, float):
            if key.endswith("_acc") or key.endswith("_auc") or "hits@" in key or key.endswith("_acc_std"):
                parts.append(f"{key}={100 * value:.2f}%")
            else:
                parts.append(f"{key}={value:.4g}")
        else:
            parts.append(f"{key}={value}")
    return "  ".join(parts)
