"""``gnnkit train``: train and evaluate a model on a dataset; with no arguments, the offline
Karate-club demo. Only parses arguments and calls :mod:`gnnkit.tasks`.

The forecasting task plugs in through ``gnnkit.tasks.forecast`` when that module exists: its
``add_arguments(parser)`` adds the arguments only it needs (it must not re-add the common ones
defined here) and ``run_from_args(args)`` runs it.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import types
from pathlib import Path

from . import UsageError
from ._argtypes import bounded_float as _number, non_negative_int as _non_negative_int, positive_int as _positive_int

DEFAULT_DATASET = {"node": "KarateClub", "link": "KarateClub", "graph": "MUTAG"}
DEFAULT_MODEL = {"node": "gcn", "link": "gcn", "graph": "gin"}
SMALL_GRAPH_NODES = 5000
HEADLINE = {
    "node": ("test_acc", "val_acc", "best_epoch", "epoch_time_s", "peak_rss_mb"),
    "graph": ("test_acc", "test_acc_std", "val_acc", "best_epoch", "epoch_time_s", "peak_rss_mb"),
    "link": ("test_auc", "test_hits@10", "test_hits@50", "test_hits@100", "test_acc", "val_auc", "best_epoch",
             "epoch_time_s", "peak_rss_mb"),
}


def _forecast_module():
    try:
        return importlib.import_module("gnnkit.tasks.forecast")
    except ImportError:
        return None


def _one_line_error(parser: argparse.ArgumentParser, message: str):
    """argparse prints the usage block before an error; the command promises one line."""
    print(f"{parser.prog}: error: {message} (see '{parser.prog} --help')", file=sys.stderr)
    sys.exit(2)


def add_parser(subparsers) -> argparse.ArgumentParser:
    forecast = _forecast_module()
    tasks = ["node", "graph", "link"] + (["forecast"] if forecast is not None else [])
    parser = subparsers.add_parser(
        "train",
        help="train and evaluate a model (no arguments: the offline Karate-club demo)",
        description="Train and evaluate a model. With no arguments: GCN node classification on Zachary's karate club, "
        "offline, in seconds. Writes metrics.json, metrics_log.{csv,json}, learning_curves.png and checkpoints to --out.",
    )
    parser.error = types.MethodType(_one_line_error, parser)
    parser.add_argument("--task", choices=tasks, default="node", help="node (default), graph or link" +
                        (", forecast" if forecast is not None else ""))
    parser.add_argument("--dataset", help="dataset name (default: KarateClub for node/link, MUTAG for graph); "
                        "'gnnkit datasets' lists them")
    parser.add_argument("--model", help="gcn, gat, sage or gin (default: gcn; gin for --task graph)")
    parser.add_argument("--root", help="folder holding the dataset's raw files (default: the download cache)")
    parser.add_argument("--epochs", type=_positive_int, help="training epochs (default: the paper's)")
    parser.add_argument("--hidden", type=_positive_int, help="hidden units per layer (per head for GAT)")
    parser.add_argument("--layers", type=_positive_int, dest="num_layers", help="number of layers")
    parser.add_argument("--heads", type=_positive_int, help="attention heads (GAT)")
    parser.add_argument("--lr", type=_number(0, math.inf, "a positive number", low_open=True), help="learning rate")
    parser.add_argument("--weight-decay", type=_number(0, math.inf, "a non-negative number"), help="L2 penalty")
    parser.add_argument("--dropout", type=_number(0, 1, "a number in [0, 1)", high_open=True), help="dropout probability")
    parser.add_argument("--batch-size", type=_positive_int, help="graphs per batch (--task graph)")
    parser.add_argument("--folds", type=_positive_int, default=10, help="cross-validation folds (--task graph, default 10)")
    parser.add_argument("--fold-seed", type=_non_negative_int, help="seed of the fold shuffling (--task graph; "
                        "default: the library's fixed one)")
    parser.add_argument("--selection", choices=("fold_val_loss", "mean_val_acc", "mean_val_loss", "last"),
                        help="how each fold's test epoch is chosen from the validation curves (--task graph): "
                             "fold_val_loss (default, PyG benchmark/kernel's), mean_val_acc or mean_val_loss (one "
                             "epoch for all folds from the curve averaged over folds), last")
    parser.add_argument("--weight-ema", type=_number(0, 1, "a decay in (0, 1)", low_open=True, high_open=True),
                        help="evaluate an exponential moving average of the weights with this decay (--task graph)")
    parser.add_argument("--patience", type=_positive_int, help="stop after this many epochs without a better "
                        "validation accuracy (--task node)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="random seed of the first run (default 0)")
    parser.add_argument("--runs", type=_positive_int, default=1, help="repeat with seeds seed..seed+runs-1 and "
                        "report mean and std (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--threads", type=_positive_int, help="CPU threads for torch (default: 1 for graphs under "
                        f"{SMALL_GRAPH_NODES} nodes, where a second thread only adds synchronisation, else torch's default)")
    parser.add_argument("--download", action="store_true", help="fetch missing dataset files (checksummed)")
    parser.add_argument("--out", help="output folder (default: runs/<task>-<dataset>-<model>)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint_last.pt")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--no-plot", action="store_true", help="skip learning_curves.png")
    if forecast is not None:
        forecast.add_arguments(parser)
    parser.set_defaults(func=run, _forecast=forecast)
    return parser


def run(args) -> int:
    if args.task == "forecast":
        result = args._forecast.run_from_args(args)
        return int(result) if isinstance(result, int) else 0
    from gnnkit.tasks import summarize_runs
    from gnnkit.tasks import format_metrics, load_named_dataset, resolve_device

    dataset_name = args.dataset or DEFAULT_DATASET[args.task]
    model_name = (args.model or DEFAULT_MODEL[args.task]).lower()
    _check_model(args.task, model_name)
    try:
        resolve_device(args.device)
    except ValueError as err:
        raise UsageError(f"--device: {err}") from None
    try:
        dataset = load_named_dataset(dataset_name, root=args.root, download=args.download)
    except (ValueError, KeyError, FileNotFoundError, NotADirectoryError) as err:
        raise UsageError(f"--dataset {dataset_name}: {_first_line(err)}") from None
    _check_dataset_fits(args.task, dataset, dataset_name)
    _choose_threads(args.threads, dataset)
    out = Path(args.out) if args.out else Path("runs") / f"{args.task}-{dataset_name}-{model_name}"

    results = []
    for run_index in range(args.runs):
        run_out = out if args.runs == 1 else out / f"run{run_index}"
        try:
            results.append(_train(args, dataset, model_name, args.seed + run_index, run_out))
        except _ArgumentProblem as err:
            raise UsageError(str(err)) from None
    metrics = results[0] if args.runs == 1 else summarize_runs(results)
    if args.runs > 1:
        from gnnkit.tasks import write_metrics_json

        write_metrics_json(out, metrics)
    print(f"{args.task} task  dataset={dataset_name}  model={model_name}  runs={args.runs}  seed={args.seed}")
    print(format_metrics(metrics, HEADLINE[args.task] + (("test_acc_std",) if args.runs > 1 and args.task != "graph" else ())))
    print(f"wrote {out / 'metrics.json'}")
    return 0


class _ArgumentProblem(Exception):
    pass


def _train(args, dataset, model_name, seed, out) -> dict:
    from gnnkit import tasks
    from gnnkit.tasks import models as zoo

    common = dict(epochs=args.epochs, hidden=args.hidden, num_layers=args.num_layers, lr=args.lr,
                  weight_decay=args.weight_decay, dropout=args.dropout)
    try:
        if args.task == "node":
            zoo.node_hyperparameters(model_name, heads=args.heads, **common)
        elif args.task == "graph":
            zoo.graph_hyperparameters(model_name, batch_size=args.batch_size, **common)
        else:
            zoo.link_hyperparameters(model_name, heads=args.heads, **common)
    except ValueError as err:
        raise _ArgumentProblem(str(err)) from None
    shared = dict(seed=seed, device=args.device, out_dir=out, resume=args.resume, progress=not args.no_progress,
                  plot=not args.no_plot)
    if args.task == "node":
        return tasks.train_node_classification(dataset, model_name, heads=args.heads, patience=args.patience,
                                               **common, **shared)
    if args.task == "graph":
        if args.folds < 3:
            raise _ArgumentProblem(f"--folds must be at least 3 (train, validation and test folds), got {args.folds}")
        graph_options = {k: v for k, v in (("fold_seed", args.fold_seed), ("selection", args.selection),
                                            ("weight_ema", args.weight_ema)) if v is not None}
        return tasks.train_graph_classification(dataset, model_name, folds=args.folds, batch_size=args.batch_size,
                                                **graph_options, **common, **shared)
    return tasks.train_link_prediction(dataset, model_name, heads=args.heads, **common, **shared)


def _choose_threads(threads, dataset) -> None:
    import torch

    if threads is None:
        first = dataset[0]
        if not isinstance(first, tuple) and first.num_nodes() < SMALL_GRAPH_NODES:
            threads = 1
    if threads is not None:
        torch.set_num_threads(threads)


def _check_model(task: str, model_name: str) -> None:
    from gnnkit.tasks import models as zoo

    choices = {"node": zoo.NODE_MODELS, "graph": zoo.GRAPH_MODELS, "link": zoo.LINK_MODELS}[task]
    if model_name not in choices:
        raise UsageError(f"--model: unknown model {model_name!r} for --task {task}; expected one of {', '.join(choices)}")


def _check_dataset_fits(task: str, dataset, name: str) -> None:
    from gnnkit.graph import Graph

    first = dataset if isinstance(dataset, Graph) else dataset[0]
    is_graph_dataset = isinstance(first, tuple)
    if task == "graph" and not is_graph_dataset:
        raise UsageError(f"--dataset {name}: a single-graph dataset; --task graph needs a graph-classification dataset")
    if task in ("node", "link") and is_graph_dataset:
        raise UsageError(f"--dataset {name}: a graph-classification dataset; use --task graph")


def _first_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
