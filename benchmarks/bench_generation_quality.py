"""Generation quality: BiGG against Erdős–Rényi and GraphRNN-S on the GraphRNN/GRAN benchmarks.

For every dataset: BiGG is trained on GRAN's training split for ``--bigg-budget`` seconds
(resumable run folder under ``--work-dir``), GraphRNN-S for ``--graphrnn-budget`` seconds,
Erdős–Rényi is fitted in closed form; each generates ``--num-samples`` graphs, which are compared
with the test split by MMD^2 under both kernels (Gaussian-TV of GRAN, Gaussian-EMD of GraphRNN)
and, on lobster, the validity error. Prints the tables in the paper's layout and the issue's bars:

* lobster: validity error <= 10%, degree and orbit MMD at least 10x below Erdős–Rényi;
* grid: all four MMDs at least 10x below Erdős–Rényi.

``--budget-clock cpu`` counts the BiGG budget in CPU seconds of this process (all its threads)
instead of wall-clock seconds: on a shared, oversubscribed machine wall time says little about
how much training happened. Training then runs in resumable chunks until the CPU budget or
``--max-wall`` seconds are used up, and the JSON records both clocks.

Writes ``benchmarks/results/generation_quality.json`` (+ ``.csv`` and the tables).

    python benchmarks/bench_generation_quality.py --datasets lobster,grid --bigg-budget 1800
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from gnnkit.generative import pipeline as P
from gnnkit.generative.baselines import ErdosRenyi, GraphRNNS, train_graphrnn_s
from gnnkit.generative.datasets import load_generation_dataset
from gnnkit.generative.metrics import KERNELS

BARS = {"lobster": ("degree", "orbit"), "grid": ("degree", "clustering", "orbit", "spectral")}


def check_bars(name: str, results: dict, method: str) -> list[dict]:
    """One row per bar: what was required, what was measured, and whether it holds."""
    rows = []
    er, ours = results.get(P.METHOD_LABELS["er"]), results.get(method)
    if ours is None or er is None:
        return rows
    for kernel in KERNELS:
        for metric in BARS.get(name, ()):
            mine, base = ours["kernels"][kernel][metric], er["kernels"][kernel][metric]
            ratio = base / mine if mine > 0 else float("inf")
            rows.append({"dataset": name, "kernel": kernel, "bar": f"{metric} MMD >= 10x below ER",
                         "measured": f"{mine:.3g} vs ER {base:.3g} ({ratio:.1f}x)", "ok": ratio >= 10.0})
    if name == "lobster":
        err = ours["lobster_error"]
        rows.append({"dataset": name, "kernel": "-", "bar": "lobster validity error <= 10%",
                     "measured": f"{100 * err:.1f}%", "ok": err <= 0.10})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="lobster,grid")
    parser.add_argument("--bigg-budget", type=float, default=1800.0, help="BiGG training seconds per dataset")
    parser.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                        help="count --bigg-budget in wall-clock or process CPU seconds")
    parser.add_argument("--max-wall", type=float, default=None,
                        help="with --budget-clock cpu: stop this invocation's training after this many wall seconds")
    parser.add_argument("--eval-partial", action="store_true",
                        help="with --budget-clock cpu: evaluate even if the CPU budget is not used up yet")
    parser.add_argument("--node-order", default=None, help="BiGG node order (dfs, bfs, given); default the model's")
    parser.add_argument("--graphrnn-budget", type=float, default=300.0, help="GraphRNN-S training seconds per dataset")
    parser.add_argument("--embed-dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                        help="cosine: decay to lr * --lr-final-factor over the BiGG budget")
    parser.add_argument("--lr-final-factor", type=float, default=0.02)
    parser.add_argument("--lr-warmup", type=float, default=0.0,
                        help="linear learning-rate warm-up over this fraction of the BiGG budget")
    parser.add_argument("--grad-clip", type=float, default=5.0, help="gradient-norm clipping of BiGG steps")
    parser.add_argument("--validate-every", type=int, default=0,
                        help="BiGG: keep the weights of the lowest loss on GRAN's validation split, "
                             "measured every this many steps (0: keep the last weights)")
    parser.add_argument("--num-samples", type=int, default=64, help="generated graphs per method")
    parser.add_argument("--work-dir", default="runs/bench_generation", help="BiGG run folders (resumable)")
    parser.add_argument("--resume", action="store_true", help="continue BiGG runs already in --work-dir")
    parser.add_argument("--skip-bigg", action="store_true", help="baselines only")
    parser.add_argument("--skip-graphrnn", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--shuffle-seed", type=int, default=None,
                        help="shuffle before GRAN's 80/20 split (GRAN's optional shuffle; default none, as its "
                             "released runner): train and test then span the same sizes")
    parser.add_argument("--out", default="benchmarks/results/generation_quality")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # before the thread pool exists: its workers inherit the flag
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    results, timings, bars = {}, {}, []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        data = load_generation_dataset(name, root=args.data_root, shuffle_seed=args.shuffle_seed)
        print(f"== {name}: {data.summary()}", flush=True)
        methods, timing = {}, {}
        methods[P.METHOD_LABELS["er"]] = ErdosRenyi().fit(data.train)
        if not args.skip_graphrnn:
            started = time.perf_counter()
            rnn = GraphRNNS.for_graphs(data.train)
            history = train_graphrnn_s(rnn, data.train, time_budget_s=args.graphrnn_budget, progress=False,
                                       seed=args.seed)
            timing["graphrnn_s_train_s"] = time.perf_counter() - started
            timing["graphrnn_s_epochs"] = len(history)
            timing["graphrnn_s_final_loss"] = history[-1]["loss"] if history else None
            methods[P.METHOD_LABELS["graphrnn_s"]] = rnn
        if not args.skip_bigg:
            run_dir = Path(args.work_dir) / f"{data.name}_bigg"
            config = {"embed_dim": args.embed_dim}
            if args.node_order:
                config["node_order"] = args.node_order
            bigg_options = {"grad_clip": args.grad_clip, "lr_schedule": args.lr_schedule,
                            "lr_final_factor": args.lr_final_factor}
            if args.lr_warmup:
                bigg_options["lr_warmup"] = args.lr_warmup
            if args.validate_every:
                bigg_options.update(validate=True, validate_every=args.validate_every)
            options = dict(config=config, batch_size=args.batch_size, lr=args.lr,
                           progress=False, root=args.data_root, shuffle_seed=args.shuffle_seed,
                           bigg_options=bigg_options)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if args.budget_clock == "wall":
                P.train_model("bigg", data.name, run_dir, time_budget_s=args.bigg_budget, resume=args.resume, **options)
            else:
                # the CPU budget is cumulative over resumed invocations (the checkpoint carries it),
                # so a long run is split into separate short invocations holding the shared lock
                P.train_model("bigg", data.name, run_dir, cpu_budget_s=args.bigg_budget,
                              time_budget_s=args.max_wall, resume=args.resume, **options)
                used = json.loads((run_dir / "history.json").read_text())[-1]["cpu_s"]
                print(f"  BiGG {data.name}: {used:.0f} of {args.bigg_budget:.0f} CPU s used in total "
                      f"({time.process_time() - cpu0:.0f} CPU s, {time.perf_counter() - wall0:.0f} wall s here)",
                      flush=True)
                if used < args.bigg_budget and not args.eval_partial:
                    print("  CPU budget not used up: run again with --resume (evaluation skipped)")
                    continue
            history = json.loads((run_dir / "history.json").read_text())
            timing["bigg_train_cpu_s"] = time.process_time() - cpu0
            timing["bigg_train_wall_s"] = time.perf_counter() - wall0
            timing["bigg_train_elapsed_s_total"] = history[-1]["elapsed_s"] if history else None
            timing["bigg_train_cpu_s_total"] = history[-1].get("cpu_s") if history else None
            timing["load_average_after_training"] = os.getloadavg()
            timing["bigg_steps"] = len(history)
            timing["bigg_first_loss"] = history[0]["loss"] if history else None
            timing["bigg_final_loss"] = history[-1]["loss"] if history else None
            timing["bigg_best_step"] = history[-1].get("best_step") if history else None
            timing["bigg_best_val_loss"] = history[-1].get("best_val_loss") if history else None
            timing["bigg_options"] = bigg_options
            methods[P.METHOD_LABELS["bigg"]] = run_dir
        results[data.name] = P.compare_methods(data.name, methods, num_samples=args.num_samples, seed=args.seed,
                                               progress=False, data=data)
        timings[data.name] = timing
        bars += check_bars(data.name, results[data.name], P.METHOD_LABELS["bigg"])
        print(json.dumps(timing), flush=True)

    if not results:
        print("nothing evaluated yet; results not written")
        return 0
    tables = {k: P.format_table(results, k) for k in KERNELS}
    for kernel, table in tables.items():
        print(table + "\n")
    if bars:
        print("Bars (issue 6):")
        for row in bars:
            print(f"  [{'ok' if row['ok'] else 'FAIL'}] {row['dataset']:8s} {row['kernel']:13s} {row['bar']:32s} {row['measured']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    P.save_results(results, out)
    meta = {"args": vars(args), "timings": timings, "bars": bars, "tables": tables, "torch": torch.__version__}
    Path(f"{out}_meta.json").write_text(json.dumps(meta, indent=2, default=float))
    print(f"wrote {out}.json, {out}.csv, {out}_meta.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
