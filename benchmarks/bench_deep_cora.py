"""Depth on Cora: ResGCN and DeeperGCN (res+) at 28 and 56 layers against a 2-layer GCN, and the
PlainGCN of the same depth (no skip connections), which stops learning.

Public Planetoid split (140 train / 500 val / 1000 test). Every model trains with Adam for up to
``--epochs`` epochs, stopping early after ``--patience`` epochs without a better validation
accuracy; the reported test accuracy is the one at the epoch of best validation accuracy, averaged
over ``--seeds`` (hyperparameters are chosen on the mean validation accuracy, never on test). Learning curves (validation accuracy per epoch) go to
``benchmarks/results/deep_cora_curves.png``, numbers to ``benchmarks/results/deep_cora.json``.

    python benchmarks/bench_deep_cora.py --root /work/shared/datasets --epochs 200
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the machine is shared: idle threads sleep

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gnnkit as gk  # noqa: E402
from gnnkit.data import load_dataset  # noqa: E402
from gnnkit.nn.deep import DeepGCN, DeeperGCN, PlainGCN, ResGCN  # noqa: E402
from gnnkit.nn.deep.models import GCNLayer  # noqa: E402
from gnnkit.nn.dropout import functional_dropout  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class GCN2(torch.nn.Module):
    """The 2-layer GCN of Kipf & Welling (hidden 16... here ``hidden``), the shallow baseline."""

    def __init__(self, in_feats, hidden, out_feats, dropout=0.5):
        super().__init__()
        self.conv1, self.conv2, self.dropout = GCNLayer(in_feats, hidden), GCNLayer(hidden, out_feats), dropout

    def forward(self, g, x):
        x = functional_dropout(x, self.dropout, self.training)
        x = functional_dropout(torch.relu(self.conv1(g, x)), self.dropout, self.training)
        return self.conv2(g, x)


def build(name: str, depth: int, in_feats: int, num_classes: int, args) -> torch.nn.Module:
    if name == "GCN":
        return GCN2(in_feats, args.gcn_hidden, num_classes)
    common = dict(dropout=args.dropout, input_dropout=args.input_dropout, norm=args.norm, encoder=args.ends, decoder=args.ends, encoder_norm=args.encoder_norm)
    scale = args.residual_scale
    if scale not in ("none", "rezero", "inv_sqrt_depth"):
        scale = float(scale)
    residual = dict(common, residual_scale=None if scale == "none" else scale)
    if name == "ResGCN":
        return ResGCN(in_feats, args.hidden, num_classes, depth, **residual)
    if name == "ResPlusGCN":  # res+ (pre-activation) blocks around the GCN convolution
        return DeepGCN(in_feats, args.hidden, num_classes, depth, block="res+", conv="gcn", **residual)
    if name == "PlainGCN":  # no skip connection, so no residual scale either
        return PlainGCN(in_feats, args.hidden, num_classes, depth, **common)
    if name == "DeeperGCN":
        conv_kwargs = {"num_layers": args.gen_mlp_layers, "msg_norm": args.msg_norm, "learn_msg_scale": args.msg_norm}
        if args.aggr == "softmax":
            conv_kwargs["beta"] = args.beta  # initial (or, with --fixed-aggr, fixed) inverse temperature
        return DeeperGCN(in_feats, args.hidden, num_classes, depth, aggr=args.aggr, learn=not args.fixed_aggr, conv_kwargs=conv_kwargs, **residual)
    raise ValueError(name)


def param_groups(model, weight_decay: float, mode: str):
    """``mode='all'``: weight decay on every parameter; ``'matrices'``: only on weight matrices (no
    decay on biases, norm affines, residual scales alpha, softmax beta / power p: decaying a ReZero
    alpha or a temperature pulls it towards 0 for no reason); ``'first'``: only on the first layer's
    weight matrix (Kipf & Welling's recipe)."""
    if mode == "all":
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    decay, rest = [], []
    named = list(model.named_parameters())
    first_matrix = next(p for _, p in named if p.dim() >= 2)
    for _, p in named:
        wanted = p is first_matrix if mode == "first" else p.dim() >= 2
        (decay if wanted else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def residual_alphas(model) -> list[float]:
    """The learned ReZero scales of the blocks (empty when the model has none)."""
    return [float(m.alpha.detach()) for m in model.modules() if getattr(m, "alpha", None) is not None and isinstance(m.alpha, torch.nn.Parameter)]


def _scaled_blocks(model) -> list:
    """The residual blocks whose branch is scaled (a ReZero alpha or a fixed float scale)."""
    return [m for m in model.modules() if isinstance(getattr(m, "alpha", None), torch.nn.Parameter) or isinstance(getattr(m, "residual_scale", None), float)]


@torch.no_grad()
def accuracy_without_blocks(model, g, feat, label, masks) -> list[float]:
    """Accuracies of the same weights with every residual scale (ReZero alpha or fixed alpha) set to
    0, i.e. with the residual blocks removed: how much of the accuracy the deep stack itself carries."""
    blocks = _scaled_blocks(model)
    saved = [(m.alpha.detach().clone() if isinstance(m.alpha, torch.nn.Parameter) else None, m.residual_scale) for m in blocks]
    for m in blocks:
        if isinstance(m.alpha, torch.nn.Parameter):
            m.alpha.zero_()
        else:
            m.residual_scale = 0.0
    pred = model(g, feat).argmax(1)
    for m, (alpha, scale) in zip(blocks, saved):
        if alpha is not None:
            m.alpha.copy_(alpha)
        m.residual_scale = scale
    return [float((pred[m] == label[m]).float().mean()) for m in masks]


def train(model, g, feat, label, masks, epochs: int, lr: float, weight_decay: float, patience: int = 0, drop_edge: float = 0.0, wd_mode: str = "all", clip: float = 0.0, warmup: int = 0):
    """Full-batch training; ``drop_edge`` > 0 trains every epoch on a graph with that fraction of the
    edges removed at random (DropEdge, Rong et al. 2020), evaluating on the full graph. ``clip`` > 0
    clips the gradient's global norm; ``warmup`` > 0 ramps the learning rate linearly over that many
    epochs. The model kept is the one at the epoch of best validation accuracy."""
    opt = torch.optim.Adam(param_groups(model, weight_decay, wd_mode), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: min(1.0, (e + 1) / warmup)) if warmup > 0 else None
    train_mask, val_mask, test_mask = masks
    curve, best, best_alphas, blocks_off = [], (-1.0, 0.0, 0), [], None
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        model.train()
        opt.zero_grad()
        g_train = g
        if drop_edge > 0:
            src, dst = g.edges()
            keep = torch.rand(src.shape[0]) >= drop_edge
            g_train = gk.graph((src[keep], dst[keep]), num_nodes=g.num_nodes())
        loss = F.cross_entropy(model(g_train, feat)[train_mask], label[train_mask])
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
        model.eval()
        with torch.no_grad():
            pred = model(g, feat).argmax(1)
        accs = [float((pred[m] == label[m]).float().mean()) for m in (train_mask, val_mask, test_mask)]
        curve.append({"epoch": epoch + 1, "loss": loss.item(), "train": accs[0], "val": accs[1], "test": accs[2]})
        if accs[1] > best[0]:
            best = (accs[1], accs[2], epoch + 1)
            best_alphas = residual_alphas(model)
            if _scaled_blocks(model):
                blocks_off = accuracy_without_blocks(model, g, feat, label, (val_mask, test_mask))
        if patience and epoch + 1 - best[2] >= patience:
            break  # early stopping on validation accuracy
    return {"val": best[0], "test": best[1], "best_epoch": best[2], "epochs_run": len(curve), "alphas_at_best": best_alphas, "val_test_with_blocks_off": blocks_off, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.environ.get("GNNKIT_DATA", "/work/shared/datasets"))
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--patience", type=int, default=100, help="stop after this many epochs without a better validation accuracy (0: never)")
    parser.add_argument("--depths", default="28,56")
    parser.add_argument("--models", default="ResGCN,DeeperGCN,PlainGCN")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--gcn-hidden", type=int, default=64, help="hidden width of the 2-layer GCN baseline")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout inside the deep models' blocks")
    parser.add_argument("--input-dropout", type=float, default=0.5)
    parser.add_argument("--norm", default="batch", choices=["batch", "layer", "none"])
    parser.add_argument("--aggr", default="softmax", help="DeeperGCN aggregation (softmax, powermean, mean, ...)")
    parser.add_argument("--beta", type=float, default=1.0, help="DeeperGCN softmax aggregation: initial inverse temperature")
    parser.add_argument("--fixed-aggr", action="store_true", help="DeeperGCN: keep beta / p fixed instead of learning them")
    parser.add_argument("--gen-mlp-layers", type=int, default=1)
    parser.add_argument("--msg-norm", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--ends", default="conv", choices=["conv", "linear", "gcn"], help="encoder and decoder of the deep models: graph convolutions or Linear layers")
    parser.add_argument("--residual-scale", default="none", help="residual models: x + alpha*F(x) with alpha = 1 ('none'), a float, 'inv_sqrt_depth' or 'rezero' (learnable, init 0)")
    parser.add_argument("--encoder-norm", action="store_true", help="deep models: apply --norm to the encoder's output (the residual stream starts at unit scale)")
    parser.add_argument("--wd-mode", default="all", choices=["all", "matrices", "first"], help="which parameters get weight decay")
    parser.add_argument("--clip", type=float, default=0.0, help="clip the gradient's global norm (0: off)")
    parser.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up epochs (0: off)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--drop-edge", type=float, default=0.0, help="DropEdge rate for the deep models while training (0: off)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the 2-layer GCN (e.g. when runs are split)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--merge", nargs="+", help="only merge these result files into --out and plot them")
    parser.add_argument("--out", default=str(RESULTS / "deep_cora.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        merged = {"parts": [{k: v for k, v in part.items() if k != "results"} for part in parts], "results": merge_seeds(parts)}
        write(merged, Path(args.out), plot_curves=True)
        return

    g = load_dataset("Cora", root=args.root)[0]
    feat, label = g.ndata["feat"], g.ndata["label"]
    feat = feat / feat.sum(1, keepdim=True).clamp(min=1)  # row-normalised bag of words, as usual for Cora
    masks = (g.ndata["train_mask"], g.ndata["val_mask"], g.ndata["test_mask"])
    num_classes = int(label.max()) + 1
    seeds = [int(v) for v in args.seeds.split(",")]
    runs = ([] if args.no_baseline else [("GCN", 2)]) + [(m, int(d)) for d in args.depths.split(",") for m in args.models.split(",") if m]
    results = {}
    config = {k: v for k, v in vars(args).items() if k not in ("merge", "root", "out")}
    print(f"load average at start {os.getloadavg()}", flush=True)
    print(f"{'model':>10} {'depth':>5} {'seed':>4} {'val':>6} {'test':>6} {'best ep':>7} {'epochs':>6} {'cpu s':>7}")
    for name, depth in runs:
        per_seed = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = build(name, depth, feat.shape[1], num_classes, args)
            deep = name != "GCN"
            res = train(model, g, feat, label, masks, args.epochs, args.lr, args.weight_decay, args.patience, args.drop_edge if deep else 0.0,
                        args.wd_mode if deep else "all", args.clip if deep else 0.0, args.warmup if deep else 0)
            res["seed"] = seed
            per_seed.append(res)
            alphas = res["alphas_at_best"]
            alpha_note = ""
            if alphas:
                alpha_note = f"  |alpha| mean {sum(abs(a) for a in alphas) / len(alphas):.3f} max {max(abs(a) for a in alphas):.3f};"
            if res["val_test_with_blocks_off"]:
                off = res["val_test_with_blocks_off"]
                alpha_note += f" blocks off: val {off[0]:.3f} test {off[1]:.3f}"
            print(f"{name:>10} {depth:>5} {seed:>4} {res['val']:>6.3f} {res['test']:>6.3f} {res['best_epoch']:>7} {res['epochs_run']:>6} {res['cpu_seconds']:>7.1f}{alpha_note}", flush=True)
            vals = torch.tensor([r["val"] for r in per_seed])
            tests = torch.tensor([r["test"] for r in per_seed])
            results[f"{name}-{depth}"] = {
                "val": float(vals.mean()), "test": float(tests.mean()), "test_std": float(tests.std()) if len(per_seed) > 1 else 0.0,
                "seeds": [r["seed"] for r in per_seed], "per_seed": per_seed,  # every seed with its learning curve
                "curve": per_seed[0]["curve"],  # the first seed's learning curve, for the plot
                "best_epoch": per_seed[0]["best_epoch"],
                "loadavg_end": os.getloadavg(),
            }
            # Written after every seed, so a run cut by its time limit keeps the seeds it finished.
            write({"config": config, "results": results}, Path(args.out), plot_curves=False, quiet=True)
        print(f"{name:>10} {depth:>5} mean val {vals.mean():.3f} test {tests.mean():.3f} +- {results[f'{name}-{depth}']['test_std']:.3f} over seeds {seeds}", flush=True)
    write({"config": config, "results": results}, Path(args.out), plot_curves=not args.no_plot)


def merge_seeds(parts: list[dict]) -> dict:
    """Results of several runs by model; a model run with different seeds in several parts (same
    configuration) gets its seeds pooled and its means recomputed."""
    results: dict = {}
    for part in parts:
        for key, res in part["results"].items():
            if key not in results:
                results[key] = dict(res, per_seed=list(res["per_seed"]))
                continue
            pooled = results[key]
            known = {r["seed"] for r in pooled["per_seed"]}
            pooled["per_seed"] += [r for r in res["per_seed"] if r["seed"] not in known]
    for res in results.values():
        tests = torch.tensor([r["test"] for r in res["per_seed"]])
        res["seeds"] = [r["seed"] for r in res["per_seed"]]
        res["val"] = float(torch.tensor([r["val"] for r in res["per_seed"]]).mean())
        res["test"] = float(tests.mean())
        res["test_std"] = float(tests.std()) if len(tests) > 1 else 0.0
    return results


def write(payload: dict, out: Path, plot_curves: bool = True, quiet: bool = False) -> None:
    results = payload["results"]
    if "GCN-2" in results and not quiet:
        base = results["GCN-2"]["test"]
        for key, res in results.items():
            print(f"{key:>14}: mean test {res['test']:.3f} ({(res['test'] - base) * 100:+.1f} points vs GCN-2), mean val {res['val']:.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, out)
    if plot_curves:
        plot(results, out.with_name(out.stem + "_curves.png"))
    if not quiet:
        print(f"wrote {out}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Third panel: every seed of the DeeperGCN models (their spread over seeds is the open question).
    every_seed = {key: res for key, res in results.items() if key.startswith("DeeperGCN") and any("curve" in r for r in res["per_seed"])}
    fig, axes = plt.subplots(1, 3 if every_seed else 2, figsize=(18 if every_seed else 12, 4.5))
    for key, res in results.items():
        epochs = [c["epoch"] for c in res["curve"]]
        style = "-" if "Plain" not in key else "--"
        axes[0].plot(epochs, [c["val"] for c in res["curve"]], style, label=key)
        axes[1].plot(epochs, [c["loss"] for c in res["curve"]], style, label=key)
    axes[0].set(xlabel="epoch", ylabel="validation accuracy", title="Cora: validation accuracy (first seed of each model)")
    axes[1].set(xlabel="epoch", ylabel="training loss", title="Cora: training loss (first seed)", yscale="log")
    axes[0].legend(fontsize=8)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (key, res) in enumerate(every_seed.items()):
        for run in res["per_seed"]:
            if "curve" not in run:
                continue
            epochs = [c["epoch"] for c in run["curve"]]
            axes[2].plot(epochs, [c["val"] for c in run["curve"]], color=colours[i % len(colours)], lw=0.8, alpha=0.8,
                         label=f"{key} seed {run['seed']} (test {run['test'] * 100:.1f} at epoch {run['best_epoch']})")
    if every_seed:
        axes[2].set(xlabel="epoch", ylabel="validation accuracy", ylim=(0.5, 0.85), title="Cora: DeeperGCN, every seed")
        axes[2].legend(fontsize=6)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
