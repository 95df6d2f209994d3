"""Accuracy bars of issue 3, measured with gnnkit's own task functions and the papers' settings.

* Node classification, standard public split, 10 seeds: Cora GCN >= 81.0%, GAT >= 82.5%,
  GraphSAGE >= 80.0%; CiteSeer GCN >= 70.0%.
* Graph classification, 10-fold cross-validation with model selection on a validation fold
  (PyG benchmark/kernel protocol): MUTAG GIN >= 85%, PROTEINS GIN >= 72%.

Usage:
    python benchmarks/bench_accuracy.py [--root ../shared/datasets] [--seeds 10] [--only cora-gcn,mutag-gin]
        [--json benchmarks/results/bench_accuracy.json] [--threads 1] [--grid [--fold-seeds 12345,12346]]
    python benchmarks/bench_accuracy.py --only mutag-gin --protocol NAME [--fold-seeds 12351,12352]

The MUTAG GIN figure of session 4 (weight average, mean-curve epoch selection; declared before
it was run):
    /work/one_lock.sh timeout 600 python benchmarks/bench_accuracy.py --only mutag-gin --protocol ema-meancurve
gave 86.75 / 87.81 / 84.09 / 85.09 / 85.96 on fold shufflings 12351-12355, mean 85.94 (standard
error 0.64; one thread, load 1.3-2.1). The same runs with PyG's per-fold validation-loss rule:
84.89. Its development runs (shufflings 1000-1004) are in ``mutag-gin-ema-meancurve-development``.
The check declared after that result, on 12356-12360 (``--fold-seeds 12356,12357,12358,12359,12360``):
85.03 / 89.39 / 87.13 / 79.21 / 83.51, mean 84.85 (below 85 on its own); all ten shufflings 85.40
(standard error 0.89); per-fold validation-loss selection on the same ten runs 83.32.

``--protocol NAME`` runs one of the pre-declared graph-classification protocols of
:data:`PROTOCOLS` (grid, epoch-selection rule, model options) on its fresh fold shufflings (or
``--fold-seeds``), one JSON entry per shuffling (``<key>-<NAME>-folds<seed>``, with the per-fold
test accuracies and epochs) and their mean (``<key>-<NAME>-fresh-splits``).

Prints a table (mean +- std over seeds or folds, the bar, pass/fail) and writes JSON. Each
configuration's result is appended to the JSON as soon as it finishes, so a long run can be split
with ``--only``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gnnkit.data import load_dataset  # noqa: E402
from gnnkit.tasks import train_graph_classification, train_node_classification  # noqa: E402
from gnnkit.tasks.graph import FOLD_SEED  # noqa: E402

CONFIGS = {
    # key: (task, dataset, model, bar)
    "cora-gcn": ("node", "Cora", "gcn", 0.810),
    "cora-gat": ("node", "Cora", "gat", 0.825),
    "cora-sage": ("node", "Cora", "sage", 0.800),
    "citeseer-gcn": ("node", "CiteSeer", "gcn", 0.700),
    "mutag-gin": ("graph", "MUTAG", "gin", 0.85),
    "proteins-gin": ("graph", "PROTEINS", "gin", 0.72),
}


GIN_GRID = {"hidden": (16, 32), "batch_size": (32, 128)}
# The GIN paper's own protocol for the bioinformatics sets (Xu et al. 2019, section 7): 350
# epochs, hidden {16, 32}, batch {32, 128} and dropout {0, 0.5} after the dense layer.
GIN_PAPER_GRID = {"hidden": (16, 32), "batch_size": (32, 128), "dropout": (0.0, 0.5), "epochs": 350}


# Graph-classification protocols, each declared (in this file, committed) before it was run on its
# fresh fold shufflings; the development shufflings 1000-1009 chose them, and no shuffling of
# 12345-12350 (used by the earlier protocols) or of its own fresh ones did.
PROTOCOLS = {
    # Declared 2026-11-22 12:50 UTC (commit a336bb5), before any run on 12351-12355. Development (fold seeds
    # 1000-1004, torch seed = fold seed, hidden 16 / batch 32; mean over the 5 shufflings of the
    # 10-fold test accuracy): plain GIN 85.1 with per-fold validation-loss selection, 85.2 with
    # the mean-curve rule; with the weight average (decay 0.95) 84.6 per-fold, 85.7 mean-curve
    # (shufflings 88.3/85.1/89.4/81.9/83.5), 86.6 at the last epoch (no selection; not the
    # claim). Also tried on those shufflings and not taken: GIN-eps, mean and max readouts, 5
    # layers, lr 0.003, decay 0.99 (too slow: 84.4 mean-curve), hidden 32 and batch 128.
    "ema-meancurve": {
        "text": "GIN with gnnkit's graph-classification defaults (4 GIN layers with 2-layer MLPs and batch norm, "
                "every layer's sum readout through its own linear head with dropout 0.5, Adam lr 0.01 halved every "
                "50 epochs, 100 epochs) at hidden 16 / batch 32 (a point of the GIN paper's grid; no grid search); "
                "validation and test evaluated on an exponential moving average of the weights and batch-norm "
                "statistics (decay 0.95 per optimizer step); one epoch for all 10 folds, the one with the highest "
                "validation accuracy averaged over the folds (ties: lower mean validation loss); reported: mean "
                "over folds of the test accuracy at that epoch; torch seed = fold seed",
        "grid": [{"hidden": 16, "batch_size": 32}],
        "selection": "mean_val_acc",
        "options": {"weight_ema": 0.95},
        "fresh_fold_seeds": (12351, 12352, 12353, 12354, 12355),
        # Declared 13:05 UTC after the result on 12351-12355 (85.94): five more unseen shufflings
        # as a check of that figure, reported whatever they give, apart and pooled with the first five.
        "confirmation_fold_seeds": (12356, 12357, 12358, 12359, 12360),
    },
}


def _protocol_run(key: str, dataset, model: str, name: str, fold_seed: int) -> dict:
    """One fold shuffling of the declared protocol ``name``: every grid point cross-validated, the
    point chosen by mean validation accuracy at its selected epochs (ties: lower validation loss)."""
    protocol = PROTOCOLS[name]
    candidates = []
    for point in protocol["grid"]:
        metrics = train_graph_classification(dataset, model, seed=fold_seed, fold_seed=fold_seed, progress=False,
                                             selection=protocol["selection"], **protocol["options"], **point)
        candidates.append((point, metrics))
        print(f"  {key} {name} folds {fold_seed} {point}: val_acc {100 * metrics['val_acc']:.2f}% "
              f"val_loss {metrics['val_loss']:.4f} test_acc {100 * metrics['test_acc']:.2f}% "
              f"epochs {sorted(set(metrics['best_epoch_per_fold']))}", file=sys.stderr, flush=True)
    point, metrics = min(candidates, key=lambda c: (-c[1]["val_acc"], c[1]["val_loss"]))
    return {"mean": metrics["test_acc"], "std": metrics["test_acc_std"], "per_fold": metrics["test_acc_per_fold"],
            "val_acc_mean": metrics["val_acc"], "best_epochs": metrics["best_epoch_per_fold"], "chosen": point,
            "seed": fold_seed, "fold_seed": fold_seed, "selection": protocol["selection"], "options": protocol["options"],
            "test_acc_by_selection": metrics["test_acc_by_selection"],
            "grid": [{**p, **{k: m[k] for k in ("val_acc", "val_loss", "test_acc")},
                      "test_acc_by_selection": m["test_acc_by_selection"]} for p, m in candidates],
            "protocol": f"{name}: {protocol['text']}"}


def _grid_search(key: str, dataset, model: str, seed: int, fold_seed: int, paper_grid: bool = False) -> dict:
    """10-fold CV for every point of the GIN paper's grid, the point chosen on the validation folds."""
    # The GIN paper tunes hidden size and batch size per dataset; here the grid point is chosen
    # on the validation folds, never by test accuracy.
    grid = GIN_PAPER_GRID if paper_grid else GIN_GRID
    fixed = {"epochs": grid["epochs"]} if paper_grid else {}
    candidates = []
    for hidden in grid["hidden"]:
        for batch_size in grid["batch_size"]:
            for dropout in grid.get("dropout", (None,)):
                extra = dict(fixed, dropout=dropout) if dropout is not None else fixed
                metrics = train_graph_classification(dataset, model, seed=seed, fold_seed=fold_seed, progress=False,
                                                     hidden=hidden, batch_size=batch_size, **extra)
                candidates.append(metrics)
                print(f"  {key} folds {fold_seed} hidden {hidden} batch {batch_size} dropout {dropout}: "
                      f"val_loss {metrics['val_loss']:.4f} val_acc {100 * metrics['val_acc']:.2f}% "
                      f"test_acc {100 * metrics['test_acc']:.2f}%", file=sys.stderr, flush=True)
    # Errica et al. (ICLR 2020, "A fair comparison of GNNs for graph classification") select
    # hyperparameters by mean validation accuracy; selection by validation loss is recorded too.
    by_loss = min(candidates, key=lambda m: m["val_loss"])
    metrics = max(candidates, key=lambda m: m["val_acc"])
    summary = ("hidden", "batch_size", "dropout", "epochs", "val_loss", "val_acc", "test_acc")
    return {"mean": metrics["test_acc"], "std": metrics["test_acc_std"], "per_fold": metrics["test_acc_per_fold"],
            "val_acc_mean": metrics["val_acc"], "best_epochs": metrics["best_epoch_per_fold"],
            "hidden": metrics["hidden"], "batch_size": metrics["batch_size"], "seed": seed, "fold_seed": fold_seed,
            "grid": [{k: m[k] for k in summary} for m in candidates],
            "selected_by_val_loss": {k: by_loss[k] for k in summary},
            "protocol": "10-fold CV, epoch selected by validation-fold loss; " + (
                "the GIN paper's grid (350 epochs; hidden, batch, dropout)" if paper_grid else
                "hidden/batch chosen from the GIN paper's grid") + " by mean validation accuracy (Errica et al.)"}


def run_config(key: str, root: str, seeds: int, grid: bool = False, fold_seed: int = FOLD_SEED,
               paper_grid: bool = False, protocol: str | None = None) -> dict:
    task, name, model, bar = CONFIGS[key]
    dataset = load_dataset(name, root=root)
    began = time.perf_counter()
    if task == "node":
        runs = []
        for seed in range(seeds):
            runs.append(train_node_classification(dataset, model, seed=seed, progress=False))
            print(f"  {key} seed {seed}: test_acc {100 * runs[-1]['test_acc']:.2f}% (best epoch {runs[-1]['best_epoch']})",
                  file=sys.stderr, flush=True)
        accs = [r["test_acc"] for r in runs]
        result = {"mean": statistics.fmean(accs), "std": statistics.pstdev(accs), "per_seed": accs,
                  "val_acc_mean": statistics.fmean(r["val_acc"] for r in runs),
                  "best_epochs": [r["best_epoch"] for r in runs], "protocol": f"{seeds} seeds, public split"}
    elif protocol is not None:
        result = _protocol_run(key, dataset, model, protocol, fold_seed)
    elif not grid:
        metrics = train_graph_classification(dataset, model, seed=0, progress=False)
        result = {"mean": metrics["test_acc"], "std": metrics["test_acc_std"], "per_fold": metrics["test_acc_per_fold"],
                  "val_acc_mean": metrics["val_acc"], "best_epochs": metrics["best_epoch_per_fold"],
                  "hidden": metrics["hidden"], "batch_size": metrics["batch_size"],
                  "protocol": "10-fold CV, selection by validation-fold loss, gnnkit's default hyperparameters"}
    else:
        result = _grid_search(key, dataset, model, seed=fold_seed - FOLD_SEED, fold_seed=fold_seed, paper_grid=paper_grid)
    result.update(key=key, task=task, dataset=name, model=model, bar=bar, passed=result["mean"] >= bar,
                  seconds=time.perf_counter() - began, torch=torch.__version__, threads=torch.get_num_threads(),
                  loadavg_end=os.getloadavg())
    return result


def _summarise_fresh_splits(results: dict, key: str) -> None:
    """Mean over the fold shufflings other than the default one: the confirmation run."""
    fresh = {k: r for k, r in results.items() if k.startswith(f"{key}-grid-folds")}
    if not fresh:
        return
    accs = [r["mean"] for r in fresh.values()]
    first = next(iter(fresh.values()))
    results[f"{key}-grid-fresh-splits"] = {
        "mean": statistics.fmean(accs), "std": statistics.pstdev(accs), "per_split": {k: r["mean"] for k, r in fresh.items()},
        "per_split_by_val_loss": {k: r["selected_by_val_loss"]["test_acc"] for k, r in fresh.items()},
        "bar": first["bar"], "passed": statistics.fmean(accs) >= first["bar"],
        "protocol": f"{first['protocol']}; repeated unchanged on fold shufflings no earlier choice has seen, "
                    "mean over them"}


def _summarise_protocol(results: dict, key: str, name: str) -> None:
    """Mean over the protocol's shufflings run so far (every one is reported)."""
    protocol = PROTOCOLS[name]
    sets = {"fresh-splits": protocol["fresh_fold_seeds"], "confirmation-splits": protocol.get("confirmation_fold_seeds", ()),
            "fresh-and-confirmation-splits": tuple(protocol["fresh_fold_seeds"]) + tuple(protocol.get("confirmation_fold_seeds", ()))}
    for label, fresh in sets.items():
        _summarise_protocol_set(results, key, name, label, fresh)


def _summarise_protocol_set(results: dict, key: str, name: str, label: str, fresh) -> None:
    # runs on other shufflings (e.g. the development ones, with --fold-seeds) are not averaged in
    runs = {k: r for k, r in results.items() if k.startswith(f"{key}-{name}-folds") and r["fold_seed"] in fresh}
    if not runs:
        return
    accs = [r["mean"] for r in runs.values()]
    first = next(iter(runs.values()))
    results[f"{key}-{name}-{label}"] = {
        "mean": statistics.fmean(accs), "std": statistics.pstdev(accs), "per_split": {k: r["mean"] for k, r in runs.items()},
        "declared_fold_seeds": list(fresh),
        "complete": sorted(r["fold_seed"] for r in runs.values()) == sorted(fresh),
        "bar": first["bar"], "passed": statistics.fmean(accs) >= first["bar"],
        "standard_error": statistics.stdev(accs) / len(accs) ** 0.5 if len(accs) > 1 else None,
        # what the other epoch rules would have reported on the same runs: for comparison, not the claim
        "same_runs_by_selection": {rule: statistics.fmean(r["test_acc_by_selection"][rule] for r in runs.values())
                                   for rule in first["test_acc_by_selection"]},
        "protocol": f"{first['protocol']}; run unchanged on fold shufflings no earlier choice has seen, mean over them"}


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _write_json(out: Path, results: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(CONFIGS)}")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_accuracy.json"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: these graphs are small)")
    parser.add_argument("--grid", action="store_true",
                        help="graph classification: choose hidden/batch from the GIN paper's grid on the validation folds")
    parser.add_argument("--fold-seeds", default=None, type=_int_list,
                        help="with --grid or --protocol: comma-separated fold shufflings to run on (one JSON entry each; "
                             f"default: {FOLD_SEED}, PyG's, for --grid; the protocol's declared fresh ones for --protocol)")
    parser.add_argument("--paper-grid", action="store_true",
                        help="with --grid: the GIN paper's full protocol (350 epochs, dropout {0, 0.5} in the grid)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS),
                        help="graph classification: run a pre-declared protocol (PROTOCOLS) on its fresh fold shufflings")
    args = parser.parse_args(argv)
    if args.protocol and args.grid:
        parser.error("--protocol and --grid are separate protocols; give one")
    torch.set_num_threads(args.threads)
    keys = args.only.split(",") if args.only else list(CONFIGS)
    unknown = [k for k in keys if k not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    out = Path(args.json)
    results = json.loads(out.read_text()) if out.is_file() else {}
    print(f"{'config':<14} {'accuracy':>16} {'bar':>7}  pass  protocol")
    fold_seeds = (args.fold_seeds or [FOLD_SEED]) if args.grid else [FOLD_SEED]
    if args.protocol:
        fold_seeds = args.fold_seeds or list(PROTOCOLS[args.protocol]["fresh_fold_seeds"])
        if any(CONFIGS[k][0] != "graph" for k in keys):
            parser.error("--protocol applies to graph-classification configurations only (--only mutag-gin,...)")
    for key, fold_seed in [(k, f) for k in keys for f in fold_seeds]:
        result = run_config(key, args.root, args.seeds, args.grid, fold_seed, args.paper_grid, args.protocol)
        if args.protocol:
            base = key
            key = f"{base}-{args.protocol}-folds{fold_seed}"
            results[key] = result
            _summarise_protocol(results, base, args.protocol)
        elif args.grid and result["task"] == "graph":
            base = f"{key}-paper" if args.paper_grid else key
            key = f"{base}-grid" if fold_seed == FOLD_SEED else f"{base}-grid-folds{fold_seed}"
        results[key] = result
        if args.grid and result["task"] == "graph":
            _summarise_fresh_splits(results, base)
        _write_json(out, results)
        print(f"{key:<14} {100 * result['mean']:>8.2f} +- {100 * result['std']:4.2f} {100 * result['bar']:>6.1f}%  "
              f"{'yes' if result['passed'] else 'NO ':<4}  {result['protocol']} ({result['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
