"""``gnnkit generate``: graph generation (BiGG and baselines). Only parses arguments and calls
:mod:`gnnkit.generative.pipeline`.

Actions::

    gnnkit generate train    --dataset lobster --model bigg --out runs/lobster-bigg --time-budget 1800
    gnnkit generate sample   --run runs/lobster-bigg --num-samples 100 --out samples.npz   (+ samples.png)
    gnnkit generate eval     --dataset lobster,grid --run BiGG=runs/lobster-bigg --run BiGG=runs/grid-bigg
    gnnkit generate complete --run runs/lobster-bigg --partial part.txt --num-nodes 60 --out done.npz
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

from . import UsageError
from ._argtypes import bounded_float as _number, non_negative_int as _non_negative_int, positive_float as _positive_float, positive_int as _positive_int

_MODELS = ("bigg", "graphrnn-s", "er")
_KERNEL_CHOICES = ("both", "gaussian_tv", "gaussian_emd")


def _labelled(text: str) -> tuple[str, str]:
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label, value


def _one_line_error(parser: argparse.ArgumentParser, message: str):
    """argparse prints the usage block before an error; the command promises one line."""
    print(f"{parser.prog}: error: {message} (see '{parser.prog} --help')", file=sys.stderr)
    sys.exit(2)


def _common(parser, data: bool = True) -> None:
    parser.error = types.MethodType(_one_line_error, parser)
    if data:
        parser.add_argument("--data-root", help="folder holding DD/ and FIRSTMM_DB/ TU files (protein, point_cloud; "
                            "default $GNNKIT_DATA or ~/.gnnkit/data)")
        parser.add_argument("--shuffle-seed", type=_non_negative_int, help="shuffle before GRAN's 80/20 split with "
                            "this seed (default: no shuffle, as GRAN's released runner)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "generate",
        help="graph generation: train BiGG / baselines, sample, evaluate MMDs, complete graphs",
        description="Graph generation with BiGG and baselines (Erdos-Renyi, GraphRNN-S) on the GraphRNN/GRAN "
        "benchmarks (grid, lobster, protein, point_cloud), evaluated by MMD with the Gaussian-TV (GRAN) and "
        "Gaussian-EMD (GraphRNN) kernels.",
    )
    parser.error = types.MethodType(_one_line_error, parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser("train", help="train a model on a dataset's training split into a run folder")
    _common(train)
    train.add_argument("--dataset", required=True, help="grid, lobster, protein or point_cloud")
    train.add_argument("--model", default="bigg", help="bigg (default), graphrnn-s or er")
    train.add_argument("--out", required=True, help="run folder (run.json, train_state.pt, model.pt, history.json)")
    train.add_argument("--epochs", type=_positive_int, help="training epochs")
    train.add_argument("--time-budget", type=_positive_float, help="stop training after this many seconds")
    train.add_argument("--batch-size", type=_positive_int, help="graphs per step")
    train.add_argument("--lr", type=_positive_float, help="learning rate")
    train.add_argument("--lr-schedule", choices=("constant", "cosine"),
                       help="BiGG: cosine decays the learning rate to lr * 0.02 over the epochs / time budget")
    train.add_argument("--lr-warmup", type=_number(0, 1, "a fraction in [0, 1)", high_open=True),
                       help="BiGG: linear learning-rate warm-up over this fraction of the epochs / budget")
    train.add_argument("--grad-clip", type=_positive_float, help="BiGG: gradient-norm clipping (default 5)")
    train.add_argument("--adam-beta2", type=_number(0, 1, "a decay rate in [0, 1)", high_open=True),
                       help="BiGG: Adam's second-moment decay (default 0.999; 0.95 fits a fixed set faster)")
    train.add_argument("--node-order", choices=("dfs", "bfs", "dfs_min_degree", "bfs_min_degree", "given"),
                       help="BiGG node order (default dfs: from the highest-degree node, as GRAN)")
    train.add_argument("--validate-every", type=_positive_int,
                       help="BiGG: keep the weights of the lowest loss on the validation split, measured every "
                            "this many steps")
    train.add_argument("--embed-dim", type=_positive_int, help="BiGG state size (default 256)")
    train.add_argument("--hidden-size", type=_positive_int, help="GraphRNN-S GRU size (default 128)")
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    train.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt")

    sample = actions.add_parser("sample", help="sample graphs from a trained run")
    _common(sample, data=False)
    sample.add_argument("--run", required=True, help="run folder written by 'generate train'")
    sample.add_argument("--num-samples", type=_positive_int, default=16, help="number of graphs (default 16)")
    sample.add_argument("--num-nodes", type=_positive_int, help="nodes per graph (default: drawn from training sizes)")
    sample.add_argument("--out", required=True, help="output .npz of graphs (a PNG is written next to it)")
    sample.add_argument("--no-png", action="store_true", help="skip the PNG of samples next to training graphs")
    sample.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")

    evaluate = actions.add_parser("eval", help="MMD comparison table of baselines, runs and sample files")
    _common(evaluate)
    evaluate.add_argument("--dataset", required=True, help="comma-separated datasets, e.g. grid,lobster")
    evaluate.add_argument("--run", action="append", type=_labelled, default=[], metavar="LABEL=RUN_DIR",
                          help="a trained run (used for the dataset it was trained on); repeatable")
    evaluate.add_argument("--samples", action="append", type=_labelled, default=[], metavar="LABEL=FILE.npz",
                          help="graphs from 'generate sample' (single dataset only); repeatable")
    evaluate.add_argument("--baselines", default="er,graphrnn-s",
                          help="comma-separated baselines fitted on the fly: er, graphrnn-s, or none (default both)")
    evaluate.add_argument("--baseline-budget", type=_positive_float, default=60.0,
                          help="GraphRNN-S training seconds per dataset (default 60)")
    evaluate.add_argument("--num-samples", type=_positive_int, help="generated graphs per method (default: test size)")
    evaluate.add_argument("--kernel", default="both", choices=_KERNEL_CHOICES, help="MMD kernel(s) (default both)")
    evaluate.add_argument("--out", help="prefix of the results files (default results/generate)")
    evaluate.add_argument("--no-png", action="store_true", help="skip PNGs of samples next to training graphs")

    complete = actions.add_parser("complete", help="complete a partial graph with a trained run")
    _common(complete, data=False)
    complete.add_argument("--run", required=True, help="run folder written by 'generate train'")
    complete.add_argument("--partial", required=True, help="partial graph: edge list 'u v' per line or a .npz")
    complete.add_argument("--partial-nodes", type=_positive_int, help="nodes of the partial graph (edge list)")
    complete.add_argument("--num-nodes", type=_positive_int, help="nodes of the completed graph")
    complete.add_argument("--out", required=True, help="output .npz (a PNG is written next to it)")
    complete.add_argument("--no-png", action="store_true", help="skip the PNG")

    parser.set_defaults(func=run)
    return parser


def _split_names(text: str, what: str, allowed) -> list[str]:
    names = [t.strip().lower().replace("-", "_") for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise UsageError(f"{what}: unknown {', '.join(bad)}; expected {', '.join(allowed)}")
    return names


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def run(args) -> int:
    if args.action is None:
        raise UsageError("expected an action: train, sample, eval or complete")
    from gnnkit.generative import pipeline
    from gnnkit.generative.datasets import GENERATION_DATASETS

    progress = not args.no_progress
    try:
        if args.action == "train":
            # subnormal floats from saturated gates slow training steps several-fold; the flag must be
            # set before torch's intra-op threads exist, which inherit it only when they are created
            import torch

            torch.set_flush_denormal(True)
            model = args.model.lower().replace("-", "_")
            if model not in pipeline.MODELS:
                raise UsageError(f"--model: unknown {args.model!r}; expected {', '.join(_MODELS)}")
            _split_names(args.dataset, "--dataset", GENERATION_DATASETS + ("dd", "firstmm_db"))
            if model != "er" and args.epochs is None and args.time_budget is None:
                raise UsageError("--epochs/--time-budget: give at least one for a trained model")
            config = {}
            if args.embed_dim is not None:
                if model != "bigg":
                    raise UsageError("--embed-dim: only for --model bigg")
                config["embed_dim"] = args.embed_dim
            if args.node_order is not None:
                if model != "bigg":
                    raise UsageError("--node-order: only for --model bigg")
                config["node_order"] = args.node_order
            if args.hidden_size is not None:
                if model != "graphrnn_s":
                    raise UsageError("--hidden-size: only for --model graphrnn-s")
                config["hidden_size"] = args.hidden_size
            bigg_options = {}
            if args.lr_schedule is not None:
                bigg_options["lr_schedule"] = args.lr_schedule
            if args.grad_clip is not None:
                bigg_options["grad_clip"] = args.grad_clip
            if args.lr_warmup is not None:
                bigg_options["lr_warmup"] = args.lr_warmup
            if args.adam_beta2 is not None:
                bigg_options["adam_betas"] = (0.9, args.adam_beta2)
            if args.validate_every is not None:
                bigg_options.update(validate=True, validate_every=args.validate_every)
            if bigg_options and model != "bigg":
                raise UsageError("--lr-schedule/--lr-warmup/--grad-clip/--adam-beta2/--validate-every: only for --model bigg")
            info = pipeline.train_model(model, args.dataset, args.out, config=config, epochs=args.epochs,
                                        time_budget_s=args.time_budget, batch_size=args.batch_size, lr=args.lr,
                                        resume=args.resume, progress=progress, root=args.data_root,
                                        shuffle_seed=args.shuffle_seed, device=args.device,
                                        bigg_options=bigg_options or None)
            print(f"trained {info['model']} on {info['dataset']} in {info['train_seconds']:.1f} s -> {args.out}")
            return 0
        if args.action == "sample":
            model, info, data = pipeline.load_run(args.run, device=args.device)
            graphs = pipeline.sample_graphs(model, args.num_samples, num_nodes=args.num_nodes, seed=args.seed,
                                            progress=progress)
            path = pipeline.save_graphs(graphs, args.out)
            print(f"wrote {len(graphs)} graphs to {path}")
            if not args.no_png:
                png = pipeline.draw_graphs_png(graphs, data.train, Path(args.out).with_suffix(".png"),
                                               title=f"{info['model']} on {info['dataset']}: generated (top) vs training (bottom)")
                print(f"wrote {png}")
            return 0
        if args.action == "eval":
            datasets = _split_names(args.dataset, "--dataset", GENERATION_DATASETS)
            baselines = [] if args.baselines.strip().lower() == "none" else _split_names(
                args.baselines, "--baselines", ("er", "graphrnn_s"))
            if args.samples and len(datasets) != 1:
                raise UsageError("--samples: needs exactly one --dataset")
            if not baselines and not args.run and not args.samples:
                raise UsageError("nothing to evaluate: give --run, --samples or --baselines")
            kernels = ("gaussian_tv", "gaussian_emd") if args.kernel == "both" else (args.kernel,)
            out = args.out or "results/generate"
            pipeline.run_comparison(datasets, runs=args.run, samples=dict(args.samples), baselines=baselines,
                                    baseline_budget_s=args.baseline_budget, num_samples=args.num_samples,
                                    kernels=kernels, seed=args.seed, root=args.data_root,
                                    shuffle_seed=args.shuffle_seed, out_prefix=out, png=not args.no_png,
                                    progress=progress)
            print(f"wrote {out}.json, {out}.csv and {out}_<kernel>.txt")
            return 0
        if args.action == "complete":
            model, info, data = pipeline.load_run(args.run)
            partial = pipeline.read_partial_graph(args.partial, num_nodes=args.partial_nodes)
            if args.num_nodes is not None and args.num_nodes < partial.num_nodes():
                raise UsageError(f"--num-nodes: {args.num_nodes} is fewer than the partial graph's {partial.num_nodes()} nodes")
            _seed_torch(args.seed)
            graph = pipeline.complete_graph(model, partial, num_nodes=args.num_nodes)
            path = pipeline.save_graphs([graph], args.out)
            print(f"completed {partial.num_nodes()} -> {graph.num_nodes()} nodes, {graph.num_edges() // 2} edges: {path}")
            if not args.no_png:
                png = pipeline.draw_graphs_png([partial, graph], data.train, Path(args.out).with_suffix(".png"), num=2,
                                               title="partial and completed (top) vs training (bottom)")
                print(f"wrote {png}")
            return 0
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(_first_line(err)) from None
    raise UsageError(f"unknown action {args.action!r}")


def _seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
