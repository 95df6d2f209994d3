"""BiGG optimiser probes counted in steps (not time): how fast the per-node loss falls per step.

Short one-thread runs that compare learning rates, warm-up, cosine horizon, clipping and batch
size before a long or timed run is spent on one setting. Steps, not seconds, are the unit, so a
probe's result does not depend on the load of the (shared) machine; the CPU seconds are recorded
anyway. Data:

``lobster128``
    the 128 lobsters of ``bench_bigg_speed.py`` (one batch of 128 = the whole set, as in the
    issue's loss-time bar); the loss of a step is then the loss of the whole training set.
``grid``
    GRAN's grid training split (80 graphs), minibatches of ``--batch-size``.

The cosine horizon is ``--horizon`` steps (default ``--steps``), so a probe can run the first part
of a longer schedule. Writes one JSON with the per-step history.

    python benchmarks/bench_bigg_lr_probe.py --data lobster128 --lr 3e-3 --steps 100 --horizon 400 \\
        --warmup 0.05 --out /tmp/probe.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


class _Stop(Exception):
    pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("lobster128", "grid"), default="lobster128")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=None, help="cosine horizon in steps (default --steps)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 (lobster128), 8 (grid)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="cosine")
    parser.add_argument("--final-factor", type=float, default=0.02)
    parser.add_argument("--warmup", type=float, default=0.0, help="linear warm-up, fraction of the horizon")
    parser.add_argument("--grad-clip", type=float, default=5.0)
    parser.add_argument("--beta2", type=float, default=0.999, help="Adam's second-moment decay")
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--node-order", default="dfs")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True): subnormal floats from saturated gates become 0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    from gnnkit.generative.bigg import BiGG, train_bigg
    from gnnkit.tasks.checkpoint import atomic_write_text

    if args.data == "lobster128":
        from bench_bigg_speed import lobsters

        graphs, batch = lobsters(), args.batch_size or 128
    else:
        from gnnkit.generative.datasets import load_generation_dataset

        graphs, batch = load_generation_dataset("grid").train, args.batch_size or 8
    horizon = args.horizon or args.steps
    per_epoch = (len(graphs) + batch - 1) // batch
    if horizon % per_epoch:
        raise SystemExit(f"--horizon: expected a multiple of {per_epoch} steps (one epoch), got {horizon}")
    torch.manual_seed(args.seed)
    model = BiGG(embed_dim=args.embed, node_order=args.node_order)
    rows = model.prepare(graphs)
    history = []

    def log(entry):
        history.append(entry)
        if entry["step"] % 10 == 0:
            print(f"step {entry['step']}: loss/node {entry['loss']:.4f} lr {entry['lr']:.2e} "
                  f"cpu {entry['cpu_s']:.0f} s", flush=True)
        if len(history) >= args.steps:
            raise _Stop

    started = time.process_time()
    try:
        train_bigg(model, rows, epochs=horizon // per_epoch, batch_size=batch, lr=args.lr, progress=False,
                   adam_betas=(0.9, args.beta2),
                   log=log, grad_clip=args.grad_clip, lr_schedule=args.schedule,
                   lr_final_factor=args.final_factor, lr_warmup=args.warmup, seed=args.seed)
    except _Stop:
        pass
    losses = [h["loss"] for h in history]
    result = {"args": vars(args), "cpu_s": time.process_time() - started, "load_average": os.getloadavg(),
              "final_loss": losses[-1], "min_loss": min(losses), "history": history}
    print(f"{len(history)} steps, final loss/node {losses[-1]:.4f}, min {min(losses):.4f}, "
          f"{result['cpu_s']:.0f} CPU s")
    atomic_write_text(args.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
